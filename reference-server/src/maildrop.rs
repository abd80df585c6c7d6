//! Where messages live: the [`Store`] of maildrops, a Maildir one on disk and an in-memory one.
//!
//! A session opens a [`Maildrop`] when it enters TRANSACTION (RFC 1939 §5): a snapshot of the
//! messages, numbered from 1 in a fixed order. Nothing is removed until UPDATE (RFC 1939 §6),
//! when [`Maildrop::expunge`] removes the marked messages.

use std::collections::HashMap;
use std::fmt::Debug;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pop3_proto::multiline::wire_size;

/// A message as the session lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// The size POP3 reports: octets with CRLF line ends (RFC 1939 §5).
    pub size: u64,
    /// The unique-id listing (RFC 1939 §7: 1 to 70 characters 0x21-0x7E, persistent).
    pub uid: String,
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system error, with the path it concerned.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A message vanished or an index is out of range.
    #[error("message {0} is not in the maildrop")]
    NoSuchMessage(usize),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Gives out maildrops by user name.
pub trait Store: Send + Sync + Debug {
    /// Opens `user`'s maildrop. The server serialises access with its own lock per
    /// [`Store::lock_key`].
    fn open(&self, user: &str) -> Result<Box<dyn Maildrop>, StoreError>;

    /// What two sessions must not hold at once: users sharing one Maildir share a key.
    fn lock_key(&self, user: &str) -> String;
}

/// One user's messages for the length of a TRANSACTION state.
pub trait Maildrop: Send + Debug {
    /// The messages in order; message number n is index n-1.
    fn messages(&self) -> &[MessageInfo];
    /// The whole message at `index`, as stored (LF or CRLF line ends).
    fn read(&mut self, index: usize) -> Result<Vec<u8>, StoreError>;
    /// Removes the messages at `indices` (UPDATE state). Messages already gone are not an error.
    fn expunge(&mut self, indices: &[usize]) -> Result<(), StoreError>;
    /// Writes the maildrop back as an mbox server does when a session ends
    /// ([`crate::Variant::StoreRewritten`]): every message still stored without a `Status:`
    /// header gains `Status: RO` and `X-UID: <unique-id>` at the top. Bodies and unique-ids
    /// stay; sizes grow. Only the in-memory store does it; elsewhere it does nothing.
    fn rewrite_as_mbox(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// `message` with the mbox status fields on top, or `None` if it has them already.
pub fn with_mbox_status(message: &[u8], uid: &str) -> Option<Vec<u8>> {
    if message.starts_with(b"Status:") {
        return None;
    }
    let crlf = memchr::memchr(b'\n', message).is_some_and(|i| i > 0 && message[i - 1] == b'\r');
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut out = format!("Status: RO{eol}X-UID: {uid}{eol}").into_bytes();
    out.extend_from_slice(message);
    Some(out)
}

/// The unique-id for a stored name: the name itself when it fits RFC 1939 §7 (1 to 70 octets
/// in 0x21-0x7E), else the MD5 of the name in hex, which does.
pub fn uid_for(name: &str) -> String {
    if (1..=70).contains(&name.len()) && name.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        name.to_owned()
    } else {
        pop3_proto::auth::apop::digest("", name)
    }
}

// ---- in memory ----------------------------------------------------------------------------

/// Maildrops held in memory, for tests and the fuzz target. Cloning shares the messages.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<MemoryInner>>,
}

/// A stored message: its unique-id, its bytes and their size (RFC 1939 §5, computed once at
/// delivery rather than at every login).
type Stored = (String, Arc<Vec<u8>>, u64);

/// Messages ready to be put in a maildrop many times ([`MemoryStore::replace_prepared`]):
/// shared, not copied, and their sizes computed once (the fixture's large message is 1 MB).
#[derive(Debug, Clone)]
pub struct Prepared(Vec<(Arc<Vec<u8>>, u64)>);

impl Prepared {
    /// `messages`, with their sizes.
    pub fn new<M: Into<Vec<u8>>>(messages: impl IntoIterator<Item = M>) -> Prepared {
        Prepared(
            messages
                .into_iter()
                .map(|m| {
                    let m = m.into();
                    let size = wire_size(&m);
                    (Arc::new(m), size)
                })
                .collect(),
        )
    }
}

#[derive(Debug, Default)]
struct MemoryInner {
    next_uid: u64,
    boxes: HashMap<String, Vec<Stored>>,
    /// [`crate::Fault::UidlReused`]: unique-ids of removed messages, given out again (the
    /// last freed first).
    reuse: Option<Vec<String>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// A store that gives the unique-ids of removed messages to new ones (the deliberate
    /// defect [`crate::Fault::UidlReused`]; RFC 1939 §7 says a server should never).
    pub fn reusing_uids() -> MemoryStore {
        let store = MemoryStore::new();
        store.inner.lock().expect("store lock").reuse = Some(Vec::new());
        store
    }

