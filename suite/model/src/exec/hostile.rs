//! Running the fuzzer's hostile steps ([`crate::ops::Hostile`]): every answer must be a
//! well-formed reply ([`super::judge::malformed`]), in time, on a connection that stays up
//! (a close only where the model allows one, RFC 1939 §4, or after an over-long line). After
//! a garbage line the session is dropped, since what a lenient server made of it is unknown;
//! pipelined bursts of commands the model predicts keep the session going.

use std::time::Duration;

use client::transport::WireError;
use scenario::plan::{Action, Func, Template};

use super::connection::Command;
use super::judge::{malformed, Got, Want};
use super::script::{call, eof, send_raw, var, PatternBuilder, TemplateBuilder};
use super::{ClientState, Divergence, Execution};
use crate::ops::{Burst, Hostile};
use crate::rules;
use crate::transcript::{printable, Dir};

/// How long a bare-LF line may go unanswered: a server may wait for the CRLF.
const BARE_LF_WAIT: Duration = Duration::from_millis(300);

/// `bytes` then `end` as a `C!:` template: printable ASCII as text, runs of other bytes as
/// `"\xHH"` strings (LANGUAGE.md §3.1).
fn template(bytes: &[u8], end: Func) -> Template {
    let mut t = TemplateBuilder::new();
    let mut pending = Vec::new();
    for &b in bytes {
        if (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\' {
            if !pending.is_empty() {
                t = t.expr(scenario::plan::Expr::Str(std::mem::take(&mut pending)));
            }
            t = t.lit([b]);
        } else {
            pending.push(b);
        }
    }
    if !pending.is_empty() {
        t = t.expr(scenario::plan::Expr::Str(pending));
    }
    t.expr(call(end, Vec::new())).done()
}

/// The scenario's alternatives for "any well-formed reply" (and the close, where allowed).
fn any_reply(close: bool) -> Action {
    let mut alternatives = vec![
        PatternBuilder::new()
            .lit("-ERR")
            .regex("(?: .{0,505})?")
            .done(),
        PatternBuilder::new()
            .lit("+OK")
            .regex("(?: .{0,506})?")
            .done(),
        PatternBuilder::new()
            .lit("+")
            .regex("(?: .{0,508})?")
            .done(),
    ];
    if close {
        alternatives.push(eof());
    }
    Action::ExpectAnyOf(alternatives)
}

