//! `conform bench` against the bundled server and `conform serve`: the structure and sanity
//! of the results (never their speed), `--against`, a dead target, an unwritable `--json`.

mod common;

use std::time::{Duration, Instant};

use common::{conform, run, serve};
use serde_json::Value;

/// Short phases: the tests check structure, not speed.
const SHORT: [&str; 4] = ["--duration", "0.3", "--warmup", "0.1"];

fn percentiles_ordered(latency: &Value, what: &str) {
    let n = |k: &str| {
        latency[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{what}: {k} in {latency}"))
    };
    assert!(n("p50") > 0, "{what}: {latency}");
    assert!(
        n("p50") <= n("p90") && n("p90") <= n("p99") && n("p99") <= n("max"),
        "{what}: percentiles out of order: {latency}"
    );
}

/// One side of the JSON report: sessions and RETR counted, percentiles ordered, no failure.
fn check_side(side: &Value) {
    let label = side["label"].as_str().expect("label").to_owned();
    assert!(side["target"].as_str().is_some(), "{side}");
    assert!(side["login"].as_str().is_some(), "{side}");
    let sessions = &side["sessions"];
    assert!(sessions["completed"].as_u64().unwrap() > 0, "{sessions}");
    assert!(sessions["per_second"].as_f64().unwrap() > 0.0, "{sessions}");
    assert!(
        sessions["elapsed_secs"].as_f64().unwrap() >= 0.3,
        "{sessions}"
    );
    percentiles_ordered(&sessions["latency_us"], &format!("{label} sessions"));
    assert_eq!(sessions["errors"]["total"], 0, "{sessions}");
    assert_eq!(sessions["lock_contention"], 0, "{sessions}");
    let retr = &side["retr"];
    assert!(retr["completed"].as_u64().unwrap() > 0, "{retr}");
    assert!(retr["mib_per_second"].as_f64().unwrap() > 0.0, "{retr}");
    // the fixture's largest message is its 1 MB one (scenarios/fixtures/README.md)
    assert!(
        retr["message"]["octets"].as_u64().unwrap() > 1_000_000,
        "{retr}"
    );
    assert!(
        retr["octets"].as_u64().unwrap() >= retr["completed"].as_u64().unwrap() * 1_000_000,
        "{retr}"
    );
    percentiles_ordered(&retr["latency_us"], &format!("{label} RETR"));
    for kind in [
        "total", "connect", "tls", "timeout", "closed", "login", "protocol",
    ] {
        assert_eq!(retr["errors"][kind], 0, "{kind}: {retr}");
    }
}

#[test]
fn the_bundled_server_measured_with_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out/bench.json");
    let (code, stdout, stderr) = run(conform()
        .arg("bench")
        .args(SHORT)
        .args(["--concurrency", "3", "--json"])
        .arg(&json));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for row in ["sessions/s", "latency p99", "RETR MiB/s", "RETR messages/s"] {
        assert!(stdout.contains(row), "{row}: {stdout}");
    }
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["concurrency"], 3);
    assert_eq!(report["duration_secs"], 0.3);
    assert!(report["ratio"].is_null(), "{report}");
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1);
    // one account per worker: no lock contention
    assert_eq!(targets[0]["accounts"], 3);
    check_side(&targets[0]);
    // no temporary file left beside the report
    let left: Vec<_> = std::fs::read_dir(json.parent().unwrap()).unwrap().collect();
    assert_eq!(left.len(), 1, "{left:?}");
}

