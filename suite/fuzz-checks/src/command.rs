//! Client commands: decoding raw bytes, and round-trips of generated commands
//! (RFC 1939 §3-§7, RFC 2449 §3-§4, RFC 2595 §4, RFC 5034 §4, RFC 6856 §2).

use arbitrary::{Result, Unstructured};
use pop3_proto::command::InitialResponse;
use pop3_proto::line::{split_line, LineError};
use pop3_proto::{Command, CommandError, Decoded, Limits};

use crate::gen;

const LIMITS: [Limits; 2] = [Limits::RFC1939, Limits::RFC2449];

/// `command_decode`: [`Command::decode`] and [`Command::parse`] on any bytes, line after
/// line, under both the RFC 1939 and the RFC 2449 limits.
///
/// Properties: no panic; a decoded command used exactly its CRLF-terminated line, at most
/// `limits.line` octets (RFC 2449 §4), and its keyword is the line's, case-insensitively
/// (RFC 1939 §3); its encoding is no longer than the line and decodes to the same command;
/// `Incomplete` only while no LF has come and the cap is not reached; a bare LF is reported
/// where it is.
pub fn command_decode(data: &[u8]) {
    for limits in &LIMITS {
        let mut at = 0;
        while at < data.len() {
            let buf = &data[at..];
            match Command::decode(buf, limits) {
                Ok(Decoded::Complete(command, used)) => {
                    assert!(used <= buf.len() && used <= limits.line);
                    assert!(buf[..used].ends_with(b"\r\n"), "a command ends with CRLF");
                    let line = &buf[..used - 2];
                    assert_eq!(Command::parse(line, limits).as_ref(), Ok(&command));
                    let keyword = command.keyword().as_bytes();
                    assert!(line.len() >= keyword.len());
                    assert!(line[..keyword.len()].eq_ignore_ascii_case(keyword));
                    assert_reencodes(&command, used, limits);
                    at += used;
                }
                Ok(Decoded::Incomplete) => {
                    assert!(!buf.contains(&b'\n') && buf.len() < limits.line);
                    break;
                }
                Err(e) => {
                    let _ = e.to_string();
                    at += skip_bad_line(buf, &e);
                }
            }
        }
    }
}

/// The encoding of a decoded command is canonical: no longer than what was decoded (upper
/// case keyword, no leading zeros), and it decodes to the same command.
fn assert_reencodes(command: &Command, used: usize, limits: &Limits) {
    let bytes = command.to_bytes();
    assert!(bytes.len() <= used, "{command:?} re-encoded longer");
    assert_eq!(
        Command::decode(&bytes, limits),
        Ok(Decoded::Complete(command.clone(), bytes.len())),
        "{command:?} re-encoded as {:?}",
        String::from_utf8_lossy(&bytes)
    );
}

/// How many bytes a reader skips after a bad line, as the reference server does: the line
/// up to its LF (or the whole buffer when no LF has come).
fn skip_bad_line(buf: &[u8], e: &CommandError) -> usize {
    let to_lf = buf
        .iter()
        .position(|&b| b == b'\n')
        .map_or(buf.len(), |lf| lf + 1);
    if let CommandError::Line(LineError::BareLineFeed { consumed }) = e {
        assert_eq!(*consumed, to_lf, "a bare LF is reported where it is");
        assert!(*consumed == 1 || buf[consumed - 2] != b'\r');
    }
    if let Ok(Decoded::Complete(_, used)) = split_line(buf, usize::MAX) {
        assert_eq!(used, to_lf);
    }
    to_lf
}

/// `command_roundtrip`: a command generated from the bytes is encoded, its keyword
/// re-cased at random, and decoded again: the same command (RFC 1939 §3: keywords are
/// case-insensitive), or a line-length error when the line is over `limits.line`.
pub fn command_roundtrip(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(strict) = u.arbitrary::<bool>() else {
        return;
    };
    let limits = if strict {
        Limits::RFC1939
    } else {
        Limits::RFC2449
    };
    let Ok(command) = arbitrary_command(&mut u, &limits) else {
        return;
    };
    let mut bytes = command.to_bytes();
    let keyword = command.keyword();
    if let Ok(recased) = gen::recase(&mut u, keyword) {
        bytes[..keyword.len()].copy_from_slice(recased.as_bytes());
    }
    let decoded = Command::decode(&bytes, &limits);
    if bytes.len() > limits.line {
        assert_eq!(
            decoded,
            Err(CommandError::Line(LineError::TooLong { max: limits.line })),
            "{command:?}"
        );
    } else {
        assert_eq!(
            decoded,
            Ok(Decoded::Complete(command, bytes.len())),
            "{:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

/// A well-formed command: arguments of 1 to `limits.argument` characters without SP
/// (PASS: any text, SP included, RFC 1939 §7), numbers in range; AUTH's initial response
/// unbounded but for the line (RFC 5034 §4) and never a lone `=` written as base64.
fn arbitrary_command(u: &mut Unstructured<'_>, limits: &Limits) -> Result<Command> {
    let arg = limits.argument;
    Ok(match u.int_in_range(0..=15u8)? {
        0 => Command::User(gen::word(u, arg)?),
        1 => Command::Pass(gen::text(u, 1, arg, false)?),
        2 => Command::Apop {
            name: gen::word(u, arg)?,
            digest: gen::word(u, arg)?,
        },
        3 => {
            let mechanism = if u.arbitrary()? {
                Some(gen::word(u, arg)?)
            } else {
                None
            };
            let initial_response = match (&mechanism, u.int_in_range(0..=2u8)?) {
                (Some(_), 1) => Some(InitialResponse::Empty),
                (Some(_), 2) => {
                    let b = gen::word(u, limits.line)?;
                    Some(if b == "=" {
                        InitialResponse::Empty
                    } else {
                        InitialResponse::Base64(b)
                    })
                }
                _ => None,
            };
            Command::Auth {
                mechanism,
                initial_response,
            }
        }
        4 => Command::Stls,
        5 => Command::Utf8,
        6 => Command::Stat,
        7 => Command::List(u.arbitrary()?),
        8 => Command::Retr(u.arbitrary()?),
        9 => Command::Dele(u.arbitrary()?),
        10 => Command::Noop,
        11 => Command::Rset,
        12 => Command::Top {
            msg: u.arbitrary()?,
            lines: u.arbitrary()?,
        },
        13 => Command::Uidl(u.arbitrary()?),
        14 => Command::Capa,
        _ => Command::Quit,
    })
}
