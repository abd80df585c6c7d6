//! The reference server driven by real third-party POP3 clients: Python's `poplib`, `curl` and
//! `fetchmail`, each run as a child process against a server on `127.0.0.1:0` that serves the
//! standard fixture from a fresh Maildir on disk.
//!
//! The clients are required, not optional: a missing `python3`, `curl` or `fetchmail` fails
//! the test with a message saying what to install. Every child runs under a 60-second timeout
//! and is killed when it expires. Helper scripts live in `tests/clients/`.

#![cfg(unix)]
/// One line on the test process's standard error that `cargo test` does not capture (its
/// capture takes `eprintln!`): a skipped test says so loudly.
macro_rules! loud {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use pop3_proto::multiline::wire_size;
use reference_server::maildrop::MaildirStore;
use reference_server::{fixture, tls, Config, RunningServer, Users};
use tempfile::TempDir;
use tokio::process::Command;
use tokio::time::timeout;

const USER: &str = "alice";
const PASSWORD: &str = "wonderland-42";
/// Longest any client may run; a hang fails the test instead of blocking CI.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

// ---- setup --------------------------------------------------------------------------------

/// A running server over a fresh fixture Maildir, with its certificate written out as a CA
/// file for the clients.
struct Env {
    server: RunningServer,
    dir: TempDir,
    /// The Maildir file names, message 1 first.
    names: Vec<String>,
}

impl Env {
    /// Starts a server with a plain (STLS-capable) and an implicit-TLS listener on loopback.
    /// `allow_plaintext_auth` governs USER/PASS and SASL PLAIN/LOGIN before TLS.
    async fn start(allow_plaintext_auth: bool) -> Env {
        let dir = tempfile::tempdir().expect("temporary directory");
        for c in dir.path().to_string_lossy().chars() {
            assert!(
                !"'\"\\ ".contains(c),
                "temporary path {:?} needs quoting",
                dir.path()
            );
        }
        let maildir = dir.path().join("Maildir");
        let names = fixture::seed_maildir(&maildir, false).expect("seed the fixture Maildir");
        let mut users = Users::new();
        users.insert(USER, PASSWORD);
        let store = MaildirStore::new(maildir.to_str().expect("UTF-8 temporary path"));
        let mut config = Config::new(users, Arc::new(store));
        let id = tls::self_signed("localhost").expect("self-signed certificate");
        std::fs::write(dir.path().join("ca.pem"), &id.cert_pem).expect("write ca.pem");
        config.tls = Some(id.config.clone());
        config.allow_plaintext_auth = allow_plaintext_auth;
        let loopback = "127.0.0.1:0".parse().unwrap();
        let server = RunningServer::start(config, Some(loopback), Some(loopback))
            .await
            .expect("bind 127.0.0.1:0");
        Env { server, dir, names }
    }

    fn plain_port(&self) -> u16 {
        self.server.plain_addr().unwrap().port()
    }

    fn tls_port(&self) -> u16 {
        self.server.tls_addr().unwrap().port()
    }

    /// The server certificate, which is its own CA.
    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A new empty directory under the test's temporary directory.
    fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir(&p).expect("create scratch directory");
        p
    }

    /// The file names in the Maildir's `cur/`, sorted.
    fn cur_files(&self) -> Vec<String> {
        let cur = self.dir.path().join("Maildir").join("cur");
        let mut names: Vec<String> = std::fs::read_dir(&cur)
            .expect("read cur/")
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Asserts that every fixture file is still in `cur/` except those of `gone` (message
    /// numbers), and nothing else is there.
    fn assert_on_disk_except(&self, gone: &[usize]) {
        let mut want: Vec<String> = self
            .names
            .iter()
            .enumerate()
            .filter(|(i, _)| !gone.contains(&(i + 1)))
            .map(|(_, n)| n.clone())
            .collect();
        want.sort();
        assert_eq!(self.cur_files(), want, "files in Maildir/cur");
    }
}

fn helper(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("clients")
        .join(name)
}

// ---- child processes ----------------------------------------------------------------------

/// A finished client.
struct Ran {
    what: String,
    success: bool,
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl Ran {
    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Both streams, the end of each if long (fetchmail -v prints a progress bar).
    fn transcript(&self) -> String {
        fn tail(s: &str) -> &str {
            const KEEP: usize = 6000;
            if s.len() <= KEEP {
                return s;
            }
            let mut start = s.len() - KEEP;
            while !s.is_char_boundary(start) {
                start += 1;
            }
            &s[start..]
        }
        format!(
            "--- {} exited {:?}\n--- stdout (end):\n{}\n--- stderr (end):\n{}",
            self.what,
            self.code,
            tail(&self.stdout_text()),
            tail(&self.stderr)
        )
    }

    /// Panics with the transcript unless the client exited 0.
    fn ok(self) -> Ran {
        assert!(self.success, "client failed\n{}", self.transcript());
        self
    }
}

/// Runs `program` with `args` and `envs`, stdin closed, under [`CHILD_TIMEOUT`].
async fn run(program: &str, args: &[OsString], envs: &[(&str, &Path)]) -> Ran {
    let what = format!(
        "{program} {}",
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("`{program}` is not on PATH (`installed` said it was)")
        }
        Err(e) => panic!("cannot start `{what}`: {e}"),
    };
    // On timeout the future is dropped, and kill_on_drop kills the child.
    let out = timeout(CHILD_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("`{what}` did not finish within {CHILD_TIMEOUT:?}; killed"))
        .unwrap_or_else(|e| panic!("waiting for `{what}`: {e}"));
    Ran {
        what,
        success: out.status.success(),
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Whether `program` is on PATH; when it is not, `test` skips with one loud line (the
/// clients are installed by `.ci/run`; tests install nothing).
fn installed(program: &str, test: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()));
    if !found {
        loud!("SKIPPED {test}: `{program}` is not on PATH (.ci/run installs it)");
    }
    found
}

fn os_args<I: IntoIterator<Item = S>, S: Into<OsString>>(args: I) -> Vec<OsString> {
    args.into_iter().map(Into::into).collect()
}

// ---- expectations -------------------------------------------------------------------------

/// A fixture message with CRLF line ends: what a client that un-stuffs shows.
fn crlf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 20);
    for &b in message {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

fn total_size() -> u64 {
    fixture::MESSAGES.iter().map(|m| wire_size(m)).sum()
}

/// Asserts that two texts are equal line by line, naming the first line that differs (a
/// plain `assert_eq!` would print the whole 1 MB message).
fn assert_same_lines(what: &str, got: &[u8], want: &[u8]) {
    if got == want {
        return;
    }
    let g: Vec<&[u8]> = got.split(|&b| b == b'\n').collect();
    let w: Vec<&[u8]> = want.split(|&b| b == b'\n').collect();
    let first = g
        .iter()
        .zip(&w)
        .position(|(a, b)| a != b)
        .unwrap_or(g.len().min(w.len()));
    let show = |v: &[&[u8]]| {
        v.get(first).map_or("<no line>".to_owned(), |l| {
            format!("{:?}", String::from_utf8_lossy(l))
        })
    };
    panic!(
        "{what}: differs at line {} (of {} got, {} expected)\n  got:      {}\n  expected: {}",
        first + 1,
        g.len(),
        w.len(),
        show(&g),
        show(&w)
    );
}

/// The lines of a fixture message (LF split, without the empty piece after the last LF).
fn fixture_lines(message: &[u8]) -> Vec<&[u8]> {
    let body = message.strip_suffix(b"\n").expect("fixture ends with LF");
    body.split(|&b| b == b'\n').collect()
}

/// Checks unique-ids against RFC 1939 §7: 1 to 70 characters in 0x21-0x7E, all different.
fn assert_valid_uids(uids: &[String]) {
    for u in uids {
        assert!(
            (1..=70).contains(&u.len()) && u.bytes().all(|b| (0x21..=0x7e).contains(&b)),
            "unique-id {u:?} breaks RFC 1939 §7 (1-70 chars 0x21-0x7E)"
        );
    }
    let mut sorted = uids.to_vec();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), uids.len(), "unique-ids not unique: {uids:?}");
}

// ---- poplib -------------------------------------------------------------------------------

/// What `tests/clients/poplib_session.py` reported: one record per line, fields split on
/// spaces.
struct Poplib {
    ran: Ran,
    records: Vec<Vec<String>>,
}

impl Poplib {
    fn all(&self, tag: &str) -> Vec<&[String]> {
        self.records
            .iter()
            .filter(|r| r[0] == tag)
            .map(|r| &r[1..])
            .collect()
    }

    fn one(&self, tag: &str) -> &[String] {
        let all = self.all(tag);
        assert_eq!(
            all.len(),
            1,
            "expected one {tag} record\n{}",
            self.ran.transcript()
        );
        all[0]
    }

    /// The rest of a record as text (for status lines).
    fn text(&self, tag: &str) -> String {
        self.one(tag).join(" ")
    }

    fn stat(&self) -> (usize, u64) {
        let r = self.one("STAT");
        (r[0].parse().unwrap(), r[1].parse().unwrap())
    }

    fn list(&self) -> Vec<(u32, u64)> {
        self.all("LIST")
            .iter()
            .map(|r| (r[0].parse().unwrap(), r[1].parse().unwrap()))
            .collect()
    }

    fn uids(&self) -> Vec<String> {
        self.all("UIDL")
            .iter()
            .enumerate()
            .map(|(i, r)| {
                assert_eq!(r[0], (i + 1).to_string(), "UIDL numbering");
                r[1].clone()
            })
            .collect()
    }

    fn capa(&self, tag: &str) -> Vec<String> {
        self.one(tag).to_vec()
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex payload"))
        .collect()
}

/// Runs one poplib session as `alice` against `port`; `extra` are the script's options.
async fn poplib(env: &Env, port: u16, extra: &[&str]) -> Poplib {
    let mut args = os_args([helper("poplib_session.py").into_os_string()]);
    args.extend(os_args([
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--user",
        USER,
        "--password",
        PASSWORD,
        "--cafile",
    ]));
    args.push(env.ca().into_os_string());
    args.extend(os_args(extra.iter().copied()));
    let ran = run("python3", &args, &[]).await.ok();
    let records = ran
        .stdout_text()
        .lines()
        .map(|l| l.split(' ').map(str::to_owned).collect())
        .collect();
    Poplib { ran, records }
}

/// Asserts a logged-in session that saw the whole fixture: STAT, LIST, UIDL; with `retr`,
/// RETR of every message and TOP 7 0 / TOP 7 3.
fn assert_whole_fixture(s: &Poplib, retr: bool) {
    assert!(
        s.text("LOGIN").contains("+OK"),
        "login: {}",
        s.text("LOGIN")
    );
    // STAT: count and total size in CRLF octets (RFC 1939 §5)
    assert_eq!(s.stat(), (7, total_size()), "STAT");
    // LIST: the exact CRLF size of each message (RFC 1939 §5, §11)
    let want: Vec<(u32, u64)> = fixture::MESSAGES
        .iter()
        .enumerate()
        .map(|(i, m)| (i as u32 + 1, wire_size(m)))
        .collect();
    assert_eq!(s.list(), want, "LIST");
    let uids = s.uids();
    assert_eq!(uids.len(), 7, "UIDL entries");
    assert_valid_uids(&uids);
    if !retr {
        return;
    }
    let retrs = s.all("RETR");
    assert_eq!(retrs.len(), 7, "RETR records");
    for (i, r) in retrs.iter().enumerate() {
        let m = fixture::MESSAGES[i];
        assert_eq!(r[0], (i + 1).to_string());
        // poplib counts the octets of the un-stuffed CRLF lines: the LIST size
        assert_eq!(
            r[1].parse::<u64>().unwrap(),
            wire_size(m),
            "octets poplib counted for RETR {}",
            i + 1
        );
        let want = fixture_lines(m).join(&b'\n');
        assert_same_lines(&format!("RETR {}", i + 1), &unhex(&r[2]), &want);
    }
    // TOP 7 n: the header, the blank line, and n body lines (RFC 1939 §7)
    let lines = fixture_lines(fixture::MESSAGES[6]);
    let blank = lines.iter().position(|l| l.is_empty()).unwrap();
    assert!(
        lines[blank + 1..blank + 4] == [&b"Line 1"[..], b"Line 2", b"Line 3"],
        "fixture message 7 body"
    );
    let tops = s.all("TOP");
    assert_eq!(tops.len(), 2, "TOP records");
    for t in tops {
        let k: usize = t[1].parse().unwrap();
        let want = lines[..=blank + k].join(&b'\n');
        assert_same_lines(&format!("TOP 7 {k}"), &unhex(&t[2]), &want);
    }
}

/// RFC 1939 §4-§7 over USER/PASS: STAT and LIST give the CRLF sizes, RETR returns every
/// message exactly (including the dot-stuffed lines of message 3 and the empty body of
/// message 4), TOP cuts after the blank line plus n lines, and UIDL gives 1-70 printable
/// characters that stay the same in the next session (§7: persistent across sessions).
#[tokio::test(flavor = "multi_thread")]
async fn poplib_user_pass_reads_the_whole_fixture() {
    if !installed("python3", "poplib_user_pass_reads_the_whole_fixture") {
        return;
    }
    let env = Env::start(true).await;
    let first = poplib(&env, env.plain_port(), &["--retr"]).await;
    let greeting = first.text("GREETING");
    assert!(
        greeting.starts_with("+OK") && greeting.contains('<') && greeting.ends_with('>'),
        "greeting with an APOP timestamp: {greeting}"
    );
    let capa = first.capa("CAPA");
    for c in ["TOP", "UIDL", "USER", "STLS"] {
        assert!(capa.contains(&c.to_owned()), "CAPA lacks {c}: {capa:?}");
    }
    assert_whole_fixture(&first, true);
    assert!(first.text("QUIT").starts_with("+OK"), "QUIT answer");

    let second = poplib(&env, env.plain_port(), &[]).await;
    assert_whole_fixture(&second, false);
    assert_eq!(
        second.uids(),
        first.uids(),
        "unique-ids changed between sessions"
    );
    env.assert_on_disk_except(&[]);
}

/// RFC 1939 §7 APOP: poplib's digest over the greeting timestamp logs in (without TLS and with
/// plaintext passwords refused, since APOP never sends the secret), and a digest made from
/// a wrong password is refused with -ERR, which poplib raises as `error_proto`.
#[tokio::test(flavor = "multi_thread")]
async fn poplib_apop_logs_in_and_wrong_digest_is_refused() {
    if !installed("python3", "poplib_apop_logs_in_and_wrong_digest_is_refused") {
        return;
    }
    let env = Env::start(false).await;
    let good = poplib(&env, env.plain_port(), &["--auth", "apop"]).await;
    assert_whole_fixture(&good, false);

    let bad = poplib(&env, env.plain_port(), &["--action", "apop-wrong"]).await;
    let refused = bad.text("APOP_REFUSED");
    assert!(refused.starts_with("-ERR"), "wrong APOP digest: {refused}");
    assert!(bad.all("APOP_ACCEPTED").is_empty());
    assert!(bad.text("QUIT").starts_with("+OK"));
}

/// RFC 2595 §4 STLS with `POP3.stls(context)`, verifying the server certificate against the
/// CA file: before TLS, CAPA offers STLS and not USER, and USER is refused (RFC 2595 §2.1,
/// plaintext passwords need TLS); after the handshake CAPA offers USER and no longer STLS, and
/// USER/PASS logs in.
#[tokio::test(flavor = "multi_thread")]
async fn poplib_stls_then_user_pass() {
    if !installed("python3", "poplib_stls_then_user_pass") {
        return;
    }
    let env = Env::start(false).await;
    let s = poplib(
        &env,
        env.plain_port(),
        &["--tls", "stls", "--probe-plain", "--retr"],
    )
    .await;
    let before = s.capa("CAPA_BEFORE");
    assert!(
        before.contains(&"STLS".to_owned()),
        "CAPA before TLS: {before:?}"
    );
    assert!(
        !before.contains(&"USER".to_owned()),
        "CAPA before TLS: {before:?}"
    );
    let refused = s.text("PLAIN_REFUSED");
    assert!(refused.starts_with("-ERR"), "USER before TLS: {refused}");
    assert!(s.one("TLS")[0].starts_with("TLSv1."), "TLS version");
    let after = s.capa("CAPA");
    assert!(
        after.contains(&"USER".to_owned()),
        "CAPA after TLS: {after:?}"
    );
    assert!(
        !after.contains(&"STLS".to_owned()),
        "CAPA after TLS: {after:?}"
    );
    assert_whole_fixture(&s, true);
}

/// RFC 8314 §3.3 implicit TLS with `POP3_SSL` and the same CA: the certificate verifies for
/// 127.0.0.1, USER/PASS is allowed inside TLS, and the whole fixture (1 MB message included)
/// comes through intact.
#[tokio::test(flavor = "multi_thread")]
async fn poplib_implicit_tls() {
    if !installed("python3", "poplib_implicit_tls") {
        return;
    }
    let env = Env::start(false).await;
    let s = poplib(&env, env.tls_port(), &["--tls", "implicit", "--retr"]).await;
    assert!(s.one("TLS")[0].starts_with("TLSv1."), "TLS version");
    assert!(!s.capa("CAPA").contains(&"STLS".to_owned()));
    assert_whole_fixture(&s, true);
}

/// RFC 1939 §6: messages marked by DELE are removed in the UPDATE state entered by QUIT. The
/// next session has 6 messages, renumbered from 1, without message 2's unique-id, and the
/// Maildir file of message 2 is gone from `cur/`.
#[tokio::test(flavor = "multi_thread")]
async fn poplib_dele_then_quit_expunges() {
    if !installed("python3", "poplib_dele_then_quit_expunges") {
        return;
    }
    let env = Env::start(true).await;
    let first = poplib(&env, env.plain_port(), &["--dele", "2"]).await;
    assert_whole_fixture(&first, false);
    assert!(first.one("DELE")[1].starts_with("+OK"), "DELE 2 answer");
    assert!(first.text("QUIT").starts_with("+OK"), "QUIT answer");

    let second = poplib(&env, env.plain_port(), &[]).await;
    let size2 = wire_size(fixture::MESSAGES[1]);
    assert_eq!(
        second.stat(),
        (6, total_size() - size2),
        "STAT after DELE 2"
    );
    let want: Vec<(u32, u64)> = fixture::MESSAGES
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .enumerate()
        .map(|(k, (_, m))| (k as u32 + 1, wire_size(m)))
        .collect();
    assert_eq!(second.list(), want, "LIST after DELE 2");
    let mut want_uids = first.uids();
    want_uids.remove(1);
    assert_eq!(second.uids(), want_uids, "UIDL after DELE 2");
    env.assert_on_disk_except(&[2]);
}

/// RFC 1939 §6: if the session ends other than by QUIT, the server must not enter UPDATE and
/// must not remove any message. DELE 1 and DELE 3, then the socket is closed without QUIT:
/// the next session still has all 7 messages with the same unique-ids, and every file is
/// still on disk.
#[tokio::test(flavor = "multi_thread")]
async fn poplib_dropped_connection_after_dele_loses_nothing() {
    if !installed(
        "python3",
        "poplib_dropped_connection_after_dele_loses_nothing",
    ) {
        return;
    }
    let env = Env::start(true).await;
    let first = poplib(&env, env.plain_port(), &["--dele", "1,3", "--end", "drop"]).await;
    assert_whole_fixture(&first, false);
    let deles = first.all("DELE");
    assert_eq!(deles.len(), 2);
    assert!(
        deles.iter().all(|d| d[1].starts_with("+OK")),
        "DELE answers"
    );
    assert_eq!(first.all("DROPPED").len(), 1);
    assert!(first.all("QUIT").is_empty());

    // The login retries while the server still holds the lock of the dropped session.
    let second = poplib(&env, env.plain_port(), &["--retr"]).await;
    assert_whole_fixture(&second, true);
    assert_eq!(
        second.uids(),
        first.uids(),
        "unique-ids after the dropped session"
    );
    env.assert_on_disk_except(&[]);
}

// ---- curl ---------------------------------------------------------------------------------

/// Runs curl (ignoring any ~/.curlrc) with `args`, `url` last.
async fn curl(args: &[&str], url: &str) -> Ran {
    let mut all = vec!["-q", "--silent", "--show-error", "--max-time", "50"];
    all.extend_from_slice(args);
    all.push(url);
    run("curl", &os_args(all.iter().copied()), &[]).await
}

fn pop3_url(scheme: &str, port: u16, path: &str) -> String {
    format!("{scheme}://{USER}:{PASSWORD}@127.0.0.1:{port}/{path}")
}

/// RFC 1939 §5 LIST through curl: a URL without a message number makes curl send LIST and
/// print the scan listing, which must be `n size` with the CRLF size of every message.
#[tokio::test(flavor = "multi_thread")]
async fn curl_list_matches_fixture_sizes() {
    if !installed("curl", "curl_list_matches_fixture_sizes") {
        return;
    }
    let env = Env::start(true).await;
    let ran = curl(&[], &pop3_url("pop3", env.plain_port(), ""))
        .await
        .ok();
    let want: String = fixture::MESSAGES
        .iter()
        .enumerate()
        .map(|(i, m)| format!("{} {}\r\n", i + 1, wire_size(m)))
        .collect();
    assert_eq!(ran.stdout_text(), want, "curl LIST output");
}

/// RFC 1939 §3 byte-stuffing through curl: `pop3://…/n` sends RETR n, and curl removes the
/// stuffing dots and the terminator, printing the message with CRLF line ends. Message 3's
/// lines that start with `.` (and the lines `.`, `..`, `...`) must come out exactly as stored;
/// every other message too, including the empty body of 4 and the 1 MB message 5.
#[tokio::test(flavor = "multi_thread")]
async fn curl_retr_returns_each_message_unstuffed() {
    if !installed("curl", "curl_retr_returns_each_message_unstuffed") {
        return;
    }
    let env = Env::start(true).await;
    // message 3 first, then the rest (one session at a time: the maildrop is locked)
    for n in [3, 1, 2, 4, 5, 6, 7] {
        let ran = curl(&[], &pop3_url("pop3", env.plain_port(), &n.to_string()))
            .await
            .ok();
        assert_same_lines(
            &format!("curl RETR {n}"),
            &ran.stdout,
            &crlf(fixture::MESSAGES[n - 1]),
        );
    }
    env.assert_on_disk_except(&[]);
}

/// RFC 8314 §3.3 implicit TLS through curl: `pop3s://` on the implicit-TLS port, verifying the
/// certificate against the CA file (stronger than `--insecure`), with plaintext auth off
/// outside TLS; RETR 1 (the multipart message) matches the fixture.
#[tokio::test(flavor = "multi_thread")]
async fn curl_pop3s_implicit_tls_retr() {
    if !installed("curl", "curl_pop3s_implicit_tls_retr") {
        return;
    }
    let env = Env::start(false).await;
    let ca = env.ca();
    let ran = curl(
        &["--cacert", ca.to_str().unwrap()],
        &pop3_url("pop3s", env.tls_port(), "1"),
    )
    .await
    .ok();
    assert_same_lines(
        "curl pop3s RETR 1",
        &ran.stdout,
        &crlf(fixture::MESSAGES[0]),
    );
}

/// RFC 2595 §4 STLS through curl `--ssl-reqd`, with plaintext auth refused before TLS
/// (RFC 2595 §2.1, RFC 5034 §4) and curl forced to SASL PLAIN. Without `--ssl-reqd` curl
/// cannot log in with PLAIN (the server does not offer it in the clear); with it, curl sends
/// STLS, upgrades, authenticates with PLAIN inside TLS and retrieves message 7.
#[tokio::test(flavor = "multi_thread")]
async fn curl_ssl_reqd_upgrades_with_stls() {
    if !installed("curl", "curl_ssl_reqd_upgrades_with_stls") {
        return;
    }
    let env = Env::start(false).await;
    let ca = env.ca();
    let url = pop3_url("pop3", env.plain_port(), "7");

    let clear = curl(&["--login-options", "AUTH=PLAIN"], &url).await;
    assert!(
        !clear.success && clear.stdout.is_empty(),
        "curl logged in with PLAIN without TLS, but the server refuses plaintext auth\n{}",
        clear.transcript()
    );

    let ran = curl(
        &[
            "--verbose",
            "--ssl-reqd",
            "--cacert",
            ca.to_str().unwrap(),
            "--login-options",
            "AUTH=PLAIN",
        ],
        &url,
    )
    .await
    .ok();
    assert_same_lines("curl STLS RETR 7", &ran.stdout, &crlf(fixture::MESSAGES[6]));
    let log = &ran.stderr;
    let pos = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("curl -v log lacks {needle:?}\n{}", ran.transcript()))
    };
    let stls = pos("> STLS");
    let go = pos("< +OK begin TLS");
    let auth = pos("> AUTH PLAIN");
    let retr = pos("> RETR 7");
    assert!(
        stls < go && go < auth && auth < retr,
        "order of STLS, AUTH, RETR\n{log}"
    );
}

