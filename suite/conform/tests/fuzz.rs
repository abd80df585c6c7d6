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

/// The lines of a fuzzing run that must not depend on the number of jobs: the findings, what
/// each shrank to, and the digest of the sequences generated. The unique-ids the bundled
/// server gives (`mem000123`) are left out: one counter serves every account, so they
/// depend on the order in which the jobs restored their maildrops.
fn verdict_lines(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| {
            l.starts_with("FINDING ")
                || l.starts_with("shrunk to ")
                || l.contains("sequences digest")
        })
        .map(|l| without_uids(l.split(" jobs, ").last().unwrap_or(l)))
        .collect()
}

/// `line` with every `memNNNNNN` unique-id written `mem*`.
fn without_uids(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("mem") {
        out.push_str(&rest[..at + 3]);
        rest = &rest[at + 3..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            out.push('*');
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

/// Bounded by `--sequences`, sequence `i` comes from (seed, i): one job or four, the same
/// sequences (their digest) and the same findings, shrunk the same way.
#[test]
fn jobs_change_nothing_but_the_speed() {
    let dir = tempfile::tempdir().unwrap();
    let fuzz = |jobs: &str, fault: &str| {
        let mut c = conform();
        c.args([
            "fuzz",
            "--sequences",
            "400",
            "--duration",
            "600",
            "--seed",
            "2",
        ])
        .args(["--max-findings", "3", "--timeout", "2", "--jobs", jobs])
        .arg("--out")
        .arg(dir.path().join(format!("{fault}-{jobs}")));
        if fault != "clean" {
            c.args(["--fault", fault]);
        }
        let (code, out, err) = run(&mut c);
        (code, format!("{out}{err}"))
    };
    for fault in ["clean", "err-without-dash", "message-zero-accepted"] {
        let (code1, out1) = fuzz("1", fault);
        let (code4, out4) = fuzz("4", fault);
        let want = if fault == "clean" { 0 } else { 1 };
        assert_eq!((code1, code4), (want, want), "{out1}\n{out4}");
        let lines1 = verdict_lines(&out1);
        // the digest, and a FINDING and a "shrunk to" line per finding
        assert!(lines1.len() > 2 * want as usize, "{out1}");
        assert_eq!(lines1, verdict_lines(&out4), "{fault}:\n{out1}\n{out4}");
        if fault == "clean" {
            assert!(summary(&out1).starts_with("400 sequences"), "{out1}");
        }
        assert!(out4.contains("4 jobs, sequences digest"), "{out4}");
    }
}

/// A finding whose scenario cannot be written is exit 4, naming the path and the OS error,
/// after the findings are printed; never exit 0 or 1.
#[test]
fn an_unwritable_out_is_exit_4_naming_the_path() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let under_a_file = file.path().join("fuzz");
    for out in [Path::new("/dev/full/fuzz"), under_a_file.as_path()] {
        let (code, stdout, err) = run(conform()
            .args([
                "fuzz",
                "--duration",
                "40",
                "--seed",
                "1",
                "--max-findings",
                "1",
            ])
            .args(["--timeout", "2", "--fault", "err-without-dash", "--out"])
            .arg(out));
        assert_eq!(code, 4, "{stdout}{err}");
        assert!(stdout.contains("FINDING 1"), "{stdout}");
        assert!(err.contains(&out.display().to_string()), "{err}");
        assert!(err.contains("Not a directory"), "{err}");
    }
}
