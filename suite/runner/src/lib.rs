//! Runs scenario plans against a POP3 target: [`target`] says where, [`transport`] carries the
//! bytes (plain, implicit TLS, STLS; every read and write bounded), [`judge`] runs one case,
//! and [`run`] runs a whole selection: capability discovery, fixture detection, skips,
//! parallel jobs, and one stream of [`Event`]s that every reporter ([`report`]) reads.

// every dependency is used (unit-test builds also see the dev-dependencies of other targets)
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod baseline;
pub mod condition;
pub mod declared;
pub mod discover;
pub mod judge;
pub mod report;
pub mod values;

/// The client's modules, where the runner's users found them before the client was a crate.
pub use client::{self, capability, target, transport};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scenario::plan::{Case, Condition, Fixture, Level, RfcRef, Span};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;

pub use baseline::{Baseline, Deviation};
pub use capability::{Capabilities, Discovery, LoginMethod};
pub use condition::{unmet_capability, unmet_mode};
pub use fixture::{Reseed, ReseedError};
pub use judge::{CaseEnv, Dir, Entry, Failure, Verdict};
pub use report::ReportError;
pub use target::{Profile, Target, TlsMode, Trust};

/// One case's outcome.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case.
    pub case: Arc<Case>,
    /// The verdict.
    pub verdict: Verdict,
    /// Wall time.
    pub duration: Duration,
    /// The wire log.
    pub transcript: Vec<Entry>,
    /// The baseline's entry for this case in this run's TLS mode, if any.
    pub baseline: Option<Deviation>,
}

impl CaseResult {
    /// Whether the verdict is a failure or an error.
    pub fn failed(&self) -> bool {
        matches!(self.verdict, Verdict::Fail(_) | Verdict::Error(_))
    }

    /// A failure the baseline knows: reported apart, it does not fail the run.
    pub fn known_deviation(&self) -> Option<&Deviation> {
        self.baseline.as_ref().filter(|_| self.failed())
    }

    /// A baselined case that passes now: its baseline entry can go.
    pub fn baseline_outdated(&self) -> bool {
        self.baseline.is_some() && self.verdict == Verdict::Pass
    }

    /// Whether this result fails the run at `threshold` (MUST only by default): a failure
    /// or error at or above the threshold that the baseline does not list.
    pub fn fails_run(&self, threshold: Level) -> bool {
        self.failed() && self.case.level <= threshold && self.baseline.is_none()
    }
}

/// Counts over a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Passed.
    pub passed: usize,
    /// Failed (the target broke a requirement).
    pub failed: usize,
    /// Errors (the case could not be judged).
    pub errors: usize,
    /// Skipped (not selected for this setup: no fixture, no login).
    pub skipped: usize,
    /// Not applicable: the target does not implement what the case tests.
    pub not_applicable: usize,
    /// Blocked by a failed prerequisite (one root cause, reported once).
    pub blocked: usize,
    /// Failures and errors that fail the run at the chosen level.
    pub run_failures: usize,
    /// Failures and errors the baseline lists (counted in `failed`/`errors` too).
    pub known: usize,
    /// Baselined cases that passed.
    pub outdated: usize,
    /// Wall time of the whole run.
    pub duration: Duration,
    /// The run was interrupted (`SIGTERM`, `SIGINT`: the reason): the cases it had not
    /// finished are `not run: interrupted` skips.
    pub interrupted: Option<String>,
}

impl Summary {
    /// Counts `results`; `threshold` decides which failures fail the run.
    pub fn count(results: &[CaseResult], threshold: Level) -> Summary {
        let mut summary = Summary::default();
        for r in results {
            match r.verdict {
                Verdict::Pass => summary.passed += 1,
                Verdict::Fail(_) => summary.failed += 1,
                Verdict::Error(_) => summary.errors += 1,
                Verdict::Skip(_) => summary.skipped += 1,
                Verdict::NotApplicable(_) => summary.not_applicable += 1,
                Verdict::Blocked { .. } => summary.blocked += 1,
            }
            if r.fails_run(threshold) {
                summary.run_failures += 1;
            }
            if r.known_deviation().is_some() {
                summary.known += 1;
            }
            if r.baseline_outdated() {
                summary.outdated += 1;
            }
        }
        summary
    }
}

