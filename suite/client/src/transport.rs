//! Connections to the target: plain TCP, implicit TLS and STLS, each read and write bounded in
//! time and size.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::target::{Target, TlsMode};

/// Limits on one connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connect, each read and each write.
    pub io_timeout: Duration,
    /// Longest line accepted (a longer one is an error verdict).
    pub max_line: usize,
    /// Most bytes read on one connection.
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            io_timeout: Duration::from_secs(10),
            max_line: 64 * 1024,
            max_bytes: 64 << 20,
        }
    }
}

/// What can go wrong on the wire.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Connection refused, reset, or another socket error.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The server closed the connection.
    #[error("connection closed by the server")]
    Closed,
    /// A line longer than the cap.
    #[error("line longer than {0} octets")]
    LineTooLong(usize),
    /// More data than the per-connection cap.
    #[error("more than {0} octets on one connection")]
    TooMuch(usize),
    /// TLS failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// The server's certificate could not be verified with the run's trust (`--ca`,
    /// `--insecure`, the platform roots).
    #[error("TLS: the server's certificate could not be verified: {0}")]
    Certificate(String),
    /// The server ended the TLS handshake: it closed the connection or sent an alert (not
    /// plaintext, which is [`WireError::Tls`]).
    #[error("TLS: the server ended the handshake: {0}")]
    TlsEnded(String),
    /// STLS was refused before the case could start.
    #[error("STLS refused: {0}")]
    StlsRefused(String),
}

/// One line read from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The bytes without the line ending.
    pub bytes: Vec<u8>,
    /// Whether it ended with CRLF (false: a bare LF).
    pub crlf: bool,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Closed,
}

/// Either stream, for the operations that do not care which.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

impl Stream {
    fn io(&mut self) -> Option<&mut dyn Io> {
        match self {
            Stream::Plain(s) => Some(s),
            Stream::Tls(s) => Some(s.as_mut()),
            Stream::Closed => None,
        }
    }
}

/// A connection with a line buffer.
pub struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    pushed_back: VecDeque<Line>,
    limits: Limits,
    read_total: usize,
    tls_config: Option<Arc<ClientConfig>>,
    target: Target,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("target", &self.target.to_string())
            .finish()
    }
}

impl Conn {
    /// Connects per the target's TLS mode. With STLS, the greeting and the STLS exchange happen
    /// here, and the greeting is kept for the case to read first.
    pub async fn open(
        target: &Target,
        tls_config: Option<Arc<ClientConfig>>,
        limits: Limits,
    ) -> Result<Conn, WireError> {
        let addr = (target.host.as_str(), target.port);
        let tcp = timeout(limits.io_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| WireError::Timeout(limits.io_timeout))??;
        let _ = tcp.set_nodelay(true);
        let mut conn = Conn {
            stream: Stream::Plain(tcp),
            buf: Vec::new(),
            pushed_back: VecDeque::new(),
            limits,
            read_total: 0,
            tls_config,
            target: target.clone(),
        };
        match target.tls {
            TlsMode::None => {}
            TlsMode::Implicit => conn.start_tls().await?,
            TlsMode::StartTls => {
                let greeting = conn.read_line().await?;
                conn.send(b"STLS\r\n").await?;
                let answer = conn.read_line().await?;
                if !answer.bytes.starts_with(b"+OK") {
                    return Err(WireError::StlsRefused(
                        String::from_utf8_lossy(&answer.bytes).into_owned(),
                    ));
                }
                conn.start_tls().await?;
                conn.pushed_back.push_back(greeting);
            }
        }
        Ok(conn)
    }

    /// Starts TLS on the plain stream (implicit TLS, or after `+OK` to STLS). Buffered
    /// plaintext is dropped, as RFC 2595 §4 requires of a client.
    pub async fn start_tls(&mut self) -> Result<(), WireError> {
        let config = match &self.tls_config {
            Some(c) => c.clone(),
            None => self
                .target
                .client_config()
                .map_err(|e| WireError::Tls(e.to_string()))?,
        };
        let name = self
            .target
            .server_name()
            .map_err(|e| WireError::Tls(e.to_string()))?;
        let tcp = match std::mem::replace(&mut self.stream, Stream::Closed) {
            Stream::Plain(t) => t,
            Stream::Tls(_) => return Err(WireError::Tls("TLS is already active".into())),
            Stream::Closed => return Err(WireError::Closed),
        };
        self.buf.clear();
        let tls = timeout(
            self.limits.io_timeout,
            TlsConnector::from(config).connect(name, tcp),
        )
        .await
        .map_err(|_| WireError::Timeout(self.limits.io_timeout))?
        .map_err(handshake_error)?;
        self.stream = Stream::Tls(Box::new(tls));
        Ok(())
    }

