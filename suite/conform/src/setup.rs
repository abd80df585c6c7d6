//! One resolved setup: the target options of the command line and the `conform.toml`
//! profile, merged once (the command line wins) into an immutable [`Setup`] that `conform
//! run`, `model`, `fuzz` and `selfcheck` use. [`Setup::start`] then starts what it names: the
//! bundled reference server in-process, or the first `--reseed-cmd` of an external target.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reference_server::{Faults, RunningServer, Variants};
use runner::{CaseEnv, LoginMethod, Profile, Reseed, Target, TlsMode, Trust};

use crate::args::TargetArgs;
use crate::error::CliError;
use crate::{bundled, profile, reseed};

/// Seconds for each connect, read and write without `--timeout`.
const DEFAULT_TIMEOUT: u64 = 10;
/// The password's variable without `--password-env`.
const DEFAULT_PASSWORD_ENV: &str = "CONFORM_PASSWORD";
/// The bundled server's user without `--user`.
const DEFAULT_USER: &str = "demo";

/// Where the cases or sequences go.
#[derive(Debug, Clone)]
pub enum Destination {
    /// A server of the user's (`--target`).
    External {
        /// Where and how to connect (TLS mode and trust applied).
        target: Target,
        /// The login.
        account: Profile,
        /// Restores its maildrop (`--reseed-cmd`).
        reseed_cmd: Option<String>,
    },
    /// The bundled reference server, started in-process on loopback.
    Bundled(bundled::Options),
}

/// Everything a command needs to reach its target, resolved once.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Where.
    pub destination: Destination,
    /// Each connect, read and write.
    pub io_timeout: Duration,
    /// Declared capabilities (`--expect`).
    pub expect: Vec<String>,
    /// How the `login` step logs in (`--login`).
    pub login: Option<LoginMethod>,
    /// Known deviations (`conform run --baseline`, or the profile's).
    pub baseline: Option<PathBuf>,
}

impl Setup {
    /// Merges the command line's target options, `baseline` (`conform run --baseline`) and
    /// the `--profile` (when given) into a setup. Reads the password from its variable.
    pub fn resolve(args: &TargetArgs, baseline: Option<&Path>) -> Result<Setup, CliError> {
        let profile = match &args.profile {
            Some(name) => profile::load(&args.config, name)?,
            None => profile::Profile::default(),
        };
        let destination = destination(args, &profile)?;
        Ok(Setup {
            destination,
            io_timeout: Duration::from_secs(
                args.timeout
                    .or(profile.timeout)
                    .unwrap_or(DEFAULT_TIMEOUT)
                    .max(1),
            ),
            expect: if args.expect.is_empty() {
                profile.expect
            } else {
                args.expect.clone()
            },
            login: args.login.or(profile.login),
            baseline: baseline.map(Path::to_owned).or(profile.baseline),
        })
    }

    /// The bundled server with `options`, no baseline and the default login: the setup of
    /// each of the selfcheck's runs.
    pub fn bundled(options: bundled::Options, io_timeout: Duration, expect: Vec<String>) -> Setup {
        Setup {
            destination: Destination::Bundled(options),
            io_timeout,
            expect,
            login: None,
            baseline: None,
        }
    }

    /// Starts the bundled server, or runs the first `--reseed-cmd` of an external target (the
    /// maildrop starts as the fixture, whatever an earlier run left; its failure is an
    /// error). Call it on the tokio runtime that is to serve the bundled server.
    pub async fn start(&self) -> Result<Ready, CliError> {
        match &self.destination {
            Destination::External {
                target,
                account,
                reseed_cmd,
            } => {
                let reseed: Option<Reseed> = match reseed_cmd.clone() {
                    Some(cmd) => {
                        reseed::run(&cmd).map_err(CliError::Reseed)?;
                        Some(Arc::new(move || {
                            reseed::run(&cmd).map_err(fixture::ReseedError)
                        }))
                    }
                    None => None,
                };
                Ok(Ready {
                    target: target.clone(),
                    account: account.clone(),
                    reseed,
                    server: None,
                })
            }
            Destination::Bundled(options) => {
                let bundled = bundled::start(options.clone()).await?;
                Ok(Ready {
                    target: bundled.target,
                    account: bundled.profile,
                    reseed: Some(bundled.reseed),
                    server: Some(bundled.server),
                })
            }
        }
    }
}

