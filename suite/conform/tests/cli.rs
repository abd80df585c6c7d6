//! The `conform` binary end to end: exit codes as the README documents them.

mod common;

use common::{conform, root, run};

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
        "probe",
        "bench",
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

/// A report that cannot be written (`/dev/full`) ends the run with exit 4 naming the path
/// and the OS error, never 0; the other reports are still written in full.
#[test]
fn a_report_that_cannot_be_written_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other");
    for (flag, report) in [("--junit", "JUnit"), ("--json", "JSON"), ("--html", "HTML")] {
        let (code, out, err) = run(conform()
            .args(["run", "--filter", "rfc:1939/5", flag, "/dev/full"])
            .arg(if flag == "--junit" {
                "--html"
            } else {
                "--junit"
            })
            .arg(&other));
        assert_eq!(code, 4, "{flag}: {out}{err}");
        assert!(
            err.contains(&format!(
                "the {report} report could not be written to /dev/full"
            )) && err.contains("No space left on device"),
            "{err}"
        );
        // the other report is complete
        let other = std::fs::read_to_string(&other).unwrap();
        if flag == "--junit" {
            assert!(other.trim_end().ends_with("</html>"));
        } else {
            assert_eq!(parse_junit(&other).failures, 0, "{other}");
        }
    }
}

/// The Markdown reports of `coverage` and `selfcheck` likewise: exit 4 naming the path and
/// the OS error; an earlier file at a writable path is replaced only by a whole one.
#[test]
fn a_markdown_report_that_cannot_be_written_exits_4() {
    let runs: [&[&str]; 2] = [
        &["coverage", "--markdown", "/dev/full"],
        &[
            "selfcheck",
            "--fault",
            "message-zero-accepted",
            "--variant",
            "no-resp-codes",
            "--markdown",
            "/dev/full",
        ],
    ];
    for args in runs {
        let (code, out, err) = run(conform().args(args));
        assert_eq!(code, 4, "{args:?}: {out}{err}");
        assert!(
            err.contains("the Markdown report could not be written to /dev/full")
                && err.contains("No space left on device"),
            "{args:?}: {err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("COVERAGE.md");
    let (code, out, err) = run(conform().arg("coverage").arg("--markdown").arg(&path));
    assert!(code == 0 || code == 1, "{out}{err}");
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.contains('|'), "a whole matrix: {written}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");
}

/// What a JUnit document holds, read with quick-xml (which fails on a cut document).
#[derive(Debug, Default)]
struct JUnitDoc {
    testcases: Vec<String>,
    failures: usize,
    errors: Vec<String>,
    skipped: Vec<String>,
    properties: Vec<(String, String)>,
}

fn parse_junit(xml: &str) -> JUnitDoc {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut doc = JUnitDoc::default();
    let mut depth = 0usize;
    let mut root_seen = false;
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("the JUnit XML does not parse: {e}\n{xml}"));
        let attr = |e: &quick_xml::events::BytesStart<'_>, name: &str| {
            e.try_get_attribute(name)
                .unwrap()
                .map(|a| {
                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .unwrap()
                        .into_owned()
                })
                .unwrap_or_default()
        };
        match &event {
            Event::Start(e) | Event::Empty(e) => {
                root_seen |= e.name().as_ref() == b"testsuites";
                match e.name().as_ref() {
                    b"testcase" => doc.testcases.push(attr(e, "name")),
                    b"failure" => doc.failures += 1,
                    b"error" => doc.errors.push(attr(e, "message")),
                    b"skipped" => doc.skipped.push(attr(e, "message")),
                    b"property" => doc.properties.push((attr(e, "name"), attr(e, "value"))),
                    _ => {}
                }
                if matches!(event, Event::Start(_)) {
                    depth += 1;
                }
            }
            Event::End(_) => depth -= 1,
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(root_seen && depth == 0, "a complete document: {xml}");
    doc
}

/// An unreachable target still writes valid reports: one error case `conform/target` with
/// the reason, so that a JUnit consumer does not fail on an empty document.
#[test]
fn an_unreachable_target_still_writes_valid_reports() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let (junit, json, html) = (
        dir.path().join("j.xml"),
        dir.path().join("r.jsonl"),
        dir.path().join("r.html"),
    );
    std::fs::write(&junit, "an earlier report").unwrap();
    let (code, out, err) = run(conform()
        .args([
            "run",
            "--target",
            &format!("127.0.0.1:{port}"),
            "--user",
            "x",
        ])
        .arg("--junit")
        .arg(&junit)
        .arg("--json")
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .env("CONFORM_PASSWORD", "x"));
    assert_eq!(code, 3, "{out}{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let doc = parse_junit(&std::fs::read_to_string(&junit).unwrap());
    assert_eq!(doc.testcases.len(), 1, "{doc:?}");
    assert_eq!(doc.testcases[0], "conform/target", "{doc:?}");
    assert!(doc.errors[0].contains("refused"), "{doc:?}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&json)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["started", "case", "finished"]);
    assert_eq!(lines[1]["id"], "conform/target");
    assert_eq!(lines[1]["verdict"], "error");
    assert_eq!(lines[2]["errors"], 1);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("conform/target") && page.trim_end().ends_with("</html>"));
    // no partial file is left beside the reports
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}

