//! Runs one generated sequence against a real target: sends each command, judges each reply
//! against what the model allows, keeps the model's state, and writes the sequence down as
//! a scenario as it goes (so the sequence proptest shrinks to is also a file `conform run`
//! replays).
//!
//! Where the RFC leaves the server a choice (USER of an unknown mailbox may get +OK or -ERR,
//! RFC 1939 §7; after a refused login the server may close, §4), every allowed answer is
//! accepted and the model follows the branch the server took; the scenario records that
//! branch, with a comment.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::transport::{Conn, Line, WireError};
use pop3_proto::auth::apop;
use pop3_proto::message::{same_message, top_cut};

use crate::hostile::Hostile;
use crate::maildrop::{Conflict, Maildrop, Stat, View};
use crate::ops::{Cmd, Method, MsgRef, Op, Secret, Who};
use crate::rules::{self, Rule};

/// A message number beyond any 32-bit counter.
const HUGE: u64 = (1 << 32) + 1;

/// What the target announces that changes which commands make sense (RFC 2449 CAPA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// USER/PASS offered.
    pub user: bool,
    /// UIDL offered.
    pub uidl: bool,
    /// TOP offered.
    pub top: bool,
    /// SASL PLAIN offered.
    pub plain: bool,
    /// STLS offered (RFC 2595).
    pub stls: bool,
}

impl Default for Caps {
    /// A server without CAPA: RFC 1939's optional commands assumed, no SASL.
    fn default() -> Caps {
        Caps {
            user: true,
            uidl: true,
            top: true,
            plain: false,
            stls: false,
        }
    }
}

/// Where and how the model connects.
#[derive(Debug, Clone)]
pub struct Env {
    /// The server, its TLS, the limits of every read and write, the login.
    pub endpoint: client::Endpoint,
    /// What the target implements (announced or probed).
    pub caps: Caps,
}

/// Where the target left what the model allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// Index of the step in the sequence.
    pub step: usize,
    /// The step.
    pub op: Box<Step>,
    /// The command line sent (credentials masked), or what the client was doing.
    pub sent: String,
    /// What the model allows.
    pub expected: String,
    /// What came.
    pub actual: String,
    /// The requirement broken.
    pub rule: Rule,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "step {} ({:?}): after `{}` expected {}, got {} (RFC {}: \"{}\")",
            self.step + 1,
            self.op,
            self.sent,
            self.expected,
            self.actual,
            self.rule.rfc,
            self.rule.quote
        )
    }
}

/// Who wrote a transcript line (the client's: the model is a client too).
pub use client::Dir;

/// One line of the wire log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Since the sequence started.
    pub at: Duration,
    /// The connection's name in the scenario (`main`, `c2`, ...).
    pub conn: String,
    /// Who.
    pub dir: Dir,
    /// The text (credentials masked; long bodies elided).
    pub text: String,
}

/// The sequence as a scenario: steps, and what the header must say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    /// Step lines in the scenario language.
    pub steps: Vec<String>,
    /// Capabilities the steps need (`requires:`).
    pub requires: BTreeSet<&'static str>,
    /// The case changes the maildrop.
    pub mutates: bool,
}

/// What running a sequence gave.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Commands sent.
    pub commands: u64,
    /// The wire log.
    pub transcript: Vec<Entry>,
    /// The scenario, up to and including the step that diverged.
    pub script: Script,
    /// The first divergence, if any.
    pub divergence: Option<Divergence>,
    /// Connections opened.
    pub connections: usize,
}

/// One step of a sequence: a command the model predicts, or a hostile one (`conform fuzz`)
/// whose answer is judged for framing and liveness.
#[derive(Clone, PartialEq, Eq)]
pub enum Step {
    /// A model command.
    Model(Op),
    /// A hostile command.
    Hostile(Hostile),
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Model(op) => write!(f, "{op:?}"),
            Step::Hostile(h) => write!(f, "{h:?}"),
        }
    }
}

#[derive(Debug)]
pub(crate) enum Phase {
    Authorization { pending: Option<Who> },
    Transaction(View),
}

#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) conn: Option<Conn>,
    pub(crate) name: String,
    pub(crate) phase: Phase,
    /// TLS is on (implicit, or STLS done).
    pub(crate) tls: bool,
    /// The greeting's APOP timestamp and the scenario variable that holds it.
    pub(crate) stamp: Option<(String, String)>,
    /// A -ERR in AUTHORIZATION came: the server may close now (RFC 1939 §4).
    pub(crate) may_close: bool,
}

/// What a status line was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Got {
    Ok,
    Err,
    /// The server closed, where that is allowed.
    Closed,
}

/// What the model allows as a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    Ok,
    Err,
    /// The server's choice (RFC 1939 §7 USER of an unknown mailbox).
    Either,
}

/// How a message number was picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Live(usize),
    Deleted,
    Zero,
    Missing,
}

pub(crate) struct Run<'a> {
    pub(crate) env: &'a Env,
    pub(crate) maildrop: Maildrop,
    pub(crate) slots: Vec<Slot>,
    /// The session in TRANSACTION (it holds the maildrop lock, RFC 1939 §4).
    pub(crate) lock: Option<usize>,
    current: Option<String>,
    connections: usize,
    started: Instant,
    pub(crate) commands: u64,
    transcript: Vec<Entry>,
    pub(crate) script: Script,
    /// Unique-ids seen in this sequence, by message identity (scenario variable `uid_I`).
    uids: Vec<(usize, String)>,
    pub(crate) step: usize,
    op: Step,
    pub(crate) sent: String,
}

/// Runs `ops` on `sessions` clients against the target, from a maildrop the model knows.
pub async fn run(env: &Env, start: &Maildrop, ops: &[Op], sessions: u8) -> Outcome {
    let steps: Vec<Step> = ops.iter().copied().map(Step::Model).collect();
    run_steps(env, start, &steps, sessions).await
}

/// Runs `steps` (model and hostile) on `sessions` clients against the target.
pub async fn run_steps(env: &Env, start: &Maildrop, steps: &[Step], sessions: u8) -> Outcome {
    let mut run = Run {
        env,
        maildrop: start.clone(),
        slots: (0..sessions.max(1))
            .map(|_| Slot {
                conn: None,
                name: String::new(),
                phase: Phase::Authorization { pending: None },
                stamp: None,
                may_close: false,
                tls: false,
            })
            .collect(),
        lock: None,
        current: None,
        connections: 0,
        started: Instant::now(),
        commands: 0,
        transcript: Vec::new(),
        script: Script::default(),
        uids: Vec::new(),
        step: 0,
        op: steps.first().cloned().unwrap_or(Step::Model(Op {
            session: 0,
            cmd: Cmd::Noop,
            case: crate::ops::Case::Upper,
        })),
        sent: String::new(),
    };
    let mut divergence = None;
    for (i, step) in steps.iter().enumerate() {
        run.step = i;
        run.op = step.clone();
        let done = match step {
            Step::Model(op) => run.apply(op).await,
            Step::Hostile(h) => run.hostile(h).await,
        };
        if let Err(d) = done {
            divergence = Some(d);
            break;
        }
    }
    for slot in &mut run.slots {
        if let Some(mut c) = slot.conn.take() {
            c.close().await;
        }
    }
    Outcome {
        commands: run.commands,
        transcript: run.transcript,
        script: run.script,
        divergence,
        connections: run.connections,
    }
}

