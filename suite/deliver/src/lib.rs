//! Delivery of the standard fixture into a mail store over the network, for `conform seed`:
//! POP3 cannot upload mail (RFC 1939 has no such command), so the seven messages reach a
//! server's store through another protocol:
//!
//! - [`imap`]: IMAP APPEND (RFC 3501 §6.3.11, RFC 9051 §6.3.12), with MULTIAPPEND (RFC 3502)
//!   and LITERAL+ (RFC 7888) when the server announces them; the mailbox is emptied first
//!   with STORE `\Deleted` and EXPUNGE.
//! - [`smtp`]: SMTP (RFC 5321) and LMTP (RFC 2033) delivery to one or more recipients, one
//!   reply per recipient after DATA in LMTP (RFC 2033 §4.2), STARTTLS (RFC 3207), AUTH PLAIN
//!   (RFC 4954, RFC 4616), 8BITMIME (RFC 6152).
//!
//! Every failure is a [`DeliverError`] that names the step and quotes the server's answer.
//! Transport: [`wire::Wire`] (TCP, a unix socket, TLS; every read and write has a deadline,
//! every line a cap). The POP3 side of seeding (emptying a maildrop, checking what arrived)
//! is the `client` crate's, not this one's.

// every dependency is used (unit-test builds also see the dev-dependencies of other targets)
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod imap;
pub mod smtp;
pub mod wire;

pub use wire::{Address, Wire};

/// Why a delivery failed: every variant names the step (`LOGIN`, `APPEND of message 3`,
/// `RCPT TO:<a@b>`, ...) so that the error alone says what the server refused.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The connection could not be made.
    #[error("connecting to {address}: {source}")]
    Connect {
        /// Where.
        address: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TLS handshake (or its configuration) failed.
    #[error("{step}: TLS handshake failed: {reason}")]
    Tls {
        /// The step.
        step: String,
        /// rustls's reason.
        reason: String,
    },
    /// A read or write failed.
    #[error("{step}: {source}")]
    Io {
        /// The step.
        step: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// No (complete) answer within the deadline.
    #[error("{step}: no answer within {secs} s")]
    Timeout {
        /// The step.
        step: String,
        /// The deadline.
        secs: u64,
    },
    /// The server closed the connection.
    #[error("{step}: the server closed the connection")]
    Closed {
        /// The step.
        step: String,
    },
    /// The server refused a step: its answer, as it came.
    #[error("{step} refused: {answer}")]
    Refused {
        /// The step.
        step: String,
        /// The server's answer (the reply lines, joined).
        answer: String,
    },
    /// The server answered something the protocol does not allow there.
    #[error("{step}: unexpected answer: {answer}")]
    Protocol {
        /// The step.
        step: String,
        /// What came.
        answer: String,
    },
    /// The server lacks an extension the delivery needs (STARTTLS, AUTH, 8BITMIME, ...).
    #[error("{0}")]
    Unsupported(String),
    /// What was delivered is not what was asked (a mailbox that does not hold the messages
    /// after the APPENDs, recipients refused).
    #[error("{0}")]
    Incomplete(String),
}

/// Printable text of a server line: printable ASCII kept, other octets as `\xNN`.
pub(crate) fn printable(line: &[u8]) -> String {
    let mut out = String::with_capacity(line.len());
    for &b in line {
        if (0x20..0x7f).contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// `message` with every line ending in CRLF (a lone LF becomes CRLF, a CRLF stays) and a final
/// CRLF added when the last line has none: the line ends that IMAP literals (RFC 9051 §4.3:
/// "messages ... use CRLF") and SMTP DATA (RFC 5321 §2.3.8) require. No other octet changes.
pub fn crlf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 32 + 2);
    let mut previous = 0u8;
    for &b in message {
        if b == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        previous = b;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_changes_only_line_ends() {
        assert_eq!(crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert_eq!(crlf(b"a\n\n"), b"a\r\n\r\n");
        assert_eq!(crlf(b"no end"), b"no end\r\n");
        assert_eq!(crlf(b""), b"");
        assert_eq!(printable(b"a\x01\xff"), "a\\x01\\xff");
    }
}
