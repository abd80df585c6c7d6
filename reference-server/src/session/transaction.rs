//! TRANSACTION: STAT, LIST, RETR, DELE, NOOP, RSET, TOP, UIDL over the session's view of the
//! maildrop (RFC 1939 §5, §7).

use super::*;

impl Session {
    pub(super) fn transaction(&mut self, command: Command) -> Output {
        let session = self.number;
        let Phase::Transaction(t) = &mut self.phase else {
            unreachable!("state checked by allowed_in");
        };
        let t = t.as_mut();
        match command {
            Command::Stat => t.stat(),
            Command::List(None) => t.list_all(),
            Command::List(Some(n)) => t.list_one(n),
            Command::Uidl(None) => t.uidl_all(session),
            Command::Uidl(Some(n)) => t.uidl_one(n, session),
            Command::Retr(n) => t.retr(n),
            Command::Top { msg, lines } => t.top(msg, lines),
            Command::Dele(n) => t.dele(n),
            Command::Noop => Output::Reply(ok("")),
            Command::Rset => t.rset(),
            other => unreachable!("{} is not a TRANSACTION command", other.keyword()),
        }
    }
}

/// The TRANSACTION commands (RFC 1939 §5, §7), each with the faults that bend it.
impl Transaction {
    fn fault(&self, f: Fault) -> bool {
        self.faults.has(f)
    }

    /// STAT: count and size of the messages not marked deleted.
    fn stat(&self) -> Output {
        let (n, size) = if self.fault(Fault::StatCountsDeleted) {
            (self.sizes.len(), self.sizes.iter().sum())
        } else {
            self.listed().fold((0, 0), |(n, s), (_, m)| (n + 1, s + m))
        };
        Output::Reply(ok(format!("{n} {size}")))
    }

    /// LIST: a scan listing for every message not marked deleted.
    fn list_all(&self) -> Output {
        let listed: Vec<(usize, u64)> = if self.fault(Fault::ListShowsDeleted) {
            self.sizes.iter().copied().enumerate().collect()
        } else {
            self.listed().collect()
        };
        let total: u64 = listed.iter().map(|(_, s)| s).sum();
        let renumber = self.fault(Fault::ListRenumbersAfterDele);
        let lines = listed.iter().enumerate().map(|(k, (i, s))| {
            let n = if renumber { k + 1 } else { i + 1 };
            format!("{n} {s}")
        });
        Output::Reply(multi(
            ok(format!("{} messages ({total} octets)", listed.len())),
            lines.collect::<Vec<_>>(),
        ))
    }

    /// LIST n: that message's scan listing.
    fn list_one(&self, n: u32) -> Output {
        let index = if self.fault(Fault::ListRenumbersAfterDele) {
            self.listed()
                .nth((n as usize).wrapping_sub(1))
                .map(|(i, _)| i)
                .ok_or("no such message")
        } else if self.fault(Fault::ListShowsDeleted) {
            self.index_even_deleted(n)
        } else {
            self.index(n)
        };
        match index {
            Ok(i) => Output::Reply(ok(format!("{n} {}", self.sizes[i]))),
            Err(e) => Output::Reply(err(e)),
        }
    }

    /// UIDL: a unique-id listing for every message not marked deleted.
    fn uidl_all(&mut self, session: u64) -> Output {
        let lines: Vec<String> = self
            .listed()
            .map(|(i, _)| format!("{} {}", i + 1, self.uid(i, session)))
            .collect();
        self.drift();
        Output::Reply(multi(ok("unique-id listing follows"), lines))
    }

    /// UIDL n: that message's unique-id listing.
    fn uidl_one(&mut self, n: u32, session: u64) -> Output {
        match self.index(n) {
            Ok(i) => {
                self.drift();
                Output::Reply(ok(format!("{n} {}", self.uid(i, session))))
            }
            Err(e) => Output::Reply(err(e)),
        }
    }

    /// RETR n: the whole message.
    fn retr(&mut self, n: u32) -> Output {
        match self.index_to_read(n) {
            Ok(i) => match self.maildrop.read(i) {
                Ok(content) => self.message(ok(format!("{} octets", self.sizes[i])), content),
                Err(_) => Output::Reply(err_code(ResponseCode::SysTemp, "message cannot be read")),
            },
            Err(e) => Output::Reply(err(e)),
        }
    }

    /// TOP msg lines: the header, the blank line and that many body lines.
    fn top(&mut self, msg: u32, lines: u32) -> Output {
        match self.index_to_read(msg) {
            Ok(i) => match self.maildrop.read(i) {
                Ok(mut content) => {
                    if !self.fault(Fault::TopIgnoresLineCount) {
                        content.truncate(pop3_proto::message::top_cut(&content, lines));
                    }
                    if self.fault(Fault::TopDropsBlankLine) {
                        drop_blank_line(&mut content);
                    }
                    self.message(ok("top of message follows"), content)
                }
                Err(_) => Output::Reply(err_code(ResponseCode::SysTemp, "message cannot be read")),
            },
            Err(e) => Output::Reply(err(e)),
        }
    }

