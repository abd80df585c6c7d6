//! What the model knows of the maildrop: the messages that persist across sessions, and each
//! session's view of them (RFC 1939 §5: numbers fixed for the session, marks until UPDATE).

use std::sync::Arc;

/// One message of the maildrop, as the model knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Stable identity within a model run (the position at inspection): unique-ids must follow
    /// it across sessions and expunges (RFC 1939 §7).
    pub identity: usize,
    /// The size in octets with CRLF line ends, as the inspection's LIST gave it (RFC 1939 §5).
    /// Only a record of the inspection: the model predicts no later session's sizes from it,
    /// because a store may rewrite messages between sessions (mbox servers add `Status:` and
    /// `X-UID:` when a session ends); RFC 1939 §4 forbids changes only *during* a session
    /// ("to prevent messages from being modified or removed before the session enters the
    /// UPDATE state"). Sizes are known per session, once observed ([`View::sizes`]).
    pub size: u64,
    /// The unique-id, once seen (inspection or a UIDL).
    pub uid: Option<String>,
    /// The message as RETR must send it un-stuffed, CRLF line ends, when known (the standard
    /// fixture, or the first RETR of it in this run). Another session may send it with header
    /// fields added (a store's rewrite between sessions): it is compared with
    /// [`pop3_proto::message::same_message`]; within one session the octets are exact
    /// ([`View::exact`]).
    pub content: Option<Arc<Vec<u8>>>,
    /// Its number in the standard fixture (1-based), when the maildrop is the fixture.
    pub fixture: Option<usize>,
}

/// The messages that persist across sessions, in maildrop order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maildrop {
    /// In order: message number n of a new session is `messages[n - 1]`.
    pub messages: Vec<Message>,
    /// Whether this is the standard fixture, unchanged.
    pub is_fixture: bool,
}

impl Maildrop {
    /// UPDATE: removes the messages with these identities (RFC 1939 §6).
    pub fn expunge(&mut self, identities: &[usize]) {
        if identities.is_empty() {
            return;
        }
        self.messages.retain(|m| !identities.contains(&m.identity));
        self.is_fixture = false;
    }

    /// The message with this identity.
    pub fn get_mut(&mut self, identity: usize) -> Option<&mut Message> {
        self.messages.iter_mut().find(|m| m.identity == identity)
    }

    /// The message with this identity.
    pub fn get(&self, identity: usize) -> Option<&Message> {
        self.messages.iter().find(|m| m.identity == identity)
    }
}

/// A size a session gave for one of its messages, and what gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Octets.
    pub octets: u64,
    /// The command that gave it (`LIST`, `LIST 3`, `RETR 3`, `TOP 3 200`).
    pub by: String,
}

/// A STAT answer of a session: its total must be the sum of the sizes the same session gives
/// the messages it counted (RFC 1939 §5), whenever those become known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// The numbers of the messages not marked deleted then (what STAT counted).
    pub live: Vec<u64>,
    /// The total it gave.
    pub total: u64,
    /// Some messages were marked deleted then.
    pub marked: bool,
    /// The scenario variable that captured the total.
    pub var: String,
    /// Where in the scenario the STAT was sent (its `C:` line).
    pub at: usize,
}

/// Where a session contradicts itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// Message `n` was given `before` earlier in this session, and now `octets`.
    Size {
        /// The message number.
        n: u64,
        /// What the session said before.
        before: Seen,
        /// What it says now.
        octets: u64,
    },
    /// STAT number `stat` (index in [`View::stats`]) gave a total other than `sum`, the sum of
    /// the sizes this session gives its messages.
    Sum {
        /// Index of the STAT.
        stat: usize,
        /// The sum of the sizes.
        sum: u64,
    },
    /// STAT `stat` counted the same messages as STAT `other` with another total.
    Totals {
        /// Index of the later STAT.
        stat: usize,
        /// Index of the earlier one.
        other: usize,
    },
}

