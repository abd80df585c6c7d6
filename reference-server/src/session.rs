//! One POP3 session as a state machine over lines, with no I/O (RFC 1939 §3-§9, RFC 2449,
//! RFC 2595, RFC 5034, RFC 6856). The connection layer reads lines, hands them to
//! [`Session::handle_line`], and writes the [`Output`]; the fuzz target drives it the same way.
//!
//! The states are [`pop3_proto::State`]; an AUTH exchange in progress is a sub-state of
//! AUTHORIZATION in which lines are SASL responses, not commands.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use pop3_proto::auth::{self, apop, cram_md5, login, plain::Plain, ClientResponse};
use pop3_proto::command::InitialResponse;
use pop3_proto::line::LineError;
use pop3_proto::{Capability, Command, CommandError, Limits, ResponseCode, State, StatusLine};

use crate::fault::{Fault, Faults};
use crate::lock::{LockTable, MaildropLock};
use crate::maildrop::{Maildrop, Store};
use crate::users::Users;

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
}

#[derive(Debug)]
enum Sasl {
    Plain,
    LoginUser,
    LoginPass { user: String },
    CramMd5 { challenge: String },
}

#[derive(Debug)]
struct Transaction {
    user: String,
    maildrop: Box<dyn Maildrop>,
    deleted: Vec<bool>,
    _lock: MaildropLock,
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
    timestamp: String,
    errors: u32,
}

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

impl Session {
    /// A new session and its greeting, with an APOP timestamp unique to this connection
    /// (RFC 1939 §7: `<process-ID.clock@hostname>`).
    pub fn new(ctx: Arc<Context>, tls: bool) -> (Session, Vec<u8>) {
        let seq = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let timestamp = format!("<{}.{seq}.{nanos}@{}>", std::process::id(), ctx.hostname);
        Session::with_timestamp(ctx, tls, timestamp)
    }