impl Execution<'_> {
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
        let name = self.sessions[s].name.clone();
        let sent = send_raw(template(line, if bare_lf { Func::Lf } else { Func::Crlf }));
        let mut bytes = line.to_vec();
        bytes.extend_from_slice(if bare_lf { b"\n" } else { b"\r\n" });
        self.commands += 1;
        self.sent = printable(&bytes);
        self.note(&name, Dir::Client, printable(&bytes));
        // a close is allowed where the model allows one, and after an over-long line
        let may_close = self.sessions[s].may_close || line.len() + 2 > 255;
        let conn = self.sessions[s].conn.as_mut().expect("open");
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
            None => self.script.comment(format!(
                "`{}` with a bare LF went unanswered for {BARE_LF_WAIT:?} (the server may wait for CRLF)",
                printable(line)
            )),
            Some(Ok(reply)) => {
                self.note(&name, Dir::Server, printable(&reply.bytes));
                self.record(s, sent);
                self.record(s, any_reply(false));
                if let Some((want, rule)) = malformed(&reply.bytes, reply.crlf) {
                    return Err(self.diverge(want, printable(&reply.bytes), rule));
                }
            }
            Some(Err(WireError::Closed)) if may_close => {
                self.record(s, sent);
                self.record(s, any_reply(true));
            }
            Some(Err(e)) => {
                self.record(s, sent);
                self.record(s, any_reply(false));
                return Err(self.wire(
                    &e,
                    rules::WRONG_STATE,
                    "a reply (-ERR for a command that is not one)",
                ));
            }
        }
        self.record(s, Action::Drop);
        self.hang_up(s).await;
        Ok(())
    }

    /// `n` copies of `burst` in one write; each answer judged by the model.
    async fn burst(&mut self, s: usize, burst: Burst, n: u8) -> Result<(), Divergence> {
        self.ensure_open(s).await?;
        let name = self.sessions[s].name.clone();
        let word = match burst {
            Burst::Noop => "NOOP",
            Burst::Stat => "STAT",
        };
        let n = usize::from(n.max(1));
        let at = self.script.mark();
        let mut pipelined = TemplateBuilder::new();
        for _ in 0..n {
            pipelined = pipelined.lit(word).expr(call(Func::Crlf, Vec::new()));
        }
        self.record(s, send_raw(pipelined.done()));
        let bytes = format!("{word}\r\n").repeat(n);
        self.commands += n as u64;
        self.sent = format!("{word} x{n}, in one write");
        self.note(&name, Dir::Client, self.sent.clone());
        let conn = self.sessions[s].conn.as_mut().expect("open");
        let _ = conn.send(bytes.as_bytes()).await;
        for _ in 0..n {
            if self.sessions[s].conn.is_none() {
                // closed after a -ERR before login, as allowed: the rest go unanswered
                break;
            }
            match (&self.sessions[s].phase, burst) {
                (ClientState::Authorization { .. }, _) => {
                    self.status(s, Want::Err, None, rules::WRONG_STATE).await?;
                }
                (ClientState::Transaction(_), Burst::Noop) => {
                    self.status(s, Want::Ok, None, rules::NOOP).await?;
                }
                (ClientState::Transaction(_), Burst::Stat) => {
                    let expected = self.stat_expect(s);
                    let pattern = expected.pattern.clone();
                    let (got, line) = self.status(s, Want::Ok, Some(pattern), rules::STAT).await?;
                    if got == Got::Ok {
                        self.stat_judge(s, &line.bytes, expected, at)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// STLS with `USER` behind it in the same write: the USER must not count inside TLS
    /// (RFC 2595 §4, CVE-2011-0411).
    async fn stls_injection(&mut self, s: usize) -> Result<(), Divergence> {
        let open = self.sessions[s].conn.is_some();
        let usable = self.env.caps.stls
            && (!open
                || (!self.sessions[s].tls && !self.in_transaction(s) && self.pending(s).is_none()));
        if !usable {
            return Ok(());
        }
        self.ensure_open(s).await?;
        let name = self.sessions[s].name.clone();
        self.script.requires.insert("STLS");
        self.script.requires.insert("USER");
        let injected = TemplateBuilder::new()
            .lit("STLS")
            .expr(call(Func::Crlf, Vec::new()))
            .lit("USER ")
            .expr(var("user"))
            .expr(call(Func::Crlf, Vec::new()))
            .done();
        self.record(s, send_raw(injected));
        let user = self.env.endpoint.profile.user.clone();
        self.commands += 2;
        self.sent = format!("STLS + USER {user}, in one write");
        self.note(&name, Dir::Client, self.sent.clone());
        let conn = self.sessions[s].conn.as_mut().expect("open");
        let _ = conn
            .send(format!("STLS\r\nUSER {user}\r\n").as_bytes())
            .await;
        let (got, _) = self.status(s, Want::Ok, None, rules::STLS).await?;
        if got != Got::Ok {
            return Ok(());
        }
        self.record(s, Action::StartTlsOrEof);
        let conn = self.sessions[s].conn.as_mut().expect("open");
        match conn.start_tls().await {
            Ok(()) => {}
            // the server ended the handshake (it read the pipelined bytes as a bad
            // ClientHello): safe, and the case ends there
            Err(WireError::TlsEnded(_)) => {
                self.hang_up(s).await;
                return Ok(());
            }
            Err(e) => return Err(self.wire(&e, rules::STLS, "a TLS handshake")),
        }
        self.sessions[s].tls = true;
        self.note(&name, Dir::Note, "TLS established".into());
        let password = self.env.endpoint.profile.password.clone();
        let pass = Command {
            wire: format!("PASS {password}"),
            script: TemplateBuilder::new()
                .lit("PASS ")
                .expr(var("password"))
                .done(),
            shown: "PASS ***".into(),
        };
        self.send(s, pass).await?;
        // had the server run the injected USER inside TLS, its +OK comes here
        self.status(s, Want::Err, None, rules::STLS_INJECTION)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scenario::print::template_text;

    #[test]
    fn templates_keep_text_and_escape_the_rest() {
        let text = |b: &[u8]| template_text(&template(b, Func::Crlf)).unwrap();
        assert_eq!(text(b"RETR 1"), "RETR 1{crlf()}");
        assert_eq!(text(b"A\0B"), "A{\"\\x00\"}B{crlf()}");
        assert_eq!(text(b"{x}"), "{{x}}{crlf()}");
        assert_eq!(text(b"\"\\"), "{\"\\\"\\\\\"}{crlf()}");
    }
}
