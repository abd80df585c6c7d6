//! The server on real loopback sockets, driven byte by byte: pipelining (RFC 2449 §6.6),
//! line limits (RFC 2449 §4), STLS discarding pipelined plaintext (RFC 2595 §4), the
//! autologout timer (RFC 1939 §3), and hostile input that must not stop the server.

use std::sync::Arc;
use std::time::Duration;

use reference_server::maildrop::{MaildirStore, MemoryStore};
use reference_server::{fixture, tls, Config, RunningServer, Users};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const USER: &str = "alice";
const PASSWORD: &str = "wonderland-42";

fn config(allow_plaintext: bool) -> (Config, MemoryStore) {
    let store = MemoryStore::new();
    fixture::seed_memory(&store, USER);
    let mut users = Users::new();
    users.insert(USER, PASSWORD);
    let mut c = Config::new(users, Arc::new(store.clone()));
    c.allow_plaintext_auth = allow_plaintext;
    (c, store)
}

async fn start(c: Config) -> RunningServer {
    RunningServer::start(c, Some("127.0.0.1:0".parse().unwrap()), None)
        .await
        .expect("bind 127.0.0.1:0")
}

/// A raw client: reads whole lines with a timeout so a broken server fails the test quickly.
struct Raw<S> {
    stream: S,
    buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Raw<S> {
    fn new(stream: S) -> Raw<S> {
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next line without CRLF; `None` at EOF.
    async fn line(&mut self) -> Option<String> {
        loop {
            if let Some(lf) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=lf).collect();
                assert!(
                    line.ends_with(b"\r\n"),
                    "server line without CRLF: {line:?}"
                );
                return Some(String::from_utf8_lossy(&line[..line.len() - 2]).into_owned());
            }
            self.buf.reserve(65536);
            let n = timeout(Duration::from_secs(10), self.stream.read_buf(&mut self.buf))
                .await
                .expect("server answered within 10 s")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
        }
    }

    async fn expect(&mut self, prefix: &str) -> String {
        let l = self.line().await.expect("a line, not EOF");
        assert!(l.starts_with(prefix), "expected {prefix:?}, got {l:?}");
        l
    }

    /// Lines of a multi-line body up to the terminator, still stuffed.
    async fn body(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let l = self.line().await.expect("body line");
            if l == "." {
                return lines;
            }
            lines.push(l);
        }
    }

    async fn cmd(&mut self, c: &str, prefix: &str) -> String {
        self.send(format!("{c}\r\n").as_bytes()).await;
        self.expect(prefix).await
    }

    async fn login(&mut self) {
        self.expect("+OK").await;
        self.cmd(&format!("USER {USER}"), "+OK").await;
        self.cmd(&format!("PASS {PASSWORD}"), "+OK").await;
    }
}

async fn connect(server: &RunningServer) -> Raw<TcpStream> {
    Raw::new(
        TcpStream::connect(server.plain_addr().unwrap())
            .await
            .unwrap(),
    )
}

/// RFC 2449 §6.6: commands sent in one write are all answered, in order.
#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let (c, _) = config(true);
    let server = start(c).await;
    let mut r = connect(&server).await;
    r.expect("+OK").await;
    r.send(
        format!("USER {USER}\r\nPASS {PASSWORD}\r\nSTAT\r\nLIST 2\r\nNOOP\r\nQUIT\r\n").as_bytes(),
    )
    .await;
    r.expect("+OK").await;
    r.expect("+OK maildrop has 7").await;
    r.expect("+OK 7 ").await;
    r.expect("+OK 2 ").await;
    r.expect("+OK").await;
    r.expect("+OK").await;
    assert_eq!(r.line().await, None);
}

/// RFC 2449 §4: 255-octet commands are accepted; longer lines get -ERR and the session goes on.
#[tokio::test]
async fn line_limits() {
    let (c, _) = config(true);
    let server = start(c).await;
    let mut r = connect(&server).await;
    r.expect("+OK").await;
    let name = "u".repeat(255 - "USER \r\n".len());
    r.cmd(&format!("USER {name}"), "+OK").await;
    r.cmd(&format!("USER {name}u"), "-ERR").await;
    r.send(&vec![b'A'; 100_000]).await;
    r.send(b"\r\n").await;
    r.expect("-ERR").await;
    r.cmd("NOOP", "-ERR").await; // NOOP is a TRANSACTION command: the session is intact
    r.cmd("CAPA", "+OK").await;
    assert!(r.body().await.contains(&"UIDL".to_owned()));
}

