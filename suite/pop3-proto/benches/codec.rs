//! Codec throughput: un-stuffing and stuffing a multi-line body, and command parsing.
//! Run with `cargo bench -p pop3-proto`.

#![allow(missing_docs)] // criterion_group! defines an undocumented function

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pop3_proto::multiline::{unstuff, Stuffer};
use pop3_proto::{Command, Limits};

fn body(size: usize) -> Vec<u8> {
    let mut m = Vec::with_capacity(size + 100);
    let mut i = 0u64;
    while m.len() < size {
        if i % 10 == 0 {
            m.extend_from_slice(b".a line that starts with the termination octet\r\n");
        } else {
            m.extend_from_slice(
                format!("line {i:08} of an ordinary message body, about seventy octets\r\n")
                    .as_bytes(),
            );
        }
        i += 1;
    }
    m
}

fn multiline(c: &mut Criterion) {
    let plain = body(10 << 20);
    let wire = Stuffer::stuff_all(&plain);
    let mut g = c.benchmark_group("multiline");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function(BenchmarkId::new("unstuff", "10MiB"), |b| {
        let mut out = Vec::with_capacity(plain.len());
        b.iter(|| {
            out.clear();
            unstuff(&wire, 64 * 1024, &mut out).unwrap();
        })
    });
    g.throughput(Throughput::Bytes(plain.len() as u64));
    g.bench_function(BenchmarkId::new("stuff", "10MiB"), |b| {
        let mut out = Vec::with_capacity(wire.len());
        b.iter(|| {
            out.clear();
            let mut s = Stuffer::new();
            s.feed(&plain, &mut out);
            s.finish(&mut out);
        })
    });
    g.finish();
}

fn commands(c: &mut Criterion) {
    let lines: [&[u8]; 4] = [
        b"STAT",
        b"LIST 17",
        b"TOP 3 10",
        b"APOP mrose c4c9334bac560ecc979e58001b3e22fb",
    ];
    c.bench_function("command/parse", |b| {
        b.iter(|| {
            for l in lines {
                std::hint::black_box(Command::parse(l, &Limits::RFC2449).unwrap());
            }
        })
    });
}

criterion_group!(benches, multiline, commands);
criterion_main!(benches);
