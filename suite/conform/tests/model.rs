//! `conform model` against the bundled server: it passes clean, and for every self-check fault
//! that touches the state machine or the listings it finds the fault, shrinks it, and writes a
//! scenario that `conform run` replays: failing against the faulty server, passing against the
//! clean one.

mod common;

use std::path::{Path, PathBuf};

use common::{conform, run};

/// The faults of `area` ("state machine", "listings"), from `conform selfcheck --list-faults`.
fn faults_in(areas: &[&str]) -> Vec<String> {
    let (code, out, err) = run(conform().args(["selfcheck", "--list-faults"]));
    assert_eq!(code, 0, "{err}");
    out.lines()
        .filter(|l| {
            let area = l.get(36..).unwrap_or_default().trim_start();
            areas.iter().any(|a| area.starts_with(a))
        })
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn scenario_in(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[test]
fn passes_against_the_bundled_server() {
    let (code, out, err) = run(conform().args(["model", "--cases", "200", "--seed", "5"]));
    assert_eq!(code, 0, "{out}{err}");
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("passed: "), "{out}");
    let sequences = common::leading_number(last.trim_start_matches("passed: "));
    assert!(sequences >= 200, "{last}");
    // the same seed, the same run
    let (_, again, _) = run(conform().args(["model", "--cases", "200", "--seed", "5"]));
    let commands = |o: &str| {
        o.lines()
            .last()
            .and_then(|l| l.split(", ").nth(1).map(common::leading_number))
    };
    assert_eq!(commands(&out), commands(&again), "{out}\n{again}");
    println!("{last}");
}

/// The variants of the bundled server, from `conform selfcheck --list-variants`.
fn variants() -> Vec<String> {
    let (code, out, err) = run(conform().args(["selfcheck", "--list-variants"]));
    assert_eq!(code, 0, "{err}");
    out.lines()
        .filter(|l| !l.starts_with(' ') && !l.ends_with(" variants"))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Every variant is a choice the RFCs leave to the server: the model must pass it (a model
/// that fails one gives a verdict that is not true). `store-rewritten` changes every size
/// between sessions: the model predicts no session's sizes from another's.
#[test]
fn passes_against_every_permitted_variant() {
    let variants = variants();
    assert!(variants.len() >= 7, "{variants:?}");
    assert!(
        variants.iter().any(|v| v == "store-rewritten"),
        "{variants:?}"
    );
    let results: Vec<(String, i32, String)> = std::thread::scope(|s| {
        let jobs: Vec<_> = variants
            .iter()
            .map(|v| {
                s.spawn(move || {
                    let (code, out, err) = run(conform().args([
                        "model",
                        "--variant",
                        v,
                        "--cases",
                        "100",
                        "--seed",
                        "3",
                        "--out",
                        "/nonexistent/no-scenario-expected",
                    ]));
                    (v.clone(), code, format!("{out}{err}"))
                })
            })
            .collect();
        jobs.into_iter()
            .map(|j| j.join().expect("a job panicked"))
            .collect()
    });
    let failed: Vec<String> = results
        .iter()
        .filter(|(_, code, _)| *code != 0)
        .map(|(v, code, out)| format!("{v}: exit {code}\n{out}"))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    for (v, _, out) in &results {
        println!("{v}: {}", out.lines().last().unwrap_or_default());
    }
}

#[test]
fn finds_every_state_and_listing_fault_and_the_scenario_reproduces_it() {
    let faults = faults_in(&["state machine", "listings"]);
    assert!(faults.len() >= 18, "{faults:?}");
    let dir = tempfile::tempdir().unwrap();
    let results: Vec<Result<String, String>> = std::thread::scope(|s| {
        let chunks: Vec<Vec<String>> = faults.chunks(6).map(<[String]>::to_vec).collect();
        let jobs: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let dir = dir.path();
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|f| check_fault(dir, f))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        jobs.into_iter()
            .flat_map(|j| j.join().expect("a job panicked"))
            .collect()
    });
    let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    for ok in results.iter().flatten() {
        println!("{ok}");
    }
    assert!(
        failed.is_empty(),
        "{}",
        failed
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

/// The model logs in with SCRAM where it is announced: it checks the server's nonce and
/// signature, and its scenario replays the exchange.
#[test]
fn finds_the_scram_faults_the_logins_meet() {
    let dir = tempfile::tempdir().unwrap();
    for fault in ["scram-wrong-server-signature", "scram-nonce-not-extended"] {
        match check_fault(dir.path(), fault) {
            Ok(found) => println!("{found}"),
            Err(e) => panic!("{e}"),
        }
    }
}

/// The model finds `fault`; its scenario fails with the fault and passes without it.
fn check_fault(dir: &Path, fault: &str) -> Result<String, String> {
    let out_dir = dir.join(fault);
    let (code, out, err) = run(conform()
        .args(["model", "--cases", "1000", "--seed", "11", "--fault", fault])
        .arg("--out")
        .arg(&out_dir));
    if code != 1 || !out.contains("scenario: ") {
        return Err(format!(
            "{fault}: the model did not find it (exit {code}):\n{out}{err}"
        ));
    }
    let steps = out
        .lines()
        .find_map(|l| l.strip_prefix("shrunk to "))
        .map(common::leading_number)
        .unwrap_or(usize::MAX);
    let file = scenario_in(&out_dir);
    let (code, replay, err) = run(conform().arg("run").arg(&file).args(["--fault", fault]));
    if code != 1 || !replay.contains("0 passed, 1 failed") {
        return Err(format!(
            "{fault}: the scenario does not reproduce it (exit {code}):\n{replay}{err}\n{}",
            std::fs::read_to_string(&file).unwrap_or_default()
        ));
    }
    let (code, clean, err) = run(conform().arg("run").arg(&file));
    if code != 0 || !clean.contains("1 passed, 0 failed") {
        return Err(format!(
            "{fault}: the scenario fails the clean server too (exit {code}):\n{clean}{err}\n{}",
            std::fs::read_to_string(&file).unwrap_or_default()
        ));
    }
    Ok(format!(
        "{fault}: found, shrunk to {steps} steps, scenario reproduces it"
    ))
}

#[test]
fn a_dead_target_is_exit_3_and_bad_options_exit_2() {
    let (code, _, err) = run(conform()
        .args([
            "model",
            "--target",
            "127.0.0.1:1",
            "--user",
            "x",
            "--cases",
            "2",
        ])
        .env("CONFORM_PASSWORD", "x"));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");
    let (code, _, err) = run(conform().args(["model", "--sessions", "3"]));
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(conform().args([
        "model",
        "--target",
        "127.0.0.1:1",
        "--fault",
        "rset-keeps-marks",
    ]));
    assert_eq!(code, 2, "{err}");
}

/// The lines of a model run that must not depend on the number of jobs: the failure, the
/// shrunk sequence, the divergence and the digest of the sequences generated (the summary's
/// timing and the transcript's clock are left out).
fn verdict_lines(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| {
            l.starts_with("FAIL:") || l.starts_with("shrunk to ") || l.starts_with("divergence:")
        })
        .map(str::to_owned)
        .chain(
            out.lines()
                .last()
                .and_then(|l| l.split("sequences digest ").nth(1))
                .map(|d| format!("digest {d}")),
        )
        .collect()
}

/// Sequence `i` comes from (seed, i): one job or four, the same sequences (their digest),
/// the same failure, shrunk to the same sequence, and the same scenario.
#[test]
fn jobs_change_nothing_but_the_speed() {
    let dir = tempfile::tempdir().unwrap();
    let model = |jobs: &str, fault: Option<&str>| {
        let out_dir = dir
            .path()
            .join(format!("{jobs}-{}", fault.unwrap_or("clean")));
        let mut c = conform();
        c.args(["model", "--cases", "300", "--seed", "11", "--jobs", jobs])
            .arg("--out")
            .arg(&out_dir);
        if let Some(f) = fault {
            c.args(["--fault", f]);
        }
        let (code, out, err) = run(&mut c);
        let scenario = std::fs::read_dir(&out_dir)
            .ok()
            .and_then(|mut d| d.next())
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap());
        (code, verdict_lines(&out), scenario, format!("{out}{err}"))
    };
    let (code1, lines1, none, out1) = model("1", None);
    let (code4, lines4, _, out4) = model("4", None);
    assert_eq!((code1, code4), (0, 0), "{out1}\n{out4}");
    assert!(none.is_none(), "{out1}");
    assert_eq!(lines1.len(), 1, "{out1}");
    assert_eq!(lines1, lines4, "{out1}\n{out4}");
    assert!(out4.contains(", 4 job(s)"), "{out4}");
    for fault in ["rset-keeps-marks", "list-renumbers-after-dele"] {
        let (code1, lines1, scenario1, out1) = model("1", Some(fault));
        let (code4, lines4, scenario4, out4) = model("4", Some(fault));
        assert_eq!((code1, code4), (1, 1), "{out1}\n{out4}");
        assert_eq!(lines1.len(), 4, "{out1}");
        assert_eq!(lines1, lines4, "{fault}:\n{out1}\n{out4}");
        assert!(scenario1.is_some(), "{out1}");
        assert_eq!(scenario1, scenario4, "{fault}");
    }
}

/// A scenario that cannot be written is exit 4 (a report not written), naming the path and
/// the OS error, after the failure is printed; never exit 0 or 1.
#[test]
fn an_unwritable_out_is_exit_4_naming_the_path() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let under_a_file = file.path().join("model");
    for out in [Path::new("/dev/full/model"), under_a_file.as_path()] {
        let (code, stdout, err) = run(conform()
            .args(["model", "--cases", "300", "--seed", "11"])
            .args(["--fault", "rset-keeps-marks", "--out"])
            .arg(out));
        assert_eq!(code, 4, "{stdout}{err}");
        assert!(stdout.contains("divergence:"), "{stdout}");
        assert!(err.contains(&out.display().to_string()), "{err}");
        assert!(err.contains("Not a directory"), "{err}");
    }
}

/// A target with one `--user` has one account: more than one job is a usage error, before
/// anything is sent.
#[test]
fn more_jobs_than_accounts_is_exit_2() {
    let (code, _, err) = run(conform()
        .args([
            "model",
            "--target",
            "127.0.0.1:1",
            "--user",
            "x",
            "--jobs",
            "2",
        ])
        .env("CONFORM_PASSWORD", "x"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--jobs 2 needs 2 accounts"), "{err}");
    let (code, _, err) = run(conform().args(["model", "--jobs", "0"]));
    assert_eq!(code, 2, "{err}");
}
