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
mod interrupt;
pub mod judge;
pub mod report;
mod schedule;
mod start;
pub mod values;

/// The client's modules, where the runner's users found them before the client was a crate.
pub use client::{self, capability, target, transport};

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scenario::plan::{Case, Level};
use tokio::sync::mpsc;

pub use baseline::{Baseline, Deviation};
pub use capability::{Capabilities, Discovery, LoginMethod};
pub use condition::{unmet_capability, unmet_mode};
pub use fixture::{Reseed, ReseedError};
pub use judge::{CaseEnv, Dir, Entry, Failure, Verdict};
pub use report::ReportError;
pub use target::{Profile, Target, TlsMode, Trust};

use interrupt::interrupted;
pub use interrupt::{Interrupt, Interrupter};
use schedule::*;
use start::*;

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
    /// Whether the case's first connection to the target was made (false for a case that
    /// did not run): a target that stops answering is told by cases that could not.
    pub connected: bool,
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
    /// The target stopped accepting or greeting new connections while cases ran: the
    /// concurrency the run went down to (below `--jobs`; the cases that met it ran again).
    pub jobs_lowered_to: Option<usize>,
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
    /// An account of the pool after the first cannot be used: it does not log in, or does
    /// not hold the standard fixture when the first does.
    #[error("account {user}: {reason}")]
    Account {
        /// The account's user name.
        user: String,
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
    /// The accounts of the pool after the first (which is `env`'s login with `reseed`):
    /// with more than one, the cases that hold the maildrop run in parallel, one per account
    /// at a time, and the first account serves discovery and the cases that hold nothing.
    /// Each must log in and, when the first holds the standard fixture, hold it too.
    pub more_accounts: Vec<Account>,
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
            .field("more_accounts", &self.more_accounts)
            .field("baseline", &self.baseline)
            .field("expect", &self.expect)
            .field("login", &self.login)
            .field("interrupt", &self.interrupt.is_some())
            .finish()
    }
}

/// One account of the pool ([`RunConfig::more_accounts`]): a login (`{user}`,
/// `{password}` in scenarios) and how to restore its maildrop.
#[derive(Clone)]
pub struct Account {
    /// The login.
    pub profile: Profile,
    /// Restores this account's maildrop to the standard fixture.
    pub reseed: Option<Reseed>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("profile", &self.profile)
            .field("reseed", &self.reseed.is_some())
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
    /// How many messages the maildrop holds (`STAT`), when a case needs a message
    /// (`fixture: messages`); else why it could not be told.
    pub messages: Option<Result<u64, discover::NotFixture>>,
    /// The capabilities the vendor declared (`--expect`), normalised.
    pub declared: Vec<String>,
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
            connected: false,
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
    let discovered = match setup(&mut env, &config, &cases, &mut interrupt).await {
        Ok(discovered) => discovered,
        Err(Unstarted::Failed(e)) => {
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
        Err(Unstarted::Interrupted(why)) => {
            let verdict = Verdict::Skip(format!(
                "not run: interrupted ({why}) before the first case"
            ));
            let summary = stream.setup_failed(&env.endpoint.target, verdict, Some(why), started);
            return stream.end(summary);
        }
    };
    let lanes = Arc::new(lanes(&env, &config));
    let env = Arc::new(env);
    let caps = Arc::new(discovered.capabilities.clone());
    let has_token = env.endpoint.profile.token.is_some();
    let all = triaged(
        cases,
        &discovered,
        &caps,
        env.endpoint.target.tls,
        has_token,
    );
    stream.send(&Event::Started {
        target: &env.endpoint.target,
        total: all.len(),
        discovered: &discovered,
    });
    let selected: Vec<Arc<Case>> = all.iter().map(|(c, _)| c.clone()).collect();
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, CaseResult)>();
    let runnable = decided_first(all, &tx);
    let gone = Arc::new(Mutex::new(None));
    let load = Arc::new(Load::new(config.jobs));
    let tasks = spawn_cases(runnable, lanes, caps, tx, &gone, &load);
    let mut got = Collected {
        stream,
        results: vec![None; selected.len()],
        health: Health::default(),
        gone,
        config: &config,
        tls: env.endpoint.target.tls,
    };
    let stopped = got.receive(&mut rx, &mut interrupt).await;
    if let Some(why) = &stopped {
        for task in &tasks {
            task.abort();
        }
        got.interrupted(&mut rx, &selected, why);
    }
    let results: Vec<CaseResult> = got.results.drain(..).flatten().collect();
    let mut summary = Summary::count(&results, config.threshold);
    summary.duration = started.elapsed();
    summary.interrupted = stopped;
    summary.jobs_lowered_to = Some(load.limit()).filter(|&now| now < config.jobs.max(1));
    got.stream.send(&Event::Finished {
        results: &results,
        summary: &summary,
    });
    got.stream.end(summary)
}