    /// Appends a message to `user`'s maildrop and returns its unique-id.
    pub fn deliver(&self, user: &str, message: impl Into<Vec<u8>>) -> String {
        let message = message.into();
        let size = wire_size(&message);
        self.inner
            .lock()
            .expect("store lock")
            .deliver(user, Arc::new(message), size)
    }

    /// Replaces `user`'s maildrop with `messages` (fresh unique-ids) without copying them:
    /// [`MemoryStore::replace`] for a maildrop restored again and again.
    pub fn replace_prepared(&self, user: &str, messages: &Prepared) {
        let mut inner = self.inner.lock().expect("store lock");
        let gone = inner.boxes.remove(user).unwrap_or_default();
        inner.free(gone.into_iter().map(|(uid, ..)| uid));
        for (m, size) in &messages.0 {
            inner.deliver(user, m.clone(), *size);
        }
    }

    /// Replaces `user`'s maildrop with `messages` (fresh unique-ids), e.g. to restore the
    /// fixture after a case deleted from it.
    pub fn replace<M: Into<Vec<u8>>>(&self, user: &str, messages: impl IntoIterator<Item = M>) {
        {
            let mut inner = self.inner.lock().expect("store lock");
            let gone = inner.boxes.remove(user).unwrap_or_default();
            inner.free(gone.into_iter().map(|(uid, ..)| uid));
        }
        for m in messages {
            self.deliver(user, m);
        }
    }

    /// How many messages `user` has now.
    pub fn count(&self, user: &str) -> usize {
        let inner = self.inner.lock().expect("store lock");
        inner.boxes.get(user).map_or(0, Vec::len)
    }
}

impl MemoryInner {
    /// Appends a message to `user`'s maildrop; its unique-id.
    fn deliver(&mut self, user: &str, message: Arc<Vec<u8>>, size: u64) -> String {
        let reused = self.reuse.as_mut().and_then(Vec::pop);
        let uid = reused.unwrap_or_else(|| {
            self.next_uid += 1;
            format!("mem{:06}", self.next_uid)
        });
        self.boxes
            .entry(user.to_owned())
            .or_default()
            .push((uid.clone(), message, size));
        uid
    }

    /// Under [`crate::Fault::UidlReused`], keeps removed messages' unique-ids for reuse.
    fn free(&mut self, uids: impl IntoIterator<Item = String>) {
        if let Some(pool) = &mut self.reuse {
            pool.extend(uids);
        }
    }
}

impl Store for MemoryStore {
    fn open(&self, user: &str) -> Result<Box<dyn Maildrop>, StoreError> {
        let inner = self.inner.lock().expect("store lock");
        let messages = inner.boxes.get(user).cloned().unwrap_or_default();
        let info = messages
            .iter()
            .map(|(uid, _, size)| MessageInfo {
                size: *size,
                uid: uid.clone(),
            })
            .collect();
        Ok(Box::new(MemoryMaildrop {
            store: self.clone(),
            user: user.to_owned(),
            messages,
            info,
        }))
    }

    fn lock_key(&self, user: &str) -> String {
        format!("memory:{user}")
    }
}

#[derive(Debug)]
struct MemoryMaildrop {
    store: MemoryStore,
    user: String,
    messages: Vec<Stored>,
    info: Vec<MessageInfo>,
}

impl Maildrop for MemoryMaildrop {
    fn messages(&self) -> &[MessageInfo] {
        &self.info
    }

    fn read(&mut self, index: usize) -> Result<Vec<u8>, StoreError> {
        self.messages
            .get(index)
            .map(|(_, m, _)| m.to_vec())
            .ok_or(StoreError::NoSuchMessage(index))
    }

    fn expunge(&mut self, indices: &[usize]) -> Result<(), StoreError> {
        let gone: Vec<&str> = indices
            .iter()
            .filter_map(|&i| self.messages.get(i).map(|(uid, ..)| uid.as_str()))
            .collect();
        let mut inner = self.store.inner.lock().expect("store lock");
        let mut freed = Vec::new();
        if let Some(list) = inner.boxes.get_mut(&self.user) {
            list.retain(|(uid, ..)| {
                let keep = !gone.contains(&uid.as_str());
                if !keep {
                    freed.push(uid.clone());
                }
                keep
            });
        }
        inner.free(freed);
        Ok(())
    }

