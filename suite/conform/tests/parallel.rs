//! Parallelism never changes a verdict: the whole catalogue against the bundled server run
//! serially (one job, one account) and in parallel (16 jobs, the default pool of 4 accounts)
//! gives the same verdict for every case, on the clean server and on servers with a listing,
//! an auth and a state-machine fault.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{conform, run};

/// Each case's verdict in a JSON Lines report (`"event":"case"` lines).
fn verdicts(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).expect("the JSON report");
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "case")
        .map(|v| {
            (
                v["id"].as_str().expect("an id").to_owned(),
                v["verdict"].as_str().expect("a verdict").to_owned(),
            )
        })
        .collect()
}

/// The catalogue with `extra` arguments, once with `--jobs 1 --user demo` and once with
/// `--jobs 16` and the default accounts: the two verdict maps.
fn serial_and_parallel(extra: &[&str]) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    for (name, args) in [
        ("serial", &["--jobs", "1", "--user", "demo"][..]),
        ("parallel", &["--jobs", "16"][..]),
    ] {
        let json = dir.path().join(format!("{name}.jsonl"));
        let (code, stdout, stderr) = run(conform()
            .args(["run", "--timeout", "2", "--json"])
            .arg(&json)
            .args(args)
            .args(extra));
        assert!(
            code == 0 || code == 1,
            "{name} {extra:?}: exit {code}\n{stdout}{stderr}"
        );
        out.push(verdicts(&json));
    }
    let parallel = out.pop().unwrap();
    (out.pop().unwrap(), parallel)
}

fn assert_same(extra: &[&str]) {
    let (serial, parallel) = serial_and_parallel(extra);
    assert!(
        serial.len() > 400,
        "{extra:?}: the whole catalogue ran ({})",
        serial.len()
    );
    let differ: Vec<String> = serial
        .iter()
        .filter(|(id, v)| parallel.get(*id) != Some(v))
        .map(|(id, v)| format!("{id}: serial {v}, parallel {:?}", parallel.get(id)))
        .collect();
    assert!(
        differ.is_empty(),
        "{extra:?}: verdicts differ:\n{}",
        differ.join("\n")
    );
    assert_eq!(serial.len(), parallel.len(), "{extra:?}");
}

#[test]
fn the_clean_server_gets_the_same_verdicts_serial_and_parallel() {
    assert_same(&[]);
}

#[test]
fn a_listing_fault_gets_the_same_verdicts_serial_and_parallel() {
    assert_same(&["--fault", "list-renumbers-after-dele"]);
}

#[test]
fn an_auth_fault_gets_the_same_verdicts_serial_and_parallel() {
    assert_same(&["--fault", "cram-md5-accepts-wrong-digest"]);
}

#[test]
fn a_state_machine_fault_gets_the_same_verdicts_serial_and_parallel() {
    assert_same(&["--fault", "rset-keeps-marks"]);
}
