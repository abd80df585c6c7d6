//! The checked plan a scenario file compiles to: what the runner executes.
//!
//! Every name a step uses is known to be bound by then (a capture earlier in the case or a
//! profile value), every regex compiles, every function exists with the right arity; the
//! runner never meets a syntax problem. Spans point back into the file for reports.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// A place in a scenario file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Span {
    /// The file.
    pub file: Arc<PathBuf>,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1, in characters.
    pub col: u32,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// RFC 2119 requirement level of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// MUST / MUST NOT / REQUIRED.
    Must,
    /// SHOULD / SHOULD NOT / RECOMMENDED.
    Should,
    /// MAY / OPTIONAL.
    May,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        })
    }
}

/// An RFC reference: number and section, e.g. 1939 §7.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RfcRef {
    /// The RFC number.
    pub number: u32,
    /// The section, e.g. "7" or "4.1" (empty if the whole RFC).
    pub section: String,
}

impl fmt::Display for RfcRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.section.is_empty() {
            write!(f, "RFC {}", self.number)
        } else {
            write!(f, "RFC {} §{}", self.number, self.section)
        }
    }
}

/// What maildrop contents a case needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fixture {
    /// Any maildrop (greeting, CAPA, state errors, auth).
    Any,
    /// The standard fixture (`scenarios/fixtures/`), exactly.
    Standard,
    /// At least one message, whatever it holds (a case that names message 1 but checks no
    /// content): `STAT` counts one or more. RFC 1939 allows an empty maildrop, where
    /// `LIST 1` is rightly refused.
    Messages,
}

/// One case, ready to run.
#[derive(Debug, Clone)]
pub struct Case {
    /// Unique id, e.g. `rfc1939/7/apop-digest`.
    pub id: String,
    /// One-line title.
    pub title: String,
    /// Where the requirement is.
    pub rfc: RfcRef,
    /// MUST, SHOULD or MAY.
    pub level: Level,
    /// The requirement, quoted from the RFC.
    pub requirement: String,
    /// What the target and the run must offer (`requires:`), else the case is not applicable
    /// (a capability) or skipped (a connection mode), with the reason.
    pub requires: Vec<Condition>,
    /// Free tags for filtering.
    pub tags: Vec<String>,
    /// The maildrop the case needs.
    pub fixture: Fixture,
    /// Whether the case changes the maildrop (DELE then QUIT): such cases are serialised and
    /// may need a reseed.
    pub mutates: bool,
    /// Prerequisite cases (`after:`): when one of them fails or errors in the same run, this
    /// case is reported as blocked by it instead of being judged again (one root cause, one
    /// failure).
    pub after: Vec<String>,
    /// Whether the case holds the maildrop while it runs: it could log in to the account,
    /// and RFC 1939 §4 lets the server lock the maildrop for the session once the client "has
    /// successfully identified itself" (`-ERR [IN-USE]`, RFC 2449 §8.1.2), or it changes or
    /// restores the maildrop. The runner runs such cases one at a time per account, so that
    /// no two of them contend for one lock. Computed by the compiler: the case mutates, has a
    /// `login` or `reseed` step, or sends an expression that uses `password` (alone or inside
    /// a function: `apop`, `cram_md5`, `plain`, `base64`), in a PASS, APOP or AUTH line or a
    /// SASL answer. A login with literal or wrong credentials, or an AUTH cancelled with `*`,
    /// does not hold it: without the password it cannot succeed, so no lock is taken.
    pub holds_maildrop: bool,
    /// Whether the case has a `login` step: it needs a login method that works on the target
    /// (else it is skipped). Computed by the compiler.
    pub logs_in_with_step: bool,
    /// Where the case starts (its `id:` line).
    pub span: Span,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One item of a case's `requires:` header, checked by the compiler.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Condition {
    /// A capability the target must have: a CAPA tag (RFC 2449 §6) in upper case with inner
    /// spaces collapsed (`TOP`, `SASL PLAIN`). `APOP` stands for a timestamp in the greeting
    /// (RFC 1939 §7), `CAPA` for CAPA itself answering `+OK`.
    Capability(String),
    /// `!TAG`: the target must not announce TAG in CAPA.
    NotAnnounced(String),
    /// `@PLAINTEXT`, `@TLS`, `@IMPLICIT-TLS`: what the run's connections must be.
    Mode(ConnectionMode),
}

