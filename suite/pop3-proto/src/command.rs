//! POP3 client commands: parsing from bytes and encoding to bytes.
//!
//! Grammar (RFC 2449 §3): `command = keyword *(SP param) CRLF`, at most 255 octets with the
//! CRLF; `keyword = 3*4VCHAR`, matched case-insensitively (RFC 1939 §3); `param = 1*VCHAR`,
//! at most 40 characters in RFC 1939 §3 (raised by RFC 2449 §4 for servers that announce CAPA,
//! see [`Limits`]). PASS takes the rest of the line, spaces included (RFC 1939 §7).

use std::fmt;

use crate::line::{split_line, LineError};
use crate::{Decoded, State};

/// Length limits a parser enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest command line, CRLF included.
    pub line: usize,
    /// Longest single argument (the AUTH initial response is bounded only by `line`,
    /// RFC 5034 §4).
    pub argument: usize,
}

impl Limits {
    /// RFC 1939 §3 arguments (40 characters) inside RFC 2449 §4 command lines (255 octets).
    pub const RFC1939: Limits = Limits {
        line: 255,
        argument: 40,
    };
    /// RFC 2449 §4: a server that announces CAPA accepts 255-octet commands, which "increases
    /// the length restrictions on commands and parameters": arguments are bounded by the line.
    pub const RFC2449: Limits = Limits {
        line: 255,
        argument: 253,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::RFC1939
    }
}

/// The initial-response argument of AUTH (RFC 5034 §4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InitialResponse {
    /// `=`: a response that is present but holds zero octets.
    Empty,
    /// Base64 text, not yet decoded (decoding is the mechanism's job: [`crate::auth`]).
    Base64(String),
}

/// A POP3 command, grouped by the state in which RFC 1939 allows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    // ---- AUTHORIZATION state --------------------------------------------------------------
    /// `USER name` (RFC 1939 §7).
    User(String),
    /// `PASS string`; the argument is the rest of the line, spaces included (RFC 1939 §7).
    Pass(String),
    /// `APOP name digest` (RFC 1939 §7).
    Apop {
        /// The mailbox name.
        name: String,
        /// 32 lowercase hex digits: MD5 of the greeting timestamp and the shared secret.
        digest: String,
    },
    /// `AUTH [mechanism [initial-response]]` (RFC 5034 §4; no argument lists the mechanisms,
    /// as RFC 1734 servers answer).
    Auth {
        /// The SASL mechanism name, e.g. `PLAIN`.
        mechanism: Option<String>,
        /// The optional initial response.
        initial_response: Option<InitialResponse>,
    },
    /// `STLS` (RFC 2595 §4).
    Stls,
    /// `UTF8` (RFC 6856 §2).
    Utf8,

    // ---- TRANSACTION state ----------------------------------------------------------------
    /// `STAT` (RFC 1939 §5).
    Stat,
    /// `LIST [msg]` (RFC 1939 §5).
    List(Option<u32>),
    /// `RETR msg` (RFC 1939 §5).
    Retr(u32),
    /// `DELE msg` (RFC 1939 §5).
    Dele(u32),
    /// `NOOP` (RFC 1939 §5).
    Noop,
    /// `RSET` (RFC 1939 §5).
    Rset,
    /// `TOP msg n` (RFC 1939 §7).
    Top {
        /// The message number.
        msg: u32,
        /// How many body lines to send after the headers.
        lines: u32,
    },
    /// `UIDL [msg]` (RFC 1939 §7).
    Uidl(Option<u32>),

    // ---- any state ------------------------------------------------------------------------
    /// `CAPA` (RFC 2449 §5): AUTHORIZATION and TRANSACTION.
    Capa,
    /// `QUIT` (RFC 1939 §4 and §6).
    Quit,
}