/// The stream every reporter reads.
#[derive(Debug)]
pub enum Event<'a> {
    /// The run starts: target, and how many cases.
    Started {
        /// The target.
        target: &'a Target,
        /// Cases selected.
        total: usize,
        /// What the target implements, how that was found, and its maildrop.
        discovered: &'a Discovered,
    },
    /// A case finished (in completion order).
    CaseFinished(&'a CaseResult),
    /// The run finished (or was interrupted: [`Summary::interrupted`]); results are in the
    /// selection's order.
    Finished {
        /// Every result, in order.
        results: &'a [CaseResult],
        /// The counts.
        summary: &'a Summary,
    },
    /// The run could not start: the target was unreachable or TLS failed before any case (or
    /// the run was interrupted then). The one event of such a run: `result` is the case
    /// [`SETUP_CASE`], an error saying why (a skip when interrupted), so that a report says
    /// why rather than being empty.
    SetupFailed {
        /// The target.
        target: &'a Target,
        /// The case `conform/target`.
        result: &'a CaseResult,
        /// The counts of that one result.
        summary: &'a Summary,
    },
}

/// Something that reads the event stream (Send: a run may go on another task or thread).
pub trait Reporter: Send {
    /// Handles one event. An error means the report could not be written in full: the run
    /// goes on to its end (so the other reporters' reports are complete) and then ends with
    /// [`RunError::Report`]; the reporter still gets the rest of the stream.
    fn event(&mut self, event: &Event<'_>) -> Result<(), ReportError>;
}

/// The id of the one case of a run that could not start ([`Event::SetupFailed`]).
pub const SETUP_CASE: &str = "conform/target";

/// Connections in a row that could not be made, after which the target counts as gone: the
/// cases not yet started end at once as errors naming the last case that reached it.
pub const GONE_AFTER: usize = 3;

/// Stops a run from outside (a `SIGINT` or `SIGTERM`): it starts no more cases, abandons the
/// running ones, reports every unfinished case as `not run: interrupted` and ends with the
/// complete reports ([`Summary::interrupted`]).
#[derive(Debug, Clone)]
pub struct Interrupt(watch::Receiver<Option<String>>);

/// The sending side of an [`Interrupt`].
#[derive(Debug)]
pub struct Interrupter(watch::Sender<Option<String>>);

impl Interrupt {
    /// A new interrupt and the handle that fires it.
    pub fn channel() -> (Interrupter, Interrupt) {
        let (tx, rx) = watch::channel(None);
        (Interrupter(tx), Interrupt(rx))
    }
}

impl Interrupter {
    /// Interrupts the run; `why` is what the reports say (`SIGTERM`).
    pub fn interrupt(&self, why: &str) {
        self.0.send_replace(Some(why.to_owned()));
    }
}

/// Resolves with the reason once `interrupt` fires; never without one.
async fn interrupted(interrupt: &mut Option<Interrupt>) -> String {
    if let Some(Interrupt(rx)) = interrupt {
        if let Ok(why) = rx.wait_for(Option::is_some).await {
            return why.clone().unwrap_or_default();
        }
    }
    std::future::pending().await
}

/// A run that could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Nothing was selected (an error, never a pass).
    #[error("no case selected")]
    NothingSelected,
    /// The target could not be reached (or TLS failed) before any case ran.
    #[error("target {target} unreachable: {reason}")]
    Unreachable {
        /// The target.
        target: String,
        /// Why.
        reason: String,
    },
    /// A report could not be written in full (the run went on to its end).
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// How to run.
pub struct RunConfig {
    /// Target and login.
    pub env: CaseEnv,
    /// Cases run at once (over separate connections).
    pub jobs: usize,
    /// Which failures fail the run.
    pub threshold: Level,
    /// Restores the maildrop after a case that mutates it (the bundled server reseeds in
    /// memory; `--reseed-cmd` for other targets).
    pub reseed: Option<Reseed>,
    /// Known deviations of the target (`--baseline`).
    pub baseline: Option<Baseline>,
    /// Capabilities the vendor declares (`--expect`): each is a case that fails when missing.
    pub expect: Vec<String>,
    /// How the `login` step logs in (`--login`); `None`: the first method that works.
    pub login: Option<LoginMethod>,
    /// Stops the run from outside (`SIGINT`, `SIGTERM`).
    pub interrupt: Option<Interrupt>,
}

impl std::fmt::Debug for RunConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunConfig")
            .field("env", &self.env)
            .field("jobs", &self.jobs)
            .field("threshold", &self.threshold)
            .field("reseed", &self.reseed.is_some())
            .field("baseline", &self.baseline)
            .field("expect", &self.expect)
            .field("login", &self.login)
            .field("interrupt", &self.interrupt.is_some())
            .finish()
    }
}

