//! `conform fuzz` against the bundled server: bounded, clean on the reference server, and for
//! faults of the self-check a finding whose saved scenario reproduces it (failing with the
//! fault, passing without).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{conform, run};

/// The last line: `N sequences, N sessions, N commands in Xs (N commands/s), N finding(s)`.
fn summary(out: &str) -> &str {
    out.lines().last().unwrap_or("")
}

#[test]
fn clean_on_the_bundled_server_and_bounded_in_time() {
    let started = Instant::now();
    let (code, out, err) = run(conform().args(["fuzz", "--duration", "15", "--seed", "3"]));
    let took = started.elapsed();
    assert_eq!(code, 0, "{out}{err}");
    let last = summary(&out);
    assert!(last.ends_with(" 0 finding(s)"), "{out}");
    assert!(common::leading_number(last) > 50, "{last}");
    // it stops by itself: the duration plus start-up, nothing more
    assert!(took < Duration::from_secs(40), "{took:?}");
    println!("{last}");
}

fn finds(fault: &str, dir: &Path) {
    let out_dir = dir.join(fault);
    let (code, out, err) = run(conform()
        .args([
            "fuzz",
            "--duration",
            "40",
            "--seed",
            "1",
            "--max-findings",
            "1",
        ])
        .args(["--timeout", "2", "--fault", fault])
        .arg("--out")
        .arg(&out_dir));
    assert_eq!(code, 1, "{fault}: no finding:\n{out}{err}");
    assert!(summary(&out).ends_with(" 1 finding(s)"), "{out}");
    let file = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .expect("a scenario");
    let (code, replay, err) =
        run(conform()
            .arg("run")
            .arg(&file)
            .args(["--fault", fault, "--timeout", "2"]));
    assert_eq!(
        code, 1,
        "{fault}: the scenario does not reproduce it:\n{replay}{err}"
    );
    let (code, clean, err) = run(conform().arg("run").arg(&file));
    assert_eq!(
        code, 0,
        "{fault}: the scenario fails the clean server:\n{clean}{err}"
    );
    println!(
        "{fault}: {}",
        out.lines().find(|l| l.starts_with("FINDING")).unwrap_or("")
    );
}

#[test]
fn finds_faults_and_the_scenarios_reproduce_them() {
    let dir = tempfile::tempdir().unwrap();
    std::thread::scope(|s| {
        for fault in [
            "overlong-error-lines",
            "err-without-dash",
            "stls-executes-pipelined-plaintext",
            "message-zero-accepted",
        ] {
            let dir = dir.path();
            s.spawn(move || finds(fault, dir));
        }
    });
}
