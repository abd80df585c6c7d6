//! Ten thousand idle connections: what each costs the server (goal: at most 16 KiB of
//! resident memory per idle connection), and that the server still answers a new client at
//! once while they wait.
//!
//! The server runs in this test's process. The clients run in a second process (this same
//! test binary, re-run with `--ignored --exact idle_client_half`), so each process needs
//! only its own 10,000 descriptors; the test raises its soft descriptor limit to what it
//! needs (up to the hard limit), and skips with one loud line when the hard limit is too low.
//! The figure is the growth of this process's resident memory (`VmRSS`) over N.

/// One line on the test process's standard error that `cargo test` does not capture (its
/// capture takes `eprintln!`): a skipped test says so loudly.
macro_rules! loud {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reference_server::maildrop::MemoryStore;
use reference_server::{fixture, Config, RunningServer, Users};

/// Idle connections held open.
const N: usize = 10_000;
/// Descriptors this process needs beyond the N connections (listeners, runtime, harness).
const SPARE: u64 = 512;
/// The goal of issue 16, per idle connection.
const MAX_PER_CONNECTION: u64 = 16 * 1024;

/// This process's resident memory, bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

#[test]
fn ten_thousand_idle_connections_cost_little_and_the_server_still_answers() {
    let need = N as u64 + SPARE;
    match rlimit::increase_nofile_limit(need) {
        Ok(got) if got >= need => {}
        other => {
            loud!(
                "SKIPPED ten_thousand_idle_connections: needs {need} file descriptors, the limit allows {other:?} (raise `ulimit -Hn`)"
            );
            return;
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(async {
        let store = MemoryStore::new();
        fixture::seed_memory(&store, "demo");
        let mut users = Users::new();
        users.insert("demo", "demo-password");
        let mut config = Config::new(users, Arc::new(store));
        config.allow_plaintext_auth = true;
        config.max_connections = N + 16;
        RunningServer::start(config, Some("127.0.0.1:0".parse().unwrap()), None)
            .await
            .expect("bind 127.0.0.1:0")
    });
    let addr = server.plain_addr().expect("a plain listener").to_string();
    // warm the server's paths once so that the baseline includes them
    session(&addr);
    std::thread::sleep(Duration::from_millis(200));
    let before = rss();

    let mut clients = Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--ignored", "--exact", "idle_client_half", "--nocapture"])
        .env("IDLE_CLIENT_HALF", format!("{N} {addr}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the client process");
    let mut out = BufReader::new(clients.stdout.take().expect("stdout"));
    let mut line = String::new();
    let ready = loop {
        line.clear();
        if out.read_line(&mut line).expect("client output") == 0 {
            break None;
        }
        if let Some(n) = line.trim().strip_prefix("ready ") {
            break n.parse::<usize>().ok();
        }
    };
    std::thread::sleep(Duration::from_millis(500));
    let after = rss();
    // the server still answers a new client while the others wait
    let answered = session(&addr);
    let _ = clients.kill();
    let _ = clients.wait();
    drop(server);
    drop(runtime);

    assert_eq!(ready, Some(N), "every connection got its greeting");
    let per = after.saturating_sub(before) / N as u64;
    eprintln!(
        "{N} idle connections: server RSS {} KiB before, {} KiB with them: {:.2} KiB per connection",
        before / 1024,
        after / 1024,
        per as f64 / 1024.0
    );
    assert!(
        per <= MAX_PER_CONNECTION,
        "{per} bytes per idle connection (goal {MAX_PER_CONNECTION})"
    );
    assert!(answered.starts_with("+OK"), "a new client got {answered:?}");
}

/// One whole session (greeting, login, STAT, QUIT) on a fresh connection; STAT's answer.
fn session(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    let mut answer = |s: &mut TcpStream, cmd: &str| {
        if !cmd.is_empty() {
            std::io::Write::write_all(s, format!("{cmd}\r\n").as_bytes()).unwrap();
        }
        line.clear();
        r.read_line(&mut line).expect("an answer");
        line.clone()
    };
    answer(&mut s, "");
    answer(&mut s, "USER demo");
    answer(&mut s, "PASS demo-password");
    let stat = answer(&mut s, "STAT");
    answer(&mut s, "QUIT");
    stat
}

/// The client half of the test above, run by it in its own process: N connections, each
/// greeting read, then held (silent) until the test closes this process's stdin (or kills
/// it: a test that panicked leaves nothing behind).
#[test]
#[ignore = "run by ten_thousand_idle_connections_cost_little_and_the_server_still_answers"]
fn idle_client_half() {
    let spec = std::env::var("IDLE_CLIENT_HALF").expect("run by the idle-connections test");
    let (n, addr) = spec.split_once(' ').expect("N ADDR");
    let n: usize = n.parse().expect("N");
    rlimit::increase_nofile_limit(n as u64 + SPARE).expect("the descriptor limit");
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).expect("connect");
        let mut greeting = [0u8; 256];
        let got = s.read(&mut greeting).expect("greeting");
        assert!(greeting[..got].starts_with(b"+OK"), "a greeting");
        held.push(s);
    }
    println!("ready {}", held.len());
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}
