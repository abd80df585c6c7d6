//! The whole catalogue: every case passes against the bundled server (in at least one TLS
//! mode, and fails in none), and the coverage matrix is complete and current.

mod common;

use std::collections::BTreeMap;

use common::{conform, root, run, serve};

/// The verdict word and id of each console result line (`PASS  MUST    id ...`).
fn verdicts(out: &str) -> BTreeMap<String, (String, String)> {
    let mut v = BTreeMap::new();
    for line in out.lines() {
        let Some(tag) = ["PASS", "FAIL", "SKIP", "ERROR", "KNOWN", "N/A", "BLOCKED"]
            .into_iter()
            .find(|t| line.starts_with(t))
        else {
            continue;
        };
        let mut words = line.split_whitespace();
        let (_, _, id) = (words.next(), words.next(), words.next());
        let rest = line.splitn(4, char::is_whitespace).last().unwrap_or("");
        v.insert(
            id.expect("an id").to_owned(),
            (tag.to_owned(), rest.to_owned()),
        );
    }
    v
}

#[test]
fn every_case_passes_against_the_bundled_server_in_some_mode_and_fails_in_none() {
    let (_, listed, _) = run(conform().arg("list"));
    let total = listed.lines().count() - 1;
    let mut passed_somewhere: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for mode in ["none", "starttls", "implicit"] {
        let (code, out, err) =
            run(conform().args(["run", "--status-level", "pass", "--tls", mode]));
        assert_eq!(code, 0, "--tls {mode}: {out}{err}");
        let v = verdicts(&out);
        assert_eq!(v.len(), total, "--tls {mode}: one line per case");
        for (id, (tag, rest)) in &v {
            assert!(
                tag == "PASS" || tag == "SKIP" || tag == "N/A",
                "--tls {mode}: {id} {tag} {rest}\n{out}"
            );
            if tag == "PASS" {
                passed_somewhere.entry(id.clone()).or_default().push(mode);
            }
        }
        let last = out.lines().last().unwrap();
        assert!(last.contains(" passed, 0 failed, "), "--tls {mode}: {last}");
    }
    // `conform serve` as shipped refuses plaintext logins before TLS (RFC 2595 §2.3, RFC
    // 5034 §4): the cases for such a server run there
    let served = serve(&[]);
    let (code, out, err) = run(conform()
        .args([
            "run",
            "--status-level",
            "pass",
            "--target",
            &served.plain,
            "--user",
            "demo",
            "--insecure",
        ])
        .env("CONFORM_PASSWORD", "demo-password"));
    assert_eq!(code, 0, "serve without --allow-plaintext-auth: {out}{err}");
    for (id, (tag, rest)) in verdicts(&out) {
        assert!(
            tag == "PASS" || tag == "SKIP" || tag == "N/A",
            "plaintext refused: {id} {tag} {rest}\n{out}"
        );
        if tag == "PASS" {
            passed_somewhere
                .entry(id)
                .or_default()
                .push("plaintext refused");
        }
    }
    let ids: Vec<&str> = listed
        .lines()
        .take(total)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let never: Vec<&&str> = ids
        .iter()
        .filter(|id| !passed_somewhere.contains_key(**id))
        .collect();
    assert!(never.is_empty(), "cases that pass in no mode: {never:?}");
    assert_eq!(passed_somewhere.len(), total);
}

/// The matrix is generated: `scenarios/COVERAGE.md` and the README's totals must equal what
/// `conform coverage` produces now (`UPDATE_COVERAGE=1 cargo test` rewrites them), every
/// case links to a catalogued requirement, every testable MUST and SHOULD has a case, and
/// there are at least 300 cases.
#[test]
fn coverage_matrix_is_complete_and_current() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("COVERAGE.md");
    let (code, out, err) = run(conform().args(["coverage", "--markdown"]).arg(&md));
    assert_eq!(code, 0, "gaps or strays:\n{err}\n{out}");
    let cases: usize = common::leading_number(out.lines().last().unwrap());
    assert!(cases >= 300, "{cases} cases");
    let generated = std::fs::read_to_string(&md).unwrap();
    let (_, totals, _) = run(conform().args(["coverage", "--totals"]));
    let readme_path = root().join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let fresh_readme =
        common::with_block(&readme, "coverage", &totals).expect("README has the coverage markers");
    let committed_path = root().join("scenarios/COVERAGE.md");
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    if std::env::var_os("UPDATE_COVERAGE").is_some() {
        std::fs::write(&committed_path, &generated).unwrap();
        std::fs::write(&readme_path, &fresh_readme).unwrap();
        return;
    }
    assert!(
        committed == generated,
        "scenarios/COVERAGE.md is stale: run `UPDATE_COVERAGE=1 cargo test -p conform --test catalogue`"
    );
    assert!(
        readme == fresh_readme,
        "README coverage totals are stale: run `UPDATE_COVERAGE=1 cargo test -p conform --test catalogue`\n{totals}"
    );
}

/// Every `after:` of the catalogue names a case of the catalogue (a file loaded on its own may
/// name prerequisites elsewhere, so loading does not check it).
#[test]
fn every_prerequisite_is_a_case() {
    let cases = scenario::load_paths(&[common::root().join("scenarios")]).expect("compiles");
    let unknown = scenario::unknown_prerequisites(&cases);
    assert!(unknown.is_empty(), "{unknown:?}");
    assert!(cases.iter().any(|c| !c.after.is_empty()));
}

/// A pure RFC 1939 server (no CAPA, no TLS, no SASL; USER/PASS, APOP, TOP and UIDL work):
/// the runner probes what CAPA would have said, so nearly every RFC 1939 case runs, and
/// none fails (issue 14: at least 85 %).
#[test]
fn a_server_without_capa_runs_the_rfc1939_cases() {
    let (code, out, err) =
        run(conform().args(["run", "--variant", "no-capa", "--filter", "rfc:1939"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("CAPA: not implemented"), "{out}");
    for probed in ["TOP: probed", "UIDL: probed", "USER: probed"] {
        assert!(out.contains(probed), "{probed}: {out}");
    }
    let total = common::leading_number(
        out.lines()
            .next()
            .unwrap()
            .trim_start_matches("conform: running "),
    );
    let last = out.lines().last().unwrap();
    let passed = common::leading_number(last);
    assert!(
        last.starts_with(&format!("{passed} passed, 0 failed")),
        "{last}"
    );
    assert!(
        passed * 100 >= total * 85,
        "{passed} of {total} RFC 1939 cases ran: {out}"
    );
}
