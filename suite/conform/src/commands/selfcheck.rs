//! `conform selfcheck`: the suite tests itself.
//!
//! The catalogue runs against the bundled reference server once with no fault in each setup
//! the faults need (it must pass there: no failure, no error), then once per deliberate
//! defect ([`reference_server::fault`]), each on its own server. A fault is **caught** when at
//! least one case fails or errors against it; since the clean run had none, every such case
//! is one the fault broke. The mutation score is caught faults over all faults.
//!
//! The false-positive control is the other half: the catalogue runs once per permitted
//! variation ([`reference_server::variant`]: a choice the RFCs leave to the server, such as
//! no CAPA at all or USER answered -ERR for an unknown name), each on its own server, and must
//! give no failure and no error there (cases found not applicable, or skipped, are fine). A
//! case that fails a variant fails a server the RFCs allow.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use reference_server::fault::Setup;
use reference_server::{Fault, Faults, Variant, Variants};
use runner::{CaseResult, Event, ReportError, Reporter, RunConfig, TlsMode, Verdict};
use scenario::plan::{Case, Level};
use tokio::sync::Semaphore;

use crate::error::{CliError, Outcome};
use crate::setup::Setup as RunSetup;
use crate::{bundled, catalogue};

mod tables;

/// Arguments of `conform selfcheck`.
#[derive(Debug, Args)]
pub struct SelfcheckArgs {
    /// Scenario files or folders (default: the catalogue built into conform; `conform
    /// scenarios export DIR` writes it out).
    paths: Vec<PathBuf>,
    /// Only this fault (repeatable; default: every fault).
    #[arg(long = "fault", value_name = "NAME")]
    faults: Vec<Fault>,
    /// Print the faults (name, area, setup, what each breaks) and exit.
    #[arg(long)]
    list_faults: bool,
    /// Only this permitted variation (repeatable). With --fault or --variant only the named
    /// ones run; with neither, every fault and every variant.
    #[arg(long = "variant", value_name = "NAME")]
    variants: Vec<Variant>,
    /// Print the permitted variations (name, what the server does, the RFC text that permits
    /// it) and exit.
    #[arg(long)]
    list_variants: bool,
    /// Runs of the catalogue at once, each against its own server (the runs mostly wait on
    /// the faults that make the server go silent, so more than the cores).
    #[arg(long, default_value_t = 6)]
    parallel: usize,
    /// Cases run at once within a run.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Seconds allowed for each connect, read and write. The server is in-process on
    /// loopback and answers in milliseconds; a fault that leaves a response unterminated
    /// costs this much once for every case it breaks.
    #[arg(long, value_name = "SECS", default_value_t = 1)]
    timeout: u64,
    /// Write the whole table (every catching case of every fault) as Markdown here.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Write the totals (the README's selfcheck block) as Markdown here.
    #[arg(long, value_name = "FILE")]
    totals: Option<PathBuf>,
}

/// What one run of the catalogue gave.
#[derive(Debug, Default)]
struct Tally {
    passed: usize,
    skipped: usize,
    /// Cases that failed: the target broke the requirement.
    failed: Vec<Arc<Case>>,
    /// Cases that errored (the server went silent, closed, or broke the wire).
    errors: Vec<Arc<Case>>,
    /// The run could not start (the server could not be reached).
    unreachable: Option<String>,
    duration: Duration,
}

impl Tally {
    fn caught(&self) -> bool {
        !self.failed.is_empty() || !self.errors.is_empty()
    }

    /// For a variant's run: nothing failed, nothing errored, and the run happened.
    fn clean(&self) -> bool {
        self.failed.is_empty() && self.errors.is_empty() && self.unreachable.is_none()
    }

    /// The failing cases (errors marked), for a variant's row.
    fn failing(&self) -> Vec<String> {
        let mut out: Vec<String> = ids(&self.failed).iter().map(|i| i.to_string()).collect();
        out.extend(ids(&self.errors).iter().map(|i| format!("{i} (error)")));
        out
    }

