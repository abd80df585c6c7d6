//! Runs one case's steps against the target and judges every server line.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use regex::bytes::Regex;
use rustls::ClientConfig;
use scenario::plan::{
    AExpr, Action, Assertion, BodyCheck, Captures, Case, LineRegex, Pattern, Span, Template,
    TemplatePiece,
};

use crate::values::{eval, Bindings, Value};
use client::capability::LoginMethod;
use client::target::{Profile, Target};
use client::transport::{Conn, Limits, Line, WireError};

pub use client::transcript::{printable, Dir};

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

impl CaseEnv {
    /// Where the probes connect, and as whom.
    pub fn endpoint(&self) -> client::Endpoint {
        client::Endpoint {
            target: self.target.clone(),
            tls: self.tls.clone(),
            limits: self.limits,
            profile: self.profile.clone(),
        }
    }
}

/// What a case needs to run.
#[derive(Debug, Clone)]
pub struct CaseEnv {
    /// The target.
    pub target: Target,
    /// Its TLS configuration.
    pub tls: Option<Arc<ClientConfig>>,
    /// I/O limits.
    pub limits: Limits,
    /// The login.
    pub profile: Profile,
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
        if self.env.profile.password.is_empty() {
            text
        } else {
            text.replace(&self.env.profile.password, "***")
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
            Action::Drop => {
                self.drop_session(session).await;
                Ok(())
            }
            Action::ExpectClose => self.expect_close(session).await,
            Action::Assert(a) => self.assertion(a),
        }
    }

    /// Whether the last line read on `session` was a positive status line (`B?:`, `starttls
    /// if ok`).
    fn last_was_ok(&self, session: usize) -> bool {
        self.last
            .get(session)
            .is_some_and(|l| l.starts_with(b"+OK"))
    }

    /// Matches `line` against `p` with the values bound now; the captures.
    fn judge_line(&mut self, p: &Pattern, line: &[u8]) -> Option<Captures> {
        self.regexes.matches(p, line, &self.vars)
    }

    /// The first of `ps` that matches `line`: its index and captures.
    fn judge_line_any<'p>(
        &mut self,
        ps: impl IntoIterator<Item = &'p Pattern>,
        line: &[u8],
    ) -> Option<(usize, Captures)> {
        ps.into_iter()
            .enumerate()
            .find_map(|(i, p)| self.judge_line(p, line).map(|caps| (i, caps)))
    }

    /// Binds the captures of a matched line (scalars).
    fn bind(&mut self, caps: Captures) {
        caps.into_iter().for_each(|(n, v)| self.vars.set(&n, v));
    }

    /// `C:` / `C!:`: sends the expanded template (CRLF appended for `C:`).
    async fn send(
        &mut self,
        session: usize,
        template: &Template,
        crlf: bool,
    ) -> Result<(), StepError> {
        let mut bytes = Vec::new();
        for piece in &template.pieces {
            match piece {
                TemplatePiece::Literal(b) => bytes.extend_from_slice(b),
                TemplatePiece::Expr(e) => match eval(e, &self.vars) {
                    Ok(v) => bytes.extend_from_slice(&v),
                    Err(err) => {
                        return fail(err.to_string(), template.source.clone(), "(not sent)")
                    }
                },
            }
        }
        let shown = self.mask(session, &bytes);
        self.note(session, Dir::Client, shown);
        self.sent(session, &bytes);
        if crlf {
            bytes.extend_from_slice(b"\r\n");
        }
        if let Some(s) = self.in_sasl.get_mut(session) {
            *s = false;
        }
        match self.conn(session)?.send(&bytes).await {
            Ok(()) => {}
            // the server hung up while the line was going out (a long line it refuses):
            // the next step judges that, as it would judge a close
            Err(WireError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                ) =>
            {
                self.note(
                    session,
                    Dir::Note,
                    format!("the server closed the connection during the write ({e})"),
                );
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// `S:`: the next line matches.
    async fn expect(&mut self, session: usize, p: &Pattern) -> Result<(), StepError> {
        let line = self.read_judged(session, &p.source).await?;
        match self.judge_line(p, &line.bytes) {
            Some(caps) => {
                self.bind(caps);
                Ok(())
            }
            None => fail(
                "line does not match",
                p.source.clone(),
                printable(&line.bytes),
            ),
        }
    }

    /// `S|:`: the next line matches one of the alternatives, or the server closes when one
    /// of them is `{eof}`.
    async fn expect_any_of(&mut self, session: usize, ps: &[Pattern]) -> Result<(), StepError> {
        let expected = sources(ps, "  |  ");
        let line = if ps.iter().any(Pattern::is_eof) {
            match self.conn(session)?.read_line().await {
                Err(WireError::Closed) => {
                    self.note(session, Dir::Note, "server closed the connection".into());
                    return Ok(());
                }
                Ok(line) => {
                    self.unread_raw(session, line);
                    self.read_judged(session, &expected).await?
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            self.read_judged(session, &expected).await?
        };
        match self.judge_line_any(ps, &line.bytes) {
            Some((_, caps)) => {
                self.bind(caps);
                Ok(())
            }
            None => fail(
                "line matches none of the alternatives",
                expected,
                printable(&line.bytes),
            ),
        }
    }

    /// `S~:`: the next lines match the patterns, each pattern once, in any order.
    async fn expect_unordered(&mut self, session: usize, ps: &[Pattern]) -> Result<(), StepError> {
        let mut unused: Vec<&Pattern> = ps.iter().collect();
        for _ in 0..ps.len() {
            let expected = sources(unused.iter().copied(), "  ~  ");
            let line = self.read_judged(session, &expected).await?;
            match self.judge_line_any(unused.iter().copied(), &line.bytes) {
                Some((i, caps)) => {
                    unused.remove(i);
                    self.bind(caps);
                }
                None => {
                    return fail(
                        "line matches none of the remaining unordered lines",
                        expected,
                        printable(&line.bytes),
                    )
                }
            }
        }
        Ok(())
    }

    /// `S*:`: lines that match, up to the first that does not (or the `.` terminator),
    /// which is put back for the next step; the captures collect into lists.
    async fn expect_repeated(&mut self, session: usize, p: &Pattern) -> Result<(), StepError> {
        for name in p.capture_names() {
            self.vars.ensure_list(name);
        }
        loop {
            let line = self.read_judged(session, &p.source).await?;
            let caps = if line.bytes == b"." {
                None
            } else {
                self.judge_line(p, &line.bytes)
            };
            match caps {
                Some(caps) => caps.into_iter().for_each(|(n, v)| self.vars.push(&n, v)),
                None => {
                    self.unread(session, line);
                    return Ok(());
                }
            }
        }
    }

    /// `S!:`: no line of the rest of the multi-line response matches.
    async fn expect_absent(&mut self, session: usize, p: &Pattern) -> Result<(), StepError> {
        let expected = format!("no line matching {}", p.source);
        loop {
            let line = self.read_judged(session, &expected).await?;
            if line.bytes == b"." {
                self.unread(session, line);
                return Ok(());
            }
            if self.judge_line(p, &line.bytes).is_some() {
                return fail(
                    "a line that must be absent is present",
                    expected,
                    printable(&line.bytes),
                );
            }
        }
    }

    /// `S+:`: some line of the rest of the multi-line response matches.
    async fn expect_present(&mut self, session: usize, p: &Pattern) -> Result<(), StepError> {
        let expected = format!("a line matching {}", p.source);
        let mut found = false;
        loop {
            let line = self.read_judged(session, &expected).await?;
            if line.bytes == b"." {
                self.unread(session, line);
                break;
            }
            found |= self.judge_line(p, &line.bytes).is_some();
        }
        if found {
            Ok(())
        } else {
            fail(
                "no line of the multi-line response matches",
                expected,
                "none before the \".\"",
            )
        }
    }

    /// `reseed`: the run restores the maildrop now; not applicable without a way to.
    async fn reseed(&mut self, session: usize) -> Result<(), StepError> {
        let Some(reseed) = self.reseed else {
            return Err(StepError::NotApplicable(
                "the case delivers mail (`reseed`), and this run has no way to: give --reseed-cmd"
                    .into(),
            ));
        };
        // let the server finish the UPDATE of a session that just ended
        tokio::time::sleep(Duration::from_millis(20)).await;
        match reseed() {
            Ok(()) => {
                self.note(session, Dir::Note, "maildrop reseeded".into());
                Ok(())
            }
            Err(e) => Err(StepError::Reseed(e)),
        }
    }

    /// `open NAME`: connects session `session`.
    async fn open(&mut self, session: usize) -> Result<(), StepError> {
        let conn = Conn::open(&self.env.target, self.env.tls.clone(), self.env.limits).await?;
        if self.sessions.len() <= session {
            self.sessions.resize_with(session + 1, || None);
            self.in_sasl.resize(session + 1, false);
        }
        self.sessions[session] = Some(conn);
        self.note(session, Dir::Note, format!("session {session} connected"));
        Ok(())
    }

    /// `starttls`: the TLS handshake (after `+OK` to STLS, RFC 2595 §4).
    async fn start_tls(&mut self, session: usize) -> Result<(), StepError> {
        self.conn(session)?.start_tls().await?;
        self.note(session, Dir::Note, "TLS established".into());
        Ok(())
    }

    /// `starttls or eof`: the handshake, or the server ending it (the case ends, passed).
    async fn start_tls_or_eof(&mut self, session: usize) -> Result<(), StepError> {
        match self.conn(session)?.start_tls().await {
            Ok(()) => {
                self.note(session, Dir::Note, "TLS established".into());
                Ok(())
            }
            Err(WireError::TlsEnded(why)) => {
                self.note(
                    session,
                    Dir::Note,
                    format!("the server ended the TLS handshake ({why}); the case ends here"),
                );
                Err(StepError::Done)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `starttls if ok`: the handshake after `+OK`; after `-ERR` the case is not applicable
    /// (a server may refuse STLS, RFC 2595 §4).
    async fn start_tls_if_ok(&mut self, session: usize) -> Result<(), StepError> {
        if !self.last_was_ok(session) {
            return Err(StepError::NotApplicable(
                "the server refused STLS here, as RFC 2595 §4 permits; the rest of the case needs TLS".into(),
            ));
        }
        self.start_tls(session).await
    }

    /// `drop`: closes the connection without QUIT.
    async fn drop_session(&mut self, session: usize) {
        if let Some(mut c) = self.sessions.get_mut(session).and_then(Option::take) {
            c.close().await;
        }
        self.note(session, Dir::Note, "connection closed without QUIT".into());
    }

    /// `eof`: the server closes the connection now, sending nothing more.
    async fn expect_close(&mut self, session: usize) -> Result<(), StepError> {
        match self.conn(session)?.expect_eof().await {
            Ok(None) => {
                self.note(session, Dir::Note, "server closed the connection".into());
                Ok(())
            }
            Ok(Some(line)) => {
                let text = printable(&line.bytes);
                self.note(session, Dir::Server, text.clone());
                fail(
                    "server sent more instead of closing the connection",
                    "connection closed",
                    text,
                )
            }
            Err(WireError::Timeout(t)) => fail(
                "server did not close the connection",
                "connection closed",
                format!("still open after {t:?}"),
            ),
            Err(e) => Err(e.into()),
        }
    }

    /// Sends one line the runner made (not from the scenario), logged and masked like a `C:`
    /// line.
    async fn send_line(&mut self, session: usize, line: &[u8]) -> Result<(), StepError> {
        let shown = self.mask(session, line);
        self.note(session, Dir::Client, shown);
        self.sent(session, line);
        if let Some(s) = self.in_sasl.get_mut(session) {
            *s = false;
        }
        let mut bytes = line.to_vec();
        bytes.extend_from_slice(b"\r\n");
        self.conn(session)?.send(&bytes).await?;
        Ok(())
    }

    /// The `login` step: logs in with the run's method (the greeting was read already).
    ///
    /// The method worked when the run began, so a refusal is taken to be passing: the
    /// previous case's session may still hold the maildrop (`-ERR [IN-USE]`, RFC 2449 §8.1.2)
    /// while the server ends it. The login is tried again on a new connection for up to
    /// [`LOGIN_RETRY`], each attempt in the transcript; then the refusal is the verdict.
    async fn login(&mut self, session: usize) -> Result<(), StepError> {
        let Some(method) = self.env.login else {
            return fail(
                "no login method works on this target",
                "USER/PASS, APOP or AUTH",
                "none (see the run's capabilities)",
            );
        };
        let started = Instant::now();
        loop {
            match self.login_once(session, method).await {
                Err(StepError::Fail(..)) if started.elapsed() < LOGIN_RETRY => {
                    self.note(
                        session,
                        Dir::Note,
                        "login refused (the maildrop may still be held by the previous session); trying again on a new connection".into(),
                    );
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    if let Some(mut old) = self.sessions.get_mut(session).and_then(Option::take) {
                        old.close().await;
                    }
                    let conn =
                        Conn::open(&self.env.target, self.env.tls.clone(), self.env.limits).await?;
                    self.sessions[session] = Some(conn);
                    self.greetings[session] = None;
                    self.read(session).await?;
                }
                other => return other,
            }
        }
    }

    /// One login attempt with `method` on the session's connection: the client's login
    /// steps, each line logged and judged as a `C:`/`S:` pair would be.
    async fn login_once(&mut self, session: usize, method: LoginMethod) -> Result<(), StepError> {
        use client::login::{login, LoginError, Want};
        let profile = self.env.profile.clone();
        let greeting = self.greetings.get(session).cloned().flatten();
        let mut exchange = SessionExchange { run: self, session };
        match login(&mut exchange, method, &profile, greeting.as_deref(), true).await {
            Ok(()) => Ok(()),
            Err(LoginError::Wire(e)) => Err(e),
            Err(LoginError::Refused { step, want, answer }) => fail(
                format!("the login with {method} was refused ({step})"),
                match want {
                    Want::Ok => format!("+OK (login with {method})"),
                    Want::Challenge => format!("+ challenge (login with {method})"),
                },
                printable(&answer),
            ),
            Err(LoginError::NoTimestamp) => fail(
                "APOP login needs the greeting's timestamp",
                "a greeting with <timestamp>",
                greeting.map_or("(no greeting read)".into(), |g| printable(&g)),
            ),
            Err(LoginError::BadChallenge(c)) => fail(
                "the CRAM-MD5 challenge is not base64",
                "+ BASE64",
                printable(&c),
            ),
        }
    }

    async fn body(&mut self, session: usize, checks: &[BodyCheck]) -> Result<(), StepError> {
        let mut lines: Vec<Vec<u8>> = Vec::new();
        loop {
            let line = self
                .read_judged(session, "a multi-line body ending with \".\"")
                .await?;
            match line.bytes.as_slice() {
                [b'.'] => break,
                [b'.', b'.', rest @ ..] => lines.push([&b"."[..], rest].concat()),
                [b'.', ..] => {
                    return fail(
                        "line starts with an un-stuffed \".\" (RFC 1939 §3 byte-stuffing)",
                        format!(".{}", printable(&line.bytes)),
                        printable(&line.bytes),
                    )
                }
                _ => lines.push(line.bytes),
            }
        }
        let octets: u64 = lines.iter().map(|l| l.len() as u64 + 2).sum();
        let joined = || {
            let mut v = Vec::with_capacity(octets as usize);
            for l in &lines {
                v.extend_from_slice(l);
                v.extend_from_slice(b"\r\n");
            }
            v
        };
        for check in checks {
            match check {
                BodyCheck::Octets(e) => {
                    let want = self.number(e)?;
                    if want != octets {
                        return fail(
                            "body size differs",
                            format!("{want} octets"),
                            format!("{octets} octets"),
                        );
                    }
                }
                BodyCheck::Lines(e) => {
                    let want = self.number(e)?;
                    if want != lines.len() as u64 {
                        return fail(
                            "body line count differs",
                            format!("{want} lines"),
                            format!("{} lines", lines.len()),
                        );
                    }
                }
                BodyCheck::Fixture(n) => self.fixture_body(*n, None, &joined())?,
                BodyCheck::Top(n, k) => self.fixture_body(*n, Some(*k), &joined())?,
                BodyCheck::Capture(name) => {
                    self.vars.ensure_list(name);
                    for l in &lines {
                        self.vars.push(name, l.clone());
                    }
                }
            }
        }
        Ok(())
    }

    /// `fixture=N` (`top` is `None`) or `top=N,K`: `got` is standard-fixture message N, or
    /// what TOP N K sends of it, the header compared tolerating added fields
    /// ([`pop3_proto::message::same_message`]).
    fn fixture_body(&self, n: u32, top: Option<u32>, got: &[u8]) -> Result<(), StepError> {
        let Some(m) = self.env.fixture.get(n as usize - 1) else {
            return fail(
                "no such fixture message",
                format!("fixture message {n}"),
                "none",
            );
        };
        let (want, what) = match top {
            Some(k) => {
                let cut = pop3_proto::message::top_cut(m, k);
                (
                    pop3_proto::message::to_crlf(&m[..cut]),
                    format!("TOP {n} {k} of the fixture"),
                )
            }
            None => (
                pop3_proto::message::to_crlf(m),
                format!("fixture message {n}"),
            ),
        };
        if pop3_proto::message::same_message(got, &want) {
            return Ok(());
        }
        let at = got
            .iter()
            .zip(&want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        fail(
            format!("body differs from {what} at octet {at}"),
            format!(
                "{} octets: {}",
                want.len(),
                printable(&want[at..want.len().min(at + 60)])
            ),
            format!(
                "{} octets: {}",
                got.len(),
                printable(&got[at..got.len().min(at + 60)])
            ),
        )
    }

    fn number(&self, e: &scenario::plan::Expr) -> Result<u64, StepError> {
        let v = eval(e, &self.vars)
            .map_err(|err| StepError::Fail(err.to_string(), "a number".into(), String::new()))?;
        String::from_utf8_lossy(&v)
            .parse()
            .map_err(|_| StepError::Fail("not a number".into(), "a number".into(), printable(&v)))
    }

    fn operand(&self, a: &AExpr) -> Result<Vec<u8>, StepError> {
        let nums = |name: &str| -> Result<u64, StepError> {
            let mut sum = 0u64;
            for v in self.vars.list(name) {
                let n: u64 = String::from_utf8_lossy(&v).parse().map_err(|_| {
                    StepError::Fail(
                        format!("sum({name}): not a number"),
                        "numbers".into(),
                        printable(&v),
                    )
                })?;
                sum = sum.saturating_add(n);
            }
            Ok(sum)
        };
        Ok(match a {
            AExpr::Value(e) => eval(e, &self.vars)
                .map_err(|err| StepError::Fail(err.to_string(), String::new(), String::new()))?,
            AExpr::Sum(name) => nums(name)?.to_string().into_bytes(),
            AExpr::Count(name) => self.vars.list(name).len().to_string().into_bytes(),
        })
    }

    fn assertion(&self, a: &Assertion) -> Result<(), StepError> {
        let same = |x: &[u8], y: &[u8]| {
            let n = |b: &[u8]| String::from_utf8_lossy(b).parse::<u64>().ok();
            match (n(x), n(y)) {
                (Some(a), Some(b)) => a == b,
                _ => x == y,
            }
        };
        match a {
            Assertion::Eq(l, r) | Assertion::Ne(l, r) => {
                let (x, y) = (self.operand(l)?, self.operand(r)?);
                let eq = same(&x, &y);
                let want_eq = matches!(a, Assertion::Eq(..));
                if eq != want_eq {
                    let op = if want_eq { "==" } else { "!=" };
                    return fail(
                        format!("assertion failed: {} {op} {}", describe(l), describe(r)),
                        format!("{} {op} {}", printable(&x), printable(&y)),
                        format!("{} vs {}", printable(&x), printable(&y)),
                    );
                }
            }
            Assertion::NotReused(new, old) => {
                let (new_values, old_values) = (self.vars.list(new), self.vars.list(old));
                for (i, v) in new_values.iter().enumerate() {
                    let moved = old_values
                        .iter()
                        .enumerate()
                        .find(|(j, o)| *j != i && *o == v);
                    if let Some((j, _)) = moved {
                        return fail(
                            format!(
                                "{new}: the value at place {} was {old}'s value at place {}",
                                i + 1,
                                j + 1
                            ),
                            format!("the same value as before, or a new one, at place {}", i + 1),
                            printable(v),
                        );
                    }
                }
            }
            Assertion::Unique(name) => {
                let list = self.vars.list(name);
                let mut seen = std::collections::HashSet::new();
                if let Some(dup) = list.iter().find(|v| !seen.insert(v.as_slice())) {
                    return fail(
                        format!("{name} repeats a value"),
                        "unique values",
                        printable(dup),
                    );
                }
            }
        }
        Ok(())
    }
}

fn describe(a: &AExpr) -> String {
    match a {
        AExpr::Sum(n) => format!("sum({n})"),
        AExpr::Count(n) => format!("count({n})"),
        AExpr::Value(scenario::plan::Expr::Var(n)) => n.clone(),
        AExpr::Value(_) => "value".into(),
    }
}

/// The patterns as written, joined for an "expected" field.
fn sources<'a>(patterns: impl IntoIterator<Item = &'a Pattern>, separator: &str) -> String {
    patterns
        .into_iter()
        .map(|p| p.source.as_str())
        .collect::<Vec<_>>()
        .join(separator)
}

/// The regexes of the patterns with back-references, built during one case run, by regex
/// text. Their text holds values bound during the run, so the compiler cannot build them (it
/// builds every other pattern's); but an `S*:` judges every line of a list with the same
/// pattern and the same values, and building a regex costs far more than matching a line,
/// so each text is built once per case run. The cache lives as long as the run: it needs no
/// lock and does not grow across cases.
#[derive(Debug, Default)]
struct Regexes(HashMap<String, Option<Regex>>);

impl Regexes {
    /// Matches `line` against `p` with the values bound now: with the regex the compiler
    /// built, or one built (once) with the bound values. The captures, or `None` (also for
    /// `{eof}` and a back-reference to a name with no value).
    fn matches(&mut self, p: &Pattern, line: &[u8], vars: &Bindings) -> Option<Captures> {
        if let Some(LineRegex(re)) = &p.regex {
            return p.captures_with(re, line);
        }
        let text = p.regex_text(|name| vars.get(name).map(Value::bytes))?;
        let re = self
            .0
            .entry(text)
            .or_insert_with_key(|text| Regex::new(text).ok());
        p.captures_with(re.as_ref()?, line)
    }
}

/// Runs `case` and returns its verdict and transcript; `reseed` serves its `reseed` steps.
pub async fn run_case(
    case: &Case,
    env: &CaseEnv,
    reseed: Option<&crate::Reseed>,
) -> (Verdict, Vec<Entry>) {
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
    run.vars.set("user", env.profile.user.clone().into_bytes());
    run.vars
        .set("password", env.profile.password.clone().into_bytes());
    match Conn::open(&env.target, env.tls.clone(), env.limits).await {
        Ok(c) => run.sessions.push(Some(c)),
        Err(e) => {
            let f = Failure {
                message: format!("cannot connect to {}: {e}", env.target),
                expected: "a connection".into(),
                actual: e.to_string(),
                span: case.span.clone(),
            };
            return (Verdict::Error(f), run.log.into_entries());
        }
    }
    let verdict = run_steps(case, &mut run).await;
    // close what is still open and let the server end those sessions (and free the maildrop)
    for conn in run.sessions.iter_mut().filter_map(Option::as_mut) {
        conn.close().await;
    }
    (verdict, run.log.into_entries())
}

async fn run_steps(case: &Case, run: &mut Run<'_>) -> Verdict {
    for step in &case.steps {
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

/// One session of a case as the client's login sees it: every line sent is logged (masked)
/// and every answer read as a judged line (a bare LF fails the case).
struct SessionExchange<'r, 'a> {
    run: &'r mut Run<'a>,
    session: usize,
}

impl client::login::Exchange for SessionExchange<'_, '_> {
    type Error = StepError;

    async fn exchange(&mut self, line: &[u8]) -> Result<Vec<u8>, StepError> {
        self.run.send_line(self.session, line).await?;
        let expected = "an answer to the login";
        Ok(self.run.read_judged(self.session, expected).await?.bytes)
    }
}

/// Transcript lines kept from a case's start, and from its end.
const TRANSCRIPT_HEAD: usize = 2000;
const TRANSCRIPT_TAIL: usize = 500;

/// A case's wire log, bounded: the first [`TRANSCRIPT_HEAD`] lines and the last
/// [`TRANSCRIPT_TAIL`], with a count of what was left out between — a server that floods
/// cannot make the report, or the runner's memory, grow without bound.
#[derive(Debug, Default)]
struct Transcript {
    head: Vec<Entry>,
    tail: std::collections::VecDeque<Entry>,
    omitted: usize,
}

impl Transcript {
    fn push(&mut self, entry: Entry) {
        if self.head.len() < TRANSCRIPT_HEAD {
            self.head.push(entry);
            return;
        }
        self.tail.push_back(entry);
        if self.tail.len() > TRANSCRIPT_TAIL {
            self.tail.pop_front();
            self.omitted += 1;
        }
    }

    /// Takes back the last line (a line read and put back).
    fn pop(&mut self) {
        if self.tail.pop_back().is_none() {
            self.head.pop();
        }
    }

    fn into_entries(self) -> Vec<Entry> {
        let mut out = self.head;
        if self.omitted > 0 {
            if let Some(first) = self.tail.front() {
                out.push(Entry {
                    at: first.at,
                    session: first.session,
                    dir: Dir::Note,
                    text: format!("... {} lines left out of the transcript ...", self.omitted),
                });
            }
        }
        out.extend(self.tail);
        out
    }
}

/// How long the `login` step tries again after a refusal.
const LOGIN_RETRY: Duration = Duration::from_secs(3);

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
        Action::Drop => "to drop the connection".into(),
        Action::ExpectClose => "the server to close".into(),
        Action::Assert(_) => "an assertion".into(),
    }
}
