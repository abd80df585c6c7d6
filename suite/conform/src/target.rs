//! Where a command's cases or sequences go: `--target` and its TLS, trust and login options,
//! or, without `--target`, the bundled reference server in-process. Shared by `conform run`
//! and `conform model`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, ValueEnum};
use reference_server::{Fault, Faults, RunningServer, Variant, Variants};
use runner::{LoginMethod, Profile, Target, TlsMode, Trust};
use serde::Deserialize;

use crate::bundled;

/// TLS mode on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TlsArg {
    /// TLS from the first byte (RFC 8314).
    Implicit,
    /// STLS before each case (RFC 2595).
    Starttls,
    /// Plain TCP.
    None,
}

impl From<TlsArg> for TlsMode {
    fn from(t: TlsArg) -> TlsMode {
        match t {
            TlsArg::Implicit => TlsMode::Implicit,
            TlsArg::Starttls => TlsMode::StartTls,
            TlsArg::None => TlsMode::None,
        }
    }
}

/// The target options.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The server: HOST:PORT (995 = implicit TLS), pop3://HOST[:PORT], pop3s://HOST[:PORT].
    /// Without it, the bundled reference server starts in-process on loopback.
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
    /// Override the TLS mode the target implies.
    #[arg(long, value_enum)]
    pub tls: Option<TlsArg>,
    /// Trust any server certificate (test servers with self-signed certificates).
    #[arg(long)]
    pub insecure: bool,
    /// Trust the CA certificates in this PEM file instead of the platform roots.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub ca: Option<PathBuf>,
    /// The user to log in as (default with the bundled server: demo).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// The environment variable holding the password [default: CONFORM_PASSWORD].
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// Seconds allowed for each connect, read and write [default: 10].
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Shell command (`sh -c`) that restores the target's maildrop to the standard fixture,
    /// e.g. `conform seed --maildir /srv/mail/test/Maildir --replace`. `conform run` runs it
    /// once before the first case and again after each case that mutates the maildrop;
    /// `conform model` before every sequence.
    #[arg(long, value_name = "CMD")]
    pub reseed_cmd: Option<String>,
    /// Capabilities the vendor declares the server implements, comma-separated (repeatable):
    /// APOP, TOP, UIDL, USER, STLS, SASL=PLAIN, ... Each is a case `expect/...` that fails
    /// when the capability is missing (no APOP timestamp, not in CAPA, not working), and the
    /// cases that need it are then blocked by it instead of not applicable.
    #[arg(long, value_name = "CAPS", value_delimiter = ',')]
    pub expect: Vec<String>,
    /// How the `login` step logs in: user, apop, plain, login or cram-md5 [default: the
    /// first of these that works on the target, in this order].
    #[arg(long, value_name = "METHOD", value_parser = parse_login)]
    pub login: Option<LoginMethod>,
    /// Bundled server only: turn on a deliberate defect (to see the suite catch it).
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<Fault>,
    /// Bundled server only: turn on a permitted variation (a choice the RFCs leave to the
    /// server; the catalogue must pass against it).
    #[arg(long = "variant", value_name = "NAME")]
    pub variants: Vec<Variant>,
    /// Take the target options from this profile of the config file; options given on the
    /// command line win.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The config file with the profiles.
    #[arg(long, value_name = "FILE", default_value = "conform.toml")]
    pub config: PathBuf,
}

/// The config file (`conform.toml`): named target profiles. Passwords never go here, only
/// the name of the environment variable that holds one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    profiles: BTreeMap<String, ConfigProfile>,
}

/// One profile: the target options, and the baseline for `conform run`. Paths are relative
/// to the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigProfile {
    target: Option<String>,
    tls: Option<String>,
    ca: Option<PathBuf>,
    #[serde(default)]
    insecure: bool,
    user: Option<String>,
    password_env: Option<String>,
    timeout: Option<u64>,
    reseed_cmd: Option<String>,
    /// Declared capabilities (`--expect`).
    #[serde(default)]
    expect: Vec<String>,
    /// The login method (`--login`).
    login: Option<String>,
    /// Known deviations (`conform run --baseline`).
    pub baseline: Option<PathBuf>,
}

/// Restores the maildrop; `Err` says why it could not.
pub type Reseed = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// A resolved target.
pub struct Resolved {
    /// Where to connect.
    pub target: Target,
    /// The login.
    pub profile: Profile,
    /// How to restore the fixture (the bundled server always can; an external target with
    /// `--reseed-cmd`).
    pub reseed: Option<Reseed>,
    /// The bundled server, kept running while this lives.
    pub server: Option<RunningServer>,
}

impl TargetArgs {
    /// Seconds for each read and write.
    pub fn io_timeout(&self) -> Duration {
        Duration::from_secs(self.timeout.unwrap_or(10).max(1))
    }

    /// The environment variable with the password.
    fn password_var(&self) -> &str {
        self.password_env.as_deref().unwrap_or("CONFORM_PASSWORD")
    }

