//! The reference server's whole session (`reference-server/src/session.rs`, no I/O) driven
//! from bytes the way its connection layer drives it (RFC 1939, RFC 2449, RFC 2595,
//! RFC 5034).

use std::sync::Arc;

use pop3_proto::auth::decode_base64;
use pop3_proto::line::{split_line, LineError};
use pop3_proto::multiline::{decode_body_line, unstuff};
use pop3_proto::response::MAX_STATUS_LINE;
use pop3_proto::{
    BodyLine, Capability, Command, Decoded, Limits, ResponseCode, ServerLine, StatusLine, Stuffer,
};
use reference_server::lock::LockTable;
use reference_server::maildrop::MemoryStore;
use reference_server::session::{Context, Output, Session, MAX_SASL_LINE};
use reference_server::{fixture, Fault, Faults, Users};

/// The RFC 1939 §7 greeting timestamp, so that the RFC's APOP example logs in.
pub const TIMESTAMP: &str = "<1896.697170952@dbc.mtview.ca.us>";

/// Connections one input may open one after the other.
const MAX_SESSIONS: usize = 8;

/// Longest body line the checker reads: a message line (the fixture's are under 998
/// octets, RFC 5322 §2.1.1) after stuffing, or a listing line.
const MAX_BODY_LINE: usize = 64 * 1024;

/// Small messages with the framing edge cases: empty, a lone dot, dots at line starts, bare
/// LF and CR, no line end at the end.
const EDGE_MESSAGES: &[&[u8]] = &[
    b"",
    b".\n",
    b"Subject: dots\n\n.\n..\n.x\n...\nend",
    b"Subject: mixed\r\n\r\nCRLF\r\nLF\nCR\rmid\n\n",
    b"no header or blank line",
];

/// `session`: byte 0 sets the server up (bit 0: plaintext logins allowed before TLS,
/// bit 1: STLS available, bit 2: the connection starts in TLS; bit 7: byte 1 picks one
/// deliberate fault of `reference-server/src/fault.rs`); the rest is what the client sends.
/// Lines are cut as the connection layer cuts them and fed to [`Session::handle_line`]; a
/// closed session is followed by a new connection to the same server, up to 8.
///
/// Properties (without a fault; with one, only that nothing panics): every reply is
/// well-framed (RFC 1939 §3): one status line (`+OK`/`-ERR`, at most 512 octets, RFC 2449
/// §4) or, during AUTH, a `+ ` continuation with strict base64 (RFC 5034 §4); a multi-line
/// body after `+OK` to LIST, UIDL, CAPA and AUTH without arguments, and to RETR and TOP,
/// ended by the `.` line and nothing after it; CAPA lines parse (RFC 2449 §5); UIDL
/// unique-ids are 1 to 70 characters 0x21-0x7E (RFC 1939 §7); RETR's octet count is the
/// body's (RFC 1939 §11); the greeting carries its timestamp (RFC 1939 §7); a maildrop is
/// never found locked, since each connection is closed before the next opens (RFC 1939 §8).
pub fn session(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (fault, input) = match (flags & 0x80 != 0, rest.split_first()) {
        (true, Some((&pick, input))) => (
            Some(Fault::ALL[usize::from(pick) % Fault::ALL.len()]),
            input,
        ),
        _ => (None, rest),
    };
    let ctx = context(flags & 1 != 0, flags & 2 != 0, fault);
    let mut wire = Wire {
        input,
        at: 0,
        skipping: false,
        strict: fault.is_none(),
    };
    for _ in 0..MAX_SESSIONS {
        let (mut session, greeting) =
            Session::with_timestamp(ctx.clone(), flags & 4 != 0, TIMESTAMP.into());
        if wire.strict {
            let g = single_status(&greeting);
            assert!(
                g.is_ok() && g.timestamp() == Some(TIMESTAMP),
                "greeting {g:?}"
            );
        }
        if !wire.serve(&mut session) {
            return;
        }
    }
}

fn context(plaintext: bool, stls: bool, fault: Option<Fault>) -> Arc<Context> {
    let store = MemoryStore::new();
    for (i, m) in fixture::MESSAGES.iter().enumerate() {
        // message 5 is 1 MB: too slow to send on every input
        if i != 4 {
            store.deliver("mrose", m.to_vec());
        }
    }
    for m in EDGE_MESSAGES {
        store.deliver("tim", m.to_vec());
    }
    let mut users = Users::new();
    users.insert("mrose", "tanstaaf");
    users.insert("tim", "tanstaaftanstaaf");
    users.insert("empty", "empty");
    let faults = fault.map_or_else(Faults::none, |f| Faults::none().with(f));
    Arc::new(Context {
        users,
        store: Arc::new(store),
        locks: LockTable::default(),
        hostname: "dbc.mtview.ca.us".into(),
        allow_plaintext_auth: plaintext,
        stls_available: stls,
        faults,
        variants: reference_server::Variants::none(),
    })
}

