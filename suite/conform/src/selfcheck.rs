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
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use reference_server::fault::{Area, Setup};
use reference_server::{Fault, Faults, Variant, Variants};
use runner::{CaseResult, Event, Reporter, RunConfig, TlsMode, Verdict};
use scenario::plan::{Case, Level};
use tokio::sync::Semaphore;

use crate::run::{case_env, load};
use crate::{bundled, exit};

/// Arguments of `conform selfcheck`.
#[derive(Debug, Args)]
pub struct SelfcheckArgs {
    /// Scenario files or folders (default: the bundled `scenarios/`).
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
struct Outcome {
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

impl Outcome {
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

    fn from_results(results: &[CaseResult]) -> Outcome {
        let mut o = Outcome::default();
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
    fn event(&mut self, event: &Event<'_>) {
        if let Event::Finished { results, .. } = event {
            self.0 = results.to_vec();
        }
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
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let (faults, variants) = match subject {
        Subject::Clean(_) => (Faults::none(), Variants::none()),
        Subject::Fault(f) => (Faults::none().with(f), Variants::none()),
        Subject::Variant(v) => (Faults::none(), Variants::none().with(v)),
    };
    let server = bundled::start(bundled::Options {
        user: "demo".into(),
        faults,
        variants,
        allow_plaintext_auth: subject.setup() == Setup::PlaintextAllowed,
        tls: TlsMode::None,
    })
    .await?;
    let env = case_env(server.target.clone(), server.profile.clone(), timeout)?;
    let config = RunConfig {
        env,
        jobs,
        // every failure counts, whatever its level
        threshold: Level::May,
        reseed: Some(server.reseed.clone()),
        baseline: None,
        // a fault that hides a capability shows only when the vendor declares it
        expect: match subject {
            Subject::Fault(f) => f.declared().iter().map(|c| c.to_string()).collect(),
            _ => Vec::new(),
        },
        login: None,
    };
    let mut collect = Collect::default();
    let mut outcome = match runner::run(cases, config, &mut collect).await {
        Ok(_) => Outcome::from_results(&collect.0),
        Err(e) => Outcome {
            unreachable: Some(e.to_string()),
            ..Outcome::default()
        },
    };
    server.server.shutdown().await;
    outcome.duration = started.elapsed();
    Ok(outcome)
}

/// The selfcheck's findings.
struct Report {
    cases: usize,
    clean: BTreeMap<Setup, Outcome>,
    faults: Vec<(Fault, Outcome)>,
    variants: Vec<(Variant, Outcome)>,
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

fn verdict(o: &Outcome) -> &'static str {
    if o.caught() {
        "CAUGHT"
    } else {
        "MISSED"
    }
}

/// The console table: one line per fault with the first catching cases.
fn console(report: &Report) -> String {
    let mut out = String::new();
    for (setup, o) in &report.clean {
        let _ = writeln!(
            out,
            "no fault ({}): {} passed, {} failed, {} errors, {} skipped{}",
            setup.name(),
            o.passed,
            o.failed.len(),
            o.errors.len(),
            o.skipped,
            o.unreachable
                .as_ref()
                .map(|u| format!(" ({u})"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<36} {:<14} {:<7} caught by",
        "fault", "area", "verdict"
    );
    for (fault, o) in &report.faults {
        let mut by: Vec<&str> = ids(&o.failed);
        by.extend(ids(&o.errors));
        let shown = by.iter().take(3).copied().collect::<Vec<_>>().join(", ");
        let more = by.len().saturating_sub(3);
        let detail = match (&o.unreachable, by.len()) {
            (Some(u), _) => format!("(run did not start: {u})"),
            (None, 0) => "no case".to_owned(),
            (None, n) => format!(
                "{n} case{} ({} failed, {} errors): {shown}{}",
                if n == 1 { "" } else { "s" },
                o.failed.len(),
                o.errors.len(),
                if more > 0 {
                    format!(", +{more} more")
                } else {
                    String::new()
                }
            ),
        };
        let _ = writeln!(
            out,
            "{:<36} {:<14} {:<7} {detail}",
            fault.name(),
            fault.area().name(),
            verdict(o)
        );
    }
    if !report.variants.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<36} {:<7} {:>6} {:>7} {:>6}  failing cases",
            "variant", "verdict", "passed", "skipped", "failed"
        );
        for (variant, o) in &report.variants {
            let failing = o.failing();
            let detail = match &o.unreachable {
                Some(u) => format!("(run did not start: {u})"),
                None if failing.is_empty() => String::new(),
                None => failing.join(", "),
            };
            let _ = writeln!(
                out,
                "{:<36} {:<7} {:>6} {:>7} {:>6}  {detail}",
                variant.name(),
                if o.clean() { "PASS" } else { "FAIL" },
                o.passed,
                o.skipped,
                o.failed.len() + o.errors.len(),
            );
        }
    }
    let _ = writeln!(out);
    if !report.faults.is_empty() {
        let _ = writeln!(
            out,
            "mutation score: {}; {} cases per run; {:.1}s",
            report.score(),
            report.cases,
            report.duration.as_secs_f64()
        );
    }
    if !report.variants.is_empty() {
        let _ = writeln!(
            out,
            "variants: {}; {} cases per run; {:.1}s",
            report.variants_score(),
            report.cases,
            report.duration.as_secs_f64()
        );
    }
    out
}

/// The totals: the README's block, stable from run to run while every fault is caught.
fn totals_markdown(report: &Report) -> String {
    let mut out = String::new();
    let clean = if report.clean_ok() {
        "0 failures"
    } else {
        "FAILURES"
    };
    let _ = writeln!(
        out,
        "**Mutation score: {}.** `conform selfcheck` runs the whole catalogue against the \
         reference server with one deliberate defect at a time (`reference-server/src/fault.rs`); \
         a fault is caught when a case fails against it. With no fault: {clean}.",
        report.score()
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "| area | faults | caught |");
    let _ = writeln!(out, "| --- | ---: | ---: |");
    let mut areas: BTreeMap<Area, (usize, usize)> = BTreeMap::new();
    for (fault, o) in &report.faults {
        let e = areas.entry(fault.area()).or_default();
        e.0 += 1;
        e.1 += usize::from(o.caught());
    }
    for (area, (n, caught)) in &areas {
        let _ = writeln!(out, "| {} | {n} | {caught} |", area.name());
    }
    if !report.variants.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "**Variants: {}.** The false-positive control: the catalogue against the reference \
             server with one choice the RFCs permit made otherwise (`reference-server/src/variant.rs`); \
             a variant passes when no case fails or errors (skipped or not applicable is fine).",
            report.variants_score()
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| variant | passed | skipped | failed | failing cases |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | --- |");
        for (variant, o) in &report.variants {
            // the first few; the whole list is in the --markdown table
            let all = o.failing();
            let mut failing: Vec<String> = all.iter().take(4).map(|c| format!("`{c}`")).collect();
            if all.len() > 4 {
                failing.push(format!("+{} more", all.len() - 4));
            }
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                variant.name(),
                o.passed,
                o.skipped,
                o.failed.len() + o.errors.len(),
                failing.join(", ")
            );
        }
    }
    out
}

/// The whole table, with every catching case.
fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# conform selfcheck\n");
    out.push_str(&totals_markdown(report));
    let _ = writeln!(out, "\n## Runs with no fault\n");
    let _ = writeln!(out, "| setup | passed | failed | errors | skipped |");
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: |");
    for (setup, o) in &report.clean {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            setup.name(),
            o.passed,
            o.failed.len(),
            o.errors.len(),
            o.skipped
        );
    }
    let _ = writeln!(out, "\n## Faults\n");
    let _ = writeln!(
        out,
        "| fault | area | setup | what the server does wrong | verdict | failed | errors | skipped | cases that caught it |"
    );
    let _ = writeln!(
        out,
        "| --- | --- | --- | --- | --- | ---: | ---: | ---: | --- |"
    );
    for (fault, o) in &report.faults {
        let mut by: Vec<String> = ids(&o.failed).iter().map(|i| format!("`{i}`")).collect();
        by.extend(ids(&o.errors).iter().map(|i| format!("`{i}` (error)")));
        if let Some(u) = &o.unreachable {
            by.push(format!("run did not start: {u}"));
        }
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} |",
            fault.name(),
            fault.area().name(),
            fault.setup().name(),
            fault.describe().replace('|', "\\|"),
            verdict(o),
            o.failed.len(),
            o.errors.len(),
            o.skipped,
            by.join(", ")
        );
    }
    if !report.variants.is_empty() {
        let _ = writeln!(out, "\n## Variants\n");
        let _ = writeln!(
            out,
            "| variant | what the server does | permitted by | verdict | passed | skipped | failing cases |"
        );
        let _ = writeln!(out, "| --- | --- | --- | --- | ---: | ---: | --- |");
        for (variant, o) in &report.variants {
            let mut failing: Vec<String> = o.failing().iter().map(|c| format!("`{c}`")).collect();
            if let Some(u) = &o.unreachable {
                failing.push(format!("run did not start: {u}"));
            }
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} | {} |",
                variant.name(),
                variant.describe().replace('|', "\\|"),
                variant.permitted_by().replace('|', "\\|"),
                if o.clean() { "PASS" } else { "FAIL" },
                o.passed,
                o.skipped,
                failing.join(", ")
            );
        }
    }
    out
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

