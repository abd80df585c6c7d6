//! Multi-line responses and byte-stuffing (RFC 1939 §3).
//!
//! "If any line of the multi-line response begins with the termination octet, the line is
//! 'byte-stuffed' by pre-pending the termination octet to that line of the response. Hence a
//! multi-line response is terminated with the five octets "CRLF.CRLF"."
//!
//! [`Stuffer`] writes a message as a multi-line body, chunk by chunk; [`decode_body_line`] reads
//! one line of a body at a time and says `Incomplete` until the terminating `.` line, so neither
//! side ever holds a whole body. [`wire_size`] is the octet count POP3 reports (RFC 1939 §5:
//! sizes in octets with CRLF line ends).

use crate::line::LineError;
use crate::Decoded;

/// One line of a multi-line body, as read by [`decode_body_line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLine<'a> {
    /// A content line with its stuffing removed, without CRLF. `stuffed` says whether a
    /// leading termination octet was removed.
    Data {
        /// The line content after un-stuffing.
        data: &'a [u8],
        /// Whether the line was sent byte-stuffed.
        stuffed: bool,
    },
    /// The terminating `.` line.
    End,
}

/// Ways a multi-line body breaks RFC 1939 §3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultilineError {
    /// A line over the cap, or ended by a bare LF.
    #[error(transparent)]
    Line(#[from] LineError),
    /// A line starts with a single `.` followed by other text: the server did not byte-stuff
    /// a line that began with the termination octet.
    #[error("line starts with an un-stuffed termination octet")]
    Unstuffed {
        /// Bytes the bad line used, CRLF included, so a lenient reader can go on.
        consumed: usize,
    },
}

/// Reads one line of a multi-line body from the front of `buf`.
///
/// `max_line` caps a line, CRLF included. Lines end with CRLF; a bare LF is an error.
pub fn decode_body_line(
    buf: &[u8],
    max_line: usize,
) -> Result<Decoded<BodyLine<'_>>, MultilineError> {
    let (line, used) = match crate::line::split_line(buf, max_line)? {
        Decoded::Complete(line, used) => (line, used),
        Decoded::Incomplete => return Ok(Decoded::Incomplete),
    };
    match line {
        [b'.'] => Ok(Decoded::Complete(BodyLine::End, used)),
        [b'.', b'.', ..] => Ok(Decoded::Complete(
            BodyLine::Data {
                data: &line[1..],
                stuffed: true,
            },
            used,
        )),
        [b'.', ..] => Err(MultilineError::Unstuffed { consumed: used }),
        _ => Ok(Decoded::Complete(
            BodyLine::Data {
                data: line,
                stuffed: false,
            },
            used,
        )),
    }
}

/// Un-stuffs a whole multi-line body from the front of `raw` into `out` (CRLF line ends kept,
/// terminator dropped). Returns how many bytes of `raw` the body used, terminator included,
/// or `Incomplete` if the terminator has not arrived; `out` then holds the lines so far and
/// the caller may call again with the rest.
pub fn unstuff(
    raw: &[u8],
    max_line: usize,
    out: &mut Vec<u8>,
) -> Result<Decoded<()>, MultilineError> {
    let mut at = 0;
    loop {
        match decode_body_line(&raw[at..], max_line)? {
            Decoded::Complete(BodyLine::End, used) => return Ok(Decoded::Complete((), at + used)),
            Decoded::Complete(BodyLine::Data { data, .. }, used) => {
                out.extend_from_slice(data);
                out.extend_from_slice(crate::CRLF);
                at += used;
            }
            Decoded::Incomplete => return Ok(Decoded::Incomplete),
        }
    }
}

/// Writes a message as a byte-stuffed multi-line body, one chunk at a time.
///
/// Line ends are made CRLF (a bare LF, as Maildir files have, becomes CRLF), every line that
/// begins with `.` gets a second `.`, and [`Stuffer::finish`] closes an unterminated last line
/// and adds the `.` CRLF terminator. Chunks may split anywhere, even between CR and LF.
#[derive(Debug, Clone)]
pub struct Stuffer {
    at_line_start: bool,
    prev_cr: bool,
    empty: bool,
}

impl Default for Stuffer {
    fn default() -> Self {
        Stuffer::new()
    }
}

impl Stuffer {
    /// A stuffer at the start of a body.
    pub fn new() -> Stuffer {
        Stuffer {
            at_line_start: true,
            prev_cr: false,
            empty: true,
        }
    }

    /// Stuffs `input` onto `out`.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        if input.is_empty() {
            return;
        }
        self.empty = false;
        out.reserve(input.len() + input.len() / 32 + 2);
        while !input.is_empty() {
            if self.at_line_start && input[0] == b'.' {
                out.push(b'.');
            }
            match memchr::memchr(b'\n', input) {
                Some(lf) => {
                    let cr_before = if lf == 0 {
                        self.prev_cr
                    } else {
                        input[lf - 1] == b'\r'
                    };
                    out.extend_from_slice(&input[..lf]);
                    if !cr_before {
                        out.push(b'\r');
                    }
                    out.push(b'\n');
                    self.at_line_start = true;
                    self.prev_cr = false;
                    input = &input[lf + 1..];
                }
                None => {
                    out.extend_from_slice(input);
                    self.at_line_start = false;
                    self.prev_cr = input[input.len() - 1] == b'\r';
                    input = &[];
                }
            }
        }
    }

    /// Ends the body: CRLF if the last line was not ended, then `.` CRLF.
    pub fn finish(self, out: &mut Vec<u8>) {
        if !self.empty && !self.at_line_start {
            out.extend_from_slice(if self.prev_cr { b"\n" } else { b"\r\n" });
        }
        out.extend_from_slice(b".\r\n");
    }

    /// Stuffs a whole message and terminates it.
    pub fn stuff_all(message: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(message.len() + message.len() / 32 + 8);
        let mut s = Stuffer::new();
        s.feed(message, &mut out);
        s.finish(&mut out);
        out
    }
}

