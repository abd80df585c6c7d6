//! TLS channel bindings for SCRAM's `-PLUS` mechanisms (RFC 5802 §6): `tls-exporter`
//! (RFC 9266) and `tls-server-end-point` (RFC 5929 §4).
//!
//! `tls-exporter` is 32 octets of the TLS exporter (RFC 8446 §7.5) with the label
//! `EXPORTER-Channel-Binding` and an empty context; the TLS library computes it, this module
//! names the parameters. `tls-server-end-point` is the hash of the server's certificate (DER)
//! with the hash of the certificate's signature algorithm, SHA-256 where that is MD5 or SHA-1
//! (RFC 5929 §4.1); [`tls_server_end_point`] reads the algorithm from the certificate.

use sha2::Digest as _;

/// The exporter label of `tls-exporter` (RFC 9266 §2).
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

/// The length of `tls-exporter` data in octets (RFC 9266 §2).
pub const EXPORTER_LENGTH: usize = 32;

/// A channel-binding type (the `p=` of a GS2 header, RFC 5802 §7 `cb-name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `tls-exporter` (RFC 9266), defined for TLS 1.3 (and TLS 1.2 with the extended master
    /// secret).
    TlsExporter,
    /// `tls-server-end-point` (RFC 5929 §4): the server certificate's hash.
    TlsServerEndPoint,
}

impl Kind {
    /// Both types, the one RFC 9266 makes the default for TLS 1.3 first.
    pub const ALL: [Kind; 2] = [Kind::TlsExporter, Kind::TlsServerEndPoint];

    /// The registered name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::TlsExporter => "tls-exporter",
            Kind::TlsServerEndPoint => "tls-server-end-point",
        }
    }

    /// The type called `name` (names are case-sensitive, RFC 5056 §2.1: lower case).
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A certificate whose `tls-server-end-point` cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// Not a DER `Certificate` (RFC 5280 §4.1): SEQUENCE { tbsCertificate,
    /// signatureAlgorithm, signatureValue }.
    #[error("not a DER certificate")]
    Der,
    /// A signature algorithm without a hash RFC 5929 §4.1 can name (Ed25519, RSASSA-PSS, ...);
    /// the dotted object identifier.
    #[error("signature algorithm {0} has no tls-server-end-point hash")]
    Algorithm(String),
}

/// One DER element: its tag, its contents, and what follows it.
fn der_element(input: &[u8]) -> Result<(u8, &[u8], &[u8]), CertError> {
    let (&tag, rest) = input.split_first().ok_or(CertError::Der)?;
    let (&first, rest) = rest.split_first().ok_or(CertError::Der)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(CertError::Der);
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(CertError::Der);
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// The dotted form of a DER object identifier's contents.
fn dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value = 0u64;
    for &b in oid {
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.extend([first, value - first * 40]);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// The hash RFC 5929 §4.1 takes for a signature algorithm (by dotted OID): the algorithm's
/// own, SHA-256 for MD5 and SHA-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndPointHash {
    Sha256,
    Sha384,
    Sha512,
}

fn end_point_hash(oid: &str) -> Option<EndPointHash> {
    Some(match oid {
        // md5WithRSAEncryption, sha1WithRSAEncryption, ecdsa-with-SHA1, dsa-with-sha1:
        // "if the certificate's signatureAlgorithm uses ... MD5 or SHA-1, then use SHA-256"
        "1.2.840.113549.1.1.4"
        | "1.2.840.113549.1.1.5"
        | "1.2.840.10045.4.1"
        | "1.2.840.10040.4.3" => EndPointHash::Sha256,
        // sha256WithRSAEncryption, ecdsa-with-SHA256, dsa-with-sha256
        "1.2.840.113549.1.1.11" | "1.2.840.10045.4.3.2" | "2.16.840.1.101.3.4.3.2" => {
            EndPointHash::Sha256
        }
        // sha384WithRSAEncryption, ecdsa-with-SHA384
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => EndPointHash::Sha384,
        // sha512WithRSAEncryption, ecdsa-with-SHA512
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => EndPointHash::Sha512,
        _ => return None,
    })
}

/// `tls-server-end-point` of a server certificate (DER): its hash with the hash function of
/// its signatureAlgorithm, SHA-256 if that is MD5 or SHA-1 (RFC 5929 §4.1).
pub fn tls_server_end_point(cert_der: &[u8]) -> Result<Vec<u8>, CertError> {
    let (tag, certificate, _) = der_element(cert_der)?;
    if tag != 0x30 {
        return Err(CertError::Der);
    }
    let (_, _tbs, rest) = der_element(certificate)?;
    let (tag, algorithm, _) = der_element(rest)?;
    if tag != 0x30 {
        return Err(CertError::Der);
    }
    let (tag, oid, _) = der_element(algorithm)?;
    if tag != 0x06 {
        return Err(CertError::Der);
    }
    let oid = dotted(oid);
    Ok(
        match end_point_hash(&oid).ok_or(CertError::Algorithm(oid))? {
            EndPointHash::Sha256 => sha2::Sha256::digest(cert_der).to_vec(),
            EndPointHash::Sha384 => sha2::Sha384::digest(cert_der).to_vec(),
            EndPointHash::Sha512 => sha2::Sha512::digest(cert_der).to_vec(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(b64: &str) -> Vec<u8> {
        super::super::decode_base64(b64.trim()).unwrap()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }

    /// Three certificates made with `openssl req -x509` and their fingerprints as
    /// `openssl x509 -fingerprint -sha256/-sha384` prints them: an ECDSA P-256 one signed
    /// with SHA-256 (its SHA-256 hash), a P-384 one with SHA-384 (its SHA-384 hash), and an
    /// RSA one signed with SHA-1 (SHA-256, RFC 5929 §4.1).
    #[test]
    fn server_end_point_takes_the_signature_hash() {
        let cases = [
            (
                include_str!("testdata/cert-ecdsa-sha256.der.b64"),
                "2C43E513305823A874DBC5F01A91E5D1F0538C06435BD6DFB2E23BF38CEE8858",
            ),
            (
                include_str!("testdata/cert-ecdsa-sha384.der.b64"),
                "8C5F896CF318913F09BBF081B8485875B466EEFD2B895363666E62F8799FDFB8B161CB0D56245207AE3D7F1A1CEA91B5",
            ),
            (
                include_str!("testdata/cert-rsa-sha1.der.b64"),
                "49CAC9997AE951F98713548F8B31F46C2F788A873BFC165D42F78248A2ABA3B7",
            ),
        ];
        for (cert, fingerprint) in cases {
            assert_eq!(hex(&tls_server_end_point(&der(cert)).unwrap()), fingerprint);
        }
    }

    #[test]
    fn malformed_and_unknown() {
        assert_eq!(tls_server_end_point(b""), Err(CertError::Der));
        assert_eq!(
            tls_server_end_point(&[0x30, 0x05, 0x00]),
            Err(CertError::Der)
        );
        // SEQUENCE { SEQUENCE {}, SEQUENCE { OID 1.3.101.112 (Ed25519) } }
        let ed25519 = [
            0x30, 0x09, 0x30, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70,
        ];
        assert_eq!(
            tls_server_end_point(&ed25519),
            Err(CertError::Algorithm("1.3.101.112".into()))
        );
        assert_eq!(
            dotted(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
            "1.2.840.10045.4.3.2"
        );
        assert_eq!(Kind::from_name("tls-exporter"), Some(Kind::TlsExporter));
        assert_eq!(Kind::from_name("TLS-EXPORTER"), None);
        assert_eq!(Kind::TlsServerEndPoint.name(), "tls-server-end-point");
    }
}