/// `text` as literal scenario text (braces doubled).
pub(crate) fn literal(text: &str) -> String {
    text.replace('{', "{{").replace('}', "}}")
}

pub(crate) fn printable(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes.iter().take(200) {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > 200 {
        s.push_str(&format!("... ({} octets)", bytes.len()));
    }
    s
}

impl Run<'_> {
    pub(crate) fn note(&mut self, conn: &str, dir: Dir, text: String) {
        self.transcript.push(Entry {
            at: self.started.elapsed(),
            conn: conn.to_owned(),
            dir,
            text,
        });
    }

    pub(crate) fn diverge(
        &self,
        expected: impl Into<String>,
        actual: impl Into<String>,
        rule: Rule,
    ) -> Divergence {
        Divergence {
            step: self.step,
            op: Box::new(self.op.clone()),
            sent: self.sent.clone(),
            expected: expected.into(),
            actual: actual.into(),
            rule,
        }
    }

    pub(crate) fn wire(&self, e: &WireError, rule: Rule, expected: &str) -> Divergence {
        self.diverge(expected, format!("no answer: {e}"), rule)
    }

    /// Opens session `s` if it is closed (reading the greeting), and makes it current.
    pub(crate) async fn ensure_open(&mut self, s: usize) -> Result<(), Divergence> {
        if self.slots[s].conn.is_some() {
            let name = self.slots[s].name.clone();
            if self.current.as_deref() != Some(&name) {
                self.script.steps.push(format!("use {name}"));
                self.current = Some(name);
            }
            return Ok(());
        }
        self.connections += 1;
        let name = if self.connections == 1 {
            "main".to_owned()
        } else {
            format!("c{}", self.connections)
        };
        if self.connections > 1 {
            self.script.steps.push(format!("open {name}"));
        }
        self.current = Some(name.clone());
        self.sent = format!("(connect {name})");
        self.note(&name, Dir::Note, "connect".into());
        let mut conn = Conn::open(
            &self.env.endpoint.target,
            self.env.endpoint.tls.clone(),
            self.env.endpoint.limits,
        )
        .await
        .map_err(|e| self.wire(&e, rules::GREETING, "a greeting"))?;
        let greeting = conn
            .read_line()
            .await
            .map_err(|e| self.wire(&e, rules::GREETING, "+OK greeting"))?;
        let text = String::from_utf8_lossy(&greeting.bytes).into_owned();
        self.note(&name, Dir::Server, text.clone());
        let stamp = regex_stamp(&text);
        let var = format!("stamp{}", self.connections);
        match &stamp {
            Some(_) => self
                .script
                .steps
                .push(format!("S: +OK {{*}}{{{var}:<[^<>]*>}}{{*}}")),
            None => self.script.steps.push("S: +OK {*}".into()),
        }
        if !greeting.bytes.starts_with(b"+OK") || !greeting.crlf {
            return Err(self.diverge(
                "+OK greeting ending in CRLF",
                printable(&greeting.bytes),
                rules::GREETING,
            ));
        }
        let slot = &mut self.slots[s];
        slot.conn = Some(conn);
        slot.name = name;
        slot.phase = Phase::Authorization { pending: None };
        slot.stamp = stamp.map(|v| (var, v));
        slot.may_close = false;
        slot.tls = self.env.endpoint.target.tls != client::TlsMode::None;
        Ok(())
    }

    /// Sends `wire` (CRLF added) on session `s`; `script` is the scenario's `C:` text and
    /// `shown` the transcript's (credentials masked).
    pub(crate) async fn send(
        &mut self,
        s: usize,
        wire: String,
        script: String,
        shown: String,
    ) -> Result<(), Divergence> {
        self.commands += 1;
        self.sent = shown.clone();
        let name = self.slots[s].name.clone();
        self.script.steps.push(format!("C: {script}"));
        self.note(&name, Dir::Client, shown);
        let conn = self.slots[s].conn.as_mut().expect("open before send");
        match conn.send(format!("{wire}\r\n").as_bytes()).await {
            Ok(()) => Ok(()),
            // the server may have closed; the read says whether that was allowed
            Err(WireError::Closed) | Err(WireError::Io(_)) => Ok(()),
            Err(e) => Err(self.wire(&e, rules::CRLF, "the command to be sent")),
        }
    }

    /// Reads a status line on session `s` and judges it against `want`. `pattern` is the
    /// scenario's pattern for an expected +OK (default `+OK {*}`).
    pub(crate) async fn status(
        &mut self,
        s: usize,
        want: Want,
        pattern: Option<String>,
        rule: Rule,
    ) -> Result<(Got, Line), Divergence> {
        let name = self.slots[s].name.clone();
        let ok_pattern = pattern.unwrap_or_else(|| "+OK {*}".into());
        let may_close = self.slots[s].may_close;
        let read = self.slots[s].conn.as_mut().expect("open").read_line().await;
        let line = match read {
            Ok(l) => l,
            Err(WireError::Closed) if may_close => {
                self.note(&name, Dir::Note, "closed by the server".into());
                let expected = match want {
                    Want::Ok => ok_pattern,
                    _ => "-ERR {*}".into(),
                };
                self.script.steps.push(format!("S|: {expected}"));
                self.script.steps.push("S|: {eof}".into());
                self.closed(s);
                return Ok((
                    Got::Closed,
                    Line {
                        bytes: Vec::new(),
                        crlf: true,
                    },
                ));
            }
            Err(e) => {
                self.script.steps.push(match want {
                    Want::Err => "S: -ERR {*}".into(),
                    _ => format!("S: {ok_pattern}"),
                });
                let expected = match want {
                    Want::Ok => "+OK",
                    Want::Err => "-ERR",
                    Want::Either => "+OK or -ERR",
                };
                return Err(self.wire(&e, rule, expected));
            }
        };
        self.note(&name, Dir::Server, printable(&line.bytes));
        let got = if is_status(&line.bytes, b"+OK") {
            Some(Got::Ok)
        } else if is_status(&line.bytes, b"-ERR") {
            Some(Got::Err)
        } else {
            None
        };
        let comment = |got| match (want, got) {
            (Want::Either, Some(Got::Ok)) => {
                Some("# the RFC allows +OK or -ERR here; the target answered +OK")
            }
            (Want::Either, Some(Got::Err)) => {
                Some("# the RFC allows +OK or -ERR here; the target answered -ERR")
            }
            _ => None,
        };
        if let Some(c) = comment(got) {
            self.script.steps.push(c.into());
        }
        let expected_line = match (want, got) {
            (Want::Ok, _) | (Want::Either, Some(Got::Ok)) => format!("S: {ok_pattern}"),
            _ => "S: -ERR {*}".into(),
        };
        self.script.steps.push(expected_line);
        let described = match want {
            Want::Ok => "+OK",
            Want::Err => "-ERR",
            Want::Either => "+OK or -ERR",
        };
        let Some(got) = got else {
            return Err(self.diverge(described, printable(&line.bytes), rules::STATUS));
        };
        if !line.crlf {
            return Err(self.diverge(
                "a status line ending in CRLF",
                format!("{} (bare LF)", printable(&line.bytes)),
                rules::CRLF,
            ));
        }
        match (want, got) {
            (Want::Ok, Got::Err) if self.slots[s].may_close => {
                // RFC 1939 §4: after a negative status the server may close the connection;
                // some servers refuse the next command first and then close (Dovecot, after
                // three bad commands before login). Allowed only if the close follows at once.
                let conn = self.slots[s].conn.as_mut().expect("open");
                match conn.expect_eof().await {
                    Ok(None) => {
                        self.note(&name, Dir::Note, "closed by the server".into());
                        self.script.steps.pop();
                        self.script.steps.push("# after an earlier -ERR the server may refuse and close (RFC 1939 §4); this one did".into());
                        self.script.steps.push("S: -ERR {*}".into());
                        self.script.steps.push("eof".into());
                        self.closed(s);
                        Ok((Got::Closed, line))
                    }
                    _ => Err(self.diverge(
                        format!("{described} (or -ERR and a close, after an earlier -ERR)"),
                        printable(&line.bytes),
                        rule,
                    )),
                }
            }
            (Want::Ok, Got::Err) | (Want::Err, Got::Ok) => {
                Err(self.diverge(described, printable(&line.bytes), rule))
            }
            _ => {
                if got == Got::Err && matches!(self.slots[s].phase, Phase::Authorization { .. }) {
                    self.slots[s].may_close = true;
                }
                Ok((got, line))
            }
        }
    }

    /// Reads a multi-line body through its terminator, un-stuffed, CRLF line ends.
    pub(crate) async fn body(&mut self, s: usize) -> Result<Vec<Vec<u8>>, Divergence> {
        let name = self.slots[s].name.clone();
        let mut lines = Vec::new();
        let mut octets = 0usize;
        loop {
            let read = self.slots[s].conn.as_mut().expect("open").read_line().await;
            let line = read.map_err(|e| {
                self.wire(
                    &e,
                    rules::TERMINATOR,
                    "more of the multi-line response, ending in \".\"",
                )
            })?;
            if line.bytes == b"." {
                break;
            }
            if !line.crlf {
                return Err(self.diverge(
                    "lines ending in CRLF",
                    format!("{} (bare LF)", printable(&line.bytes)),
                    rules::CRLF,
                ));
            }
            octets += line.bytes.len() + 2;
            let data = match line.bytes.strip_prefix(b".") {
                Some(rest) => rest.to_vec(),
                None => line.bytes,
            };
            lines.push(data);
        }
        self.note(
            &name,
            Dir::Server,
            format!("<{} lines, {octets} octets> .", lines.len()),
        );
        Ok(lines)
    }

    pub(crate) fn closed(&mut self, s: usize) {
        let slot = &mut self.slots[s];
        slot.conn = None;
        slot.phase = Phase::Authorization { pending: None };
        slot.stamp = None;
        slot.may_close = false;
        if self.lock == Some(s) {
            self.lock = None;
        }
    }

    /// Waits for the server to close session `s` (after QUIT).
    async fn expect_eof(&mut self, s: usize, rule: Rule) -> Result<(), Divergence> {
        self.script.steps.push("eof".into());
        let name = self.slots[s].name.clone();
        let conn = self.slots[s].conn.as_mut().expect("open");
        match conn.expect_eof().await {
            Ok(None) => {
                self.note(&name, Dir::Note, "closed by the server".into());
                Ok(())
            }
            Ok(Some(l)) => Err(self.diverge("the connection closed", printable(&l.bytes), rule)),
            Err(e) => Err(self.wire(&e, rule, "the connection closed")),
        }
    }

    fn keyword(&self, op: &Op, word: &str) -> String {
        op.case.apply(word)
    }

    /// The number to send for `r` in session `s`, and what it names.
    fn pick(&self, s: usize, r: MsgRef) -> (u64, Pick) {
        let Phase::Transaction(view) = &self.slots[s].phase else {
            return match r {
                MsgRef::Zero => (0, Pick::Zero),
                MsgRef::Huge => (HUGE, Pick::Missing),
                MsgRef::Live(k) | MsgRef::Deleted(k) | MsgRef::Beyond(k) => {
                    (1 + u64::from(k % 4), Pick::Missing)
                }
            };
        };
        let n = view.numbered.len() as u64;
        let beyond = |k: u8| (n + 1 + u64::from(k % 3), Pick::Missing);
        match r {
            MsgRef::Zero => (0, Pick::Zero),
            MsgRef::Huge => (HUGE, Pick::Missing),
            MsgRef::Beyond(k) => beyond(k),
            MsgRef::Live(k) => {
                let live = view.live();
                if live.is_empty() {
                    return beyond(k);
                }
                let m = live[usize::from(k) % live.len()];
                (m, Pick::Live(view.numbered[m as usize - 1]))
            }
            MsgRef::Deleted(k) => {
                let marked = view.marked();
                if marked.is_empty() {
                    return beyond(k);
                }
                (marked[usize::from(k) % marked.len()], Pick::Deleted)
            }
        }
    }

    /// The rule an -ERR for a picked number answers to.
    fn refused_rule(pick: Pick, arg_rule: Rule) -> Rule {
        match pick {
            Pick::Zero | Pick::Missing => rules::NUMBERS,
            _ => arg_rule,
        }
    }

    pub(crate) fn in_transaction(&self, s: usize) -> bool {
        matches!(self.slots[s].phase, Phase::Transaction(_))
    }

    pub(crate) fn pending(&self, s: usize) -> Option<Who> {
        match self.slots[s].phase {
            Phase::Authorization { pending } => pending,
            Phase::Transaction(_) => None,
        }
    }

    /// Whether `op` means something definite here; ambiguous or impossible steps are left out
    /// (the RFC leaves, say, a second USER after a successful one to the server).
    fn meaningful(&self, op: &Op) -> bool {
        let s = op.session as usize;
        let open = self.slots[s].conn.is_some();
        let caps = self.env.caps;
        let pending = open && self.pending(s).is_some();
        let stamp = open && self.slots[s].stamp.is_some();
        let auth = open && !self.in_transaction(s);
        match op.cmd {
            Cmd::Quit | Cmd::Drop => open,
            Cmd::Login(Method::UserPass) | Cmd::User(_) | Cmd::Pass(_) => {
                caps.user && !(auth && pending && !matches!(op.cmd, Cmd::Pass(_)))
            }
            Cmd::Login(Method::Apop) | Cmd::Apop(_) => stamp && !pending,
            Cmd::Login(Method::AuthPlain) | Cmd::AuthPlain(_) => caps.plain && !pending,
            Cmd::Uidl(_) => caps.uidl,
            Cmd::Top(..) => caps.top,
            _ => true,
        }
    }

    async fn apply(&mut self, op: &Op) -> Result<(), Divergence> {
        let s = op.session as usize;
        // APOP needs to know whether the greeting has a timestamp: open first
        if !matches!(op.cmd, Cmd::Quit | Cmd::Drop) {
            let could = match op.cmd {
                Cmd::Login(Method::Apop) | Cmd::Apop(_) => true,
                _ => self.meaningful(op),
            };
            if !could {
                return Ok(());
            }
            self.ensure_open(s).await?;
        }
        if !self.meaningful(op) {
            return Ok(());
        }
        self.ensure_open(s).await?;
        match op.cmd {
            Cmd::Login(method) => self.login(s, op, method).await,
            Cmd::User(who) => self.user(s, op, who).await,
            Cmd::Pass(secret) => self.pass(s, op, secret).await,
            Cmd::Apop(secret) => self.apop(s, op, secret).await,
            Cmd::AuthPlain(secret) => self.auth_plain(s, op, secret).await,
            Cmd::Quit => self.quit(s, op).await,
            Cmd::Drop => {
                let name = self.slots[s].name.clone();
                self.script.steps.push("drop".into());
                self.note(&name, Dir::Note, "drop (no QUIT)".into());
                if let Some(mut c) = self.slots[s].conn.take() {
                    c.close().await;
                }
                self.closed(s);
                Ok(())
            }
            _ if !self.in_transaction(s) => self.too_early(s, op).await,
            _ => self.transaction(s, op).await,
        }
    }

    /// A TRANSACTION command in AUTHORIZATION: -ERR (RFC 1939 §3).
    async fn too_early(&mut self, s: usize, op: &Op) -> Result<(), Divergence> {
        let line = match op.cmd {
            Cmd::Stat => self.keyword(op, "STAT"),
            Cmd::List(r) => self.with_arg(s, op, "LIST", r),
            Cmd::Uidl(r) => self.with_arg(s, op, "UIDL", r),
            Cmd::Retr(r) => self.with_arg(s, op, "RETR", Some(r)),
            Cmd::Top(r, k) => format!("{} {k}", self.with_arg(s, op, "TOP", Some(r))),
            Cmd::Dele(r) => self.with_arg(s, op, "DELE", Some(r)),
            Cmd::Rset => self.keyword(op, "RSET"),
            Cmd::Noop => self.keyword(op, "NOOP"),
            _ => unreachable!("AUTHORIZATION commands are handled apart"),
        };
        self.send(s, line.clone(), literal(&line), line).await?;
        self.status(s, Want::Err, None, rules::WRONG_STATE).await?;
        Ok(())
    }

    fn with_arg(&self, s: usize, op: &Op, word: &str, r: Option<MsgRef>) -> String {
        match r {
            None => self.keyword(op, word),
            Some(r) => format!("{} {}", self.keyword(op, word), self.pick(s, r).0),
        }
    }

    /// Enters TRANSACTION after a +OK to a login.
    fn logged_in(&mut self, s: usize) {
        self.slots[s].phase = Phase::Transaction(View::of(&self.maildrop));
        self.slots[s].may_close = false;
        self.lock = Some(s);
    }

    /// What a good login must get: +OK, or -ERR while the other session holds the lock.
    fn login_want(&self, s: usize, ok_rule: Rule) -> (Want, Rule) {
        match self.lock {
            Some(other) if other != s => (Want::Err, rules::LOCK),
            _ => (Want::Ok, ok_rule),
        }
    }

    async fn finish_login(&mut self, s: usize, ok_rule: Rule) -> Result<(), Divergence> {
        let (want, rule) = self.login_want(s, ok_rule);
        let (got, _) = self.status(s, want, None, rule).await?;
        if got == Got::Ok {
            self.logged_in(s);
        } else if let Phase::Authorization { pending } = &mut self.slots[s].phase {
            *pending = None;
        }
        Ok(())
    }

    async fn login(&mut self, s: usize, op: &Op, method: Method) -> Result<(), Divergence> {
        if self.in_transaction(s) {
            // every login command is out of state now (RFC 1939 §3)
            return match method {
                Method::UserPass => {
                    self.user(s, op, Who::Good).await?;
                    self.pass(s, op, Secret::Good).await
                }
                Method::Apop => self.apop(s, op, Secret::Good).await,
                Method::AuthPlain => self.auth_plain(s, op, Secret::Good).await,
            };
        }
        match method {
            Method::UserPass => {
                self.user(s, op, Who::Good).await?;
                if self.slots[s].conn.is_none() || self.pending(s) != Some(Who::Good) {
                    return Ok(());
                }
                self.pass(s, op, Secret::Good).await
            }
            Method::Apop => self.apop(s, op, Secret::Good).await,
            Method::AuthPlain => self.auth_plain(s, op, Secret::Good).await,
        }
    }

    async fn user(&mut self, s: usize, op: &Op, who: Who) -> Result<(), Divergence> {
        let word = self.keyword(op, "USER");
        let (wire, script) = match who {
            Who::Good => (
                format!("{word} {}", self.env.endpoint.profile.user),
                format!("{word} {{user}}"),
            ),
            Who::Unknown => (
                format!("{word} no-such-mailbox-c0nf"),
                format!("{word} no-such-mailbox-c0nf"),
            ),
        };
        self.script.requires.insert("USER");
        self.send(s, wire.clone(), script, wire).await?;
        if self.in_transaction(s) {
            self.status(s, Want::Err, None, rules::WRONG_STATE).await?;
            return Ok(());
        }
        let want = match who {
            Who::Good => Want::Ok,
            Who::Unknown => Want::Either,
        };
        let (got, _) = self.status(s, want, None, rules::USER).await?;
        if let Phase::Authorization { pending } = &mut self.slots[s].phase {
            *pending = (got == Got::Ok).then_some(who);
        }
        Ok(())
    }

    async fn pass(&mut self, s: usize, op: &Op, secret: Secret) -> Result<(), Divergence> {
        let word = self.keyword(op, "PASS");
        let (wire, script) = match secret {
            Secret::Good => (
                format!("{word} {}", self.env.endpoint.profile.password),
                format!("{word} {{password}}"),
            ),
            Secret::Wrong => (
                format!("{word} not-the-password-c0nf"),
                format!("{word} not-the-password-c0nf"),
            ),
        };
        self.script.requires.insert("USER");
        self.send(s, wire, script, format!("{word} ***")).await?;
        if self.in_transaction(s) {
            self.status(s, Want::Err, None, rules::WRONG_STATE).await?;
            return Ok(());
        }
        match (self.pending(s), secret) {
            (Some(Who::Good), Secret::Good) => self.finish_login(s, rules::LOGIN).await,
            (pending, _) => {
                let rule = if pending.is_none() {
                    rules::PASS_AFTER_USER
                } else {
                    rules::PASS
                };
                self.status(s, Want::Err, None, rule).await?;
                if let Phase::Authorization { pending } = &mut self.slots[s].phase {
                    *pending = None;
                }
                Ok(())
            }
        }
    }

    async fn apop(&mut self, s: usize, op: &Op, secret: Secret) -> Result<(), Divergence> {
        let word = self.keyword(op, "APOP");
        let user = self.env.endpoint.profile.user.clone();
        let (wire, script) = match (&self.slots[s].stamp, secret) {
            (Some((var, stamp)), Secret::Good) => (
                format!(
                    "{word} {user} {}",
                    apop::digest(stamp, &self.env.endpoint.profile.password)
                ),
                format!("{word} {{user}} {{apop({var}, password)}}"),
            ),
            (Some((var, stamp)), Secret::Wrong) => (
                format!(
                    "{word} {user} {}",
                    apop::digest(stamp, "not-the-password-c0nf")
                ),
                format!("{word} {{user}} {{apop({var}, \"not-the-password-c0nf\")}}"),
            ),
            (None, _) => {
                let digest = "0".repeat(32);
                (
                    format!("{word} {user} {digest}"),
                    format!("{word} {{user}} {digest}"),
                )
            }
        };
        self.script.requires.insert("APOP");
        self.send(s, wire, script, format!("{word} {user} ***"))
            .await?;
        if self.in_transaction(s) {
            self.status(s, Want::Err, None, rules::WRONG_STATE).await?;
            return Ok(());
        }
        match secret {
            Secret::Good => self.finish_login(s, rules::APOP).await,
            Secret::Wrong => {
                self.status(s, Want::Err, None, rules::APOP_WRONG).await?;
                Ok(())
            }
        }
    }

    async fn auth_plain(&mut self, s: usize, op: &Op, secret: Secret) -> Result<(), Divergence> {
        let word = self.keyword(op, "AUTH");
        let user = self.env.endpoint.profile.user.clone();
        let password = match secret {
            Secret::Good => self.env.endpoint.profile.password.clone(),
            Secret::Wrong => "not-the-password-c0nf".into(),
        };
        let message = pop3_proto::auth::plain::Plain {
            authzid: String::new(),
            authcid: user,
            passwd: password,
        };
        let script = match secret {
            Secret::Good => format!("{word} PLAIN {{plain(\"\", user, password)}}"),
            Secret::Wrong => {
                format!("{word} PLAIN {{plain(\"\", user, \"not-the-password-c0nf\")}}")
            }
        };
        self.script.requires.insert("SASL PLAIN");
        self.send(
            s,
            format!("{word} PLAIN {}", message.to_base64()),
            script,
            format!("{word} PLAIN ***"),
        )
        .await?;
        if self.in_transaction(s) {
            self.status(s, Want::Err, None, rules::WRONG_STATE).await?;
            return Ok(());
        }
        match secret {
            Secret::Good => self.finish_login(s, rules::AUTH).await,
            Secret::Wrong => {
                self.status(s, Want::Err, None, rules::AUTH_FAILED).await?;
                Ok(())
            }
        }
    }

    async fn quit(&mut self, s: usize, op: &Op) -> Result<(), Divergence> {
        let word = self.keyword(op, "QUIT");
        self.send(s, word.clone(), literal(&word), word).await?;
        let update = match &self.slots[s].phase {
            Phase::Transaction(view) => Some(view.marked_identities()),
            Phase::Authorization { .. } => None,
        };
        let rule = if update.is_some() {
            rules::UPDATE
        } else {
            rules::QUIT_AUTHORIZATION
        };
        let (got, _) = self.status(s, Want::Ok, None, rule).await?;
        if got == Got::Closed {
            return Ok(());
        }
        self.expect_eof(s, rule).await?;
        if let Some(gone) = update {
            if !gone.is_empty() {
                self.script.mutates = true;
            }
            self.maildrop.expunge(&gone);
        }
        self.slots[s].conn = None;
        self.closed(s);
        Ok(())
    }

    async fn transaction(&mut self, s: usize, op: &Op) -> Result<(), Divergence> {
        match op.cmd {
            Cmd::Stat => self.stat(s, op).await,
            Cmd::List(None) => self.list_all(s, op).await,
            Cmd::List(Some(r)) => self.list_one(s, op, r).await,
            Cmd::Uidl(None) => self.uidl_all(s, op).await,
            Cmd::Uidl(Some(r)) => self.uidl_one(s, op, r).await,
            Cmd::Retr(r) => self.retr(s, op, r, None).await,
            Cmd::Top(r, k) => self.retr(s, op, r, Some(k)).await,
            Cmd::Dele(r) => self.dele(s, op, r).await,
            Cmd::Rset | Cmd::Noop => {
                let rset = op.cmd == Cmd::Rset;
                let word = self.keyword(op, if rset { "RSET" } else { "NOOP" });
                self.send(s, word.clone(), literal(&word), word).await?;
                self.status(
                    s,
                    Want::Ok,
                    None,
                    if rset { rules::RSET } else { rules::NOOP },
                )
                .await?;
                if rset {
                    if let Phase::Transaction(v) = &mut self.slots[s].phase {
                        v.deleted.iter_mut().for_each(|d| *d = false);
                    }
                }
                Ok(())
            }
            _ => unreachable!("AUTHORIZATION commands are handled apart"),
        }
    }

    pub(crate) fn view(&self, s: usize) -> &View {
        match &self.slots[s].phase {
            Phase::Transaction(v) => v,
            Phase::Authorization { .. } => unreachable!("TRANSACTION only"),
        }
    }

    pub(crate) fn view_mut(&mut self, s: usize) -> &mut View {
        match &mut self.slots[s].phase {
            Phase::Transaction(v) => v,
            Phase::Authorization { .. } => unreachable!("TRANSACTION only"),
        }
    }

    /// The scenario variable for the size session `s` gives message `n` (one per session:
    /// sizes are not carried from one session to the next).
    fn size_var(&self, s: usize, n: u64) -> String {
        format!("size_{}_{n}", self.slots[s].name)
    }

    /// The scenario pattern for the size session `s` gives message `n`: a capture the first
    /// time in the session, a back-reference after.
    fn size_pattern(&self, s: usize, n: u64) -> String {
        let var = self.size_var(s, n);
        if self.view(s).size(n).is_some() {
            format!("{{{var}}}")
        } else {
            format!("{{{var}:\\d+}}")
        }
    }

    /// Makes sure the scenario has captured the size session `s` gives message `n` before
    /// the command just written (a `LIST n` the scenario sends, the model does not), and
    /// returns its variable.
    fn size_in_scenario(&mut self, s: usize, n: u64) -> String {
        let var = self.size_var(s, n);
        if self.view(s).size(n).is_none() {
            let sent = self.script.steps.pop().expect("the C: line");
            self.script.steps.push(format!("C: LIST {n}"));
            self.script
                .steps
                .push(format!("S: +OK {n} {{{var}:\\d+}} {{*}}"));
            self.script.steps.push(sent);
        }
        var
    }

    /// Learns a size session `s` gives message `n` (by `by`), judged against what the session
    /// said before.
    fn learn_size(&mut self, s: usize, n: u64, octets: u64, by: &str) -> Result<(), Divergence> {
        match self.view_mut(s).learn_size(n, octets, by) {
            Ok(()) => Ok(()),
            Err(c) => Err(self.conflict(s, c, by)),
        }
    }

    /// A session contradicting itself, as a divergence; the scenario gets what it needs to
    /// fail there too.
    fn conflict(&mut self, s: usize, c: Conflict, now: &str) -> Divergence {
        match c {
            Conflict::Size { n, before, octets } => self.diverge(
                format!(
                    "message {n} in {} octets, as `{}` gave it earlier in this session",
                    before.octets, before.by
                ),
                format!("{octets} octets (`{now}`)"),
                rules::SCAN,
            ),
            Conflict::Sum { stat, sum } => {
                let st = self.view(s).stats[stat].clone();
                // the scenario lists the messages right before that STAT and compares the sum
                // of the sizes with its total (the sizes in the scenario are all captures of
                // the same session, so a compliant server passes it)
                let list = format!("list_{}", st.var);
                let lines = [
                    "C: LIST".to_owned(),
                    "S: +OK {*}".to_owned(),
                    format!("S*: {{/\\d+/}} {{{list}:\\d+}} {{*}}"),
                    "S: .".to_owned(),
                ];
                let at = st.at.min(self.script.steps.len());
                self.script.steps.splice(at..at, lines);
                self.script
                    .steps
                    .push(format!("assert sum({list}) == {}", st.var));
                let numbers: Vec<String> = st.live.iter().map(u64::to_string).collect();
                let numbers = if numbers.is_empty() {
                    "(none)".to_owned()
                } else {
                    numbers.join(", ")
                };
                let rule = if st.marked {
                    rules::STAT_DELETED
                } else {
                    rules::STAT
                };
                if now == "STAT" {
                    self.diverge(
                        format!("a total of {sum} octets, the sum of the sizes this session gives messages {numbers}"),
                        format!("a total of {}", st.total),
                        rule,
                    )
                } else {
                    self.diverge(
                        format!("sizes of messages {numbers} that add up to {}, the total an earlier STAT of this session gave", st.total),
                        format!("sizes that add up to {sum}"),
                        rule,
                    )
                }
            }
            Conflict::Totals { stat, other } => {
                let view = self.view(s);
                let (st, earlier) = (view.stats[stat].clone(), view.stats[other].clone());
                self.script
                    .steps
                    .push(format!("assert {} == {}", st.var, earlier.var));
                self.diverge(
                    format!(
                        "a STAT total of {} octets, as an earlier STAT of this session gave for the same messages",
                        earlier.total
                    ),
                    format!("a total of {}", st.total),
                    if st.marked {
                        rules::STAT_DELETED
                    } else {
                        rules::STAT
                    },
                )
            }
        }
    }

    /// What STAT must answer in session `s`: the count, the scenario variable for the total
    /// and the scenario pattern.
    pub(crate) fn stat_expect(&self, s: usize) -> (usize, String, String) {
        let view = self.view(s);
        let count = view.live().len();
        let var = format!("stat_{}_{}", self.slots[s].name, view.stats.len() + 1);
        let pattern = format!("+OK {count} {{{var}:\\d+}} {{*}}");
        (count, var, pattern)
    }

    /// Judges a STAT answer of session `s` (the count exact, the total consistent with the
    /// sizes the session gives) and learns it; `at` is where the scenario sent the STAT.
    pub(crate) fn stat_judge(
        &mut self,
        s: usize,
        line: &[u8],
        count: usize,
        var: String,
        at: usize,
    ) -> Result<(), Divergence> {
        let view = self.view(s);
        let live = view.live();
        let marked = !view.marked().is_empty();
        let rule = if marked {
            rules::STAT_DELETED
        } else {
            rules::STAT
        };
        let prefix = format!("+OK {count} ");
        let Some(total) = scan_number(line, &prefix) else {
            return Err(self.diverge(
                format!("{prefix}followed by the size of the maildrop in octets"),
                printable(line),
                rule,
            ));
        };
        let stat = Stat {
            live,
            total,
            marked,
            var,
            at,
        };
        match self.view_mut(s).learn_stat(stat) {
            Ok(()) => Ok(()),
            Err(c) => Err(self.conflict(s, c, "STAT")),
        }
    }

    async fn stat(&mut self, s: usize, op: &Op) -> Result<(), Divergence> {
        let (count, var, pattern) = self.stat_expect(s);
        let rule = if self.view(s).marked().is_empty() {
            rules::STAT
        } else {
            rules::STAT_DELETED
        };
        let word = self.keyword(op, "STAT");
        let at = self.script.steps.len();
        self.send(s, word.clone(), literal(&word), word).await?;
        let (_, line) = self.status(s, Want::Ok, Some(pattern), rule).await?;
        self.stat_judge(s, &line.bytes, count, var, at)
    }

    async fn list_all(&mut self, s: usize, op: &Op) -> Result<(), Divergence> {
        let view = self.view(s);
        let marked = !view.marked().is_empty();
        let expected: Vec<u64> = view.live();
        let patterns: Vec<String> = expected
            .iter()
            .map(|&n| format!("S: {n} {} {{*}}", self.size_pattern(s, n)))
            .collect();
        let word = self.keyword(op, "LIST");
        self.send(s, word.clone(), literal(&word), word).await?;
        self.status(s, Want::Ok, None, rules::SCAN).await?;
        self.script.steps.extend(patterns);
        self.script.steps.push("S: .".into());
        let lines = self.body(s).await?;
        let rule = if marked {
            rules::LIST_DELETED
        } else {
            rules::SCAN
        };
        for (i, &n) in expected.iter().enumerate() {
            let want = format!("scan listing `{n} SIZE`");
            match lines.get(i) {
                Some(l) => match scan_number(l, &format!("{n} ")) {
                    Some(octets) => self.learn_size(s, n, octets, "LIST")?,
                    None => return Err(self.diverge(want, printable(l), rule)),
                },
                None => return Err(self.diverge(want, "the end of the listing", rule)),
            }
        }
        if let Some(extra) = lines.get(expected.len()) {
            return Err(self.diverge("the end of the listing", printable(extra), rule));
        }
        Ok(())
    }

    async fn list_one(&mut self, s: usize, op: &Op, r: MsgRef) -> Result<(), Divergence> {
        let (n, pick) = self.pick(s, r);
        let line = format!("{} {n}", self.keyword(op, "LIST"));
        self.send(s, line.clone(), literal(&line), line).await?;
        match pick {
            Pick::Live(_) => {
                let pattern = format!("+OK {n} {} {{*}}", self.size_pattern(s, n));
                let (_, got) = self.status(s, Want::Ok, Some(pattern), rules::SCAN).await?;
                match scan_number(&got.bytes, &format!("+OK {n} ")) {
                    Some(octets) => self.learn_size(s, n, octets, &format!("LIST {n}"))?,
                    None => {
                        return Err(self.diverge(
                            format!("+OK {n} SIZE"),
                            printable(&got.bytes),
                            rules::SCAN,
                        ))
                    }
                }
            }
            _ => {
                self.status(
                    s,
                    Want::Err,
                    None,
                    Self::refused_rule(pick, rules::LIST_ARG),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// The scenario pattern for message `identity`'s unique-id: a capture the first time, a
    /// back-reference after.
    fn uid_pattern(&self, identity: usize) -> String {
        if self.uids.iter().any(|(i, _)| *i == identity) {
            format!("{{uid_{identity}}}")
        } else {
            format!("{{uid_{identity}:[!-~]{{1,70}}}}")
        }
    }

    /// Judges one unique-id for `identity` (format, persistence, uniqueness) and learns it.
    fn judge_uid(&mut self, identity: usize, uid: &[u8]) -> Result<(), Divergence> {
        let text = String::from_utf8_lossy(uid).into_owned();
        if uid.is_empty() || uid.len() > 70 || !uid.iter().all(|b| (0x21..=0x7e).contains(b)) {
            return Err(self.diverge(
                "a unique-id of 1 to 70 characters 0x21-0x7E",
                printable(uid),
                rules::UID,
            ));
        }
        if let Some((_, known)) = self.uids.iter().find(|(i, _)| *i == identity) {
            if *known != text {
                return Err(self.diverge(
                    format!("unique-id `{known}` (as before)"),
                    text,
                    rules::UID_PERSISTS,
                ));
            }
            return Ok(());
        }
        if let Some((other, _)) = self.uids.iter().find(|(_, u)| *u == text) {
            let other = *other;
            self.script
                .steps
                .push(format!("assert uid_{identity} != uid_{other}"));
            return Err(self.diverge(
                format!("a unique-id other than message identity {other}'s"),
                text,
                rules::UID,
            ));
        }
        self.uids.push((identity, text));
        Ok(())
    }

    async fn uidl_all(&mut self, s: usize, op: &Op) -> Result<(), Divergence> {
        let view = self.view(s);
        let marked = !view.marked().is_empty();
        let expected: Vec<(u64, usize)> = view
            .live()
            .iter()
            .map(|&n| (n, view.numbered[n as usize - 1]))
            .collect();
        let word = self.keyword(op, "UIDL");
        self.script.requires.insert("UIDL");
        self.send(s, word.clone(), literal(&word), word).await?;
        self.status(s, Want::Ok, None, rules::UIDL_FORMAT).await?;
        // the patterns are written before the lines are judged: captures first, then
        // back-references, in the order the scenario will see them
        let mut seen = Vec::new();
        for &(n, id) in &expected {
            let p = self.uid_pattern(id);
            self.script.steps.push(format!("S: {n} {p}"));
            seen.push(id);
        }
        self.script.steps.push("S: .".into());
        let lines = self.body(s).await?;
        let rule = if marked {
            rules::LIST_DELETED
        } else {
            rules::UIDL_FORMAT
        };
        for (i, &(n, id)) in expected.iter().enumerate() {
            let Some(line) = lines.get(i) else {
                return Err(self.diverge(
                    format!("unique-id listing of message {n}"),
                    "the end of the listing",
                    rule,
                ));
            };
            let prefix = format!("{n} ");
            let Some(uid) = line.strip_prefix(prefix.as_bytes()) else {
                return Err(self.diverge(
                    format!("unique-id listing of message {n}"),
                    printable(line),
                    rule,
                ));
            };
            self.judge_uid(id, uid)?;
        }
        if let Some(extra) = lines.get(expected.len()) {
            return Err(self.diverge("the end of the listing", printable(extra), rule));
        }
        Ok(())
    }

    async fn uidl_one(&mut self, s: usize, op: &Op, r: MsgRef) -> Result<(), Divergence> {
        let (n, pick) = self.pick(s, r);
        let line = format!("{} {n}", self.keyword(op, "UIDL"));
        self.script.requires.insert("UIDL");
        self.send(s, line.clone(), literal(&line), line).await?;
        match pick {
            Pick::Live(id) => {
                let p = self.uid_pattern(id);
                let (_, got) = self
                    .status(
                        s,
                        Want::Ok,
                        Some(format!("+OK {n} {p}")),
                        rules::UIDL_FORMAT,
                    )
                    .await?;
                let prefix = format!("+OK {n} ");
                let Some(uid) = got.bytes.strip_prefix(prefix.as_bytes()) else {
                    return Err(self.diverge(
                        format!("+OK {n} unique-id"),
                        printable(&got.bytes),
                        rules::UIDL_FORMAT,
                    ));
                };
                self.judge_uid(id, uid)?;
            }
            _ => {
                self.status(
                    s,
                    Want::Err,
                    None,
                    Self::refused_rule(pick, rules::UIDL_ARG),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// RETR n, or TOP n k with `top: Some(k)`.
    async fn retr(
        &mut self,
        s: usize,
        op: &Op,
        r: MsgRef,
        top: Option<u8>,
    ) -> Result<(), Divergence> {
        let (n, pick) = self.pick(s, r);
        let line = match top {
            None => format!("{} {n}", self.keyword(op, "RETR")),
            Some(k) => format!("{} {n} {k}", self.keyword(op, "TOP")),
        };
        if top.is_some() {
            self.script.requires.insert("TOP");
        }
        self.send(s, line.clone(), literal(&line), line).await?;
        let (arg_rule, rule) = match top {
            None => (rules::RETR_ARG, rules::RETR),
            Some(_) => (rules::TOP_ARG, rules::TOP),
        };
        let Pick::Live(id) = pick else {
            self.status(s, Want::Err, None, Self::refused_rule(pick, arg_rule))
                .await?;
            return Ok(());
        };
        let message = self
            .maildrop
            .get(id)
            .cloned()
            .expect("live messages are in the maildrop");
        let exact = self.view(s).exact[n as usize - 1].clone();
        // TOP sends the whole message when the count reaches past the body (RFC 1939 §7):
        // then it is a RETR (the body, hence its line count, is the same in every session)
        let whole = match top {
            None => true,
            Some(k) => exact
                .as_ref()
                .or(message.content.as_ref())
                .is_some_and(|c| top_cut(c, u32::from(k)) == c.len()),
        };
        // the octets are compared with the size the same session gives (in the scenario: a
        // LIST n it sends first when the model has no size for n from this session yet)
        let size_var = whole.then(|| self.size_in_scenario(s, n));
        self.status(s, Want::Ok, None, rule).await?;
        let mut checks = Vec::new();
        if let Some(var) = &size_var {
            checks.push(format!("octets={var}"));
        }
        match (top, message.fixture) {
            (None, Some(f)) => checks.push(format!("fixture={f}")),
            (Some(k), Some(f)) => checks.push(format!("top={f},{k}")),
            _ => {}
        }
        self.script.steps.push(if checks.is_empty() {
            "B:".into()
        } else {
            format!("B: {}", checks.join(" "))
        });
        let lines = self.body(s).await?;
        let mut got = Vec::new();
        for l in &lines {
            got.extend_from_slice(l);
            got.extend_from_slice(b"\r\n");
        }
        let by = match top {
            None => format!("RETR {n}"),
            Some(k) => format!("TOP {n} {k}"),
        };
        if whole {
            self.learn_size(s, n, got.len() as u64, &by)?;
        }
        let k = top.map_or(u32::MAX, u32::from);
        let what = match top {
            None => "the message".to_owned(),
            Some(k) => format!("the headers, the blank line and {k} body lines"),
        };
        if let Some(c) = &exact {
            // within the session: the same octets (RFC 1939 §4)
            let want = &c[..top_cut(c, k)];
            if want != got.as_slice() {
                return Err(self.diverge(
                    format!(
                        "{what} as this session sent it before ({} octets, the same octets)",
                        want.len()
                    ),
                    format!("{} lines, {} octets, not the same", lines.len(), got.len()),
                    rules::UNMODIFIED,
                ));
            }
        } else if let Some(c) = &message.content {
            // across sessions: the same message, header fields may have been added
            let want = &c[..top_cut(c, k)];
            // same_message allows added header fields; the blank line that ends the header
            // is no header field: if the message has one, so must the answer (RFC 1939 §7)
            if !same_message(&got, want) || (has_blank_line(want) && !has_blank_line(&got)) {
                let known = match message.fixture {
                    Some(f) => format!("fixture message {f}"),
                    None => "the message as first retrieved".to_owned(),
                };
                return Err(self.diverge(
                    format!(
                        "{what} of {known} (the body octet for octet, every header line in order, header fields may be added)"
                    ),
                    format!("{} lines, {} octets, not that message", lines.len(), got.len()),
                    if top.is_some() { rules::TOP } else { rules::RETR },
                ));
            }
        }
        if whole {
            let got = Arc::new(got);
            self.view_mut(s).exact[n as usize - 1] = Some(got.clone());
            if let Some(m) = self.maildrop.get_mut(id) {
                m.content.get_or_insert(got);
            }
        }
        Ok(())
    }

    async fn dele(&mut self, s: usize, op: &Op, r: MsgRef) -> Result<(), Divergence> {
        let (n, pick) = self.pick(s, r);
        let line = format!("{} {n}", self.keyword(op, "DELE"));
        self.send(s, line.clone(), literal(&line), line).await?;
        match pick {
            Pick::Live(_) => {
                self.status(s, Want::Ok, None, rules::DELE).await?;
                self.script.mutates = true;
                if let Phase::Transaction(v) = &mut self.slots[s].phase {
                    v.deleted[n as usize - 1] = true;
                }
            }
            _ => {
                let rule = if pick == Pick::Deleted {
                    rules::DELE
                } else {
                    Self::refused_rule(pick, rules::DELE_ARG)
                };
                self.status(s, Want::Err, None, rule).await?;
            }
        }
        Ok(())
    }
}

/// Whether `line` starts with the status `word`, alone or followed by a space.
pub(crate) fn is_status(line: &[u8], word: &[u8]) -> bool {
    line.strip_prefix(word)
        .is_some_and(|rest| rest.is_empty() || rest[0] == b' ')
}

/// Whether `message` (CRLF) has the empty line that ends its header.
fn has_blank_line(message: &[u8]) -> bool {
    message.starts_with(b"\r\n") || message.windows(4).any(|w| w == b"\r\n\r\n")
}

/// The number after `prefix` in `line`, alone or followed by a space and more (RFC 1939 §5:
/// "no requirement on what follows").
pub(crate) fn scan_number(line: &[u8], prefix: &str) -> Option<u64> {
    let rest = line.strip_prefix(prefix.as_bytes())?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let after = &rest[digits..];
    if digits == 0 || !(after.is_empty() || after[0] == b' ') {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// The APOP timestamp of a greeting (RFC 1939 §7: a msg-id in angle brackets).
fn regex_stamp(greeting: &str) -> Option<String> {
    let start = greeting.find('<')?;
    let end = greeting[start..].find('>')? + start;
    let stamp = &greeting[start..=end];
    (stamp.len() > 2 && !stamp[1..stamp.len() - 1].contains('<')).then(|| stamp.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_words() {
        assert!(is_status(b"+OK", b"+OK"));
        assert!(is_status(b"+OK 2 320", b"+OK"));
        assert!(!is_status(b"+OKAY", b"+OK"));
        assert!(!is_status(b"ERR x", b"-ERR"));
    }

    #[test]
    fn numbers_after_a_prefix() {
        assert_eq!(scan_number(b"+OK 2 320", "+OK 2 "), Some(320));
        assert_eq!(scan_number(b"+OK 2 320 more", "+OK 2 "), Some(320));
        assert_eq!(scan_number(b"3 1200", "3 "), Some(1200));
        assert_eq!(scan_number(b"+OK 2 320x", "+OK 2 "), None);
        assert_eq!(scan_number(b"+OK 2 ", "+OK 2 "), None);
        assert_eq!(scan_number(b"+OK 3 320", "+OK 2 "), None);
        assert_eq!(scan_number(b"4 99999999999999999999999", "4 "), None);
    }

    #[test]
    fn stamps() {
        assert_eq!(
            regex_stamp("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>").as_deref(),
            Some("<1896.697170952@dbc.mtview.ca.us>")
        );
        assert_eq!(regex_stamp("+OK ready"), None);
        assert_eq!(regex_stamp("+OK <>"), None);
    }

    #[test]
    fn literals_escape_braces() {
        assert_eq!(literal("a{b}"), "a{{b}}");
    }
}