/// The size POP3 reports for a message (RFC 1939 §5, §11: octets with CRLF line ends): what
/// [`Stuffer`] sends before stuffing and terminator. Every bare LF counts as CRLF, and an
/// unterminated last line gets its CRLF.
pub fn wire_size(message: &[u8]) -> u64 {
    let mut size = message.len() as u64;
    for lf in memchr::memchr_iter(b'\n', message) {
        if lf == 0 || message[lf - 1] != b'\r' {
            size += 1;
        }
    }
    match message.last() {
        None => 0,
        Some(b'\n') => size,
        Some(b'\r') => size + 1,
        Some(_) => size + 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffs_leading_dots_and_normalises_line_ends() {
        let body = b"Hi\n.\n..two\n.hidden\nlast";
        assert_eq!(
            Stuffer::stuff_all(body),
            b"Hi\r\n..\r\n...two\r\n..hidden\r\nlast\r\n.\r\n".to_vec()
        );
        assert_eq!(Stuffer::stuff_all(b""), b".\r\n".to_vec());
        assert_eq!(
            Stuffer::stuff_all(b"a\r\nb\r\n"),
            b"a\r\nb\r\n.\r\n".to_vec()
        );
    }

    #[test]
    fn chunk_boundaries_do_not_matter() {
        let body: &[u8] = b".a\r\n.b\n\r\n..\nx\r\r\n.";
        let whole = Stuffer::stuff_all(body);
        for split in 0..=body.len() {
            let mut out = Vec::new();
            let mut s = Stuffer::new();
            s.feed(&body[..split], &mut out);
            s.feed(&body[split..], &mut out);
            s.finish(&mut out);
            assert_eq!(out, whole, "split at {split}");
        }
    }

    #[test]
    fn decodes_line_by_line() {
        let wire = b"..dot\r\nplain\r\n.\r\nNEXT";
        assert_eq!(
            decode_body_line(wire, 1000),
            Ok(Decoded::Complete(
                BodyLine::Data {
                    data: b".dot",
                    stuffed: true
                },
                7
            ))
        );
        assert_eq!(
            decode_body_line(&wire[7..], 1000),
            Ok(Decoded::Complete(
                BodyLine::Data {
                    data: b"plain",
                    stuffed: false
                },
                7
            ))
        );
        assert_eq!(
            decode_body_line(&wire[14..], 1000),
            Ok(Decoded::Complete(BodyLine::End, 3))
        );
        assert_eq!(decode_body_line(b"partial", 1000), Ok(Decoded::Incomplete));
    }

    #[test]
    fn flags_framing_errors() {
        assert_eq!(
            decode_body_line(b".oops\r\n", 1000),
            Err(MultilineError::Unstuffed { consumed: 7 })
        );
        assert_eq!(
            decode_body_line(b"bare\n", 1000),
            Err(MultilineError::Line(LineError::BareLineFeed {
                consumed: 5
            }))
        );
        assert_eq!(
            decode_body_line(&[b'x'; 20], 10),
            Err(MultilineError::Line(LineError::TooLong { max: 10 }))
        );
    }

    #[test]
    fn unstuff_inverts_stuff() {
        let body = b"From: a\r\n\r\n.\r\n..\r\n.x\r\nend\r\n";
        let wire = Stuffer::stuff_all(body);
        let mut out = Vec::new();
        assert_eq!(
            unstuff(&wire, 1000, &mut out),
            Ok(Decoded::Complete((), wire.len()))
        );
        assert_eq!(out, body);
    }

    #[test]
    fn unstuff_waits_for_the_terminator() {
        let mut out = Vec::new();
        assert_eq!(
            unstuff(b"a\r\nb\r\n", 1000, &mut out),
            Ok(Decoded::Incomplete)
        );
    }

    #[test]
    fn wire_size_counts_crlf_octets() {
        assert_eq!(wire_size(b""), 0);
        assert_eq!(wire_size(b"a\nb\n"), 6);
        assert_eq!(wire_size(b"a\r\nb\r\n"), 6);
        assert_eq!(wire_size(b"a\nb"), 6);
        assert_eq!(wire_size(b"a\r"), 3);
        for m in [&b"x\n.y\nz"[..], b"\n\n", b"abc", b"a\r\n\n"] {
            let wire = Stuffer::stuff_all(m);
            let mut out = Vec::new();
            unstuff(&wire, 1000, &mut out).unwrap();
            assert_eq!(out.len() as u64, wire_size(m), "{m:?}");
        }
    }
}
