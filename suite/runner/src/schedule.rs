//! Which cases run, and in what order: triage before the run (skip, not applicable, blocked),
//! prerequisites first, login-holding cases one at a time, a target that stops answering.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scenario::plan::{Case, Condition, Fixture};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;

use crate::*;

/// What happens to a case before it runs: it runs, or it gets this verdict at once.
pub(crate) fn triage(case: &Case, discovered: &Discovered, tls: TlsMode) -> Option<Verdict> {
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

/// Everything one case task needs.
pub(crate) struct Task {
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
        let result = |verdict, transcript, connected| CaseResult {
            case: self.case.clone(),
            verdict,
            duration: t.elapsed(),
            transcript,
            baseline: None,
            connected,
        };
        for mut p in self.prerequisites {
            if let Ok(root) = p.wait_for(Option::is_some).await {
                if let Some(Some(by)) = root.clone() {
                    return result(Verdict::Blocked { by }, Vec::new(), false);
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
                false,
            );
        }
        if self.case.fixture == Fixture::Standard && self.touched.load(Ordering::SeqCst) {
            if let Err(why) = discover::fixture_present(&self.env, &self.caps).await {
                return result(Verdict::Skip(format!(
                    "needs the standard fixture, which an earlier case changed (give --reseed-cmd to restore it): {why}"
                )), Vec::new(), false);
            }
        }
        let judge::Judged {
            mut verdict,
            mut transcript,
            connected,
        } = judge::run_case(&self.case, &self.env, self.reseed.as_ref()).await;
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
        result(verdict, transcript, connected)
    }
}

/// Whether a case ended because its first connection could not be made.
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

/// Starts one task per runnable case: at most `jobs` at once, cases that log in one at a
/// time in order, every case after its prerequisites.
pub(crate) fn spawn_cases(
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
