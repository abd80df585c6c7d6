//! Capability lines of the CAPA response (RFC 2449 §5-§6, RFC 2595 §4, RFC 5034 §3, RFC 6856 §2).
//!
//! `capability = capa-tag *(SP param) CRLF`, at most 512 octets; tags are case-insensitive.

use std::fmt;

/// Longest capability line, CRLF included (RFC 2449 §3).
pub const MAX_CAPABILITY_LINE: usize = 512;

/// The argument of EXPIRE (RFC 2449 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expire {
    /// `NEVER`: the server does not delete messages.
    Never,
    /// Days a message is kept after it was first retrieved; 0 forbids leaving mail on the server.
    Days(u32),
}

/// One capability (RFC 2449 §6 and the extensions that define more).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Capability {
    /// `TOP` (RFC 2449 §6.1).
    Top,
    /// `USER` (RFC 2449 §6.2).
    User,
    /// `SASL mech...` (RFC 2449 §6.3, RFC 5034 §3).
    Sasl(Vec<String>),
    /// `RESP-CODES` (RFC 2449 §6.4).
    RespCodes,
    /// `LOGIN-DELAY n [USER]` (RFC 2449 §6.5).
    LoginDelay {
        /// Minimum seconds between logins.
        seconds: u32,
        /// `USER`: the value may differ per user (announced in AUTHORIZATION).
        per_user: bool,
    },
    /// `PIPELINING` (RFC 2449 §6.6).
    Pipelining,
    /// `EXPIRE value [USER]` (RFC 2449 §6.7).
    Expire {
        /// The retention period.
        value: Expire,
        /// `USER`: the value may differ per user.
        per_user: bool,
    },
    /// `UIDL` (RFC 2449 §6.8).
    Uidl,
    /// `IMPLEMENTATION text` (RFC 2449 §6.9).
    Implementation(String),
    /// `AUTH-RESP-CODE` (RFC 3206 §6).
    AuthRespCode,
    /// `STLS` (RFC 2595 §4).
    Stls,
    /// `UTF8 [USER]` (RFC 6856 §2).
    Utf8 {
        /// `USER`: UTF-8 user names and passwords are accepted.
        user: bool,
    },
    /// Anything else, as sent.
    Other {
        /// The tag.
        tag: String,
        /// Its parameters.
        params: Vec<String>,
    },
}

/// A capability line that breaks RFC 2449 §3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapaError {
    /// Empty line.
    #[error("empty capability line")]
    Empty,
    /// Longer than 512 octets with CRLF.
    #[error("capability line longer than {MAX_CAPABILITY_LINE} octets")]
    TooLong,
    /// A tag with `.` or non-printable characters (`cchar`, RFC 2449 §3).
    #[error("malformed capability tag {0:?}")]
    BadTag(String),
    /// A parameter that is not `1*VCHAR` (double space, control character, ...).
    #[error("malformed parameter in capability {0:?}")]
    BadParam(String),
    /// Octets that are not UTF-8 (RFC 2449 §3 allows only printable characters; RFC 6856
    /// extends them to UTF-8, never further).
    #[error("capability line is not valid UTF-8")]
    InvalidUtf8,
    /// A known capability with arguments that do not fit its definition.
    #[error("{tag}: {problem}")]
    BadArguments {
        /// The tag.
        tag: String,
        /// What is wrong.
        problem: &'static str,
    },
}

