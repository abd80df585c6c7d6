//! Reporters: each reads the run's [`crate::Event`] stream.

pub mod console;
pub mod html;
pub mod json;
pub mod junit;

use crate::judge::{Dir, Entry};

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
