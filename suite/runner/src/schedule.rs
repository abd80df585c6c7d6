//! Which cases run, and in what order: triage before the run (skip, not applicable, blocked),
//! the costliest first, prerequisites first, cases that hold the maildrop one at a time per
//! account, a target that stops answering.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scenario::plan::{Case, Condition, Fixture};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;

use crate::*;

/// What happens to a case before it runs: it runs, or it gets this verdict at once.
pub(crate) fn triage(
    case: &Case,
    discovered: &Discovered,
    tls: TlsMode,
    has_token: bool,
) -> Option<Verdict> {
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
    if !has_token && case.uses_token() {
        return Some(Verdict::Skip(
            "needs the user's OAuth bearer token; the run has none (give one with --token-env VAR, default $CONFORM_TOKEN)".into(),
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
pub(crate) fn prerequisites_first(cases: Vec<(usize, Arc<Case>)>) -> Vec<(usize, Arc<Case>)> {
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
pub(crate) fn root_cause(result: &CaseResult) -> Option<String> {
    match &result.verdict {
        Verdict::Fail(_) | Verdict::Error(_) => Some(result.case.id.clone()),
        Verdict::Blocked { by } => Some(by.clone()),
        _ => None,
    }
}

/// A prerequisite's root cause once it has finished: `None` until then, `Some(None)` when
/// it did not fail.
pub(crate) type Outcome = Option<Option<String>>;

/// One account of the run as the scheduler uses it: the cases' environment with its login,
/// its reseed, and its maildrop, which one holding case at a time may have.
pub(crate) struct Lane {
    /// The cases' environment, logging in as this account.
    pub(crate) env: Arc<CaseEnv>,
    /// Restores this account's maildrop.
    pub(crate) reseed: Option<Reseed>,
    /// A case changed this maildrop and nothing restored it.
    touched: AtomicBool,
    /// Held by the case that has the maildrop ([`judge::Hold`]).
    maildrop: Arc<tokio::sync::Mutex<()>>,
    /// Holding cases given this account and not finished (the next goes to the least busy).
    busy: AtomicUsize,
}

impl Lane {
    pub(crate) fn new(env: Arc<CaseEnv>, reseed: Option<Reseed>) -> Lane {
        Lane {
            env,
            reseed,
            touched: AtomicBool::new(false),
            maildrop: Arc::new(tokio::sync::Mutex::new(())),
            busy: AtomicUsize::new(0),
        }
    }
}

/// The accounts, and which of them holding cases use: with one account, that one; with more,
/// all but the first, which serves the cases that hold nothing (they send no password, so on
/// a server that checks credentials they never log in; on one that accepts wrong ones, this
/// keeps their unexpected sessions off the accounts the holding cases lock).
pub(crate) struct Lanes {
    pub(crate) all: Vec<Lane>,
}

impl Lanes {
    /// The account for a case: the first for a case that holds nothing, else the least
    /// busy of the holding accounts (counted busy until [`Lanes::release`]).
    fn pick(&self, holds: bool) -> usize {
        if !holds {
            return 0;
        }
        let first = usize::from(self.all.len() > 1);
        let i = (first..self.all.len())
            .min_by_key(|&i| self.all[i].busy.load(Ordering::SeqCst))
            .unwrap_or(0);
        self.all[i].busy.fetch_add(1, Ordering::SeqCst);
        i
    }

    fn release(&self, i: usize, holds: bool) {
        if holds {
            self.all[i].busy.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Everything one case task needs.
pub(crate) struct Task {
    case: Arc<Case>,
    lanes: Arc<Lanes>,
    caps: Arc<Capabilities>,
    permits: Arc<Semaphore>,
    /// Without any reseed, a case that changes the maildrop waits for the holding cases
    /// placed before it that do not (they need it unchanged).
    earlier: Vec<watch::Receiver<Outcome>>,
    /// The prerequisites' root causes, as they finish.
    prerequisites: Vec<watch::Receiver<Outcome>>,
    /// The previous task's turn to take a job slot: it ends (the sender dropped) once that
    /// task has its slot or waits for something else, so slots go out in the schedule's order
    /// (and a serial run is always the same run).
    turn: oneshot::Receiver<()>,
    /// Ends this task's turn when dropped.
    pass: oneshot::Sender<()>,
    /// Set when the target is gone: after what ([`GONE_AFTER`]).
    gone: Arc<Mutex<Option<String>>>,
}

impl Task {
    async fn run(self) -> CaseResult {
        // a case that did not run took no time (its waits are the schedule's, not its own)
        let result = |verdict, transcript, connected| CaseResult {
            case: self.case.clone(),
            verdict,
            duration: Duration::ZERO,
            transcript,
            baseline: None,
            connected,
        };
        // an error only means the previous task has passed its turn on: go on
        let _ = self.turn.await;
        let ready = self.prerequisites.iter().all(|p| p.borrow().is_some())
            && self.earlier.iter().all(|e| e.borrow().is_some());
        let pass = if ready {
            Some(self.pass)
        } else {
            // waiting for others: the tasks after this one take their slots meanwhile
            drop(self.pass);
            None
        };
        for mut p in self.prerequisites {
            if let Ok(root) = p.wait_for(Option::is_some).await {
                if let Some(Some(by)) = root.clone() {
                    return result(Verdict::Blocked { by }, Vec::new(), false);
                }
            }
        }
        for mut e in self.earlier {
            let _ = e.wait_for(Option::is_some).await;
        }
        let _permit = self.permits.acquire().await.expect("semaphore open");
        drop(pass);
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
                false,
            );
        }
        let holds = self.case.holds_maildrop;
        let at = self.lanes.pick(holds);
        let lane = &self.lanes.all[at];
        let mut hold = if holds {
            judge::Hold::of(lane.maildrop.clone())
        } else {
            judge::Hold::default()
        };
        // the time measured is the case's own, not the wait for its account
        let t = Instant::now();
        if self.case.mutates {
            // the account first: a mutating case that ran while this one waited for it has
            // set `touched` by the time this one has it, and must be seen
            hold.take().await;
        }
        let needs_check =
            self.case.fixture == Fixture::Standard && lane.touched.load(Ordering::SeqCst);
        if needs_check {
            hold.take().await;
        }
        if needs_check && lane.touched.load(Ordering::SeqCst) {
            if let Err(why) = discover::fixture_present(&lane.env, &self.caps).await {
                self.lanes.release(at, holds);
                return CaseResult {
                    case: self.case.clone(),
                    verdict: Verdict::Skip(format!(
                    "needs the standard fixture, which an earlier case changed (give --reseed-cmd to restore it): {why}"
                )),
                    duration: t.elapsed(),
                    transcript: Vec::new(),
                    baseline: None,
                    connected: false,
                };
            }
        }
        let judge::Judged {
            mut verdict,
            mut transcript,
            mut connected,
        } = judge::run_holding(&self.case, &lane.env, lane.reseed.as_ref(), &mut hold).await;
        if holds && refused_in_use_alone(&verdict, &transcript) {
            // the session of the case before on this account may still be ending on the
            // server (its mail process, after the client saw the close): RFC 1939 §4 lets the
            // server refuse then; once more, a moment later
            tokio::time::sleep(IN_USE_RETRY).await;
            judge::Judged {
                verdict,
                transcript,
                connected,
            } = judge::run_holding(&self.case, &lane.env, lane.reseed.as_ref(), &mut hold).await;
        }
        if self.case.may_change_maildrop() {
            // still this case's: the restore is done before another case has the account
            hold.take().await;
            match lane.reseed.clone() {
                None => lane.touched.store(true, Ordering::SeqCst),
                Some(reseed) => {
                    // let the server finish UPDATE before the maildrop is restored
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    // a command may take a while: off the runtime's threads
                    let done = tokio::task::spawn_blocking(move || reseed())
                        .await
                        .unwrap_or_else(|e| Err(fixture::ReseedError(e.to_string())));
                    if let Err(e) = done {
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
        let waited = hold.waited;
        drop(hold);
        self.lanes.release(at, holds);
        CaseResult {
            case: self.case.clone(),
            verdict,
            duration: t.elapsed().saturating_sub(waited),
            transcript,
            baseline: None,
            connected,
        }
    }
}

/// How long a case refused `[IN-USE]` on its only session waits before it runs again.
const IN_USE_RETRY: Duration = Duration::from_millis(500);

/// Whether a case failed because its login was refused `-ERR [IN-USE]` (RFC 2449 §8.1.2)
/// while it had one session only: the lock was not its own, so it can only be an earlier
/// case's session still ending (the account is this case's alone), and the case is run
/// once more. A case that meets `[IN-USE]` from its own second session expects it.
fn refused_in_use_alone(verdict: &Verdict, transcript: &[Entry]) -> bool {
    matches!(verdict, Verdict::Fail(f) if f.actual.starts_with("-ERR [IN-USE]"))
        && transcript.iter().all(|e| e.session == 0)
}

/// Whether a case ended because its first connection could not be made (the judge's error
/// before any line was exchanged).
pub(crate) fn could_not_connect(r: &CaseResult) -> bool {
    matches!(r.verdict, Verdict::Error(_)) && !r.connected
}

/// Watches the results for a target that has gone ([`GONE_AFTER`]).
#[derive(Debug, Default)]
pub(crate) struct Health {
    /// Connections in a row that could not be made.
    failed: usize,
    /// The last case that reached the target.
    last_alive: Option<String>,
}

impl Health {
    pub(crate) fn saw(&mut self, r: &CaseResult, gone: &Mutex<Option<String>>) {
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
        } else if r.connected {
            self.failed = 0;
            self.last_alive = Some(r.case.id.clone());
        }
    }
}

/// Starts one task per runnable case: at most `jobs` at once; the costliest first (the most
/// failed logins, [`Case::failed_logins`]: a server may delay each); every case after its
/// prerequisites; a case that holds the maildrop ([`Case::holds_maildrop`]) on an account of
/// its own from its first step that tries to log in to its end (one holding case per account at
/// a time), the others beside them on the first account. Results are collected in the
/// selection's order whatever the schedule.
pub(crate) fn spawn_cases(
    runnable: Vec<(usize, Arc<Case>)>,
    config: &RunConfig,
    lanes: Arc<Lanes>,
    caps: Arc<Capabilities>,
    tx: mpsc::UnboundedSender<(usize, CaseResult)>,
    gone: &Arc<Mutex<Option<String>>>,
) -> Vec<JoinHandle<()>> {
    let mut runnable = runnable;
    let mut handles = Vec::with_capacity(runnable.len());
    let restorable = lanes.all.iter().all(|l| l.reseed.is_some());
    // Without a way to restore the maildrop, cases that change it run last (each waits for
    // every holding case that does not), and each case that needs the fixture after one of
    // them checks again that the maildrop still is it.
    runnable.sort_by_key(|(_, case)| {
        (
            !restorable && case.mutates,
            std::cmp::Reverse(case.failed_logins()),
        )
    });
    let permits = Arc::new(Semaphore::new(config.jobs.max(1)));
    let mut outcomes: HashMap<String, watch::Receiver<Outcome>> = HashMap::new();
    let mut unchanged: Vec<watch::Receiver<Outcome>> = Vec::new();
    let (first, mut turn) = oneshot::channel::<()>();
    drop(first);
    for (index, case) in prerequisites_first(runnable) {
        let (pass, next) = oneshot::channel::<()>();
        let prerequisites = case
            .after
            .iter()
            .filter_map(|p| outcomes.get(p).cloned())
            .collect();
        let (outcome, watcher) = watch::channel(None);
        outcomes.insert(case.id.clone(), watcher.clone());
        let earlier = if !restorable && case.mutates {
            unchanged.clone()
        } else {
            Vec::new()
        };
        if !restorable && case.holds_maildrop && !case.mutates {
            unchanged.push(watcher.clone());
        }
        let task = Task {
            earlier,
            case,
            lanes: lanes.clone(),
            caps: caps.clone(),
            permits: permits.clone(),
            prerequisites,
            turn: std::mem::replace(&mut turn, next),
            pass,
            gone: gone.clone(),
        };
        let tx = tx.clone();
        handles.push(tokio::spawn(async move {
            let result = task.run().await;
            outcome.send_replace(Some(root_cause(&result)));
            let _ = tx.send((index, result));
        }));
    }
    handles
}