pub fn run(args: SelfcheckArgs) -> anyhow::Result<u8> {
    if args.list_faults {
        list_faults();
        return Ok(exit::OK);
    }
    if args.list_variants {
        list_variants();
        return Ok(exit::OK);
    }
    let cases = match load(&args.paths) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
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
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let report = runtime.block_on(check(&args, cases, faults, variants))?;
    print!("{}", console(&report));
    if let Some(path) = &args.markdown {
        write(path, &markdown(&report))?;
    }
    if let Some(path) = &args.totals {
        write(path, &totals_markdown(&report))?;
    }
    if !report.clean_ok() {
        eprintln!("conform: the catalogue does not pass against the bundled server with no fault; a selfcheck means nothing until it does");
        return Ok(exit::FAILED);
    }
    if report.caught() < report.faults.len() {
        return Ok(exit::FAILED);
    }
    if report.variants_passing() < report.variants.len() {
        eprintln!("conform: the catalogue fails a server variant the RFCs permit; the failing cases are wrong for it");
        return Ok(exit::FAILED);
    }
    Ok(exit::OK)
}

fn write(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

async fn check(
    args: &SelfcheckArgs,
    cases: Vec<Case>,
    faults: Vec<Fault>,
    variants: Vec<Variant>,
) -> anyhow::Result<Report> {
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
