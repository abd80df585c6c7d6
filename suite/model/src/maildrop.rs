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
    pub size: u64,
    /// The unique-id, once seen (inspection or a UIDL).
    pub uid: Option<String>,
    /// The message as RETR must send it un-stuffed, CRLF line ends, when known (the standard
    /// fixture, or the first RETR of it in this run).
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

/// A session's view in TRANSACTION: the maildrop as it was at login, numbered from 1, and the
/// messages marked deleted (RFC 1939 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// Identities, by message number - 1.
    pub numbered: Vec<usize>,
    /// Marked deleted, by message number - 1.
    pub deleted: Vec<bool>,
}

impl View {
    /// The view of a session that logs in now.
    pub fn of(maildrop: &Maildrop) -> View {
        View {
            numbered: maildrop.messages.iter().map(|m| m.identity).collect(),
            deleted: vec![false; maildrop.messages.len()],
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
