//! Server throughput on loopback: sessions per second (connect, USER/PASS, STAT, QUIT) and
//! RETR of a 10 MB message. Run with `cargo bench -p reference-server`.

#![allow(missing_docs)] // criterion_group! defines an undocumented function

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use reference_server::maildrop::MemoryStore;
use reference_server::{fixture, Config, RunningServer, Users};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const USER: &str = "bench";
const PASSWORD: &str = "bench-password";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn server(store: MemoryStore) -> RunningServer {
    let mut users = Users::new();
    users.insert(USER, PASSWORD);
    let mut c = Config::new(users, Arc::new(store));
    c.allow_plaintext_auth = true;
    RunningServer::start(c, Some("127.0.0.1:0".parse().unwrap()), None)
        .await
        .unwrap()
}

async fn expect_ok(r: &mut BufReader<TcpStream>, line: &mut String) {
    line.clear();
    r.read_line(line).await.unwrap();
    assert!(line.starts_with("+OK"), "{line}");
}

async fn one_session(addr: std::net::SocketAddr) {
    let mut r = BufReader::new(TcpStream::connect(addr).await.unwrap());
    let mut line = String::new();
    expect_ok(&mut r, &mut line).await;
    r.get_mut()
        .write_all(format!("USER {USER}\r\nPASS {PASSWORD}\r\nSTAT\r\nQUIT\r\n").as_bytes())
        .await
        .unwrap();
    for _ in 0..4 {
        expect_ok(&mut r, &mut line).await;
    }
}

fn sessions(c: &mut Criterion) {
    let rt = runtime();
    let store = MemoryStore::new();
    fixture::seed_memory(&store, USER);
    let srv = rt.block_on(server(store));
    let addr = srv.plain_addr().unwrap();
    let mut g = c.benchmark_group("server");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("session connect+USER/PASS+STAT+QUIT", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    one_session(addr).await;
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

fn retr(c: &mut Criterion) {
    let rt = runtime();
    let store = MemoryStore::new();
    let mut m = b"Subject: ten megabytes\n\n".to_vec();
    let mut i = 0u64;
    while m.len() < 10_000_000 {
        m.extend_from_slice(
            format!("{i:08} an ordinary body line of a large message, about 70 octets\n")
                .as_bytes(),
        );
        i += 1;
    }
    let size = pop3_proto::multiline::wire_size(&m);
    store.deliver(USER, m);
    let srv = rt.block_on(server(store));
    let addr = srv.plain_addr().unwrap();
    let mut g = c.benchmark_group("server");
    g.throughput(Throughput::Bytes(size));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("RETR 10MB", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut r =
                    BufReader::with_capacity(1 << 16, TcpStream::connect(addr).await.unwrap());
                let mut line = String::new();
                expect_ok(&mut r, &mut line).await;
                r.get_mut()
                    .write_all(format!("USER {USER}\r\nPASS {PASSWORD}\r\n").as_bytes())
                    .await
                    .unwrap();
                expect_ok(&mut r, &mut line).await;
                expect_ok(&mut r, &mut line).await;
                let mut buf = vec![0u8; 1 << 16];
                let start = Instant::now();
                for _ in 0..iters {
                    r.get_mut().write_all(b"RETR 1\r\n").await.unwrap();
                    // read until the CRLF.CRLF terminator
                    let mut tail = [0u8; 5];
                    loop {
                        let n = r.read(&mut buf).await.unwrap();
                        assert!(n > 0, "server closed during RETR");
                        let chunk = &buf[..n];
                        if n >= 5 {
                            tail.copy_from_slice(&chunk[n - 5..]);
                        } else {
                            tail.rotate_left(n);
                            tail[5 - n..].copy_from_slice(chunk);
                        }
                        if &tail == b"\r\n.\r\n" {
                            break;
                        }
                    }
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

criterion_group!(benches, sessions, retr);
criterion_main!(benches);