/// What the runner found out about the target before the cases.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// What it implements and how that was found.
    pub capabilities: Capabilities,
    /// The maildrop: standard fixture or not, drift between sessions (when a case needs
    /// the fixture).
    pub inspection: Option<discover::Inspection>,
    /// The capabilities the vendor declared (`--expect`), normalised.
    pub declared: Vec<String>,
}

/// What happens to a case before it runs: it runs, or it gets this verdict at once.
fn triage(case: &Case, discovered: &Discovered, tls: TlsMode) -> Option<Verdict> {
    let caps = &discovered.capabilities;
    if let Some(why) = unmet_mode(&case.requires, tls) {
        return Some(Verdict::Skip(why));
    }
    if let Some(why) = unmet_capability(&case.requires, caps) {
        // a missing capability the vendor declared is that declaration's failure
        let declared = case.requires.iter().find_map(|r| match r {
            Condition::Capability(tag) if discovered.declared.contains(tag) && !caps.has(tag) => {
                Some(tag)
            }
            _ => None,
        });
        return Some(match declared {
            Some(tag) => Verdict::Blocked {
                by: declared::case_id(tag),
            },
            None => Verdict::NotApplicable(why),
        });
    }
    if case.logs_in_with_step && caps.login.is_none() {
        return Some(Verdict::Skip(
            "no login method worked with the given account (USER/PASS, APOP, AUTH)".into(),
        ));
    }
    if case.fixture == Fixture::Standard {
        if let Some(Err(why)) = discovered.inspection.as_ref().map(|i| &i.fixture) {
            return Some(Verdict::Skip(format!("needs the standard fixture: {why}")));
        }
    }
    None
}