/// How a small in-test server misbehaves (`serve_hostile`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Hostile {
    /// Logins, CAPA and the listings of an empty maildrop work; every other command waits
    /// for ever (the SIGTERM test).
    Slow,
    /// CAPA answers 1,000,000 lines.
    Capa1M,
    /// Every multi-line answer (CAPA, LIST, UIDL, RETR, TOP) never ends.
    EndlessMultiline,
    /// Every answer but the login's is one line that never ends.
    EndlessLine,
    /// The greeting drips a byte every 0.25 s without a line end.
    GreetingDrip,
}

/// A POP3 server on 127.0.0.1 (port of the system's choice) that logs anyone in with
/// USER/PASS and misbehaves as `how`, one thread per connection.
fn serve_hostile(how: Hostile) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let endless = |s: &mut std::net::TcpStream, line: &[u8]| {
                    let chunk = line.repeat(64 * 1024 / line.len());
                    while s.write_all(&chunk).is_ok() {}
                };
                if how == Hostile::GreetingDrip {
                    for b in b"+OK slow".iter().cycle() {
                        if s.write_all(&[*b]).is_err() {
                            return;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(250));
                    }
                }
                let _ = s.write_all(b"+OK hostile\r\n");
                let mut reader = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
                    let word = line
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_ascii_uppercase();
                    line.clear();
                    let multiline =
                        matches!(word.as_str(), "CAPA" | "LIST" | "UIDL" | "RETR" | "TOP");
                    let answer: &[u8] = match (word.as_str(), how) {
                        ("USER" | "PASS", _) => b"+OK\r\n",
                        ("CAPA", Hostile::Slow) => b"+OK\r\nUSER\r\nUIDL\r\nTOP\r\n.\r\n",
                        ("STAT", Hostile::Slow) => b"+OK 0 0\r\n",
                        ("LIST" | "UIDL", Hostile::Slow) => b"+OK\r\n.\r\n",
                        ("QUIT", _) => {
                            let _ = s.write_all(b"+OK bye\r\n");
                            return;
                        }
                        ("CAPA", Hostile::Capa1M) => {
                            let _ = s.write_all(b"+OK\r\n");
                            let chunk = b"X-HOSTILE\r\n".repeat(10_000);
                            for _ in 0..100 {
                                if s.write_all(&chunk).is_err() {
                                    return;
                                }
                            }
                            b".\r\n"
                        }
                        (_, Hostile::EndlessMultiline) if multiline => {
                            let _ = s.write_all(b"+OK\r\n");
                            return endless(&mut s, b"1 100\r\n");
                        }
                        (_, Hostile::EndlessLine) => {
                            let _ = s.write_all(b"+OK ");
                            return endless(&mut s, b"x");
                        }
                        (_, Hostile::Slow) => {
                            std::thread::sleep(std::time::Duration::from_secs(120));
                            return;
                        }
                        ("STAT", _) => b"+OK 0 0\r\n",
                        _ if multiline => b"+OK\r\n.\r\n",
                        _ => b"-ERR no\r\n",
                    };
                    if s.write_all(answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// `conform run` against 127.0.0.1:`port` as user `u`.
fn against(port: u16) -> std::process::Command {
    let mut c = conform();
    c.args([
        "run",
        "--target",
        &format!("127.0.0.1:{port}"),
        "--user",
        "u",
    ])
    .env("CONFORM_PASSWORD", "p");
    c
}

/// SIGTERM (a cancelled CI job) during a run against a slow server: the run stops, exit
/// 130, and the reports are complete, say that it was interrupted, and hold every case
/// (the unfinished ones `not run: interrupted`, none of them a pass).
#[test]
fn sigterm_finishes_the_reports_and_exits_130() {
    let port = serve_hostile(Hostile::Slow);
    let dir = tempfile::tempdir().unwrap();
    let (junit, json) = (dir.path().join("j.xml"), dir.path().join("r.jsonl"));
    let mut child = against(port)
        .args(["--timeout", "20", "--jobs", "2", "--junit"])
        .arg(&junit)
        .arg("--json")
        .arg(&json)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // once the cases have started (the header is out), every case waits on the server
    let stdout = child.stdout.take().unwrap();
    let (started, running) = std::sync::mpsc::channel();
    let console = std::thread::spawn(move || {
        use std::io::{BufRead, Read};
        let mut reader = std::io::BufReader::new(stdout);
        let mut text = String::new();
        while reader.read_line(&mut text).is_ok_and(|n| n > 0) {
            if text.contains("conform: running") {
                break;
            }
        }
        let _ = started.send(());
        let _ = reader.read_to_string(&mut text);
        text
    });
    running
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the cases start");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let sent = std::time::Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            sent.elapsed() < std::time::Duration::from_secs(10),
            "conform did not stop"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let stdout = console.join().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(130), "{stdout}{stderr}");
    assert!(stderr.contains("interrupted (SIGTERM)"), "{stderr}");
    assert!(stdout.contains("INTERRUPTED (SIGTERM)"), "{stdout}");
    let doc = parse_junit(&std::fs::read_to_string(&junit).unwrap());
    assert!(
        doc.properties
            .contains(&("interrupted".into(), "SIGTERM".into())),
        "{:?}",
        doc.properties
    );
    let not_run = doc
        .skipped
        .iter()
        .filter(|m| *m == "not run: interrupted (SIGTERM)")
        .count();
    assert!(not_run > 20, "{not_run} not run of {}", doc.testcases.len());
    // every selected case is in the report
    let selected = doc.properties.iter().find(|(n, _)| n == "cases").unwrap();
    assert_eq!(doc.testcases.len().to_string(), selected.1);
    let text = std::fs::read_to_string(&json).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "finished");
    assert_eq!(last["interrupted"], true);
    assert_eq!(text.lines().count(), doc.testcases.len() + 2);
}

