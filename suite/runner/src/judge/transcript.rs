//! A case's wire log, bounded.

use super::{Dir, Entry};

/// Transcript lines kept from a case's start, and from its end.
const TRANSCRIPT_HEAD: usize = 2000;
const TRANSCRIPT_TAIL: usize = 500;

/// A case's wire log, bounded: the first [`TRANSCRIPT_HEAD`] lines and the last
/// [`TRANSCRIPT_TAIL`], with a count of what was left out between — a server that floods
/// cannot make the report, or the runner's memory, grow without bound.
#[derive(Debug, Default)]
pub(super) struct Transcript {
    head: Vec<Entry>,
    tail: std::collections::VecDeque<Entry>,
    omitted: usize,
}

impl Transcript {
    pub(super) fn push(&mut self, entry: Entry) {
        if self.head.len() < TRANSCRIPT_HEAD {
            self.head.push(entry);
            return;
        }
        self.tail.push_back(entry);
        if self.tail.len() > TRANSCRIPT_TAIL {
            self.tail.pop_front();
            self.omitted += 1;
        }
    }

    /// Takes back the last line (a line read and put back).
    pub(super) fn pop(&mut self) {
        if self.tail.pop_back().is_none() {
            self.head.pop();
        }
    }

    pub(super) fn into_entries(self) -> Vec<Entry> {
        let mut out = self.head;
        if self.omitted > 0 {
            if let Some(first) = self.tail.front() {
                out.push(Entry {
                    at: first.at,
                    session: first.session,
                    dir: Dir::Note,
                    text: format!("... {} lines left out of the transcript ...", self.omitted),
                });
            }
        }
        out.extend(self.tail);
        out
    }
}
