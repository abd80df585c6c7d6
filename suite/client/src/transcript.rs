//! What a client's wire log is made of: who wrote a line, and the line as printable text.

/// Who wrote a transcript line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// The client (the runner, the model).
    Client,
    /// The target.
    Server,
    /// A note from the client (TLS started, connection dropped, ...).
    Note,
}

/// Escapes a line for a report: printable ASCII and UTF-8 as is, CR, LF and tab as `\r`,
/// `\n`, `\t`, other control bytes as `\xHH`.
pub fn printable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_bytes_are_escaped_and_text_kept() {
        assert_eq!(printable(b"+OK \r\n\t\x00\x7f"), "+OK \\r\\n\\t\\x00\\x7f");
        assert_eq!(printable("Grüße".as_bytes()), "Grüße");
    }
}
