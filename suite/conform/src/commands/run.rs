//! `conform run`: the selected cases against the target, to the console and the report
//! files.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use runner::report::console::{Console, StatusLevel};
use runner::report::html::Html;
use runner::report::json::Json;
use runner::report::junit::{JUnit, Transcripts};
use runner::report::ReportFile;
use runner::{Baseline, Event, Interrupt, Interrupter, ReportError, Reporter, RunConfig};
use scenario::plan::{Case, Level};

use crate::args::TargetArgs;
use crate::error::{CliError, Outcome};
use crate::select::SelectArgs;
use crate::setup::Setup;
use crate::{catalogue, progress};

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
    /// Scenario files or folders (default: the catalogue built into conform; `conform
    /// scenarios export DIR` writes it out).
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
    /// Cases run at once. Cases that may log in take an account each (one case per account
    /// at a time: RFC 1939 §4's maildrop lock; repeat --user for more); cases that cannot log
    /// in (wrong credentials, which a server may answer only after a delay) run beside them.
    #[arg(long, default_value_t = 16)]
    jobs: usize,
    /// List the 10 slowest cases with their wall times after the summary.
    #[arg(long)]
    profile_time: bool,
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
    /// Which cases carry their C:/S: transcript in the JUnit report's system-out.
    #[arg(long, value_enum, value_name = "WHICH", default_value = "failures")]
    junit_transcripts: TranscriptsArg,
    /// Write a JSON Lines report here (one event per case; schema: suite/runner/JSON-REPORT.md).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write one self-contained HTML page here (summary, filterable cases, wire logs).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Which cases get a console line as they finish: `none`, `fail` (failures, errors,
    /// known deviations), `skip` (also skipped, not applicable, blocked), `pass` (every
    /// case). The failures' details and the summary are always shown.
    #[arg(long, value_enum, value_name = "LEVEL", default_value = "fail")]
    status_level: StatusLevelArg,
    /// Colour the console: `auto` (when standard output is a terminal and NO_COLOR is not
    /// set), `always`, `never`.
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto")]
    color: ColorArg,
}

/// `--status-level`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum StatusLevelArg {
    None,
    Fail,
    Skip,
    Pass,
}

/// `--color`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ColorArg {
    Auto,
    Always,
    Never,
}

/// Which JUnit cases carry their transcript.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum TranscriptsArg {
    /// Failures, errors and known deviations (a small report).
    Failures,
    /// Every case (an all-pass run of the catalogue: megabytes).
    All,
    /// None: the failure messages alone.
    None,
}

impl From<TranscriptsArg> for Transcripts {
    fn from(t: TranscriptsArg) -> Transcripts {
        match t {
            TranscriptsArg::Failures => Transcripts::Failures,
            TranscriptsArg::All => Transcripts::All,
            TranscriptsArg::None => Transcripts::None,
        }
    }
}

/// Resolves the setup, selects the cases, runs them: exit 1 when a case fails the run.
pub fn run(args: RunArgs) -> Result<Outcome, CliError> {
    // the signals first, so that a CI job cancelled while the scenarios load still gets its
    // reports (the run then starts interrupted)
    let runtime = super::runtime()?;
    let (interrupter, interrupt) = Interrupt::channel();
    let signals = {
        let _inside = runtime.enter();
        on_signals(interrupter)?
    };
    let setup = Setup::resolve(&args.target, args.baseline.as_deref())?;
    let (cases, baseline) = selection(&args, &setup)?;
    let ran = runtime.block_on(run_cases(&args, &setup, cases, baseline, interrupt));
    signals.abort();
    ran
}

/// The selected cases and the baseline (checked against every case, selected or not).
fn selection(args: &RunArgs, setup: &Setup) -> Result<(Vec<Case>, Option<Baseline>), CliError> {
    let mut cases = catalogue::load(&args.paths)?;
    let baseline = match &setup.baseline {
        Some(path) => Some(Baseline::load(path, &cases)?),
        None => None,
    };
    // an empty selection is an error naming the closest ids, tags and RFCs
    args.select.apply(&mut cases)?;
    Ok((cases, baseline))
}

