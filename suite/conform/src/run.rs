//! `conform run` and `conform list`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, ValueEnum};
use reference_server::{fixture, Fault, Faults};
use runner::report::console::Console;
use runner::report::junit::JUnit;
use runner::{
    Baseline, CaseEnv, Event, Profile, Reporter, RunConfig, RunError, Target, TlsMode, Trust,
};
use scenario::plan::{Case, Level};

use crate::{bundled, exit};

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

/// Level threshold on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LevelArg {
    /// Only MUST failures fail the run (default).
    Must,
    /// MUST and SHOULD failures fail the run.
    Should,
    /// Every failure fails the run.
    May,
}

/// Arguments of `conform run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files or folders (default: the bundled `scenarios/`).
    paths: Vec<PathBuf>,
    /// The server: HOST:PORT (995 = implicit TLS), pop3://HOST[:PORT], pop3s://HOST[:PORT].
    /// Without it, the bundled reference server starts in-process on loopback.
    #[arg(long, value_name = "TARGET")]
    target: Option<String>,
    /// Override the TLS mode the target implies.
    #[arg(long, value_enum)]
    tls: Option<TlsArg>,
    /// Trust any server certificate (test servers with self-signed certificates).
    #[arg(long)]
    insecure: bool,
    /// Trust the CA certificates in this PEM file instead of the platform roots.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    ca: Option<PathBuf>,
    /// The user cases log in as (default with the bundled server: demo).
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// The environment variable holding the password.
    #[arg(long, value_name = "VAR", default_value = "CONFORM_PASSWORD")]
    password_env: String,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Only cases whose id matches this glob (`*` matches anything).
    #[arg(long, value_name = "GLOB")]
    filter: Option<String>,
    /// Which failures fail the run.
    #[arg(long, value_enum, default_value = "must")]
    level: LevelArg,
    /// Cases run at once (cases that log in are serialised: the maildrop lock).
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Seconds allowed for each connect, read and write.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    timeout: u64,
    /// Known deviations of the target (TOML): they are reported apart and do not fail the
    /// run; a baselined case that passes is flagged.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Shell command (`sh -c`) that restores the target's maildrop to the standard fixture,
    /// e.g. `conform seed --maildir /srv/mail/test/Maildir --replace`. Run once before the
    /// first case and again after each case that mutates the maildrop, so that every case
    /// starts on the fixture.
    #[arg(long, value_name = "CMD", requires = "target")]
    reseed_cmd: Option<String>,
    /// Bundled server only: turn on a deliberate defect (to see the suite catch it).
    #[arg(long = "fault", value_name = "NAME")]
    faults: Vec<Fault>,
}

/// Arguments of `conform list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Scenario files or folders (default: the bundled `scenarios/`).
    paths: Vec<PathBuf>,
}

/// The scenarios folder: `./scenarios` if present, else the one in the source tree.
pub fn default_paths() -> Vec<PathBuf> {
    let here = Path::new("scenarios");
    if here.is_dir() {
        return vec![here.to_owned()];
    }
    vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")]
}

/// Loads cases, or prints the diagnostics and says exit 2.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Case>, u8> {
    let paths = if paths.is_empty() {
        default_paths()
    } else {
        paths.to_vec()
    };
    scenario::load_paths(&paths).map_err(|d| {
        eprintln!("{d}");
        exit::USAGE
    })
}

pub fn list(args: ListArgs) -> anyhow::Result<u8> {
    let cases = match load(&args.paths) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    for c in &cases {
        println!(
            "{:<48} {:<16} {:<6} {}",
            c.id,
            c.rfc.to_string(),
            c.level.to_string(),
            c.title
        );
    }
    println!("{} cases", cases.len());
    Ok(exit::OK)
}

fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    rest.is_empty()
}

/// What every case needs: the target, its TLS client configuration, I/O limits, the login
/// and the fixture.
pub fn case_env(target: Target, profile: Profile, io_timeout: Duration) -> anyhow::Result<CaseEnv> {
    let tls = match target.tls {
        TlsMode::None => None,
        _ => Some(target.client_config()?),
    };
    Ok(CaseEnv {
        target,
        tls,
        limits: runner::transport::Limits {
            io_timeout,
            ..Default::default()
        },
        profile,
        fixture: Arc::new(fixture::MESSAGES.iter().map(|m| m.to_vec()).collect()),
    })
}

