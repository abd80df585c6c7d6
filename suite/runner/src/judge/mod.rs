//! Runs one case's steps against the target and judges every server line.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use regex::bytes::Regex;
use scenario::plan::{
    AExpr, Action, Assertion, BodyCheck, Captures, Case, LineRegex, Pattern, Span, Template,
    TemplatePiece,
};

use crate::values::{eval, Bindings, Value};
use client::capability::LoginMethod;
use client::transport::{Conn, Line, WireError};

pub use client::transcript::{printable, Dir};

mod body;
mod expect;
mod session;
mod transcript;

use expect::{sources, Regexes};
use transcript::Transcript;

/// One line of a case's wire log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Time since the case started.
    pub at: Duration,
    /// Which session (0 = the first).
    pub session: usize,
    /// Direction.
    pub dir: Dir,
    /// The line, as text (control bytes escaped), credentials masked.
    pub text: String,
}

/// Why a case did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong, in words.
    pub message: String,
    /// What the step expected.
    pub expected: String,
    /// What the target did.
    pub actual: String,
    /// The step.
    pub span: Span,
}

/// The outcome of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every step held.
    Pass,
    /// The target broke the requirement.
    Fail(Failure),
    /// Not run, with the reason (not selected for this setup: no fixture, no login, ...).
    Skip(String),
    /// The target does not implement what the case tests (an optional command, extension
    /// or mechanism, found by CAPA or by probing): neither a pass nor a failure.
    NotApplicable(String),
    /// A prerequisite case (`after:`) failed, so this one was not judged again: one root
    /// cause, one failure.
    Blocked {
        /// The failed prerequisite's id.
        by: String,
    },
    /// The target or the environment failed (connection refused, timeout, closed) so the
    /// requirement could not be judged.
    Error(Failure),
}

impl Verdict {
    /// Why the case was not judged (skipped, not applicable, blocked), for reports that
    /// show these three as "skipped" with a reason; `None` for a pass, failure or error.
    pub fn not_judged(&self) -> Option<String> {
        match self {
            Verdict::Skip(why) => Some(why.clone()),
            Verdict::NotApplicable(why) => Some(format!("not applicable: {why}")),
            Verdict::Blocked { by } => Some(format!("blocked by {by}, which failed")),
            _ => None,
        }
    }

    /// A short upper-case name: PASS, FAIL, ERROR, SKIP, N/A, BLOCKED.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail(_) => "FAIL",
            Verdict::Error(_) => "ERROR",
            Verdict::Skip(_) => "SKIP",
            Verdict::NotApplicable(_) => "N/A",
            Verdict::Blocked { .. } => "BLOCKED",
        }
    }
}

/// What a case needs to run.
#[derive(Debug, Clone)]
pub struct CaseEnv {
    /// The target, its TLS configuration, the limits of every read and write, the account.
    pub endpoint: client::Endpoint,
    /// The standard fixture's messages (for `B: fixture=` and `B: top=`).
    pub fixture: Arc<Vec<Vec<u8>>>,
    /// How the `login` step logs in: chosen by the run from what the target offers
    /// ([`crate::capability`]), or preset (`--login`). `None`: the step fails.
    pub login: Option<LoginMethod>,
}

struct Run<'a> {
    env: &'a CaseEnv,
    /// Restores the maildrop for a `reseed` step.
    reseed: Option<&'a crate::Reseed>,
    started: Instant,
    sessions: Vec<Option<Conn>>,
    vars: Bindings,
    log: Transcript,
    /// The last server line of each session was a SASL `+ ` continuation: mask the answer.
    in_sasl: Vec<bool>,
    /// The first line each session read (its greeting: the `login` step's APOP timestamp).
    greetings: Vec<Option<Vec<u8>>>,
    /// The last line each session read (`B?:` looks at its status indicator).
    last: Vec<Vec<u8>>,
    /// The last line each session sent carried credentials (PASS, APOP, AUTH or a SASL
    /// answer): a `+OK` to it means the session is in TRANSACTION.
    sent_credentials: Vec<bool>,
    /// The session has logged in (left AUTHORIZATION).
    authorized: Vec<bool>,
    /// The regexes of back-reference patterns built in this run.
    regexes: Regexes,
}

enum StepError {
    Fail(String, String, String),
    Wire(WireError),
    /// The case ends here, passed (`starttls or eof` saw the server end the handshake).
    Done,
    /// The case ends here, not applicable: the server took a choice the RFC permits that
    /// leaves the rest of the case without meaning (STLS refused before `starttls if ok`).
    NotApplicable(String),
    /// The `reseed` step's command failed: an error of the run.
    Reseed(String),
}

