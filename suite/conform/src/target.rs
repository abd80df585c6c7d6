//! Where a command's cases or sequences go: `--target` and its TLS, trust and login options,
//! or, without `--target`, the bundled reference server in-process. Shared by `conform run`
//! and `conform model`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, ValueEnum};
use reference_server::{Fault, Faults, RunningServer};
use runner::{Profile, Target, TlsMode, Trust};

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
    /// The environment variable holding the password.
    #[arg(long, value_name = "VAR", default_value = "CONFORM_PASSWORD")]
    pub password_env: String,
    /// Seconds allowed for each connect, read and write.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub timeout: u64,
    /// Shell command (`sh -c`) that restores the target's maildrop to the standard fixture,
    /// e.g. `conform seed --maildir /srv/mail/test/Maildir --replace`. `conform run` runs it
    /// once before the first case and again after each case that mutates the maildrop;
    /// `conform model` before every sequence.
    #[arg(long, value_name = "CMD", requires = "target")]
    pub reseed_cmd: Option<String>,
    /// Bundled server only: turn on a deliberate defect (to see the suite catch it).
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<Fault>,
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
        Duration::from_secs(self.timeout.max(1))
    }

    /// Starts the bundled server or reads the login for `--target`, and applies `--tls`,
    /// `--ca` and `--insecure`. A failing first `--reseed-cmd` is an error.
    pub async fn resolve(&self) -> anyhow::Result<Resolved> {
        let mut resolved = match &self.target {
            Some(spec) => {
                if !self.faults.is_empty() {
                    bail!("--fault applies to the bundled server only (drop --target)");
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
                let password = std::env::var(&self.password_env).with_context(|| {
                    format!(
                        "the password is read from ${} (see --password-env)",
                        self.password_env
                    )
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