// ---- fetchmail ----------------------------------------------------------------------------

/// Runs fetchmail once with a run-control file polling `port` with `server_options` (after
/// `poll`) and `user_options` (after `user`; always keep, fetchall, and an MDA that stores each
/// message as a file), and returns the run and the delivered messages in order.
async fn fetchmail(
    env: &Env,
    name: &str,
    port: u16,
    server_options: &str,
    user_options: &str,
) -> (Ran, Vec<Vec<u8>>) {
    let home = env.scratch(name);
    let delivered = home.join("delivered");
    std::fs::create_dir(&delivered).unwrap();
    let mda = helper("fetchmail_mda.sh");
    assert!(
        !mda.to_string_lossy().contains(['\'', '"', '\\']),
        "helper path {mda:?} needs quoting"
    );
    let rc = home.join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "set no bouncemail\n\
             poll 127.0.0.1 service {port} protocol pop3 {server_options}\n\
             \x20 user \"{USER}\" there password \"{PASSWORD}\" is \"{USER}\" here\n\
             \x20 keep fetchall {user_options}\n\
             \x20 mda \"/bin/sh '{}' '{}'\"\n",
            mda.display(),
            delivered.display()
        ),
    )
    .unwrap();
    // fetchmail refuses a run-control file others can read
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let args = os_args([
        OsString::from("-f"),
        rc.into_os_string(),
        "--nosyslog".into(),
        "-v".into(),
        // own lock file: as root fetchmail would share /var/run/fetchmail.pid with the
        // other tests' runs and refuse to start
        "--pidfile".into(),
        home.join("fetchmail.pid").into_os_string(),
    ]);
    let ran = run(
        "fetchmail",
        &args,
        &[("HOME", &home), ("FETCHMAILHOME", &home)],
    )
    .await;
    let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir(&delivered)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let n = p
                .file_name()?
                .to_str()?
                .strip_prefix("msg.")?
                .parse()
                .ok()?;
            Some((n, p))
        })
        .collect();
    files.sort();
    let messages = files
        .into_iter()
        .map(|(_, p)| std::fs::read(p).unwrap())
        .collect();
    (ran, messages)
}

