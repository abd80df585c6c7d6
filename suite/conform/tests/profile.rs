//! `conform.toml` profiles (`--profile`, `--config`) and credentials: a profile supplies the
//! target, login, TLS trust and timeouts; a password never goes in the file, and never comes
//! out in any report (console, JUnit, JSON Lines, HTML: all grepped here).

mod common;

use std::path::Path;

use common::{conform, run, serve};

const PASSWORD: &str = "demo-password";

fn write_config(dir: &Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("conform.toml");
    std::fs::write(&path, body).unwrap();
    path
}

/// The password as it could leak: plain, and base64 in AUTH PLAIN and LOGIN.
fn leaks(text: &str) -> bool {
    [
        "demo-password",
        "ZGVtby1wYXNzd29yZA",
        "AGRlbW8AZGVtby1wYXNzd29yZA",
    ]
    .iter()
    .any(|p| text.contains(p))
}

#[test]
fn a_profile_supplies_the_target_and_no_report_shows_the_password() {
    let served = serve(&["--allow-plaintext-auth"]);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "[profiles.local]\ntarget = \"{}\"\nuser = \"demo\"\npassword-env = \"LOCAL_POP3_PASSWORD\"\ninsecure = true\ntimeout = 5\n",
            served.plain
        ),
    );
    let (junit, json, html) = (
        dir.path().join("r.xml"),
        dir.path().join("r.jsonl"),
        dir.path().join("r.html"),
    );
    // the cases that log in every way the server allows, PLAIN and LOGIN included
    let (code, out, err) = run(conform()
        .args(["run", "--profile", "local", "--config"])
        .arg(&config)
        .args(["--filter", "rfc:1939/7|rfc:5034|rfc:4616|rfc:2195"])
        .arg("--junit")
        .arg(&junit)
        .arg("--json")
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .env("LOCAL_POP3_PASSWORD", PASSWORD));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&served.plain), "{out}");
    let passed = common::leading_number(out.lines().last().unwrap());
    assert!(passed > 50, "{out}");
    for (what, text) in [
        ("stdout", out.clone()),
        ("stderr", err),
        ("JUnit", std::fs::read_to_string(&junit).unwrap()),
        ("JSON", std::fs::read_to_string(&json).unwrap()),
        ("HTML", std::fs::read_to_string(&html).unwrap()),
    ] {
        assert!(!leaks(&text), "the password is in the {what} report");
        // the JSON report holds every transcript: the logins are there, masked
        if what == "JSON" {
            assert!(
                text.contains("PASS ***") && text.contains("AUTH PLAIN ***"),
                "{what}"
            );
        }
    }
    // the model and the fuzzer read the same profile
    let (code, out, err) = run(conform()
        .args([
            "model",
            "--profile",
            "local",
            "--cases",
            "20",
            "--seed",
            "1",
            "--config",
        ])
        .arg(&config)
        .env("LOCAL_POP3_PASSWORD", PASSWORD));
    assert_eq!(code, 0, "{out}{err}");
    assert!(!leaks(&out) && !leaks(&err));
}

#[test]
fn a_password_in_the_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[profiles.x]\ntarget = \"127.0.0.1:1\"\nuser = \"u\"\npassword = \"secret\"\n",
    );
    let (code, _, err) = run(conform()
        .args(["run", "--profile", "x", "--config"])
        .arg(&config));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("password-env"), "{err}");
    assert!(!err.contains("secret"), "{err}");
}

#[test]
fn an_unknown_profile_names_the_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[profiles.alpha]\ntarget = \"127.0.0.1:1\"\n[profiles.beta]\ntls = \"sideways\"\n",
    );
    let (code, _, err) = run(conform()
        .args(["run", "--profile", "gamma", "--config"])
        .arg(&config));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("alpha, beta"), "{err}");
    let (code, _, err) = run(conform()
        .args(["run", "--profile", "beta", "--config"])
        .arg(&config));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("sideways"), "{err}");
}