#[test]
fn an_external_target_against_the_bundled_server_side_by_side() {
    let served = serve(&["--allow-plaintext-auth"]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let (code, stdout, stderr) = run(conform()
        .arg("bench")
        .args(["--target", &served.plain, "--user", "demo"])
        .args(["--password-env", "CONFORM_BENCH_TEST_PASSWORD"])
        .env("CONFORM_BENCH_TEST_PASSWORD", "demo-password")
        .args(SHORT)
        // the served server has one account: one worker, so no lock contention
        .args(["--concurrency", "1", "--against", "bundled", "--json"])
        .arg(&json));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("second/first"), "{stdout}");
    let header = stdout.lines().nth(2).unwrap_or_default();
    assert!(
        header.contains("target") && header.contains("bundled"),
        "{stdout}"
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2, "{report}");
    assert_eq!(targets[0]["label"], "target");
    assert_eq!(targets[1]["label"], "bundled");
    for side in targets {
        check_side(side);
    }
    let ratio = &report["ratio"];
    let expected = targets[1]["sessions"]["per_second"].as_f64().unwrap()
        / targets[0]["sessions"]["per_second"].as_f64().unwrap();
    let got = ratio["sessions_per_second"].as_f64().unwrap();
    assert!((got - expected).abs() < 1e-9 * expected, "{ratio}");
    assert!(
        ratio["retr_mib_per_second"].as_f64().unwrap() > 0.0,
        "{ratio}"
    );
}

#[test]
fn an_unreachable_target_is_exit_3_at_once() {
    // a port that was free a moment ago: nothing listens there
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let (code, stdout, stderr) = run(conform()
        .arg("bench")
        .args(["--target", &format!("127.0.0.1:{port}"), "--user", "x"])
        .env("CONFORM_PASSWORD", "x")
        .args(SHORT));
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}")) && stderr.contains("refused"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    // and as --against: nothing is measured before the preflight of both sides
    let (code, _, stderr) = run(conform()
        .arg("bench")
        .args([
            "--against",
            &format!("127.0.0.1:{port}"),
            "--against-user",
            "x",
        ])
        .args(["--against-password-env", "CONFORM_BENCH_TEST_PASSWORD"])
        .env("CONFORM_BENCH_TEST_PASSWORD", "x")
        .args(SHORT));
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("against"), "{stderr}");
}

#[test]
fn a_json_report_that_cannot_be_written_is_an_error_naming_it() {
    let (code, stdout, stderr) =
        run(conform()
            .arg("bench")
            .args(SHORT)
            .args(["--concurrency", "1", "--json", "/dev/full"]));
    assert_eq!(code, 4, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("/dev/full") && stderr.contains("No space left"),
        "{stderr}"
    );
    // a folder that cannot be made fails before anything is measured
    let started = Instant::now();
    let (code, stdout, stderr) = run(conform()
        .arg("bench")
        .args(["--json", "/dev/null/bench.json"]));
    assert_eq!(code, 4, "{stdout}\n{stderr}");
    assert!(stderr.contains("/dev/null/bench.json"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn usage_errors() {
    let (code, _, stderr) = run(conform().args(["bench", "--against-user", "x"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("need --against"), "{stderr}");
    // the bundled server's generated accounts are not for another server
    let (code, _, stderr) = run(conform().args(["bench", "--against", "127.0.0.1:1"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--against-user"), "{stderr}");
    let (code, _, stderr) = run(conform().args(["bench", "--expect", "TOP"]));
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = run(conform().args(["bench", "--duration", "soon"]));
    assert_eq!(code, 2, "{stderr}");
    let (code, stdout, _) = run(conform().args(["bench", "--help"]));
    assert_eq!(code, 0);
    assert!(
        stdout.contains("Examples:") && stdout.contains("--against"),
        "{stdout}"
    );
}

#[test]
fn a_target_that_dies_during_the_bench_ends_it_with_exit_3() {
    let served = serve(&["--allow-plaintext-auth"]);
    let target = served.plain.clone();
    // killed (on drop) half a second into a 20-second phase
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        drop(served);
    });
    let started = Instant::now();
    let (code, stdout, stderr) = run(conform()
        .arg("bench")
        .args(["--target", &target, "--user", "demo"])
        .env("CONFORM_PASSWORD", "demo-password")
        .args(["--concurrency", "2", "--duration", "20", "--warmup", "0"]));
    killer.join().unwrap();
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(stderr.contains("stopped answering"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}