impl From<WireError> for StepError {
    fn from(e: WireError) -> Self {
        StepError::Wire(e)
    }
}

fn fail<T>(
    message: impl Into<String>,
    expected: impl Into<String>,
    actual: impl Into<String>,
) -> Result<T, StepError> {
    Err(StepError::Fail(
        message.into(),
        expected.into(),
        actual.into(),
    ))
}

impl Run<'_> {
    fn note(&mut self, session: usize, dir: Dir, text: String) {
        self.log.push(Entry {
            at: self.started.elapsed(),
            session,
            dir,
            text,
        });
    }

    fn mask(&self, session: usize, line: &[u8]) -> String {
        let text = printable(line);
        if self.in_sasl.get(session).copied().unwrap_or(false) && line != b"*" {
            return "*** (SASL response)".into();
        }
        let upper = text.to_ascii_uppercase();
        let mut words: Vec<&str> = text.splitn(3, ' ').collect();
        let masked = if upper.starts_with("PASS ") {
            Some(format!("{} ***", words[0]))
        } else if (upper.starts_with("APOP ") || upper.starts_with("AUTH ")) && words.len() == 3 {
            words[2] = "***";
            Some(words.join(" "))
        } else {
            None
        };
        let text = masked.unwrap_or(text);
        if self.env.endpoint.profile.password.is_empty() {
            text
        } else {
            text.replace(&self.env.endpoint.profile.password, "***")
        }
    }

    fn conn(&mut self, session: usize) -> Result<&mut Conn, StepError> {
        match self.sessions.get_mut(session).and_then(Option::as_mut) {
            Some(c) => Ok(c),
            None => Err(StepError::Wire(WireError::Closed)),
        }
    }

    async fn read(&mut self, session: usize) -> Result<Line, StepError> {
        let line = self.conn(session)?.read_line().await?;
        let mut text = printable(&line.bytes);
        if !line.crlf {
            text.push_str("   <- bare LF");
        }
        self.note(session, Dir::Server, text);
        if let Some(s) = self.in_sasl.get_mut(session) {
            *s = line.bytes.starts_with(b"+ ") || line.bytes == b"+";
        }
        self.track(session);
        if self.greetings[session].is_none() {
            self.greetings[session] = Some(line.bytes.clone());
        }
        if line.bytes.starts_with(b"+OK") && self.sent_credentials[session] {
            self.authorized[session] = true;
        }
        self.last[session].clone_from(&line.bytes);
        Ok(line)
    }

    /// Makes room for `session` in the per-session records.
    fn track(&mut self, session: usize) {
        if self.greetings.len() <= session {
            self.greetings.resize(session + 1, None);
            self.last.resize(session + 1, Vec::new());
            self.sent_credentials.resize(session + 1, false);
            self.authorized.resize(session + 1, false);
        }
    }

    /// Records what a sent line means for the session's state.
    fn sent(&mut self, session: usize, line: &[u8]) {
        self.track(session);
        let in_sasl = self.in_sasl.get(session).copied().unwrap_or(false);
        let upper = line.trim_ascii_start().to_ascii_uppercase();
        self.sent_credentials[session] = in_sasl
            || ["PASS", "APOP", "AUTH"]
                .iter()
                .any(|k| upper.starts_with(k.as_bytes()));
    }

    /// Whether the server may have closed this session after a negative answer: it is in
    /// AUTHORIZATION and its last answer was `-ERR` (RFC 1939 §4: "After returning a negative
    /// status indicator, the server may close the connection").
    fn may_close(&self, session: usize) -> bool {
        !self.authorized.get(session).copied().unwrap_or(false)
            && self
                .last
                .get(session)
                .is_some_and(|l| l.starts_with(b"-ERR"))
    }

    /// Reads a line that a pattern step judges: a bare LF is a framing failure.
    async fn read_judged(&mut self, session: usize, expected: &str) -> Result<Line, StepError> {
        let line = self.read(session).await?;
        if !line.crlf {
            return fail(
                "line ended with a bare LF; RFC 1939 §3 requires CRLF",
                expected,
                printable(&line.bytes),
            );
        }
        Ok(line)
    }

    /// Puts back a line that was read but not yet logged.
    fn unread_raw(&mut self, session: usize, line: Line) {
        if let Ok(c) = self.conn(session) {
            c.push_back(line);
        }
    }

    /// Puts back a line that was read and logged (the log entry goes too).
    fn unread(&mut self, session: usize, line: Line) {
        self.log.pop();
        self.unread_raw(session, line);
    }

    /// Runs one step on `session`: one function per kind of step.
    async fn step(&mut self, session: usize, action: &Action) -> Result<(), StepError> {
        match action {
            Action::Send { template, crlf } => self.send(session, template, *crlf).await,
            Action::Expect(p) => self.expect(session, p).await,
            Action::ExpectAnyOf(ps) => self.expect_any_of(session, ps).await,
            Action::ExpectUnordered(ps) => self.expect_unordered(session, ps).await,
            Action::ExpectRepeated(p) => self.expect_repeated(session, p).await,
            Action::ExpectAbsent(p) => self.expect_absent(session, p).await,
            Action::ExpectPresent(p) => self.expect_present(session, p).await,
            Action::Body(checks) => self.body(session, checks).await,
            Action::BodyIfOk(checks) if self.last_was_ok(session) => {
                self.body(session, checks).await
            }
            Action::BodyIfOk(_) => Ok(()),
            Action::Login => self.login(session).await,
            Action::Reseed => self.reseed(session).await,
            Action::Open => self.open(session).await,
            Action::StartTls => self.start_tls(session).await,
            Action::StartTlsOrEof => self.start_tls_or_eof(session).await,
            Action::StartTlsIfOk => self.start_tls_if_ok(session).await,
            Action::PassIfErr if self.last_was_err(session) => Err(StepError::Done),
            Action::NotApplicableIfErr if self.last_was_err(session) => {
                Err(StepError::NotApplicable(
                    "the server refused here, a choice the RFC leaves to it; the rest of the case needs it taken".into(),
                ))
            }
            Action::PassIfErr | Action::NotApplicableIfErr => Ok(()),
            Action::Drop => {
                self.drop_session(session).await;
                Ok(())
            }
            Action::ExpectClose => self.expect_close(session).await,
            Action::Assert(a) => self.assertion(a),
        }
    }
}

