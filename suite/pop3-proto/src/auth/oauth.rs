//! OAUTHBEARER (RFC 7628) and XOAUTH2 (Google's predecessor of it, described at
//! <https://developers.google.com/gmail/imap/xoauth2-protocol>): a bearer token (RFC 6750)
//! in a SASL message, and the server's JSON error result.
//!
//! ```text
//! OAUTHBEARER client:  n,a=user,^Aauth=Bearer TOKEN^A^A     (RFC 7628 §3.1, ^A = %x01)
//! XOAUTH2 client:      user=user^Aauth=Bearer TOKEN^A^A
//! server on failure:   {"status":"invalid_token"}           (RFC 7628 §3.2.2, a challenge)
//! client's reply:      ^A (OAUTHBEARER, RFC 7628 §3)  or an empty response (XOAUTH2)
//! ```
//!
//! Pure functions; the server's and client's I/O are elsewhere.

use super::scram::{escape_saslname, unescape_saslname};

/// `kvsep = %x01` (RFC 7628 §3.1).
pub const KVSEP: u8 = 0x01;

/// The client's dummy response after a failed OAUTHBEARER exchange: a single kvsep
/// (RFC 7628 §3: "the client MUST then send an additional message to the server").
pub const DUMMY_RESPONSE: &[u8] = &[KVSEP];

/// A message that breaks RFC 7628 §3.1's grammar (or XOAUTH2's), or an error result that is
/// not the JSON of §3.2.2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// The GS2 header is not `n,` or `y,` with an optional `a=saslname` and `,`.
    #[error("malformed GS2 header")]
    Gs2Header,
    /// `p=`: OAUTHBEARER has no channel binding (RFC 7628 §3.1: the gs2-header is a
    /// placeholder; the mechanism is not a -PLUS one).
    #[error("OAUTHBEARER does not support channel binding")]
    ChannelBinding,
    /// A key/value pair without `=`, a key that is not `1*ALPHA`, a value with a character
    /// outside `VCHAR / SP / HTAB / CR / LF`, or a missing final kvsep.
    #[error("malformed key/value pair")]
    KeyValue,
    /// No `auth=` pair (RFC 7628 §3.1: REQUIRED), or no `user=` in XOAUTH2.
    #[error("missing {0}=")]
    Missing(&'static str),
    /// `auth=` is not `Bearer <token>` (RFC 6750 §2.1).
    #[error("auth= is not a Bearer credential")]
    NotBearer,
    /// The message is the single kvsep, valid only after a failed exchange (RFC 7628 §3.1).
    #[error("a lone kvsep is valid only after an error result")]
    Dummy,
    /// The error result is not a JSON object with a string `status` (RFC 7628 §3.2.2).
    #[error("error result is not JSON with a status: {0}")]
    ErrorResult(String),
}

/// A parsed OAUTHBEARER initial client response (RFC 7628 §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerResponse {
    /// `a=` of the GS2 header, unescaped (RFC 5801 saslname).
    pub authzid: Option<String>,
    /// Every key/value pair in order, `auth` included (unknown ones MUST be ignored, §3.1).
    pub pairs: Vec<(String, String)>,
    /// The bearer token of `auth=Bearer <token>`.
    pub token: String,
}

/// The OAUTHBEARER initial client response for `user` (as the GS2 authzid) and `token`,
/// with `extra` key/value pairs (`host`, `port`, ...) before `auth` (RFC 7628 §3.1).
pub fn oauthbearer_message(user: &str, token: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut m = format!("n,a={},", escape_saslname(user)).into_bytes();
    m.push(KVSEP);
    for (k, v) in extra
        .iter()
        .copied()
        .chain([("auth", &*format!("Bearer {token}"))])
    {
        m.extend_from_slice(format!("{k}={v}").as_bytes());
        m.push(KVSEP);
    }
    m.push(KVSEP);
    m
}