/// `--target` with its TLS, trust and login, or the bundled server with its faults and
/// variants; the options that do not go with the one chosen are errors.
fn destination(args: &TargetArgs, profile: &profile::Profile) -> Result<Destination, CliError> {
    let tls = args.tls.map(TlsMode::from).or(profile.tls);
    let reseed_cmd = args.reseed_cmd.clone().or(profile.reseed_cmd.clone());
    let user = args.user.clone().or(profile.user.clone());
    let Some(spec) = args.target.as_ref().or(profile.target.as_ref()) else {
        if reseed_cmd.is_some() {
            return Err(usage(
                "--reseed-cmd needs --target (the bundled server restores itself)",
            ));
        }
        return Ok(Destination::Bundled(bundled::Options {
            user: user.unwrap_or_else(|| DEFAULT_USER.into()),
            faults: args.faults.iter().fold(Faults::none(), |f, x| f.with(*x)),
            variants: args
                .variants
                .iter()
                .fold(Variants::none(), |v, x| v.with(*x)),
            allow_plaintext_auth: true,
            tls: tls.unwrap_or(TlsMode::None),
        }));
    };
    if !args.faults.is_empty() {
        return Err(usage(
            "--fault applies to the bundled server only (drop --target)",
        ));
    }
    if !args.variants.is_empty() {
        return Err(usage(
            "--variant applies to the bundled server only (drop --target)",
        ));
    }
    let mut target = Target::parse(spec)?;
    target.trust = trust(args, profile);
    if let Some(mode) = tls {
        target.tls = mode;
    }
    let user = user.ok_or_else(|| usage("--user is required with --target"))?;
    let var = args
        .password_env
        .as_deref()
        .or(profile.password_env.as_deref())
        .unwrap_or(DEFAULT_PASSWORD_ENV);
    let password = std::env::var(var).map_err(|e| {
        CliError::Usage(format!(
            "the password is read from ${var} (see --password-env): {e}"
        ))
    })?;
    Ok(Destination::External {
        target,
        account: Profile { user, password },
        reseed_cmd,
    })
}

/// Whom to trust: the command line's `--ca` or `--insecure`, else the profile's (its `ca`
/// before its `insecure`), else the platform's roots.
fn trust(args: &TargetArgs, profile: &profile::Profile) -> Trust {
    match (&args.ca, args.insecure, &profile.ca, profile.insecure) {
        (Some(ca), _, _, _) => Trust::CaFile(ca.clone()),
        (None, true, _, _) => Trust::Insecure,
        (None, false, Some(ca), _) => Trust::CaFile(ca.clone()),
        (None, false, None, true) => Trust::Insecure,
        (None, false, None, false) => Trust::Platform,
    }
}

fn usage(message: &str) -> CliError {
    CliError::Usage(message.to_owned())
}

/// A started setup: where the cases connect, the login, how to restore the maildrop.
pub struct Ready {
    /// Where to connect.
    pub target: Target,
    /// The login.
    pub account: Profile,
    /// How to restore the fixture (the bundled server always can; an external target with
    /// `--reseed-cmd`).
    pub reseed: Option<Reseed>,
    /// The bundled server, kept running while this lives.
    pub server: Option<RunningServer>,
}

impl Ready {
    /// What every case needs: the target, its TLS client configuration, I/O limits, the
    /// login and the fixture.
    pub fn case_env(&self, io_timeout: Duration) -> Result<CaseEnv, CliError> {
        let tls = match self.target.tls {
            TlsMode::None => None,
            _ => Some(self.target.client_config()?),
        };
        Ok(CaseEnv {
            endpoint: runner::client::Endpoint {
                target: self.target.clone(),
                tls,
                limits: limits(io_timeout),
                profile: self.account.clone(),
            },
            fixture: Arc::new(fixture_messages()),
            login: None,
        })
    }
}