/// A session's view in TRANSACTION: the maildrop as it was at login, numbered from 1, the
/// messages marked deleted (RFC 1939 §5), and what the session has said about their sizes and
/// contents (fixed for the session, RFC 1939 §4, but not across sessions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// Identities, by message number - 1.
    pub numbered: Vec<usize>,
    /// Marked deleted, by message number - 1.
    pub deleted: Vec<bool>,
    /// The size this session gave each message (LIST, LIST n, RETR, TOP of the whole
    /// message), by message number - 1; unknown until observed.
    pub sizes: Vec<Option<Seen>>,
    /// The octets this session sent for each message (RETR, or TOP of the whole message), by
    /// message number - 1: any later RETR or TOP in the session must send the same.
    pub exact: Vec<Option<Arc<Vec<u8>>>>,
    /// This session's STAT answers.
    pub stats: Vec<Stat>,
}

impl View {
    /// The view of a session that logs in now.
    pub fn of(maildrop: &Maildrop) -> View {
        let n = maildrop.messages.len();
        View {
            numbered: maildrop.messages.iter().map(|m| m.identity).collect(),
            deleted: vec![false; n],
            sizes: vec![None; n],
            exact: vec![None; n],
            stats: Vec::new(),
        }
    }

    /// Numbers (1-based) of the messages not marked deleted.
    pub fn live(&self) -> Vec<u64> {
        (0..self.numbered.len())
            .filter(|&i| !self.deleted[i])
            .map(|i| i as u64 + 1)
            .collect()
    }

    /// Numbers (1-based) of the messages marked deleted.
    pub fn marked(&self) -> Vec<u64> {
        (0..self.numbered.len())
            .filter(|&i| self.deleted[i])
            .map(|i| i as u64 + 1)
            .collect()
    }

    /// The identity of message `n` if it exists and is not marked deleted.
    pub fn live_identity(&self, n: u64) -> Option<usize> {
        let i = usize::try_from(n.checked_sub(1)?).ok()?;
        (i < self.numbered.len() && !self.deleted[i]).then(|| self.numbered[i])
    }

    /// The identities marked deleted (what UPDATE removes).
    pub fn marked_identities(&self) -> Vec<usize> {
        self.marked()
            .into_iter()
            .map(|n| self.numbered[n as usize - 1])
            .collect()
    }

    /// The size this session gave message `n`, if it did.
    pub fn size(&self, n: u64) -> Option<&Seen> {
        self.sizes
            .get(usize::try_from(n).ok()?.checked_sub(1)?)?
            .as_ref()
    }

    /// Learns that this session gives message `n` (which exists) `octets`: the same as it
    /// gave before, and consistent with its STAT totals.
    pub fn learn_size(&mut self, n: u64, octets: u64, by: &str) -> Result<(), Conflict> {
        let i = n as usize - 1;
        if let Some(before) = &self.sizes[i] {
            if before.octets != octets {
                return Err(Conflict::Size {
                    n,
                    before: before.clone(),
                    octets,
                });
            }
            return Ok(());
        }
        self.sizes[i] = Some(Seen {
            octets,
            by: by.to_owned(),
        });
        for (k, stat) in self.stats.iter().enumerate() {
            if stat.live.contains(&n) {
                self.check_sum(k)?;
            }
        }
        Ok(())
    }

    /// Learns a STAT answer: the same total as an earlier STAT over the same messages, and
    /// the sum of the sizes once they are all known.
    pub fn learn_stat(&mut self, stat: Stat) -> Result<(), Conflict> {
        let k = self.stats.len();
        let same = self
            .stats
            .iter()
            .position(|o| o.live == stat.live && o.total != stat.total);
        self.stats.push(stat);
        if let Some(other) = same {
            return Err(Conflict::Totals { stat: k, other });
        }
        self.check_sum(k)
    }

