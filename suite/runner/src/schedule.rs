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
    if case.fixture == Fixture::Messages {
        match &discovered.messages {
            Some(Ok(0)) | Some(Err(_)) => {
                let why = match &discovered.messages {
                    Some(Err(e)) => e.to_string(),
                    _ => discover::NotFixture::Empty.to_string(),
                };
                return Some(Verdict::Skip(format!(
                    "needs a message in the maildrop: {why}"
                )));
            }
            _ => {}
        }
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
    maildrop: Arc<tokio::sync::RwLock<()>>,
    /// Holding cases given this account and not finished (the next goes to the least busy).
    busy: AtomicUsize,
    /// The sessions on this account that run without its maildrop.
    pub(crate) unheld: Arc<Unheld>,
}

impl Lane {
    pub(crate) fn new(env: Arc<CaseEnv>, reseed: Option<Reseed>) -> Lane {
        Lane {
            env,
            reseed,
            touched: AtomicBool::new(false),
            maildrop: Arc::new(tokio::sync::RwLock::new(())),
            busy: AtomicUsize::new(0),
            unheld: Arc::new(Unheld::default()),
        }
    }
}

/// The cases running on an account without its maildrop (those that hold nothing, and
/// holding cases before their hold point), and the logins among them that the server
/// accepted although the case expected a refusal. On a compliant server those cases take
/// no lock (RFC 1939 §4: none without a successful login); a server that wrongly accepts a
/// wrong secret may lock the maildrop for them while a holding case logs in. So a holding
/// case that fails waits for the unheld cases that ran beside it to end, and runs again if
/// one of them met such a login ([`Unheld::rogue`]): its verdict is then the one a run one
/// case at a time gives it.
#[derive(Debug, Default)]
pub(crate) struct Unheld {
    next: std::sync::atomic::AtomicU64,
    running: Mutex<std::collections::BTreeSet<u64>>,
    /// When each case that met an accepted login ran (its start, its end).
    rogue_windows: Mutex<Vec<(Instant, Instant)>>,
    ended: tokio::sync::Notify,
    /// Cases that have the account to itself now (0 or 1).
    held: AtomicUsize,
    /// How many times a case has taken the account to itself.
    writes: AtomicUsize,
}

/// A case's time with the account to itself, counted in [`Unheld`] until dropped.
#[derive(Debug)]
pub(crate) struct Holding(Arc<Unheld>);