/// The XOAUTH2 initial client response: `user=USER ^A auth=Bearer TOKEN ^A ^A`.
pub fn xoauth2_message(user: &str, token: &str) -> Vec<u8> {
    format!("user={user}\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// `key=value` pairs each ended by a kvsep, then one more kvsep (RFC 7628 §3.1 `*kvpair
/// kvsep`).
fn parse_pairs(mut rest: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    let mut pairs = Vec::new();
    loop {
        match rest {
            [KVSEP] => return Ok(pairs),
            [] => return Err(OAuthError::KeyValue),
            _ => {}
        }
        let end = rest
            .iter()
            .position(|&b| b == KVSEP)
            .ok_or(OAuthError::KeyValue)?;
        let pair = std::str::from_utf8(&rest[..end]).map_err(|_| OAuthError::KeyValue)?;
        let (key, value) = pair.split_once('=').ok_or(OAuthError::KeyValue)?;
        let key_ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphabetic());
        let value_ok = value
            .bytes()
            .all(|b| b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
        if !key_ok || !value_ok {
            return Err(OAuthError::KeyValue);
        }
        pairs.push((key.to_owned(), value.to_owned()));
        rest = &rest[end + 1..];
    }
}

/// The token of an `auth` value: `Bearer` (any case, RFC 6750 §2.1 and RFC 7235 §2.1: the
/// scheme is case-insensitive), one space, a non-empty token.
pub fn bearer_token(auth: &str) -> Result<&str, OAuthError> {
    match auth.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("Bearer") && !token.is_empty() => {
            Ok(token)
        }
        _ => Err(OAuthError::NotBearer),
    }
}

/// The `auth` pair's bearer token.
fn token_of(pairs: &[(String, String)]) -> Result<String, OAuthError> {
    let auth = pairs
        .iter()
        .find(|(k, _)| k == "auth")
        .ok_or(OAuthError::Missing("auth"))?;
    bearer_token(&auth.1).map(str::to_owned)
}

impl BearerResponse {
    /// Parses an OAUTHBEARER client response (RFC 7628 §3.1: `gs2-header kvsep *kvpair
    /// kvsep`); the lone kvsep is [`OAuthError::Dummy`].
    pub fn parse(message: &[u8]) -> Result<BearerResponse, OAuthError> {
        if message == DUMMY_RESPONSE {
            return Err(OAuthError::Dummy);
        }
        let sep = message
            .iter()
            .position(|&b| b == KVSEP)
            .ok_or(OAuthError::Gs2Header)?;
        let header = std::str::from_utf8(&message[..sep]).map_err(|_| OAuthError::Gs2Header)?;
        let (flag, rest) = header.split_once(',').ok_or(OAuthError::Gs2Header)?;
        match flag {
            "n" | "y" => {}
            f if f.starts_with("p=") => return Err(OAuthError::ChannelBinding),
            _ => return Err(OAuthError::Gs2Header),
        }
        let authz = rest.strip_suffix(',').ok_or(OAuthError::Gs2Header)?;
        let authzid = match authz {
            "" => None,
            a => Some(
                a.strip_prefix("a=")
                    .ok_or(OAuthError::Gs2Header)
                    .and_then(|a| unescape_saslname(a).map_err(|_| OAuthError::Gs2Header))?,
            ),
        };
        let pairs = parse_pairs(&message[sep + 1..])?;
        let token = token_of(&pairs)?;
        Ok(BearerResponse {
            authzid,
            pairs,
            token,
        })
    }
}

/// A parsed XOAUTH2 initial client response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xoauth2Response {
    /// `user=`.
    pub user: String,
    /// The bearer token of `auth=Bearer <token>`.
    pub token: String,
}

impl Xoauth2Response {
    /// Parses `user=...^Aauth=Bearer ...^A^A`.
    pub fn parse(message: &[u8]) -> Result<Xoauth2Response, OAuthError> {
        let pairs = parse_pairs(message)?;
        let user = pairs
            .iter()
            .find(|(k, _)| k == "user")
            .map(|(_, v)| v.clone())
            .filter(|u| !u.is_empty())
            .ok_or(OAuthError::Missing("user"))?;
        Ok(Xoauth2Response {
            user,
            token: token_of(&pairs)?,
        })
    }
}

/// The error result of RFC 7628 §3.2.2: `status` (REQUIRED), `scope` and
/// `openid-configuration` (OPTIONAL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResult {
    /// The authorization error code (`invalid_token`; XOAUTH2 servers send an HTTP status
    /// such as `"401"`).
    pub status: String,
    /// A scope valid to access the service.
    pub scope: Option<String>,
    /// The URL of the OpenID Provider Configuration document.
    pub openid_configuration: Option<String>,
}

impl ErrorResult {
    /// The JSON a server sends (RFC 7628 §3.2.2), compact.
    pub fn to_json(&self) -> String {
        let mut m = serde_json::Map::new();
        m.insert("status".into(), self.status.clone().into());
        if let Some(s) = &self.scope {
            m.insert("scope".into(), s.clone().into());
        }
        if let Some(u) = &self.openid_configuration {
            m.insert("openid-configuration".into(), u.clone().into());
        }
        serde_json::Value::Object(m).to_string()
    }

