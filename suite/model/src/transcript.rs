//! The wire log of a run: who wrote each line, on which connection, when; and how bytes are
//! shown in it (credentials masked by the caller, control bytes escaped, long data elided).

use std::time::Duration;

/// Who wrote a transcript line (the client's: the model is a client too).
pub use client::Dir;

/// One line of the wire log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptLine {
    /// Since the sequence started.
    pub at: Duration,
    /// The connection's name in the scenario (`main`, `c2`, ...).
    pub conn: String,
    /// Who.
    pub dir: Dir,
    /// The text (credentials masked; long bodies elided).
    pub text: String,
}

/// `bytes` for a transcript or a message: printable ASCII as is, CR and LF as `\r` `\n`,
/// other bytes `\xHH`; at most 200 bytes, then the length.
pub fn printable(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes.iter().take(200) {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            0x20..=0x7e => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > 200 {
        s.push_str(&format!("... ({} octets)", bytes.len()));
    }
    s
}
