//! The connection a delivery runs on: TCP or a unix socket (LMTP servers often listen on
//! one), plain or TLS (implicit, or upgraded by STARTTLS). Every read and write has a
//! deadline and every line a cap, whatever the server does.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::timeout;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::DeliverError;

/// The longest line read from a server (an IMAP untagged line, an SMTP reply line).
pub const MAX_LINE: usize = 64 * 1024;
/// The largest IMAP literal read from a server.
pub const MAX_LITERAL: usize = 64 << 20;

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// `HOST:PORT` (`[v6]:PORT` for an IPv6 literal).
    Tcp {
        /// Host name or address (also the TLS server name).
        host: String,
        /// Port.
        port: u16,
    },
    /// A unix socket path (an argument starting with `/` or `.`).
    Unix(PathBuf),
}

impl Address {
    /// `HOST:PORT`, `[V6]:PORT`, or a path (starting with `/` or `.`) of a unix socket;
    /// `default_port` when `HOST` has none (`None`: the port is required).
    pub fn parse(spec: &str, default_port: Option<u16>) -> Result<Address, String> {
        if spec.starts_with('/') || spec.starts_with('.') {
            return Ok(Address::Unix(PathBuf::from(spec)));
        }
        let bad = || format!("bad address {spec:?}: expected HOST:PORT or a unix socket path");
        let (host, port) = if let Some(r) = spec.strip_prefix('[') {
            let (h, after) = r.split_once(']').ok_or_else(bad)?;
            (h, after.strip_prefix(':'))
        } else {
            match spec.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (spec, None),
            }
        };
        if host.is_empty() || host.contains(['/', ' ']) {
            return Err(bad());
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad())?,
            None => default_port.ok_or_else(bad)?,
        };
        Ok(Address::Tcp {
            host: host.to_owned(),
            port,
        })
    }

    /// The TLS server name (SNI and verification): the host; `localhost` for a socket.
    pub fn server_name(&self) -> Result<ServerName<'static>, DeliverError> {
        let host = match self {
            Address::Tcp { host, .. } => host.clone(),
            Address::Unix(_) => "localhost".to_owned(),
        };
        ServerName::try_from(host.clone()).map_err(|_| DeliverError::Tls {
            step: "TLS".into(),
            reason: format!("{host:?} is not a valid TLS server name"),
        })
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Address::Tcp { host, port } => write!(f, "{host}:{port}"),
            Address::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Between a failed upgrade and the drop.
    Gone,
}

/// One connection: bytes in and out, lines split at LF (a CR before it removed).
pub struct Wire {
    stream: Stream,
    buf: Vec<u8>,
    io_timeout: Duration,
    address: Address,
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wire")
            .field("address", &self.address)
            .field("tls", &matches!(self.stream, Stream::Tls(_)))
            .finish()
    }
}