/// Bare LF, NUL, lone CR and binary garbage get -ERR or a hang-up, and a second connection is
/// served all the same.
#[tokio::test]
async fn garbage_does_not_stop_the_server() {
    let (c, _) = config(true);
    let server = start(c).await;
    let mut bad = connect(&server).await;
    bad.expect("+OK").await;
    bad.send(b"STAT\n").await;
    bad.expect("-ERR").await;
    bad.send(b"NO\0OP\r\n").await;
    bad.expect("-ERR").await;
    bad.send(b"NO\rOP\r\n").await;
    bad.expect("-ERR").await;
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    bad.send(&garbage).await;
    bad.send(b"\r\n").await;
    // every reply is -ERR until the server hangs up
    while let Some(l) = bad.line().await {
        assert!(l.starts_with("-ERR"), "{l:?}");
    }
    let mut good = connect(&server).await;
    good.login().await;
    good.cmd("STAT", "+OK 7 ").await;
}

/// RFC 2595 §4: after STLS, plaintext pipelined behind it is discarded, not executed in TLS.
#[tokio::test]
async fn stls_discards_pipelined_plaintext() {
    let (mut c, _) = config(false);
    let id = tls::self_signed("localhost").unwrap();
    c.tls = Some(id.config.clone());
    let server = start(c).await;
    let mut r = connect(&server).await;
    r.expect("+OK").await;
    r.send(format!("STLS\r\nUSER {USER}\r\nPASS {PASSWORD}\r\n").as_bytes())
        .await;
    r.expect("+OK").await;
    let mut roots = rustls::RootCertStore::empty();
    let der = rustls_pemfile::certs(&mut id.cert_pem.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    roots.add(der).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    assert!(r.buf.is_empty());
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), r.stream)
        .await
        .expect("TLS handshake after STLS");
    let mut t = Raw::new(tls);
    // the pipelined USER/PASS were dropped: PASS now has no USER before it
    t.cmd(&format!("PASS {PASSWORD}"), "-ERR").await;
    t.cmd("STLS", "-ERR").await;
    t.cmd(&format!("USER {USER}"), "+OK").await;
    t.cmd(&format!("PASS {PASSWORD}"), "+OK").await;
}

/// RFC 1939 §3: when the autologout timer expires the server closes the connection without a
/// response and without entering UPDATE.
#[tokio::test]
async fn autologout_closes_without_update() {
    let (mut c, store) = config(true);
    c.autologout = Duration::from_millis(300);
    let server = start(c).await;
    let mut r = connect(&server).await;
    r.login().await;
    r.cmd("DELE 1", "+OK").await;
    assert_eq!(r.line().await, None, "closed silently");
    assert_eq!(store.count(USER), 7);
    let mut again = connect(&server).await;
    again.login().await; // the lock was released
}

/// RFC 1939 §6: deletions reach the Maildir only at QUIT; a dropped connection changes nothing.
#[tokio::test]
async fn maildir_deletions_only_in_update() {
    let dir = tempfile::tempdir().unwrap();
    fixture::seed_maildir(dir.path(), false).unwrap();
    let mut users = Users::new();
    users.insert(USER, PASSWORD);
    let mut c = Config::new(
        users,
        Arc::new(MaildirStore::new(dir.path().to_str().unwrap())),
    );
    c.allow_plaintext_auth = true;
    let server = start(c).await;
    let files = || std::fs::read_dir(dir.path().join("cur")).unwrap().count();

    let mut r = connect(&server).await;
    r.login().await;
    r.cmd("DELE 1", "+OK").await;
    r.cmd("DELE 2", "+OK").await;
    drop(r);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(files(), 7);

    let mut r = connect(&server).await;
    r.login().await;
    let uids = {
        r.send(b"UIDL\r\n").await;
        r.expect("+OK").await;
        r.body().await
    };
    r.cmd("DELE 1", "+OK").await;
    r.cmd("QUIT", "+OK").await;
    assert_eq!(files(), 6);

    let mut r = connect(&server).await;
    r.login().await;
    r.send(b"UIDL\r\n").await;
    r.expect("+OK").await;
    let after = r.body().await;
    let ids = |v: &[String]| {
        v.iter()
            .map(|l| l.split(' ').nth(1).unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&after), ids(&uids)[1..]);
}

