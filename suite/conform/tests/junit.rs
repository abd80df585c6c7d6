//! The JUnit report read by a real JUnit consumer (python `junitparser`, from the venv
//! `.ci/run` makes; the test skips loudly without it): every case is there with its RFC-section classname, its transcript in
//! system-out, and the suite properties (target, suite version, scenario digest); the
//! consumer's counts equal the report's attributes and conform's summary.

mod common;

use std::process::Command;

use common::{conform, root, run};

/// The python that has `junitparser` (`.ci/run` makes a venv with it and names it in
/// `CONFORM_PYTHON`; else `python3`), or `None` — the test then skips with one loud line:
/// tests install nothing themselves.
fn junitparser() -> Option<String> {
    let python = std::env::var("CONFORM_PYTHON").unwrap_or_else(|_| "python3".into());
    let has = Command::new(&python)
        .args(["-c", "import junitparser"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has {
        return Some(python);
    }
    eprintln!(
        "SKIPPED junitparser_reads_the_report: {python} cannot import junitparser (.ci/run makes a venv with it: CONFORM_PYTHON)"
    );
    None
}

#[test]
fn junitparser_reads_the_report_and_its_counts_match() {
    let Some(python) = junitparser() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("report.xml");
    // a run with failures, skips and passes: the bundled server with a defect
    let (code, out, err) = run(conform()
        .args(["run", "--fault", "list-renumbers-after-dele", "--junit"])
        .arg(&xml));
    assert_eq!(code, 1, "{out}{err}");
    let last = out.lines().last().unwrap();
    let number = |word: &str| {
        last.split(", ")
            .find(|p| p.ends_with(word))
            .map(common::leading_number)
            .unwrap_or(0)
    };
    // JUnit has one kind of skip: not applicable and blocked cases are written as skipped
    let (passed, failed) = (number("passed"), number("failed"));
    let skipped = number("skipped") + number("not applicable") + number("blocked");
    assert!(failed > 0 && passed > 0 && skipped > 0, "{last}");

    let seen = Command::new(&python)
        .arg(root().join("suite/conform/tests/junit/check.py"))
        .arg(&xml)
        .output()
        .expect("python3 runs");
    assert!(
        seen.status.success(),
        "junitparser could not read it: {}",
        String::from_utf8_lossy(&seen.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&seen.stdout).unwrap();
    assert_eq!(v["tests"], passed + failed + skipped, "{last}");
    assert_eq!(v["failures"], failed, "{last}");
    assert_eq!(v["skipped"], skipped, "{last}");
    assert_eq!(v["errors"], 0);
    let suites = v["suites"].as_array().unwrap();
    assert!(suites.len() >= 8, "a suite per RFC");
    for s in suites {
        let cases = s["cases"].as_array().unwrap();
        assert_eq!(s["tests"], cases.len(), "{}", s["name"]);
        let props = &s["properties"];
        assert!(
            props["target"].as_str().unwrap().starts_with("pop3://"),
            "{props}"
        );
        assert_eq!(props["suite-version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            props["scenario-digest"].as_str().unwrap().len(),
            32,
            "{props}"
        );
        let rfc = s["name"].as_str().unwrap().trim_start_matches("RFC ");
        for c in cases {
            let class = c["classname"].as_str().unwrap();
            assert!(
                class.starts_with(&format!("rfc{rfc}")),
                "{class} in RFC {rfc}"
            );
            let ran = c["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r != "Skipped");
            if ran {
                assert!(c["system_out"].as_str().unwrap().contains("S: +OK"), "{c}");
            }
        }
    }
    // the report names the cases that failed, and the transcript shows the wrong line
    let failing: Vec<&serde_json::Value> = suites
        .iter()
        .flat_map(|s| s["cases"].as_array().unwrap())
        .filter(|c| {
            c["results"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "Failure")
        })
        .collect();
    assert_eq!(failing.len(), failed);
    assert!(failing.iter().any(|c| c["name"]
        .as_str()
        .unwrap()
        .starts_with("rfc1939/5/dele-leaves-gaps")));
}