/// What running a case gave.
#[derive(Debug)]
pub struct Judged {
    /// The verdict.
    pub verdict: Verdict,
    /// The wire log.
    pub transcript: Vec<Entry>,
    /// Whether the first connection was made (else the verdict is the error saying why).
    pub connected: bool,
}

/// Runs `case` and returns its verdict and transcript; `reseed` serves its `reseed` steps.
pub async fn run_case(case: &Case, env: &CaseEnv, reseed: Option<&crate::Reseed>) -> Judged {
    run_holding(case, env, reseed, &mut Hold::default()).await
}

/// An account's maildrop held by one case at a time (RFC 1939 §4: a server may lock it for
/// a session that logged in): taken at the case's hold point
/// ([`scenario::plan::Case::hold_point`]: the first login that may succeed), or earlier by
/// the scheduler, and kept until the case (and the reseed after it) ends. Without a lock,
/// nothing is waited for. Until it is taken the case runs beside others on the account
/// ([`crate::schedule::Unheld`]).
#[derive(Debug, Default)]
pub(crate) struct Hold {
    /// The account's lock, shared by every case that uses the account: written by the case
    /// that has it to itself, read by the logins that only must not meet such a case.
    pub(crate) lock: Option<Arc<tokio::sync::RwLock<()>>>,
    /// Held since the first step that needed it.
    guard: Option<Guard>,
    /// How long taking it waited for another case (not the case's own time).
    pub(crate) waited: Duration,
    /// The account's sessions without the hold, this case's among them until it takes it.
    pub(crate) unheld: Option<(Arc<crate::schedule::Unheld>, u64)>,
    /// What the account's holders did while this case ran without the account.
    pub(crate) marks: Option<Marks>,
}

/// How a case has its account.
#[derive(Debug)]
enum Guard {
    /// Beside other cases that only must not meet one that has it to itself.
    Apart(#[allow(dead_code)] tokio::sync::OwnedRwLockReadGuard<()>),
    /// To itself.
    Own(
        #[allow(dead_code)] tokio::sync::OwnedRwLockWriteGuard<()>,
        #[allow(dead_code)] Option<crate::schedule::Holding>,
    ),
}

/// What the account's holders did while a case ran without the account.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Marks {
    /// A case had the account to itself when this one started.
    held_at_start: bool,
    /// How many times a case had taken it to itself by then.
    writes_at_start: usize,
    /// ... and by the time this one took it to itself.
    writes_at_own: Option<usize>,
    /// When this one took it to itself.
    own_at: Option<Instant>,
}