/// The selection in an order where every prerequisite (`after:`) comes before the cases
/// that name it (otherwise the selection's order), so a case can wait for them.
fn prerequisites_first(cases: Vec<(usize, Arc<Case>)>) -> Vec<(usize, Arc<Case>)> {
    fn place(
        i: usize,
        cases: &[(usize, Arc<Case>)],
        position: &HashMap<String, usize>,
        placed: &mut [bool],
        order: &mut Vec<usize>,
    ) {
        if placed[i] {
            return;
        }
        placed[i] = true;
        for p in &cases[i].1.after {
            if let Some(&j) = position.get(p) {
                place(j, cases, position, placed, order);
            }
        }
        order.push(i);
    }
    let position: HashMap<String, usize> = cases
        .iter()
        .enumerate()
        .map(|(i, (_, c))| (c.id.clone(), i))
        .collect();
    let mut placed = vec![false; cases.len()];
    let mut order = Vec::with_capacity(cases.len());
    for i in 0..cases.len() {
        place(i, &cases, &position, &mut placed, &mut order);
    }
    let mut slots: Vec<Option<(usize, Arc<Case>)>> = cases.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// The root cause a finished case passes on to the cases after it: its own id when it
/// failed, its blocker's when it was blocked, none otherwise.
fn root_cause(result: &CaseResult) -> Option<String> {
    match &result.verdict {
        Verdict::Fail(_) | Verdict::Error(_) => Some(result.case.id.clone()),
        Verdict::Blocked { by } => Some(by.clone()),
        _ => None,
    }
}

/// A prerequisite's root cause once it has finished: `None` until then, `Some(None)` when
/// it did not fail.
type Outcome = Option<Option<String>>;

/// Everything one case task needs.
struct Task {
    case: Arc<Case>,
    env: Arc<CaseEnv>,
    caps: Arc<Capabilities>,
    permits: Arc<Semaphore>,
    reseed: Option<Reseed>,
    touched: Arc<AtomicBool>,
    /// The previous login case's end (cases that log in run one at a time).
    wait_for: Option<oneshot::Receiver<()>>,
    /// The prerequisites' root causes, as they finish.
    prerequisites: Vec<watch::Receiver<Outcome>>,
    /// Set when the target is gone: after what ([`GONE_AFTER`]).
    gone: Arc<Mutex<Option<String>>>,
}

impl Task {
    async fn run(self) -> CaseResult {
        if let Some(previous) = self.wait_for {
            // an error only means the previous task ended without signalling: go on
            let _ = previous.await;
        }
        let t = Instant::now();
        let result = |verdict, transcript| CaseResult {
            case: self.case.clone(),
            verdict,
            duration: t.elapsed(),
            transcript,
            baseline: None,
        };
        for mut p in self.prerequisites {
            if let Ok(root) = p.wait_for(Option::is_some).await {
                if let Some(Some(by)) = root.clone() {
                    return result(Verdict::Blocked { by }, Vec::new());
                }
            }
        }
        let _permit = self.permits.acquire().await.expect("semaphore open");
        let gone = self.gone.lock().map(|g| g.clone()).unwrap_or_default();
        if let Some(after) = gone {
            return result(
                Verdict::Error(Failure {
                    message: format!(
                        "not run: the target stopped answering after {after} ({GONE_AFTER} connections in a row could not be made)"
                    ),
                    expected: "a target that answers".into(),
                    actual: format!("no connection since {after}"),
                    span: self.case.span.clone(),
                }),
                Vec::new(),
            );
        }
        if self.case.fixture == Fixture::Standard && self.touched.load(Ordering::SeqCst) {
            if let Err(why) = discover::fixture_present(&self.env, &self.caps).await {
                return result(Verdict::Skip(format!(
                    "needs the standard fixture, which an earlier case changed (give --reseed-cmd to restore it): {why}"
                )), Vec::new());
            }
        }
        let (mut verdict, mut transcript) =
            judge::run_case(&self.case, &self.env, self.reseed.as_ref()).await;
        if self.case.mutates {
            match &self.reseed {
                None => self.touched.store(true, Ordering::SeqCst),
                Some(reseed) => {
                    // let the server finish UPDATE before the maildrop is restored
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if let Err(e) = reseed() {
                        transcript.push(Entry {
                            at: t.elapsed(),
                            session: 0,
                            dir: Dir::Note,
                            text: format!("reseed failed: {e}"),
                        });
                        if verdict == Verdict::Pass {
                            verdict = Verdict::Error(Failure {
                                message: format!("reseeding the maildrop failed: {e}"),
                                expected: "reseed".into(),
                                actual: e.to_string(),
                                span: self.case.span.clone(),
                            });
                        }
                    }
                }
            }
        }
        result(verdict, transcript)
    }
}

/// Discovers the target: capabilities, login, maildrop, and the vendor's declarations.
async fn discover_target(
    env: &mut CaseEnv,
    config: &RunConfig,
    cases: &[Case],
) -> Result<Discovered, RunError> {
    let (caps, first_listing) = client::probe::capabilities(&env.endpoint, config.login)
        .await
        .map_err(|e| {
            let mut reason = e.to_string();
            if matches!(
                e,
                client::probe::ProbeError::Wire(client::transport::WireError::Certificate(_))
            ) {
                // one setup error before any case, not one error per case
                reason.push_str(
                    " (give --ca FILE with the server's CA, or --insecure for a test server)",
                );
            }
            RunError::Unreachable {
                target: env.endpoint.target.to_string(),
                reason,
            }
        })?;
    env.login = caps.login;
    let inspection = if cases.iter().any(|c| c.fixture == Fixture::Standard) {
        Some(discover::inspect(env, &caps, first_listing).await)
    } else {
        None
    };
    Ok(Discovered {
        capabilities: caps,
        inspection,
        declared: config
            .expect
            .iter()
            .filter_map(|e| declared::normalise(e))
            .collect(),
    })
}

/// The case of a run that could not start ([`SETUP_CASE`]).
fn setup_case() -> Case {
    Case {
        id: SETUP_CASE.into(),
        title: "the target can be reached (and its TLS set up) before the cases".into(),
        rfc: RfcRef {
            number: 1939,
            section: "3".into(),
        },
        level: Level::Must,
        requirement: "When the connection is established, the POP3 server sends a greeting.".into(),
        requires: Vec::new(),
        tags: vec!["setup".into()],
        fixture: Fixture::Any,
        mutates: false,
        after: Vec::new(),
        holds_maildrop: false,
        logs_in_with_step: false,
        span: Span {
            file: Arc::new(PathBuf::from("--target")),
            line: 1,
            col: 1,
        },
        steps: Vec::new(),
    }
}

/// The reporter, and the first error it gave.
struct Stream<'r> {
    reporter: &'r mut dyn Reporter,
    error: Option<ReportError>,
}