/// Removes the `Received:` field fetchmail puts first (with its continuation lines).
fn strip_received(message: &[u8]) -> &[u8] {
    assert!(
        message.starts_with(b"Received: "),
        "fetchmail added no Received: field: {:?}",
        String::from_utf8_lossy(&message[..message.len().min(200)])
    );
    let mut pos = 0;
    loop {
        let end = pos + message[pos..].iter().position(|&b| b == b'\n').unwrap() + 1;
        pos = end;
        if !matches!(message.get(pos), Some(b' ' | b'\t')) {
            return &message[pos..];
        }
    }
}

/// Asserts a fetchmail run that exited 0 and delivered the whole fixture: seven messages,
/// each identical to the fixture file after fetchmail's own `Received:` field (so fetchmail
/// un-stuffed message 3 and turned CRLF back into LF), with `keep` leaving the Maildir as it
/// was.
fn assert_fetched_fixture(env: &Env, ran: &Ran, messages: &[Vec<u8>]) {
    assert!(
        ran.success,
        "fetchmail exited {:?}\n{}",
        ran.code,
        ran.transcript()
    );
    assert_eq!(
        messages.len(),
        7,
        "fetchmail delivered {} messages\n{}",
        messages.len(),
        ran.transcript()
    );
    for (i, m) in messages.iter().enumerate() {
        assert_same_lines(
            &format!("fetchmail message {}", i + 1),
            strip_received(m),
            fixture::MESSAGES[i],
        );
    }
    let log = format!("{}{}", ran.stdout_text(), ran.stderr);
    assert!(
        log.contains("POP3> QUIT"),
        "fetchmail did not QUIT\n{}",
        ran.transcript()
    );
    env.assert_on_disk_except(&[]);
}

