//! One resolved setup: the target options of the command line and the `conform.toml`
//! profile, merged once (the command line wins) into an immutable [`Setup`] that `conform
//! run`, `model`, `fuzz` and `selfcheck` use. [`Setup::start`] then starts what it names: the
//! bundled reference server in-process, or the first `--reseed-cmd` of an external target.
//!
//! **The account pool.** `--user` repeated (or `users = [...]` in a profile) names several
//! accounts with one password; the bundled server has [`DEFAULT_USERS`]. [`Ready::accounts`]
//! is the pool once started: each account's login and how to restore its maildrop
//! (`--reseed-cmd` with `{user}` replaced, run once per account at start; the bundled
//! server's in-memory reseed). Work that logs in in parallel takes one account per
//! session at a time (RFC 1939 §4: a server may lock the maildrop of a logged-in session).

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
/// The bearer token's variable without `--token-env`.
pub const DEFAULT_TOKEN_ENV: &str = "CONFORM_TOKEN";
/// The bundled server's users without `--user`: one account per lane of holding cases (the
/// first also serves the cases that hold nothing), so the catalogue runs in parallel.
const DEFAULT_USERS: [&str; 4] = ["demo", "demo2", "demo3", "demo4"];

/// The bundled server's users without `--user` ([`DEFAULT_USERS`]).
pub fn bundled_users() -> Vec<String> {
    DEFAULT_USERS.iter().map(|u| u.to_string()).collect()
}

/// Where the cases or sequences go.
#[derive(Debug, Clone)]
pub enum Destination {
    /// A server of the user's (`--target`).
    External {
        /// Where and how to connect (TLS mode and trust applied).
        target: Target,
        /// The logins (`--user`, repeatable; one password): the account pool, at least one.
        accounts: Vec<Profile>,
        /// Restores a maildrop (`--reseed-cmd`), `{user}` replaced by the account's name.
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
        self.started(true).await
    }

    /// [`Setup::start`] without running `--reseed-cmd` (`conform probe` changes nothing on
    /// the target): the accounts have no reseed.
    pub async fn start_read_only(&self) -> Result<Ready, CliError> {
        self.started(false).await
    }

    async fn started(&self, reseed: bool) -> Result<Ready, CliError> {
        match &self.destination {
            Destination::External {
                target,
                accounts,
                reseed_cmd,
            } => {
                let mut pool = Vec::with_capacity(accounts.len());
                for account in accounts {
                    let reseed: Option<Reseed> = match reseed_cmd {
                        Some(cmd) if reseed => {
                            let cmd = cmd.replace("{user}", &account.user);
                            reseed::run(&cmd).map_err(CliError::Reseed)?;
                            Some(Arc::new(move || {
                                reseed::run(&cmd).map_err(fixture::ReseedError)
                            }))
                        }
                        _ => None,
                    };
                    pool.push(runner::Account {
                        profile: account.clone(),
                        reseed,
                    });
                }
                Ok(Ready::new(target.clone(), pool, None))
            }
            Destination::Bundled(options) => {
                let bundled = bundled::start(options.clone()).await?;
                Ok(Ready::new(
                    bundled.target,
                    bundled.accounts,
                    Some(bundled.server),
                ))
            }
        }
    }
}