    /// STAT `k`'s total against the sizes, if they are all known.
    fn check_sum(&self, k: usize) -> Result<(), Conflict> {
        let stat = &self.stats[k];
        let mut sum = 0u64;
        for &n in &stat.live {
            match self.size(n) {
                Some(seen) => sum = sum.saturating_add(seen.octets),
                None => return Ok(()),
            }
        }
        if sum != stat.total {
            return Err(Conflict::Sum { stat: k, sum });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drop_of(n: usize) -> Maildrop {
        Maildrop {
            messages: (0..n)
                .map(|i| Message {
                    identity: i,
                    size: 10 + i as u64,
                    uid: Some(format!("u{i}")),
                    content: None,
                    fixture: None,
                })
                .collect(),
            is_fixture: true,
        }
    }

    #[test]
    fn view_numbers_and_marks() {
        let mut v = View::of(&drop_of(3));
        assert_eq!(v.live(), [1, 2, 3]);
        v.deleted[1] = true;
        assert_eq!(v.live(), [1, 3]);
        assert_eq!(v.marked(), [2]);
        assert_eq!(v.live_identity(2), None);
        assert_eq!(v.live_identity(3), Some(2));
        assert_eq!(v.live_identity(0), None);
        assert_eq!(v.live_identity(4), None);
        assert_eq!(v.marked_identities(), [1]);
    }

    fn stat(live: &[u64], total: u64) -> Stat {
        Stat {
            live: live.to_vec(),
            total,
            marked: false,
            var: "t".into(),
            at: 0,
        }
    }

    #[test]
    fn a_session_keeps_the_sizes_it_gave() {
        let mut v = View::of(&drop_of(3));
        assert_eq!(v.size(1), None);
        v.learn_size(1, 100, "LIST").unwrap();
        v.learn_size(1, 100, "RETR 1").unwrap();
        assert_eq!(v.size(1).map(|s| s.by.as_str()), Some("LIST"));
        let e = v.learn_size(1, 102, "LIST 1").unwrap_err();
        assert!(
            matches!(
                e,
                Conflict::Size {
                    n: 1,
                    octets: 102,
                    ..
                }
            ),
            "{e:?}"
        );
        // another session knows nothing of these sizes
        assert_eq!(View::of(&drop_of(3)).size(1), None);
    }

    #[test]
    fn stat_totals_are_the_sum_of_the_sizes_whenever_they_are_known() {
        let mut v = View::of(&drop_of(3));
        v.learn_stat(stat(&[1, 2, 3], 60)).unwrap();
        v.learn_size(1, 10, "LIST").unwrap();
        v.learn_size(2, 20, "LIST").unwrap();
        v.learn_size(3, 30, "LIST").unwrap();
        // a STAT over fewer messages, sizes known: checked at once
        v.learn_stat(stat(&[1, 3], 40)).unwrap();
        let e = v.learn_stat(stat(&[2, 3], 51)).unwrap_err();
        assert_eq!(e, Conflict::Sum { stat: 2, sum: 50 });
        // a size that completes an earlier STAT's messages
        let mut v = View::of(&drop_of(2));
        v.learn_stat(stat(&[1, 2], 31)).unwrap();
        v.learn_size(2, 20, "RETR 2").unwrap();
        let e = v.learn_size(1, 10, "LIST 1").unwrap_err();
        assert_eq!(e, Conflict::Sum { stat: 0, sum: 30 });
        // two STATs over the same messages, sizes unknown
        let mut v = View::of(&drop_of(2));
        v.learn_stat(stat(&[1, 2], 30)).unwrap();
        v.learn_stat(stat(&[1], 12)).unwrap();
        v.learn_stat(stat(&[1, 2], 30)).unwrap();
        let e = v.learn_stat(stat(&[1, 2], 32)).unwrap_err();
        assert_eq!(e, Conflict::Totals { stat: 3, other: 0 });
        // no messages: the total is 0
        let mut v = View::of(&drop_of(0));
        assert_eq!(
            v.learn_stat(stat(&[], 5)),
            Err(Conflict::Sum { stat: 0, sum: 0 })
        );
    }

    #[test]
    fn expunge_keeps_identities_and_order() {
        let mut d = drop_of(4);
        d.expunge(&[0, 2]);
        let ids: Vec<usize> = d.messages.iter().map(|m| m.identity).collect();
        assert_eq!(ids, [1, 3]);
        assert!(!d.is_fixture);
        assert_eq!(d.get(3).map(|m| m.size), Some(13));
        assert_eq!(View::of(&d).live_identity(2), Some(3));
    }
}
