//! Hostile steps for the network fuzzer (`conform fuzz`): lines no command should be, valid
//! keywords with hostile arguments, bare LF, pipelined bursts, STLS with plaintext behind it.
//!
//! Their answers are judged for what every server owes any input: a well-formed reply (a
//! status line or a `+ ` continuation, CRLF-terminated, at most 512 octets, RFC 1939 §3 and
//! RFC 2449 §4), in time, on a connection that stays up (a close is allowed only where the
//! model allows one: after a -ERR before login, RFC 1939 §4). After a garbage line the session
//! is dropped, since what a lenient server made of it is unknown; pipelined bursts of
//! commands the model predicts keep the session going.

use std::fmt;
use std::time::Duration;

use proptest::prelude::*;

use crate::exec::{is_status, literal, printable, Dir, Divergence, Got, Phase, Run, Want};
use crate::rules::{self, Rule};

/// Responses are at most this long, CRLF included (RFC 1939 §3, RFC 2449 §4).
pub const MAX_RESPONSE: usize = 512;

/// How long a bare-LF line may go unanswered: a server may wait for the CRLF.
const BARE_LF_WAIT: Duration = Duration::from_millis(300);

/// A command the model predicts whatever the maildrop, for pipelined bursts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Burst {
    /// `NOOP`.
    Noop,
    /// `STAT`.
    Stat,
}

/// One hostile step.
#[derive(Clone, PartialEq, Eq)]
pub enum Hostile {
    /// One line, CRLF added: garbage, or a keyword with a hostile argument.
    Line(Vec<u8>),
    /// One line ended by a bare LF.
    BareLf(Vec<u8>),
    /// `n` copies of a command in one write (RFC 2449 §6.6 PIPELINING).
    Pipelined(Burst, u8),
    /// `STLS` with a `USER` pipelined behind it in plaintext (RFC 2595 §4, CVE-2011-0411).
    StlsInjection,
}

impl fmt::Debug for Hostile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hostile::Line(l) => write!(f, "Line({:?})", printable(l)),
            Hostile::BareLf(l) => write!(f, "BareLf({:?})", printable(l)),
            Hostile::Pipelined(b, n) => write!(f, "Pipelined({b:?} x{n})"),
            Hostile::StlsInjection => write!(f, "StlsInjection"),
        }
    }
}

const KEYWORDS: &[&str] = &[
    "USER", "PASS", "APOP", "AUTH", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL",
    "CAPA", "UTF8", "XTND", "LAST", "",
];

fn argument() -> impl Strategy<Value = Vec<u8>> {
    let fixed = prop::sample::select(vec![
        "99999999999999999999",
        "18446744073709551616",
        "4294967296",
        "4294967295",
        "-1",
        "+1",
        "0x10",
        "1e9",
        "01",
        "1 1 1",
        "%s%s%s%s%n",
        "%x%x%x%x",
        "%99999999d",
        "%u",
        "%h",
        "%d",
        "%%",
        "${user}",
        "..",
        ".",
        "*",
        "=",
        "1\t1",
    ])
    .prop_map(|s| s.as_bytes().to_vec());
    prop_oneof![
        4 => fixed,
        2 => (b'A'..=b'z', 41usize..600).prop_map(|(c, n)| vec![c; n]),
        2 => proptest::collection::vec(any::<u8>().prop_filter("no line end", |b| *b != b'\r' && *b != b'\n'), 1..24),
        1 => Just(b"1\0".to_vec()),
    ]
}

fn line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => (prop::sample::select(KEYWORDS), argument()).prop_map(|(k, a)| {
            let mut l = k.as_bytes().to_vec();
            if !k.is_empty() {
                l.push(b' ');
            }
            l.extend(a);
            l
        }),
        1 => proptest::collection::vec(any::<u8>().prop_filter("no line end", |b| *b != b'\r' && *b != b'\n'), 0..64),
        1 => (b'A'..=b'Z', 1usize..9).prop_map(|(c, n)| vec![c; n]),
    ]
}

/// A hostile step.
pub fn hostile() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        6 => line().prop_map(Hostile::Line),
        1 => prop::sample::select(vec!["NOOP", "STAT", "LIST 1", "XYZZY"]).prop_map(|l| Hostile::BareLf(l.as_bytes().to_vec())),
        2 => (prop_oneof![Just(Burst::Noop), Just(Burst::Stat)], 2u8..6).prop_map(|(b, n)| Hostile::Pipelined(b, n)),
        1 => Just(Hostile::StlsInjection),
    ]
}

