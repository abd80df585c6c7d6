//! Listeners and connections: the I/O around [`Session`]. Every read has a deadline (the
//! autologout timer, RFC 1939 §3), every write a timeout, every line a length cap; a
//! connection that misbehaves is answered -ERR or closed, and the others go on.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pop3_proto::line::{split_line, LineError};
use pop3_proto::multiline::Stuffer;
use pop3_proto::Decoded;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use crate::fault::{Fault, Faults};
use crate::lock::LockTable;
use crate::maildrop::Store;
use crate::session::{ChannelBindings, Context, Output, Session};
use crate::users::Users;
use crate::variant::Variants;

/// How the server behaves. [`Config::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Accounts.
    pub users: Users,
    /// Where maildrops live.
    pub store: Arc<dyn Store>,
    /// Host name for the greeting timestamp.
    pub hostname: String,
    /// TLS identity for STLS and the implicit-TLS listener; `None` disables both.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// `tls-server-end-point` of the identity's certificate (RFC 5929 §4.1,
    /// [`crate::tls::Identity::end_point`]), offered for SCRAM -PLUS; `None`: only
    /// `tls-exporter` (over TLS 1.3).
    pub tls_server_end_point: Option<Vec<u8>>,
    /// Allow USER/PASS, PLAIN and LOGIN without TLS (off by default, RFC 5034 §4).
    pub allow_plaintext_auth: bool,
    /// The autologout timer: idle time before the server closes the connection without
    /// entering UPDATE (RFC 1939 §3: at least 10 minutes; default 10 minutes).
    pub autologout: Duration,
    /// Time allowed for each write and flush.
    pub write_timeout: Duration,
    /// Time allowed for a TLS handshake.
    pub handshake_timeout: Duration,
    /// Most connections served at once; more are answered `-ERR [SYS/TEMP]` and closed.
    pub max_connections: usize,
    /// How long a USER/PASS or APOP login waits for a maildrop another session holds before
    /// `-ERR [IN-USE]`: a client that drops a connection and logs in again at once finds its
    /// own closing session still holding the lock (default 2 s; zero refuses at once).
    pub lock_wait: Duration,
    /// Deliberate defects (none by default).
    pub faults: Faults,
    /// Permitted variations (none by default: the server's own choices).
    pub variants: Variants,
    /// How long [`RunningServer::shutdown`] waits for the sessions still running to end
    /// (default 10 s): a command being answered, an UPDATE being applied, finishes; an idle
    /// session is closed at once, without UPDATE (RFC 1939 §6).
    pub shutdown_grace: Duration,
}

