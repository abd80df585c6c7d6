//! Server responses: status lines with extended response codes, and SASL continuations.
//!
//! RFC 1939 §3: a response is a status indicator (`+OK` or `-ERR`, upper case) optionally
//! followed by text, at most 512 octets with the CRLF. RFC 2449 §8 adds an optional response
//! code in brackets right after the status (`-ERR [IN-USE] ...`). RFC 5034 §4 adds the SASL
//! continuation `+ base64`. Multi-line bodies that follow a status line are in
//! [`crate::multiline`].

use std::fmt;

use crate::line::{split_line, LineError};
use crate::Decoded;

/// Longest first line of a response, CRLF included (RFC 2449 §4).
pub const MAX_STATUS_LINE: usize = 512;

/// `+OK` or `-ERR` (RFC 1939 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `+OK`
    Ok,
    /// `-ERR`
    Err,
}

impl Status {
    /// The indicator as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "+OK",
            Status::Err => "-ERR",
        }
    }
}

/// An extended response code (RFC 2449 §8, RFC 3206).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResponseCode {
    /// `[IN-USE]`: the maildrop is locked by another session (RFC 2449 §8.1.1).
    InUse,
    /// `[LOGIN-DELAY]`: logged in too recently (RFC 2449 §8.1.2).
    LoginDelay,
    /// `[SYS/TEMP]`: a temporary system problem (RFC 3206 §4).
    SysTemp,
    /// `[SYS/PERM]`: a permanent system problem (RFC 3206 §4).
    SysPerm,
    /// `[AUTH]`: the credentials were wrong (RFC 3206 §5).
    Auth,
    /// Any other well-formed code, kept as sent (e.g. `UTF8`, `X-VENDOR/THING`).
    Other(String),
}

impl ResponseCode {
    /// Parses the text between the brackets (RFC 2449 §3: `resp-level *("/" resp-level)`).
    pub fn parse(code: &str) -> Result<ResponseCode, ResponseError> {
        let well_formed = !code.is_empty()
            && code.split('/').all(|level| {
                !level.is_empty()
                    && level
                        .bytes()
                        .all(|b| (0x21..=0x7f).contains(&b) && b != b'/' && b != b']')
            });
        if !well_formed {
            return Err(ResponseError::BadResponseCode(code.to_owned()));
        }
        Ok(match code.to_ascii_uppercase().as_str() {
            "IN-USE" => ResponseCode::InUse,
            "LOGIN-DELAY" => ResponseCode::LoginDelay,
            "SYS/TEMP" => ResponseCode::SysTemp,
            "SYS/PERM" => ResponseCode::SysPerm,
            "AUTH" => ResponseCode::Auth,
            _ => ResponseCode::Other(code.to_owned()),
        })
    }

    /// The code's text, without brackets.
    pub fn as_str(&self) -> &str {
        match self {
            ResponseCode::InUse => "IN-USE",
            ResponseCode::LoginDelay => "LOGIN-DELAY",
            ResponseCode::SysTemp => "SYS/TEMP",
            ResponseCode::SysPerm => "SYS/PERM",
            ResponseCode::Auth => "AUTH",
            ResponseCode::Other(s) => s,
        }
    }
}

/// A status line: `+OK` or `-ERR`, an optional response code, and text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatusLine {
    /// `+OK` or `-ERR`.
    pub status: Status,
    /// The `[CODE]` right after the status, if any.
    pub code: Option<ResponseCode>,
    /// The rest of the line (may be empty).
    pub text: String,
}

/// One line a server sends where a status is expected.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerLine {
    /// `+OK ...` or `-ERR ...`.
    Status(StatusLine),
    /// `+ challenge` during AUTH (RFC 5034 §4): the base64 text, possibly empty.
    Continuation(String),
}