    fn rewrite_as_mbox(&mut self) -> Result<(), StoreError> {
        let mut inner = self.store.inner.lock().expect("store lock");
        if let Some(list) = inner.boxes.get_mut(&self.user) {
            for (uid, message, size) in list.iter_mut() {
                if let Some(rewritten) = with_mbox_status(message, uid) {
                    *size = wire_size(&rewritten);
                    *message = Arc::new(rewritten);
                }
            }
        }
        Ok(())
    }
}

// ---- Maildir ------------------------------------------------------------------------------

/// Maildirs on disk (the format Dovecot and Courier read: `cur/`, `new/`, `tmp/`).
///
/// The path may hold `%u`, replaced by the user name; without it every user shares one Maildir.
/// Opening a maildrop moves `new/` mail to `cur/` (as every Maildir reader does), orders the
/// messages by delivery time (the number that starts a Maildir name) and then by name, and takes
/// the unique-id from the name, so UIDL is stable across sessions and restarts. Deletion unlinks
/// the file: atomic per message, and done only in UPDATE.
#[derive(Debug, Clone)]
pub struct MaildirStore {
    pattern: String,
}

impl MaildirStore {
    /// A store rooted at `pattern` (`%u` becomes the user name).
    pub fn new(pattern: impl Into<String>) -> MaildirStore {
        MaildirStore {
            pattern: pattern.into(),
        }
    }

    /// The Maildir of `user`.
    pub fn path_for(&self, user: &str) -> PathBuf {
        PathBuf::from(self.pattern.replace("%u", user))
    }
}

/// Creates `cur/`, `new/` and `tmp/` under `dir` if missing.
pub fn create_maildir(dir: &Path) -> Result<(), StoreError> {
    for sub in ["cur", "new", "tmp"] {
        let p = dir.join(sub);
        fs::create_dir_all(&p).map_err(io_err(&p))?;
    }
    Ok(())
}

/// Size in a Maildir name's `,W=` field (Dovecot's virtual size: CRLF octets).
fn size_from_name(name: &str) -> Option<u64> {
    let base = name.split(':').next()?;
    base.split(',')
        .skip(1)
        .find_map(|field| field.strip_prefix("W=")?.parse().ok())
}

fn delivery_key(name: &str) -> (u64, String) {
    let secs = name
        .split(['.', ':', ','])
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX);
    (secs, name.to_owned())
}

impl Store for MaildirStore {
    fn open(&self, user: &str) -> Result<Box<dyn Maildrop>, StoreError> {
        let dir = self.path_for(user);
        create_maildir(&dir)?;
        let new = dir.join("new");
        let cur = dir.join("cur");
        for entry in fs::read_dir(&new).map_err(io_err(&new))? {
            let entry = entry.map_err(io_err(&new))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let to = cur.join(format!("{name}:2,"));
            match fs::rename(entry.path(), &to) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&to)(e)),
            }
        }
        let mut names = Vec::new();
        for entry in fs::read_dir(&cur).map_err(io_err(&cur))? {
            let entry = entry.map_err(io_err(&cur))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.file_type().map_err(io_err(&cur))?.is_file() {
                continue;
            }
            names.push(name);
        }
        names.sort_by_cached_key(|n| delivery_key(n));
        let mut files = Vec::with_capacity(names.len());
        let mut info = Vec::with_capacity(names.len());
        for name in names {
            let path = cur.join(&name);
            let size = match size_from_name(&name) {
                Some(s) => s,
                None => wire_size(&fs::read(&path).map_err(io_err(&path))?),
            };
            let base = name.split(':').next().unwrap_or(&name);
            info.push(MessageInfo {
                size,
                uid: uid_for(base),
            });
            files.push(path);
        }
        Ok(Box::new(MaildirMaildrop { files, info }))
    }

    fn lock_key(&self, user: &str) -> String {
        let path = self.path_for(user);
        let path = fs::canonicalize(&path).unwrap_or(path);
        format!("maildir:{}", path.display())
    }
}

#[derive(Debug)]
struct MaildirMaildrop {
    files: Vec<PathBuf>,
    info: Vec<MessageInfo>,
}

impl Maildrop for MaildirMaildrop {
    fn messages(&self) -> &[MessageInfo] {
        &self.info
    }

    fn read(&mut self, index: usize) -> Result<Vec<u8>, StoreError> {
        let path = self
            .files
            .get(index)
            .ok_or(StoreError::NoSuchMessage(index))?;
        fs::read(path).map_err(io_err(path))
    }

