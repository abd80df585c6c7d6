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

/// Whether `got` (a RETR or TOP answer, un-stuffed, CRLF) is the message `want` (CRLF): the body the same octet
/// for octet, and every header line of `want` present in `got`'s header, in order. A server
/// may add header fields (mbox servers add `Status:` and `X-UID:`; RFC 1939 does not forbid
/// it), so extra header lines are allowed; a changed, dropped or reordered one is not.
pub fn same_message(got: &[u8], want: &[u8]) -> bool {
    if got == want {
        return true;
    }
    // the header lines, and the body after the empty line that ends them (`None`: no empty
    // line at all, which is not the same as an empty body: TOP n 0 sends the empty line)
    let split = |m: &[u8]| -> (Vec<Vec<u8>>, Option<Vec<u8>>) {
        let mut header = Vec::new();
        let mut at = 0;
        while at < m.len() {
            let end = memchr::memmem::find(&m[at..], b"\r\n").map_or(m.len(), |i| at + i);
            if end == at {
                return (header, Some(m[(at + 2).min(m.len())..].to_vec()));
            }
            header.push(m[at..end].to_vec());
            at = end + 2;
        }
        (header, None)
    };
    let (got_header, got_body) = split(got);
    let (want_header, want_body) = split(want);
    if got_body != want_body {
        return false;
    }
    let mut got_lines = got_header.iter();
    let added_field = |l: &[u8]| {
        // a whole added field: `Name: value` (no continuation lines in between)
        // or a continuation line of one
        l.starts_with(b" ")
            || l.starts_with(b"\t")
            || l.iter()
                .position(|&b| b == b':')
                .is_some_and(|i| i > 0 && l[..i].iter().all(|b| b.is_ascii_graphic()))
    };
    for w in &want_header {
        loop {
            match got_lines.next() {
                Some(g) if g == w => break,
                Some(g) if added_field(g) => continue,
                _ => return false,
            }
        }
    }
    got_lines.all(|g| added_field(g))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_message_with_added_header_fields_is_the_same_message() {
        use super::same_message;
        let want = b"From: a\r\nSubject: s\r\n\r\nbody\r\n";
        assert!(same_message(want, want));
        assert!(same_message(
            b"X-UID: 7\r\nFrom: a\r\nStatus: O\r\nSubject: s\r\nX-Long: a\r\n b\r\n\r\nbody\r\n",
            want
        ));
        // a changed, dropped or reordered field, or another body, is not
        assert!(!same_message(
            b"From: b\r\nSubject: s\r\n\r\nbody\r\n",
            want
        ));
        assert!(!same_message(b"From: a\r\n\r\nbody\r\n", want));
        assert!(!same_message(
            b"Subject: s\r\nFrom: a\r\n\r\nbody\r\n",
            want
        ));
        assert!(!same_message(
            b"From: a\r\nSubject: s\r\n\r\n\r\nbody\r\n",
            want
        ));
        assert!(!same_message(
            b"From: a\r\nSubject: s\r\nnot a field\r\n\r\nbody\r\n",
            want
        ));
    }

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