impl Hold {
    /// A hold of `lock`, not taken yet.
    pub(crate) fn of(lock: Arc<tokio::sync::RwLock<()>>) -> Hold {
        Hold {
            lock: Some(lock),
            ..Hold::default()
        }
    }

    /// Whether the case has the account to itself now.
    pub(crate) fn taken(&self) -> bool {
        matches!(self.guard, Some(Guard::Own(..)))
    }

    /// Starts watching the account's holders (the case runs without the account now).
    pub(crate) fn watch(&mut self) {
        if let Some((unheld, _)) = &self.unheld {
            self.marks = Some(Marks {
                held_at_start: unheld.is_held(),
                writes_at_start: unheld.writes(),
                writes_at_own: None,
                own_at: None,
            });
        }
    }

    /// Whether a case had the account to itself at some time while this one ran without it.
    pub(crate) fn overlapped(&self) -> bool {
        match (&self.marks, &self.unheld) {
            (Some(m), Some((unheld, _))) => {
                m.held_at_start
                    || m.writes_at_own.unwrap_or_else(|| unheld.writes()) != m.writes_at_start
                    || (m.own_at.is_none() && unheld.is_held())
            }
            _ => false,
        }
    }

    /// When the case took the account to itself, if it did.
    pub(crate) fn own_at(&self) -> Option<Instant> {
        self.marks.and_then(|m| m.own_at)
    }

    /// Gives the account back (a case that runs again takes it again).
    pub(crate) fn release(&mut self) {
        self.guard = None;
    }

    /// Takes the account to itself (waits while another case has it, shared or not); nothing
    /// if it has it already. A hold beside others ([`Hold::apart`]) is given up first.
    pub(crate) async fn take(&mut self) {
        if self.taken() {
            return;
        }
        self.guard = None;
        if let Some(lock) = &self.lock {
            // no longer a session without the hold: one that waits for it logs in on
            // nothing meanwhile, and a holder that waits for the unheld to end must not
            // wait for it
            if let Some((unheld, seq)) = &self.unheld {
                unheld.end(*seq);
            }
            let t = Instant::now();
            if let (Some(m), Some((unheld, _))) = (&mut self.marks, &self.unheld) {
                m.writes_at_own.get_or_insert_with(|| unheld.writes());
            }
            let guard = lock.clone().write_owned().await;
            self.waited += t.elapsed();
            let holding = self.unheld.as_ref().map(|(u, _)| u.holding());
            self.guard = Some(Guard::Own(guard, holding));
            if let Some(m) = &mut self.marks {
                m.own_at.get_or_insert_with(Instant::now);
            }
        }
    }

    /// Waits until no case has the account to itself and keeps it so (beside other cases
    /// that wait the same way), giving up what it had.
    pub(crate) async fn apart(&mut self) {
        self.guard = None;
        if let Some(lock) = &self.lock {
            let t = Instant::now();
            self.guard = Some(Guard::Apart(lock.clone().read_owned().await));
            self.waited += t.elapsed();
        }
    }
}

/// [`run_case`], taking `hold` at the case's hold point.
pub(crate) async fn run_holding(
    case: &Case,
    env: &CaseEnv,
    reseed: Option<&crate::Reseed>,
    hold: &mut Hold,
) -> Judged {
    let mut run = Run {
        env,
        reseed,
        started: Instant::now(),
        sessions: Vec::new(),
        vars: Bindings::default(),
        log: Transcript::default(),
        in_sasl: vec![false],
        greetings: Vec::new(),
        last: Vec::new(),
        sent_credentials: Vec::new(),
        authorized: Vec::new(),
        regexes: Regexes::default(),
    };
    run.vars
        .set("user", env.endpoint.profile.user.clone().into_bytes());
    run.vars.set(
        "password",
        env.endpoint.profile.password.clone().into_bytes(),
    );
    if let Some(token) = &env.endpoint.profile.token {
        run.vars.set("token", token.clone().into_bytes());
    }
    match Conn::open(
        &env.endpoint.target,
        env.endpoint.tls.clone(),
        env.endpoint.limits,
    )
    .await
    {
        Ok(c) => {
            run.sessions.push(Some(c));
            run.bind_channel(0);
        }
        Err(e) => {
            let f = Failure {
                message: format!("cannot connect to {}: {e}", env.endpoint.target),
                expected: "a connection".into(),
                actual: e.to_string(),
                span: case.span.clone(),
            };
            return Judged {
                verdict: Verdict::Error(f),
                transcript: run.log.into_entries(),
                connected: false,
            };
        }
    }
    let verdict = run_steps(case, &mut run, hold).await;
    // close what is still open and let the server end those sessions (and free the maildrop)
    for conn in run.sessions.iter_mut().filter_map(Option::as_mut) {
        conn.close().await;
    }
    Judged {
        verdict,
        transcript: run.log.into_entries(),
        connected: true,
    }
}