    fn expunge(&mut self, indices: &[usize]) -> Result<(), StoreError> {
        let mut first_error = None;
        for &i in indices {
            let Some(path) = self.files.get(i) else {
                continue;
            };
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    first_error.get_or_insert(io_err(path)(e));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Writes `message` into the Maildir at `dir` (delivered to `cur/`, seen by no reader yet),
/// named `{secs}.M{seq}P{pid}.{host},S={size},W={wire size}:2,`. Returns the file name.
pub fn deliver_to_maildir(
    dir: &Path,
    secs: u64,
    seq: u64,
    message: &[u8],
) -> Result<String, StoreError> {
    create_maildir(dir)?;
    let name = format!(
        "{secs}.M{seq}P{}.conform,S={},W={}:2,",
        std::process::id(),
        message.len(),
        wire_size(message)
    );
    let tmp = dir.join("tmp").join(&name);
    fs::write(&tmp, message).map_err(io_err(&tmp))?;
    let cur = dir.join("cur").join(&name);
    fs::rename(&tmp, &cur).map_err(io_err(&cur))?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_rules() {
        assert_eq!(uid_for("1700000000.M1P2.host"), "1700000000.M1P2.host");
        let long = "x".repeat(71);
        assert_eq!(uid_for(&long).len(), 32);
        assert_eq!(uid_for("has space").len(), 32);
        assert_ne!(uid_for(&long), uid_for(&"y".repeat(71)));
    }

    #[test]
    fn memory_store_expunges_only_what_was_marked() {
        let s = MemoryStore::new();
        s.deliver("u", "a\n");
        s.deliver("u", "bb\n");
        s.deliver("u", "ccc\n");
        let mut m = s.open("u").unwrap();
        assert_eq!(
            m.messages().iter().map(|i| i.size).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        m.expunge(&[1]).unwrap();
        let m = s.open("u").unwrap();
        assert_eq!(m.messages().len(), 2);
        assert_eq!(m.messages()[1].size, 5);
    }

    #[test]
    fn a_prepared_replacement_is_a_replacement_with_fresh_uids() {
        let s = MemoryStore::new();
        s.deliver("u", "old\n");
        let prepared = Prepared::new(["a\n", "bb\n"]);
        s.replace_prepared("u", &prepared);
        let first: Vec<String> = s
            .open("u")
            .unwrap()
            .messages()
            .iter()
            .map(|i| i.uid.clone())
            .collect();
        s.replace_prepared("u", &prepared);
        let mut m = s.open("u").unwrap();
        assert_eq!(
            m.messages().iter().map(|i| i.size).collect::<Vec<_>>(),
            [3, 4]
        );
        assert_eq!(m.read(1).unwrap(), b"bb\n");
        assert!(m.messages().iter().all(|i| !first.contains(&i.uid)));
        // rewriting one maildrop changes neither the prepared messages nor their sizes
        m.rewrite_as_mbox().unwrap();
        s.replace_prepared("u", &prepared);
        assert_eq!(s.open("u").unwrap().messages()[0].size, 3);
    }

    #[test]
    fn maildir_moves_new_orders_by_time_and_keeps_uids() {
        let dir = tempfile::tempdir().unwrap();
        let store = MaildirStore::new(dir.path().to_str().unwrap());
        deliver_to_maildir(dir.path(), 200, 1, b"second\n").unwrap();
        deliver_to_maildir(dir.path(), 100, 2, b"first\n").unwrap();
        fs::write(
            dir.path().join("new").join("300.M3P3.elsewhere"),
            "third\r\n",
        )
        .unwrap();
        let mut m = store.open("anyone").unwrap();
        let uids: Vec<String> = m.messages().iter().map(|i| i.uid.clone()).collect();
        assert_eq!(m.read(0).unwrap(), b"first\n");
        assert_eq!(m.read(2).unwrap(), b"third\r\n");
        assert_eq!(m.messages()[0].size, 7);
        assert_eq!(m.messages()[2].size, 7);
        assert!(dir
            .path()
            .join("cur")
            .join("300.M3P3.elsewhere:2,")
            .exists());
        m.expunge(&[0]).unwrap();
        let again = store.open("anyone").unwrap();
        let after: Vec<String> = again.messages().iter().map(|i| i.uid.clone()).collect();
        assert_eq!(after, uids[1..]);
    }

    #[test]
    fn per_user_pattern() {
        let dir = tempfile::tempdir().unwrap();
        let store = MaildirStore::new(format!("{}/%u/Maildir", dir.path().display()));
        assert_eq!(store.path_for("ann"), dir.path().join("ann/Maildir"));
        store.open("ann").unwrap();
        assert!(dir.path().join("ann/Maildir/cur").is_dir());
    }
}