/// Every way a command line can be bad.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The line itself is malformed (too long, bare LF).
    #[error(transparent)]
    Line(#[from] LineError),
    /// An empty line.
    #[error("empty command line")]
    Empty,
    /// A control character (NUL, CR, TAB, DEL, ...) inside the line.
    #[error("control character 0x{byte:02x} at octet {at}")]
    ControlCharacter {
        /// The offending octet.
        byte: u8,
        /// Its offset in the line.
        at: usize,
    },
    /// Octets above 0x7F that are not UTF-8.
    #[error("argument is not valid UTF-8")]
    InvalidUtf8,
    /// The keyword is not 3 or 4 printable ASCII characters (RFC 2449 §3).
    #[error("malformed keyword {0:?}: a keyword is 3 or 4 printable ASCII characters")]
    BadKeyword(String),
    /// A well-formed keyword this codec does not know.
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    /// A required argument is missing.
    #[error("{command} needs {expected}")]
    MissingArgument {
        /// The command keyword.
        command: &'static str,
        /// What was expected, in words.
        expected: &'static str,
    },
    /// More arguments than the command takes.
    #[error("{command} takes at most {max} argument(s)")]
    TooManyArguments {
        /// The command keyword.
        command: &'static str,
        /// How many it takes.
        max: usize,
    },
    /// Two spaces in a row, or a trailing space: arguments are separated by one SP.
    #[error("{command}: empty argument (arguments are separated by a single space)")]
    EmptyArgument {
        /// The command keyword.
        command: &'static str,
    },
    /// An argument over the limit.
    #[error("{command}: argument longer than {max} characters")]
    ArgumentTooLong {
        /// The command keyword.
        command: &'static str,
        /// The limit.
        max: usize,
    },
    /// A message number or line count that is not all digits.
    #[error("{command}: {argument:?} is not a number")]
    NotANumber {
        /// The command keyword.
        command: &'static str,
        /// The argument as sent.
        argument: String,
    },
    /// A number too large to be a message number or line count.
    #[error("{command}: {argument} is out of range")]
    NumberOutOfRange {
        /// The command keyword.
        command: &'static str,
        /// The argument as sent.
        argument: String,
    },
}

impl Command {
    /// Decodes one command from the front of `buf` (RFC 1939 limits by default).
    ///
    /// On an error the caller does not learn how many bytes the bad line used; a server that
    /// wants to skip it should call [`split_line`] and [`Command::parse`] itself.
    pub fn decode(buf: &[u8], limits: &Limits) -> Result<Decoded<Command>, CommandError> {
        match split_line(buf, limits.line)? {
            Decoded::Complete(line, used) => {
                Ok(Decoded::Complete(Command::parse(line, limits)?, used))
            }
            Decoded::Incomplete => Ok(Decoded::Incomplete),
        }
    }

    /// Parses one command line, without its CRLF.
    pub fn parse(line: &[u8], limits: &Limits) -> Result<Command, CommandError> {
        if line.is_empty() {
            return Err(CommandError::Empty);
        }
        if line.len() + 2 > limits.line {
            return Err(LineError::TooLong { max: limits.line }.into());
        }
        if let Some(at) = line.iter().position(|&b| b < 0x20 || b == 0x7f) {
            return Err(CommandError::ControlCharacter { byte: line[at], at });
        }
        let line = std::str::from_utf8(line).map_err(|_| CommandError::InvalidUtf8)?;
        let (keyword, rest) = match line.split_once(' ') {
            Some((k, r)) => (k, Some(r)),
            None => (line, None),
        };
        if !(3..=4).contains(&keyword.len()) || !keyword.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(CommandError::BadKeyword(keyword.to_owned()));
        }
        let upper = keyword.to_ascii_uppercase();
        let name = match KEYWORDS.iter().find(|k| **k == upper) {
            Some(k) => *k,
            None => return Err(CommandError::UnknownCommand(keyword.to_owned())),
        };
        if name == "PASS" {
            // RFC 1939 §7: "a POP3 server may treat spaces in the argument as part of the password"
            let password = rest.unwrap_or("");
            if password.is_empty() {
                return Err(CommandError::MissingArgument {
                    command: name,
                    expected: "a password",
                });
            }
            if password.chars().count() > limits.argument {
                return Err(CommandError::ArgumentTooLong {
                    command: name,
                    max: limits.argument,
                });
            }
            return Ok(Command::Pass(password.to_owned()));
        }
        let args: Vec<&str> = match rest {
            None => Vec::new(),
            Some(r) => r.split(' ').collect(),
        };
        if args.iter().any(|a| a.is_empty()) {
            return Err(CommandError::EmptyArgument { command: name });
        }
        let args = Args {
            command: name,
            args,
            limits,
        };
        args.build()
    }

    /// The command keyword, upper case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Apop { .. } => "APOP",
            Command::Auth { .. } => "AUTH",
            Command::Stls => "STLS",
            Command::Utf8 => "UTF8",
            Command::Stat => "STAT",
            Command::List(_) => "LIST",
            Command::Retr(_) => "RETR",
            Command::Dele(_) => "DELE",
            Command::Noop => "NOOP",
            Command::Rset => "RSET",
            Command::Top { .. } => "TOP",
            Command::Uidl(_) => "UIDL",
            Command::Capa => "CAPA",
            Command::Quit => "QUIT",
        }
    }

    /// Whether RFC 1939 (and the extension defining the command) allows it in `state`.
    pub fn allowed_in(&self, state: State) -> bool {
        match self {
            Command::User(_)
            | Command::Pass(_)
            | Command::Apop { .. }
            | Command::Auth { .. }
            | Command::Stls
            | Command::Utf8 => state == State::Authorization,
            Command::Stat
            | Command::List(_)
            | Command::Retr(_)
            | Command::Dele(_)
            | Command::Noop
            | Command::Rset
            | Command::Top { .. }
            | Command::Uidl(_) => state == State::Transaction,
            Command::Capa | Command::Quit => state != State::Update,
        }
    }

    /// The command's wire form, with CRLF.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.to_string().into_bytes();
        out.extend_from_slice(crate::CRLF);
        out
    }
}