impl Capability {
    /// Parses one capability line, without its CRLF.
    pub fn parse(line: &[u8]) -> Result<Capability, CapaError> {
        if line.is_empty() {
            return Err(CapaError::Empty);
        }
        if line.len() + 2 > MAX_CAPABILITY_LINE {
            return Err(CapaError::TooLong);
        }
        if line.iter().any(|&b| b < 0x20 || b == 0x7f) {
            return Err(CapaError::BadParam(
                String::from_utf8_lossy(line).into_owned(),
            ));
        }
        // Not UTF-8: an error, not a lossy copy (found by the response_decode fuzz target:
        // each bad octet became a 3-octet U+FFFD, so a 512-octet line parsed into a
        // capability whose own line was too long to parse).
        let text = std::str::from_utf8(line).map_err(|_| CapaError::InvalidUtf8)?;
        let (tag, rest) = match text.split_once(' ') {
            Some((t, r)) => (t, Some(r)),
            None => (text, None),
        };
        if tag.is_empty() || !tag.bytes().all(|b| (0x21..=0x7f).contains(&b) && b != b'.') {
            return Err(CapaError::BadTag(tag.to_owned()));
        }
        if tag.eq_ignore_ascii_case("IMPLEMENTATION") {
            // RFC 2449 §6.9: free text for the rest of the line
            return Ok(Capability::Implementation(
                rest.unwrap_or_default().to_owned(),
            ));
        }
        let params: Vec<String> = rest
            .map(|r| r.split(' ').map(str::to_owned).collect())
            .unwrap_or_default();
        if params.iter().any(String::is_empty) {
            return Err(CapaError::BadParam(text.to_owned()));
        }
        Capability::with_params(tag, params)
    }

    /// The capability `tag` with its space-separated `params` (RFC 2449 §6: which tags take
    /// none, which take a number or NEVER, which may end in USER).
    fn with_params(tag: &str, params: Vec<String>) -> Result<Capability, CapaError> {
        let upper = tag.to_ascii_uppercase();
        let bad = |problem| CapaError::BadArguments {
            tag: upper.clone(),
            problem,
        };
        let no_args = |cap: Capability| {
            if params.is_empty() {
                Ok(cap)
            } else {
                Err(bad("takes no arguments"))
            }
        };
        let user_flag = |rest: &[String]| match rest {
            [] => Ok(false),
            [u] if u.eq_ignore_ascii_case("USER") => Ok(true),
            _ => Err(bad("only USER may follow the value")),
        };
        match upper.as_str() {
            "TOP" => no_args(Capability::Top),
            "USER" => no_args(Capability::User),
            "RESP-CODES" => no_args(Capability::RespCodes),
            "PIPELINING" => no_args(Capability::Pipelining),
            "UIDL" => no_args(Capability::Uidl),
            "AUTH-RESP-CODE" => no_args(Capability::AuthRespCode),
            "STLS" => no_args(Capability::Stls),
            "SASL" => Ok(Capability::Sasl(params.clone())),
            "UTF8" => Ok(Capability::Utf8 {
                user: user_flag(&params)?,
            }),
            "LOGIN-DELAY" => {
                let (n, rest) = params
                    .split_first()
                    .ok_or_else(|| bad("needs a number of seconds"))?;
                let seconds = n.parse().map_err(|_| bad("the delay is not a number"))?;
                Ok(Capability::LoginDelay {
                    seconds,
                    per_user: user_flag(rest)?,
                })
            }
            "EXPIRE" => {
                let (v, rest) = params
                    .split_first()
                    .ok_or_else(|| bad("needs NEVER or a number of days"))?;
                let value = if v.eq_ignore_ascii_case("NEVER") {
                    Expire::Never
                } else {
                    Expire::Days(
                        v.parse()
                            .map_err(|_| bad("the value is neither NEVER nor a number"))?,
                    )
                };
                Ok(Capability::Expire {
                    value,
                    per_user: user_flag(rest)?,
                })
            }
            _ => Ok(Capability::Other {
                tag: tag.to_owned(),
                params,
            }),
        }
    }