/// The peak resident memory (VmHWM, KiB) of a running process, sampled until it exits;
/// and its exit code.
fn peak_rss(mut child: std::process::Child) -> (u64, Option<i32>) {
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status) {
            if let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            {
                peak = peak.max(kib);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (peak, status.code());
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Time and memory stay bounded whatever the server sends: the binary against each memory
/// hungry behaviour ends, with a non-zero exit and at most 96 MiB peak RSS. The time limit
/// only tells a bounded run from a hang (these ran for minutes, or forever, before the
/// deadlines): a debug build on a loaded 2-core CI machine; the release figures (1.6 s to
/// 10.6 s) are measured by hand and given in the README.
#[test]
fn peak_memory_stays_bounded_against_hostile_servers() {
    for how in [
        Hostile::Capa1M,
        Hostile::EndlessMultiline,
        Hostile::EndlessLine,
        Hostile::GreetingDrip,
    ] {
        let port = serve_hostile(how);
        let t = std::time::Instant::now();
        let child = against(port)
            .args([
                "--timeout",
                "2",
                "--filter",
                "rfc:1939/5|rfc:1939/7|rfc:2449",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let (kib, code) = peak_rss(child);
        let took = t.elapsed();
        eprintln!(
            "{how:?}: exit {code:?}, {took:.2?}, peak RSS {:.1} MiB",
            kib as f64 / 1024.0
        );
        assert!(matches!(code, Some(1 | 3)), "{how:?}: exit {code:?}");
        assert!(
            took < std::time::Duration::from_secs(180),
            "{how:?}: {took:?}"
        );
        assert!(kib > 0 && kib <= 96 * 1024, "{how:?}: {kib} KiB");
    }
}

/// The catalogue is inside the binary: a copy of it in an empty directory (nothing beside
/// it, run from there) lists and runs every case against the bundled server.
#[test]
fn a_copied_binary_runs_the_whole_catalogue_from_an_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("conform");
    std::fs::copy(env!("CARGO_BIN_EXE_conform"), &bin).unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let copy = || {
        let mut c = std::process::Command::new(&bin);
        c.current_dir(&empty);
        c
    };
    let (code, listed, err) = run(copy().arg("list"));
    assert_eq!(code, 0, "{err}");
    let (_, repo_listed, _) = run(conform().arg("list").arg(root().join("scenarios")));
    assert_eq!(
        listed, repo_listed,
        "the built-in catalogue is the repository's"
    );
    let (code, out, err) = run(copy().args(["run", "--json", "run.jsonl"]));
    assert_eq!(code, 0, "{out}{err}");
    let json = std::fs::read_to_string(empty.join("run.jsonl")).unwrap();
    let cases = json.lines().filter(|l| l.contains("\"case\"")).count();
    assert!(cases > 400, "{cases} case lines:\n{out}");
}

/// A selection of nothing is exit 2 naming the closest the catalogue has, for `list` and
/// `run`; so is a folder with no case in it.
#[test]
fn an_empty_selection_is_exit_2_naming_the_closest() {
    for command in ["list", "run"] {
        let (code, out, err) = run(conform().args([command, "--filter", "rfc:19399"]));
        assert_eq!(code, 2, "{out}{err}");
        assert!(err.contains("no case of RFC 19399; closest: 1939"), "{err}");
        let (code, _, err) = run(conform().args([command, "--filter", "tag:uidll"]));
        assert_eq!(code, 2);
        assert!(err.contains("closest tags: uidl"), "{err}");
    }
    let empty = tempfile::tempdir().unwrap();
    let (code, out, err) = run(conform().arg("list").arg(empty.path()));
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("hold no case"), "{err}");
}

/// `report merge` puts runs side by side (a column per run, failing cells linked to their
/// wire log); `report diff` lists new failures and fixes and exits 1 on a regression only.
#[test]
fn report_merge_and_diff_compare_runs() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.jsonl");
    let fault = dir.path().join("fault.jsonl");
    let filter = ["--filter", "rfc:1939/5"];
    let (code, out, err) = run(conform().arg("run").args(filter).arg("--json").arg(&clean));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(conform()
        .arg("run")
        .args(filter)
        .args(["--fault", "message-zero-accepted", "--json"])
        .arg(&fault));
    assert_eq!(code, 1, "{out}{err}");
    let html = dir.path().join("m.html");
    let (code, out, err) = run(conform()
        .args(["report", "merge"])
        .arg(&clean)
        .arg(&fault)
        .arg("--html")
        .arg(&html));
    assert_eq!(code, 0, "{out}{err}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<th>clean</th><th>fault</th>"), "{page}");
    assert!(page.contains("<td title=") && page.contains(">FAIL</a></td>"));
    let (code, out, _) = run(conform().args(["report", "diff"]).arg(&clean).arg(&fault));
    assert_eq!(code, 1, "a regression: {out}");
    assert!(
        out.contains("new failures (") && out.contains("rfc1939/5/retr-zero"),
        "{out}"
    );
    let (code, out, _) = run(conform().args(["report", "diff"]).arg(&fault).arg(&clean));
    assert_eq!(code, 0, "fixes only: {out}");
    assert!(
        out.contains("fixed (") && out.contains("0 new failures"),
        "{out}"
    );
    let (code, _, err) = run(conform().args(["report", "diff"]).arg(&clean).arg(&html));
    assert_eq!(code, 2, "not a JSON Lines report: {err}");
}