/// RFC 1939 §8 / RFC 2449 §8.1.1: a second session on a locked maildrop gets [IN-USE].
#[tokio::test]
async fn second_session_gets_in_use() {
    let (c, _) = config(true);
    let server = start(c).await;
    let mut first = connect(&server).await;
    first.login().await;
    let mut second = connect(&server).await;
    second.expect("+OK").await;
    second.cmd(&format!("USER {USER}"), "+OK").await;
    second
        .cmd(&format!("PASS {PASSWORD}"), "-ERR [IN-USE]")
        .await;
    first.cmd("QUIT", "+OK").await;
    assert_eq!(first.line().await, None);
    second.cmd(&format!("USER {USER}"), "+OK").await;
    second.cmd(&format!("PASS {PASSWORD}"), "+OK").await;
}

/// The greeting timestamp differs on every connection (RFC 1939 §7).
#[tokio::test]
async fn greeting_timestamps_are_unique() {
    let (c, _) = config(true);
    let server = start(c).await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..50 {
        let mut r = connect(&server).await;
        let g = r.expect("+OK").await;
        let stamp = pop3_proto::StatusLine::parse(g.as_bytes())
            .unwrap()
            .timestamp()
            .unwrap()
            .to_owned();
        assert!(seen.insert(stamp));
    }
}

/// A 10 MB message comes through RETR byte-stuffed and exactly LIST-sized.
#[tokio::test]
async fn large_message_streams_with_exact_size() {
    let store = MemoryStore::new();
    let mut m = b"Subject: big\n\n".to_vec();
    let mut i = 0;
    while m.len() < 10 << 20 {
        m.extend_from_slice(format!(".{i:09} a body line that starts with a dot\n").as_bytes());
        i += 1;
    }
    store.deliver(USER, m.clone());
    let mut users = Users::new();
    users.insert(USER, PASSWORD);
    let mut c = Config::new(users, Arc::new(store));
    c.allow_plaintext_auth = true;
    let server = start(c).await;
    let mut r = connect(&server).await;
    r.login().await;
    let list = r.cmd("LIST 1", "+OK 1 ").await;
    let size: u64 = list.rsplit(' ').next().unwrap().parse().unwrap();
    r.cmd("RETR 1", "+OK").await;
    let body = r.body().await;
    let mut octets = 0u64;
    for l in &body[2..] {
        assert!(l.starts_with(".."), "stuffed: {l}");
        octets += l.len() as u64 - 1 + 2;
    }
    octets += body[..2].iter().map(|l| l.len() as u64 + 2).sum::<u64>();
    assert_eq!(octets, size);
    assert_eq!(size, pop3_proto::multiline::wire_size(&m));
}

/// A login that finds the maildrop held by a session that is ending waits for it (up to
/// `lock_wait`) instead of answering `-ERR [IN-USE]`: a client that drops a connection and
/// logs in again at once gets in. With no wait, the refusal comes at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_login_waits_briefly_for_a_lock_that_is_being_released() {
    for (wait, gets_in) in [(Duration::from_secs(2), true), (Duration::ZERO, false)] {
        let (mut c, _store) = config(true);
        c.lock_wait = wait;
        let server = start(c).await;
        let addr = server.plain_addr().unwrap();
        let mut first = Raw::new(TcpStream::connect(addr).await.unwrap());
        first.expect("+OK").await;
        first
            .send(format!("USER {USER}\r\nPASS {PASSWORD}\r\n").as_bytes())
            .await;
        first.expect("+OK").await;
        first.expect("+OK").await;
        let mut second = Raw::new(TcpStream::connect(addr).await.unwrap());
        second.expect("+OK").await;
        second
            .send(format!("USER {USER}\r\nPASS {PASSWORD}\r\n").as_bytes())
            .await;
        second.expect("+OK").await;
        // the first client goes away a little later, without QUIT
        let started = std::time::Instant::now();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            drop(first);
        });
        let answer = second.line().await.expect("an answer to PASS");
        if gets_in {
            assert!(answer.starts_with("+OK"), "{answer}");
            assert!(started.elapsed() >= Duration::from_millis(250), "it waited");
            // and the session works
            second.send(b"STAT\r\n").await;
            second.expect("+OK 7 ").await;
        } else {
            assert!(answer.starts_with("-ERR [IN-USE]"), "{answer}");
        }
    }
}