/// Every way a server line can be bad.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// Too long, or not ended by CRLF.
    #[error(transparent)]
    Line(#[from] LineError),
    /// Neither `+OK`, `-ERR` nor `+ ` (RFC 1939 §3: upper case is required).
    #[error("line does not start with +OK, -ERR or a \"+ \" continuation")]
    BadStatus,
    /// The status is followed by something other than a space or the line end (`+OKAY`).
    #[error("status indicator not followed by a space or CRLF")]
    MissingSpace,
    /// `[...]` that breaks the response-code grammar, or a `[` with no `]`.
    #[error("malformed response code {0:?}")]
    BadResponseCode(String),
    /// A control character inside the line.
    #[error("control character 0x{byte:02x} at octet {at}")]
    ControlCharacter {
        /// The octet.
        byte: u8,
        /// Its offset.
        at: usize,
    },
    /// Octets that are not UTF-8.
    #[error("response text is not valid UTF-8")]
    InvalidUtf8,
}

impl StatusLine {
    /// `+OK text`
    pub fn ok(text: impl Into<String>) -> StatusLine {
        StatusLine {
            status: Status::Ok,
            code: None,
            text: text.into(),
        }
    }

    /// `-ERR text`
    pub fn err(text: impl Into<String>) -> StatusLine {
        StatusLine {
            status: Status::Err,
            code: None,
            text: text.into(),
        }
    }

    /// The same line with a response code.
    pub fn with_code(mut self, code: ResponseCode) -> StatusLine {
        self.code = Some(code);
        self
    }

    /// Whether this is `+OK`.
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }

    /// Parses a status line without its CRLF.
    pub fn parse(line: &[u8]) -> Result<StatusLine, ResponseError> {
        match ServerLine::parse(line)? {
            ServerLine::Status(s) => Ok(s),
            ServerLine::Continuation(_) => Err(ResponseError::BadStatus),
        }
    }

    /// The RFC 1939 §7 APOP timestamp in a greeting: the first `<...>` that holds an `@`,
    /// brackets included.
    pub fn timestamp(&self) -> Option<&str> {
        let start = self.text.find('<')?;
        let len = self.text[start..].find('>')?;
        let stamp = &self.text[start..=start + len];
        stamp.contains('@').then_some(stamp)
    }

    /// The wire form, with CRLF.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.to_string().into_bytes();
        out.extend_from_slice(crate::CRLF);
        out
    }
}

impl fmt::Display for StatusLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.status.as_str())?;
        if let Some(code) = &self.code {
            write!(f, " [{}]", code.as_str())?;
        }
        if !self.text.is_empty() {
            write!(f, " {}", self.text)?;
        }
        Ok(())
    }
}

impl ServerLine {
    /// Decodes one server line from the front of `buf`, capped at 512 octets.
    pub fn decode(buf: &[u8]) -> Result<Decoded<ServerLine>, ResponseError> {
        match split_line(buf, MAX_STATUS_LINE)? {
            Decoded::Complete(line, used) => Ok(Decoded::Complete(ServerLine::parse(line)?, used)),
            Decoded::Incomplete => Ok(Decoded::Incomplete),
        }
    }

