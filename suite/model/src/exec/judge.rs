//! Judging replies: a status line against the status the model allows (RFC 1939 §3: `+OK` or
//! `-ERR`, CRLF; §4: after a -ERR in AUTHORIZATION the server may close), and the form every
//! reply to any input must have (RFC 1939 §3, RFC 2449 §4). What the scenario expects is
//! recorded after the judgement, from what the server did where the RFC lets it choose.

use client::transport::{Line, WireError};
use scenario::plan::{Action, Pattern};

use super::script::{eof, err_any, ok_any, PatternBuilder};
use super::{ClientState, Divergence, Execution};
use crate::rules::{self, Rule};
use crate::transcript::{printable, Dir};

/// Responses are at most this long, CRLF included (RFC 1939 §3, RFC 2449 §4).
pub const MAX_RESPONSE: usize = 512;

/// What a status line was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Got {
    Ok,
    Err,
    /// The server closed, where that is allowed.
    Closed,
}

/// What the model allows as a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    Ok,
    Err,
    /// The server's choice (RFC 1939 §7 USER of an unknown mailbox).
    Either,
}

impl Want {
    fn described(self) -> &'static str {
        match self {
            Want::Ok => "+OK",
            Want::Err => "-ERR",
            Want::Either => "+OK or -ERR",
        }
    }

    /// The scenario's pattern for the answer, given what came (`ok` for an expected +OK).
    fn expected(self, got: Option<Got>, ok: Pattern) -> Pattern {
        match (self, got) {
            (Want::Ok, _) | (Want::Either, Some(Got::Ok)) => ok,
            _ => err_any(),
        }
    }

    /// The scenario's comment on the server's choice, where it had one.
    fn choice(self, got: Option<Got>) -> Option<&'static str> {
        match (self, got) {
            (Want::Either, Some(Got::Ok)) => {
                Some("the RFC allows +OK or -ERR here; the target answered +OK")
            }
            (Want::Either, Some(Got::Err)) => {
                Some("the RFC allows +OK or -ERR here; the target answered -ERR")
            }
            _ => None,
        }
    }
}

