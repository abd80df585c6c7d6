//! `conform run`: the selected cases against the target, to the console and the report
//! files.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use runner::report::console::Console;
use runner::report::html::Html;
use runner::report::json::Json;
use runner::report::junit::JUnit;
use runner::{Baseline, Event, Reporter, RunConfig};
use scenario::plan::{Case, Level};

use crate::args::TargetArgs;
use crate::error::{CliError, Outcome};
use crate::select::SelectArgs;
use crate::setup::Setup;
use crate::{progress, scenarios};

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

impl From<LevelArg> for Level {
    fn from(l: LevelArg) -> Level {
        match l {
            LevelArg::Must => Level::Must,
            LevelArg::Should => Level::Should,
            LevelArg::May => Level::May,
        }
    }
}

/// Arguments of `conform run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files or folders (default: the bundled `scenarios/`).
    paths: Vec<PathBuf>,
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    reports: ReportArgs,
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

/// The report files.
#[derive(Debug, Args)]
struct ReportArgs {
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write a JSON Lines report here (one event per case; schema: suite/runner/JSON-REPORT.md).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write one self-contained HTML page here (summary, filterable cases, wire logs).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

/// Resolves the setup, selects the cases, runs them: exit 1 when a case fails the run.
pub fn run(args: RunArgs) -> Result<Outcome, CliError> {
    let setup = Setup::resolve(&args.target, args.baseline.as_deref())?;
    let (cases, baseline) = selection(&args, &setup)?;
    super::runtime()?.block_on(run_cases(&args, &setup, cases, baseline))
}

/// The selected cases and the baseline (checked against every case, selected or not).
fn selection(args: &RunArgs, setup: &Setup) -> Result<(Vec<Case>, Option<Baseline>), CliError> {
    let mut cases = scenarios::load(&args.paths)?;
    let baseline = match &setup.baseline {
        Some(path) => Some(Baseline::load(path, &cases)?),
        None => None,
    };
    args.select.apply(&mut cases)?;
    if cases.is_empty() {
        return Err(CliError::NothingSelected);
    }
    Ok((cases, baseline))
}

async fn run_cases(
    args: &RunArgs,
    setup: &Setup,
    cases: Vec<Case>,
    baseline: Option<Baseline>,
) -> Result<Outcome, CliError> {
    // `ready` keeps the bundled server running until the run ends
    let ready = setup.start().await?;
    let config = RunConfig {
        env: ready.case_env(setup.io_timeout)?,
        jobs: args.jobs,
        threshold: args.level.into(),
        reseed: ready.reseed.clone(),
        baseline,
        expect: setup.expect.clone(),
        login: setup.login,
    };
    let mut reporters = reporters(&args.reports, &cases)?;
    let summary = runner::run(cases, config, &mut reporters).await?;
    Ok(Outcome::failed_if(summary.run_failures > 0))
}

/// The console (above the progress bar), the bar, and the report files asked for.
fn reporters(reports: &ReportArgs, cases: &[Case]) -> Result<Fanout, CliError> {
    let bar = progress::bar(cases.len() as u64, "cases");
    let mut reporters: Vec<Box<dyn Reporter>> = vec![
        Box::new(Console::new(progress::AboveBar(bar.clone()))),
        Box::new(progress::Progress(bar)),
    ];
    if let Some(path) = &reports.junit {
        let mut junit = JUnit::new(report_file(path)?);
        junit.properties = vec![
            ("scenario-digest".into(), scenario_digest(cases)),
            ("cases".into(), cases.len().to_string()),
        ];
        reporters.push(Box::new(junit));
    }
    if let Some(path) = &reports.json {
        reporters.push(Box::new(Json::new(report_file(path)?)));
    }
    if let Some(path) = &reports.html {
        reporters.push(Box::new(Html::new(report_file(path)?)));
    }
    Ok(Fanout(reporters))
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
fn report_file(path: &Path) -> Result<std::io::BufWriter<std::fs::File>, CliError> {
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
