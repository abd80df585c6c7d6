//! The JUnit report read by a real JUnit consumer (python `junitparser`, installed with pip
//! when missing): every case is there with its RFC-section classname, its transcript in
//! system-out, and the suite properties (target, suite version, scenario digest); the
//! consumer's counts equal the report's attributes and conform's summary.

mod common;

use std::process::Command;

use common::{conform, root, run};

/// Makes sure `junitparser` can be imported (pip install when missing).
fn junitparser() {
    let has = |py: &str| {
        Command::new("python3")
            .args(["-c", py])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has("import junitparser") {
        return;
    }
    let installed = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "junitparser"])
        .output()
        .expect("python3 runs");
    if !installed.status.success()
        && std::env::var("CONFORM_SKIP_JUNITPARSER").as_deref() != Ok("1")
    {
        panic!(
            "junitparser could not be installed (`python3 -m pip install junitparser`): {}\nset CONFORM_SKIP_JUNITPARSER=1 to skip",
            String::from_utf8_lossy(&installed.stderr)
        );
    }
    assert!(
        has("import junitparser"),
        "junitparser still not importable"
    );
}

#[test]
fn junitparser_reads_the_report_and_its_counts_match() {
    junitparser();
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

    let seen = Command::new("python3")
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