    /// The tag, upper case for the known ones.
    pub fn tag(&self) -> &str {
        match self {
            Capability::Top => "TOP",
            Capability::User => "USER",
            Capability::Sasl(_) => "SASL",
            Capability::RespCodes => "RESP-CODES",
            Capability::LoginDelay { .. } => "LOGIN-DELAY",
            Capability::Pipelining => "PIPELINING",
            Capability::Expire { .. } => "EXPIRE",
            Capability::Uidl => "UIDL",
            Capability::Implementation(_) => "IMPLEMENTATION",
            Capability::AuthRespCode => "AUTH-RESP-CODE",
            Capability::Stls => "STLS",
            Capability::Utf8 { .. } => "UTF8",
            Capability::Other { tag, .. } => tag,
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())?;
        let user =
            |f: &mut fmt::Formatter<'_>, on: bool| if on { f.write_str(" USER") } else { Ok(()) };
        match self {
            Capability::Sasl(mechs) => mechs.iter().try_for_each(|m| write!(f, " {m}")),
            Capability::LoginDelay { seconds, per_user } => {
                write!(f, " {seconds}")?;
                user(f, *per_user)
            }
            Capability::Expire { value, per_user } => {
                match value {
                    Expire::Never => f.write_str(" NEVER")?,
                    Expire::Days(d) => write!(f, " {d}")?,
                }
                user(f, *per_user)
            }
            Capability::Implementation(text) => write!(f, " {text}"),
            Capability::Utf8 { user: u } => user(f, *u),
            Capability::Other { params, .. } => params.iter().try_for_each(|p| write!(f, " {p}")),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2449_example_capabilities() {
        // RFC 2449 §5 example
        let lines = [
            "TOP",
            "USER",
            "SASL CRAM-MD5 KERBEROS_V4",
            "RESP-CODES",
            "LOGIN-DELAY 900",
            "PIPELINING",
            "EXPIRE 60",
            "UIDL",
            "IMPLEMENTATION Shlemazle-Plotz-v302",
        ];
        let caps: Vec<Capability> = lines
            .iter()
            .map(|l| Capability::parse(l.as_bytes()).unwrap())
            .collect();
        assert_eq!(
            caps[2],
            Capability::Sasl(vec!["CRAM-MD5".into(), "KERBEROS_V4".into()])
        );
        assert_eq!(
            caps[4],
            Capability::LoginDelay {
                seconds: 900,
                per_user: false
            }
        );
        assert_eq!(
            caps[6],
            Capability::Expire {
                value: Expire::Days(60),
                per_user: false
            }
        );
        for (line, cap) in lines.iter().zip(&caps) {
            assert_eq!(&cap.to_string(), line);
        }
    }

    #[test]
    fn user_suffixes_and_case() {
        assert_eq!(
            Capability::parse(b"expire never user").unwrap(),
            Capability::Expire {
                value: Expire::Never,
                per_user: true
            }
        );
        assert_eq!(
            Capability::parse(b"UTF8 USER").unwrap(),
            Capability::Utf8 { user: true }
        );
        assert_eq!(Capability::parse(b"stls").unwrap(), Capability::Stls);
    }

    #[test]
    fn malformed_lines() {
        assert_eq!(Capability::parse(b""), Err(CapaError::Empty));
        assert!(matches!(
            Capability::parse(b"TO.P"),
            Err(CapaError::BadTag(_))
        ));
        assert!(matches!(
            Capability::parse(b"SASL  PLAIN"),
            Err(CapaError::BadParam(_))
        ));
        assert!(matches!(
            Capability::parse(b"TOP 5"),
            Err(CapaError::BadArguments { .. })
        ));
        assert!(matches!(
            Capability::parse(b"EXPIRE soon"),
            Err(CapaError::BadArguments { .. })
        ));
        assert!(matches!(
            Capability::parse(b"LOGIN-DELAY"),
            Err(CapaError::BadArguments { .. })
        ));
        assert!(matches!(
            Capability::parse(format!("X {}", "a".repeat(600)).as_bytes()),
            Err(CapaError::TooLong)
        ));
        assert_eq!(
            Capability::parse(b"SASL PLAIN \xff\xfe"),
            Err(CapaError::InvalidUtf8)
        );
        assert_eq!(
            Capability::parse("IMPLEMENTATION caf\u{e9}".as_bytes()),
            Ok(Capability::Implementation("caf\u{e9}".into()))
        );
    }
}