/// Writes the command line without CRLF, keyword in upper case.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())?;
        match self {
            Command::User(a) | Command::Pass(a) => write!(f, " {a}"),
            Command::Apop { name, digest } => write!(f, " {name} {digest}"),
            Command::Auth {
                mechanism,
                initial_response,
            } => {
                if let Some(m) = mechanism {
                    write!(f, " {m}")?;
                }
                match initial_response {
                    Some(InitialResponse::Empty) => f.write_str(" ="),
                    Some(InitialResponse::Base64(b)) => write!(f, " {b}"),
                    None => Ok(()),
                }
            }
            Command::List(Some(n))
            | Command::Uidl(Some(n))
            | Command::Retr(n)
            | Command::Dele(n) => write!(f, " {n}"),
            Command::Top { msg, lines } => write!(f, " {msg} {lines}"),
            _ => Ok(()),
        }
    }
}

const KEYWORDS: &[&str] = &[
    "USER", "PASS", "APOP", "AUTH", "STLS", "UTF8", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET",
    "TOP", "UIDL", "CAPA", "QUIT",
];

struct Args<'a> {
    command: &'static str,
    args: Vec<&'a str>,
    limits: &'a Limits,
}

impl Args<'_> {
    fn at_most(&self, max: usize) -> Result<(), CommandError> {
        if self.args.len() > max {
            return Err(CommandError::TooManyArguments {
                command: self.command,
                max,
            });
        }
        Ok(())
    }

    fn text(&self, i: usize, expected: &'static str) -> Result<String, CommandError> {
        let a = self.args.get(i).ok_or(CommandError::MissingArgument {
            command: self.command,
            expected,
        })?;
        if a.chars().count() > self.limits.argument {
            return Err(CommandError::ArgumentTooLong {
                command: self.command,
                max: self.limits.argument,
            });
        }
        Ok((*a).to_owned())
    }

    fn number(&self, i: usize, expected: &'static str) -> Result<u32, CommandError> {
        let a = self.text(i, expected)?;
        if !a.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CommandError::NotANumber {
                command: self.command,
                argument: a,
            });
        }
        a.parse().map_err(|_| CommandError::NumberOutOfRange {
            command: self.command,
            argument: a,
        })
    }

    fn optional_number(&self) -> Result<Option<u32>, CommandError> {
        self.at_most(1)?;
        if self.args.is_empty() {
            Ok(None)
        } else {
            self.number(0, "a message number").map(Some)
        }
    }

    fn build(self) -> Result<Command, CommandError> {
        Ok(match self.command {
            "USER" => {
                self.at_most(1)?;
                Command::User(self.text(0, "a mailbox name")?)
            }
            "APOP" => {
                self.at_most(2)?;
                Command::Apop {
                    name: self.text(0, "a mailbox name and a digest")?,
                    digest: self.text(1, "a digest after the name")?,
                }
            }
            "AUTH" => {
                self.at_most(2)?;
                let mechanism = match self.args.first() {
                    Some(_) => Some(self.text(0, "a mechanism")?),
                    None => None,
                };
                // RFC 5034 §4: the initial response is bounded only by the 255-octet line.
                let initial_response = self.args.get(1).map(|r| match *r {
                    "=" => InitialResponse::Empty,
                    other => InitialResponse::Base64(other.to_owned()),
                });
                Command::Auth {
                    mechanism,
                    initial_response,
                }
            }
            "LIST" => Command::List(self.optional_number()?),
            "UIDL" => Command::Uidl(self.optional_number()?),
            "RETR" => {
                self.at_most(1)?;
                Command::Retr(self.number(0, "a message number")?)
            }
            "DELE" => {
                self.at_most(1)?;
                Command::Dele(self.number(0, "a message number")?)
            }
            "TOP" => {
                self.at_most(2)?;
                Command::Top {
                    msg: self.number(0, "a message number and a line count")?,
                    lines: self.number(1, "a line count after the message number")?,
                }
            }
            bare => {
                self.at_most(0)?;
                match bare {
                    "STLS" => Command::Stls,
                    "UTF8" => Command::Utf8,
                    "STAT" => Command::Stat,
                    "NOOP" => Command::Noop,
                    "RSET" => Command::Rset,
                    "CAPA" => Command::Capa,
                    "QUIT" => Command::Quit,
                    _ => unreachable!("every keyword in KEYWORDS is handled"),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Command, CommandError> {
        Command::parse(s.as_bytes(), &Limits::RFC1939)
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(parse("stat"), Ok(Command::Stat));
        assert_eq!(parse("StAt"), Ok(Command::Stat));
        assert_eq!(parse("top 1 10"), Ok(Command::Top { msg: 1, lines: 10 }));
        assert_eq!(parse("uTf8"), Ok(Command::Utf8));
    }

    #[test]
    fn rfc1939_section7_examples_parse() {
        assert_eq!(
            parse("APOP mrose c4c9334bac560ecc979e58001b3e22fb"),
            Ok(Command::Apop {
                name: "mrose".into(),
                digest: "c4c9334bac560ecc979e58001b3e22fb".into()
            })
        );
        assert_eq!(parse("USER mrose"), Ok(Command::User("mrose".into())));
        assert_eq!(parse("PASS secret"), Ok(Command::Pass("secret".into())));
        assert_eq!(parse("LIST"), Ok(Command::List(None)));
        assert_eq!(parse("LIST 2"), Ok(Command::List(Some(2))));
        assert_eq!(parse("UIDL 2"), Ok(Command::Uidl(Some(2))));
        assert_eq!(parse("TOP 1 0"), Ok(Command::Top { msg: 1, lines: 0 }));
    }

    #[test]
    fn pass_keeps_spaces() {
        assert_eq!(
            parse("PASS my secret  pw "),
            Ok(Command::Pass("my secret  pw ".into()))
        );
        assert!(matches!(
            parse("PASS"),
            Err(CommandError::MissingArgument { .. })
        ));
        assert!(matches!(
            parse("PASS "),
            Err(CommandError::MissingArgument { .. })
        ));
    }

    #[test]
    fn auth_forms() {
        assert_eq!(
            parse("AUTH"),
            Ok(Command::Auth {
                mechanism: None,
                initial_response: None
            })
        );
        assert_eq!(
            parse("AUTH PLAIN ="),
            Ok(Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial_response: Some(InitialResponse::Empty)
            })
        );
        // the initial response may exceed 40 characters (RFC 5034 §4)
        let long = "A".repeat(200);
        assert_eq!(
            parse(&format!("AUTH PLAIN {long}")),
            Ok(Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial_response: Some(InitialResponse::Base64(long))
            })
        );
    }

    #[test]
    fn each_bad_line_has_its_error() {
        assert_eq!(parse(""), Err(CommandError::Empty));
        assert_eq!(
            parse("XYZZY"),
            Err(CommandError::BadKeyword("XYZZY".into()))
        );
        assert_eq!(parse("ST"), Err(CommandError::BadKeyword("ST".into())));
        assert_eq!(
            parse("FOO"),
            Err(CommandError::UnknownCommand("FOO".into()))
        );
        assert_eq!(
            parse("STAT\0"),
            Err(CommandError::ControlCharacter { byte: 0, at: 4 })
        );
        assert_eq!(
            parse("LIST\t1"),
            Err(CommandError::ControlCharacter { byte: 9, at: 4 })
        );
        assert!(matches!(
            parse("RETR"),
            Err(CommandError::MissingArgument { .. })
        ));
        assert!(matches!(
            parse("RETR 1 2"),
            Err(CommandError::TooManyArguments { .. })
        ));
        assert!(matches!(
            parse("STAT 1"),
            Err(CommandError::TooManyArguments { .. })
        ));
        assert!(matches!(
            parse("RETR x"),
            Err(CommandError::NotANumber { .. })
        ));
        assert!(matches!(
            parse("RETR -1"),
            Err(CommandError::NotANumber { .. })
        ));
        assert!(matches!(
            parse("RETR +1"),
            Err(CommandError::NotANumber { .. })
        ));
        assert!(matches!(
            parse("RETR 99999999999999999999"),
            Err(CommandError::NumberOutOfRange { .. })
        ));
        assert!(matches!(
            parse("LIST  1"),
            Err(CommandError::EmptyArgument { .. })
        ));
        assert!(matches!(
            parse("LIST "),
            Err(CommandError::EmptyArgument { .. })
        ));
        assert!(matches!(
            parse("TOP 1"),
            Err(CommandError::MissingArgument { .. })
        ));
        assert!(matches!(
            parse(&format!("USER {}", "u".repeat(41))),
            Err(CommandError::ArgumentTooLong { max: 40, .. })
        ));
        assert_eq!(
            Command::parse(b"USER \xff", &Limits::RFC1939),
            Err(CommandError::InvalidUtf8)
        );
        assert!(matches!(
            parse(&"A".repeat(254)),
            Err(CommandError::Line(LineError::TooLong { max: 255 }))
        ));
    }

    #[test]
    fn rfc2449_limits_allow_longer_arguments() {
        let name = "u".repeat(100);
        assert_eq!(
            Command::parse(format!("USER {name}").as_bytes(), &Limits::RFC2449),
            Ok(Command::User(name))
        );
    }

    #[test]
    fn zero_is_a_number_the_server_judges() {
        assert_eq!(parse("RETR 0"), Ok(Command::Retr(0)));
    }

    #[test]
    fn decode_from_a_buffer() {
        assert_eq!(
            Command::decode(b"NOOP\r\nSTAT\r\n", &Limits::RFC1939),
            Ok(Decoded::Complete(Command::Noop, 6))
        );
        assert_eq!(
            Command::decode(b"NOO", &Limits::RFC1939),
            Ok(Decoded::Incomplete)
        );
    }

    #[test]
    fn display_round_trips() {
        for c in [
            Command::Apop {
                name: "mrose".into(),
                digest: "c4c9334bac560ecc979e58001b3e22fb".into(),
            },
            Command::Top { msg: 3, lines: 0 },
            Command::List(None),
            Command::Uidl(Some(7)),
            Command::Pass("two words".into()),
            Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial_response: Some(InitialResponse::Empty),
            },
        ] {
            let bytes = c.to_bytes();
            assert_eq!(
                Command::decode(&bytes, &Limits::RFC1939),
                Ok(Decoded::Complete(c, bytes.len()))
            );
        }
    }

    #[test]
    fn states() {
        assert!(Command::Stat.allowed_in(State::Transaction));
        assert!(!Command::Stat.allowed_in(State::Authorization));
        assert!(Command::Capa.allowed_in(State::Authorization));
        assert!(Command::Stls.allowed_in(State::Authorization));
        assert!(!Command::Stls.allowed_in(State::Transaction));
    }
}
