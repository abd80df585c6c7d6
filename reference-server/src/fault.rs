//! Deliberate defects, for proving that the scenarios catch them (never on unless named).
//!
//! Each fault is a deviation real servers have shipped. `conform serve --fault NAME`,
//! `conform run --fault NAME` or [`crate::Config::faults`] turns one on; the normal build
//! path never does. `conform selfcheck` runs the whole catalogue against each one in turn and
//! reports which cases caught it (the mutation score).
//!
//! The faults that change a response's framing build the faulty bytes here
//! ([`faulty_message`]), so the correct path in the session and the connection stays plain.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// Which server configuration a fault shows in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Setup {
    /// Plaintext logins allowed (the bundled server of `conform run`).
    PlaintextAllowed,
    /// Plaintext logins refused before TLS (`conform serve` as shipped, RFC 2595 §2.1).
    PlaintextRefused,
    /// The catalogue over implicit TLS (RFC 8314), where the channel-binding mechanisms
    /// (SCRAM -PLUS) are offered.
    ImplicitTls,
}

impl Setup {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Setup::PlaintextAllowed => "plaintext-allowed",
            Setup::PlaintextRefused => "plaintext-refused",
            Setup::ImplicitTls => "implicit-tls",
        }
    }
}

/// What part of the protocol a fault breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Area {
    /// States and transitions (RFC 1939 §3-§6).
    StateMachine,
    /// Message numbers, sizes, unique-ids (RFC 1939 §5, §7).
    Listings,
    /// Lines, byte-stuffing, terminators (RFC 1939 §3, RFC 2449 §4).
    Framing,
    /// TOP (RFC 1939 §7).
    Top,
    /// APOP, AUTH and its mechanisms (RFC 1939 §7, RFC 5034, RFC 4616, RFC 2195).
    Auth,
    /// CAPA and what it announces (RFC 2449).
    Capa,
    /// STLS (RFC 2595).
    Tls,
    /// Mail that arrives between sessions (RFC 1939 §7 unique-ids): neither the catalogue nor
    /// `conform model` delivers mail yet, so these show only with a delivery step.
    Delivery,
}

impl Area {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Area::StateMachine => "state machine",
            Area::Listings => "listings",
            Area::Framing => "framing",
            Area::Top => "TOP",
            Area::Auth => "auth",
            Area::Capa => "CAPA",
            Area::Tls => "TLS",
            Area::Delivery => "delivery",
        }
    }
}

macro_rules! faults {
    ($( $variant:ident => $name:literal, $area:ident, $setup:ident, $doc:literal; )*) => {
        /// One deliberate defect.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Fault {
            $( #[doc = $doc] $variant, )*
        }

        impl Fault {
            /// Every fault.
            pub const ALL: &'static [Fault] = &[$(Fault::$variant),*];

            /// The fault's name on the command line.
            pub fn name(self) -> &'static str {
                match self { $(Fault::$variant => $name,)* }
            }

            /// What the fault breaks.
            pub fn area(self) -> Area {
                match self { $(Fault::$variant => Area::$area,)* }
            }

            /// The configuration the fault shows in.
            pub fn setup(self) -> Setup {
                match self { $(Fault::$variant => Setup::$setup,)* }
            }

            /// What the server does wrong, and the rule it breaks.
            pub fn describe(self) -> &'static str {
                match self { $(Fault::$variant => $doc,)* }
            }
        }
    };
}

