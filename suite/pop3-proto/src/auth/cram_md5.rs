//! CRAM-MD5 (RFC 2195): the client answers a challenge with
//! `user SP hex(HMAC-MD5(secret, challenge))`, base64-encoded on the wire.

use hmac::{Hmac, Mac};
use md5::Md5;

use super::{decode_base64, encode_base64, SaslError};

/// `hex(HMAC-MD5(key = secret, text = challenge))`, lowercase (RFC 2195 §2).
pub fn digest(challenge: &[u8], secret: &str) -> String {
    let mut mac =
        Hmac::<Md5>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(challenge);
    super::apop::hex(&mac.finalize().into_bytes())
}

/// The decoded client response: `user SP digest`.
pub fn response(user: &str, challenge: &[u8], secret: &str) -> String {
    format!("{user} {}", digest(challenge, secret))
}

/// The client response as sent: base64 of [`response`].
pub fn response_base64(user: &str, challenge: &[u8], secret: &str) -> String {
    encode_base64(response(user, challenge, secret).as_bytes())
}

/// Splits a decoded client response into user name and digest (RFC 2195 §2: the user name,
/// a space, 32 lowercase hex digits; the name may itself hold spaces, so split at the last).
pub fn parse_response(decoded: &[u8]) -> Result<(String, String), SaslError> {
    let malformed = |problem| SaslError::Malformed {
        mechanism: "CRAM-MD5",
        problem,
    };
    let text = std::str::from_utf8(decoded).map_err(|_| malformed("not UTF-8"))?;
    let (user, digest) = text
        .rsplit_once(' ')
        .ok_or(malformed("no space between user and digest"))?;
    if user.is_empty() {
        return Err(malformed("empty user name"));
    }
    if digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed("digest is not 32 hex digits"));
    }
    Ok((user.to_owned(), digest.to_ascii_lowercase()))
}

/// Decodes a base64 challenge as the server sent it.
pub fn decode_challenge(base64: &str) -> Result<Vec<u8>, SaslError> {
    decode_base64(base64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2195 §2, the example exchange.
    #[test]
    fn rfc2195_known_answer() {
        let challenge =
            decode_challenge("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+").unwrap();
        assert_eq!(challenge, b"<1896.697170952@postoffice.reston.mci.net>");
        assert_eq!(
            digest(&challenge, "tanstaaftanstaaf"),
            "b913a602c7eda7a495b4e6e7334d3890"
        );
        assert_eq!(
            response_base64("tim", &challenge, "tanstaaftanstaaf"),
            "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"
        );
    }

    /// RFC 2104 appendix / RFC 2202 test case 2 for HMAC-MD5.
    #[test]
    fn hmac_md5_known_answer() {
        assert_eq!(
            digest(b"what do ya want for nothing?", "Jefe"),
            "750c783e6ab0b503eaa86e310a5db738"
        );
    }

    #[test]
    fn parses_responses() {
        assert_eq!(
            parse_response(b"tim b913a602c7eda7a495b4e6e7334d3890"),
            Ok(("tim".into(), "b913a602c7eda7a495b4e6e7334d3890".into()))
        );
        assert!(parse_response(b"tim").is_err());
        assert!(parse_response(b" b913a602c7eda7a495b4e6e7334d3890").is_err());
        assert!(parse_response(b"tim b913").is_err());
    }
}