impl fmt::Display for Condition {
    /// As written in `requires:`, normalised: `SASL PLAIN`, `!STLS`, `@TLS`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Capability(tag) => f.write_str(tag),
            Condition::NotAnnounced(tag) => write!(f, "!{tag}"),
            Condition::Mode(mode) => f.write_str(mode.name()),
        }
    }
}

/// What a run's connections are, for `requires: @...` (a pseudo-capability: the run decides
/// it, not the target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionMode {
    /// `@PLAINTEXT`: not TLS.
    Plaintext,
    /// `@TLS`: implicit TLS (RFC 8314 §3), or STLS done by the runner first (RFC 2595 §4).
    Tls,
    /// `@IMPLICIT-TLS`: TLS from the first byte (RFC 8314 §3).
    ImplicitTls,
}

impl ConnectionMode {
    /// Every mode, in the order the language documents them.
    pub const ALL: [ConnectionMode; 3] = [
        ConnectionMode::Plaintext,
        ConnectionMode::Tls,
        ConnectionMode::ImplicitTls,
    ];

    /// The name as written in `requires:`, with its `@`.
    pub fn name(self) -> &'static str {
        match self {
            ConnectionMode::Plaintext => "@PLAINTEXT",
            ConnectionMode::Tls => "@TLS",
            ConnectionMode::ImplicitTls => "@IMPLICIT-TLS",
        }
    }

    /// The mode named `name` (upper case, with its `@`).
    pub fn from_name(name: &str) -> Option<ConnectionMode> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// One step of a case. `session` is an index into the case's sessions (0 = the first,
/// opened implicitly before the first step).
#[derive(Debug, Clone)]
pub struct Step {
    /// Where the step is written.
    pub span: Span,
    /// Which connection it acts on.
    pub session: usize,
    /// What it does.
    pub action: Action,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// `C: text` — send the expanded template, then CRLF unless `crlf` is false (`C!:`).
    Send {
        /// The line to send.
        template: Template,
        /// Whether CRLF is appended.
        crlf: bool,
    },
    /// `S: pattern` — the next line must match.
    Expect(Pattern),
    /// Consecutive `S|: pattern` lines — the next line must match one of them.
    ExpectAnyOf(Vec<Pattern>),
    /// Consecutive `S~: pattern` lines — the next N lines must match these N patterns in
    /// some order (each pattern used once).
    ExpectUnordered(Vec<Pattern>),
    /// `S*: pattern` — zero or more lines matching; stops before the first line that does
    /// not match (which the next step then reads). Captures collect into lists.
    ExpectRepeated(Pattern),
    /// `S!: pattern` — reads the rest of the current multi-line response up to (not
    /// including) the `.` terminator; fails if any of those lines matches.
    ExpectAbsent(Pattern),
    /// `S+: pattern` — reads the rest of the current multi-line response up to (not
    /// including) the `.` terminator; fails unless at least one of those lines matches (the
    /// mirror of `S!:`).
    ExpectPresent(Pattern),
    /// `B: checks` — reads a multi-line body up to and including the `.` terminator,
    /// un-stuffs it (a line starting with a lone `.` is a framing failure) and checks it.
    Body(Vec<BodyCheck>),
    /// `B?: checks` — like `B:` when the last line read on this session was a positive status
    /// line (`+OK`); after `-ERR` it reads nothing ("-ERR, or the whole multi-line answer").
    BodyIfOk(Vec<BodyCheck>),
    /// `reseed`: the run restores the maildrop now (`--reseed-cmd`, or the bundled server's
    /// own): the standard fixture delivered again, as new mail. Without a way to reseed the
    /// case is not applicable.
    Reseed,
    /// `login`: log in with whatever the target offers (USER/PASS, APOP, AUTH), in the
    /// runner's documented order; the greeting was read by an earlier step. The session is in
    /// TRANSACTION afterwards (RFC 1939 §4), or the case fails.
    Login,
    /// `open NAME` in the file: start a new connection as session `Step::session`; its
    /// greeting is read by the next `S:` step. Later steps act on it until `use NAME`.
    Open,
    /// `starttls`: start TLS on this connection (after `+OK` to STLS).
    StartTls,
    /// `starttls or eof`: start TLS, or accept that the server ends the handshake (it closes
    /// or sends a TLS alert, never plaintext): then the case ends there, passed. For STLS with
    /// pipelined plaintext, which a server may read as the start of the handshake.
    StartTlsOrEof,
    /// `starttls if ok`: start TLS when the last line read on this session was `+OK` (to
    /// STLS); after `-ERR` the case ends there, not applicable: a server may refuse STLS
    /// (RFC 2595 §4), and what the case checks inside TLS cannot be judged then.
    StartTlsIfOk,
    /// `pass if err`: when the last line read on this session was `-ERR`, the case ends there,
    /// passed (the server refused where the requirement wants a refusal, early); otherwise
    /// it goes on. For a refusal the RFC lets come at either of two steps.
    PassIfErr,
    /// `not applicable if err`: when the last line read on this session was `-ERR`, the case
    /// ends there, not applicable (the server declined an option the RFC leaves to it, such
    /// as a channel-binding type); otherwise it goes on.
    NotApplicableIfErr,
    /// `drop`: close the connection without QUIT (the client shuts down its side and waits
    /// for the server to close).
    Drop,
    /// `S: <close>` written as `eof`: the server must close the connection (EOF, nothing more).
    ExpectClose,
    /// `assert expr` — a check over captured values.
    Assert(Assertion),
}