    /// DELE n: mark the message deleted (applied in UPDATE).
    fn dele(&mut self, n: u32) -> Output {
        match self.index(n) {
            Ok(i) => {
                self.deleted[i] = true;
                Output::Reply(ok(format!("message {n} deleted")))
            }
            Err(_)
                if self.fault(Fault::DeleDeletedAccepted) && self.index_even_deleted(n).is_ok() =>
            {
                Output::Reply(ok(format!("message {n} deleted")))
            }
            Err(e) => Output::Reply(err(e)),
        }
    }

    /// RSET: unmark every message.
    fn rset(&mut self) -> Output {
        if !self.fault(Fault::RsetKeepsMarks) {
            self.deleted.iter_mut().for_each(|d| *d = false);
        }
        let n = self.deleted.len();
        let size: u64 = self.sizes.iter().sum();
        Output::Reply(ok(format!("maildrop has {n} messages ({size} octets)")))
    }
}

/// The size each message of `maildrop` is listed with: its octets as sent with CRLF line ends
/// (RFC 1939 §5), or what a listing fault makes of them.
pub(super) fn listed_sizes(maildrop: &mut dyn Maildrop, faults: &Faults) -> Vec<u64> {
    let mut sizes: Vec<u64> = maildrop.messages().iter().map(|m| m.size).collect();
    if faults.has(Fault::SizesInLfOctets) {
        for (i, size) in sizes.iter_mut().enumerate() {
            *size = maildrop.read(i).map_or(*size, |c| c.len() as u64);
        }
    }
    if faults.has(Fault::ListSizePlusTwo) {
        sizes.iter_mut().for_each(|s| *s += 2);
    }
    sizes
}

impl Transaction {
    /// Under [`Fault::SizeDrift`]: after a UIDL, every size grows by one octet.
    pub(super) fn drift(&mut self) {
        if self.faults.has(Fault::SizeDrift) {
            self.sizes.iter_mut().for_each(|s| *s += 1);
        }
    }

    /// (index, size) of every message not marked deleted.
    pub(super) fn listed(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.sizes
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.deleted[*i])
            .map(|(i, &size)| (i, size))
    }

    /// The indices of the messages marked deleted.
    pub(super) fn marked(&self) -> Vec<usize> {
        self.deleted
            .iter()
            .enumerate()
            .filter_map(|(i, d)| d.then_some(i))
            .collect()
    }

    /// The index of message number `n`, if it exists and is not deleted (RFC 1939 §5).
    pub(super) fn index(&self, n: u32) -> Result<usize, &'static str> {
        let i = self.index_even_deleted(n)?;
        if self.deleted[i] {
            return Err("message already deleted");
        }
        Ok(i)
    }

    /// The index of message number `n`, deleted or not.
    pub(super) fn index_even_deleted(&self, n: u32) -> Result<usize, &'static str> {
        let n = if n == 0 && self.faults.has(Fault::MessageZeroAccepted) {
            1
        } else {
            n
        };
        let i = (n as usize).checked_sub(1).ok_or("no such message")?;
        match self.deleted.get(i) {
            None => Err("no such message"),
            Some(_) => Ok(i),
        }
    }

    /// The index of a message RETR or TOP may send.
    pub(super) fn index_to_read(&self, n: u32) -> Result<usize, &'static str> {
        if self.faults.has(Fault::DeletedRetrievable) {
            self.index_even_deleted(n)
        } else {
            self.index(n)
        }
    }

    /// The unique-id of the message at `index`, as the session `session` lists it.
    pub(super) fn uid(&self, index: usize, session: u64) -> String {
        let uid = &self.maildrop.messages()[index].uid;
        if self.faults.has(Fault::UidlIsMessageNumber) {
            (index + 1).to_string()
        } else if self.faults.has(Fault::UidlChangesEachSession) {
            format!("{uid}.s{session}")
        } else if self.faults.has(Fault::UidlTooLong) {
            format!("{uid:x<80}")
        } else {
            uid.clone()
        }
    }

    /// A RETR or TOP response: framed by the connection, or here under a framing fault.
    pub(super) fn message(&self, head: Vec<u8>, content: Vec<u8>) -> Output {
        match fault::faulty_message(&head, &content, &self.faults) {
            Some(bytes) => Output::Reply(bytes),
            None => Output::Message { head, content },
        }
    }
}

/// Removes the empty line that ends the header section (for [`Fault::TopDropsBlankLine`]).
pub(super) fn drop_blank_line(content: &mut Vec<u8>) {
    let blank = if content.starts_with(b"\n") || content.starts_with(b"\r\n") {
        Some(0)
    } else {
        memchr::memmem::find(content, b"\n\n")
            .map(|i| i + 1)
            .into_iter()
            .chain(memchr::memmem::find(content, b"\n\r\n").map(|i| i + 1))
            .min()
    };
    if let Some(at) = blank {
        let len = if content[at] == b'\r' { 2 } else { 1 };
        content.drain(at..at + len);
    }
}
