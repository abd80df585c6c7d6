//! How much memory an idle connection costs the reference server (issue 16's goal: at most
//! 16 KiB). Run with `cargo run --release -p reference-server --example idle_memory [N]`.
//!
//! The server runs in this process; a second copy of this program (`client N ADDR`) opens N
//! plain connections, reads each greeting and then holds them open without a word, so each
//! process needs only its own N file descriptors. The server's resident memory (VmRSS from
//! `/proc/self/status`) is read before the clients connect and once they all wait; the
//! difference over N is the cost of one idle connection.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reference_server::maildrop::MemoryStore;
use reference_server::{fixture, Config, RunningServer, Users};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("client") {
        client(args[2].parse().expect("N"), &args[3]);
        return;
    }
    let n: usize = args.get(1).map_or(10_000, |a| a.parse().expect("N"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(async {
        let store = MemoryStore::new();
        fixture::seed_memory(&store, "demo");
        let mut users = Users::new();
        users.insert("demo", "demo-password");
        let mut config = Config::new(users, Arc::new(store));
        config.max_connections = n + 16;
        RunningServer::start(config, Some("127.0.0.1:0".parse().unwrap()), None)
            .await
            .expect("bind")
    });
    let addr = server.plain_addr().expect("a plain listener").to_string();
    std::thread::sleep(Duration::from_millis(200));
    let before = rss_kib();
    let mut child = Command::new(&args[0])
        .args(["client", &n.to_string(), &addr])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the client process");
    let mut ready = String::new();
    BufReader::new(child.stdout.as_mut().expect("stdout"))
        .read_line(&mut ready)
        .expect("the client says when all are connected");
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib();
    let per = (after.saturating_sub(before) * 1024) as f64 / n as f64;
    println!(
        "{n} idle connections: server RSS {before} KiB before, {after} KiB with them: {:.1} KiB per connection",
        per / 1024.0
    );
    let _ = child.kill();
    let _ = child.wait();
    drop(server);
}

/// The client side: N connections, each greeting read, then held until killed.
fn client(n: usize, addr: &str) {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).expect("connect");
        let mut greeting = [0u8; 256];
        let _ = s.read(&mut greeting).expect("greeting");
        held.push(s);
    }
    println!("ready {}", held.len());
    std::thread::sleep(Duration::from_secs(600));
}

/// This process's resident memory, KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
