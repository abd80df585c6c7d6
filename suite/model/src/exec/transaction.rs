//! The TRANSACTION state's commands (RFC 1939 §5): STAT, DELE, RSET, NOOP, the dispatch to
//! the listings and retrieval, the same commands refused before login (§3), and QUIT with
//! its UPDATE (§6).

use super::connection::Command;
use super::judge::{Got, Want};
use super::{ClientState, Divergence, Execution, Pick};
use crate::ops::{Cmd, MsgRef, Op};
use crate::rules::{self, Rule};

impl Execution<'_> {
    /// A TRANSACTION command in AUTHORIZATION: -ERR (RFC 1939 §3).
    pub(crate) async fn too_early(&mut self, s: usize, op: &Op) -> Result<(), Divergence> {
        let line = match op.cmd {
            Cmd::Stat => Self::keyword(op, "STAT"),
            Cmd::List(r) => self.with_arg(s, op, "LIST", r),
            Cmd::Uidl(r) => self.with_arg(s, op, "UIDL", r),
            Cmd::Retr(r) => self.with_arg(s, op, "RETR", Some(r)),
            Cmd::Top(r, k) => format!("{} {k}", self.with_arg(s, op, "TOP", Some(r))),
            Cmd::Dele(r) => self.with_arg(s, op, "DELE", Some(r)),
            Cmd::Rset => Self::keyword(op, "RSET"),
            Cmd::Noop => Self::keyword(op, "NOOP"),
            _ => unreachable!("AUTHORIZATION commands are handled apart"),
        };
        self.send(s, Command::plain(line)).await?;
        self.status(s, Want::Err, None, rules::WRONG_STATE).await?;
        Ok(())
    }

    /// `WORD` or `WORD n`, the number picked for `r`.
    fn with_arg(&self, s: usize, op: &Op, word: &str, r: Option<MsgRef>) -> String {
        match r {
            None => Self::keyword(op, word),
            Some(r) => format!("{} {}", Self::keyword(op, word), self.pick(s, r).0),
        }
    }

    /// A command in TRANSACTION.
    pub(crate) async fn transaction(&mut self, s: usize, op: &Op) -> Result<(), Divergence> {
        match op.cmd {
            Cmd::Stat => self.stat(s, op).await,
            Cmd::List(None) => self.list_all(s, op).await,
            Cmd::List(Some(r)) => self.list_one(s, op, r).await,
            Cmd::Uidl(None) => self.uidl_all(s, op).await,
            Cmd::Uidl(Some(r)) => self.uidl_one(s, op, r).await,
            Cmd::Retr(r) => self.retr(s, op, r, None).await,
            Cmd::Top(r, k) => self.retr(s, op, r, Some(k)).await,
            Cmd::Dele(r) => self.dele(s, op, r).await,
            Cmd::Rset => self.rset(s, op).await,
            Cmd::Noop => {
                self.send(s, Command::plain(Self::keyword(op, "NOOP")))
                    .await?;
                self.status(s, Want::Ok, None, rules::NOOP).await?;
                Ok(())
            }
            _ => unreachable!("AUTHORIZATION commands are handled apart"),
        }
    }

    /// `RSET` (RFC 1939 §5): every mark removed.
    async fn rset(&mut self, s: usize, op: &Op) -> Result<(), Divergence> {
        self.send(s, Command::plain(Self::keyword(op, "RSET")))
            .await?;
        self.status(s, Want::Ok, None, rules::RSET).await?;
        if let ClientState::Transaction(v) = &mut self.sessions[s].phase {
            v.deleted.iter_mut().for_each(|d| *d = false);
        }
        Ok(())
    }

    /// `STAT` (RFC 1939 §5): the count exact, the total the sum of the session's sizes.
    async fn stat(&mut self, s: usize, op: &Op) -> Result<(), Divergence> {
        let expected = self.stat_expect(s);
        let rule = self.stat_rule(s);
        let at = self.script.mark();
        self.send(s, Command::plain(Self::keyword(op, "STAT")))
            .await?;
        let pattern = expected.pattern.clone();
        let (_, line) = self.status(s, Want::Ok, Some(pattern), rule).await?;
        self.stat_judge(s, &line.bytes, expected, at)
    }

    /// `DELE msg` (RFC 1939 §5): marks a live message; -ERR for a marked or missing one.
    async fn dele(&mut self, s: usize, op: &Op, r: MsgRef) -> Result<(), Divergence> {
        let (n, pick) = self.pick(s, r);
        let line = format!("{} {n}", Self::keyword(op, "DELE"));
        self.send(s, Command::plain(line)).await?;
        match pick {
            Pick::Live(_) => {
                self.status(s, Want::Ok, None, rules::DELE).await?;
                self.script.mutates = true;
                if let ClientState::Transaction(v) = &mut self.sessions[s].phase {
                    v.deleted[n as usize - 1] = true;
                }
            }
            _ => {
                let rule = if pick == Pick::Deleted {
                    rules::DELE
                } else {
                    refused_rule(pick, rules::DELE_ARG)
                };
                self.status(s, Want::Err, None, rule).await?;
            }
        }
        Ok(())
    }

    /// `QUIT` (RFC 1939 §6): +OK and a close; from TRANSACTION the UPDATE removes the marked
    /// messages, from AUTHORIZATION nothing.
    pub(crate) async fn quit(&mut self, s: usize, op: &Op) -> Result<(), Divergence> {
        self.send(s, Command::plain(Self::keyword(op, "QUIT")))
            .await?;
        let update = match &self.sessions[s].phase {
            ClientState::Transaction(view) => Some(view.marked_identities()),
            ClientState::Authorization { .. } => None,
        };
        let rule = if update.is_some() {
            rules::UPDATE
        } else {
            rules::QUIT_AUTHORIZATION
        };
        let (got, _) = self.status(s, Want::Ok, None, rule).await?;
        if got == Got::Closed {
            return Ok(());
        }
        self.expect_eof(s, rule).await?;
        if let Some(gone) = update {
            if !gone.is_empty() {
                self.script.mutates = true;
            }
            self.maildrop.expunge(&gone);
        }
        self.sessions[s].conn = None;
        self.closed(s);
        Ok(())
    }
}

/// The rule an -ERR for a picked number answers to: a number naming no message is RFC 1939
/// §4's numbering; a deleted one the command's own argument rule.
pub(crate) fn refused_rule(pick: Pick, arg_rule: Rule) -> Rule {
    match pick {
        Pick::Zero | Pick::Missing => rules::NUMBERS,
        _ => arg_rule,
    }
}
