//! Server responses: decoding raw bytes (status lines, `+ ` continuations, multi-line
//! bodies, CAPA lines), and round-trips of generated values (RFC 1939 §3, RFC 2449 §3-§8,
//! RFC 3206, RFC 5034 §4).

use arbitrary::{Result, Unstructured};
use pop3_proto::capa::{Expire, MAX_CAPABILITY_LINE};
use pop3_proto::line::{split_line, LineError};
use pop3_proto::multiline::{decode_body_line, unstuff, wire_size, MultilineError};
use pop3_proto::response::MAX_STATUS_LINE;
use pop3_proto::{
    message, BodyLine, Capability, Decoded, ResponseCode, ResponseError, ServerLine, Status,
    StatusLine, Stuffer,
};

use crate::gen;

/// The longest body line read (RFC 5322 §2.1.1: 998 characters and CRLF).
pub const MAX_BODY_LINE: usize = 1000;

/// `response_decode`: the input's first byte says which `+OK` responses have a multi-line
/// body (bit `i % 8` for the `i`-th status line); the rest is read as a server's stream.
///
/// Properties: no panic; [`ServerLine::decode`] agrees with [`split_line`] and
/// [`ServerLine::parse`]; a decoded line re-encodes to itself; an APOP timestamp is a
/// `<...@...>` inside the text (RFC 1939 §7); a body read line by line un-stuffs as
/// [`unstuff`] does, and stuffing the result gives the wire bytes back (RFC 1939 §3); a body
/// line that parses as a capability re-encodes to itself (RFC 2449 §5-§6).
pub fn response_decode(data: &[u8]) {
    let Some((&mask, mut buf)) = data.split_first() else {
        return;
    };
    let mut responses = 0u32;
    while !buf.is_empty() {
        let (line, used) = match split_line(buf, MAX_STATUS_LINE) {
            Ok(Decoded::Complete(line, used)) => (line, used),
            Ok(Decoded::Incomplete) => return,
            Err(e) => {
                assert_eq!(ServerLine::decode(buf), Err(ResponseError::Line(e.clone())));
                buf = &buf[skip(buf, &e)..];
                continue;
            }
        };
        let parsed = ServerLine::parse(line);
        assert_eq!(
            ServerLine::decode(buf),
            parsed.clone().map(|l| Decoded::Complete(l, used))
        );
        buf = &buf[used..];
        let Ok(server_line) = parsed else {
            continue;
        };
        assert_reencodes(&server_line);
        let multiline = mask & (1 << (responses % 8)) != 0;
        responses += 1;
        if let ServerLine::Status(status) = &server_line {
            if let Some(stamp) = status.timestamp() {
                assert!(stamp.starts_with('<') && stamp.ends_with('>') && stamp.contains('@'));
                assert!(status.text.contains(stamp));
            }
            if status.is_ok() && multiline {
                buf = &buf[read_body(buf)..];
            }
        }
    }
}

/// Bytes to drop after a bad line: up to its LF, or all when none has come.
fn skip(buf: &[u8], e: &LineError) -> usize {
    match e {
        LineError::BareLineFeed { consumed } => *consumed,
        LineError::TooLong { .. } => buf
            .iter()
            .position(|&b| b == b'\n')
            .map_or(buf.len(), |lf| lf + 1),
    }
}

/// Reads one body from the front of `buf` line by line; returns the bytes it used.
fn read_body(buf: &[u8]) -> usize {
    let mut at = 0;
    let mut out = Vec::new();
    let mut clean = true;
    loop {
        match decode_body_line(&buf[at..], MAX_BODY_LINE) {
            Ok(Decoded::Complete(BodyLine::End, used)) => {
                at += used;
                break;
            }
            Ok(Decoded::Complete(BodyLine::Data { data, stuffed }, used)) => {
                assert_eq!(stuffed, data.first() == Some(&b'.'));
                assert_eq!(used, data.len() + usize::from(stuffed) + 2);
                check_capability_line(data);
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\n");
                at += used;
            }
            Ok(Decoded::Incomplete) => return buf.len(),
            Err(MultilineError::Unstuffed { consumed }) => {
                clean = false;
                at += consumed;
            }
            Err(MultilineError::Line(e)) => {
                clean = false;
                at += skip(&buf[at..], &e);
            }
        }
    }
    if clean {
        // the whole body at once gives the same lines, and stuffing them gives the wire back
        let mut whole = Vec::new();
        assert_eq!(
            unstuff(buf, MAX_BODY_LINE, &mut whole),
            Ok(Decoded::Complete((), at))
        );
        assert_eq!(whole, out);
        assert_eq!(Stuffer::stuff_all(&out), &buf[..at]);
        assert_eq!(wire_size(&out), out.len() as u64);
    }
    at
}

