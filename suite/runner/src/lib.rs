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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use scenario::plan::{Case, Condition, Fixture, Level};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

pub use baseline::{Baseline, Deviation};
pub use capability::{Capabilities, Discovery, LoginMethod};
pub use condition::{unmet_capability, unmet_mode};
pub use fixture::{Reseed, ReseedError};
pub use judge::{CaseEnv, Dir, Entry, Failure, Verdict};
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
    /// The run finished; results are in the selection's order.
    Finished {
        /// Every result, in order.
        results: &'a [CaseResult],
        /// The counts.
        summary: &'a Summary,
    },
}

/// Something that reads the event stream (Send: a run may go on another task or thread).
pub trait Reporter: Send {
    /// Handles one event.
    fn event(&mut self, event: &Event<'_>);
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

/// Runs `cases` in order (results in that order), sending events to `reporter`.
pub async fn run(
    cases: Vec<Case>,
    config: RunConfig,
    reporter: &mut dyn Reporter,
) -> Result<Summary, RunError> {
    if cases.is_empty() {
        return Err(RunError::NothingSelected);
    }
    let started = Instant::now();
    let mut env = config.env.clone();
    let discovered = discover_target(&mut env, &config, &cases).await?;
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
    reporter.event(&Event::Started {
        target: &env.endpoint.target,
        total: all.len(),
        discovered: &discovered,
    });
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
    spawn_cases(runnable, &config, env.clone(), caps, tx);
    let mut results = Vec::new();
    while let Some((index, mut result)) = rx.recv().await {
        if let Some(b) = &config.baseline {
            result.baseline = b.get(&result.case.id, env.endpoint.target.tls).cloned();
        }
        reporter.event(&Event::CaseFinished(&result));
        results.push((index, result));
    }
    results.sort_by_key(|(i, _)| *i);
    let results: Vec<CaseResult> = results.into_iter().map(|(_, r)| r).collect();
    let mut summary = Summary::count(&results, config.threshold);
    summary.duration = started.elapsed();
    reporter.event(&Event::Finished {
        results: &results,
        summary: &summary,
    });
    Ok(summary)
}

/// Starts one task per runnable case: at most `jobs` at once, cases that log in one at a
/// time in order, every case after its prerequisites.
fn spawn_cases(
    runnable: Vec<(usize, Arc<Case>)>,
    config: &RunConfig,
    env: Arc<CaseEnv>,
    caps: Arc<Capabilities>,
    tx: mpsc::UnboundedSender<(usize, CaseResult)>,
) {
    let mut runnable = runnable;
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
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let result = task.run().await;
            outcome.send_replace(Some(root_cause(&result)));
            let _ = tx.send((index, result));
            if let Some(done) = done {
                let _ = done.send(());
            }
        });
    }
}
