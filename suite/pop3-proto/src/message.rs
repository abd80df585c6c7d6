//! Message structure as POP3 needs it (RFC 1939 §7 TOP; RFC 5322 §2.1 header and body).

/// How many bytes of `message` TOP sends: the header, the blank line, and `lines` body lines
/// (RFC 1939 §7). A message with no blank line is all header.
pub fn top_cut(message: &[u8], lines: u32) -> usize {
    let mut pos = 0;
    let body = loop {
        match memchr::memchr(b'\n', &message[pos..]) {
            None => return message.len(),
            Some(i) => {
                let line = &message[pos..pos + i];
                pos += i + 1;
                if line.is_empty() || line == b"\r" {
                    break pos;
                }
            }
        }
    };
    let mut end = body;
    for _ in 0..lines {
        match memchr::memchr(b'\n', &message[end..]) {
            Some(i) => end += i + 1,
            None => return message.len(),
        }
    }
    end
}

/// The message with CRLF line ends and a CRLF-terminated last line: exactly the octets RETR
/// sends before stuffing, and whose length is [`crate::multiline::wire_size`].
pub fn to_crlf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 32 + 2);
    let mut prev = 0u8;
    for &b in message {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    match message.last() {
        None | Some(b'\n') => {}
        Some(b'\r') => out.push(b'\n'),
        Some(_) => out.extend_from_slice(b"\r\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_form_has_wire_size() {
        for m in [&b""[..], b"a\nb", b"a\r\nb\n", b"x\r", b"\n\n.\n"] {
            assert_eq!(
                to_crlf(m).len() as u64,
                crate::multiline::wire_size(m),
                "{m:?}"
            );
        }
        assert_eq!(to_crlf(b"a\nb"), b"a\r\nb\r\n");
    }
}