/// The client's bytes and where the connection layer is in them.
struct Wire<'a> {
    input: &'a [u8],
    at: usize,
    /// Dropping the rest of an over-long line.
    skipping: bool,
    /// Whether the replies are checked (no fault on).
    strict: bool,
}

impl Wire<'_> {
    /// Feeds lines to `session` until it closes (`true`: a new connection may follow) or
    /// the input ends (`false`: the client drops the connection).
    fn serve(&mut self, session: &mut Session) -> bool {
        loop {
            let buf = &self.input[self.at..];
            if self.skipping {
                match buf.iter().position(|&b| b == b'\n') {
                    Some(lf) => {
                        self.at += lf + 1;
                        self.skipping = false;
                        continue;
                    }
                    None => return false,
                }
            }
            let in_sasl = session.max_line() == MAX_SASL_LINE;
            let (line, out) = match split_line(buf, session.max_line()) {
                Ok(Decoded::Complete(line, used)) => {
                    self.at += used;
                    (Some(line), session.handle_line(line))
                }
                Ok(Decoded::Incomplete) => return false,
                Err(e) => {
                    match e {
                        LineError::BareLineFeed { consumed } => self.at += consumed,
                        LineError::TooLong { .. } => self.skipping = true,
                    }
                    (None, session.handle_bad_line(&e))
                }
            };
            let expect = match line {
                Some(l) if !in_sasl => Expect::after(l),
                Some(_) => Expect::Sasl,
                None => Expect::Single,
            };
            match out {
                Output::Reply(r) => self.check(&r, expect),
                Output::Message { head, content } => {
                    let mut bytes = head;
                    let mut stuffer = Stuffer::new();
                    stuffer.feed(&content, &mut bytes);
                    stuffer.finish(&mut bytes);
                    self.check(&bytes, expect);
                }
                Output::StartTls(r) => {
                    self.check(&r, Expect::Single);
                    session.tls_started();
                }
                Output::Close(r) => {
                    self.check(&r, Expect::Close);
                    return true;
                }
                Output::LockBusy => {
                    panic!("handle_line answered LockBusy: only the patient call may")
                }
            }
        }
    }

    fn check(&self, reply: &[u8], expect: Expect) {
        if self.strict {
            check_reply(reply, expect);
        }
    }
}

/// What shape of reply a line calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// One status line.
    Single,
    /// A status line, then a body if `+OK`; `what` says how to check the body's lines.
    Multi(Body),
    /// During AUTH: a continuation or one status line.
    Sasl,
    /// An AUTH command: a continuation, a status line, or a mechanism list.
    Auth,
    /// A closing reply: one or more status lines.
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Capa,
    Uidl,
    Listing,
    Retr,
    Message,
}

impl Expect {
    /// The reply shape a command line calls for (RFC 1939 §5, §7, RFC 2449 §5, RFC 5034 §4).
    fn after(line: &[u8]) -> Expect {
        match Command::parse(line, &Limits::RFC2449) {
            Ok(Command::Capa) => Expect::Multi(Body::Capa),
            Ok(Command::List(None)) => Expect::Multi(Body::Listing),
            Ok(Command::Uidl(None)) => Expect::Multi(Body::Uidl),
            Ok(Command::Retr(_)) => Expect::Multi(Body::Retr),
            Ok(Command::Top { .. }) => Expect::Multi(Body::Message),
            Ok(Command::Auth {
                mechanism: None, ..
            }) => Expect::Multi(Body::Listing),
            Ok(Command::Auth { .. }) => Expect::Auth,
            _ => Expect::Single,
        }
    }
}

/// Parses the first line of `reply` as a server line; returns it and the bytes it used.
fn first_line(reply: &[u8]) -> (ServerLine, usize) {
    match split_line(reply, MAX_STATUS_LINE) {
        Ok(Decoded::Complete(line, used)) => match ServerLine::parse(line) {
            Ok(l) => (l, used),
            Err(e) => panic!("bad server line {:?}: {e}", String::from_utf8_lossy(line)),
        },
        other => panic!("reply {:?}: {other:?}", String::from_utf8_lossy(reply)),
    }
}

/// A reply that must be exactly one status line.
fn single_status(reply: &[u8]) -> StatusLine {
    match first_line(reply) {
        (ServerLine::Status(s), used) if used == reply.len() => s,
        other => panic!("expected one status line, got {other:?} in {reply:?}"),
    }
}