/// `bytes` as a `C!:` template (printable ASCII as text, the rest as `\xHH` strings).
fn template(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut pending = String::new();
    let flush = |out: &mut String, pending: &mut String| {
        if !pending.is_empty() {
            out.push_str(&format!("{{\"{pending}\"}}"));
            pending.clear();
        }
    };
    for &b in bytes {
        if (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\' {
            flush(&mut out, &mut pending);
            out.push_str(&literal(&(b as char).to_string()));
        } else {
            pending.push_str(&format!("\\x{b:02x}"));
        }
    }
    flush(&mut out, &mut pending);
    out
}

/// Why `line` is not a well-formed reply, if it is not.
fn malformed(line: &[u8], crlf: bool) -> Option<(&'static str, Rule)> {
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

/// The scenario's alternatives for "any well-formed reply".
fn any_reply(steps: &mut Vec<String>, eof: bool) {
    steps.push("S|: -ERR{/(?: .{0,505})?/}".into());
    steps.push("S|: +OK{/(?: .{0,506})?/}".into());
    steps.push("S|: +{/(?: .{0,508})?/}".into());
    if eof {
        steps.push("S|: {eof}".into());
    }
}

impl Run<'_> {
    /// Runs one hostile step on session 0.
    pub(crate) async fn hostile(&mut self, h: &Hostile) -> Result<(), Divergence> {
        let s = 0;
        match h {
            Hostile::Line(line) => self.garbage(s, line, false).await,
            Hostile::BareLf(line) => self.garbage(s, line, true).await,
            Hostile::Pipelined(burst, n) => self.burst(s, *burst, *n).await,
            Hostile::StlsInjection => self.stls_injection(s).await,
        }
    }

    /// Sends `line` and judges the one reply; then drops the session.
    async fn garbage(&mut self, s: usize, line: &[u8], bare_lf: bool) -> Result<(), Divergence> {
        self.ensure_open(s).await?;
        let name = self.slots[s].name.clone();
        let ending = if bare_lf { "{lf()}" } else { "{crlf()}" };
        self.script
            .steps
            .push(format!("C!: {}{ending}", template(line)));
        let mut bytes = line.to_vec();
        bytes.extend_from_slice(if bare_lf { b"\n" } else { b"\r\n" });
        self.commands += 1;
        self.sent = printable(&bytes);
        self.note(&name, Dir::Client, printable(&bytes));
        // a close is allowed where the model allows one, and after an over-long line
        let may_close = self.slots[s].may_close || line.len() + 2 > 255;
        let conn = self.slots[s].conn.as_mut().expect("open");
        let _ = conn.send(&bytes).await;
        let read = if bare_lf {
            // None: the server waits for the CRLF; allowed, nothing to judge
            tokio::time::timeout(BARE_LF_WAIT, conn.read_line())
                .await
                .ok()
        } else {
            Some(conn.read_line().await)
        };
        match read {
            None => {
                self.script.steps.pop();
                self.script.steps.push(format!(
                    "# `{}` with a bare LF went unanswered for {BARE_LF_WAIT:?} (the server may wait for CRLF)",
                    printable(line)
                ));
            }
            Some(Ok(reply)) => {
                self.note(&name, Dir::Server, printable(&reply.bytes));
                any_reply(&mut self.script.steps, false);
                if let Some((want, rule)) = malformed(&reply.bytes, reply.crlf) {
                    return Err(self.diverge(want, printable(&reply.bytes), rule));
                }
            }
            Some(Err(client::transport::WireError::Closed)) if may_close => {
                any_reply(&mut self.script.steps, true);
            }
            Some(Err(e)) => {
                any_reply(&mut self.script.steps, false);
                return Err(self.wire(
                    &e,
                    rules::WRONG_STATE,
                    "a reply (-ERR for a command that is not one)",
                ));
            }
        }
        self.script.steps.push("drop".into());
        if let Some(mut c) = self.slots[s].conn.take() {
            c.close().await;
        }
        self.closed(s);
        Ok(())
    }

    /// `n` copies of `burst` in one write; each answer judged by the model.
    async fn burst(&mut self, s: usize, burst: Burst, n: u8) -> Result<(), Divergence> {
        self.ensure_open(s).await?;
        let name = self.slots[s].name.clone();
        let word = match burst {
            Burst::Noop => "NOOP",
            Burst::Stat => "STAT",
        };
        let n = usize::from(n.max(1));
        let at = self.script.steps.len();
        self.script
            .steps
            .push(format!("C!: {}", format!("{word}{{crlf()}}").repeat(n)));
        let bytes = format!("{word}\r\n").repeat(n);
        self.commands += n as u64;
        self.sent = format!("{word} x{n}, in one write");
        self.note(&name, Dir::Client, self.sent.clone());
        let conn = self.slots[s].conn.as_mut().expect("open");
        let _ = conn.send(bytes.as_bytes()).await;
        for _ in 0..n {
            if self.slots[s].conn.is_none() {
                // closed after a -ERR before login, as allowed: the rest go unanswered
                break;
            }
            match (&self.slots[s].phase, burst) {
                (Phase::Authorization { .. }, _) => {
                    self.status(s, Want::Err, None, rules::WRONG_STATE).await?;
                }
                (Phase::Transaction(_), Burst::Noop) => {
                    self.status(s, Want::Ok, None, rules::NOOP).await?;
                }
                (Phase::Transaction(_), Burst::Stat) => {
                    let (count, var, pattern) = self.stat_expect(s);
                    let (got, line) = self.status(s, Want::Ok, Some(pattern), rules::STAT).await?;
                    if got == Got::Ok {
                        self.stat_judge(s, &line.bytes, count, var, at)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// STLS with `USER` behind it in the same write: the USER must not count inside TLS.
    async fn stls_injection(&mut self, s: usize) -> Result<(), Divergence> {
        let open = self.slots[s].conn.is_some();
        let usable = self.env.caps.stls
            && (!open
                || (!self.slots[s].tls && !self.in_transaction(s) && self.pending(s).is_none()));
        if !usable {
            return Ok(());
        }
        self.ensure_open(s).await?;
        let name = self.slots[s].name.clone();
        self.script.requires.insert("STLS");
        self.script.requires.insert("USER");
        self.script
            .steps
            .push("C!: STLS{crlf()}USER {user}{crlf()}".into());
        let user = self.env.endpoint.profile.user.clone();
        self.commands += 2;
        self.sent = format!("STLS + USER {user}, in one write");
        self.note(&name, Dir::Client, self.sent.clone());
        let conn = self.slots[s].conn.as_mut().expect("open");
        let _ = conn
            .send(format!("STLS\r\nUSER {user}\r\n").as_bytes())
            .await;
        let (got, _) = self.status(s, Want::Ok, None, rules::STLS).await?;
        if got != Got::Ok {
            return Ok(());
        }
        self.script.steps.push("starttls or eof".into());
        let conn = self.slots[s].conn.as_mut().expect("open");
        match conn.start_tls().await {
            Ok(()) => {}
            // the server ended the handshake (it read the pipelined bytes as a bad
            // ClientHello): safe, and the case ends there
            Err(client::transport::WireError::TlsEnded(_)) => {
                if let Some(mut c) = self.slots[s].conn.take() {
                    c.close().await;
                }
                self.closed(s);
                return Ok(());
            }
            Err(e) => return Err(self.wire(&e, rules::STLS, "a TLS handshake")),
        }
        self.slots[s].tls = true;
        self.note(&name, Dir::Note, "TLS established".into());
        let password = self.env.endpoint.profile.password.clone();
        self.send(
            s,
            format!("PASS {password}"),
            "PASS {password}".into(),
            "PASS ***".into(),
        )
        .await?;
        // had the server run the injected USER inside TLS, its +OK comes here
        self.status(s, Want::Err, None, rules::STLS_INJECTION)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_keep_text_and_escape_the_rest() {
        assert_eq!(template(b"RETR 1"), "RETR 1");
        assert_eq!(template(b"A\0B"), "A{\"\\x00\"}B");
        assert_eq!(template(b"{x}"), "{{x}}");
        assert_eq!(template(b"\"\\"), "{\"\\x22\\x5c\"}");
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
