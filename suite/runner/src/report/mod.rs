//! Reporters: each reads the run's [`crate::Event`] stream and says when its report could
//! not be written in full ([`ReportError`]); a file report goes to a [`ReportFile`], put in
//! place only when complete.

pub mod compare;
pub mod console;
pub mod file;
pub mod html;
pub mod json;
pub mod junit;

pub use file::{Output, ReportError, ReportFile};

use crate::judge::{Dir, Entry};

/// Why a report could not be read back (`conform run --rerun-failed`).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A JSON Lines line that is not one the JSON reporter writes.
    #[error("line {line}: {source}")]
    Json {
        /// 1-based.
        line: usize,
        /// What serde found.
        source: serde_json::Error,
    },
    /// A JSON Lines report of another format version.
    #[error("a report of format {found}; this conform reads format {reads}")]
    Format {
        /// The report's `format`.
        found: u32,
        /// The one this build writes and reads.
        reads: u32,
    },
    /// JUnit XML that does not parse.
    #[error("reading the JUnit XML: {0}")]
    Xml(#[from] quick_xml::Error),
}

/// Renders a transcript as `C:`/`S:` lines, with the session when there are several.
pub fn transcript_text(entries: &[Entry]) -> String {
    let many = entries.iter().any(|e| e.session > 0);
    let mut out = String::new();
    for e in entries {
        let who = match e.dir {
            Dir::Client => "C",
            Dir::Server => "S",
            Dir::Note => "#",
        };
        if many {
            out.push_str(&format!("[{}] ", e.session + 1));
        }
        out.push_str(who);
        out.push_str(": ");
        out.push_str(&e.text);
        out.push('\n');
    }
    out
}

/// A failure that is a root cause: a failed (or errored) case that no failed prerequisite
/// blocked, with the cases it blocked (directly or through others).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootCause {
    /// The failing case (or `expect/...` declaration).
    pub id: String,
    /// The cases blocked by it, in the selection's order.
    pub blocked: Vec<String>,
}

/// The root causes of a run's failures (baselined ones included), in the selection's order.
pub fn root_causes(results: &[crate::CaseResult]) -> Vec<RootCause> {
    use crate::judge::Verdict;
    let mut roots: Vec<RootCause> = results
        .iter()
        .filter(|r| r.failed())
        .map(|r| RootCause {
            id: r.case.id.clone(),
            blocked: Vec::new(),
        })
        .collect();
    for r in results {
        if let Verdict::Blocked { by } = &r.verdict {
            match roots.iter_mut().find(|root| root.id == *by) {
                Some(root) => root.blocked.push(r.case.id.clone()),
                None => roots.push(RootCause {
                    id: by.clone(),
                    blocked: vec![r.case.id.clone()],
                }),
            }
        }
    }
    roots
}