impl Wire {
    /// Connects to `address` within `io_timeout`; with `tls`, TLS from the first byte
    /// (RFC 8314 §3.3), verified against `tls`'s roots.
    pub async fn connect(
        address: &Address,
        tls: Option<Arc<ClientConfig>>,
        io_timeout: Duration,
    ) -> Result<Wire, DeliverError> {
        let fail = |source| DeliverError::Connect {
            address: address.to_string(),
            source,
        };
        let timed_out = || fail(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"));
        let stream = match address {
            Address::Tcp { host, port } => Stream::Tcp(
                timeout(io_timeout, TcpStream::connect((host.as_str(), *port)))
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(fail)?,
            ),
            Address::Unix(path) => Stream::Unix(
                timeout(io_timeout, UnixStream::connect(path))
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(fail)?,
            ),
        };
        let mut wire = Wire {
            stream,
            buf: Vec::new(),
            io_timeout,
            address: address.clone(),
        };
        if let Some(config) = tls {
            wire.upgrade(config, "implicit TLS").await?;
        }
        Ok(wire)
    }

    /// Whether the connection is TLS now.
    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// The TLS handshake on this connection (after the server's go-ahead to STARTTLS, or at
    /// once for implicit TLS). Whatever the server sent before is discarded (RFC 3207 §4.2,
    /// RFC 9051 §6.2.1: nothing pipelined before the handshake may be used).
    pub async fn upgrade(
        &mut self,
        config: Arc<ClientConfig>,
        step: &str,
    ) -> Result<(), DeliverError> {
        let name = self.address.server_name()?;
        let tcp = match std::mem::replace(&mut self.stream, Stream::Gone) {
            Stream::Tcp(t) => t,
            other => {
                self.stream = other;
                return Err(DeliverError::Tls {
                    step: step.into(),
                    reason:
                        "TLS is possible on a TCP connection only (not a unix socket, not twice)"
                            .into(),
                });
            }
        };
        self.buf.clear();
        let tls = timeout(
            self.io_timeout,
            TlsConnector::from(config).connect(name, tcp),
        )
        .await
        .map_err(|_| DeliverError::Timeout {
            step: format!("{step} handshake"),
            secs: self.io_timeout.as_secs(),
        })?
        .map_err(|e| DeliverError::Tls {
            step: step.into(),
            reason: e.to_string(),
        })?;
        self.stream = Stream::Tls(Box::new(tls));
        Ok(())
    }

    /// Writes all of `bytes` within the timeout plus a second per 64 KiB.
    pub async fn send(&mut self, bytes: &[u8], step: &str) -> Result<(), DeliverError> {
        let limit = self.io_timeout + Duration::from_secs((bytes.len() / (64 * 1024)) as u64);
        let write = async {
            match &mut self.stream {
                Stream::Tcp(s) => {
                    s.write_all(bytes).await?;
                    s.flush().await
                }
                Stream::Unix(s) => {
                    s.write_all(bytes).await?;
                    s.flush().await
                }
                Stream::Tls(s) => {
                    s.write_all(bytes).await?;
                    s.flush().await
                }
                Stream::Gone => Err(io::Error::from(io::ErrorKind::NotConnected)),
            }
        };
        match timeout(limit, write).await {
            Err(_) => Err(DeliverError::Timeout {
                step: step.into(),
                secs: limit.as_secs(),
            }),
            Ok(Err(e)) => Err(DeliverError::Io {
                step: step.into(),
                source: e,
            }),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Reads more into the buffer; `Closed` at the end of the stream.
    async fn fill(&mut self, step: &str) -> Result<(), DeliverError> {
        let mut chunk = [0u8; 16 * 1024];
        let read = async {
            match &mut self.stream {
                Stream::Tcp(s) => s.read(&mut chunk).await,
                Stream::Unix(s) => s.read(&mut chunk).await,
                Stream::Tls(s) => s.read(&mut chunk).await,
                Stream::Gone => Err(io::Error::from(io::ErrorKind::NotConnected)),
            }
        };
        match timeout(self.io_timeout, read).await {
            Err(_) => Err(DeliverError::Timeout {
                step: step.into(),
                secs: self.io_timeout.as_secs(),
            }),
            Ok(Err(e)) => Err(DeliverError::Io {
                step: step.into(),
                source: e,
            }),
            Ok(Ok(0)) => Err(DeliverError::Closed { step: step.into() }),
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
        }
    }

    /// One line without its line end (CRLF, or a bare LF), at most [`MAX_LINE`] octets.
    pub async fn read_line(&mut self, step: &str) -> Result<Vec<u8>, DeliverError> {
        let mut scanned = 0;
        loop {
            if let Some(at) = self.buf[scanned..].iter().position(|&b| b == b'\n') {
                let end = scanned + at;
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            scanned = self.buf.len();
            if scanned > MAX_LINE {
                return Err(DeliverError::Protocol {
                    step: step.into(),
                    answer: format!("a line longer than {MAX_LINE} octets"),
                });
            }
            self.fill(step).await?;
        }
    }

    /// Exactly `n` octets (an IMAP literal), at most [`MAX_LITERAL`].
    pub async fn read_exact(&mut self, n: usize, step: &str) -> Result<Vec<u8>, DeliverError> {
        if n > MAX_LITERAL {
            return Err(DeliverError::Protocol {
                step: step.into(),
                answer: format!("a literal of {n} octets (more than {MAX_LITERAL})"),
            });
        }
        while self.buf.len() < n {
            self.fill(step).await?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Closes the write side (best effort).
    pub async fn shutdown(mut self) {
        let _ = timeout(Duration::from_secs(1), async {
            match &mut self.stream {
                Stream::Tcp(s) => s.shutdown().await,
                Stream::Unix(s) => s.shutdown().await,
                Stream::Tls(s) => s.shutdown().await,
                Stream::Gone => Ok(()),
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            Address::parse("127.0.0.1:24", None),
            Ok(Address::Tcp {
                host: "127.0.0.1".into(),
                port: 24
            })
        );
        assert_eq!(
            Address::parse("[::1]:25", None).unwrap().to_string(),
            "[::1]:25"
        );
        assert_eq!(
            Address::parse("mail.example", Some(25))
                .unwrap()
                .to_string(),
            "mail.example:25"
        );
        assert_eq!(
            Address::parse("/run/dovecot/lmtp", None),
            Ok(Address::Unix("/run/dovecot/lmtp".into()))
        );
        for bad in ["", "host", ":24", "h:port", "a b:1"] {
            assert!(Address::parse(bad, None).is_err(), "{bad}");
        }
    }
}
