//! Finding one CRLF-terminated line in a buffer, with a length cap (RFC 1939 §3, RFC 2449 §4).

use crate::Decoded;

/// Why a line could not be taken from the buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// No CRLF within `max` octets (the cap counts the CRLF, as RFC 2449 §4 does).
    #[error("line longer than {max} octets (CRLF included)")]
    TooLong {
        /// The cap that was exceeded.
        max: usize,
    },
    /// The line ends with LF alone; POP3 requires CRLF (RFC 1939 §3). `consumed` covers the
    /// bad line so the caller can skip it and go on.
    #[error("line ends with a bare LF, not CRLF")]
    BareLineFeed {
        /// Bytes up to and including the LF.
        consumed: usize,
    },
}

/// Takes one line from `buf`: the bytes before CRLF, and how many bytes the line used.
///
/// Returns `Incomplete` while no LF is present and the buffer is still under `max`.
pub fn split_line(buf: &[u8], max: usize) -> Result<Decoded<&[u8]>, LineError> {
    match memchr::memchr(b'\n', buf) {
        Some(lf) => {
            let consumed = lf + 1;
            // The length is checked first: a line over the cap is `TooLong` whether or not
            // its LF has arrived, so the answer does not depend on how the bytes were split
            // into reads (found by the chunked_decode fuzz target: a 280-octet line ending
            // in a bare LF was `BareLineFeed` when whole, `TooLong` when read in pieces).
            if consumed > max {
                return Err(LineError::TooLong { max });
            }
            if lf == 0 || buf[lf - 1] != b'\r' {
                return Err(LineError::BareLineFeed { consumed });
            }
            Ok(Decoded::Complete(&buf[..lf - 1], consumed))
        }
        None if buf.len() >= max => Err(LineError::TooLong { max }),
        None => Ok(Decoded::Incomplete),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_a_crlf_line() {
        assert_eq!(
            split_line(b"STAT\r\nNOOP\r\n", 255),
            Ok(Decoded::Complete(&b"STAT"[..], 6))
        );
    }

    #[test]
    fn waits_for_the_line_end() {
        assert_eq!(split_line(b"STA", 255), Ok(Decoded::Incomplete));
        assert_eq!(split_line(b"STAT\r", 255), Ok(Decoded::Incomplete));
    }

    #[test]
    fn rejects_bare_lf_and_reports_its_length() {
        assert_eq!(
            split_line(b"STAT\nNOOP\r\n", 255),
            Err(LineError::BareLineFeed { consumed: 5 })
        );
        assert_eq!(
            split_line(b"\n", 255),
            Err(LineError::BareLineFeed { consumed: 1 })
        );
    }

    /// RFC 2449 §4: an over-long line is over-long however it ends, and whether or not its
    /// end is in the buffer yet.
    #[test]
    fn over_long_bare_lf_line_is_too_long() {
        let mut line = vec![b'A'; 300];
        assert_eq!(split_line(&line, 255), Err(LineError::TooLong { max: 255 }));
        line.push(b'\n');
        assert_eq!(split_line(&line, 255), Err(LineError::TooLong { max: 255 }));
        // at the cap the bare LF is what is wrong
        assert_eq!(
            split_line(&line[46..], 255),
            Err(LineError::BareLineFeed { consumed: 255 })
        );
    }

    #[test]
    fn caps_length_including_crlf() {
        let mut line = vec![b'A'; 253];
        line.extend_from_slice(b"\r\n");
        assert!(matches!(
            split_line(&line, 255),
            Ok(Decoded::Complete(_, 255))
        ));
        let mut long = vec![b'A'; 254];
        long.extend_from_slice(b"\r\n");
        assert_eq!(split_line(&long, 255), Err(LineError::TooLong { max: 255 }));
        assert_eq!(
            split_line(&[b'A'; 255], 255),
            Err(LineError::TooLong { max: 255 })
        );
    }
}
