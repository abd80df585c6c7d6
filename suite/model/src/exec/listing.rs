//! The scan and unique-id listings (RFC 1939 §5 LIST, §7 UIDL): every message not marked
//! deleted, in order, with the size the session gives it (judged by [`super::sizes`]) or its
//! unique-id (1 to 70 characters 0x21-0x7E, persistent across sessions, never another
//! message's).

use scenario::plan::Action;

use super::connection::Command;
use super::judge::{scan_number, Want};
use super::script::PatternBuilder;
use super::transaction::refused_rule;
use super::{Divergence, Execution, Pick};
use crate::ops::{MsgRef, Op};
use crate::rules;
use crate::transcript::printable;

impl Execution<'_> {
    /// `LIST` (RFC 1939 §5): one scan listing per message not marked deleted.
    pub(crate) async fn list_all(&mut self, s: usize, op: &Op) -> Result<(), Divergence> {
        let view = self.view(s);
        let marked = !view.marked().is_empty();
        let expected: Vec<u64> = view.live();
        let patterns: Vec<_> = expected
            .iter()
            .map(|&n| {
                let head = PatternBuilder::new().lit(&format!("{n} "));
                self.size_piece(s, n, head).rest().done()
            })
            .collect();
        self.send(s, Command::plain(Self::keyword(op, "LIST")))
            .await?;
        self.status(s, Want::Ok, None, rules::SCAN).await?;
        for p in patterns {
            self.record(s, Action::Expect(p));
        }
        self.record(s, terminator());
        let lines = self.body(s).await?;
        let rule = if marked {
            rules::LIST_DELETED
        } else {
            rules::SCAN
        };
        for (i, &n) in expected.iter().enumerate() {
            let want = format!("scan listing `{n} SIZE`");
            match lines.get(i) {
                Some(l) => match scan_number(l, &format!("{n} ")) {
                    Some(octets) => self.learn_size(s, n, octets, "LIST")?,
                    None => return Err(self.diverge(want, printable(l), rule)),
                },
                None => return Err(self.diverge(want, "the end of the listing", rule)),
            }
        }
        if let Some(extra) = lines.get(expected.len()) {
            return Err(self.diverge("the end of the listing", printable(extra), rule));
        }
        Ok(())
    }

    /// `LIST msg` (RFC 1939 §5): the message's scan listing, or -ERR.
    pub(crate) async fn list_one(
        &mut self,
        s: usize,
        op: &Op,
        r: MsgRef,
    ) -> Result<(), Divergence> {
        let (n, pick) = self.pick(s, r);
        let line = format!("{} {n}", Self::keyword(op, "LIST"));
        self.send(s, Command::plain(line)).await?;
        let Pick::Live(_) = pick else {
            let rule = refused_rule(pick, rules::LIST_ARG);
            self.status(s, Want::Err, None, rule).await?;
            return Ok(());
        };
        let head = PatternBuilder::new().lit(&format!("+OK {n} "));
        let pattern = self.size_piece(s, n, head).rest().done();
        let (_, got) = self.status(s, Want::Ok, Some(pattern), rules::SCAN).await?;
        match scan_number(&got.bytes, &format!("+OK {n} ")) {
            Some(octets) => self.learn_size(s, n, octets, &format!("LIST {n}")),
            None => Err(self.diverge(format!("+OK {n} SIZE"), printable(&got.bytes), rules::SCAN)),
        }
    }

    /// `pattern` followed by message `identity`'s unique-id: a capture the first time, a
    /// back-reference after.
    fn uid_piece(&self, identity: usize, pattern: PatternBuilder) -> PatternBuilder {
        let var = format!("uid_{identity}");
        if self.uids.iter().any(|(i, _)| *i == identity) {
            pattern.var(&var)
        } else {
            pattern.capture(&var, "[!-~]{1,70}")
        }
    }

    /// Judges one unique-id for `identity` (format, persistence, uniqueness; RFC 1939 §7) and
    /// learns it.
    fn judge_uid(&mut self, s: usize, identity: usize, uid: &[u8]) -> Result<(), Divergence> {
        let text = String::from_utf8_lossy(uid).into_owned();
        if uid.is_empty() || uid.len() > 70 || !uid.iter().all(|b| (0x21..=0x7e).contains(b)) {
            return Err(self.diverge(
                "a unique-id of 1 to 70 characters 0x21-0x7E",
                printable(uid),
                rules::UID,
            ));
        }
        if let Some((_, known)) = self.uids.iter().find(|(i, _)| *i == identity) {
            if *known != text {
                return Err(self.diverge(
                    format!("unique-id `{known}` (as before)"),
                    text,
                    rules::UID_PERSISTS,
                ));
            }
            return Ok(());
        }
        if let Some((other, _)) = self.uids.iter().find(|(_, u)| *u == text) {
            let other = *other;
            let action =
                super::script::assert_differ(&format!("uid_{identity}"), &format!("uid_{other}"));
            self.record(s, action);
            return Err(self.diverge(
                format!("a unique-id other than message identity {other}'s"),
                text,
                rules::UID,
            ));
        }
        self.uids.push((identity, text));
        Ok(())
    }

    /// `UIDL` (RFC 1939 §7): one unique-id listing per message not marked deleted.
    pub(crate) async fn uidl_all(&mut self, s: usize, op: &Op) -> Result<(), Divergence> {
        let view = self.view(s);
        let marked = !view.marked().is_empty();
        let expected: Vec<(u64, usize)> = view
            .live()
            .iter()
            .map(|&n| (n, view.numbered[n as usize - 1]))
            .collect();
        self.script.requires.insert("UIDL");
        self.send(s, Command::plain(Self::keyword(op, "UIDL")))
            .await?;
        self.status(s, Want::Ok, None, rules::UIDL_FORMAT).await?;
        // the patterns are recorded before the lines are judged: captures first, then
        // back-references, in the order the scenario will see them
        for &(n, id) in &expected {
            let head = PatternBuilder::new().lit(&format!("{n} "));
            let p = self.uid_piece(id, head).done();
            self.record(s, Action::Expect(p));
        }
        self.record(s, terminator());
        let lines = self.body(s).await?;
        let rule = if marked {
            rules::LIST_DELETED
        } else {
            rules::UIDL_FORMAT
        };
        for (i, &(n, id)) in expected.iter().enumerate() {
            let want = format!("unique-id listing of message {n}");
            let Some(line) = lines.get(i) else {
                return Err(self.diverge(want, "the end of the listing", rule));
            };
            let Some(uid) = line.strip_prefix(format!("{n} ").as_bytes()) else {
                return Err(self.diverge(want, printable(line), rule));
            };
            self.judge_uid(s, id, uid)?;
        }
        if let Some(extra) = lines.get(expected.len()) {
            return Err(self.diverge("the end of the listing", printable(extra), rule));
        }
        Ok(())
    }

    /// `UIDL msg` (RFC 1939 §7): the message's unique-id listing, or -ERR.
    pub(crate) async fn uidl_one(
        &mut self,
        s: usize,
        op: &Op,
        r: MsgRef,
    ) -> Result<(), Divergence> {
        let (n, pick) = self.pick(s, r);
        let line = format!("{} {n}", Self::keyword(op, "UIDL"));
        self.script.requires.insert("UIDL");
        self.send(s, Command::plain(line)).await?;
        let Pick::Live(id) = pick else {
            let rule = refused_rule(pick, rules::UIDL_ARG);
            self.status(s, Want::Err, None, rule).await?;
            return Ok(());
        };
        let head = PatternBuilder::new().lit(&format!("+OK {n} "));
        let pattern = self.uid_piece(id, head).done();
        let (_, got) = self
            .status(s, Want::Ok, Some(pattern), rules::UIDL_FORMAT)
            .await?;
        let Some(uid) = got.bytes.strip_prefix(format!("+OK {n} ").as_bytes()) else {
            return Err(self.diverge(
                format!("+OK {n} unique-id"),
                printable(&got.bytes),
                rules::UIDL_FORMAT,
            ));
        };
        self.judge_uid(s, id, uid)
    }
}

/// `S: .`, the end of a multi-line response (RFC 1939 §3).
fn terminator() -> Action {
    Action::Expect(PatternBuilder::new().lit(".").done())
}
