//! Runs one generated sequence against a real target: sends each command, judges each reply
//! against what the model allows, keeps the model's state, and records the sequence as a
//! typed scenario as it goes ([`Script`]: so the sequence proptest shrinks to is also a file
//! `conform run` replays).
//!
//! Where the RFC leaves the server a choice (USER of an unknown mailbox may get +OK or -ERR,
//! RFC 1939 §7; after a refused login the server may close, §4), every allowed answer is
//! accepted and the model follows the branch the server took; the scenario records that
//! branch, with a comment.
//!
//! One job per room: [`connection`] drives the connections (greeting, send, multi-line
//! bodies, close), [`judge`] judges status lines and replies, [`login`] is the AUTHORIZATION
//! state (RFC 1939 §4, §7; RFC 5034), [`transaction`] the TRANSACTION commands (§5, §7) and
//! QUIT (§6), [`listing`] the scan and unique-id listings, [`retrieval`] RETR and TOP,
//! [`sizes`] what a session says about sizes (§4: unchanged within a session), [`hostile`]
//! the fuzzer's hostile steps, [`script`] the scenario being recorded.

mod connection;
mod hostile;
mod judge;
mod listing;
mod login;
mod retrieval;
pub mod script;
mod sizes;
mod transaction;

use std::time::Instant;

use client::transport::{Conn, WireError};

use crate::maildrop::{Maildrop, View};
pub use crate::ops::SequenceStep;
use crate::ops::{Cmd, Method, MsgRef, Op, Who};
use crate::rules::Rule;
pub use crate::transcript::{Dir, TranscriptLine};
pub use script::Script;

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
    /// The SCRAM mechanism a SCRAM login uses: SCRAM-SHA-256 when announced, else
    /// SCRAM-SHA-1, else none (RFC 5034 §3: SASL in CAPA).
    pub scram: Option<pop3_proto::auth::scram::Mechanism>,
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
            scram: None,
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
    pub op: Box<SequenceStep>,
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

/// What running a sequence gave.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Commands sent.
    pub commands: u64,
    /// The wire log.
    pub transcript: Vec<TranscriptLine>,
    /// The scenario, up to and including the step that diverged.
    pub script: Script,
    /// The first divergence, if any.
    pub divergence: Option<Divergence>,
    /// Connections opened.
    pub connections: usize,
}

/// The RFC 1939 §3 state of a client's session, as the model keeps it.
#[derive(Debug)]
pub(crate) enum ClientState {
    /// AUTHORIZATION, with the mailbox of a USER answered +OK and not yet followed by PASS.
    Authorization { pending: Option<Who> },
    /// TRANSACTION: the session's view of the maildrop.
    Transaction(View),
}

/// One client of the sequence: its connection, if open, and its session's state.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) conn: Option<Conn>,
    /// The connection's index in the scenario (0 is `main`, LANGUAGE.md §3.8).
    pub(crate) index: usize,
    /// Its name there (`main`, `c2`, ...).
    pub(crate) name: String,
    pub(crate) phase: ClientState,
    /// TLS is on (implicit, or STLS done).
    pub(crate) tls: bool,
    /// The greeting's APOP timestamp and the scenario variable that holds it.
    pub(crate) stamp: Option<(String, String)>,
    /// A -ERR in AUTHORIZATION came: the server may close now (RFC 1939 §4).
    pub(crate) may_close: bool,
}

impl Session {
    fn closed() -> Session {
        Session {
            conn: None,
            index: 0,
            name: String::new(),
            phase: ClientState::Authorization { pending: None },
            tls: false,
            stamp: None,
            may_close: false,
        }
    }
}

/// How a message number was picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pick {
    /// A message not marked deleted, and its identity.
    Live(usize),
    /// A message marked deleted in this session.
    Deleted,
    /// 0 (RFC 1939 §5: numbers start at 1).
    Zero,
    /// No such message.
    Missing,
}

/// One sequence being run: the model's state, the wire log, the scenario.
pub(crate) struct Execution<'a> {
    pub(crate) env: &'a Env,
    pub(crate) maildrop: Maildrop,
    pub(crate) sessions: Vec<Session>,
    /// The session in TRANSACTION (it holds the maildrop lock, RFC 1939 §4).
    pub(crate) lock: Option<usize>,
    pub(crate) connections: usize,
    started: Instant,
    pub(crate) commands: u64,
    transcript: Vec<TranscriptLine>,
    pub(crate) script: Script,
    /// Unique-ids seen in this sequence, by message identity (scenario variable `uid_I`).
    pub(crate) uids: Vec<(usize, String)>,
    step: usize,
    op: SequenceStep,
    pub(crate) sent: String,
}

/// Runs `ops` on `sessions` clients against the target, from a maildrop the model knows.
pub async fn run(env: &Env, start: &Maildrop, ops: &[Op], sessions: u8) -> Outcome {
    let steps: Vec<SequenceStep> = ops.iter().copied().map(SequenceStep::Model).collect();
    run_steps(env, start, &steps, sessions).await
}