/// A line that parses as a capability re-encodes to a line that parses the same.
fn check_capability_line(line: &[u8]) {
    if let Ok(cap) = Capability::parse(line) {
        let _ = cap.tag();
        let again = cap.to_string();
        assert_eq!(
            Capability::parse(again.as_bytes()),
            Ok(cap),
            "capability {:?} re-encoded as {again:?}",
            String::from_utf8_lossy(line)
        );
    }
}

fn assert_reencodes(line: &ServerLine) {
    let bytes = line.to_bytes();
    let decoded = if bytes.len() > MAX_STATUS_LINE {
        // the canonical form puts the space RFC 2449 §8 has after a response code that a
        // server glued to its text (`-ERR [X]text`): one octet more than the line read, which
        // may then pass the wire limit; the value must still come back
        assert_eq!(
            bytes.len(),
            MAX_STATUS_LINE + 1,
            "{line:?} re-encoded as {:?}",
            String::from_utf8_lossy(&bytes)
        );
        let at = bytes
            .windows(2)
            .position(|w| w == b"] ")
            .expect("a response code followed by text");
        let glued = [&bytes[..=at], &bytes[at + 2..]].concat();
        ServerLine::decode(&glued).map(|d| match d {
            Decoded::Complete(l, _) => Decoded::Complete(l, bytes.len()),
            other => other,
        })
    } else {
        ServerLine::decode(&bytes)
    };
    assert_eq!(
        decoded,
        Ok(Decoded::Complete(line.clone(), bytes.len())),
        "{line:?} re-encoded as {:?}",
        String::from_utf8_lossy(&bytes)
    );
}

/// `response_roundtrip`: a generated server line, a generated capability and a message
/// made of the remaining bytes are encoded and decoded again.
///
/// Properties: the same line and capability come back, or a length error when the line is
/// over 512 octets (RFC 2449 §4); a message stuffed and terminated un-stuffs to its CRLF
/// form, whose length is [`wire_size`] (RFC 1939 §3, §11); [`message::top_cut`] ends on a
/// line boundary and grows with the line count (RFC 1939 §7).
pub fn response_roundtrip(data: &[u8]) {
    let mut u = Unstructured::new(data);
    if let Ok(line) = arbitrary_server_line(&mut u) {
        let bytes = line.to_bytes();
        if bytes.len() > MAX_STATUS_LINE {
            assert!(matches!(
                ServerLine::decode(&bytes),
                Err(ResponseError::Line(LineError::TooLong { .. }))
            ));
        } else {
            assert_reencodes(&line);
        }
    }
    if let Ok(cap) = arbitrary_capability(&mut u) {
        let text = cap.to_string();
        if text.len() + 2 > MAX_CAPABILITY_LINE {
            assert!(Capability::parse(text.as_bytes()).is_err());
        } else {
            assert_eq!(Capability::parse(text.as_bytes()), Ok(cap), "{text:?}");
        }
    }
    let lines: u32 = u.int_in_range(0..=8).unwrap_or(0);
    check_body(u.take_rest(), lines);
}

fn check_body(m: &[u8], lines: u32) {
    let wire = Stuffer::stuff_all(m);
    assert!(wire.ends_with(b".\r\n"));
    let mut out = Vec::new();
    assert_eq!(
        unstuff(&wire, wire.len() + 2, &mut out),
        Ok(Decoded::Complete((), wire.len()))
    );
    assert_eq!(out, message::to_crlf(m));
    assert_eq!(out.len() as u64, wire_size(m));
    let cut = message::top_cut(m, lines);
    assert!(cut <= m.len());
    assert!(
        cut == m.len() || m[cut - 1] == b'\n',
        "TOP cuts at a line end"
    );
    assert!(message::top_cut(m, lines + 1) >= cut);
}

