//! The suite tests itself: `conform selfcheck` runs the catalogue against the reference server
//! with each deliberate defect in turn, and with each permitted variation. Every fault must be
//! caught, every variant must pass, the runs with no fault must pass, and the README's totals
//! must be the ones this run produces. The gaps known today are listed in [`PENDING`], each
//! with what closes it; an entry that is no longer a gap fails the test so that it goes.
//!
//! The console table is written to the test's stderr directly (past libtest's capture, so CI
//! shows it) and to `reports/selfcheck.txt`; the whole table, with every catching case, to
//! `reports/selfcheck.md`. `UPDATE_SELFCHECK=1 cargo test -p conform --test selfcheck`
//! rewrites the README block.

mod common;

use std::io::Write as _;

use common::{conform, root, run};

/// Faults no case catches yet, and variants some case still fails (wrongly), with the work
/// that closes each gap (issue 14). Every other fault must be caught and every other variant
/// must pass; the selfcheck exits 0 only when this list is empty.
const PENDING: &[(&str, &str)] = &[];

fn pending(name: &str) -> bool {
    PENDING.iter().any(|(n, _)| *n == name)
}

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
    let expected_code = if PENDING.is_empty() { 0 } else { 1 };
    assert_eq!(code, expected_code, "selfcheck:\n{out}\n{err}");

    // the clean runs: the three setups (plaintext allowed, refused, implicit TLS for the
    // channel-binding mechanisms), something passed, nothing failed or errored
    let clean: Vec<&str> = out.lines().filter(|l| l.starts_with("no fault")).collect();
    assert_eq!(clean.len(), 3, "{out}");
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
    let row = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{out}"))
            .to_owned()
    };
    let mut missed = 0;
    for name in &rows {
        let row = row(name);
        if pending(name) {
            assert!(
                row.contains(" MISSED "),
                "{name} is caught now: drop it from PENDING\n{row}"
            );
            missed += 1;
        } else {
            assert!(row.contains(" CAUGHT "), "{row}");
        }
    }
    let caught = faults - missed;
    let percent = (100.0 * caught as f64 / faults as f64).round();
    let score = format!("mutation score: {caught}/{faults} faults caught ({percent} %)");
    assert!(out.contains(&score), "{out}");
    // one row per variant: PASS, or FAIL naming the cases, for the pending ones
    let (code, listed_variants, err) = run(conform().args(["selfcheck", "--list-variants"]));
    assert_eq!(code, 0, "{err}");
    let variants: Vec<&str> = listed_variants
        .lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.contains('-'))
        .collect();
    assert!(variants.len() >= 7, "{listed_variants}");
    for name in &variants {
        let row = row(name);
        if pending(name) {
            assert!(
                row.contains(" FAIL "),
                "{name} passes now: drop it from PENDING\n{row}"
            );
        } else {
            assert!(row.contains(" PASS "), "{row}");
        }
    }
    for (name, _) in PENDING {
        assert!(
            rows.contains(name) || variants.contains(name),
            "PENDING names no fault or variant: {name}"
        );
    }

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

#[test]
fn variants_are_listed_with_their_rfc_and_an_unknown_one_is_a_usage_error() {
    let (code, out, err) = run(conform().args(["selfcheck", "--list-variants"]));
    assert_eq!(code, 0, "{err}");
    for name in ["no-capa", "strict-sequencing", "store-rewritten"] {
        assert!(out.contains(name), "{out}");
    }
    assert!(out.contains("permitted by RFC 1939 §7"), "{out}");
    let (code, _, err) = run(conform().args(["selfcheck", "--variant", "no-such-variant"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no-capa"), "{err}");
}

#[test]
fn one_variant_alone_passes_the_catalogue() {
    let (code, out, err) = run(conform().args(["selfcheck", "--variant", "no-resp-codes"]));
    assert_eq!(code, 0, "{out}\n{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with("no-resp-codes"))
        .expect("a row");
    assert!(row.contains(" PASS "), "{row}");
    assert!(out.contains("variants: 1/1 variants pass"), "{out}");
    assert!(!out.contains("mutation score"), "{out}");
}