/// A line pattern: literal text, wildcards, captures and regexes, matched against the whole
/// line (without CRLF), raw (before any un-stuffing). How it matches: [`Pattern::regex_text`].
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The text as written, for reports.
    pub source: String,
    /// The pieces in order.
    pub pieces: Vec<Piece>,
    /// The whole-line regex, compiled by the compiler when the pattern depends on no bound
    /// value (no [`Piece::Var`], not `{eof}`); `None` otherwise: a back-reference's regex
    /// is built when the line is judged, from the value bound then.
    pub regex: Option<LineRegex>,
}

/// What a matched line bound: each name the pattern captures, with its bytes, in order.
pub type Captures = Vec<(String, Vec<u8>)>;

/// A pattern's compiled whole-line regex (cheap to clone: the program is shared).
#[derive(Clone)]
pub struct LineRegex(pub regex::bytes::Regex);

impl fmt::Debug for LineRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LineRegex({:?})", self.0.as_str())
    }
}

/// A piece of a [`Pattern`].
#[derive(Debug, Clone)]
pub enum Piece {
    /// Text that must appear as is.
    Literal(String),
    /// `{eof}` alone as an `S|:` alternative: the server closes the connection instead of
    /// answering ("-ERR or close"). It matches no line.
    Eof,
    /// `{*}` — any text (possibly empty), shortest match. A ` {*}` that ends the pattern also
    /// matches nothing at all, so `+OK {*}` matches a bare `+OK`.
    Wildcard {
        /// Whether this is the optional-trailing form (the space before it is included here).
        trailing: bool,
    },
    /// `{name}` or `{name:regex}` for a name not bound before: captures (default regex `.*?`,
    /// shortest match).
    Capture {
        /// The variable.
        name: String,
        /// The regex for the captured text, already checked to compile.
        regex: String,
    },
    /// `{name}` for a name already bound: the text must equal its value.
    Var(String),
    /// `{/regex/}` — an anonymous regex, checked to compile.
    Regex(String),
}