faults! {
    // ---- state machine ----
    TransactionCommandsBeforeLogin => "transaction-commands-before-login", StateMachine, PlaintextAllowed,
        "STAT, LIST, UIDL, NOOP and RSET are answered +OK before login, as on an empty maildrop (RFC 1939 §3: a command not valid in the state gets -ERR).";
    LoginCommandsAfterLogin => "login-commands-after-login", StateMachine, PlaintextAllowed,
        "USER, PASS and APOP are answered +OK in the TRANSACTION state (RFC 1939 §3: valid only in AUTHORIZATION).";
    QuitInAuthorizationEntersUpdate => "quit-in-authorization-enters-update", StateMachine, PlaintextAllowed,
        "QUIT before login runs the UPDATE step with no maildrop open and answers -ERR (RFC 1939 §4: the server closes without entering UPDATE).";
    DeletesOnDroppedConnection => "deletes-on-dropped-connection", StateMachine, PlaintextAllowed,
        "Messages marked deleted are removed when the connection drops without QUIT (RFC 1939 §6: no UPDATE without QUIT).";
    RsetKeepsMarks => "rset-keeps-marks", StateMachine, PlaintextAllowed,
        "RSET answers +OK but leaves messages marked deleted (RFC 1939 §5: RSET unmarks them).";
    QuitForgetsDeletes => "quit-forgets-deletes", StateMachine, PlaintextAllowed,
        "QUIT in TRANSACTION answers +OK but removes nothing (RFC 1939 §6: UPDATE removes the marked messages).";
    DeleDeletedAccepted => "dele-deleted-accepted", StateMachine, PlaintextAllowed,
        "DELE of a message already marked deleted answers +OK (RFC 1939 §5: -ERR for a deleted message).";
    KeywordsCaseSensitive => "keywords-case-sensitive", StateMachine, PlaintextAllowed,
        "Command keywords are recognised only in upper case (RFC 1939 §3: keywords are case-insensitive).";
    NoMaildropLock => "no-maildrop-lock", StateMachine, PlaintextAllowed,
        "A second session opens a maildrop another session holds; each works on a snapshot taken at login, so the second's UPDATE removes messages the first still lists (Dovecot's pop3_lock_session = no; RFC 1939 §4: an exclusive-access lock \"as necessary to prevent messages from being modified or removed before the session enters the UPDATE state\", -ERR if it cannot be had).";
    // ---- listings ----
    ListRenumbersAfterDele => "list-renumbers-after-dele", Listings, PlaintextAllowed,
        "LIST renumbers the remaining messages after DELE, closing the gaps (RFC 1939 §5: message numbers do not change within a session).";
    StatCountsDeleted => "stat-counts-deleted", Listings, PlaintextAllowed,
        "STAT still counts messages marked deleted (RFC 1939 §5: they are not counted).";
    ListShowsDeleted => "list-shows-deleted", Listings, PlaintextAllowed,
        "LIST still lists messages marked deleted (RFC 1939 §5: they are not listed).";
    DeletedRetrievable => "deleted-retrievable", Listings, PlaintextAllowed,
        "RETR and TOP still return a message marked deleted (RFC 1939 §5: it may not be referred to).";
    SizesInLfOctets => "sizes-in-lf-octets", Listings, PlaintextAllowed,
        "LIST and STAT give sizes as stored with LF line ends, not as sent with CRLF (RFC 1939 §5).";
    UidlChangesEachSession => "uidl-changes-each-session", Listings, PlaintextAllowed,
        "UIDL gives a message a new unique-id in every session (RFC 1939 §7: it persists across sessions).";
    UidlIsMessageNumber => "uidl-is-message-number", Listings, PlaintextAllowed,
        "UIDL gives the message number as unique-id, reused once messages are removed (RFC 1939 §7: never reused).";
    UidlReused => "uidl-reused", Delivery, PlaintextAllowed,
        "The unique-id of a removed message is given to the next message delivered (the in-memory store reuses freed ids, newest first), so a later session lists a different message under an id a client has seen (RFC 1939 §7: \"The server should never reuse an unique-id in a given maildrop\").";
    ListSizePlusTwo => "list-size-plus-two", Listings, PlaintextAllowed,
        "LIST and STAT give every message 2 octets more than RETR sends (an mbox separator line counted; RFC 1939 §5: the size is the exact octet count of the message as sent).";
    SizeDrift => "size-drift", Listings, PlaintextAllowed,
        "After each UIDL command every size LIST and STAT give grows by one octet, within one session (RFC 1939 §5: the exact size of the message, and messages are not modified before UPDATE, RFC 1939 §4).";
    UidlTooLong => "uidl-too-long", Listings, PlaintextAllowed,
        "UIDL gives unique-ids of 80 characters (RFC 1939 §7: 1 to 70 characters).";
    MessageZeroAccepted => "message-zero-accepted", Listings, PlaintextAllowed,
        "Message number 0 is taken as message 1 (RFC 1939 §5: numbers start at 1; anything else is -ERR).";
    // ---- framing ----
    NoByteStuffing => "no-byte-stuffing", Framing, PlaintextAllowed,
        "RETR and TOP send lines that begin with \".\" without the extra \".\" (RFC 1939 §3: byte-stuffing).";
    BareLfInMessages => "bare-lf-in-messages", Framing, PlaintextAllowed,
        "RETR and TOP send the message with its stored LF line ends (RFC 1939 §3: lines end in CRLF).";
    MissingTerminator => "missing-terminator", Framing, PlaintextAllowed,
        "RETR and TOP end without the \".\" line (RFC 1939 §3: a multi-line response ends with \".\" CRLF).";
    ErrWithoutDash => "err-without-dash", Framing, PlaintextAllowed,
        "Negative replies begin \"ERR\" instead of \"-ERR\" (RFC 1939 §3: status indicators are +OK and -ERR).";
    LowercaseStatus => "lowercase-status", Framing, PlaintextAllowed,
        "Status indicators are written \"+ok\" and \"-err\" (RFC 1939 §3: Servers MUST send the \"+OK\" and \"-ERR\" in upper case).";
    OverlongErrorLines => "overlong-error-lines", Framing, PlaintextAllowed,
        "The -ERR to an unknown command echoes it with a long help text, over 512 octets (RFC 2449 §4, RFC 1939 §3).";
    // ---- TOP ----
    TopIgnoresLineCount => "top-ignores-line-count", Top, PlaintextAllowed,
        "TOP msg n sends the whole message (RFC 1939 §7: the headers, the blank line and n body lines).";
    TopDropsBlankLine => "top-drops-blank-line", Top, PlaintextAllowed,
        "TOP leaves out the blank line between the headers and the body (RFC 1939 §7).";
    // ---- auth ----
    ApopTimestampReused => "apop-timestamp-reused", Auth, PlaintextAllowed,
        "Every greeting carries the same APOP timestamp (RFC 1939 §7: different each time the server greets).";
    ApopNoTimestamp => "apop-no-timestamp", Auth, PlaintextAllowed,
        "APOP is accepted (against a timestamp the client never sees) but the greeting carries no timestamp (RFC 1939 §7: \"A POP3 server which implements the APOP command will include a timestamp in its banner greeting\"). Only a vendor declaring APOP shows it (declared: APOP).";
    ApopAcceptsWrongDigest => "apop-accepts-wrong-digest", Auth, PlaintextAllowed,
        "APOP accepts any well-formed digest for a known user (RFC 1939 §7: the server compares the digest).";
    CramMd5AcceptsWrongDigest => "cram-md5-accepts-wrong-digest", Auth, PlaintextAllowed,
        "AUTH CRAM-MD5 accepts any well-formed digest for a known user (RFC 2195 §2).";
    PlainAuthzidIgnored => "plain-authzid-ignored", Auth, PlaintextAllowed,
        "AUTH PLAIN with an authorization identity the user may not act as logs the user in anyway (RFC 4616 §2).";
    SecondAuthAccepted => "second-auth-accepted", Auth, PlaintextAllowed,
        "AUTH after a successful login answers +OK (RFC 5034 §4: AUTH is valid only in AUTHORIZATION; after success, -ERR).";
    ScramAcceptsWrongProof => "scram-accepts-wrong-proof", Auth, PlaintextAllowed,
        "AUTH SCRAM-SHA-1/-256 accepts a client-final-message whose ClientProof is wrong, and answers with a verifier (RFC 5802 §5: the server verifies the proof; RFC 5034 §4: -ERR when it cannot authenticate the client).";
    ScramWrongServerSignature => "scram-wrong-server-signature", Auth, PlaintextAllowed,
        "The SCRAM server-final-message carries a ServerSignature that is not HMAC(ServerKey, AuthMessage) (RFC 5802 §3, §5.1 v=), so a client cannot authenticate the server.";
    ScramNonceNotExtended => "scram-nonce-not-extended", Auth, PlaintextAllowed,
        "The SCRAM server-first-message's nonce is the server's own, not the client's nonce followed by the server's (RFC 5802 §5: the server \"appends its own nonce to the client-specified one\").";
    ScramLowIterations => "scram-low-iterations", Auth, PlaintextAllowed,
        "SCRAM credentials use an iteration count of 1024 (RFC 7677 §4 and RFC 5802 §5.1: SHOULD be at least 4096).";
    OauthAcceptsWrongToken => "oauth-accepts-wrong-token", Auth, PlaintextAllowed,
        "AUTH OAUTHBEARER and XOAUTH2 accept any bearer token for a known user named in the message (RFC 7628 §3.2: the server validates the token; RFC 5034 §4: -ERR when it cannot authenticate the client).";
    OauthErrorWithoutChallenge => "oauth-error-without-challenge", Auth, PlaintextAllowed,
        "A refused OAUTHBEARER or XOAUTH2 token gets -ERR at once, without the JSON error result as a challenge (RFC 7628 §3.2.2: \"the server returns an error result in JSON format and fails the authentication\"; §3: the client then sends a dummy response).";
    ScramPlusIgnoresBinding => "scram-plus-ignores-binding", Tls, ImplicitTls,
        "AUTH SCRAM-SHA-256-PLUS and SCRAM-SHA-1-PLUS accept any channel-binding data in c= (RFC 5802 §6: the binding must be the TLS channel's, tls-exporter RFC 9266 or tls-server-end-point RFC 5929; a man in the middle passes otherwise).";
    AuthCancelIgnored => "auth-cancel-ignored", Auth, PlaintextAllowed,
        "A \"*\" during AUTH is not taken as cancel: the server asks again (RFC 5034 §4: it MUST answer -ERR).";
    // ---- CAPA ----
    CapaListsUnsupportedSasl => "capa-lists-unsupported-sasl", Capa, PlaintextAllowed,
        "CAPA lists SASL DIGEST-MD5 and SCRAM-SHA-512, which AUTH rejects as unsupported (RFC 5034 §3, RFC 2449 §5).";
    CapaOmitsTop => "capa-omits-top", Capa, PlaintextAllowed,
        "CAPA does not list TOP although TOP works (RFC 2449 §5: CAPA \"returns a list of capabilities supported by the POP3 server\"; §6.1: \"The TOP capability indicates the optional TOP command is available.\").";
    CapaOmitsUidl => "capa-omits-uidl", Capa, PlaintextAllowed,
        "CAPA does not list UIDL although UIDL works (RFC 2449 §5: CAPA \"returns a list of capabilities supported by the POP3 server\"; §6.8: \"The UIDL capability indicates that the optional UIDL command is supported\").";
    CapaOmitsAuthAfterLogin => "capa-omits-auth-after-login", Capa, PlaintextAllowed,
        "CAPA after login leaves out USER and SASL (RFC 2449 §5: AUTHORIZATION capabilities are announced in both states).";
    CapaMissingTerminator => "capa-missing-terminator", Capa, PlaintextAllowed,
        "The CAPA listing ends without the \".\" line (RFC 2449 §5).";
    PipeliningAnswersFirstOnly => "pipelining-answers-first-only", Capa, PlaintextAllowed,
        "PIPELINING is announced, but of commands sent together only the first is answered (RFC 2449 §6.6).";
    // ---- TLS ----
    StlsInTransaction => "stls-in-transaction", Tls, PlaintextAllowed,
        "STLS is accepted after login (RFC 2595 §4: only in AUTHORIZATION).";
    StlsExecutesPipelinedPlaintext => "stls-executes-pipelined-plaintext", Tls, PlaintextAllowed,
        "Commands pipelined in plaintext after STLS are executed inside TLS (RFC 2595 §4, CVE-2011-0411).";
    StlsRemembersUser => "stls-remembers-user", Tls, PlaintextAllowed,
        "A USER given before STLS still counts after the handshake, so PASS alone logs in (RFC 1939 §7: PASS only immediately after a successful USER; RFC 2595 §4).";
    PlaintextAuthBeforeTls => "plaintext-auth-before-tls", Tls, PlaintextRefused,
        "USER/PASS, PLAIN and LOGIN work before TLS although CAPA withholds them (RFC 2595 §2.1, RFC 5034 §4).";
}

