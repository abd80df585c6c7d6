//! Where the suite runs: host, port, TLS mode, trust; and the account it logs in with.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// How TLS is used on the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP (RFC 1939).
    None,
    /// TLS from the first byte (RFC 8314 §3.3, port 995).
    Implicit,
    /// Plain TCP, then STLS before the case starts (RFC 2595 §4).
    StartTls,
}

/// Which certificates the runner trusts.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The platform's root store.
    Platform,
    /// A PEM file of CA certificates.
    CaFile(PathBuf),
    /// Anything (`--insecure`): for test servers with self-signed certificates.
    Insecure,
    /// These PEM certificates (the bundled server's self-signed one).
    Pem(String),
}

/// The target server.
#[derive(Debug, Clone)]
pub struct Target {
    /// Host name or address (also the SNI name).
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS mode.
    pub tls: TlsMode,
    /// Trust for TLS.
    pub trust: Trust,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.tls {
            TlsMode::Implicit => "pop3s",
            TlsMode::None => "pop3",
            TlsMode::StartTls => "pop3+stls",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// The account cases log in with (`{user}`, `{password}`, `{token}` in scenarios).
#[derive(Clone)]
pub struct Profile {
    /// The user name.
    pub user: String,
    /// The password (never printed: reports mask it).
    pub password: String,
    /// The user's OAuth 2.0 bearer token (RFC 6750) for OAUTHBEARER and XOAUTH2 (RFC 7628),
    /// when the run has one (never printed).
    pub token: Option<String>,
}

impl Profile {
    /// A login with a password and no bearer token.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Profile {
        Profile {
            user: user.into(),
            password: password.into(),
            token: None,
        }
    }
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("user", &self.user)
            .field("password", &"***")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A target or TLS setup problem.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Not `host:port`, `pop3://host[:port]` or `pop3s://host[:port]`.
    #[error("bad target {0:?}: expected HOST:PORT, pop3://HOST[:PORT] or pop3s://HOST[:PORT]")]
    Syntax(String),
    /// The CA file could not be used.
    #[error("CA file {path}: {problem}")]
    Ca {
        /// The file.
        path: String,
        /// What went wrong.
        problem: String,
    },
    /// The host is not a valid TLS server name.
    #[error("{0:?} is not a valid TLS server name")]
    ServerName(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

impl Target {
    /// Parses `HOST:PORT`, `pop3://HOST[:PORT]` (default 110, plain) or `pop3s://HOST[:PORT]`
    /// (default 995, implicit TLS). A bare `HOST:995` means implicit TLS (RFC 8314 §3.3: port 995 is POP3 over TLS).
    pub fn parse(spec: &str) -> Result<Target, TargetError> {
        let bad = || TargetError::Syntax(spec.to_owned());
        let (scheme, rest) = match spec.split_once("://") {
            Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
            None => (None, spec),
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = if let Some(r) = rest.strip_prefix('[') {
            let (h, after) = r.split_once(']').ok_or_else(bad)?;
            (h.to_owned(), after.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (rest.to_owned(), None),
            }
        };
        if host.is_empty() {
            return Err(bad());
        }
        let port: Option<u16> = port.map(|p| p.parse().map_err(|_| bad())).transpose()?;
        let (tls, port) = match (scheme.as_deref(), port) {
            (Some("pop3s"), p) => (TlsMode::Implicit, p.unwrap_or(995)),
            (Some("pop3"), p) => (TlsMode::None, p.unwrap_or(110)),
            (None, Some(995)) => (TlsMode::Implicit, 995),
            (None, Some(p)) => (TlsMode::None, p),
            _ => return Err(bad()),
        };
        Ok(Target {
            host,
            port,
            tls,
            trust: Trust::Platform,
        })
    }

    /// The rustls client configuration for this target's trust.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TargetError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let roots = |pem: &[u8], path: &str| -> Result<RootCertStore, TargetError> {
            let mut roots = RootCertStore::empty();
            for cert in rustls_pemfile::certs(&mut &pem[..]) {
                let cert = cert.map_err(|e| TargetError::Ca {
                    path: path.to_owned(),
                    problem: e.to_string(),
                })?;
                roots.add(cert).map_err(|e| TargetError::Ca {
                    path: path.to_owned(),
                    problem: e.to_string(),
                })?;
            }
            if roots.is_empty() {
                return Err(TargetError::Ca {
                    path: path.to_owned(),
                    problem: "no certificate in the file".into(),
                });
            }
            Ok(roots)
        };
        let config = match &self.trust {
            Trust::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
                .with_no_client_auth(),
            Trust::Pem(pem) => builder
                .with_root_certificates(roots(pem.as_bytes(), "(bundled server)")?)
                .with_no_client_auth(),
            Trust::CaFile(path) => {
                let pem = std::fs::read(path).map_err(|e| TargetError::Ca {
                    path: path.display().to_string(),
                    problem: e.to_string(),
                })?;
                builder
                    .with_root_certificates(roots(&pem, &path.display().to_string())?)
                    .with_no_client_auth()
            }
            Trust::Platform => {
                let mut roots = RootCertStore::empty();
                let found = rustls_native_certs::load_native_certs();
                for cert in found.certs {
                    let _ = roots.add(cert);
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
        };
        Ok(Arc::new(config))
    }

    /// The SNI / verification name.
    pub fn server_name(&self) -> Result<ServerName<'static>, TargetError> {
        ServerName::try_from(self.host.clone())
            .map_err(|_| TargetError::ServerName(self.host.clone()))
    }
}

#[derive(Debug)]
struct AcceptAnything(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_forms() {
        let t = Target::parse("127.0.0.1:995").unwrap();
        assert_eq!((t.port, t.tls), (995, TlsMode::Implicit));
        let t = Target::parse("127.0.0.1:1110").unwrap();
        assert_eq!((t.port, t.tls), (1110, TlsMode::None));
        let t = Target::parse("pop3s://localhost").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.tls),
            ("localhost", 995, TlsMode::Implicit)
        );
        let t = Target::parse("pop3://[::1]:2110").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.tls),
            ("::1", 2110, TlsMode::None)
        );
        assert_eq!(t.to_string(), "pop3://[::1]:2110");
        for bad in ["", "host", "http://x:1", "h:port", ":110"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
