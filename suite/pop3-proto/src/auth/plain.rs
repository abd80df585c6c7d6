//! SASL PLAIN (RFC 4616): `message = [authzid] NUL authcid NUL passwd`.

use super::{encode_base64, SaslError};

/// A decoded PLAIN message (RFC 4616 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plain {
    /// The authorization identity; empty means "the same as authcid".
    pub authzid: String,
    /// The authentication identity (user name).
    pub authcid: String,
    /// The password.
    pub passwd: String,
}

impl Plain {
    /// The message bytes: `authzid NUL authcid NUL passwd`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(self.authzid.len() + self.authcid.len() + self.passwd.len() + 2);
        out.extend_from_slice(self.authzid.as_bytes());
        out.push(0);
        out.extend_from_slice(self.authcid.as_bytes());
        out.push(0);
        out.extend_from_slice(self.passwd.as_bytes());
        out
    }

    /// The message as base64, as a client sends it.
    pub fn to_base64(&self) -> String {
        encode_base64(&self.to_bytes())
    }

    /// Parses decoded message bytes (RFC 4616 §2: exactly two NULs; authcid and passwd of
    /// 1 to 255 octets; UTF-8 throughout).
    pub fn parse(message: &[u8]) -> Result<Plain, SaslError> {
        let malformed = |problem| SaslError::Malformed {
            mechanism: "PLAIN",
            problem,
        };
        let mut parts = message.split(|&b| b == 0);
        let (Some(authzid), Some(authcid), Some(passwd), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("not exactly two NUL separators"));
        };
        if authcid.is_empty() || authcid.len() > 255 {
            return Err(malformed("authcid must be 1 to 255 octets"));
        }
        if passwd.is_empty() || passwd.len() > 255 {
            return Err(malformed("passwd must be 1 to 255 octets"));
        }
        if authzid.len() > 255 {
            return Err(malformed("authzid over 255 octets"));
        }
        let utf8 = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| malformed("not UTF-8"));
        Ok(Plain {
            authzid: utf8(authzid)?,
            authcid: utf8(authcid)?,
            passwd: utf8(passwd)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::decode_base64;

    /// RFC 4616 §4 examples: "\0tim\0tanstaaftanstaaf" and "Ursel\0Kurt\0xipj3plmq".
    #[test]
    fn rfc4616_examples() {
        let tim = Plain {
            authzid: String::new(),
            authcid: "tim".into(),
            passwd: "tanstaaftanstaaf".into(),
        };
        assert_eq!(tim.to_bytes(), b"\0tim\0tanstaaftanstaaf");
        assert_eq!(tim.to_base64(), "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
        assert_eq!(
            Plain::parse(&decode_base64("AHRpbQB0YW5zdGFhZnRhbnN0YWFm").unwrap()),
            Ok(tim)
        );
        let ursel = Plain::parse(b"Ursel\0Kurt\0xipj3plmq").unwrap();
        assert_eq!(ursel.authzid, "Ursel");
        assert_eq!(ursel.authcid, "Kurt");
        assert_eq!(ursel.to_base64(), "VXJzZWwAS3VydAB4aXBqM3BsbXE=");
    }

    #[test]
    fn rejects_malformed_messages() {
        for bad in [
            &b"tim"[..],
            b"\0tim",
            b"\0tim\0pw\0x",
            b"\0\0pw",
            b"\0tim\0",
            b"\0t\xffm\0pw",
        ] {
            assert!(Plain::parse(bad).is_err(), "{bad:?}");
        }
    }
}