impl Execution<'_> {
    /// Reads a status line on session `s` and judges it against `want`. `ok` is the
    /// scenario's pattern for an expected +OK (default `+OK {*}`).
    pub(crate) async fn status(
        &mut self,
        s: usize,
        want: Want,
        ok: Option<Pattern>,
        rule: Rule,
    ) -> Result<(Got, Line), Divergence> {
        let name = self.sessions[s].name.clone();
        let ok = ok.unwrap_or_else(ok_any);
        let may_close = self.sessions[s].may_close;
        let read = self.read_line(s).await;
        let line = match read {
            Ok(l) => l,
            Err(WireError::Closed) if may_close => {
                self.note(&name, Dir::Note, "closed by the server".into());
                let answer = match want {
                    Want::Ok => ok,
                    _ => err_any(),
                };
                self.record(s, Action::ExpectAnyOf(vec![answer, eof()]));
                self.closed(s);
                let nothing = Line {
                    bytes: Vec::new(),
                    crlf: true,
                };
                return Ok((Got::Closed, nothing));
            }
            Err(e) => {
                let answer = match want {
                    Want::Err => err_any(),
                    _ => ok,
                };
                self.record(s, Action::Expect(answer));
                return Err(self.wire(&e, rule, want.described()));
            }
        };
        self.note(&name, Dir::Server, printable(&line.bytes));
        let got = status_of(&line.bytes);
        let verdict = self.judge_status(s, want, got, &line, rule).await;
        match &verdict {
            Ok(Got::Closed) => {
                // RFC 1939 §4: refused, then closed, after an earlier -ERR
                self.script.comment(
                    "after an earlier -ERR the server may refuse and close (RFC 1939 §4); this one did",
                );
                self.record(s, Action::Expect(err_any()));
                self.record(s, Action::ExpectClose);
                self.closed(s);
            }
            _ => {
                if let Some(c) = want.choice(got) {
                    self.script.comment(c);
                }
                self.record(s, Action::Expect(want.expected(got, ok)));
            }
        }
        verdict.map(|got| (got, line))
    }

    /// Reads a SASL continuation on session `s` (RFC 5034 §4: `+ ` and base64 data), captured
    /// into the scenario's `var`, and returns the decoded data. `None`: the server refused
    /// and closed where RFC 1939 §4 lets it (after an earlier -ERR in AUTHORIZATION).
    pub(crate) async fn challenge(
        &mut self,
        s: usize,
        var: &str,
        rule: Rule,
    ) -> Result<Option<Vec<u8>>, Divergence> {
        let name = self.sessions[s].name.clone();
        let continuation = PatternBuilder::new()
            .lit("+ ")
            .capture(var, "[A-Za-z0-9+/=]*")
            .done();
        let read = self.read_line(s).await;
        let line = match read {
            Ok(l) => l,
            Err(WireError::Closed) if self.sessions[s].may_close => {
                self.note(&name, Dir::Note, "closed by the server".into());
                self.record(s, Action::ExpectAnyOf(vec![err_any(), eof()]));
                self.closed(s);
                return Ok(None);
            }
            Err(e) => {
                self.record(s, Action::Expect(continuation));
                return Err(self.wire(&e, rule, "+ and a base64 challenge"));
            }
        };
        self.note(&name, Dir::Server, printable(&line.bytes));
        let data = line
            .bytes
            .strip_prefix(b"+ ")
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| pop3_proto::auth::decode_base64(d).ok());
        match data {
            Some(data) if line.crlf => {
                self.record(s, Action::Expect(continuation));
                Ok(Some(data))
            }
            _ if status_of(&line.bytes) == Some(Got::Err) && self.sessions[s].may_close => {
                // as for a status: refused, then closed, after an earlier -ERR (RFC 1939 §4)
                match self
                    .judge_status(s, Want::Ok, Some(Got::Err), &line, rule)
                    .await?
                {
                    Got::Closed => {
                        self.record(s, Action::Expect(err_any()));
                        self.record(s, Action::ExpectClose);
                        self.closed(s);
                        Ok(None)
                    }
                    _ => unreachable!("judge_status fails a -ERR where +OK is wanted"),
                }
            }
            _ => {
                self.record(s, Action::Expect(continuation));
                Err(self.diverge(
                    "+ and a base64 challenge, ending in CRLF",
                    printable(&line.bytes),
                    rule,
                ))
            }
        }
    }

    /// Judges status line `line` (classified `got`) of session `s` against `want`.
    async fn judge_status(
        &mut self,
        s: usize,
        want: Want,
        got: Option<Got>,
        line: &Line,
        rule: Rule,
    ) -> Result<Got, Divergence> {
        let described = want.described();
        let Some(got) = got else {
            return Err(self.diverge(described, printable(&line.bytes), rules::STATUS));
        };
        if !line.crlf {
            return Err(self.diverge(
                "a status line ending in CRLF",
                format!("{} (bare LF)", printable(&line.bytes)),
                rules::CRLF,
            ));
        }
        match (want, got) {
            (Want::Ok, Got::Err) if self.sessions[s].may_close => {
                // RFC 1939 §4: after a negative status the server may close the connection;
                // some servers refuse the next command first and then close (Dovecot, after
                // three bad commands before login). Allowed only if the close follows at once.
                let name = self.sessions[s].name.clone();
                let conn = self.sessions[s].conn.as_mut().expect("open");
                match conn.expect_eof().await {
                    Ok(None) => {
                        self.note(&name, Dir::Note, "closed by the server".into());
                        Ok(Got::Closed)
                    }
                    _ => Err(self.diverge(
                        format!("{described} (or -ERR and a close, after an earlier -ERR)"),
                        printable(&line.bytes),
                        rule,
                    )),
                }
            }
            (Want::Ok, Got::Err) | (Want::Err, Got::Ok) => {
                Err(self.diverge(described, printable(&line.bytes), rule))
            }
            _ => {
                if got == Got::Err
                    && matches!(self.sessions[s].phase, ClientState::Authorization { .. })
                {
                    self.sessions[s].may_close = true;
                }
                Ok(got)
            }
        }
    }
}