async fn run_steps(case: &Case, run: &mut Run<'_>, hold: &mut Hold) -> Verdict {
    let hold_point = case.hold_point();
    for (i, step) in case.steps.iter().enumerate() {
        if hold_point.is_some_and(|at| i >= at) {
            hold.take().await;
        }
        if let Err(e) = run.step(step.session, &step.action).await {
            let verdict = match e {
                StepError::Fail(message, expected, actual) => Verdict::Fail(Failure {
                    message,
                    expected,
                    actual,
                    span: step.span.clone(),
                }),
                StepError::Wire(WireError::Closed)
                    if awaits_answer(&step.action) && run.may_close(step.session) =>
                {
                    run.note(
                        step.session,
                        Dir::Note,
                        "the server closed the connection after -ERR in AUTHORIZATION".into(),
                    );
                    Verdict::NotApplicable(
                        "the server closed the connection after a negative answer in the AUTHORIZATION state, as RFC 1939 §4 permits; the rest of the case could not be judged".into(),
                    )
                }
                StepError::Wire(w) => {
                    run.note(step.session, Dir::Note, format!("wire: {w}"));
                    let failure = Failure {
                        message: format!("the target {}", w),
                        expected: describe_step(&step.action),
                        actual: w.to_string(),
                        span: step.span.clone(),
                    };
                    // Silence or a close where an answer is due is the server's failure
                    // (RFC 1939 §3: every command gets a response); a connection that could
                    // not be made or used is an error of the run.
                    if awaits_answer(&step.action)
                        && matches!(
                            w,
                            WireError::Timeout(_) | WireError::Closed | WireError::TooSlow { .. }
                        )
                    {
                        Verdict::Fail(Failure {
                            message: match w {
                                WireError::Closed => {
                                    "the server closed the connection instead of answering".into()
                                }
                                WireError::TooSlow { .. } => {
                                    format!("the server answered too slowly ({w})")
                                }
                                _ => format!("the server did not answer ({w})"),
                            },
                            ..failure
                        })
                    } else {
                        Verdict::Error(failure)
                    }
                }
                StepError::Done => Verdict::Pass,
                StepError::NotApplicable(why) => Verdict::NotApplicable(why),
                StepError::Reseed(e) => Verdict::Error(Failure {
                    message: format!("reseeding the maildrop failed: {e}"),
                    expected: "reseed".into(),
                    actual: e,
                    span: step.span.clone(),
                }),
            };
            return verdict;
        }
    }
    Verdict::Pass
}

/// Whether the step reads what the server owes: a reply, a body, the greeting.
fn awaits_answer(a: &Action) -> bool {
    matches!(
        a,
        Action::Expect(_)
            | Action::ExpectAnyOf(_)
            | Action::ExpectUnordered(_)
            | Action::ExpectRepeated(_)
            | Action::ExpectAbsent(_)
            | Action::ExpectPresent(_)
            | Action::Body(_)
            | Action::BodyIfOk(_)
            | Action::Login
    )
}

fn describe_step(a: &Action) -> String {
    match a {
        Action::Send { template, .. } => format!("to send {}", template.source),
        Action::Expect(p) | Action::ExpectRepeated(p) | Action::ExpectAbsent(p) => p.source.clone(),
        Action::ExpectAnyOf(ps) | Action::ExpectUnordered(ps) => sources(ps, " | "),
        Action::ExpectPresent(p) => format!("a line matching {}", p.source),
        Action::Body(_) | Action::BodyIfOk(_) => "a multi-line body".into(),
        Action::Login => "a login".into(),
        Action::Reseed => "the maildrop reseeded".into(),
        Action::Open => "a new connection".into(),
        Action::StartTls => "a TLS handshake".into(),
        Action::StartTlsOrEof => "a TLS handshake, or the server ending it".into(),
        Action::StartTlsIfOk => "a TLS handshake after +OK to STLS".into(),
        Action::PassIfErr | Action::NotApplicableIfErr => "the case to go on".into(),
        Action::Drop => "to drop the connection".into(),
        Action::ExpectClose => "the server to close".into(),
        Action::Assert(_) => "an assertion".into(),
    }
}