impl Config {
    /// Defaults around `users` and `store`: no TLS, plaintext auth refused, 10-minute
    /// autologout, 30-second write and handshake timeouts, 512 connections.
    pub fn new(users: Users, store: Arc<dyn Store>) -> Config {
        Config {
            users,
            store,
            hostname: "localhost".to_owned(),
            tls: None,
            tls_server_end_point: None,
            allow_plaintext_auth: false,
            autologout: Duration::from_secs(600),
            write_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(30),
            max_connections: 512,
            lock_wait: Duration::from_secs(2),
            faults: Faults::none(),
            variants: Variants::none(),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// A server running on the current tokio runtime.
#[derive(Debug)]
pub struct RunningServer {
    plain: Option<SocketAddr>,
    implicit_tls: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// One permit per connection being served (all free: none is).
    sessions: Arc<Semaphore>,
    max_connections: usize,
    shutdown_grace: Duration,
}

/// How [`RunningServer::shutdown`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every session ended within the grace period.
    All,
    /// This many sessions were still running when the grace period ran out.
    TimedOut(usize),
}

impl RunningServer {
    /// Binds the listeners (plain with STLS, and implicit TLS if `tls_addr` is given; an
    /// implicit-TLS listener needs `config.tls`) and starts accepting.
    pub async fn start(
        config: Config,
        plain_addr: Option<SocketAddr>,
        tls_addr: Option<SocketAddr>,
    ) -> io::Result<RunningServer> {
        // Variant::NoCapa: a server with no TLS at all
        let tls_addr = tls_addr.filter(|_| config.variants.tls());
        if tls_addr.is_some() && config.tls.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an implicit-TLS listener needs a TLS certificate",
            ));
        }
        let ctx = Arc::new(Context {
            users: config.users.clone(),
            store: config.store.clone(),
            locks: LockTable::default(),
            hostname: config.hostname.clone(),
            allow_plaintext_auth: config.allow_plaintext_auth,
            stls_available: config.tls.is_some() && config.variants.tls(),
            faults: config.faults.clone(),
            variants: config.variants.clone(),
        });
        let (stop, stopped) = watch::channel(false);
        let (max_connections, shutdown_grace) = (config.max_connections, config.shutdown_grace);
        let shared = Arc::new(Shared {
            ctx,
            acceptor: config.tls.clone().map(TlsAcceptor::from),
            limits: Arc::new(Semaphore::new(config.max_connections)),
            config,
            stopping: stopped.clone(),
        });
        let mut tasks = Vec::new();
        let mut bound = [None, None];
        for (slot, addr, implicit) in [(0, plain_addr, false), (1, tls_addr, true)] {
            let Some(addr) = addr else { continue };
            let listener = TcpListener::bind(addr).await?;
            bound[slot] = Some(listener.local_addr()?);
            tasks.push(tokio::spawn(accept_loop(
                listener,
                shared.clone(),
                implicit,
                stopped.clone(),
            )));
        }
        Ok(RunningServer {
            plain: bound[0],
            implicit_tls: bound[1],
            stop,
            tasks,
            sessions: shared.limits.clone(),
            max_connections,
            shutdown_grace,
        })
    }

    /// The plain (STLS-capable) listener's address.
    pub fn plain_addr(&self) -> Option<SocketAddr> {
        self.plain
    }

    /// The implicit-TLS listener's address.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.implicit_tls
    }

    /// Stops accepting and drains: each idle session is closed without UPDATE (RFC 1939 §6:
    /// only a QUIT in TRANSACTION enters UPDATE), each session busy with a command finishes
    /// it (an UPDATE is applied whole, an answer is sent whole), then closes. Waits for them
    /// at most [`Config::shutdown_grace`]; sessions still running after it are left to the
    /// runtime.
    pub async fn shutdown(self) -> Drained {
        let _ = self.stop.send(true);
        for t in self.tasks {
            if !t.is_finished() {
                let _ = t.await;
            }
        }
        let all = u32::try_from(self.max_connections).unwrap_or(u32::MAX);
        match timeout(self.shutdown_grace, self.sessions.acquire_many(all)).await {
            Ok(_) => Drained::All,
            Err(_) => Drained::TimedOut(
                self.max_connections
                    .saturating_sub(self.sessions.available_permits()),
            ),
        }
    }

    /// Runs until the listeners stop (for `conform serve`, until a signal asks for
    /// [`RunningServer::shutdown`]).
    pub async fn listening(&mut self) {
        for t in &mut self.tasks {
            if !t.is_finished() {
                let _ = t.await;
            }
        }
    }
}

struct Shared {
    ctx: Arc<Context>,
    acceptor: Option<TlsAcceptor>,
    limits: Arc<Semaphore>,
    config: Config,
    /// Set by [`RunningServer::shutdown`]: idle sessions close.
    stopping: watch::Receiver<bool>,
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    implicit: bool,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((tcp, _peer)) = accepted else {
            // EMFILE and friends: back off briefly instead of spinning
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok(permit) = shared.limits.clone().try_acquire_owned() else {
                let mut tcp = tcp;
                let busy: &[u8] = if shared.config.variants.resp_codes() {
                    b"-ERR [SYS/TEMP] too many connections, try later\r\n"
                } else {
                    b"-ERR too many connections, try later\r\n"
                };
                let _ = timeout(shared.config.write_timeout, tcp.write_all(busy)).await;
                return;
            };
            let _ = serve_connection(&shared, tcp, implicit).await;
            drop(permit);
        });
    }
}

/// How a run of the line loop ended.
enum Exit {
    /// The session asked to close, or the client went away, or the autologout timer fired.
    Closed,
    /// STLS was accepted: start TLS on the raw stream.
    StartTls,
}

/// The TLS handshake on `tcp` (implicit TLS, or after `+OK` to STLS), bounded in time.
async fn handshake(
    shared: &Shared,
    tcp: TcpStream,
) -> io::Result<tokio_rustls::server::TlsStream<TcpStream>> {
    let acceptor = shared
        .acceptor
        .as_ref()
        .expect("TLS is offered only with an acceptor");
    timeout(shared.config.handshake_timeout, acceptor.accept(tcp))
        .await
        .map_err(|_| io::ErrorKind::TimedOut)?
}

