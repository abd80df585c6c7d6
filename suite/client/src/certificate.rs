//! What a server certificate says, for people (`conform probe`): subject, issuer, validity
//! and the names it is valid for. Parsed with x509-parser; the TLS handshake's own checks
//! (rustls, webpki) decide whether it is trusted, not this.

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// One certificate of a chain, summarised.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertificateSummary {
    /// The subject's distinguished name (RFC 4514 form).
    pub subject: String,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// Valid from (RFC 2822 date, UTC).
    pub not_before: String,
    /// Valid until.
    pub not_after: String,
    /// The subject alternative names (`DNS:host`, `IP:addr`).
    pub names: Vec<String>,
    /// The signature algorithm (its OID's name, or the OID).
    pub signature: String,
}

/// Why a certificate could not be summarised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a DER X.509 certificate: {0}")]
pub struct NotACertificate(String);

impl CertificateSummary {
    /// Summarises one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<CertificateSummary, NotACertificate> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| NotACertificate(e.to_string()))?;
        let validity = cert.validity();
        let date =
            |t: &x509_parser::time::ASN1Time| t.to_rfc2822().unwrap_or_else(|_| t.to_string());
        let names = match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .map(|n| match n {
                    GeneralName::DNSName(d) => format!("DNS:{d}"),
                    GeneralName::IPAddress(ip) => format!("IP:{}", ip_text(ip)),
                    GeneralName::RFC822Name(m) => format!("email:{m}"),
                    GeneralName::URI(u) => format!("URI:{u}"),
                    other => format!("{other:?}"),
                })
                .collect(),
            _ => Vec::new(),
        };
        let oid = &cert.signature_algorithm.algorithm;
        let signature = x509_parser::oid_registry::OidRegistry::default()
            .with_crypto()
            .get(oid)
            .map(|e| e.sn().to_owned())
            .unwrap_or_else(|| oid.to_id_string());
        Ok(CertificateSummary {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            not_before: date(&validity.not_before),
            not_after: date(&validity.not_after),
            names,
            signature,
        })
    }
}

/// An IPv4 or IPv6 address from its octets (else hex).
fn ip_text(octets: &[u8]) -> String {
    match octets.len() {
        4 => std::net::Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]).to_string(),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(octets);
            std::net::Ipv6Addr::from(a).to_string()
        }
        _ => octets.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_is_summarised() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "conform test");
        let cert = params.self_signed(&key).unwrap();
        let s = CertificateSummary::from_der(cert.der()).unwrap();
        assert_eq!(s.subject, "CN=conform test");
        assert_eq!(s.issuer, "CN=conform test");
        assert_eq!(s.names, ["DNS:localhost", "IP:127.0.0.1"]);
        assert_eq!(s.signature, "ecdsa-with-SHA256");
        assert!(s.not_before.contains("1975"), "{}", s.not_before);
        assert!(s.not_after.contains("4096"), "{}", s.not_after);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(CertificateSummary::from_der(b"not der").is_err());
    }
}