    /// With `--profile`, fills every option not given on the command line from the profile
    /// (paths made relative to the config file) and returns the profile.
    pub fn apply_profile(&mut self) -> anyhow::Result<Option<ConfigProfile>> {
        let Some(name) = self.profile.clone() else {
            return Ok(None);
        };
        let path = &self.config;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--profile {name}: reading {}", path.display()))?;
        if text.lines().any(|l| {
            l.trim_start().starts_with("password ") || l.trim_start().starts_with("password=")
        }) {
            bail!(
                "{}: a password does not go in the config file; name the environment variable that holds it with password-env",
                path.display()
            );
        }
        let file: ConfigFile =
            toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
        let Some(mut p) = file.profiles.get(&name).cloned() else {
            let known: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
            bail!(
                "{}: no profile `{name}` (the profiles: {})",
                path.display(),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            );
        };
        let dir = path.parent().unwrap_or(Path::new("")).to_owned();
        let near = |p: PathBuf| if p.is_absolute() { p } else { dir.join(p) };
        p.ca = p.ca.map(near);
        p.baseline = p.baseline.map(near);
        if let Some(tls) = &p.tls {
            let mode = TlsArg::from_str(tls, true).map_err(|_| {
                anyhow::anyhow!(
                    "{}: profile `{name}`: tls is implicit, starttls or none, not `{tls}`",
                    path.display()
                )
            })?;
            self.tls = self.tls.or(Some(mode));
        }
        self.target = self.target.take().or(p.target.clone());
        self.ca = self.ca.take().or(p.ca.clone());
        self.insecure |= p.insecure && self.ca.is_none();
        self.user = self.user.take().or(p.user.clone());
        self.password_env = self.password_env.take().or(p.password_env.clone());
        self.timeout = self.timeout.or(p.timeout);
        self.reseed_cmd = self.reseed_cmd.take().or(p.reseed_cmd.clone());
        if self.expect.is_empty() {
            self.expect.clone_from(&p.expect);
        }
        if let (None, Some(login)) = (self.login, &p.login) {
            self.login = Some(parse_login(login).map_err(|e| {
                anyhow::anyhow!("{}: profile `{name}`: login: {e}", path.display())
            })?);
        }
        Ok(Some(p))
    }

    /// Starts the bundled server or reads the login for `--target`, and applies `--tls`,
    /// `--ca` and `--insecure`. A failing first `--reseed-cmd` is an error.
    pub async fn resolve(&self) -> anyhow::Result<Resolved> {
        if self.target.is_none() && self.reseed_cmd.is_some() {
            bail!("--reseed-cmd needs --target (the bundled server restores itself)");
        }
        let mut resolved = match &self.target {
            Some(spec) => {
                if !self.faults.is_empty() {
                    bail!("--fault applies to the bundled server only (drop --target)");
                }
                if !self.variants.is_empty() {
                    bail!("--variant applies to the bundled server only (drop --target)");
                }
                let mut target = Target::parse(spec)?;
                target.trust = match (&self.ca, self.insecure) {
                    (Some(ca), _) => Trust::CaFile(ca.clone()),
                    (None, true) => Trust::Insecure,
                    (None, false) => Trust::Platform,
                };
                let user = self
                    .user
                    .clone()
                    .context("--user is required with --target")?;
                let var = self.password_var();
                let password = std::env::var(var).with_context(|| {
                    format!("the password is read from ${var} (see --password-env)")
                })?;
                let mut reseed: Option<Reseed> = None;
                if let Some(cmd) = self.reseed_cmd.clone() {
                    // the maildrop starts as the fixture, whatever an earlier run left
                    reseed_with(&cmd).map_err(|e| anyhow::anyhow!("--reseed-cmd failed: {e}"))?;
                    reseed = Some(Arc::new(move || reseed_with(&cmd)));
                }
                Resolved {
                    target,
                    profile: Profile { user, password },
                    reseed,
                    server: None,
                }
            }
            None => {
                let bundled = bundled::start(bundled::Options {
                    user: self.user.clone().unwrap_or_else(|| "demo".into()),
                    faults: self.faults.iter().fold(Faults::none(), |f, x| f.with(*x)),
                    variants: self
                        .variants
                        .iter()
                        .fold(Variants::none(), |v, x| v.with(*x)),
                    allow_plaintext_auth: true,
                    tls: self.tls.map_or(TlsMode::None, TlsMode::from),
                })
                .await?;
                Resolved {
                    target: bundled.target,
                    profile: bundled.profile,
                    reseed: Some(bundled.reseed),
                    server: Some(bundled.server),
                }
            }
        };
        if let Some(mode) = self.tls {
            resolved.target.tls = mode.into();
        }
        Ok(resolved)
    }
}

/// `--login METHOD`.
fn parse_login(name: &str) -> Result<LoginMethod, String> {
    LoginMethod::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = LoginMethod::ORDER.iter().map(|m| m.name()).collect();
        format!(
            "unknown login method `{name}` (expected {})",
            names.join(", ")
        )
    })
}

/// How long a `--reseed-cmd` may take.
const RESEED_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs the `--reseed-cmd` shell command; `Err` carries its exit status and stderr.
fn reseed_with(cmd: &str) -> Result<(), String> {
    use std::io::Read as _;
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start `sh -c {cmd}`: {e}"))?;
    // drain stderr on a thread, so a chatty command cannot block on a full pipe
    let stderr = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = e.read_to_end(&mut buf);
            buf.truncate(4096);
            String::from_utf8_lossy(&buf).into_owned()
        })
    });
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > RESEED_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`{cmd}` took longer than {RESEED_TIMEOUT:?}; killed"
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("waiting for `{cmd}`: {e}")),
        }
    };
    if status.success() {
        return Ok(());
    }
    let err = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    Err(format!("`{cmd}` exited with {status}: {}", err.trim()))
}