/// What the TLS channel binds to (RFC 5802 §6): `tls-exporter` over TLS 1.3 (RFC 9266: 32
/// octets, label `EXPORTER-Channel-Binding`, empty context), `tls-server-end-point` when the
/// configuration has it.
fn channel_bindings(
    cfg: &Config,
    tls: &tokio_rustls::server::TlsStream<TcpStream>,
) -> ChannelBindings {
    use pop3_proto::auth::channel_binding::{EXPORTER_LABEL, EXPORTER_LENGTH};
    let conn = tls.get_ref().1;
    let tls_exporter = (conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3))
        .then(|| {
            conn.export_keying_material(vec![0u8; EXPORTER_LENGTH], EXPORTER_LABEL, Some(&[]))
                .ok()
        })
        .flatten();
    ChannelBindings {
        tls_exporter,
        tls_server_end_point: cfg.tls_server_end_point.clone(),
    }
}

async fn serve_connection(shared: &Shared, mut tcp: TcpStream, implicit: bool) -> io::Result<()> {
    let cfg = &shared.config;
    if implicit {
        let mut tls = handshake(shared, tcp).await?;
        let (mut session, greeting) = Session::new(shared.ctx.clone(), true);
        session.set_channel_bindings(channel_bindings(cfg, &tls));
        Connection::new(session, shared)
            .run(&mut tls, Some(greeting))
            .await?;
        return Ok(());
    }
    let (session, greeting) = Session::new(shared.ctx.clone(), false);
    let mut conn = Connection::new(session, shared);
    if let Exit::StartTls = conn.run(&mut tcp, Some(greeting)).await? {
        // RFC 2595 §4 / CVE-2011-0411: whatever the client pipelined in plaintext after STLS
        // is discarded, never executed inside TLS.
        if !cfg.faults.has(Fault::StlsExecutesPipelinedPlaintext) {
            conn.buf.clear();
            conn.skipping = false;
        }
        let mut tls = handshake(shared, tcp).await?;
        conn.session.tls_started();
        conn.session
            .set_channel_bindings(channel_bindings(cfg, &tls));
        let served = conn.run(&mut tls, None).await;
        // RFC 1939 §6: release the maildrop lock, then close the connection. `tls` was
        // declared after `conn` and would be dropped (closing the socket) first; a client
        // that sees the close and logs in again at once must find the maildrop free.
        drop(conn);
        drop(tls);
        served?;
    }
    Ok(())
}

/// Resolves once [`RunningServer::shutdown`] is asked for; never when the server was
/// dropped without it (its sessions then go on until they end).
async fn shutdown_asked(stopping: &mut watch::Receiver<bool>) {
    if stopping.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Bytes of a message stuffed per write.
const CHUNK: usize = 64 * 1024;

struct Connection<'a> {
    session: Session,
    cfg: &'a Config,
    /// The server's shutdown: closes the connection when it next waits for its client.
    stopping: watch::Receiver<bool>,
    buf: Vec<u8>,
    out: Vec<u8>,
    skipping: bool,
    /// How long the line waiting for a locked maildrop may still wait.
    lock_deadline: Option<Instant>,
    /// The wait is over: the next line gets its refusal.
    impatient: bool,
}

/// Buffer capacity an idle connection keeps.
const IDLE_BUFFER: usize = 4096;

/// How often a login waiting for a locked maildrop looks again.
const LOCK_POLL: Duration = Duration::from_millis(20);

