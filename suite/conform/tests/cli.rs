//! The `conform` binary end to end: exit codes as the README documents them.

mod common;

use common::{conform, run};

/// With no target, the bundled server starts in-process (plaintext): nothing fails, exit 0,
/// and JUnit has every case (the catalogue test checks each case passes in some TLS mode).
#[test]
fn bundled_run_passes_every_case() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("out/junit.xml");
    let (code, out, err) = run(conform().args(["run", "--junit"]).arg(&junit));
    assert_eq!(code, 0, "{out}\n{err}");
    let last = out.lines().last().unwrap();
    let passed: usize = common::leading_number(last);
    assert!(passed >= 30, "{last}");
    assert!(
        last.starts_with(&format!("{passed} passed, 0 failed, ")),
        "{last}"
    );
    // skipped, not applicable and blocked are all written as <skipped> in JUnit
    let skipped: usize = last
        .split(", ")
        .skip(2)
        .take(3)
        .map(common::leading_number)
        .sum();
    let xml = std::fs::read_to_string(junit).unwrap();
    assert_eq!(xml.matches("<testcase").count(), passed + skipped);
    assert!(!xml.contains("<failure"));
}

/// A deliberate defect in the bundled server fails the right cases: exit 1, named in JUnit.
#[test]
fn defect_fails_the_right_case() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let (code, out, _) = run(conform()
        .args(["run", "--fault", "list-renumbers-after-dele", "--junit"])
        .arg(&junit));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL    MUST    rfc1939/5/dele-leaves-gaps"),
        "{out}"
    );
    let xml = std::fs::read_to_string(junit).unwrap();
    let failing: Vec<&str> = xml
        .split("<testcase")
        .filter(|t| t.contains("<failure"))
        .collect();
    assert!(
        failing
            .iter()
            .any(|t| t.contains("rfc1939/5/dele-leaves-gaps")),
        "{xml}"
    );
    // every failing case is one that the renumbering explains: it looks at numbers after DELE
    for t in failing {
        assert!(t.contains("DELE"), "{t}");
    }
}

/// A target that refuses connections: exit 3 with a one-line reason.
#[test]
fn refused_target_exits_3() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let (code, out, err) = run(conform()
        .args([
            "run",
            "--target",
            &format!("127.0.0.1:{port}"),
            "--user",
            "x",
        ])
        .env("CONFORM_PASSWORD", "x"));
    assert_eq!(code, 3, "{out}{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("unreachable") && err.contains("refused"),
        "{err}"
    );
}

/// A self-signed TLS server and neither `--ca` nor `--insecure`: one setup error before any
/// case (exit 3) that says what to give, not an error per case.
#[test]
fn unverifiable_certificate_is_one_setup_error() {
    let served = common::serve(&["--allow-plaintext-auth"]);
    let (code, out, err) = run(conform()
        .args([
            "run",
            "--target",
            &served.tls,
            "--tls",
            "implicit",
            "--user",
            "demo",
        ])
        .env("CONFORM_PASSWORD", "demo-password"));
    assert_eq!(code, 3, "{out}{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("certificate could not be verified") && err.contains("--ca"),
        "{err}"
    );
    assert!(!out.contains("ERROR"), "{out}");
}

/// A malformed scenario: exit 2 with file:line:col.
#[test]
fn malformed_scenario_exits_2_with_position() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.pop3");
    std::fs::write(
        &f,
        "id: x\ntitle: t\nrfc: 1939 §4\nlevel: MUST\nrequirement: \"r\"\n---\nS: +OK {*\n",
    )
    .unwrap();
    let (code, _, err) = run(conform().arg("run").arg(&f));
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("{}:7:8: error: unterminated", f.display())),
        "{err}"
    );
}

/// Zero cases selected is an error, never a pass.
#[test]
fn nothing_selected_exits_2() {
    let (code, _, err) = run(conform().args(["run", "--filter", "no-such-case*"]));
    assert_eq!(code, 2);
    assert!(err.contains("no case selected"));
}

/// `conform list` prints every case with id, RFC section and level.
#[test]
fn list_prints_every_case() {
    let (code, out, _) = run(conform().arg("list"));
    assert_eq!(code, 0);
    let line = out
        .lines()
        .find(|l| l.starts_with("rfc1939/7/apop-digest "))
        .expect("listed");
    assert!(
        line.contains("RFC 1939 §7") && line.contains("MUST"),
        "{line}"
    );
    let total: usize = common::leading_number(out.lines().last().unwrap());
    assert_eq!(out.lines().count(), total + 1);
}

/// `conform serve` on a Maildir as an external target: the catalogue passes with
/// `--reseed-cmd` restoring the Maildir after each mutating case; a failing reseed command
/// stops the run before any case (exit 2).
#[test]
fn external_maildir_target_with_reseed_cmd() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("demo");
    let bin = env!("CARGO_BIN_EXE_conform");
    let (code, out, err) = run(conform().args(["seed", "--maildir"]).arg(&maildir));
    assert_eq!(code, 0, "{out}{err}");
    let served = common::serve(&[
        "--maildir",
        &dir.path().join("%u").display().to_string(),
        "--allow-plaintext-auth",
    ]);
    let target = served.plain.clone();
    let reseed = format!("'{bin}' seed --maildir '{}' --replace", maildir.display());
    let (code, out, err) = run(conform()
        .args(["run", "--target", &target, "--user", "demo", "--insecure"])
        .args(["--reseed-cmd", &reseed])
        .env("CONFORM_PASSWORD", "demo-password"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.lines().last().unwrap().contains(" passed, 0 failed, "),
        "{out}"
    );
    let (code, out, err) = run(conform()
        .args(["run", "--target", &target, "--user", "demo", "--insecure"])
        .args(["--reseed-cmd", "echo no such maildir >&2; exit 7"])
        .env("CONFORM_PASSWORD", "demo-password"));
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("exit status: 7: no such maildir"), "{err}");
}

/// Completions and the man page come from the clap definitions: every subcommand is in them.
#[test]
fn completions_and_man_page_name_every_subcommand() {
    let subcommands = [
        "run",
        "list",
        "serve",
        "seed",
        "coverage",
        "selfcheck",
        "model",
        "fuzz",
    ];
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = run(conform().args(["completions", shell]));
        assert_eq!(code, 0, "{err}");
        for s in subcommands {
            assert!(out.contains(s), "{shell} completion lacks {s}");
        }
        assert!(out.contains("rerun-failed"), "{shell}");
    }
    let (code, man, err) = run(conform().arg("man"));
    assert_eq!(code, 0, "{err}");
    assert!(
        man.starts_with(".ie") || man.starts_with(".TH"),
        "{}",
        &man[..80]
    );
    for s in subcommands {
        assert!(
            man.contains(&format!(".TH conform-{s} 1")),
            "man lacks conform-{s}"
        );
    }
    assert!(man.contains("\\-\\-profile"), "options documented");
}

/// Without a terminal on stderr no progress bar is drawn: the output of a pipeline holds no
/// terminal control sequences.
#[test]
fn no_progress_bar_without_a_terminal() {
    let (code, out, err) = run(conform().args(["run", "--filter", "rfc:1939/5"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains('\u{1b}') && !err.contains('\u{1b}'), "{err}");
    let (code, out, err) = run(conform().args(["model", "--cases", "5", "--seed", "1"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains('\u{1b}'), "{err}");
}