/// What a run of `cases` would do, without running one (`conform probe`): the target
/// discovered as a run discovers it (capabilities, login, maildrop; read-only: no DELE, no
/// reseed) and each case with the verdict it would get before running.
#[derive(Debug)]
pub struct Preview {
    /// The target, as discovered.
    pub discovered: Discovered,
    /// The declared capabilities' cases (`--expect`) and then the selection, each with the
    /// verdict triage gives it (skipped, not applicable, blocked by a declaration), or
    /// `None`: it would run. A case may still be blocked at run time by a prerequisite that
    /// fails (`after:`).
    pub cases: Vec<(Arc<Case>, Option<Verdict>)>,
}

/// Discovers the target and triages `cases` ([`Preview`]); a target that cannot be reached
/// is [`RunError::Unreachable`].
pub async fn preview(cases: Vec<Case>, config: &RunConfig) -> Result<Preview, RunError> {
    let mut env = config.env.clone();
    let discovered = discover_target(&mut env, config, &cases).await?;
    let caps = discovered.capabilities.clone();
    let has_token = env.endpoint.profile.token.is_some();
    let cases = triaged(
        cases,
        &discovered,
        &caps,
        env.endpoint.target.tls,
        has_token,
    );
    Ok(Preview { discovered, cases })
}

/// The accounts as the scheduler uses them: the first (`env`, discovered) and the others,
/// logging in the way discovery found.
fn lanes(env: &CaseEnv, config: &RunConfig) -> Lanes {
    let first = Lane::new(Arc::new(env.clone()), config.reseed.clone());
    let others = config.more_accounts.iter().map(|a| {
        let mut env = env.clone();
        env.endpoint.profile = a.profile.clone();
        Lane::new(Arc::new(env), a.reseed.clone())
    });
    Lanes {
        all: std::iter::once(first).chain(others).collect(),
    }
}

/// Why a run did not reach its first case.
enum Unstarted {
    /// The target could not be reached, or its TLS set up.
    Failed(RunError),
    /// A signal came first.
    Interrupted(String),
}

/// Discovers the target, unless an interrupt comes first.
async fn setup(
    env: &mut CaseEnv,
    config: &RunConfig,
    cases: &[Case],
    interrupt: &mut Option<Interrupt>,
) -> Result<Discovered, Unstarted> {
    tokio::select! {
        biased;
        why = interrupted(interrupt) => Err(Unstarted::Interrupted(why)),
        found = discover_target(env, config, cases) => found.map_err(Unstarted::Failed),
    }
}

/// Every case with the verdict it gets before running, if any: the declared capabilities
/// (`--expect`) first, as cases of their own, then the selection, triaged.
fn triaged(
    cases: Vec<Case>,
    discovered: &Discovered,
    caps: &Capabilities,
    tls: TlsMode,
    has_token: bool,
) -> Vec<(Arc<Case>, Option<Verdict>)> {
    let mut all: Vec<(Arc<Case>, Option<Verdict>)> = discovered
        .declared
        .iter()
        .map(|tag| {
            let case = declared::case(tag);
            let verdict = declared::verdict(&case, tag, caps);
            (Arc::new(case), Some(verdict))
        })
        .collect();
    for case in cases {
        let verdict = triage(&case, discovered, tls, has_token);
        all.push((Arc::new(case), verdict));
    }
    all
}

/// Sends the verdicts decided before running (they come first in the live stream) and
/// returns the cases that run, with their places in the selection.
fn decided_first(
    all: Vec<(Arc<Case>, Option<Verdict>)>,
    tx: &mpsc::UnboundedSender<(usize, CaseResult)>,
) -> Vec<(usize, Arc<Case>)> {
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
                        connected: false,
                    },
                ));
            }
            None => runnable.push((index, case)),
        }
    }
    runnable
}

impl Collected<'_, '_> {
    /// Records results as they come, until every case is in or an interrupt fires (its
    /// reason is returned).
    async fn receive(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<(usize, CaseResult)>,
        interrupt: &mut Option<Interrupt>,
    ) -> Option<String> {
        loop {
            let next = tokio::select! {
                biased;
                why = interrupted(interrupt) => return Some(why),
                next = rx.recv() => next,
            };
            let (index, result) = next?;
            self.record(index, result);
        }
    }

    /// After an interrupt: what finished before the tasks stopped, then every case that did
    /// not, as `not run: interrupted`.
    fn interrupted(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<(usize, CaseResult)>,
        selected: &[Arc<Case>],
        why: &str,
    ) {
        while let Ok((index, result)) = rx.try_recv() {
            self.record(index, result);
        }
        for (index, case) in selected.iter().enumerate() {
            if self.results[index].is_none() {
                let result = CaseResult {
                    case: case.clone(),
                    verdict: Verdict::Skip(format!("not run: interrupted ({why})")),
                    duration: Duration::ZERO,
                    transcript: Vec::new(),
                    baseline: None,
                    connected: false,
                };
                self.record(index, result);
            }
        }
    }
}