/// RFC 1939 through fetchmail with USER/PASS (`auth password`, no TLS): fetchmail sends STAT,
/// LIST n and RETR n for every message and QUITs; all seven messages arrive intact.
#[tokio::test(flavor = "multi_thread")]
async fn fetchmail_user_pass_fetches_the_whole_fixture() {
    if !installed("fetchmail", "fetchmail_user_pass_fetches_the_whole_fixture") {
        return;
    }
    let env = Env::start(true).await;
    let (ran, messages) = fetchmail(
        &env,
        "fm-plain",
        env.plain_port(),
        "auth password",
        "sslproto \"\"",
    )
    .await;
    assert_fetched_fixture(&env, &ran, &messages);
    let log = format!("{}{}", ran.stdout_text(), ran.stderr);
    assert!(log.contains("POP3> USER alice"), "{}", ran.transcript());
}

/// RFC 8314 §3.3 implicit TLS through fetchmail (`ssl`, `sslcertck` against the CA file): the
/// certificate verifies (fetchmail matches DNS names only, so `sslcommonname localhost`), and
/// fetchmail logs in inside TLS with plaintext auth refused outside it.
#[tokio::test(flavor = "multi_thread")]
async fn fetchmail_implicit_tls_fetches_the_whole_fixture() {
    if !installed(
        "fetchmail",
        "fetchmail_implicit_tls_fetches_the_whole_fixture",
    ) {
        return;
    }
    let env = Env::start(false).await;
    let options = format!(
        "ssl sslcertck sslcertfile \"{}\" sslcommonname \"localhost\"",
        env.ca().display()
    );
    let (ran, messages) = fetchmail(&env, "fm-tls", env.tls_port(), "", &options).await;
    assert_fetched_fixture(&env, &ran, &messages);
    let log = format!("{}{}", ran.stdout_text(), ran.stderr);
    assert!(
        log.contains("SSL/TLS: using protocol"),
        "{}",
        ran.transcript()
    );
}

/// RFC 2595 §4 STLS through fetchmail (`sslproto tls1.2+` without `ssl` means: upgrade with
/// STLS or fail): fetchmail sees STLS in CAPA, upgrades, verifies the certificate, and fetches
/// everything.
#[tokio::test(flavor = "multi_thread")]
async fn fetchmail_stls_fetches_the_whole_fixture() {
    if !installed("fetchmail", "fetchmail_stls_fetches_the_whole_fixture") {
        return;
    }
    let env = Env::start(false).await;
    let options = format!(
        "sslproto \"tls1.2+\" sslcertck sslcertfile \"{}\" sslcommonname \"localhost\"",
        env.ca().display()
    );
    let (ran, messages) = fetchmail(&env, "fm-stls", env.plain_port(), "", &options).await;
    assert_fetched_fixture(&env, &ran, &messages);
    let log = format!("{}{}", ran.stdout_text(), ran.stderr);
    assert!(log.contains("POP3> STLS"), "{}", ran.transcript());
    assert!(
        log.contains("upgrade to TLS succeeded"),
        "{}",
        ran.transcript()
    );
}