/// `--target` with its TLS, trust and login, or the bundled server with its faults and
/// variants; the options that do not go with the one chosen are errors.
fn destination(args: &TargetArgs, profile: &profile::Profile) -> Result<Destination, CliError> {
    let tls = args.tls.map(TlsMode::from).or(profile.tls);
    let reseed_cmd = args.reseed_cmd.clone().or(profile.reseed_cmd.clone());
    let users = if args.user.is_empty() {
        profile.users.clone()
    } else {
        args.user.clone()
    };
    let Some(spec) = args.target.as_ref().or(profile.target.as_ref()) else {
        if reseed_cmd.is_some() {
            return Err(usage(
                "--reseed-cmd needs --target (the bundled server restores itself)",
            ));
        }
        return Ok(Destination::Bundled(bundled::Options {
            users: if users.is_empty() {
                bundled_users()
            } else {
                users
            },
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
    if users.is_empty() {
        return Err(usage("--user is required with --target"));
    }
    if users.len() > 1 && reseed_cmd.as_ref().is_some_and(|c| !c.contains("{user}")) {
        return Err(usage(
            "--reseed-cmd must contain {user} with more than one --user (each account's maildrop is restored on its own)",
        ));
    }
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
    let token = bearer_token(args.token_env.as_deref())?;
    Ok(Destination::External {
        target,
        accounts: users
            .into_iter()
            .map(|user| Profile {
                user,
                password: password.clone(),
                token: token.clone(),
            })
            .collect(),
        reseed_cmd,
    })
}

/// The bearer token for OAUTHBEARER and XOAUTH2 (RFC 7628): from `--token-env VAR`, which
/// must then be set, else from `$CONFORM_TOKEN` when it is set; none otherwise (the cases
/// that need one skip, saying so).
fn bearer_token(var: Option<&str>) -> Result<Option<String>, CliError> {
    match var {
        Some(var) => std::env::var(var).map(Some).map_err(|e| {
            CliError::Usage(format!(
                "the bearer token is read from ${var} (see --token-env): {e}"
            ))
        }),
        None => Ok(std::env::var(DEFAULT_TOKEN_ENV)
            .ok()
            .filter(|t| !t.is_empty())),
    }
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

/// A started setup: where the cases connect, the logins, how to restore each maildrop.
pub struct Ready {
    /// Where to connect.
    pub target: Target,
    /// The first account's login (discovery's, and the one of `conform model` and `fuzz`).
    pub account: Profile,
    /// How to restore the first account's fixture (the bundled server always can; an
    /// external target with `--reseed-cmd`).
    pub reseed: Option<Reseed>,
    /// The account pool, the first (`account`, `reseed`) included: each account's login and
    /// how to restore its maildrop (`--reseed-cmd` with `{user}` replaced; the bundled
    /// server's own). Parallel work that logs in takes one account per session at a time.
    pub accounts: Vec<runner::Account>,
    /// The bundled server, kept running while this lives.
    pub server: Option<RunningServer>,
}

impl Ready {
    /// The started setup of `accounts` (at least one).
    pub fn new(
        target: Target,
        accounts: Vec<runner::Account>,
        server: Option<RunningServer>,
    ) -> Ready {
        let first = accounts
            .first()
            .cloned()
            .unwrap_or_else(|| runner::Account {
                profile: Profile {
                    user: String::new(),
                    password: String::new(),
                    token: None,
                },
                reseed: None,
            });
        Ready {
            target,
            account: first.profile,
            reseed: first.reseed,
            accounts,
            server,
        }
    }

    /// The accounts after the first, for [`runner::RunConfig::more_accounts`].
    pub fn more_accounts(&self) -> Vec<runner::Account> {
        self.accounts.iter().skip(1).cloned().collect()
    }

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
            target, accounts, ..
        } = &setup.destination
        else {
            panic!("{setup:?}")
        };
        let account = &accounts[0];
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
            target, accounts, ..
        } = &setup.destination
        else {
            panic!("{setup:?}")
        };
        let account = &accounts[0];
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
            (options.users.as_slice(), options.tls),
            (&["alice".to_string()][..], TlsMode::Implicit)
        );
    }

    #[test]
    fn user_repeated_is_an_account_pool() {
        std::env::set_var("CONFORM_SETUP_TEST_PASSWORD", "secret");
        let argv = [
            "--target",
            "127.0.0.1:110",
            "--password-env",
            "CONFORM_SETUP_TEST_PASSWORD",
            "--user",
            "a",
            "--user",
            "b",
        ];
        let (_dir, setup) = resolve("", &argv);
        let setup = setup.unwrap();
        let Destination::External { accounts, .. } = setup.destination else {
            panic!("external")
        };
        let users: Vec<(String, String)> =
            accounts.into_iter().map(|p| (p.user, p.password)).collect();
        assert_eq!(
            users,
            [("a".into(), "secret".into()), ("b".into(), "secret".into())]
        );
        // each account's maildrop is restored on its own: the command must say whose
        let with = |cmd: &str| {
            let mut v = argv.to_vec();
            v.extend(["--reseed-cmd", cmd]);
            resolve("", &v).1
        };
        let err = with("seed /srv/mail").unwrap_err().to_string();
        assert!(err.contains("must contain {user}"), "{err}");
        assert!(with("seed /srv/{user}").is_ok());
        // the bundled server: one account per lane by default, the first `demo`
        let (_dir, setup) = resolve("", &[]);
        let Destination::Bundled(options) = setup.unwrap().destination else {
            panic!("bundled")
        };
        assert_eq!(options.users, ["demo", "demo2", "demo3", "demo4"]);
    }
}
