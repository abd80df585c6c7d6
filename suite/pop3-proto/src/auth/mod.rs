//! Authentication math shared by client and server: APOP (RFC 1939 §7), CRAM-MD5 (RFC 2195),
//! PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login), SCRAM-SHA-1 and SCRAM-SHA-256
//! (RFC 5802, RFC 7677), OAUTHBEARER (RFC 7628) and XOAUTH2, and the strict base64 that
//! RFC 5034 §4 requires for SASL exchanges.

pub mod apop;
pub mod channel_binding;
pub mod cram_md5;
pub mod login;
pub mod oauth;
pub mod plain;
pub mod scram;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// A SASL exchange that cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// Text that is not strict base64: a character outside the alphabet, bad padding, or
    /// trailing bits (RFC 5034 §4: such input MUST be rejected, not ignored).
    #[error("invalid base64: {0}")]
    Base64(String),
    /// A decoded message that breaks its mechanism's grammar.
    #[error("malformed {mechanism} message: {problem}")]
    Malformed {
        /// The mechanism.
        mechanism: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
}

/// Encodes bytes as the base64 POP3 SASL uses (RFC 4648 §4, padded).
pub fn encode_base64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Decodes base64 strictly (RFC 5034 §4): no whitespace, canonical padding.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, SaslError> {
    STANDARD
        .decode(text)
        .map_err(|e| SaslError::Base64(e.to_string()))
}

/// A client's line during an AUTH exchange (RFC 5034 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientResponse {
    /// `*`: the client cancels; the server answers -ERR.
    Cancel,
    /// A base64 response, decoded (an empty line is an empty response).
    Data(Vec<u8>),
}

impl ClientResponse {
    /// Parses one client line (without CRLF) sent after a `+ ` continuation.
    pub fn parse(line: &[u8]) -> Result<ClientResponse, SaslError> {
        if line == b"*" {
            return Ok(ClientResponse::Cancel);
        }
        let text = std::str::from_utf8(line).map_err(|_| SaslError::Base64("not ASCII".into()))?;
        decode_base64(text).map(ClientResponse::Data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_base64() {
        assert_eq!(decode_base64("dGlt"), Ok(b"tim".to_vec()));
        assert_eq!(decode_base64(""), Ok(Vec::new()));
        for bad in [
            "dGlt!", "dGl", "dG=l", "dGlt\t", "dGltIA", "dGltIA=", "dGltIB==",
        ] {
            assert!(decode_base64(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn client_responses() {
        assert_eq!(ClientResponse::parse(b"*"), Ok(ClientResponse::Cancel));
        assert_eq!(
            ClientResponse::parse(b""),
            Ok(ClientResponse::Data(Vec::new()))
        );
        assert_eq!(
            ClientResponse::parse(b"dGlt"),
            Ok(ClientResponse::Data(b"tim".to_vec()))
        );
        assert!(ClientResponse::parse(b"**").is_err());
    }
}
