//! The suite tests itself: `conform selfcheck` runs the catalogue against the reference server
//! with each deliberate defect in turn. Every fault must be caught, the runs with no fault must
//! pass, and the README's totals must be the ones this run produces.
//!
//! The console table is written to the test's stderr directly (past libtest's capture, so CI
//! shows it) and to `reports/selfcheck.txt`; the whole table, with every catching case, to
//! `reports/selfcheck.md`. `UPDATE_SELFCHECK=1 cargo test -p conform --test selfcheck`
//! rewrites the README block.

mod common;

use std::io::Write as _;

use common::{conform, root, run};

#[test]
fn every_fault_is_caught_and_the_clean_runs_pass() {
    let (code, listed, err) = run(conform().args(["selfcheck", "--list-faults"]));
    assert_eq!(code, 0, "{err}");
    let faults = common::leading_number(listed.lines().last().expect("a count line"));
    assert!(faults >= 30, "{faults} faults");

    let reports = root().join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let totals_path = dir.path().join("totals.md");
    let (code, out, err) = run(conform()
        .args(["selfcheck", "--markdown"])
        .arg(reports.join("selfcheck.md"))
        .arg("--totals")
        .arg(&totals_path));
    std::fs::write(reports.join("selfcheck.txt"), &out).unwrap();
    let _ = std::io::stderr().write_all(format!("conform selfcheck:\n{out}").as_bytes());
    assert_eq!(code, 0, "selfcheck failed:\n{out}\n{err}");

    // the clean runs: both setups, something passed, nothing failed or errored
    let clean: Vec<&str> = out.lines().filter(|l| l.starts_with("no fault")).collect();
    assert_eq!(clean.len(), 2, "{out}");
    for line in &clean {
        assert!(line.contains(" 0 failed, 0 errors"), "{line}");
        let passed = line
            .split(": ")
            .nth(1)
            .map(common::leading_number)
            .unwrap_or(0);
        assert!(passed > 0, "{line}");
    }
    // one line per fault, each caught, and the score says so
    let rows: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .take(faults)
        .collect();
    for name in &rows {
        let row = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{out}"));
        assert!(row.contains(" CAUGHT "), "{row}");
    }
    let score = format!("mutation score: {faults}/{faults} faults caught (100 %)");
    assert!(out.contains(&score), "{out}");

    let totals = std::fs::read_to_string(&totals_path).unwrap();
    let readme_path = root().join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let fresh = common::with_block(&readme, "selfcheck", &totals)
        .expect("README has the selfcheck markers");
    if std::env::var_os("UPDATE_SELFCHECK").is_some() {
        std::fs::write(&readme_path, &fresh).unwrap();
        return;
    }
    assert!(
        readme == fresh,
        "README selfcheck totals are stale: run `UPDATE_SELFCHECK=1 cargo test -p conform --test selfcheck`\n{totals}"
    );
}

#[test]
fn an_unknown_fault_is_a_usage_error_naming_the_faults() {
    let (code, _, err) = run(conform().args(["selfcheck", "--fault", "no-such-fault"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no-such-fault"), "{err}");
    assert!(err.contains("list-renumbers-after-dele"), "{err}");
}

#[test]
fn one_fault_alone_is_caught_by_the_case_written_for_it() {
    let (code, out, err) = run(conform().args(["selfcheck", "--fault", "stls-remembers-user"]));
    assert_eq!(code, 0, "{out}\n{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with("stls-remembers-user"))
        .expect("a row");
    assert!(row.contains("CAUGHT"), "{row}");
    assert!(
        row.contains("rfc1939/7/pass-after-stls-needs-user"),
        "{row}"
    );
    assert!(
        out.contains("mutation score: 1/1 faults caught (100 %)"),
        "{out}"
    );
}