/// A store with `USER`'s seven fixture messages and a second user whose first message is
/// 4 MiB (a RETR of it outlasts the socket buffers while the client does not read).
fn two_users_one_large() -> (Config, MemoryStore) {
    let (mut c, store) = config(true);
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    while big.len() < 4 << 20 {
        big.extend_from_slice(b"a body line of the large message, to fill the socket buffers\r\n");
    }
    store.deliver("bob", big);
    store.deliver("bob", b"Subject: small\r\n\r\nhello\r\n".to_vec());
    let mut users = Users::new();
    users.insert(USER, PASSWORD);
    users.insert("bob", PASSWORD);
    c.users = users;
    (c, store)
}

/// Shutdown drains: an idle session is closed without UPDATE (RFC 1939 §6), a session busy
/// with a command finishes it and the commands already sent (RETR answered whole, QUIT's
/// UPDATE applied), no new connection is taken, and `shutdown` reports every session ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_sessions() {
    let (c, store) = two_users_one_large();
    let server = start(c).await;
    let addr = server.plain_addr().unwrap();
    let mut idle = connect(&server).await;
    idle.login().await;
    idle.cmd("DELE 1", "+OK").await;
    let mut busy = connect(&server).await;
    busy.expect("+OK").await;
    busy.cmd("USER bob", "+OK").await;
    busy.cmd(&format!("PASS {PASSWORD}"), "+OK").await;
    // pipelined: the server is still writing the 4 MiB answer when the shutdown comes
    busy.send(b"RETR 1\r\nDELE 2\r\nQUIT\r\n").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let shutdown = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(idle.line().await, None, "the idle session is closed");
    assert!(
        timeout(Duration::from_secs(2), TcpStream::connect(addr))
            .await
            .map_or(true, |c| c.is_err()),
        "no new connection is accepted"
    );
    busy.expect("+OK").await;
    let body = busy.body().await;
    let octets: usize = body.iter().map(|l| l.len() + 2).sum();
    assert!(octets >= 4 << 20, "the whole message: {octets} octets");
    busy.expect("+OK").await; // DELE 2
    busy.expect("+OK").await; // QUIT: UPDATE
    assert_eq!(busy.line().await, None);
    let drained = timeout(Duration::from_secs(5), shutdown)
        .await
        .expect("shutdown ends once the sessions have")
        .unwrap();
    assert_eq!(drained, reference_server::Drained::All);
    assert_eq!(store.count(USER), 7, "no UPDATE for the idle session");
    assert_eq!(store.count("bob"), 1, "the QUIT's UPDATE was applied");
}

/// A session that cannot finish (its client never reads a large answer) does not hold the
/// shutdown beyond its grace period, and is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_up_after_its_grace_period() {
    let (mut c, _store) = two_users_one_large();
    c.shutdown_grace = Duration::from_millis(300);
    let server = start(c).await;
    let mut stuck = connect(&server).await;
    stuck.expect("+OK").await;
    stuck.cmd("USER bob", "+OK").await;
    stuck.cmd(&format!("PASS {PASSWORD}"), "+OK").await;
    stuck.send(b"RETR 1\r\n").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let drained = timeout(Duration::from_secs(5), server.shutdown())
        .await
        .expect("bounded by the grace period");
    assert_eq!(drained, reference_server::Drained::TimedOut(1));
}
