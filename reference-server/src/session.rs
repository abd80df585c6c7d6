//! One POP3 session as a state machine over lines, with no I/O (RFC 1939 §3-§9, RFC 2449,
//! RFC 2595, RFC 5034, RFC 6856). The connection layer reads lines, hands them to
//! [`Session::handle_line`], and writes the [`Output`]; the fuzz target drives it the same way.
//!
//! The states are [`pop3_proto::State`]; an AUTH exchange in progress is a sub-state of
//! AUTHORIZATION in which lines are SASL responses, not commands.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use pop3_proto::auth::{
    self, apop, channel_binding, cram_md5, login, oauth, plain::Plain, scram, ClientResponse,
};
use pop3_proto::command::InitialResponse;
use pop3_proto::line::LineError;
use pop3_proto::response::MAX_STATUS_LINE;
use pop3_proto::{Capability, Command, CommandError, Limits, ResponseCode, State, StatusLine};

use crate::fault::{self, Fault, Faults};
use crate::lock::{LockTable, MaildropLock};
use crate::maildrop::{Maildrop, Store};
use crate::users::Users;
use crate::variant::{self, Variant, Variants};

/// Longest SASL response line we read during AUTH, CRLF included (a PLAIN message of three
/// 255-octet fields is 1024 base64 characters).
pub const MAX_SASL_LINE: usize = 4096;

/// Consecutive bad lines after which the server hangs up.
pub const MAX_CONSECUTIVE_ERRORS: u32 = 20;

/// What a session shares with every other session of the same server.
#[derive(Debug)]
pub struct Context {
    /// Accounts.
    pub users: Users,
    /// Where maildrops live.
    pub store: Arc<dyn Store>,
    /// Who holds which maildrop.
    pub locks: LockTable,
    /// The host name in the greeting timestamp.
    pub hostname: String,
    /// Whether USER/PASS, PLAIN and LOGIN are allowed before TLS (RFC 5034 §4, RFC 2595 §2.1).
    pub allow_plaintext_auth: bool,
    /// Whether STLS can be offered (a TLS identity is configured).
    pub stls_available: bool,
    /// Deliberate defects in force.
    pub faults: Faults,
    /// Permitted variations in force.
    pub variants: Variants,
}

/// What the connection must do after a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    /// Write these bytes.
    Reply(Vec<u8>),
    /// Write the status line, then `content` byte-stuffed and terminated (RFC 1939 §3).
    Message {
        /// The `+OK` line, with CRLF.
        head: Vec<u8>,
        /// The message (or the part TOP sends) as stored.
        content: Vec<u8>,
    },
    /// Write the reply, then start TLS and call [`Session::tls_started`] (RFC 2595 §4).
    StartTls(Vec<u8>),
    /// Write the reply, then close the connection.
    Close(Vec<u8>),
    /// The maildrop is locked by another session (answered only by
    /// [`Session::handle_line_patient`]). Nothing changed: the connection may wait briefly for
    /// the holder to let go — a client that drops a connection and logs in again at once
    /// must not be turned away by its own closing session — and hand the same line in again,
    /// or hand it to [`Session::handle_line`] for the refusal, `-ERR [IN-USE]`
    /// (RFC 2449 §8.1.1).
    LockBusy,
}

/// The SCRAM mechanisms the server implements (RFC 5802, RFC 7677), as CAPA lists them.
pub const SCRAM_MECHANISMS: [&str; 2] = ["SCRAM-SHA-256", "SCRAM-SHA-1"];

/// The channel-binding variants of [`SCRAM_MECHANISMS`] (RFC 5802 §6), offered over TLS when
/// the connection has a binding to offer.
pub const SCRAM_PLUS_MECHANISMS: [&str; 2] = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"];

/// What the TLS channel of a connection binds to (RFC 5802 §6), set by the connection once
/// the handshake is done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelBindings {
    /// `tls-exporter` (RFC 9266): 32 octets of the exporter; TLS 1.3 only.
    pub tls_exporter: Option<Vec<u8>>,
    /// `tls-server-end-point` (RFC 5929 §4): the hash of the server's certificate.
    pub tls_server_end_point: Option<Vec<u8>>,
}