/// A line to send: literal text with substitutions.
#[derive(Debug, Clone)]
pub struct Template {
    /// The text as written, for reports.
    pub source: String,
    /// The pieces in order.
    pub pieces: Vec<TemplatePiece>,
}

/// A piece of a [`Template`].
#[derive(Debug, Clone)]
pub enum TemplatePiece {
    /// Bytes sent as is.
    Literal(Vec<u8>),
    /// `{expr}` — the value of an expression.
    Expr(Expr),
}

/// A value computed when the step runs.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A captured or profile variable (`user`, `password`, `token` are always bound; so are
    /// `tls_exporter` and `tls_server_end_point`, the TLS channel's bindings, when there is
    /// one).
    Var(String),
    /// A string literal `"..."` (escapes `\"`, `\\`, `\r`, `\n`, `\t`, `\0`, `\xHH`).
    Str(Vec<u8>),
    /// An integer literal.
    Int(u64),
    /// A function call, arity checked.
    Call(Func, Vec<Expr>),
}

/// The functions of the language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Func {
    /// `apop(stamp, secret)` — RFC 1939 §7 digest, hex.
    Apop,
    /// `cram_md5(challenge_base64, user, secret)` — RFC 2195 response, base64.
    CramMd5,
    /// `base64(bytes)`.
    Base64,
    /// `plain(authzid, authcid, passwd)` — RFC 4616 message, base64.
    Plain,
    /// `scram_client_first(gs2_header, user, cnonce)` — RFC 5802 §7 client-first-message
    /// (`gs2_header` such as `"n,,"` or `"y,,"`, the user name escaped), base64.
    ScramClientFirst,
    /// `scram_client_final(mech, client_first, password, server_first)` — RFC 5802 §3
    /// client-final-message with its ClientProof, base64; the messages as sent, base64.
    ScramClientFinal,
    /// `scram_server_signature(mech, client_first, password, server_first)` — the
    /// ServerSignature the server-final `v=` must carry (RFC 5802 §3), base64.
    ScramServerSignature,
    /// `scram_client_final_cb(mech, client_first, password, server_first, cbind_data)` — the
    /// client-final-message of a -PLUS exchange: `c=` the GS2 header and the channel's
    /// binding data (RFC 5802 §6, §7), base64.
    ScramClientFinalCb,
    /// `scram_server_signature_cb(mech, client_first, password, server_first, cbind_data)` —
    /// the ServerSignature of that exchange, base64.
    ScramServerSignatureCb,
    /// `scram_attr(message_base64, name)` — the value of attribute `name=` of a SCRAM message
    /// (RFC 5802 §5.1), empty when the message has none.
    ScramAttr,
    /// `oauthbearer(authzid, token)` — RFC 7628 §3.1 initial client response
    /// (`n,a=authzid,^Aauth=Bearer token^A^A`), base64.
    OAuthBearer,
    /// `oauthbearer_kv(authzid, token, pairs)` — the same with `pairs` (each `key=value` and
    /// %x01, as written) before `auth`, base64.
    OAuthBearerKv,
    /// `xoauth2(user, token)` — the XOAUTH2 message (`user=U^Aauth=Bearer T^A^A`), base64.
    Xoauth2,
    /// `oauth_status(challenge_base64)` — `status` of the JSON error result (RFC 7628
    /// §3.2.2); a challenge that is not such JSON fails the case.
    OAuthStatus,
    /// `prefix(text, n)` — the first `n` characters of `text`.
    Prefix,
    /// `min(a, b)` — the smaller of two decimal numbers.
    Min,
    /// `repeat(text, n)`.
    Repeat,
    /// `crlf()`, `lf()`, `cr()`, `nul()` — control bytes for robustness cases.
    Crlf,
    /// `lf()`
    Lf,
    /// `cr()`
    Cr,
    /// `nul()`
    Nul,
}