    fn from_results(results: &[CaseResult]) -> Tally {
        let mut o = Tally::default();
        for r in results {
            match r.verdict {
                Verdict::Pass => o.passed += 1,
                Verdict::Skip(_) | Verdict::NotApplicable(_) | Verdict::Blocked { .. } => {
                    o.skipped += 1
                }
                Verdict::Fail(_) => o.failed.push(r.case.clone()),
                Verdict::Error(_) => o.errors.push(r.case.clone()),
            }
        }
        o
    }
}

/// Keeps the results of a run.
#[derive(Default)]
struct Collect(Vec<CaseResult>);

impl Reporter for Collect {
    fn event(&mut self, event: &Event<'_>) -> Result<(), ReportError> {
        if let Event::Finished { results, .. } = event {
            self.0 = results.to_vec();
        }
        Ok(())
    }
}

/// What one run's server has: one fault, one variant, or neither.
#[derive(Debug, Clone, Copy)]
enum Subject {
    Clean(Setup),
    Fault(Fault),
    Variant(Variant),
}

impl Subject {
    fn setup(self) -> Setup {
        match self {
            Subject::Clean(s) => s,
            Subject::Fault(f) => f.setup(),
            // a variant is the server `conform run` starts, with one choice made otherwise
            Subject::Variant(_) => Setup::PlaintextAllowed,
        }
    }
}

/// One run of the whole selection against a bundled server with `subject`.
async fn run_once(
    cases: Vec<Case>,
    subject: Subject,
    jobs: usize,
    timeout: Duration,
) -> Result<Tally, CliError> {
    let started = Instant::now();
    let (faults, variants) = match subject {
        Subject::Clean(_) => (Faults::none(), Variants::none()),
        Subject::Fault(f) => (Faults::none().with(f), Variants::none()),
        Subject::Variant(v) => (Faults::none(), Variants::none().with(v)),
    };
    let options = bundled::Options {
        // one account per lane, as `conform run` against the bundled server
        users: crate::setup::bundled_users(),
        faults,
        variants,
        allow_plaintext_auth: subject.setup() != Setup::PlaintextRefused,
        // the channel-binding mechanisms (SCRAM -PLUS) are offered only over TLS
        tls: if subject.setup() == Setup::ImplicitTls {
            TlsMode::Implicit
        } else {
            TlsMode::None
        },
    };
    // a fault that hides a capability shows only when the vendor declares it
    let expect = match subject {
        Subject::Fault(f) => f.declared().iter().map(|c| c.to_string()).collect(),
        _ => Vec::new(),
    };
    let setup = RunSetup::bundled(options, timeout, expect);
    let ready = setup.start().await?;
    let config = RunConfig {
        env: ready.case_env(setup.io_timeout)?,
        jobs,
        // every failure counts, whatever its level
        threshold: Level::May,
        reseed: ready.reseed.clone(),
        more_accounts: ready.more_accounts(),
        baseline: None,
        expect: setup.expect.clone(),
        login: setup.login,
        interrupt: None,
    };
    let mut collect = Collect::default();
    let mut outcome = match runner::run(cases, config, &mut collect).await {
        Ok(_) => Tally::from_results(&collect.0),
        Err(e) => Tally {
            unreachable: Some(e.to_string()),
            ..Tally::default()
        },
    };
    if let Some(server) = ready.server {
        server.shutdown().await;
    }
    outcome.duration = started.elapsed();
    Ok(outcome)
}

/// The selfcheck's findings.
struct Report {
    cases: usize,
    clean: BTreeMap<Setup, Tally>,
    faults: Vec<(Fault, Tally)>,
    variants: Vec<(Variant, Tally)>,
    duration: Duration,
}

impl Report {
    fn caught(&self) -> usize {
        self.faults.iter().filter(|(_, o)| o.caught()).count()
    }

    fn clean_ok(&self) -> bool {
        self.clean.values().all(|o| {
            o.failed.is_empty() && o.errors.is_empty() && o.unreachable.is_none() && o.passed > 0
        })
    }

    fn variants_passing(&self) -> usize {
        self.variants.iter().filter(|(_, o)| o.clean()).count()
    }

    fn variants_score(&self) -> String {
        format!(
            "{}/{} variants pass",
            self.variants_passing(),
            self.variants.len()
        )
    }

