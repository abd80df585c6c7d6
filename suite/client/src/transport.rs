//! Connections to the target: plain TCP, implicit TLS and STLS, each read and write bounded in
//! time and size.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use pop3_proto::auth::channel_binding;

use crate::target::{Target, TlsMode};

/// The slowest a server may send an answer once it has started: after `io_timeout` of grace,
/// at least this many octets per second (a 1 MB message in ~16 s), so a server that drips
/// its bytes cannot hold a case for longer than its answer's size justifies.
pub const MIN_RATE: f64 = 64.0 * 1024.0;

/// The most lines the client reads in answer to what it last sent (a CAPA, a listing, a
/// message): past it the answer is cut with [`WireError::TooManyLines`], so that memory stays
/// bounded whatever a server sends. 100,000 lines hold the 1 MB fixture message (13,501 lines) seven times over.
pub const MAX_ANSWER_LINES: usize = 100_000;

/// The time and size bounds of one connection (the codec's `pop3_proto::Limits` are line lengths).
///
/// Time is bounded by deadlines, not per-read timeouts: a line must be complete within
/// `io_timeout` of the first attempt to read it, and everything read since the client last
/// sent must have come within `io_timeout` plus its size at [`MIN_RATE`] (a multi-line answer
/// included). Connect, the TLS handshake and each write have `io_timeout` each.
#[derive(Debug, Clone, Copy)]
pub struct IoLimits {
    /// The deadline of a line, of a connect, a handshake, a write; the grace of an answer.
    pub io_timeout: Duration,
    /// Longest line accepted (a longer one is an error verdict).
    pub max_line: usize,
    /// Most bytes read on one connection.
    pub max_bytes: usize,
}

impl Default for IoLimits {
    fn default() -> Self {
        IoLimits {
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
    /// The answer came, but slower than [`MIN_RATE`] after the grace.
    #[error("the answer came too slowly: {octets} octets in {elapsed:?} (at least 64 KiB/s after {grace:?})")]
    TooSlow {
        /// Octets read since the client last sent.
        octets: usize,
        /// Time since then.
        elapsed: Duration,
        /// The grace (`io_timeout`).
        grace: Duration,
    },
    /// The server closed the connection.
    #[error("connection closed by the server")]
    Closed,
    /// A line longer than the cap.
    #[error("line longer than {0} octets")]
    LineTooLong(usize),
    /// More lines in one answer than [`MAX_ANSWER_LINES`].
    #[error("the answer exceeds {0} lines (the client's cap)")]
    TooManyLines(usize),
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

/// What a TLS session negotiated ([`Conn::tls_session`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSession {
    /// `TLSv1_3`, `TLSv1_2`.
    pub version: String,
    /// The IANA name, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// The server's certificate chain as sent, leaf first (DER).
    pub certificates: Vec<Vec<u8>>,
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
    /// What was read and not yet taken as lines: `buf[consumed..]` (lines are taken by
    /// moving `consumed`, and the buffer is compacted only before a read, when what is left
    /// is at most a partial line: taking a line never moves the rest of a 16 KiB read).
    buf: Vec<u8>,
    consumed: usize,
    pushed_back: VecDeque<Line>,
    limits: IoLimits,
    read_total: usize,
    /// When the client last sent (or connected), and how much it has read since: the
    /// answer's clock.
    answer_started: Instant,
    answer_octets: usize,
    answer_lines: usize,
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
        limits: IoLimits,
    ) -> Result<Conn, WireError> {
        let addr = (target.host.as_str(), target.port);
        let tcp = timeout(limits.io_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| WireError::Timeout(limits.io_timeout))??;
        let _ = tcp.set_nodelay(true);
        let mut conn = Conn {
            stream: Stream::Plain(tcp),
            buf: Vec::new(),
            consumed: 0,
            pushed_back: VecDeque::new(),
            limits,
            read_total: 0,
            answer_started: Instant::now(),
            answer_octets: 0,
            answer_lines: 0,
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
        self.consumed = 0;
        let tls = timeout(
            self.limits.io_timeout,
            TlsConnector::from(config).connect(name, tcp),
        )
        .await
        .map_err(|_| WireError::Timeout(self.limits.io_timeout))?
        .map_err(handshake_error)?;
        self.stream = Stream::Tls(Box::new(tls));
        // the answer's clock starts when the server can talk through TLS
        self.answer_started = Instant::now();
        self.answer_octets = 0;
        Ok(())
    }

    /// What the TLS session negotiated (`None` on a plain connection): for `conform probe`.
    pub fn tls_session(&self) -> Option<TlsSession> {
        let Stream::Tls(tls) = &self.stream else {
            return None;
        };
        let (_, session) = tls.get_ref();
        Some(TlsSession {
            version: session
                .protocol_version()
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
            cipher_suite: session
                .negotiated_cipher_suite()
                .map(|c| format!("{:?}", c.suite()))
                .unwrap_or_default(),
            certificates: session
                .peer_certificates()
                .map(|chain| chain.iter().map(|c| c.as_ref().to_vec()).collect())
                .unwrap_or_default(),
        })
    }

    /// The channel binding of type `kind` of this connection's TLS session (RFC 5802 §6):
    /// `tls-exporter` over TLS 1.3 (RFC 9266: 32 octets of the exporter with the label
    /// `EXPORTER-Channel-Binding` and an empty context), `tls-server-end-point` from the
    /// server's certificate (RFC 5929 §4.1). `None` on a plain connection, or where the type
    /// is not defined for the session.
    pub fn channel_binding(&self, kind: channel_binding::Kind) -> Option<Vec<u8>> {
        let Stream::Tls(tls) = &self.stream else {
            return None;
        };
        let (_, session) = tls.get_ref();
        match kind {
            channel_binding::Kind::TlsExporter => {
                if session.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3) {
                    return None;
                }
                session
                    .export_keying_material(
                        vec![0u8; channel_binding::EXPORTER_LENGTH],
                        channel_binding::EXPORTER_LABEL,
                        Some(&[]),
                    )
                    .ok()
            }
            channel_binding::Kind::TlsServerEndPoint => session
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| channel_binding::tls_server_end_point(leaf).ok()),
        }
    }

