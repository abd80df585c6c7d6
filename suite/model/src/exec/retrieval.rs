//! RETR and TOP (RFC 1939 §5, §7): the message, or its header, the blank line and n body
//! lines. Within a session the same octets every time (§4); across sessions the same message
//! with header fields perhaps added (`pop3_proto::message::same_message`). A whole message's
//! octets are a size the session gives ([`super::sizes`]).

use std::sync::Arc;

use pop3_proto::message::{same_message, top_cut};
use scenario::plan::BodyCheck;

use super::connection::Command;
use super::judge::Want;
use super::script::{body, var};
use super::transaction::refused_rule;
use super::{Divergence, Execution, Pick};
use crate::maildrop::Message;
use crate::ops::{MsgRef, Op};
use crate::rules;

/// What a RETR or TOP of a live message must send.
struct Expected {
    /// The message as the model knows it.
    message: Message,
    /// The octets this session sent for it before, if it did.
    exact: Option<Arc<Vec<u8>>>,
    /// The whole message comes (RETR, or TOP reaching past the body).
    whole: bool,
}

impl Execution<'_> {
    /// `RETR n`, or `TOP n k` with `top: Some(k)`.
    pub(crate) async fn retr(
        &mut self,
        s: usize,
        op: &Op,
        r: MsgRef,
        top: Option<u8>,
    ) -> Result<(), Divergence> {
        let (n, pick) = self.pick(s, r);
        let line = match top {
            None => format!("{} {n}", Self::keyword(op, "RETR")),
            Some(k) => format!("{} {n} {k}", Self::keyword(op, "TOP")),
        };
        if top.is_some() {
            self.script.requires.insert("TOP");
        }
        let (arg_rule, rule) = match top {
            None => (rules::RETR_ARG, rules::RETR),
            Some(_) => (rules::TOP_ARG, rules::TOP),
        };
        let Pick::Live(id) = pick else {
            self.send(s, Command::plain(line)).await?;
            self.status(s, Want::Err, None, refused_rule(pick, arg_rule))
                .await?;
            return Ok(());
        };
        let expected = self.expected_message(s, n, id, top);
        // the octets are compared with the size the same session gives (in the scenario: a
        // LIST n sent first when the model has no size for n from this session yet)
        let size_var = expected.whole.then(|| self.size_in_scenario(s, n));
        self.send(s, Command::plain(line)).await?;
        self.status(s, Want::Ok, None, rule).await?;
        let mut checks = Vec::new();
        if let Some(v) = &size_var {
            checks.push(BodyCheck::Octets(var(v)));
        }
        match (top, expected.message.fixture) {
            (None, Some(f)) => checks.push(BodyCheck::Fixture(fixture_number(f))),
            (Some(k), Some(f)) => checks.push(BodyCheck::Top(fixture_number(f), u32::from(k))),
            _ => {}
        }
        self.record(s, body(checks));
        let lines = self.body(s).await?;
        let mut got = Vec::new();
        for l in &lines {
            got.extend_from_slice(l);
            got.extend_from_slice(b"\r\n");
        }
        let by = match top {
            None => format!("RETR {n}"),
            Some(k) => format!("TOP {n} {k}"),
        };
        if expected.whole {
            self.learn_size(s, n, got.len() as u64, &by)?;
        }
        self.judge_message(&expected, top, lines.len(), &got)?;
        if expected.whole {
            let got = Arc::new(got);
            self.view_mut(s).exact[n as usize - 1] = Some(got.clone());
            if let Some(m) = self.maildrop.get_mut(id) {
                m.content.get_or_insert(got);
            }
        }
        Ok(())
    }

    /// What a RETR (or TOP k) of message `n` (identity `id`) must send in session `s`.
    fn expected_message(&self, s: usize, n: u64, id: usize, top: Option<u8>) -> Expected {
        let message = self
            .maildrop
            .get(id)
            .cloned()
            .expect("live messages are in the maildrop");
        let exact = self.view(s).exact[n as usize - 1].clone();
        // TOP sends the whole message when the count reaches past the body (RFC 1939 §7):
        // then it is a RETR (the body, hence its line count, is the same in every session)
        let whole = match top {
            None => true,
            Some(k) => exact
                .as_ref()
                .or(message.content.as_ref())
                .is_some_and(|c| top_cut(c, u32::from(k)) == c.len()),
        };
        Expected {
            message,
            exact,
            whole,
        }
    }

    /// Judges the octets `got` (`lines` lines) against what was expected.
    fn judge_message(
        &self,
        expected: &Expected,
        top: Option<u8>,
        lines: usize,
        got: &[u8],
    ) -> Result<(), Divergence> {
        let k = top.map_or(u32::MAX, u32::from);
        let what = match top {
            None => "the message".to_owned(),
            Some(k) => format!("the headers, the blank line and {k} body lines"),
        };
        if let Some(c) = &expected.exact {
            // within the session: the same octets (RFC 1939 §4)
            let want = &c[..top_cut(c, k)];
            if want != got {
                return Err(self.diverge(
                    format!(
                        "{what} as this session sent it before ({} octets, the same octets)",
                        want.len()
                    ),
                    format!("{lines} lines, {} octets, not the same", got.len()),
                    rules::UNMODIFIED,
                ));
            }
        } else if let Some(c) = &expected.message.content {
            // across sessions: the same message, header fields may have been added
            let want = &c[..top_cut(c, k)];
            // same_message allows added header fields; the blank line that ends the header
            // is no header field: if the message has one, so must the answer (RFC 1939 §7)
            if !same_message(got, want) || (has_blank_line(want) && !has_blank_line(got)) {
                let known = match expected.message.fixture {
                    Some(f) => format!("fixture message {f}"),
                    None => "the message as first retrieved".to_owned(),
                };
                return Err(self.diverge(
                    format!(
                        "{what} of {known} (the body octet for octet, every header line in order, header fields may be added)"
                    ),
                    format!("{lines} lines, {} octets, not that message", got.len()),
                    if top.is_some() { rules::TOP } else { rules::RETR },
                ));
            }
        }
        Ok(())
    }
}

/// A fixture message number (1..=7) as the scenario's `fixture=`/`top=` take it.
fn fixture_number(f: usize) -> u32 {
    u32::try_from(f).expect("fixture numbers are small")
}

/// Whether `message` (CRLF) has the empty line that ends its header.
fn has_blank_line(message: &[u8]) -> bool {
    message.starts_with(b"\r\n") || message.windows(4).any(|w| w == b"\r\n\r\n")
}