    /// Parses the JSON of an error challenge: an object whose `status` is a string (or, as
    /// XOAUTH2 servers send it, a number).
    pub fn parse(json: &[u8]) -> Result<ErrorResult, OAuthError> {
        let value: serde_json::Value = serde_json::from_slice(json)
            .map_err(|e| OAuthError::ErrorResult(format!("not JSON: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| OAuthError::ErrorResult("not a JSON object".into()))?;
        let text = |k: &str| obj.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let status = match obj.get("status") {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => return Err(OAuthError::ErrorResult("no status".into())),
        };
        Ok(ErrorResult {
            status,
            scope: text("scope"),
            openid_configuration: text("openid-configuration"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7628 §4.1's initial client response (host and port before auth), byte for byte.
    #[test]
    fn rfc7628_example_4_1() {
        let m = oauthbearer_message(
            "user@example.com",
            "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
            &[("host", "server.example.com"), ("port", "143")],
        );
        let expected: &[u8] = b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01";
        assert_eq!(m, expected);
        // the RFC prints its base64 too
        assert_eq!(
            super::super::encode_base64(&m),
            "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB"
        );
        let parsed = BearerResponse::parse(&m).unwrap();
        assert_eq!(parsed.authzid.as_deref(), Some("user@example.com"));
        assert_eq!(parsed.token, "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==");
        assert_eq!(parsed.pairs.len(), 3);
    }

    /// RFC 7628 §4.3: an empty `auth=`, the server's error challenge (the RFC's base64), and
    /// the client's dummy reply (base64 `AQ==`).
    #[test]
    fn rfc7628_example_4_3_error() {
        let first = super::super::decode_base64(
            "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9AQE=",
        )
        .unwrap();
        assert_eq!(BearerResponse::parse(&first), Err(OAuthError::NotBearer));
        let json = super::super::decode_base64(concat!(
            "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxl",
            "X3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4",
            "YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9u",
            "In0="
        ))
        .unwrap();
        let e = ErrorResult::parse(&json).unwrap();
        assert_eq!(
            e.openid_configuration.as_deref(),
            Some("https://example.com/.well-known/openid-configuration")
        );
        assert_eq!(e.status, "invalid_token");
        assert_eq!(e.scope.as_deref(), Some("example_scope"));
        assert_eq!(ErrorResult::parse(e.to_json().as_bytes()), Ok(e));
        assert_eq!(super::super::encode_base64(DUMMY_RESPONSE), "AQ==");
        assert_eq!(
            BearerResponse::parse(DUMMY_RESPONSE),
            Err(OAuthError::Dummy)
        );
        for bad in [&b"invalid_token"[..], b"[]", b"{}", br#"{"status":""}"#] {
            assert!(ErrorResult::parse(bad).is_err(), "{bad:?}");
        }
        // XOAUTH2 servers (Gmail) send the HTTP status as a string
        let g = ErrorResult::parse(
            br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#,
        )
        .unwrap();
        assert_eq!(g.status, "401");
    }

    #[test]
    fn xoauth2_round_trip() {
        let m = xoauth2_message(
            "someuser@example.com",
            "ya29.vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg",
        );
        // Google's documented example, base64
        assert_eq!(
            super::super::encode_base64(&m),
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2cBAQ=="
        );
        let p = Xoauth2Response::parse(&m).unwrap();
        assert_eq!(p.user, "someuser@example.com");
        assert_eq!(p.token, "ya29.vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg");
    }

    #[test]
    fn malformed_responses() {
        let cases: [(&[u8], OAuthError); 7] = [
            (b"n,,\x01auth=Bearer t\x01", OAuthError::KeyValue),
            (b"n,,\x01\x01", OAuthError::Missing("auth")),
            (b"n,,\x01auth=Basic dTpw\x01\x01", OAuthError::NotBearer),
            (
                b"p=tls-unique,,\x01auth=Bearer t\x01\x01",
                OAuthError::ChannelBinding,
            ),
            (b"n,b=x,\x01auth=Bearer t\x01\x01", OAuthError::Gs2Header),
            (b"n,,\x01au th=Bearer t\x01\x01", OAuthError::KeyValue),
            (b"n,,\x01auth=Bearer t\x00\x01\x01", OAuthError::KeyValue),
        ];
        for (m, e) in cases {
            assert_eq!(BearerResponse::parse(m), Err(e), "{m:?}");
        }
        // no authzid, scheme in any case, an unknown key kept (the server ignores it)
        let p = BearerResponse::parse(b"n,,\x01xconform=1\x01auth=bearer tok\x01\x01").unwrap();
        assert_eq!((p.authzid, p.token.as_str()), (None, "tok"));
        assert_eq!(
            Xoauth2Response::parse(b"auth=Bearer t\x01\x01"),
            Err(OAuthError::Missing("user"))
        );
    }
}