/// Reporters fanned out from one event stream.
struct Fanout(Vec<Box<dyn Reporter>>);

impl Reporter for Fanout {
    fn event(&mut self, event: &Event<'_>) {
        for r in &mut self.0 {
            r.event(event);
        }
    }
}

pub fn run(args: RunArgs) -> anyhow::Result<u8> {
    let mut cases = match load(&args.paths) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let baseline = match &args.baseline {
        Some(path) => match Baseline::load(path, &cases) {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("conform: baseline {e}");
                return Ok(exit::USAGE);
            }
        },
        None => None,
    };
    if let Some(f) = &args.filter {
        cases.retain(|c| glob(f, &c.id));
    }
    if cases.is_empty() {
        eprintln!("conform: no case selected");
        return Ok(exit::USAGE);
    }
    if args.target.is_some() && !args.faults.is_empty() {
        bail!("--fault applies to the bundled server only (drop --target)");
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run_async(args, cases, baseline))
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

async fn run_async(
    args: RunArgs,
    cases: Vec<Case>,
    baseline: Option<Baseline>,
) -> anyhow::Result<u8> {
    let mut reseed: Option<Arc<dyn Fn() -> Result<(), String> + Send + Sync>> = None;
    let mut _server = None;
    let (mut target, profile) = match &args.target {
        Some(spec) => {
            let target = Target::parse(spec)?;
            let user = args
                .user
                .clone()
                .context("--user is required with --target")?;
            let password = std::env::var(&args.password_env).with_context(|| {
                format!(
                    "the password is read from ${} (see --password-env)",
                    args.password_env
                )
            })?;
            if let Some(cmd) = args.reseed_cmd.clone() {
                // the maildrop starts as the fixture, whatever an earlier run left
                if let Err(e) = reseed_with(&cmd) {
                    eprintln!("conform: --reseed-cmd failed: {e}");
                    return Ok(exit::USAGE);
                }
                reseed = Some(Arc::new(move || reseed_with(&cmd)));
            }
            (target, Profile { user, password })
        }
        None => {
            let tls = match args.tls {
                Some(TlsArg::Implicit) => TlsMode::Implicit,
                Some(TlsArg::Starttls) => TlsMode::StartTls,
                _ => TlsMode::None,
            };
            let bundled = bundled::start(bundled::Options {
                user: args.user.clone().unwrap_or_else(|| "demo".into()),
                faults: args.faults.iter().fold(Faults::none(), |f, x| f.with(*x)),
                allow_plaintext_auth: true,
                tls,
            })
            .await?;
            reseed = Some(bundled.reseed.clone());
            let target = bundled.target.clone();
            let profile = bundled.profile.clone();
            _server = Some(bundled.server);
            (target, profile)
        }
    };
    if args.target.is_some() {
        target.trust = match (&args.ca, args.insecure) {
            (Some(ca), _) => Trust::CaFile(ca.clone()),
            (None, true) => Trust::Insecure,
            (None, false) => Trust::Platform,
        };
    }
    if let Some(mode) = args.tls {
        target.tls = match mode {
            TlsArg::Implicit => TlsMode::Implicit,
            TlsArg::Starttls => TlsMode::StartTls,
            TlsArg::None => TlsMode::None,
        };
    }
    let env = case_env(target, profile, Duration::from_secs(args.timeout.max(1)))?;
    let threshold = match args.level {
        LevelArg::Must => Level::Must,
        LevelArg::Should => Level::Should,
        LevelArg::May => Level::May,
    };
    let mut reporters: Vec<Box<dyn Reporter>> = vec![Box::new(Console::new(std::io::stdout()))];
    if let Some(path) = &args.junit {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        reporters.push(Box::new(JUnit::new(std::io::BufWriter::new(file))));
    }
    let config = RunConfig {
        env,
        jobs: args.jobs,
        threshold,
        reseed,
        baseline,
    };
    match runner::run(cases, config, &mut Fanout(reporters)).await {
        Ok(summary) if summary.run_failures > 0 => Ok(exit::FAILED),
        Ok(_) => Ok(exit::OK),
        Err(RunError::NothingSelected) => {
            eprintln!("conform: no case selected");
            Ok(exit::USAGE)
        }
        Err(e @ RunError::Unreachable { .. }) => {
            eprintln!("conform: {e}");
            Ok(exit::UNREACHABLE)
        }
    }
}