impl Stream<'_> {
    fn send(&mut self, event: &Event<'_>) {
        if let Err(e) = self.reporter.event(event) {
            self.error.get_or_insert(e);
        }
    }

    /// The run's end: its summary, or the report that could not be written.
    fn end(self, summary: Summary) -> Result<Summary, RunError> {
        match self.error {
            Some(e) => Err(RunError::Report(e)),
            None => Ok(summary),
        }
    }

    /// A run that could not start: the one case [`SETUP_CASE`] with `verdict`.
    fn setup_failed(
        &mut self,
        target: &Target,
        verdict: Verdict,
        interrupted: Option<String>,
        started: Instant,
    ) -> Summary {
        let why = match &verdict {
            Verdict::Error(f) => f.message.clone(),
            v => v.not_judged().unwrap_or_default(),
        };
        let result = CaseResult {
            case: Arc::new(setup_case()),
            verdict,
            duration: started.elapsed(),
            transcript: vec![Entry {
                at: started.elapsed(),
                session: 0,
                dir: Dir::Note,
                text: why,
            }],
            baseline: None,
        };
        let mut summary = Summary::count(std::slice::from_ref(&result), Level::Must);
        summary.duration = started.elapsed();
        summary.interrupted = interrupted;
        self.send(&Event::SetupFailed {
            target,
            result: &result,
            summary: &summary,
        });
        summary
    }
}

/// Whether a case ended because its first connection could not be made (the judge's error
/// before any line was exchanged).
fn could_not_connect(r: &CaseResult) -> bool {
    matches!(&r.verdict, Verdict::Error(f) if f.expected == "a connection")
        && r.transcript.is_empty()
}

/// Watches the results for a target that has gone ([`GONE_AFTER`]).
#[derive(Debug, Default)]
struct Health {
    /// Connections in a row that could not be made.
    failed: usize,
    /// The last case that reached the target.
    last_alive: Option<String>,
}

impl Health {
    fn saw(&mut self, r: &CaseResult, gone: &Mutex<Option<String>>) {
        if could_not_connect(r) {
            self.failed += 1;
            if self.failed >= GONE_AFTER {
                if let Ok(mut gone) = gone.lock() {
                    gone.get_or_insert_with(|| match &self.last_alive {
                        Some(id) => format!("case {id}"),
                        None => "the discovery, before the first case".into(),
                    });
                }
            }
        } else if !r.transcript.is_empty() {
            self.failed = 0;
            self.last_alive = Some(r.case.id.clone());
        }
    }
}