    /// Parses one server line without its CRLF.
    pub fn parse(line: &[u8]) -> Result<ServerLine, ResponseError> {
        if line.len() + 2 > MAX_STATUS_LINE {
            return Err(LineError::TooLong {
                max: MAX_STATUS_LINE,
            }
            .into());
        }
        if let Some(at) = line
            .iter()
            .position(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
        {
            return Err(ResponseError::ControlCharacter { byte: line[at], at });
        }
        let line = std::str::from_utf8(line).map_err(|_| ResponseError::InvalidUtf8)?;
        let (status, rest) = if let Some(rest) = line.strip_prefix("+OK") {
            (Status::Ok, rest)
        } else if let Some(rest) = line.strip_prefix("-ERR") {
            (Status::Err, rest)
        } else if let Some(data) = line.strip_prefix("+ ") {
            return Ok(ServerLine::Continuation(data.to_owned()));
        } else {
            return Err(ResponseError::BadStatus);
        };
        let rest = match rest.strip_prefix(' ') {
            Some(r) => r,
            None if rest.is_empty() => "",
            None => return Err(ResponseError::MissingSpace),
        };
        let (code, text) = match rest.strip_prefix('[') {
            Some(inner) => {
                let end = inner
                    .find(']')
                    .ok_or_else(|| ResponseError::BadResponseCode(inner.to_owned()))?;
                let code = ResponseCode::parse(&inner[..end])?;
                let after = &inner[end + 1..];
                (Some(code), after.strip_prefix(' ').unwrap_or(after))
            }
            None => (None, rest),
        };
        Ok(ServerLine::Status(StatusLine {
            status,
            code,
            text: text.to_owned(),
        }))
    }

    /// The wire form, with CRLF.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            ServerLine::Status(s) => s.to_bytes(),
            ServerLine::Continuation(data) => format!("+ {data}\r\n").into_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ServerLine, ResponseError> {
        ServerLine::parse(s.as_bytes())
    }

    #[test]
    fn rfc1939_greeting_and_timestamp() {
        let g =
            StatusLine::parse(b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>").unwrap();
        assert!(g.is_ok());
        assert_eq!(g.timestamp(), Some("<1896.697170952@dbc.mtview.ca.us>"));
        assert_eq!(StatusLine::ok("ready").timestamp(), None);
    }

    #[test]
    fn response_codes() {
        let l = StatusLine::parse(b"-ERR [IN-USE] maildrop already locked").unwrap();
        assert_eq!(l.code, Some(ResponseCode::InUse));
        assert_eq!(l.text, "maildrop already locked");
        for (wire, code) in [
            ("-ERR [SYS/TEMP] try later", ResponseCode::SysTemp),
            ("-ERR [SYS/PERM] no", ResponseCode::SysPerm),
            ("-ERR [AUTH] bad", ResponseCode::Auth),
            ("-ERR [LOGIN-DELAY] wait", ResponseCode::LoginDelay),
            (
                "-ERR [X-FOO/BAR] x",
                ResponseCode::Other("X-FOO/BAR".into()),
            ),
        ] {
            assert_eq!(StatusLine::parse(wire.as_bytes()).unwrap().code, Some(code));
        }
        assert!(matches!(
            parse("-ERR [IN-USE"),
            Err(ResponseError::BadResponseCode(_))
        ));
        assert!(matches!(
            parse("-ERR [] x"),
            Err(ResponseError::BadResponseCode(_))
        ));
        assert!(matches!(
            parse("-ERR [SYS//TEMP] x"),
            Err(ResponseError::BadResponseCode(_))
        ));
    }

    #[test]
    fn bare_status_and_continuations() {
        assert_eq!(parse("+OK"), Ok(ServerLine::Status(StatusLine::ok(""))));
        assert_eq!(parse("-ERR"), Ok(ServerLine::Status(StatusLine::err(""))));
        assert_eq!(parse("+ "), Ok(ServerLine::Continuation(String::new())));
        assert_eq!(
            parse("+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"),
            Ok(ServerLine::Continuation(
                "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+".into()
            ))
        );
    }

    #[test]
    fn bad_lines() {
        assert_eq!(parse("+ok lower case"), Err(ResponseError::BadStatus));
        assert_eq!(parse("OK"), Err(ResponseError::BadStatus));
        assert_eq!(parse("+"), Err(ResponseError::BadStatus));
        assert_eq!(parse("+OKAY"), Err(ResponseError::MissingSpace));
        assert!(matches!(
            parse("+OK a\0b"),
            Err(ResponseError::ControlCharacter { byte: 0, .. })
        ));
        let long = format!("+OK {}", "x".repeat(520));
        assert!(matches!(
            parse(&long),
            Err(ResponseError::Line(LineError::TooLong { .. }))
        ));
    }

    #[test]
    fn decode_and_encode_round_trip() {
        let line = StatusLine::err("maildrop locked").with_code(ResponseCode::InUse);
        let bytes = line.to_bytes();
        assert_eq!(bytes, b"-ERR [IN-USE] maildrop locked\r\n");
        assert_eq!(
            ServerLine::decode(&bytes),
            Ok(Decoded::Complete(ServerLine::Status(line), bytes.len()))
        );
        assert_eq!(ServerLine::decode(b"+OK 2 320"), Ok(Decoded::Incomplete));
    }
}