    /// A session with a given greeting timestamp: for replaying RFC examples and for fuzzing,
    /// where the output must not depend on the clock.
    pub fn with_timestamp(ctx: Arc<Context>, tls: bool, timestamp: String) -> (Session, Vec<u8>) {
        let greeting = ok(format!("conform reference POP3 server ready {timestamp}"));
        (
            Session {
                ctx,
                phase: Phase::Authorization { user: None },
                tls,
                timestamp,
                errors: 0,
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

    /// Whether plaintext credentials may be sent now.
    fn plaintext_ok(&self) -> bool {
        self.tls || self.ctx.allow_plaintext_auth
    }

    /// Called when the TLS handshake after STLS has finished: the session starts over in
    /// AUTHORIZATION with nothing remembered from before (RFC 2595 §4).
    pub fn tls_started(&mut self) {
        self.tls = true;
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

    /// Counts consecutive -ERR replies and hangs up after [`MAX_CONSECUTIVE_ERRORS`].
    fn account(&mut self, out: Output) -> Output {
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
        let command = match Command::parse(line, &Limits::RFC2449) {
            Ok(c) => c,
            Err(e) => return Output::Reply(err(describe(&e))),
        };
        let state = self.state();
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

    fn capa(&self) -> Vec<u8> {
        let plain = self.plaintext_ok();
        let mut caps = vec![Capability::Top];
        if plain {
            caps.push(Capability::User);
        }
        let mut mechs = Vec::new();
        if plain {
            mechs.extend(["PLAIN".to_owned(), "LOGIN".to_owned()]);
        }
        mechs.push("CRAM-MD5".to_owned());
        caps.push(Capability::Sasl(mechs));
        caps.extend([
            Capability::RespCodes,
            Capability::AuthRespCode,
            Capability::Pipelining,
            Capability::Uidl,
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
        multi(
            ok("Capability list follows"),
            caps.iter().map(ToString::to_string),
        )
    }

    fn quit(&mut self) -> Output {
        match std::mem::replace(&mut self.phase, Phase::Update) {
            Phase::Transaction(mut t) => {
                let marked: Vec<usize> = t
                    .deleted
                    .iter()
                    .enumerate()
                    .filter_map(|(i, d)| d.then_some(i))
                    .collect();
                let left = t.deleted.len() - marked.len();
                match t.maildrop.expunge(&marked) {
                    Ok(()) => Output::Close(ok(format!(
                        "conform POP3 server signing off ({left} messages left)"
                    ))),
                    Err(_) => Output::Close(err_code(
                        ResponseCode::SysTemp,
                        "some deleted messages not removed",
                    )),
                }
            }
            _ => Output::Close(ok("conform POP3 server signing off")),
        }
    }

    fn plaintext_refused(&self) -> Option<Output> {
        (!self.plaintext_ok()).then(|| {
            Output::Reply(err_code(
                ResponseCode::Auth,
                "plaintext authentication disallowed before TLS; use STLS or port 995",
            ))
        })
    }

    fn user(&mut self, name: String) -> Output {
        if let Some(refused) = self.plaintext_refused() {
            return refused;
        }
        self.phase = Phase::Authorization { user: Some(name) };
        Output::Reply(ok("send PASS"))
    }

    fn pass(&mut self, password: String) -> Output {
        if let Some(refused) = self.plaintext_refused() {
            return refused;
        }
        let Phase::Authorization { user: Some(user) } =
            std::mem::replace(&mut self.phase, Phase::Authorization { user: None })
        else {
            return Output::Reply(err("PASS must follow a successful USER"));
        };
        let good = self.ctx.users.check(&user, &password);
        self.login(user, good)
    }

    fn apop(&mut self, name: String, digest: String) -> Output {
        self.phase = Phase::Authorization { user: None };
        let good = self
            .ctx
            .users
            .secret(&name)
            .is_some_and(|secret| apop::verify(&self.timestamp, secret, &digest));
        self.login(name, good)
    }

    /// Opens the maildrop after a successful authentication, or says why not.
    fn login(&mut self, user: String, credentials_ok: bool) -> Output {
        if !credentials_ok {
            self.phase = Phase::Authorization { user: None };
            return Output::Reply(err_code(
                ResponseCode::Auth,
                "invalid user name or password",
            ));
        }
        let key = self.ctx.store.lock_key(&user);
        let Some(lock) = self.ctx.locks.try_lock(key) else {
            self.phase = Phase::Authorization { user: None };
            return Output::Reply(err_code(ResponseCode::InUse, "maildrop already locked"));
        };
        let maildrop = match self.ctx.store.open(&user) {
            Ok(m) => m,
            Err(_) => {
                self.phase = Phase::Authorization { user: None };
                return Output::Reply(err_code(ResponseCode::SysTemp, "cannot open maildrop"));
            }
        };
        let n = maildrop.messages().len();
        let size: u64 = maildrop.messages().iter().map(|m| m.size).sum();
        self.phase = Phase::Transaction(Box::new(Transaction {
            user,
            deleted: vec![false; n],
            maildrop,
            _lock: lock,
        }));
        Output::Reply(ok(format!("maildrop has {n} messages ({size} octets)")))
    }

    fn mechanisms(&self) -> Vec<&'static str> {
        if self.plaintext_ok() {
            vec!["PLAIN", "LOGIN", "CRAM-MD5"]
        } else {
            vec!["CRAM-MD5"]
        }
    }

    fn auth(&mut self, mechanism: Option<String>, initial: Option<InitialResponse>) -> Output {
        self.phase = Phase::Authorization { user: None };
        let Some(mechanism) = mechanism else {
            return Output::Reply(multi(
                ok("SASL mechanisms follow"),
                self.mechanisms().into_iter().map(str::to_owned),
            ));
        };
        let mech = mechanism.to_ascii_uppercase();
        if !["PLAIN", "LOGIN", "CRAM-MD5"].contains(&mech.as_str()) {
            return Output::Reply(err(format!("unsupported SASL mechanism {mechanism}")));
        }
        if !self.mechanisms().contains(&mech.as_str()) {
            return self
                .plaintext_refused()
                .expect("only plaintext mechanisms are withheld");
        }
        let initial = match initial {
            None => None,
            Some(InitialResponse::Empty) => Some(Vec::new()),
            Some(InitialResponse::Base64(b)) => match auth::decode_base64(&b) {
                Ok(d) => Some(d),
                Err(e) => return Output::Reply(err(format!("AUTH rejected: {e}"))),
            },
        };
        match (mech.as_str(), initial) {
            ("PLAIN", None) => {
                self.phase = Phase::Sasl(Sasl::Plain);
                Output::Reply(b"+ \r\n".to_vec())
            }
            ("PLAIN", Some(message)) => self.finish_plain(&message),
            ("LOGIN", None) => {
                self.phase = Phase::Sasl(Sasl::LoginUser);
                Output::Reply(format!("+ {}\r\n", login::username_challenge()).into_bytes())
            }
            ("LOGIN", Some(user)) => self.login_user(&user),
            ("CRAM-MD5", None) => {
                let challenge = self.timestamp.clone();
                let line = format!("+ {}\r\n", auth::encode_base64(challenge.as_bytes()));
                self.phase = Phase::Sasl(Sasl::CramMd5 { challenge });
                Output::Reply(line.into_bytes())
            }
            // RFC 5034 §4: an initial response to a mechanism that has none MUST be rejected
            (_, Some(_)) => Output::Reply(err("CRAM-MD5 takes no initial response")),
            _ => unreachable!("mechanisms checked above"),
        }
    }

    fn login_user(&mut self, user: &[u8]) -> Output {
        match String::from_utf8(user.to_vec()) {
            Ok(user) if !user.is_empty() => {
                self.phase = Phase::Sasl(Sasl::LoginPass { user });
                Output::Reply(format!("+ {}\r\n", login::password_challenge()).into_bytes())
            }
            _ => Output::Reply(err("LOGIN: empty or non-UTF-8 user name")),
        }
    }

    fn finish_plain(&mut self, message: &[u8]) -> Output {
        match Plain::parse(message) {
            Ok(p) if !p.authzid.is_empty() && p.authzid != p.authcid => Output::Reply(err_code(
                ResponseCode::Auth,
                "authorization identity differs from authentication identity",
            )),
            Ok(p) => {
                let good = self.ctx.users.check(&p.authcid, &p.passwd);
                self.login(p.authcid, good)
            }
            Err(e) => Output::Reply(err(format!("AUTH rejected: {e}"))),
        }
    }

    fn sasl_step(&mut self, line: &[u8]) -> Output {
        let Phase::Sasl(step) =
            std::mem::replace(&mut self.phase, Phase::Authorization { user: None })
        else {
            unreachable!("called only in an AUTH exchange");
        };
        let data = match ClientResponse::parse(line) {
            Ok(ClientResponse::Cancel) => return Output::Reply(err("AUTH cancelled")),
            Ok(ClientResponse::Data(d)) => d,
            // RFC 5034 §4: undecodable base64 MUST be rejected with -ERR
            Err(e) => return Output::Reply(err(format!("AUTH rejected: {e}"))),
        };
        match step {
            Sasl::Plain => self.finish_plain(&data),
            Sasl::LoginUser => self.login_user(&data),
            Sasl::LoginPass { user } => {
                let good =
                    std::str::from_utf8(&data).is_ok_and(|pw| self.ctx.users.check(&user, pw));
                self.login(user, good)
            }
            Sasl::CramMd5 { challenge } => match cram_md5::parse_response(&data) {
                Ok((user, digest)) => {
                    let good = self
                        .ctx
                        .users
                        .secret(&user)
                        .is_some_and(|s| cram_md5::digest(challenge.as_bytes(), s) == digest);
                    self.login(user, good)
                }
                Err(e) => Output::Reply(err(format!("AUTH rejected: {e}"))),
            },
        }
    }

    fn stls(&mut self) -> Output {
        if !self.ctx.stls_available {
            return Output::Reply(err("STLS not available: no TLS certificate configured"));
        }
        if self.tls {
            return Output::Reply(err("already using TLS"));
        }
        Output::StartTls(ok("begin TLS negotiation"))
    }

    fn transaction(&mut self, command: Command) -> Output {
        let faults = self.ctx.faults.clone();
        let Phase::Transaction(t) = &mut self.phase else {
            unreachable!("state checked by allowed_in");
        };
        let t = t.as_mut();
        match command {
            Command::Stat => {
                let (n, size) = t.live().fold((0, 0), |(n, s), (_, m)| (n + 1, s + m));
                Output::Reply(ok(format!("{n} {size}")))
            }
            Command::List(None) => {
                let live: Vec<(usize, u64)> = t.live().collect();
                let total: u64 = live.iter().map(|(_, s)| s).sum();
                let renumber = faults.has(Fault::ListRenumbersAfterDele);
                let lines = live.iter().enumerate().map(|(k, (i, s))| {
                    let n = if renumber { k + 1 } else { i + 1 };
                    format!("{n} {s}")
                });
                Output::Reply(multi(
                    ok(format!("{} messages ({total} octets)", live.len())),
                    lines.collect::<Vec<_>>(),
                ))
            }
            Command::List(Some(n)) => {
                let index = if faults.has(Fault::ListRenumbersAfterDele) {
                    t.live()
                        .nth((n as usize).wrapping_sub(1))
                        .map(|(i, _)| i)
                        .ok_or("no such message")
                } else {
                    t.index(n)
                };
                match index {
                    Ok(i) => Output::Reply(ok(format!("{n} {}", t.maildrop.messages()[i].size))),
                    Err(e) => Output::Reply(err(e)),
                }
            }
            Command::Uidl(None) => {
                let lines: Vec<String> = t
                    .live()
                    .map(|(i, _)| format!("{} {}", i + 1, t.maildrop.messages()[i].uid))
                    .collect();
                Output::Reply(multi(ok("unique-id listing follows"), lines))
            }
            Command::Uidl(Some(n)) => match t.index(n) {
                Ok(i) => Output::Reply(ok(format!("{n} {}", t.maildrop.messages()[i].uid))),
                Err(e) => Output::Reply(err(e)),
            },
            Command::Retr(n) => match t.index(n) {
                Ok(i) => match t.maildrop.read(i) {
                    Ok(content) => Output::Message {
                        head: ok(format!("{} octets", t.maildrop.messages()[i].size)),
                        content,
                    },
                    Err(_) => {
                        Output::Reply(err_code(ResponseCode::SysTemp, "message cannot be read"))
                    }
                },
                Err(e) => Output::Reply(err(e)),
            },
            Command::Top { msg, lines } => match t.index(msg) {
                Ok(i) => match t.maildrop.read(i) {
                    Ok(mut content) => {
                        content.truncate(pop3_proto::message::top_cut(&content, lines));
                        Output::Message {
                            head: ok("top of message follows"),
                            content,
                        }
                    }
                    Err(_) => {
                        Output::Reply(err_code(ResponseCode::SysTemp, "message cannot be read"))
                    }
                },
                Err(e) => Output::Reply(err(e)),
            },
            Command::Dele(n) => match t.index(n) {
                Ok(i) => {
                    t.deleted[i] = true;
                    Output::Reply(ok(format!("message {n} deleted")))
                }
                Err(e) => Output::Reply(err(e)),
            },
            Command::Noop => Output::Reply(ok("")),
            Command::Rset => {
                t.deleted.iter_mut().for_each(|d| *d = false);
                let n = t.deleted.len();
                let size: u64 = t.maildrop.messages().iter().map(|m| m.size).sum();
                Output::Reply(ok(format!("maildrop has {n} messages ({size} octets)")))
            }
            other => unreachable!("{} is not a TRANSACTION command", other.keyword()),
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

impl Transaction {
    /// (index, size) of every message not marked deleted.
    fn live(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.maildrop
            .messages()
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.deleted[*i])
            .map(|(i, m)| (i, m.size))
    }

    /// The index of message number `n`, if it exists and is not deleted (RFC 1939 §5).
    fn index(&self, n: u32) -> Result<usize, &'static str> {
        let i = (n as usize).checked_sub(1).ok_or("no such message")?;
        match self.deleted.get(i) {
            None => Err("no such message"),
            Some(true) => Err("message already deleted"),
            Some(false) => Ok(i),
        }
    }
}

fn describe(e: &CommandError) -> String {
    match e {
        CommandError::UnknownCommand(k) => format!("unknown command {k}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