/// What the run has received, in the selection's order.
struct Collected<'c, 'r> {
    stream: Stream<'r>,
    results: Vec<Option<CaseResult>>,
    health: Health,
    gone: Arc<Mutex<Option<String>>>,
    config: &'c RunConfig,
    tls: TlsMode,
}

impl Collected<'_, '_> {
    fn record(&mut self, index: usize, mut result: CaseResult) {
        if let Some(b) = &self.config.baseline {
            result.baseline = b.get(&result.case.id, self.tls).cloned();
        }
        self.health.saw(&result, &self.gone);
        self.stream.send(&Event::CaseFinished(&result));
        self.results[index] = Some(result);
    }
}

/// Runs `cases` in order (results in that order), sending events to `reporter`.
///
/// A target that cannot be reached is [`RunError::Unreachable`] after one
/// [`Event::SetupFailed`]; an [`Interrupt`] ends the run early with complete reports
/// ([`Summary::interrupted`]); a reporter's error is [`RunError::Report`] once the run has
/// ended.
pub async fn run(
    cases: Vec<Case>,
    config: RunConfig,
    reporter: &mut dyn Reporter,
) -> Result<Summary, RunError> {
    if cases.is_empty() {
        return Err(RunError::NothingSelected);
    }
    let started = Instant::now();
    let mut stream = Stream {
        reporter,
        error: None,
    };
    let mut interrupt = config.interrupt.clone();
    let mut env = config.env.clone();
    enum Setup {
        Found(Result<Discovered, RunError>),
        Interrupted(String),
    }
    let setup = tokio::select! {
        biased;
        why = interrupted(&mut interrupt) => Setup::Interrupted(why),
        found = discover_target(&mut env, &config, &cases) => Setup::Found(found),
    };
    let discovered = match setup {
        Setup::Found(Ok(discovered)) => discovered,
        Setup::Found(Err(e)) => {
            let verdict = Verdict::Error(Failure {
                message: e.to_string(),
                expected: "a connection, a greeting and an answer to CAPA".into(),
                actual: match &e {
                    RunError::Unreachable { reason, .. } => reason.clone(),
                    e => e.to_string(),
                },
                span: setup_case().span,
            });
            stream.setup_failed(&env.endpoint.target, verdict, None, started);
            return Err(stream.error.map_or(e, RunError::Report));
        }
        Setup::Interrupted(why) => {
            let verdict = Verdict::Skip(format!(
                "not run: interrupted ({why}) before the first case"
            ));
            let summary = stream.setup_failed(&env.endpoint.target, verdict, Some(why), started);
            return stream.end(summary);
        }
    };
    let env = Arc::new(env);
    let caps = Arc::new(discovered.capabilities.clone());
    // the declared capabilities are cases of their own, first
    let mut all: Vec<(Arc<Case>, Option<Verdict>)> = discovered
        .declared
        .iter()
        .map(|tag| {
            let case = declared::case(tag);
            let verdict = declared::verdict(&case, tag, &caps);
            (Arc::new(case), Some(verdict))
        })
        .collect();
    for case in cases {
        let verdict = triage(&case, &discovered, env.endpoint.target.tls);
        all.push((Arc::new(case), verdict));
    }
    stream.send(&Event::Started {
        target: &env.endpoint.target,
        total: all.len(),
        discovered: &discovered,
    });
    let selected: Vec<Arc<Case>> = all.iter().map(|(c, _)| c.clone()).collect();
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, CaseResult)>();
    // the verdicts decided before running come first in the live stream
    let mut runnable = Vec::new();
    for (index, (case, verdict)) in all.into_iter().enumerate() {
        match verdict {
            Some(verdict) => {
                let _ = tx.send((
                    index,
                    CaseResult {
                        case,
                        verdict,
                        duration: Duration::ZERO,
                        transcript: Vec::new(),
                        baseline: None,
                    },
                ));
            }
            None => runnable.push((index, case)),
        }
    }
    let gone = Arc::new(Mutex::new(None));
    let tasks = spawn_cases(runnable, &config, env.clone(), caps, tx, &gone);
    let mut got = Collected {
        stream,
        results: vec![None; selected.len()],
        health: Health::default(),
        gone,
        config: &config,
        tls: env.endpoint.target.tls,
    };
    let mut stopped = None;
    loop {
        let next = tokio::select! {
            biased;
            why = interrupted(&mut interrupt) => {
                stopped = Some(why);
                break;
            }
            next = rx.recv() => next,
        };
        let Some((index, result)) = next else { break };
        got.record(index, result);
    }
    if let Some(why) = &stopped {
        for task in &tasks {
            task.abort();
        }
        // what finished before the tasks stopped, then every case that did not
        while let Ok((index, result)) = rx.try_recv() {
            got.record(index, result);
        }
        for (index, case) in selected.iter().enumerate() {
            if got.results[index].is_none() {
                let result = CaseResult {
                    case: case.clone(),
                    verdict: Verdict::Skip(format!("not run: interrupted ({why})")),
                    duration: Duration::ZERO,
                    transcript: Vec::new(),
                    baseline: None,
                };
                got.record(index, result);
            }
        }
    }
    let results: Vec<CaseResult> = got.results.drain(..).flatten().collect();
    let mut summary = Summary::count(&results, config.threshold);
    summary.duration = started.elapsed();
    summary.interrupted = stopped;
    got.stream.send(&Event::Finished {
        results: &results,
        summary: &summary,
    });
    got.stream.end(summary)
}