/// Help is wrapped (at most 100 columns when not on a terminal) and ends with examples and
/// the exit status; the man page has EXAMPLES and EXIT STATUS sections.
#[test]
fn help_is_wrapped_with_examples_and_the_man_page_has_exit_status() {
    for sub in [
        &[][..],
        &["run"],
        &["list"],
        &["model"],
        &["fuzz"],
        &["serve"],
        &["seed"],
        &["selfcheck"],
        &["report"],
        &["coverage"],
    ] {
        let (code, out, _) = run(conform().args(sub).arg("--help"));
        assert_eq!(code, 0);
        for line in out.lines() {
            assert!(line.chars().count() <= 100, "{sub:?}: {line}");
        }
    }
    let (_, out, _) = run(conform().arg("--help"));
    assert!(out.contains("Examples:\n  conform run\n") && out.contains("Exit status:\n  0 "));
    let (code, man, _) = run(conform().arg("man"));
    assert_eq!(code, 0);
    assert!(man.contains(".SH \"EXAMPLES\"") && man.contains(".SH \"EXIT STATUS\""));
    assert!(man.contains(".TP\n130\ninterrupted by SIGINT"), "{man}");
}

/// The console of an all-pass run fits on one screen: the header, the groups of unjudged
/// cases and the summary, no line per passing case (`--status-level pass` shows them).
#[test]
fn an_all_pass_console_fits_on_one_screen() {
    let (code, out, err) = run(conform().arg("run"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.lines().count() <= 24, "{out}");
    assert!(!out.contains("PASS "), "{out}");
    assert!(
        out.lines().last().unwrap().contains(" passed, 0 failed"),
        "{out}"
    );
    let (_, all, _) = run(conform().args(["run", "--status-level", "pass", "--color", "always"]));
    assert!(all.lines().count() > 400, "a line per case");
    assert!(
        all.contains('\u{1b}'),
        "--color always colours even into a pipe"
    );
    assert!(!out.contains('\u{1b}'), "auto: no colour into a pipe");
}