impl Fault {
    /// The capabilities a vendor declares for this fault's run (`conform run --expect`): a
    /// fault that hides a capability is only a fault when the vendor says the server has it.
    pub fn declared(self) -> &'static [&'static str] {
        match self {
            Fault::ApopNoTimestamp => &["APOP"],
            Fault::CapaOmitsTop => &["TOP"],
            Fault::CapaOmitsUidl => &["UIDL"],
            _ => &[],
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A fault name that does not exist.
#[derive(Debug, thiserror::Error)]
#[error("unknown fault {0:?}; known faults: {known}", known = Fault::ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", "))]
pub struct UnknownFault(pub String);

impl FromStr for Fault {
    type Err = UnknownFault;

    fn from_str(s: &str) -> Result<Fault, UnknownFault> {
        Fault::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| UnknownFault(s.to_owned()))
    }
}

/// The faults in force; empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults(BTreeSet<Fault>);

impl Faults {
    /// No faults.
    pub fn none() -> Faults {
        Faults::default()
    }

    /// Turns `fault` on.
    pub fn with(mut self, fault: Fault) -> Faults {
        self.0.insert(fault);
        self
    }

    /// Whether `fault` is on.
    pub fn has(&self, fault: Fault) -> bool {
        self.0.contains(&fault)
    }

    /// Whether any fault is on.
    pub fn any(&self) -> bool {
        !self.0.is_empty()
    }
}

/// A RETR or TOP response built under the framing faults in force, or `None` when none is
/// (the connection then stuffs, converts to CRLF and terminates, RFC 1939 §3).
pub fn faulty_message(head: &[u8], content: &[u8], faults: &Faults) -> Option<Vec<u8>> {
    let stuff = !faults.has(Fault::NoByteStuffing);
    let crlf = !faults.has(Fault::BareLfInMessages);
    let terminate = !faults.has(Fault::MissingTerminator);
    if stuff && crlf && terminate {
        return None;
    }
    let mut out = Vec::with_capacity(head.len() + content.len() + content.len() / 32 + 8);
    out.extend_from_slice(head);
    for line in content.split_inclusive(|&b| b == b'\n') {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if stuff && text.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(text);
        out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
    }
    if terminate {
        out.extend_from_slice(b".\r\n");
    }
    Some(out)
}

/// The iteration count under [`Fault::ScramLowIterations`].
pub const SCRAM_LOW_ITERATIONS: u32 = 1024;

/// A SCRAM `v=ServerSignature` with the signature's first octet changed, under
/// [`Fault::ScramWrongServerSignature`].
pub fn wrong_scram_verifier(verifier: &str) -> String {
    let sig = verifier.strip_prefix("v=").unwrap_or(verifier);
    let mut bytes = pop3_proto::auth::decode_base64(sig).unwrap_or_default();
    if let Some(b) = bytes.first_mut() {
        *b ^= 0x01;
    }
    format!("v={}", pop3_proto::auth::encode_base64(&bytes))
}

/// `reply` with every status indicator `-ERR` at a line start written `ERR`.
pub fn undash(reply: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(reply.len());
    let mut line_start = true;
    for (i, &b) in reply.iter().enumerate() {
        if line_start && reply[i..].starts_with(b"-ERR") {
            line_start = false;
            continue;
        }
        out.push(b);
        line_start = b == b'\n';
    }
    out
}

/// `reply` with every status indicator at a line start in lower case (`+ok`, `-err`).
pub fn lowercase_status(reply: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(reply.len());
    for line in reply.split_inclusive(|&b| b == b'\n') {
        if let Some(rest) = line.strip_prefix(b"+OK") {
            out.extend_from_slice(b"+ok");
            out.extend_from_slice(rest);
        } else if let Some(rest) = line.strip_prefix(b"-ERR") {
            out.extend_from_slice(b"-err");
            out.extend_from_slice(rest);
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Fault::ALL {
            assert_eq!(f.name().parse::<Fault>().unwrap(), *f);
        }
        assert!("nope"
            .parse::<Fault>()
            .unwrap_err()
            .to_string()
            .contains("list-renumbers-after-dele"));
    }

    #[test]
    fn at_least_thirty_faults_with_distinct_names_and_rfc_reasons() {
        assert!(Fault::ALL.len() >= 30, "{}", Fault::ALL.len());
        let names: BTreeSet<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names.len(), Fault::ALL.len());
        for f in Fault::ALL {
            assert!(f.describe().contains("RFC"), "{f}: {}", f.describe());
        }
    }

    #[test]
    fn faulty_framing() {
        let content = b"a\n.b\n";
        assert_eq!(faulty_message(b"+OK\r\n", content, &Faults::none()), None);
        let f = |x| Faults::none().with(x);
        assert_eq!(
            faulty_message(b"+OK\r\n", content, &f(Fault::NoByteStuffing)).unwrap(),
            b"+OK\r\na\r\n.b\r\n.\r\n"
        );
        assert_eq!(
            faulty_message(b"+OK\r\n", content, &f(Fault::BareLfInMessages)).unwrap(),
            b"+OK\r\na\n..b\n.\r\n"
        );
        assert_eq!(
            faulty_message(b"+OK\r\n", content, &f(Fault::MissingTerminator)).unwrap(),
            b"+OK\r\na\r\n..b\r\n"
        );
    }

    #[test]
    fn lowercase_only_status_indicators() {
        assert_eq!(
            lowercase_status(b"+OK x\r\n1 +OK\r\n-ERR y\r\n"),
            b"+ok x\r\n1 +OK\r\n-err y\r\n"
        );
    }

    #[test]
    fn undash_only_status_indicators() {
        assert_eq!(
            undash(b"-ERR no\r\n-ERR bye -ERR\r\n"),
            b"ERR no\r\nERR bye -ERR\r\n"
        );
        assert_eq!(undash(b"+OK -ERR\r\n"), b"+OK -ERR\r\n");
    }
}
