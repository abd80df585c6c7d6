//! `conform run` and `conform list`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use reference_server::fixture;
use runner::report::console::Console;
use runner::report::json::Json;
use runner::report::junit::JUnit;
use runner::{Baseline, CaseEnv, Event, Profile, Reporter, RunConfig, RunError, Target, TlsMode};
use scenario::plan::{Case, Level};

use crate::select::SelectArgs;
use crate::target::TargetArgs;
use crate::{exit, progress};

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
    #[command(flatten)]
    target: TargetArgs,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write a JSON Lines report here (one event per case; schema: suite/runner/JSON-REPORT.md).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write one self-contained HTML page here (summary, filterable cases, wire logs).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    #[command(flatten)]
    select: SelectArgs,
    /// Which failures fail the run.
    #[arg(long, value_enum, default_value = "must")]
    level: LevelArg,
    /// Cases run at once (cases that log in are serialised: the maildrop lock).
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Known deviations of the target (TOML): they are reported apart and do not fail the
    /// run; a baselined case that passes is flagged.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
}

/// Arguments of `conform list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Scenario files or folders (default: the bundled `scenarios/`).
    paths: Vec<PathBuf>,
    #[command(flatten)]
    select: SelectArgs,
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
    let mut cases = match load(&args.paths) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if let Err(e) = args.select.apply(&mut cases) {
        eprintln!("conform: {e:#}");
        return Ok(exit::USAGE);
    }
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
        login: None,
    })
}

/// A digest of the scenarios that ran: MD5 over each case file's path and contents, in path
/// order, and the selected ids. Two reports with the same digest ran the same cases.
fn scenario_digest(cases: &[Case]) -> String {
    use md5::{Digest as _, Md5};
    let mut files: Vec<&Path> = cases.iter().map(|c| c.span.file.as_path()).collect();
    files.sort();
    files.dedup();
    let mut md5 = Md5::new();
    for f in files {
        md5.update(f.to_string_lossy().as_bytes());
        md5.update([0]);
        md5.update(std::fs::read(f).unwrap_or_default());
        md5.update([0]);
    }
    for c in cases {
        md5.update(c.id.as_bytes());
        md5.update([0]);
    }
    md5.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A report file, its folder made if needed.
fn report_file(path: &Path) -> anyhow::Result<std::io::BufWriter<std::fs::File>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(std::io::BufWriter::new(file))
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

pub fn run(mut args: RunArgs) -> anyhow::Result<u8> {
    let profile = match args.target.apply_profile() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("conform: {e:#}");
            return Ok(exit::USAGE);
        }
    };
    if args.baseline.is_none() {
        args.baseline = profile.and_then(|p| p.baseline);
    }
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
    if let Err(e) = args.select.apply(&mut cases) {
        eprintln!("conform: {e:#}");
        return Ok(exit::USAGE);
    }
    if cases.is_empty() {
        eprintln!("conform: no case selected");
        return Ok(exit::USAGE);
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run_async(args, cases, baseline))
}

async fn run_async(
    args: RunArgs,
    cases: Vec<Case>,
    baseline: Option<Baseline>,
) -> anyhow::Result<u8> {
    let resolved = match args.target.resolve().await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("conform: {e:#}");
            return Ok(exit::USAGE);
        }
    };
    let _server = resolved.server;
    let env = case_env(resolved.target, resolved.profile, args.target.io_timeout())?;
    let threshold = match args.level {
        LevelArg::Must => Level::Must,
        LevelArg::Should => Level::Should,
        LevelArg::May => Level::May,
    };
    let bar = progress::bar(cases.len() as u64, "cases");
    let mut reporters: Vec<Box<dyn Reporter>> = vec![
        Box::new(Console::new(progress::AboveBar(bar.clone()))),
        Box::new(progress::Progress(bar)),
    ];
    if let Some(path) = &args.junit {
        let mut junit = JUnit::new(report_file(path)?);
        junit.properties = vec![
            ("scenario-digest".into(), scenario_digest(&cases)),
            ("cases".into(), cases.len().to_string()),
        ];
        reporters.push(Box::new(junit));
    }
    if let Some(path) = &args.json {
        reporters.push(Box::new(Json::new(report_file(path)?)));
    }
    if let Some(path) = &args.html {
        let html = runner::report::html::Html::new(report_file(path)?);
        reporters.push(Box::new(html));
    }
    let config = RunConfig {
        env,
        jobs: args.jobs,
        threshold,
        reseed: resolved.reseed,
        baseline,
        expect: args.target.expect.clone(),
        login: args.target.login,
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