impl Drop for Holding {
    fn drop(&mut self) {
        self.0.held.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Unheld {
    /// A case takes the account to itself: counted until the returned mark is dropped.
    pub(crate) fn holding(self: &Arc<Self>) -> Holding {
        self.held.fetch_add(1, Ordering::SeqCst);
        self.writes.fetch_add(1, Ordering::SeqCst);
        Holding(self.clone())
    }

    /// Whether a case has the account to itself now.
    pub(crate) fn is_held(&self) -> bool {
        self.held.load(Ordering::SeqCst) > 0
    }

    /// How many times a case has taken the account to itself.
    pub(crate) fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    /// A case starts without the hold: its number.
    pub(crate) fn start(&self) -> u64 {
        let seq = self.next.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut r) = self.running.lock() {
            r.insert(seq);
        }
        seq
    }

    /// Case `seq` ends, or takes the hold (again: nothing).
    pub(crate) fn end(&self, seq: u64) {
        if let Ok(mut r) = self.running.lock() {
            r.remove(&seq);
        }
        self.ended.notify_waiters();
    }

    /// A case that ran without the hold met a login the server accepted.
    fn saw_rogue(&self, from: Instant) {
        if let Ok(mut w) = self.rogue_windows.lock() {
            w.push((from, Instant::now()));
        }
    }

    /// Whether a case that met an accepted login ran at some time in `from..to`.
    fn rogue_between(&self, from: Instant, to: Instant) -> bool {
        self.rogue_windows
            .lock()
            .map(|w| w.iter().any(|&(a, b)| a < to && b > from))
            .unwrap_or(true)
    }

    /// Waits until every case started so far without the hold has ended or taken it, at
    /// most `limit`.
    async fn settled(&self, limit: Duration) {
        let upto = self.next.load(Ordering::SeqCst);
        let wait = async {
            loop {
                let notified = self.ended.notified();
                let busy = self
                    .running
                    .lock()
                    .map(|r| r.range(..upto).next().is_some())
                    .unwrap_or(false);
                if !busy {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }
}

/// The server's final answers to the logins in a transcript: for each PASS, APOP or AUTH
/// with a mechanism (AUTH alone lists the mechanisms, RFC 1734), the first line of its
/// session that is not a SASL challenge (`+ `).
fn login_answers(transcript: &[Entry]) -> Vec<&Entry> {
    let mut pending = std::collections::HashSet::new();
    let mut answers = Vec::new();
    for e in transcript {
        match e.dir {
            Dir::Client => {
                let upper = e.text.trim_start().to_ascii_uppercase();
                let mut words = upper.split_ascii_whitespace();
                let login = match words.next() {
                    Some("PASS" | "APOP") => true,
                    Some("AUTH") => words.next().is_some(),
                    _ => false,
                };
                if login {
                    pending.insert(e.session);
                }
            }
            Dir::Server
                if pending.contains(&e.session) && !e.text.starts_with("+ ") && e.text != "+" =>
            {
                pending.remove(&e.session);
                answers.push(e);
            }
            _ => {}
        }
    }
    answers
}

/// Whether a transcript shows a login the server accepted: `+OK` as a login's final answer.
fn accepted_login(transcript: &[Entry]) -> bool {
    login_answers(transcript)
        .iter()
        .any(|e| e.text.starts_with("+OK"))
}

/// Whether a transcript shows a login refused without saying the credentials were the reason:
/// a `-ERR` as a login's final answer without the RFC 3206 `[AUTH]` code. A server that
/// locks the maildrop may refuse a login for the lock (`[IN-USE]`, or no code at all).
fn refused_login_without_auth_code(transcript: &[Entry]) -> bool {
    login_answers(transcript).iter().any(|e| {
        e.text.starts_with("-ERR") && !e.text.to_ascii_uppercase().starts_with("-ERR [AUTH")
    })
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
    load: Arc<Load>,
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
        let mut running = Some(self.load.start().await);
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
        let needs_check = self.case.fixture != Fixture::Any && lane.touched.load(Ordering::SeqCst);
        if needs_check {
            hold.take().await;
        }
        if needs_check && lane.touched.load(Ordering::SeqCst) {
            let present = match self.case.fixture {
                Fixture::Messages => discover::messages_present(&lane.env, &self.caps).await,
                _ => discover::fixture_present(&lane.env, &self.caps).await,
            };
            if let Err(why) = present {
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
        // until it takes its account, the case runs beside the others on it
        let started = Instant::now();
        let unheld = (!hold.taken()).then(|| lane.unheld.start());
        if let Some(seq) = unheld {
            hold.unheld = Some((lane.unheld.clone(), seq));
            hold.watch();
        }
        // the concurrency the attempt started under
        let mut under = self.load.limit();
        let judge::Judged {
            mut verdict,
            mut transcript,
            mut connected,
        } = judge::run_holding(&self.case, &lane.env, lane.reseed.as_ref(), &mut hold).await;
        let mut notes = Vec::new();
        let mut alone_again = false;
        for _ in 0..OVERLOAD_RETRIES {
            let others = self.load.running().saturating_sub(1);
            // alone, a connection that could not be made at all is the target's (dead, or
            // refusing); one it accepted and did not serve may still be our earlier sessions'
            if !unserved(&verdict, &transcript, connected)
                || (others == 0 && (alone_again || !connected))
            {
                break;
            }
            let why = verdict.not_judged().unwrap_or_else(|| match &verdict {
                Verdict::Error(f) => f.message.clone(),
                Verdict::Fail(f) => f.actual.clone(),
                _ => String::new(),
            });
            let text = if others == 0 {
                // alone: the server may still be ending this run's earlier sessions (it
                // counts them until its side has closed); once, after a pause
                alone_again = true;
                format!(
                    "no connection while no other case ran ({why}): the server may still be \
                     ending this run's earlier sessions; the case runs again after a pause"
                )
            } else {
                // not accepted or not greeted while other cases of this run had connections
                // open: a server's connection limit, not a verdict; fewer at once, then again
                let now = self.load.lower(under);
                format!(
                    "no connection while {others} other cases ran ({why}): the run's \
                     concurrency is lowered to {now} and the case runs again"
                )
            };
            notes.push(Entry {
                at: t.elapsed(),
                session: 0,
                dir: Dir::Note,
                text,
            });
            // the place and the account go back meanwhile (a case waiting for this account
            // may hold a place), and the case waits for a place under the lowered limit
            hold.release();
            drop(running.take());
            tokio::time::sleep(OVERLOAD_PAUSE).await;
            running = Some(self.load.start().await);
            if self.case.mutates || needs_check {
                hold.take().await;
            }
            under = self.load.limit();
            judge::Judged {
                verdict,
                transcript,
                connected,
            } = judge::run_holding(&self.case, &lane.env, lane.reseed.as_ref(), &mut hold).await;
        }
        if !notes.is_empty() {
            notes.append(&mut transcript);
            transcript = notes;
        }
        let ended = Instant::now();
        if unheld.is_some() {
            if !hold.taken() && accepted_login(&transcript) {
                // a login this case expected to be refused, or sent without its account
                lane.unheld.saw_rogue(started);
            }
            // its number now (a shared account renumbers it)
            if let Some((_, seq)) = &hold.unheld {
                lane.unheld.end(*seq);
            }
        }
        // A login the case made without the account and saw refused is the refusal a run
        // one case at a time sees, unless another session's lock made it: a case that had the
        // account to itself meanwhile, or a login beside it that the server accepted although
        // refusal was expected. A refusal with the RFC 3206 [AUTH] code says the credentials
        // were the reason; one without it, in such company, is judged again: the case runs
        // once more where no case has the account (or with the account to itself, if it
        // took it), and alone if a login beside that rerun was accepted too.
        let unheld_until = hold.own_at().unwrap_or(ended);
        let unheld_part = unheld_until.saturating_duration_since(started);
        let refused_unheld = unheld.is_some()
            && refused_login_without_auth_code(
                &transcript
                    .iter()
                    .filter(|e| e.at <= unheld_part)
                    .cloned()
                    .collect::<Vec<_>>(),
            );
        if refused_unheld {
            let mut suspicious = hold.overlapped();
            if !suspicious {
                // the wait is not a job's: the place goes to the next case meanwhile
                drop(running.take());
                lane.unheld
                    .settled(2 * lane.env.endpoint.limits.io_timeout)
                    .await;
                suspicious = lane.unheld.rogue_between(started, unheld_until);
            }
            if suspicious {
                let _place = match running {
                    Some(_) => None,
                    None => Some(self.load.start().await),
                };
                transcript.push(Entry {
                    at: t.elapsed(),
                    session: 0,
                    dir: Dir::Note,
                    text: "a login of this case was refused, without an [AUTH] code, while \
                           another case had the account or a login beside it was accepted \
                           (the refusal may have been that session's lock): the case runs \
                           again while no case has the account"
                        .into(),
                });
                // beside other such reruns (none of them logs in on a server that checks
                // credentials), never beside a case that has the account to itself
                if !hold.taken() {
                    hold.apart().await;
                }
                let from = Instant::now();
                let again =
                    judge::run_holding(&self.case, &lane.env, lane.reseed.as_ref(), &mut hold)
                        .await;
                if !hold.taken() && accepted_login(&again.transcript) {
                    lane.unheld.saw_rogue(from);
                }
                transcript.extend(again.transcript);
                verdict = again.verdict;
                connected = again.connected;
                if !hold.taken() && lane.unheld.rogue_between(from, Instant::now()) {
                    // a login beside the rerun was accepted: alone, then
                    transcript.push(Entry {
                        at: t.elapsed(),
                        session: 0,
                        dir: Dir::Note,
                        text: "a login beside the rerun was accepted although refusal was \
                               expected: the case runs again with the account to itself"
                            .into(),
                    });
                    hold.take().await;
                    let alone =
                        judge::run_holding(&self.case, &lane.env, lane.reseed.as_ref(), &mut hold)
                            .await;
                    transcript.extend(alone.transcript);
                    verdict = alone.verdict;
                    connected = alone.connected;
                }
            }
        }
        if hold.taken() && matches!(verdict, Verdict::Fail(_) | Verdict::Error(_)) {
            // the cases that ran beside this one without the account end first; if the
            // server accepted a login one of them expected it to refuse, it may have locked
            // the maildrop under this case: once more, alone on the account
            drop(running.take());
            lane.unheld
                .settled(2 * lane.env.endpoint.limits.io_timeout)
                .await;
            if lane
                .unheld
                .rogue_between(hold.own_at().unwrap_or(started), ended)
            {
                let _place = self.load.start().await;
                transcript.push(Entry {
                    at: t.elapsed(),
                    session: 0,
                    dir: Dir::Note,
                    text: "a case that ran beside this one without the account met a login \
                           the server accepted although it expected a refusal (a lock may have \
                           come with it): the case runs again"
                        .into(),
                });
                let again =
                    judge::run_holding(&self.case, &lane.env, lane.reseed.as_ref(), &mut hold)
                        .await;
                transcript.extend(again.transcript);
                verdict = again.verdict;
                connected = again.connected;
            }
        }
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

/// How many times a case that could not connect while others ran is run again (each time
/// with the run's concurrency halved, [`Load::lower`]).
const OVERLOAD_RETRIES: usize = 4;
/// The pause before such a case runs again (the target's sessions may end meanwhile).
const OVERLOAD_PAUSE: Duration = Duration::from_millis(500);

/// How many cases run at once: `--jobs`, lowered when the target stops accepting or greeting
/// new connections while this run has others open. A server may limit its sessions (GNU
/// Mailutils' `max-children`, 20 by default, queues the rest unanswered; others refuse them);
/// that is the server's choice, not a failure, so a case that meets it runs again with
/// fewer cases at once, and only a case that cannot connect alone gets an error.
#[derive(Debug)]
pub(crate) struct Load {
    permits: Arc<Semaphore>,
    /// Cases running now.
    running: AtomicUsize,
    /// The concurrency now (`--jobs` at first).
    limit: AtomicUsize,
}

/// A running case's place in [`Load`]: given back when dropped.
pub(crate) struct Running<'l> {
    load: &'l Load,
    _permit: tokio::sync::SemaphorePermit<'l>,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.load.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Load {
    pub(crate) fn new(jobs: usize) -> Load {
        let jobs = jobs.max(1);
        Load {
            permits: Arc::new(Semaphore::new(jobs)),
            running: AtomicUsize::new(0),
            limit: AtomicUsize::new(jobs),
        }
    }

    /// Waits for a place.
    async fn start(&self) -> Running<'_> {
        let permit = self.permits.acquire().await.expect("semaphore open");
        self.running.fetch_add(1, Ordering::SeqCst);
        Running {
            load: self,
            _permit: permit,
        }
    }

    /// Cases running now (the caller included).
    fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// The concurrency now.
    pub(crate) fn limit(&self) -> usize {
        self.limit.load(Ordering::SeqCst)
    }

    /// Halves the concurrency `under` which an attempt failed (not below 1) and returns the
    /// concurrency now: cases that failed together lower it once, not once each. The places
    /// above it are taken back as the cases holding them end.
    fn lower(&self, under: usize) -> usize {
        let want = (under / 2).max(1);
        if want == under {
            return self.limit();
        }
        match self
            .limit
            .compare_exchange(under, want, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => {
                let (permits, surplus) = (self.permits.clone(), (under - want) as u32);
                tokio::spawn(async move {
                    if let Ok(p) = permits.acquire_many_owned(surplus).await {
                        p.forget();
                    }
                });
                want
            }
            // lowered already, by a case that failed beside this one
            Err(now) => now,
        }
    }
}

/// Whether an attempt met a connection the server never served: no connection, or a session
/// the server did not greet (no line at all, or a negative first line, as a server at its
/// limit of sessions may send). Alone, that is the server's failure; beside
/// other cases it may be the server's limit on sessions ([`Load`]).
fn unserved(verdict: &Verdict, transcript: &[Entry], connected: bool) -> bool {
    match verdict {
        Verdict::Error(_) if !connected => true,
        Verdict::Fail(_) | Verdict::Error(_) => {
            // a session the case opened (it has an entry) that the server never greeted: no
            // line, or a negative one first (`-ERR [SYS/TEMP] too many connections`)
            let opened: std::collections::BTreeSet<usize> =
                transcript.iter().map(|e| e.session).collect();
            opened.into_iter().any(|session| {
                !transcript
                    .iter()
                    .find(|e| e.session == session && e.dir == Dir::Server)
                    .is_some_and(|greeting| greeting.text.starts_with("+OK"))
            })
        }
        _ => false,
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
    lanes: Arc<Lanes>,
    caps: Arc<Capabilities>,
    tx: mpsc::UnboundedSender<(usize, CaseResult)>,
    gone: &Arc<Mutex<Option<String>>>,
    load: &Arc<Load>,
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
            load: load.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(session: usize, dir: Dir, text: &str) -> Entry {
        Entry {
            at: Duration::ZERO,
            session,
            dir,
            text: text.into(),
        }
    }

    #[test]
    fn an_accepted_login_is_a_positive_final_answer_to_pass_apop_or_auth() {
        use Dir::{Client as C, Server as S};
        let refused = [
            line(0, S, "+OK ready"),
            line(0, C, "USER demo"),
            line(0, S, "+OK"),
            line(0, C, "PASS wrong"),
            line(0, S, "-ERR [AUTH] no"),
            line(0, C, "STAT"),
            line(0, S, "+OK 0 0"),
        ];
        assert!(!accepted_login(&refused));
        let listing = [line(0, C, "AUTH"), line(0, S, "+OK mechanisms follow")];
        assert!(!accepted_login(&listing));
        let sasl = [
            line(1, C, "AUTH PLAIN"),
            line(1, S, "+ "),
            line(1, C, "AGRlbW8Ad3Jvbmc="),
            line(1, S, "+OK logged in"),
        ];
        assert!(accepted_login(&sasl));
        let apop = [line(0, C, "apop demo 0123"), line(0, S, "+OK maildrop")];
        assert!(accepted_login(&apop));
    }

    #[tokio::test]
    async fn the_load_halves_once_for_cases_that_failed_together() {
        let load = Load::new(16);
        assert_eq!(load.lower(16), 8);
        // a case that started under 16 too: already lowered
        assert_eq!(load.lower(16), 8);
        assert_eq!(load.lower(8), 4);
        assert_eq!(load.limit(), 4);
        let one = Load::new(1);
        assert_eq!(one.lower(1), 1);
    }
}