/// `+OK`, `-ERR`, or neither.
fn status_of(line: &[u8]) -> Option<Got> {
    if is_status(line, b"+OK") {
        Some(Got::Ok)
    } else if is_status(line, b"-ERR") {
        Some(Got::Err)
    } else {
        None
    }
}

/// Whether `line` starts with the status `word`, alone or followed by a space.
pub(crate) fn is_status(line: &[u8], word: &[u8]) -> bool {
    line.strip_prefix(word)
        .is_some_and(|rest| rest.is_empty() || rest[0] == b' ')
}

/// The number after `prefix` in `line`, alone or followed by a space and more (RFC 1939 §5:
/// "no requirement on what follows").
pub(crate) fn scan_number(line: &[u8], prefix: &str) -> Option<u64> {
    let rest = line.strip_prefix(prefix.as_bytes())?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let after = &rest[digits..];
    if digits == 0 || !(after.is_empty() || after[0] == b' ') {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// Why `line` is not a well-formed reply to any input, if it is not: a status line or a `+ `
/// continuation (RFC 1939 §3, RFC 5034 §4), CRLF, at most [`MAX_RESPONSE`] octets.
pub(crate) fn malformed(line: &[u8], crlf: bool) -> Option<(&'static str, Rule)> {
    let status = is_status(line, b"+OK") || is_status(line, b"-ERR");
    let continuation = line.starts_with(b"+ ") || line == b"+";
    if !status && !continuation {
        return Some((
            "a status line (+OK or -ERR) or a `+ ` continuation",
            rules::STATUS,
        ));
    }
    if !crlf {
        return Some(("a reply ending in CRLF", rules::CRLF));
    }
    if line.len() + 2 > MAX_RESPONSE {
        return Some((
            "a reply of at most 512 octets, CRLF included",
            rules::RESPONSE_LENGTH,
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_words() {
        assert!(is_status(b"+OK", b"+OK"));
        assert!(is_status(b"+OK 2 320", b"+OK"));
        assert!(!is_status(b"+OKAY", b"+OK"));
        assert!(!is_status(b"ERR x", b"-ERR"));
    }

    #[test]
    fn numbers_after_a_prefix() {
        assert_eq!(scan_number(b"+OK 2 320", "+OK 2 "), Some(320));
        assert_eq!(scan_number(b"+OK 2 320 more", "+OK 2 "), Some(320));
        assert_eq!(scan_number(b"3 1200", "3 "), Some(1200));
        assert_eq!(scan_number(b"+OK 2 320x", "+OK 2 "), None);
        assert_eq!(scan_number(b"+OK 2 ", "+OK 2 "), None);
        assert_eq!(scan_number(b"+OK 3 320", "+OK 2 "), None);
        assert_eq!(scan_number(b"4 99999999999999999999999", "4 "), None);
    }

    #[test]
    fn replies_judged() {
        assert_eq!(malformed(b"-ERR no", true), None);
        assert_eq!(malformed(b"+ ", true), None);
        assert!(malformed(b"ERR no", true).is_some());
        assert!(malformed(b"+OK", false).is_some());
        let long = [b"-ERR ".to_vec(), vec![b'x'; 600]].concat();
        assert!(malformed(&long, true).is_some());
        let edge = [b"-ERR ".to_vec(), vec![b'x'; 505]].concat();
        assert_eq!(malformed(&edge, true), None);
    }
}