/// Starts one task per runnable case: at most `jobs` at once, cases that log in one at a
/// time in order, every case after its prerequisites.
fn spawn_cases(
    runnable: Vec<(usize, Arc<Case>)>,
    config: &RunConfig,
    env: Arc<CaseEnv>,
    caps: Arc<Capabilities>,
    tx: mpsc::UnboundedSender<(usize, CaseResult)>,
    gone: &Arc<Mutex<Option<String>>>,
) -> Vec<JoinHandle<()>> {
    let mut runnable = runnable;
    let mut handles = Vec::with_capacity(runnable.len());
    // Without a way to restore the maildrop, cases that change it run last, and each case
    // that needs the fixture after one of them checks again that the maildrop still is it.
    if config.reseed.is_none() {
        runnable.sort_by_key(|(_, case)| case.mutates);
    }
    let permits = Arc::new(Semaphore::new(config.jobs.max(1)));
    let touched = Arc::new(AtomicBool::new(false));
    let mut outcomes: HashMap<String, watch::Receiver<Outcome>> = HashMap::new();
    // Cases that hold the maildrop (log in, or restore it) run one at a time, in order, so
    // that none finds it locked by another: each waits for the previous one to finish.
    let mut previous_login: Option<oneshot::Receiver<()>> = None;
    for (index, case) in prerequisites_first(runnable) {
        let (wait_for, done) = if case.holds_maildrop {
            let (done, next) = oneshot::channel::<()>();
            (previous_login.replace(next), Some(done))
        } else {
            (None, None)
        };
        let prerequisites = case
            .after
            .iter()
            .filter_map(|p| outcomes.get(p).cloned())
            .collect();
        let (outcome, watcher) = watch::channel(None);
        outcomes.insert(case.id.clone(), watcher);
        let task = Task {
            case,
            env: env.clone(),
            caps: caps.clone(),
            permits: permits.clone(),
            reseed: config.reseed.clone(),
            touched: touched.clone(),
            wait_for,
            prerequisites,
            gone: gone.clone(),
        };
        let tx = tx.clone();
        handles.push(tokio::spawn(async move {
            let result = task.run().await;
            outcome.send_replace(Some(root_cause(&result)));
            let _ = tx.send((index, result));
            if let Some(done) = done {
                let _ = done.send(());
            }
        }));
    }
    handles
}
