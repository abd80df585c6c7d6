//! TLS for STLS (RFC 2595 §4) and implicit TLS (RFC 8314 §3.3), by rustls.

use std::path::Path;
use std::sync::Arc;

use pop3_proto::auth::channel_binding::tls_server_end_point;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// No certificate or key in the file.
    #[error("{0}: no {1} found in PEM file")]
    Missing(String, &'static str),
    /// rustls refused the certificate or key.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// rcgen could not make a certificate.
    #[error("self-signed certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
}

/// A certificate chain and its key, with the PEM text of the certificate (for clients to trust).
#[derive(Debug)]
pub struct Identity {
    /// The rustls server configuration.
    pub config: Arc<ServerConfig>,
    /// The leaf certificate as PEM, so tests and `conform serve` can hand it to clients.
    pub cert_pem: String,
    /// The leaf's `tls-server-end-point` channel binding (RFC 5929 §4.1); `None` for a
    /// signature algorithm RFC 5929 gives no hash for.
    pub end_point: Option<Vec<u8>>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// A self-signed certificate for `localhost`, `127.0.0.1`, `::1` and `hostname`, made at start.
pub fn self_signed(hostname: &str) -> Result<Identity, TlsError> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !names.iter().any(|n| n == hostname) {
        names.push(hostname.to_owned());
    }
    let certified = rcgen::generate_simple_self_signed(names)?;
    let cert_pem = certified.cert.pem();
    let key = PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    let end_point = tls_server_end_point(certified.cert.der()).ok();
    let config = server_config(vec![certified.cert.der().clone()], key)?;
    Ok(Identity {
        config,
        cert_pem,
        end_point,
    })
}

/// Loads a PEM certificate chain and private key.
pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Identity, TlsError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| TlsError::Io {
            path: p.display().to_string(),
            source,
        })
    };
    let cert_bytes = read(cert)?;
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_bytes.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|source| TlsError::Io {
            path: cert.display().to_string(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::Missing(cert.display().to_string(), "certificate"));
    }
    let key_bytes = read(key)?;
    let key_der = rustls_pemfile::private_key(&mut key_bytes.as_slice())
        .map_err(|source| TlsError::Io {
            path: key.display().to_string(),
            source,
        })?
        .ok_or_else(|| TlsError::Missing(key.display().to_string(), "private key"))?;
    let end_point = tls_server_end_point(&chain[0]).ok();
    Ok(Identity {
        config: server_config(chain, key_der)?,
        cert_pem: String::from_utf8_lossy(&cert_bytes).into_owned(),
        end_point,
    })
}