fn check_reply(reply: &[u8], expect: Expect) {
    let (line, used) = first_line(reply);
    let rest = &reply[used..];
    let status = match (line, expect) {
        (ServerLine::Continuation(data), Expect::Sasl | Expect::Auth) => {
            assert!(rest.is_empty(), "a continuation is one line");
            assert!(
                decode_base64(&data).is_ok(),
                "challenge {data:?} is not base64"
            );
            return;
        }
        (ServerLine::Continuation(data), _) => panic!("unexpected continuation {data:?}"),
        (ServerLine::Status(s), _) => s,
    };
    if let Some(ResponseCode::InUse) = status.code {
        panic!("maildrop found locked with no other session open: {status:?}");
    }
    match expect {
        Expect::Multi(body) if status.is_ok() => {
            let content = check_body(rest, body);
            if body == Body::Retr {
                let octets = status
                    .text
                    .split(' ')
                    .next()
                    .and_then(|n| n.parse::<usize>().ok());
                assert_eq!(octets, Some(content), "RETR's octet count: {status:?}");
            }
        }
        Expect::Close => {
            // a last -ERR may be followed by the one saying why the server hangs up
            if !rest.is_empty() {
                single_status(rest);
            }
        }
        _ => assert!(rest.is_empty(), "{status:?} is followed by {rest:?}"),
    }
}

/// Checks a body that must fill `bytes` exactly; returns its un-stuffed length.
fn check_body(bytes: &[u8], body: Body) -> usize {
    let mut at = 0;
    loop {
        match decode_body_line(&bytes[at..], MAX_BODY_LINE) {
            Ok(Decoded::Complete(BodyLine::End, used)) => {
                assert_eq!(at + used, bytes.len(), "bytes after the terminator");
                break;
            }
            Ok(Decoded::Complete(BodyLine::Data { data, .. }, used)) => {
                check_body_line(data, body);
                at += used;
            }
            other => panic!("body {:?}: {other:?}", String::from_utf8_lossy(bytes)),
        }
    }
    let mut out = Vec::new();
    assert_eq!(
        unstuff(bytes, MAX_BODY_LINE, &mut out),
        Ok(Decoded::Complete((), bytes.len()))
    );
    out.len()
}

fn check_body_line(data: &[u8], body: Body) {
    let text = || String::from_utf8_lossy(data);
    match body {
        Body::Capa => {
            assert!(Capability::parse(data).is_ok(), "CAPA line {:?}", text());
        }
        Body::Uidl => {
            let (n, uid) = text()
                .split_once(' ')
                .map(|(n, u)| (n.to_owned(), u.to_owned()))
                .unwrap_or_default();
            assert!(
                n.parse::<u32>().is_ok_and(|n| n > 0),
                "UIDL line {:?}",
                text()
            );
            assert!(
                (1..=70).contains(&uid.len()) && uid.bytes().all(|b| (0x21..=0x7e).contains(&b)),
                "unique-id {uid:?} (RFC 1939 §7)"
            );
        }
        Body::Listing | Body::Retr | Body::Message => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves `lines` with `fault` on but the replies checked, as if the server were clean.
    fn strict_with(fault: Fault, lines: &str) {
        let ctx = context(true, false, Some(fault));
        let mut wire = Wire {
            input: lines.as_bytes(),
            at: 0,
            skipping: false,
            strict: true,
        };
        let (mut session, _) = Session::with_timestamp(ctx, false, TIMESTAMP.into());
        wire.serve(&mut session);
    }

    const LOGIN: &str = "USER tim\r\nPASS tanstaaftanstaaf\r\n";

    #[test]
    fn a_clean_session_passes() {
        session(format!("\x03{LOGIN}CAPA\r\nUIDL\r\nRETR 3\r\nTOP 3 1\r\nQUIT\r\n").as_bytes());
    }

    /// Message 3's lone `.` line, sent un-stuffed, ends the body early.
    #[test]
    #[should_panic(expected = "bytes after the terminator")]
    fn an_unstuffed_body_is_caught() {
        strict_with(Fault::NoByteStuffing, &format!("{LOGIN}RETR 3\r\n"));
    }

    #[test]
    #[should_panic(expected = "body")]
    fn a_missing_terminator_is_caught() {
        strict_with(Fault::CapaMissingTerminator, "CAPA\r\nNOOP\r\n");
    }

    #[test]
    #[should_panic(expected = "unique-id")]
    fn an_over_long_unique_id_is_caught() {
        strict_with(Fault::UidlTooLong, &format!("{LOGIN}UIDL\r\n"));
    }

    #[test]
    #[should_panic(expected = "bad server line")]
    fn err_without_the_dash_is_caught() {
        strict_with(Fault::ErrWithoutDash, "RETR 1\r\n");
    }
}