/// Runs `steps` (model and hostile) on `sessions` clients against the target.
pub async fn run_steps(
    env: &Env,
    start: &Maildrop,
    steps: &[SequenceStep],
    sessions: u8,
) -> Outcome {
    let mut run = Execution {
        env,
        maildrop: start.clone(),
        sessions: (0..sessions.max(1)).map(|_| Session::closed()).collect(),
        lock: None,
        connections: 0,
        started: Instant::now(),
        commands: 0,
        transcript: Vec::new(),
        script: Script::default(),
        uids: Vec::new(),
        step: 0,
        op: steps.first().cloned().unwrap_or(SequenceStep::Model(Op {
            session: 0,
            cmd: Cmd::Noop,
            case: crate::ops::Spelling::Upper,
        })),
        sent: String::new(),
    };
    let mut divergence = None;
    for (i, step) in steps.iter().enumerate() {
        run.step = i;
        run.op = step.clone();
        let done = match step {
            SequenceStep::Model(op) => run.apply(op).await,
            SequenceStep::Hostile(h) => run.hostile(h).await,
        };
        if let Err(d) = done {
            divergence = Some(d);
            break;
        }
    }
    for session in &mut run.sessions {
        if let Some(mut c) = session.conn.take() {
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

impl Execution<'_> {
    pub(crate) fn note(&mut self, conn: &str, dir: Dir, text: String) {
        self.transcript.push(TranscriptLine {
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

    /// Records `action` on session `s`'s connection.
    pub(crate) fn record(&mut self, s: usize, action: scenario::plan::Action) {
        let index = self.sessions[s].index;
        self.script.push(index, action);
    }

    pub(crate) fn in_transaction(&self, s: usize) -> bool {
        matches!(self.sessions[s].phase, ClientState::Transaction(_))
    }

    pub(crate) fn pending(&self, s: usize) -> Option<Who> {
        match self.sessions[s].phase {
            ClientState::Authorization { pending } => pending,
            ClientState::Transaction(_) => None,
        }
    }

    pub(crate) fn view(&self, s: usize) -> &View {
        match &self.sessions[s].phase {
            ClientState::Transaction(v) => v,
            ClientState::Authorization { .. } => unreachable!("TRANSACTION only"),
        }
    }

    pub(crate) fn view_mut(&mut self, s: usize) -> &mut View {
        match &mut self.sessions[s].phase {
            ClientState::Transaction(v) => v,
            ClientState::Authorization { .. } => unreachable!("TRANSACTION only"),
        }
    }

    /// The keyword `word` as `op` spells it (RFC 1939 §3: case-insensitive).
    pub(crate) fn keyword(op: &Op, word: &str) -> String {
        op.case.apply(word)
    }

    /// Whether `op` means something definite here; ambiguous or impossible steps are left out
    /// (the RFC leaves, say, a second USER after a successful one to the server).
    fn meaningful(&self, op: &Op) -> bool {
        let s = usize::from(op.session);
        let open = self.sessions[s].conn.is_some();
        let caps = self.env.caps;
        let pending = open && self.pending(s).is_some();
        let stamp = open && self.sessions[s].stamp.is_some();
        let auth = open && !self.in_transaction(s);
        match op.cmd {
            Cmd::Quit | Cmd::Drop => open,
            Cmd::Login(Method::UserPass) | Cmd::User(_) | Cmd::Pass(_) => {
                caps.user && !(auth && pending && !matches!(op.cmd, Cmd::Pass(_)))
            }
            Cmd::Login(Method::Apop) | Cmd::Apop(_) => stamp && !pending,
            Cmd::Login(Method::AuthPlain) | Cmd::AuthPlain(_) => caps.plain && !pending,
            // not while the other session holds the lock: a server may refuse that login at
            // any step of the exchange (after the proof, or only after the verifier), and
            // the other methods already check the lock
            Cmd::Login(Method::Scram) => {
                caps.scram.is_some() && !pending && self.lock.is_none_or(|l| l == s)
            }
            Cmd::Uidl(_) => caps.uidl,
            Cmd::Top(..) => caps.top,
            _ => true,
        }
    }

    /// Runs one model command: opens its session when needed, then the command's state.
    async fn apply(&mut self, op: &Op) -> Result<(), Divergence> {
        let s = usize::from(op.session);
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
                self.drop_connection(s).await;
                Ok(())
            }
            _ if !self.in_transaction(s) => self.too_early(s, op).await,
            _ => self.transaction(s, op).await,
        }
    }

    /// The number to send for `r` in session `s`, and what it names.
    pub(crate) fn pick(&self, s: usize, r: MsgRef) -> (u64, Pick) {
        let ClientState::Transaction(view) = &self.sessions[s].phase else {
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
}
