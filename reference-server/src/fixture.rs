//! The standard fixture maildrop (`scenarios/fixtures/maildrop/`), built into the
//! binary so `conform serve` and `conform run` work from any directory.

use std::path::Path;

use crate::maildrop::{deliver_to_maildir, MemoryStore, StoreError};

/// The fixture messages in maildrop order (message 1 first), as stored (LF line ends), and
/// the delivery time seeded copies carry: the `fixture` crate's, which every part of conform
/// shares.
pub use fixture::{BASE_TIME, MESSAGES};

/// Delivers the fixture into `user`'s in-memory maildrop.
pub fn seed_memory(store: &MemoryStore, user: &str) {
    for m in MESSAGES {
        store.deliver(user, m.to_vec());
    }
}

/// Writes the fixture into the Maildir at `dir` (created if missing) and returns the file
/// names. With `replace`, messages already in `cur/` and `new/` are removed first.
pub fn seed_maildir(dir: &Path, replace: bool) -> Result<Vec<String>, StoreError> {
    crate::maildrop::create_maildir(dir)?;
    if replace {
        for sub in ["cur", "new"] {
            let d = dir.join(sub);
            let entries = std::fs::read_dir(&d).map_err(|source| StoreError::Io {
                path: d.clone(),
                source,
            })?;
            for e in entries.flatten() {
                let p = e.path();
                std::fs::remove_file(&p).map_err(|source| StoreError::Io {
                    path: p.clone(),
                    source,
                })?;
            }
        }
    }
    MESSAGES
        .iter()
        .enumerate()
        .map(|(i, m)| deliver_to_maildir(dir, BASE_TIME + i as u64 + 1, i as u64 + 1, m))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pop3_proto::multiline::wire_size;

    /// The sizes in scenarios/fixtures/README.md, recomputed.
    #[test]
    fn fixture_is_lf_only_and_well_formed() {
        assert_eq!(MESSAGES.len(), 7);
        for (i, m) in MESSAGES.iter().enumerate() {
            assert!(!m.contains(&b'\r'), "message {} has CR", i + 1);
            assert_eq!(m.last(), Some(&b'\n'), "message {} ends without LF", i + 1);
            assert!(wire_size(m) > m.len() as u64);
        }
        let large = wire_size(MESSAGES[4]);
        assert!((1_000_000..=1_100_000).contains(&large), "{large}");
    }

    #[test]
    fn maildir_seed_keeps_the_order() {
        use crate::maildrop::{MaildirStore, Store};
        let dir = tempfile::tempdir().unwrap();
        seed_maildir(dir.path(), false).unwrap();
        let store = MaildirStore::new(dir.path().to_str().unwrap());
        let mut m = store.open("x").unwrap();
        for (i, want) in MESSAGES.iter().enumerate() {
            assert_eq!(m.read(i).unwrap(), *want);
            assert_eq!(m.messages()[i].size, wire_size(want));
        }
        seed_maildir(dir.path(), true).unwrap();
        assert_eq!(store.open("x").unwrap().messages().len(), 7);
    }
}
