//! Exclusive access to a maildrop (RFC 1939 §8: "the POP3 server then acquires an
//! exclusive-access lock on the maildrop"); a second session gets `-ERR [IN-USE]`
//! (RFC 2449 §8.1.1).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The maildrops held by sessions of this server.
#[derive(Debug, Clone, Default)]
pub struct LockTable {
    held: Arc<Mutex<HashSet<String>>>,
}

/// A held lock; dropping it releases the maildrop.
#[derive(Debug)]
pub struct MaildropLock {
    table: LockTable,
    key: String,
}

impl LockTable {
    /// Takes the lock on `key`, or `None` if another session holds it.
    pub fn try_lock(&self, key: String) -> Option<MaildropLock> {
        let mut held = self.held.lock().expect("lock table");
        held.insert(key.clone()).then(|| MaildropLock {
            table: self.clone(),
            key,
        })
    }

    /// Whether `key` is held now.
    pub fn is_locked(&self, key: &str) -> bool {
        self.held.lock().expect("lock table").contains(key)
    }
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        if let Ok(mut held) = self.table.held.lock() {
            held.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_until_dropped() {
        let t = LockTable::default();
        let a = t.try_lock("m".into()).expect("first lock");
        assert!(t.try_lock("m".into()).is_none());
        assert!(t.try_lock("other".into()).is_some());
        drop(a);
        assert!(t.try_lock("m".into()).is_some());
    }
}