impl ChannelBindings {
    /// The binding data of type `kind`, if the channel has it.
    pub fn get(&self, kind: channel_binding::Kind) -> Option<&[u8]> {
        match kind {
            channel_binding::Kind::TlsExporter => self.tls_exporter.as_deref(),
            channel_binding::Kind::TlsServerEndPoint => self.tls_server_end_point.as_deref(),
        }
    }

    /// Whether there is any binding to offer.
    pub fn any(&self) -> bool {
        self.tls_exporter.is_some() || self.tls_server_end_point.is_some()
    }
}

/// The bearer-token mechanisms (RFC 7628 OAUTHBEARER; XOAUTH2), offered when users have
/// tokens, where plaintext credentials are (a bearer token is one: RFC 7628 §3, "TLS MUST be
/// used for OAUTHBEARER to protect the bearer token").
pub const OAUTH_MECHANISMS: [&str; 2] = ["OAUTHBEARER", "XOAUTH2"];

#[derive(Debug)]
enum Sasl {
    Plain,
    LoginUser,
    LoginPass {
        user: String,
    },
    CramMd5 {
        challenge: String,
    },
    /// Waiting for the client-first-message (after an empty challenge).
    ScramFirst(scram::Mechanism),
    /// Waiting for the client-final-message; `user` is `None` for an unknown user (the
    /// exchange goes on with made-up credentials and fails at the proof).
    ScramFinal {
        server: Box<scram::Server>,
        user: Option<String>,
    },
    /// The server-final-message was sent; waiting for the client's empty response
    /// (RFC 4422 §3: additional data with success, as a challenge in POP3).
    ScramDone {
        user: String,
    },
    /// Waiting for the OAUTHBEARER or XOAUTH2 message (after an empty challenge).
    OAuth(&'static str),
    /// The JSON error result was sent; whatever the client answers (RFC 7628 §3: a dummy
    /// %x01; XOAUTH2: an empty line), the authentication fails.
    OAuthFailed,
}

#[derive(Debug)]
struct Transaction {
    user: String,
    maildrop: Box<dyn Maildrop>,
    deleted: Vec<bool>,
    /// The size each message is listed with (RFC 1939 §5: octets with CRLF line ends).
    sizes: Vec<u64>,
    faults: Faults,
    /// `None` only under [`Fault::NoMaildropLock`].
    _lock: Option<MaildropLock>,
}

#[derive(Debug)]
enum Phase {
    Authorization { user: Option<String> },
    Sasl(Sasl),
    Transaction(Box<Transaction>),
    Update,
}

/// One client's session.
#[derive(Debug)]
pub struct Session {
    ctx: Arc<Context>,
    phase: Phase,
    tls: bool,
    /// The TLS channel's bindings, for SCRAM's -PLUS mechanisms (none before TLS).
    bindings: ChannelBindings,
    timestamp: String,
    errors: u32,
    /// This session's number among the server's sessions.
    number: u64,
    /// A login may answer [`Output::LockBusy`] instead of refusing at once.
    lock_patience: bool,
}

static SESSIONS: AtomicU64 = AtomicU64::new(0);
static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

fn ok(text: impl Into<String>) -> Vec<u8> {
    StatusLine::ok(text).to_bytes()
}

fn err(text: impl Into<String>) -> Vec<u8> {
    StatusLine::err(text).to_bytes()
}

fn err_code(code: ResponseCode, text: impl Into<String>) -> Vec<u8> {
    StatusLine::err(text).with_code(code).to_bytes()
}

fn multi(head: Vec<u8>, lines: impl IntoIterator<Item = String>) -> Vec<u8> {
    let mut out = head;
    for l in lines {
        // listings never start with '.', but stuff anyway: the framing rule is absolute
        if l.starts_with('.') {
            out.push(b'.');
        }
        out.extend_from_slice(l.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

impl Output {
    /// The output with `f` applied to its status lines (not to a message's content).
    fn map_status(self, f: impl Fn(&[u8]) -> Vec<u8>) -> Output {
        match self {
            Output::Reply(r) => Output::Reply(f(&r)),
            Output::Close(r) => Output::Close(f(&r)),
            Output::StartTls(r) => Output::StartTls(f(&r)),
            Output::Message { head, content } => Output::Message {
                head: f(&head),
                content,
            },
            Output::LockBusy => Output::LockBusy,
        }
    }
}

impl Session {
    /// A new session and its greeting, with an APOP timestamp unique to this connection
    /// (RFC 1939 §7: `<process-ID.clock@hostname>`).
    pub fn new(ctx: Arc<Context>, tls: bool) -> (Session, Vec<u8>) {
        let seq = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let timestamp = if ctx.faults.has(Fault::ApopTimestampReused) {
            format!("<{}.0@{}>", std::process::id(), ctx.hostname)
        } else {
            format!("<{}.{seq}.{nanos}@{}>", std::process::id(), ctx.hostname)
        };
        Session::with_timestamp(ctx, tls, timestamp)
    }

    /// A session with a given greeting timestamp: for replaying RFC examples and for fuzzing,
    /// where the output must not depend on the clock.
    pub fn with_timestamp(ctx: Arc<Context>, tls: bool, timestamp: String) -> (Session, Vec<u8>) {
        let greeting = if ctx.faults.has(Fault::ApopNoTimestamp) {
            ok("conform reference POP3 server ready")
        } else {
            ok(format!("conform reference POP3 server ready {timestamp}"))
        };
        let greeting = if ctx.faults.has(Fault::LowercaseStatus) {
            fault::lowercase_status(&greeting)
        } else {
            greeting
        };
        (
            Session {
                ctx,
                phase: Phase::Authorization { user: None },
                tls,
                bindings: ChannelBindings::default(),
                timestamp,
                errors: 0,
                lock_patience: false,
                number: SESSIONS.fetch_add(1, Ordering::Relaxed),
            },
            greeting,
        )
    }

    /// The RFC 1939 state the session is in (an AUTH exchange counts as AUTHORIZATION).
    pub fn state(&self) -> State {
        match self.phase {
            Phase::Authorization { .. } | Phase::Sasl(_) => State::Authorization,
            Phase::Transaction(_) => State::Transaction,
            Phase::Update => State::Update,
        }
    }

    /// The greeting's timestamp.
    pub fn timestamp(&self) -> &str {
        &self.timestamp
    }

    /// The longest line the session accepts next, CRLF included.
    pub fn max_line(&self) -> usize {
        match self.phase {
            Phase::Sasl(_) => MAX_SASL_LINE,
            _ => Limits::RFC2449.line,
        }
    }

    /// Whether the deliberate defect `f` is on.
    fn fault(&self, f: Fault) -> bool {
        self.ctx.faults.has(f)
    }

    /// Whether the permitted variation `v` is on.
    fn variant(&self, v: Variant) -> bool {
        self.ctx.variants.has(v)
    }

    /// Whether plaintext credentials may be sent now.
    fn plaintext_ok(&self) -> bool {
        self.tls || self.ctx.allow_plaintext_auth
    }

    /// The TLS channel's bindings, once its handshake is done (implicit TLS, or after STLS).
    pub fn set_channel_bindings(&mut self, bindings: ChannelBindings) {
        self.bindings = bindings;
    }

    /// Whether SCRAM's -PLUS mechanisms are offered: over TLS, with a binding to offer.
    fn scram_plus(&self) -> bool {
        self.tls && self.bindings.any()
    }

    /// Called when the TLS handshake after STLS has finished: the session starts over in
    /// AUTHORIZATION with nothing remembered from before (RFC 2595 §4).
    pub fn tls_started(&mut self) {
        self.tls = true;
        if self.fault(Fault::StlsRemembersUser) {
            if let Phase::Authorization { .. } = self.phase {
                return;
            }
        }
        self.phase = Phase::Authorization { user: None };
    }

    /// Handles a line that could not be read (too long, bare LF).
    pub fn handle_bad_line(&mut self, error: &LineError) -> Output {
        if let Phase::Sasl(_) = self.phase {
            self.phase = Phase::Authorization { user: None };
        }
        self.account(Output::Reply(err(error.to_string())))
    }

    /// Handles one line (without CRLF).
    pub fn handle_line(&mut self, line: &[u8]) -> Output {
        let out = self.dispatch(line);
        self.account(out)
    }

    /// Like [`Session::handle_line`], but a USER/PASS or APOP login that finds the maildrop
    /// locked answers [`Output::LockBusy`] and changes nothing, so that the connection can
    /// wait for the holder and try the same line again.
    pub fn handle_line_patient(&mut self, line: &[u8]) -> Output {
        let keyword = line.split(|&b| b == b' ').next().unwrap_or_default();
        // only a command that can be given again unchanged: not a SASL exchange's last line
        self.lock_patience = matches!(self.phase, Phase::Authorization { .. })
            && (keyword.eq_ignore_ascii_case(b"PASS") || keyword.eq_ignore_ascii_case(b"APOP"));
        let out = self.dispatch(line);
        self.lock_patience = false;
        match out {
            Output::LockBusy => Output::LockBusy,
            out => self.account(out),
        }
    }

    /// Counts consecutive -ERR replies and hangs up after [`MAX_CONSECUTIVE_ERRORS`].
    /// Also applies the rewrites of whole replies: response codes cut (the variants without
    /// them), and the status-indicator faults.
    fn account(&mut self, out: Output) -> Output {
        let mut out = self.count_errors(out);
        if !self.ctx.variants.resp_codes() {
            out = out.map_status(variant::strip_resp_codes);
        }
        if self.fault(Fault::LowercaseStatus) {
            out = out.map_status(fault::lowercase_status);
        }
        if self.fault(Fault::ErrWithoutDash) {
            out = out.map_status(fault::undash);
        }
        out
    }

    fn count_errors(&mut self, out: Output) -> Output {
        match out {
            Output::Reply(mut reply) if reply.starts_with(b"-ERR") => {
                self.errors += 1;
                if self.errors < MAX_CONSECUTIVE_ERRORS {
                    return Output::Reply(reply);
                }
                reply.extend_from_slice(&err("too many errors, closing connection"));
                Output::Close(reply)
            }
            other => {
                self.errors = 0;
                other
            }
        }
    }

    fn dispatch(&mut self, line: &[u8]) -> Output {
        if let Phase::Sasl(_) = self.phase {
            return self.sasl_step(line);
        }
        if self.fault(Fault::KeywordsCaseSensitive) {
            let keyword = line.split(|&b| b == b' ').next().unwrap_or_default();
            if keyword.iter().any(u8::is_ascii_lowercase) {
                return Output::Reply(err(format!(
                    "unknown command {}",
                    String::from_utf8_lossy(keyword)
                )));
            }
        }
        let parsed = match Command::parse(line, &Limits::RFC2449) {
            // Variant::TopWholeMessage: a line count too large for any integer is "more lines
            // than the body has"
            Err(CommandError::NumberOutOfRange { command: "TOP", .. })
                if self.variant(Variant::TopWholeMessage) =>
            {
                variant::top_saturated(line).map_or_else(
                    || Command::parse(line, &Limits::RFC2449),
                    |l| Command::parse(&l, &Limits::RFC2449),
                )
            }
            other => other,
        };
        let command = match parsed {
            Ok(c) => c,
            Err(CommandError::UnknownCommand(_)) if self.fault(Fault::OverlongErrorLines) => {
                return Output::Reply(err(format!(
                    "unknown command {:?}; the commands are {OVERLONG_HELP}",
                    String::from_utf8_lossy(line)
                )));
            }
            Err(e) => return Output::Reply(err(describe(&e))),
        };
        if self.variant(Variant::NoCapa)
            && matches!(
                command,
                Command::Capa | Command::Auth { .. } | Command::Stls | Command::Utf8
            )
        {
            // Variant::NoCapa: an RFC 1939 server knows none of the extensions' commands
            return Output::Reply(err(format!("unknown command {}", command.keyword())));
        }
        let state = self.state();
        if let Some(out) = self.misplaced(&command, state) {
            return out;
        }
        if !command.allowed_in(state) {
            return Output::Reply(err(format!(
                "{} is not valid in the {state} state",
                command.keyword()
            )));
        }
        match command {
            Command::Capa => Output::Reply(self.capa()),
            Command::Quit => self.quit(),
            Command::User(name) => self.user(name),
            Command::Pass(password) => self.pass(password),
            Command::Apop { name, digest } => self.apop(name, digest),
            Command::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, initial_response),
            Command::Stls => self.stls(),
            Command::Utf8 => Output::Reply(ok("UTF8 enabled")),
            other => self.transaction(other),
        }
    }

    /// Under the state-machine faults, the answer to a command outside its state.
    fn misplaced(&mut self, command: &Command, state: State) -> Option<Output> {
        let f = |x| self.ctx.faults.has(x);
        let reply = match (state, command) {
            (State::Authorization, Command::Stat) if f(Fault::TransactionCommandsBeforeLogin) => {
                ok("0 0")
            }
            (State::Authorization, Command::List(None) | Command::Uidl(None))
                if f(Fault::TransactionCommandsBeforeLogin) =>
            {
                multi(ok("0 messages"), Vec::new())
            }
            (State::Authorization, Command::Noop | Command::Rset)
                if f(Fault::TransactionCommandsBeforeLogin) =>
            {
                ok("")
            }
            (State::Transaction, Command::User(_) | Command::Pass(_) | Command::Apop { .. })
                if f(Fault::LoginCommandsAfterLogin) =>
            {
                ok("already logged in")
            }
            (State::Transaction, Command::Auth { .. }) if f(Fault::SecondAuthAccepted) => {
                ok("already authenticated")
            }
            (State::Transaction, Command::Stls) if f(Fault::StlsInTransaction) => {
                return Some(self.stls());
            }
            _ => return None,
        };
        Some(Output::Reply(reply))
    }

    fn capa(&self) -> Vec<u8> {
        let plain = self.plaintext_ok();
        let omit_auth =
            self.fault(Fault::CapaOmitsAuthAfterLogin) && self.state() == State::Transaction;
        let mut caps = Vec::new();
        if !self.fault(Fault::CapaOmitsTop) {
            caps.push(Capability::Top);
        }
        if plain && !omit_auth {
            caps.push(Capability::User);
        }
        let mut mechs = Vec::new();
        if plain {
            mechs.extend(["PLAIN".to_owned(), "LOGIN".to_owned()]);
        }
        mechs.push("CRAM-MD5".to_owned());
        mechs.extend(SCRAM_MECHANISMS.map(str::to_owned));
        if self.scram_plus() {
            mechs.extend(SCRAM_PLUS_MECHANISMS.map(str::to_owned));
        }
        if plain && self.ctx.users.has_tokens() {
            mechs.extend(OAUTH_MECHANISMS.map(str::to_owned));
        }
        if self.fault(Fault::CapaListsUnsupportedSasl) {
            mechs.extend(["DIGEST-MD5".to_owned(), "SCRAM-SHA-512".to_owned()]);
        }
        if !omit_auth {
            caps.push(Capability::Sasl(mechs));
        }
        if self.ctx.variants.resp_codes() {
            caps.extend([Capability::RespCodes, Capability::AuthRespCode]);
        }
        caps.push(Capability::Pipelining);
        if !self.fault(Fault::CapaOmitsUidl) {
            caps.push(Capability::Uidl);
        }
        caps.extend([
            Capability::Expire {
                value: pop3_proto::capa::Expire::Never,
                per_user: false,
            },
            Capability::LoginDelay {
                seconds: 0,
                per_user: false,
            },
        ]);
        if self.ctx.stls_available && !self.tls && self.state() == State::Authorization {
            caps.push(Capability::Stls);
        }
        caps.push(Capability::Utf8 { user: false });
        caps.push(Capability::Implementation(format!(
            "conform-reference-server/{}",
            env!("CARGO_PKG_VERSION")
        )));
        let mut listing = multi(
            ok("Capability list follows"),
            caps.iter().map(ToString::to_string),
        );
        if self.fault(Fault::CapaMissingTerminator) {
            listing.truncate(listing.len() - b".\r\n".len());
        }
        listing
    }

    fn quit(&mut self) -> Output {
        match std::mem::replace(&mut self.phase, Phase::Update) {
            Phase::Transaction(mut t) => {
                let mut marked = t.marked();
                let left = t.deleted.len() - marked.len();
                if self.ctx.faults.has(Fault::QuitForgetsDeletes) {
                    marked.clear();
                }
                let expunged = t.maildrop.expunge(&marked);
                if self.ctx.variants.has(Variant::StoreRewritten) {
                    let _ = t.maildrop.rewrite_as_mbox();
                }
                match expunged {
                    Ok(()) => Output::Close(ok(format!(
                        "conform POP3 server signing off ({left} messages left)"
                    ))),
                    Err(_) => Output::Close(err_code(
                        ResponseCode::SysTemp,
                        "some deleted messages not removed",
                    )),
                }
            }
            _ if self.fault(Fault::QuitInAuthorizationEntersUpdate) => Output::Close(err_code(
                ResponseCode::SysTemp,
                "some deleted messages not removed",
            )),
            _ => Output::Close(ok("conform POP3 server signing off")),
        }
    }

    /// The user whose maildrop is open, in TRANSACTION.
    pub fn logged_in_user(&self) -> Option<&str> {
        match &self.phase {
            Phase::Transaction(t) => Some(&t.user),
            _ => None,
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Fault::DeletesOnDroppedConnection: UPDATE on a connection that ends without QUIT
        if let Phase::Transaction(t) = &mut self.phase {
            if t.faults.has(Fault::DeletesOnDroppedConnection) {
                let marked = t.marked();
                let _ = t.maildrop.expunge(&marked);
            }
            // Variant::StoreRewritten: the mbox is written back however the session ended
            if self.ctx.variants.has(Variant::StoreRewritten) {
                let _ = t.maildrop.rewrite_as_mbox();
            }
        }
    }
}

/// Help text for [`Fault::OverlongErrorLines`].
const OVERLONG_HELP: &str =
    "USER name, PASS string, APOP name digest, AUTH mechanism [initial-response], \
STLS, CAPA, STAT, LIST [msg], RETR msg, DELE msg, NOOP, RSET, TOP msg n, UIDL [msg], QUIT; \
see RFC 1939, RFC 2449, RFC 2595 and RFC 5034 for the syntax of each";

/// The text of the -ERR answer to a bad command line, cut so that the answer fits in the
/// 512 octets RFC 2449 §4 allows a response's first line. The error may quote the line
/// escaped (`{:?}`), which can make it several times longer than the 255-octet line: found
/// by an input written for the session fuzz target (`fuzz/regressions/session/`), where a
/// keyword of 250 backslashes got a 530-octet `-ERR` line.
fn describe(e: &CommandError) -> String {
    let mut text = match e {
        CommandError::UnknownCommand(k) => format!("unknown command {k}"),
        other => other.to_string(),
    };
    let max = MAX_STATUS_LINE - "-ERR ".len() - pop3_proto::CRLF.len();
    if text.len() > max {
        let mut cut = max - "...".len();
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

mod authorization;
mod transaction;

#[cfg(test)]
mod tests;