    fn score(&self) -> String {
        let total = self.faults.len();
        let caught = self.caught();
        let percent = if total == 0 {
            0.0
        } else {
            100.0 * caught as f64 / total as f64
        };
        format!("{caught}/{total} faults caught ({percent:.0} %)")
    }
}

fn ids(cases: &[Arc<Case>]) -> Vec<&str> {
    cases.iter().map(|c| c.id.as_str()).collect()
}

fn list_variants() {
    for v in Variant::ALL {
        println!("{:<28} {}", v.name(), v.describe());
        println!("{:<28} permitted by {}", "", v.permitted_by());
    }
    println!("{} variants", Variant::ALL.len());
}

fn list_faults() {
    for f in Fault::ALL {
        println!(
            "{:<36} {:<14} {:<18} {}",
            f.name(),
            f.area().name(),
            f.setup().name(),
            f.describe()
        );
    }
    println!("{} faults", Fault::ALL.len());
}

/// Runs the catalogue with no fault, with each fault, with each variant: exit 1 unless the
/// clean runs pass, every fault is caught and every variant passes.
pub fn run(args: SelfcheckArgs) -> Result<Outcome, CliError> {
    if args.list_faults {
        list_faults();
        return Ok(Outcome::Passed);
    }
    if args.list_variants {
        list_variants();
        return Ok(Outcome::Passed);
    }
    let cases = catalogue::load(&args.paths)?;
    // naming a fault or a variant runs only what is named
    let everything = args.faults.is_empty() && args.variants.is_empty();
    let faults: Vec<Fault> = if everything {
        Fault::ALL.to_vec()
    } else {
        args.faults.clone()
    };
    let variants: Vec<Variant> = if everything {
        Variant::ALL.to_vec()
    } else {
        args.variants.clone()
    };
    let report = super::runtime()?.block_on(check(&args, cases, faults, variants))?;
    print!("{}", tables::console(&report));
    if let Some(path) = &args.markdown {
        super::write_report("Markdown", path, &tables::markdown(&report))?;
    }
    if let Some(path) = &args.totals {
        super::write_report("Markdown", path, &tables::totals_markdown(&report))?;
    }
    if !report.clean_ok() {
        return Err(CliError::SelfcheckNotClean);
    }
    if report.caught() < report.faults.len() {
        return Ok(Outcome::Failed);
    }
    if report.variants_passing() < report.variants.len() {
        return Err(CliError::VariantFails);
    }
    Ok(Outcome::Passed)
}

async fn check(
    args: &SelfcheckArgs,
    cases: Vec<Case>,
    faults: Vec<Fault>,
    variants: Vec<Variant>,
) -> Result<Report, CliError> {
    let started = Instant::now();
    let timeout = Duration::from_secs(args.timeout.max(1));
    let permits = Arc::new(Semaphore::new(args.parallel.max(1)));
    let mut setups: Vec<Setup> = faults.iter().map(|f| f.setup()).collect();
    if !variants.is_empty() {
        setups.push(Subject::Variant(variants[0]).setup());
    }
    setups.sort();
    setups.dedup();
    let n = cases.len();
    let mut jobs = Vec::new();
    for subject in setups
        .iter()
        .map(|s| Subject::Clean(*s))
        .chain(faults.iter().map(|f| Subject::Fault(*f)))
        .chain(variants.iter().map(|v| Subject::Variant(*v)))
    {
        let (cases, permits, jobs_per_run) = (cases.clone(), permits.clone(), args.jobs);
        jobs.push((
            subject,
            tokio::spawn(async move {
                let _permit = permits.acquire_owned().await.expect("semaphore open");
                run_once(cases, subject, jobs_per_run, timeout).await
            }),
        ));
    }
    let mut report = Report {
        cases: n,
        clean: BTreeMap::new(),
        faults: Vec::new(),
        variants: Vec::new(),
        duration: Duration::ZERO,
    };
    for (subject, job) in jobs {
        let outcome = job.await.context("a selfcheck run panicked")??;
        match subject {
            Subject::Clean(setup) => {
                report.clean.insert(setup, outcome);
            }
            Subject::Fault(f) => report.faults.push((f, outcome)),
            Subject::Variant(v) => report.variants.push((v, outcome)),
        }
    }
    report.duration = started.elapsed();
    Ok(report)
}