    /// Sends bytes.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        let t = self.limits.io_timeout;
        let write = async {
            let s = self.stream.io().ok_or(io::ErrorKind::NotConnected)?;
            s.write_all(bytes).await?;
            s.flush().await
        };
        timeout(t, write)
            .await
            .map_err(|_| WireError::Timeout(t))??;
        Ok(())
    }

    async fn fill(&mut self) -> Result<usize, WireError> {
        let t = self.limits.io_timeout;
        self.buf.reserve(16 * 1024);
        let read = async {
            match self.stream.io() {
                Some(s) => s.read_buf(&mut self.buf).await,
                None => Ok(0),
            }
        };
        let n = match timeout(t, read).await {
            Err(_) => return Err(WireError::Timeout(t)),
            Ok(Ok(n)) => n,
            // a reset after the server's last words is the same as a close for a verdict
            Ok(Err(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof
                ) =>
            {
                0
            }
            Ok(Err(e)) => return Err(e.into()),
        };
        self.read_total += n;
        if self.read_total > self.limits.max_bytes {
            return Err(WireError::TooMuch(self.limits.max_bytes));
        }
        Ok(n)
    }

    /// Reads the next line.
    pub async fn read_line(&mut self) -> Result<Line, WireError> {
        if let Some(l) = self.pushed_back.pop_front() {
            return Ok(l);
        }
        loop {
            // the codec splits (its answer does not depend on how the bytes arrived); a bare
            // LF ends a line too, flagged, so that the step judging it can say so
            match pop3_proto::line::split_line(&self.buf, self.limits.max_line) {
                Ok(pop3_proto::Decoded::Complete(_, used)) => {
                    let mut line: Vec<u8> = self.buf.drain(..used).collect();
                    line.truncate(used - 2);
                    return Ok(Line {
                        bytes: line,
                        crlf: true,
                    });
                }
                Err(pop3_proto::LineError::BareLineFeed { consumed }) => {
                    let mut line: Vec<u8> = self.buf.drain(..consumed).collect();
                    line.truncate(consumed - 1);
                    return Ok(Line {
                        bytes: line,
                        crlf: false,
                    });
                }
                Err(_) => return Err(WireError::LineTooLong(self.limits.max_line)),
                Ok(pop3_proto::Decoded::Incomplete) => {}
            }
            if self.fill().await? == 0 {
                return Err(WireError::Closed);
            }
        }
    }

    /// Puts a line back to be read again (for `S*:`, which stops at the first non-matching line).
    pub fn push_back(&mut self, line: Line) {
        self.pushed_back.push_front(line);
    }

    /// Waits for the server to close: `Ok(None)` on EOF, `Ok(Some(line))` if it sent more.
    pub async fn expect_eof(&mut self) -> Result<Option<Line>, WireError> {
        match self.read_line().await {
            Ok(l) => Ok(Some(l)),
            Err(WireError::Closed) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Closes the connection without QUIT: shuts down our side, then waits (briefly) for the
    /// server to close its side, so the server has ended the session, and released the
    /// maildrop lock, before the caller goes on.
    pub async fn close(&mut self) {
        let wait = self.limits.io_timeout.min(Duration::from_secs(2));
        let mut stream = std::mem::replace(&mut self.stream, Stream::Closed);
        let mut sink = Vec::new();
        if let Some(s) = stream.io() {
            let _ = timeout(wait, async {
                let _ = s.shutdown().await;
                while matches!(s.read_buf(&mut sink).await, Ok(n) if n > 0) {
                    sink.clear();
                }
            })
            .await;
        }
    }
}

/// Sorts a failed handshake: the server closing or alerting is [`WireError::TlsEnded`];
/// anything else (plaintext where TLS records belong, a bad certificate) is
/// [`WireError::Tls`].
fn handshake_error(e: io::Error) -> WireError {
    let ended = matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    ) || e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| matches!(r, rustls::Error::AlertReceived(_)));
    let certificate = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)));
    if ended {
        WireError::TlsEnded(e.to_string())
    } else if certificate {
        WireError::Certificate(e.to_string())
    } else {
        WireError::Tls(e.to_string())
    }
}

#[cfg(test)]
mod handshake_tests {
    use super::*;

    #[test]
    fn a_handshake_the_server_ends_is_told_from_plaintext_in_its_place() {
        let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "tls handshake eof");
        assert!(matches!(handshake_error(eof), WireError::TlsEnded(_)));
        let alert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
        );
        assert!(matches!(handshake_error(alert), WireError::TlsEnded(_)));
        let plaintext = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        );
        assert!(matches!(handshake_error(plaintext), WireError::Tls(_)));
    }
}