    /// Sends bytes; the answer's clock starts again.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        self.answer_started = Instant::now();
        self.answer_octets = 0;
        self.answer_lines = 0;
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

    /// The latest moment the next read may end: the line's deadline, or the answer's (its
    /// grace plus its size at [`MIN_RATE`]), whichever comes first; which one it is.
    fn read_deadline(&self, line_deadline: Instant) -> (Instant, bool) {
        let allowed =
            self.limits.io_timeout + Duration::from_secs_f64(self.answer_octets as f64 / MIN_RATE);
        let answer_deadline = self.answer_started + allowed;
        if answer_deadline < line_deadline {
            (answer_deadline, true)
        } else {
            (line_deadline, false)
        }
    }

    async fn fill(&mut self, line_deadline: Instant) -> Result<usize, WireError> {
        let t = self.limits.io_timeout;
        let (deadline, rate) = self.read_deadline(line_deadline);
        self.buf.drain(..self.consumed);
        self.consumed = 0;
        self.buf.reserve(16 * 1024);
        let read = async {
            match self.stream.io() {
                Some(s) => s.read_buf(&mut self.buf).await,
                None => Ok(0),
            }
        };
        let n = match timeout_at(deadline.into(), read).await {
            Err(_) if rate && self.answer_octets > 0 => {
                return Err(WireError::TooSlow {
                    octets: self.answer_octets,
                    elapsed: self.answer_started.elapsed(),
                    grace: t,
                })
            }
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
        self.answer_octets += n;
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
        self.answer_lines += 1;
        if self.answer_lines > MAX_ANSWER_LINES {
            return Err(WireError::TooManyLines(MAX_ANSWER_LINES));
        }
        let line_deadline = Instant::now() + self.limits.io_timeout;
        loop {
            // the codec splits (its answer does not depend on how the bytes arrived); a bare
            // LF ends a line too, flagged, so that the step judging it can say so
            let unread = &self.buf[self.consumed..];
            match pop3_proto::line::split_line(unread, self.limits.max_line) {
                Ok(pop3_proto::Decoded::Complete(line, used)) => {
                    let bytes = line.to_vec();
                    self.consumed += used;
                    return Ok(Line { bytes, crlf: true });
                }
                Err(pop3_proto::LineError::BareLineFeed { consumed }) => {
                    let bytes = unread[..consumed - 1].to_vec();
                    self.consumed += consumed;
                    return Ok(Line { bytes, crlf: false });
                }
                Err(_) => return Err(WireError::LineTooLong(self.limits.max_line)),
                Ok(pop3_proto::Decoded::Incomplete) => {}
            }
            if self.fill(line_deadline).await? == 0 {
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