/// A well-formed server line: a status with an optional response code and text that does
/// not start with `[` when there is no code, or a continuation.
fn arbitrary_server_line(u: &mut Unstructured<'_>) -> Result<ServerLine> {
    if u.ratio(1u8, 4u8)? {
        return Ok(ServerLine::Continuation(gen::text(u, 0, 80, true)?));
    }
    let status = if u.arbitrary()? {
        Status::Ok
    } else {
        Status::Err
    };
    let code = if u.arbitrary()? {
        Some(arbitrary_code(u)?)
    } else {
        None
    };
    let mut text = gen::text(u, 0, 120, true)?;
    if code.is_none() && text.starts_with('[') {
        text.insert(0, 'x');
    }
    Ok(ServerLine::Status(StatusLine { status, code, text }))
}

const KNOWN_CODES: &[&str] = &["IN-USE", "LOGIN-DELAY", "SYS/TEMP", "SYS/PERM", "AUTH"];

/// RFC 2449 §8 and RFC 3206 codes; others are `level *("/" level)` of printable ASCII
/// without `/` and `]`, and not a known code in another case.
fn arbitrary_code(u: &mut Unstructured<'_>) -> Result<ResponseCode> {
    Ok(match u.int_in_range(0..=5u8)? {
        0 => ResponseCode::InUse,
        1 => ResponseCode::LoginDelay,
        2 => ResponseCode::SysTemp,
        3 => ResponseCode::SysPerm,
        4 => ResponseCode::Auth,
        _ => {
            let levels = u.int_in_range(1..=3u8)?;
            let mut code = Vec::new();
            for _ in 0..levels {
                code.push(gen::ascii(u, 12, |b| b != b'/' && b != b']')?);
            }
            let mut code = code.join("/");
            if KNOWN_CODES.iter().any(|k| k.eq_ignore_ascii_case(&code)) {
                code.push_str("-X");
            }
            ResponseCode::Other(code)
        }
    })
}

const KNOWN_TAGS: &[&str] = &[
    "TOP",
    "USER",
    "SASL",
    "RESP-CODES",
    "LOGIN-DELAY",
    "PIPELINING",
    "EXPIRE",
    "UIDL",
    "IMPLEMENTATION",
    "AUTH-RESP-CODE",
    "STLS",
    "UTF8",
];

/// A well-formed capability (RFC 2449 §6, RFC 2595 §4, RFC 3206 §6, RFC 6856 §2); other
/// tags are printable ASCII without `.` and not a known tag in another case.
fn arbitrary_capability(u: &mut Unstructured<'_>) -> Result<Capability> {
    let words = |u: &mut Unstructured<'_>| -> Result<Vec<String>> {
        let n = u.int_in_range(0..=4u8)?;
        (0..n).map(|_| gen::word(u, 20)).collect()
    };
    Ok(match u.int_in_range(0..=12u8)? {
        0 => Capability::Top,
        1 => Capability::User,
        2 => Capability::Sasl(words(u)?),
        3 => Capability::RespCodes,
        4 => Capability::LoginDelay {
            seconds: u.arbitrary()?,
            per_user: u.arbitrary()?,
        },
        5 => Capability::Pipelining,
        6 => Capability::Expire {
            value: if u.arbitrary()? {
                Expire::Never
            } else {
                Expire::Days(u.arbitrary()?)
            },
            per_user: u.arbitrary()?,
        },
        7 => Capability::Uidl,
        8 => Capability::Implementation(gen::text(u, 0, 60, false)?),
        9 => Capability::AuthRespCode,
        10 => Capability::Stls,
        11 => Capability::Utf8 {
            user: u.arbitrary()?,
        },
        _ => {
            let mut tag = gen::ascii(u, 16, |b| b != b'.')?;
            if KNOWN_TAGS.iter().any(|k| k.eq_ignore_ascii_case(&tag)) {
                tag.push_str("-X");
            }
            Capability::Other {
                tag,
                params: words(u)?,
            }
        }
    })
}
