//! `conform probe`: what it shows of the bundled server and of an external one, that it
//! changes nothing on the target (no DELE, no --reseed-cmd), and how it ends when the
//! certificate does not verify or the target cannot be reached.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{conform, run};

/// Every file of a Maildir (new/, cur/) with its size: what a DELE or a reseed would change.
fn maildir_files(dir: &Path) -> BTreeMap<String, u64> {
    let mut files = BTreeMap::new();
    for sub in ["new", "cur", "tmp"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries {
            let e = e.unwrap();
            files.insert(
                format!("{sub}/{}", e.file_name().to_string_lossy()),
                e.metadata().unwrap().len(),
            );
        }
    }
    files
}

/// Against the bundled server: every section, the triage's counts adding up to the
/// selection, and the same as one JSON document.
#[test]
fn the_bundled_server_is_probed() {
    let (code, out, err) = run(conform().args(["probe", "--tls", "implicit"]));
    assert_eq!(code, 0, "{out}{err}");
    for section in [
        "target       pop3s://",
        "greeting     +OK ",
        "TLS          implicit",
        "certificate verifies against the bundled server's own certificate",
        "CAPA before login (",
        "login        demo with USER/PASS",
        "CAPA after login (",
        "capabilities\n  CAPA announces: ",
        "holds the standard fixture",
    ] {
        assert!(out.contains(section), "{section:?} missing:\n{out}");
    }
    let cases = out
        .lines()
        .find(|l| l.starts_with("cases "))
        .expect("a cases line");
    let numbers: Vec<usize> = cases
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert_eq!(
        numbers[0],
        numbers[1..5].iter().sum::<usize>(),
        "the fates add up to the selection: {cases}"
    );
    // over implicit TLS the plaintext cases are skipped, with their reason
    assert!(out.contains("(this run is implicit TLS)"), "{out}");

    let (code, json, err) = run(conform().args(["probe", "--json", "--filter", "rfc:2449"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("one JSON document");
    assert_eq!(v["tls"], serde_json::Value::Null, "plain TCP");
    assert_eq!(
        v["stls"]["how"], "STLS",
        "the STLS the server offers is probed"
    );
    assert!(v["capa_before_login"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l == "STLS"));
    let selected = v["triage"]["selected"].as_u64().unwrap();
    let listed = v["triage"]["cases"].as_array().unwrap();
    assert_eq!(listed.len() as u64, selected);
    assert!(listed
        .iter()
        .all(|c| c["id"].as_str().unwrap().starts_with("rfc2449/")));
}

/// Against an external Maildir target with a --reseed-cmd: the probe neither deletes nor
/// reseeds (the maildrop's files are the same after it, and the reseed command's marker
/// file is never written); `--cases` lists each case with its fate.
#[test]
fn an_external_target_is_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("demo");
    let (code, out, err) = run(conform().args(["seed", "--maildir"]).arg(&maildir));
    assert_eq!(code, 0, "{out}{err}");
    let before = maildir_files(&maildir);
    assert_eq!(before.len(), 7, "{before:?}");
    let served = common::serve(&[
        "--maildir",
        &dir.path().join("%u").display().to_string(),
        "--allow-plaintext-auth",
    ]);
    let marker = dir.path().join("reseeded");
    let (code, out, err) = run(conform()
        .args([
            "probe",
            "--target",
            &served.plain,
            "--user",
            "demo",
            "--insecure",
        ])
        .args(["--reseed-cmd", &format!("touch '{}'", marker.display())])
        .args(["--cases", "--filter", "rfc:1939"])
        .env("CONFORM_PASSWORD", "demo-password"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("holds the standard fixture"), "{out}");
    assert!(
        out.contains("certificate not checked (--insecure)"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("run ") && l.contains("rfc1939/")),
        "{out}"
    );
    assert!(!marker.exists(), "the probe ran --reseed-cmd");
    drop(served);
    // new/ may have moved to cur/ (messages seen), but nothing is gone or changed in size
    let after: Vec<u64> = maildir_files(&maildir).into_values().collect();
    let mut want: Vec<u64> = before.into_values().collect();
    let mut got = after;
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, want, "the maildrop changed");
}

/// A certificate that does not verify: the chain is shown with why, and the probe ends
/// with exit 3 as a run would; an unreachable target is exit 3 too.
#[test]
fn a_certificate_that_does_not_verify_is_shown_and_exit_3() {
    let served = common::serve(&["--allow-plaintext-auth"]);
    let (code, out, err) = run(conform()
        .args(["probe", "--target", &format!("pop3s://{}", served.tls)])
        .args(["--user", "demo", "--filter", "rfc:1939/5"])
        .env("CONFORM_PASSWORD", "demo-password"));
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("certificate DOES NOT VERIFY: "), "{out}");
    assert!(out.contains("  [0] subject  "), "{out}");
    // the rest of the probe went on, trusting it
    assert!(out.contains("login        demo with "), "{out}");
    assert!(err.contains("--ca FILE"), "{err}");

    let (code, out, err) = run(conform()
        .args([
            "probe",
            "--target",
            "127.0.0.1:1",
            "--user",
            "x",
            "--timeout",
            "2",
        ])
        .env("CONFORM_PASSWORD", "x"));
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");
}