/// A check on a multi-line body (`B:` step).
#[derive(Debug, Clone)]
pub enum BodyCheck {
    /// `octets={expr}` — the un-stuffed body, CRLF line ends, has this many octets.
    Octets(Expr),
    /// `lines={expr}` — this many lines.
    Lines(Expr),
    /// `fixture=N` — equals standard-fixture message N (CRLF line ends).
    Fixture(u32),
    /// `top=N,K` — equals what TOP N K must send for fixture message N.
    Top(u32, u32),
    /// `capture=NAME` — binds NAME to the list of un-stuffed body lines.
    Capture(String),
}

/// A check over captured values (`assert` step).
#[derive(Debug, Clone)]
pub enum Assertion {
    /// `a == b`
    Eq(AExpr, AExpr),
    /// `a != b`
    Ne(AExpr, AExpr),
    /// `unique(list)` — no value repeats.
    Unique(String),
    /// `not_reused(new, old)` — each value of `new` is the value `old` has at the same place,
    /// or none of `old`'s values: no value moved to another place (RFC 1939 §7: a unique-id
    /// is never given to another message).
    NotReused(String, String),
}

/// An operand of an assertion.
#[derive(Debug, Clone)]
pub enum AExpr {
    /// A scalar value (the last value, for a list).
    Value(Expr),
    /// `sum(list)` of numbers.
    Sum(String),
    /// `count(list)`.
    Count(String),
}

impl Step {
    /// Whether this step may take the maildrop: a `login` or `reseed` step, or a line sent
    /// with an expression that uses `password` (RFC 1939 §4: the lock comes with the first
    /// successful login, and none succeeds without the password). A case that holds the
    /// maildrop ([`Case::holds_maildrop`]) is one with such a step.
    pub fn may_log_in(&self) -> bool {
        crate::maildrop::may_log_in(self)
    }

    /// Whether this step tries to log in, with whatever credentials: [`Step::may_log_in`],
    /// or a line that starts with PASS, APOP or AUTH (any case, after leading blanks). A case
    /// that holds the maildrop needs its account to itself from its first such step on: a
    /// server that wrongly accepts a wrong secret takes the lock for it too, and another
    /// case's session must not meet that lock (the case would then see `-ERR [IN-USE]`
    /// where a run one case at a time sees the fault). The steps before it run beside
    /// other cases.
    pub fn tries_login(&self) -> bool {
        crate::maildrop::tries_login(self)
    }
}

impl Case {
    /// Whether the case sends an expression that uses `token` (the run's bearer token,
    /// RFC 7628): without one it cannot be judged, and the runner skips it.
    pub fn uses_token(&self) -> bool {
        crate::maildrop::uses_var(&self.steps, "token")
    }

    /// Whether the case may leave the maildrop changed on some server, compliant or not: it
    /// mutates, has a `reseed` step, or sends DELE (which a faulty server may apply although
    /// the case then RSETs or drops the connection, RFC 1939 §5, §6). The runner restores
    /// the maildrop after each such case (with `--reseed-cmd`, or the bundled server's own),
    /// so that no case's verdict depends on what ran before it on the account.
    pub fn may_change_maildrop(&self) -> bool {
        crate::maildrop::may_change_maildrop(self.mutates, &self.steps)
    }

    /// The index of the first step from which the case needs its account's maildrop to
    /// itself, if any: a `login` or `reseed` step, a login attempt whose answer may be
    /// positive, or the first step when it mutates. Login attempts the case expects to be
    /// refused come before it and run beside other cases (RFC 1939 §4: no lock without a
    /// successful login).
    pub fn hold_point(&self) -> Option<usize> {
        if !self.holds_maildrop {
            return None;
        }
        crate::maildrop::hold_point(self.mutates, &self.steps)
    }

    /// The failed logins the case makes, estimated from its text: each line it sends that
    /// starts with PASS, APOP or AUTH without using `password`. A server may delay every
    /// refused login (Dovecot's `auth_failure_delay`, 2 s by default), so the runner starts
    /// the cases with the most first. An estimate for ordering a run; it never decides a
    /// verdict.
    pub fn failed_logins(&self) -> usize {
        crate::maildrop::failed_logins(&self.steps)
    }
}