/// The transport's limits with `io_timeout`.
pub fn limits(io_timeout: Duration) -> runner::transport::IoLimits {
    runner::transport::IoLimits {
        io_timeout,
        ..Default::default()
    }
}

/// The standard fixture's messages.
pub fn fixture_messages() -> Vec<Vec<u8>> {
    reference_server::fixture::MESSAGES
        .iter()
        .map(|m| m.to_vec())
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        target: TargetArgs,
    }

    /// `conform.toml` with `body` in a temporary folder, and the setup of `argv` with it.
    fn resolve(body: &str, argv: &[&str]) -> (tempfile::TempDir, Result<Setup, CliError>) {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("conform.toml");
        std::fs::write(&config, body).unwrap();
        let config = config.display().to_string();
        let args = ["conform", "--config", &config]
            .into_iter()
            .chain(argv.iter().copied());
        let cli = Cli::parse_from(args);
        let setup = Setup::resolve(&cli.target, None);
        (dir, setup)
    }

    const PROFILE: &str = "[profiles.p]\ntarget = \"pop3s://mail.example\"\nuser = \"u\"\npassword-env = \"CONFORM_SETUP_TEST_PASSWORD\"\nca = \"ca.pem\"\ntimeout = 5\nexpect = [\"TOP\"]\nlogin = \"apop\"\nbaseline = \"b.toml\"\n";

    #[test]
    fn the_profile_fills_what_the_command_line_did_not_give() {
        std::env::set_var("CONFORM_SETUP_TEST_PASSWORD", "secret");
        let (dir, setup) = resolve(PROFILE, &["--profile", "p"]);
        let setup = setup.unwrap();
        let Destination::External {
            target, account, ..
        } = &setup.destination
        else {
            panic!("{setup:?}")
        };
        assert_eq!(target.tls, TlsMode::Implicit);
        assert!(matches!(&target.trust, Trust::CaFile(p) if *p == dir.path().join("ca.pem")));
        assert_eq!(
            (account.user.as_str(), account.password.as_str()),
            ("u", "secret")
        );
        assert_eq!(setup.io_timeout, Duration::from_secs(5));
        assert_eq!(setup.expect, ["TOP"]);
        assert_eq!(setup.login, LoginMethod::from_name("apop"));
        assert_eq!(setup.baseline, Some(dir.path().join("b.toml")));
        // the command line wins
        let argv = [
            "--profile",
            "p",
            "--user",
            "v",
            "--insecure",
            "--tls",
            "starttls",
            "--timeout",
            "7",
            "--expect",
            "UIDL",
            "--login",
            "user",
        ];
        let (_dir, setup) = resolve(PROFILE, &argv);
        let setup = setup.unwrap();
        let Destination::External {
            target, account, ..
        } = &setup.destination
        else {
            panic!("{setup:?}")
        };
        assert_eq!(target.tls, TlsMode::StartTls);
        assert!(matches!(target.trust, Trust::Insecure));
        assert_eq!(account.user, "v");
        assert_eq!(setup.io_timeout, Duration::from_secs(7));
        assert_eq!(setup.expect, ["UIDL"]);
        assert_eq!(setup.login, LoginMethod::from_name("user"));
    }

    #[test]
    fn options_for_the_other_destination_are_errors() {
        let (_dir, setup) = resolve("", &["--reseed-cmd", "true"]);
        assert!(setup
            .unwrap_err()
            .to_string()
            .contains("--reseed-cmd needs --target"));
        std::env::set_var("CONFORM_SETUP_TEST_PASSWORD", "secret");
        let (_dir, setup) = resolve(PROFILE, &["--profile", "p", "--fault", "rset-keeps-marks"]);
        let err = setup.unwrap_err();
        assert!(
            err.to_string()
                .contains("--fault applies to the bundled server only"),
            "{err}"
        );
        assert_eq!(err.exit_code(), 2);
        let (_dir, setup) = resolve("", &["--user", "alice", "--tls", "implicit"]);
        let Destination::Bundled(options) = setup.unwrap().destination else {
            panic!("bundled")
        };
        assert_eq!(
            (options.user.as_str(), options.tls),
            ("alice", TlsMode::Implicit)
        );
    }
}
