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
