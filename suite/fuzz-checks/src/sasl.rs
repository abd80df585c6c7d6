//! SASL decoders: the strict base64 of RFC 5034 §4, client responses, PLAIN (RFC 4616 §2),
//! LOGIN (draft-murchison-sasl-login), CRAM-MD5 (RFC 2195 §2) and APOP (RFC 1939 §7).

use arbitrary::Unstructured;
use pop3_proto::auth::plain::Plain;
use pop3_proto::auth::{self, apop, cram_md5, login, ClientResponse};

/// `sasl`: the input is read both as a client's line during AUTH and as decoded message
/// bytes; a generated PLAIN message, CRAM-MD5 answer and APOP digest are built from it too.
///
/// Properties: strict base64 is a bijection, so decoding then encoding gives the text
/// back, and encoding then decoding gives the bytes back; `*` is the only cancel; a PLAIN
/// message that parses re-encodes to the same bytes, and one built from valid fields
/// parses back; a CRAM-MD5 response that parses is `user SP digest` with the digest
/// lower-cased, and one built from a user and a secret parses back to them; an APOP digest
/// verifies in any hex case and nothing else of that length verifies.
pub fn sasl(data: &[u8]) {
    // the line a client sends after "+ " (RFC 5034 §4)
    match ClientResponse::parse(data) {
        Ok(ClientResponse::Cancel) => assert_eq!(data, b"*"),
        Ok(ClientResponse::Data(bytes)) => {
            let text = std::str::from_utf8(data).expect("base64 that decoded is ASCII");
            assert_eq!(auth::encode_base64(&bytes), text, "base64 is not canonical");
            decoded_message(&bytes);
        }
        Err(e) => {
            let _ = e.to_string();
            assert_ne!(data, b"*");
        }
    }
    assert_eq!(
        auth::decode_base64(&auth::encode_base64(data)).as_deref(),
        Ok(data)
    );
    decoded_message(data);

    let mut u = Unstructured::new(data);
    let (Ok(a), Ok(b), Ok(c)) = (
        u.arbitrary::<String>(),
        u.arbitrary::<String>(),
        u.arbitrary::<String>(),
    ) else {
        return;
    };
    plain_round_trip(&a, &b, &c);
    cram_round_trip(&a, b.as_bytes(), &c);
    apop_verifies(&a, &b, &c);
}

/// Checks a decoded SASL message against each mechanism's parser.
fn decoded_message(bytes: &[u8]) {
    if let Ok(p) = Plain::parse(bytes) {
        assert_eq!(p.to_bytes(), bytes, "PLAIN re-encoded differently");
        assert!(!p.authcid.is_empty() && !p.passwd.is_empty());
    }
    if let Ok((user, digest)) = cram_md5::parse_response(bytes) {
        assert!(!user.is_empty());
        assert_eq!(digest.len(), 32);
        // RFC 2195 §2: the user name, a space, the digest (kept as sent but for its case)
        let (name, rest) = bytes.split_at(user.len());
        assert_eq!(name, user.as_bytes());
        assert_eq!(rest.first(), Some(&b' '));
        assert!(rest[1..].eq_ignore_ascii_case(digest.as_bytes()));
    }
}

fn plain_round_trip(authzid: &str, authcid: &str, passwd: &str) {
    let p = Plain {
        authzid: authzid.to_owned(),
        authcid: authcid.to_owned(),
        passwd: passwd.to_owned(),
    };
    let valid = |s: &str, min: usize| (min..=255).contains(&s.len()) && !s.contains('\0');
    let parsed = Plain::parse(&auth::decode_base64(&p.to_base64()).expect("own base64"));
    if valid(authzid, 0) && valid(authcid, 1) && valid(passwd, 1) {
        assert_eq!(parsed, Ok(p));
    } else {
        assert!(parsed.is_err(), "{p:?} is not a valid PLAIN message");
    }
}

fn cram_round_trip(user: &str, challenge: &[u8], secret: &str) {
    let digest = cram_md5::digest(challenge, secret);
    assert!(digest.len() == 32 && digest.bytes().all(|b| b.is_ascii_hexdigit()));
    let wire = cram_md5::response_base64(user, challenge, secret);
    let decoded = auth::decode_base64(&wire).expect("own base64");
    let parsed = cram_md5::parse_response(&decoded);
    if user.is_empty() {
        assert!(parsed.is_err());
    } else {
        assert_eq!(parsed, Ok((user.to_owned(), digest)));
    }
    let challenge_b64 = auth::encode_base64(challenge);
    assert_eq!(
        cram_md5::decode_challenge(&challenge_b64).as_deref(),
        Ok(challenge)
    );
    assert_eq!(
        auth::decode_base64(&login::username_challenge()).as_deref(),
        Ok(login::USERNAME_PROMPT.as_bytes())
    );
}

fn apop_verifies(timestamp: &str, secret: &str, guess: &str) {
    let digest = apop::digest(timestamp, secret);
    assert!(apop::verify(timestamp, secret, &digest));
    assert!(apop::verify(
        timestamp,
        secret,
        &digest.to_ascii_uppercase()
    ));
    assert_eq!(
        apop::verify(timestamp, secret, guess),
        guess.eq_ignore_ascii_case(&digest)
    );
}
