//! APOP (RFC 1939 §7): `digest = hex(MD5(timestamp || secret))`, timestamp with its brackets.

use md5::{Digest, Md5};

/// The APOP digest: 32 lowercase hex digits of MD5 over the greeting timestamp (angle
/// brackets included) followed by the shared secret.
pub fn digest(timestamp: &str, secret: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(timestamp.as_bytes());
    md5.update(secret.as_bytes());
    hex(&md5.finalize())
}

/// Whether a client's digest matches; the comparison ignores hex case.
pub fn verify(timestamp: &str, secret: &str, client_digest: &str) -> bool {
    let expected = digest(timestamp, secret);
    // constant-time over equal lengths: no early exit on the first differing byte
    expected.len() == client_digest.len()
        && expected
            .bytes()
            .zip(client_digest.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b.to_ascii_lowercase()))
            == 0
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1939 §7, the APOP example.
    #[test]
    fn rfc1939_known_answer() {
        assert_eq!(
            digest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf"),
            "c4c9334bac560ecc979e58001b3e22fb"
        );
        assert!(verify(
            "<1896.697170952@dbc.mtview.ca.us>",
            "tanstaaf",
            "C4C9334BAC560ECC979E58001B3E22FB"
        ));
        assert!(!verify(
            "<1896.697170952@dbc.mtview.ca.us>",
            "tanstaaf",
            "c4c9"
        ));
        assert!(!verify(
            "<1896.697170953@dbc.mtview.ca.us>",
            "tanstaaf",
            "c4c9334bac560ecc979e58001b3e22fb"
        ));
    }
}