async fn run_cases(
    args: &RunArgs,
    setup: &Setup,
    cases: Vec<Case>,
    baseline: Option<Baseline>,
    interrupt: Interrupt,
) -> Result<Outcome, CliError> {
    let mut reporters = reporters(&args.reports, &args.paths, &cases, args.profile_time)?;
    // `ready` keeps the bundled server running until the run ends
    let ready = setup.start().await?;
    let config = RunConfig {
        env: ready.case_env(setup.io_timeout)?,
        jobs: args.jobs,
        threshold: args.level.into(),
        reseed: ready.reseed.clone(),
        more_accounts: ready.more_accounts(),
        baseline,
        expect: setup.expect.clone(),
        login: setup.login,
        interrupt: Some(interrupt),
    };
    let ran = runner::run(cases, config, &mut reporters).await;
    // a report that could not be written wins: the run's result would not be where CI reads it
    if !reporters.failed.is_empty() {
        return Err(CliError::Report(reporters.failed));
    }
    let summary = ran?;
    if let Some(why) = &summary.interrupted {
        eprintln!("conform: interrupted ({why}): the reports are complete and say so");
        return Ok(Outcome::Interrupted);
    }
    Ok(Outcome::failed_if(summary.run_failures > 0))
}

/// Fires `interrupter` on the first `SIGINT` or `SIGTERM` (the run then ends with complete
/// reports, exit 130); a second one ends the process at once, without them.
fn on_signals(interrupter: Interrupter) -> Result<tokio::task::JoinHandle<()>, CliError> {
    use tokio::signal::unix::{signal, SignalKind};
    let listen = |kind| signal(kind).context("listening for SIGINT and SIGTERM");
    let mut int = listen(SignalKind::interrupt())?;
    let mut term = listen(SignalKind::terminate())?;
    Ok(tokio::spawn(async move {
        let why = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        };
        interrupter.interrupt(why);
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        eprintln!("conform: interrupted again: stopping without writing the reports");
        std::process::exit(i32::from(Outcome::Interrupted.exit_code()));
    }))
}

/// The console (above the progress bar), the bar, and the report files asked for; `paths`
/// are the scenario files and folders given (JUnit shows case files relative to them).
fn reporters(
    reports: &ReportArgs,
    paths: &[PathBuf],
    cases: &[Case],
    profile_time: bool,
) -> Result<Fanout, CliError> {
    let bar = progress::bar(cases.len() as u64, "cases");
    match reports.color {
        ColorArg::Auto => {}
        ColorArg::Always => anstream::ColorChoice::Always.write_global(),
        ColorArg::Never => anstream::ColorChoice::Never.write_global(),
    }
    let mut console = Console::new(progress::AboveBar(bar.clone()));
    // the standard output stream drops the colours when they are not wanted
    console.colour = true;
    console.status_level = match reports.status_level {
        StatusLevelArg::None => StatusLevel::None,
        StatusLevelArg::Fail => StatusLevel::Fail,
        StatusLevelArg::Skip => StatusLevel::Skip,
        StatusLevelArg::Pass => StatusLevel::Pass,
    };
    if profile_time {
        console.slowest = 10;
    }
    let mut reporters: Vec<Box<dyn Reporter>> =
        vec![Box::new(console), Box::new(progress::Progress(bar))];
    if let Some(path) = &reports.junit {
        let mut junit = JUnit::new(report_file("JUnit", path)?);
        junit.properties = vec![
            ("scenario-digest".into(), scenario_digest(cases)),
            ("cases".into(), cases.len().to_string()),
        ];
        junit.transcripts = reports.junit_transcripts.into();
        junit.roots = paths.to_vec();
        reporters.push(Box::new(junit));
    }
    if let Some(path) = &reports.json {
        reporters.push(Box::new(Json::new(report_file("JSON", path)?)));
    }
    if let Some(path) = &reports.html {
        reporters.push(Box::new(Html::new(report_file("HTML", path)?)));
    }
    Ok(Fanout {
        live: reporters,
        failed: Vec::new(),
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

/// A report file (written beside `path` and renamed into place when complete), its folder
/// made if needed.
fn report_file(report: &'static str, path: &Path) -> Result<ReportFile, CliError> {
    ReportFile::create(path).map_err(|error| {
        CliError::Report(vec![ReportError {
            report,
            to: path.display().to_string(),
            error,
        }])
    })
}

/// Reporters fanned out from one event stream. A reporter whose report could not be written
/// gets no more events; the others go on, and the run ends with every error.
struct Fanout {
    live: Vec<Box<dyn Reporter>>,
    failed: Vec<ReportError>,
}

impl Reporter for Fanout {
    fn event(&mut self, event: &Event<'_>) -> Result<(), ReportError> {
        let mut first = None;
        let mut live = Vec::with_capacity(self.live.len());
        for mut r in self.live.drain(..) {
            match r.event(event) {
                Ok(()) => live.push(r),
                Err(e) => {
                    // the runner keeps the first error of the stream; all are kept here
                    first.get_or_insert_with(|| ReportError {
                        report: e.report,
                        to: e.to.clone(),
                        error: std::io::Error::new(e.error.kind(), e.error.to_string()),
                    });
                    self.failed.push(e);
                }
            }
        }
        self.live = live;
        first.map_or(Ok(()), Err)
    }
}