impl<'a> Connection<'a> {
    fn new(session: Session, shared: &'a Shared) -> Connection<'a> {
        Connection {
            session,
            cfg: &shared.config,
            stopping: shared.stopping.clone(),
            // grown on demand and given back when idle: an idle connection costs little
            buf: Vec::new(),
            out: Vec::new(),
            skipping: false,
            lock_deadline: None,
            impatient: false,
        }
    }

    /// Gives back what a large answer or a burst of pipelined lines grew, before the
    /// connection waits for its client (thousands of idle connections stay small).
    fn release_idle_buffers(&mut self) {
        if self.out.is_empty() && self.out.capacity() > IDLE_BUFFER {
            self.out = Vec::new();
        }
        if self.buf.is_empty() && self.buf.capacity() > IDLE_BUFFER {
            self.buf = Vec::new();
        }
    }

    async fn flush<S: AsyncWrite + Unpin>(&mut self, stream: &mut S) -> io::Result<()> {
        if !self.out.is_empty() {
            timeout(self.cfg.write_timeout, stream.write_all(&self.out))
                .await
                .map_err(|_| io::ErrorKind::TimedOut)??;
            self.out.clear();
        }
        timeout(self.cfg.write_timeout, stream.flush())
            .await
            .map_err(|_| io::ErrorKind::TimedOut)?
    }

    /// Serves lines until the session closes, the client leaves, or STLS is accepted.
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        greeting: Option<Vec<u8>>,
    ) -> io::Result<Exit> {
        if let Some(g) = greeting {
            self.out.extend_from_slice(&g);
            self.flush(stream).await?;
        }
        loop {
            // Answer every complete line already buffered (pipelining, RFC 2449 §6.6),
            // then flush once.
            while let Some(output) = self.next_output() {
                match output {
                    Output::Reply(r) => self.out.extend_from_slice(&r),
                    Output::Message { head, content } => {
                        self.out.extend_from_slice(&head);
                        let mut stuffer = Stuffer::new();
                        for chunk in content.chunks(CHUNK) {
                            stuffer.feed(chunk, &mut self.out);
                            if self.out.len() >= CHUNK {
                                self.flush(stream).await?;
                            }
                        }
                        stuffer.finish(&mut self.out);
                    }
                    Output::StartTls(r) => {
                        self.out.extend_from_slice(&r);
                        self.flush(stream).await?;
                        return Ok(Exit::StartTls);
                    }
                    Output::Close(r) => {
                        self.out.extend_from_slice(&r);
                        self.flush(stream).await?;
                        let _ = timeout(self.cfg.write_timeout, stream.shutdown()).await;
                        return Ok(Exit::Closed);
                    }
                    Output::LockBusy => {
                        // the line stays buffered: answer what came before it, wait a
                        // little for the holder (often this client's own closing session),
                        // then hand the same line in again
                        self.flush(stream).await?;
                        let deadline = *self
                            .lock_deadline
                            .get_or_insert_with(|| Instant::now() + self.cfg.lock_wait);
                        let now = Instant::now();
                        if now >= deadline {
                            self.impatient = true;
                        } else {
                            tokio::time::sleep((deadline - now).min(LOCK_POLL)).await;
                        }
                    }
                }
            }
            self.flush(stream).await?;
            self.release_idle_buffers();
            // The autologout timer (RFC 1939 §3): on expiry, close without UPDATE and
            // without a response. So does the server's shutdown, between commands.
            let read = timeout(self.cfg.autologout, stream.read_buf(&mut self.buf));
            let read = tokio::select! {
                read = read => read,
                () = shutdown_asked(&mut self.stopping) => return Ok(Exit::Closed),
            };
            match read {
                Err(_) | Ok(Ok(0)) => return Ok(Exit::Closed),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e),
            }
        }
    }

    /// The session's answer to the next complete line in the buffer, if there is one.
    fn next_output(&mut self) -> Option<Output> {
        loop {
            if self.skipping {
                // the rest of an over-long line: drop it up to its LF
                match memchr::memchr(b'\n', &self.buf) {
                    Some(lf) => {
                        self.buf.drain(..=lf);
                        self.skipping = false;
                    }
                    None => {
                        self.buf.clear();
                        return None;
                    }
                }
                continue;
            }
            let max = self.session.max_line();
            return match split_line(&self.buf, max) {
                Ok(Decoded::Complete(line, used)) => {
                    let out = if self.impatient {
                        self.session.handle_line(line)
                    } else {
                        self.session.handle_line_patient(line)
                    };
                    if matches!(out, Output::LockBusy) {
                        // not consumed: the same line is handled again after a wait
                        return Some(out);
                    }
                    self.impatient = false;
                    self.lock_deadline = None;
                    if self.cfg.faults.has(Fault::PipeliningAnswersFirstOnly) {
                        // what a read-one-line-then-flush-the-buffer server does
                        self.buf.clear();
                    } else {
                        self.buf.drain(..used);
                    }
                    Some(out)
                }
                Ok(Decoded::Incomplete) => None,
                Err(e @ LineError::BareLineFeed { consumed }) => {
                    self.buf.drain(..consumed);
                    Some(self.session.handle_bad_line(&e))
                }
                Err(e @ LineError::TooLong { .. }) => {
                    match memchr::memchr(b'\n', &self.buf) {
                        Some(lf) => {
                            self.buf.drain(..=lf);
                        }
                        None => {
                            self.buf.clear();
                            self.skipping = true;
                        }
                    }
                    Some(self.session.handle_bad_line(&e))
                }
            };
        }
    }
}
