//! The JUnit report as CI tools read it: python `junitparser` (a real JUnit consumer) reads
//! every case with its RFC-section classname and the suite properties, and its counts equal
//! conform's summary; Jenkins' xunit JUnit schema (`junit-10.xsd`) accepts an all-pass run, a
//! run with failures, a baseline run (skips, not applicable, blocked, known deviations), an
//! interrupted run and an unreachable target; three TLS-mode runs merged keep every case
//! apart; transcripts are only where asked; `--rerun-failed` reads the report back.
//!
//! The python checks use the venv `.ci/run` makes (`CONFORM_PYTHON`, with junitparser and
//! xmlschema) and the schema it puts beside it (`CONFORM_JUNIT_XSD`); without them a check
//! skips with one loud line: tests install nothing themselves.

/// One line on the test process's standard error that `cargo test` does not capture (its
/// capture takes `eprintln!`): a skipped test says so loudly.
macro_rules! loud {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{conform, root, run};

/// The python that can import `module` (`CONFORM_PYTHON`, else `python3`), or `None` after
/// one loud line naming `test`.
fn python_with(module: &str, test: &str) -> Option<String> {
    let python = std::env::var("CONFORM_PYTHON").unwrap_or_else(|_| "python3".into());
    let has = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if has {
        return Some(python);
    }
    loud!(
        "SKIPPED {test}: {python} cannot import {module} (.ci/run makes a venv with it: CONFORM_PYTHON)"
    );
    None
}

/// Validates `files` against Jenkins' xunit JUnit schema: panics naming the errors; `false`
/// (after one loud line) when the schema or xmlschema is not there.
fn jenkins_schema_accepts(files: &[&Path], test: &str) -> bool {
    let Some(python) = python_with("xmlschema", test) else {
        return false;
    };
    let xsd = match std::env::var("CONFORM_JUNIT_XSD") {
        Ok(x) if Path::new(&x).is_file() => x,
        _ => {
            loud!(
                "SKIPPED {test}: no Jenkins xunit schema (CONFORM_JUNIT_XSD; .ci/run puts junit-10.xsd in its venv)"
            );
            return false;
        }
    };
    let out = Command::new(python)
        .arg(root().join("suite/conform/tests/junit/validate.py"))
        .arg(xsd)
        .args(files)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "Jenkins' xunit schema refuses the report:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

/// One `<testcase>` as read back with quick-xml.
#[derive(Debug, Clone, Default)]
struct Case {
    suite: String,
    classname: String,
    name: String,
    /// `failure`, `error`, `skipped:TYPE`, or empty for a pass.
    result: String,
    /// The failure's or error's message.
    message: String,
    system_out: String,
}

/// The testcases of a JUnit document and the properties of its first suite.
fn read(xml: &str) -> (Vec<Case>, BTreeMap<String, String>) {
    use quick_xml::events::{BytesStart, Event};
    let attr = |e: &BytesStart<'_>, name: &str| {
        e.try_get_attribute(name)
            .unwrap()
            .map(|a| {
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .unwrap()
                    .into_owned()
            })
            .unwrap_or_default()
    };
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut cases, mut props) = (Vec::new(), BTreeMap::new());
    let (mut suite, mut suites, mut in_out) = (String::new(), 0, false);
    loop {
        match reader.read_event().unwrap_or_else(|e| panic!("{e}: {xml}")) {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                b"testsuite" => {
                    suite = attr(&e, "name");
                    suites += 1;
                }
                b"property" if suites == 1 => {
                    props.insert(attr(&e, "name"), attr(&e, "value"));
                }
                b"testcase" => cases.push(Case {
                    suite: suite.clone(),
                    classname: attr(&e, "classname"),
                    name: attr(&e, "name"),
                    ..Case::default()
                }),
                b"failure" | b"error" => {
                    let c = cases.last_mut().unwrap();
                    c.result = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    c.message = attr(&e, "message");
                }
                b"skipped" => {
                    cases.last_mut().unwrap().result = format!("skipped:{}", attr(&e, "type"))
                }
                b"system-out" => in_out = true,
                _ => {}
            },
            Event::CData(t) if in_out => cases
                .last_mut()
                .unwrap()
                .system_out
                .push_str(&String::from_utf8_lossy(&t)),
            Event::Text(t) if in_out => cases
                .last_mut()
                .unwrap()
                .system_out
                .push_str(&String::from_utf8_lossy(&t)),
            Event::End(e) if e.name().as_ref() == b"system-out" => in_out = false,
            Event::Eof => break,
            _ => {}
        }
    }
    (cases, props)
}

/// `conform run ARGS --junit DIR/NAME`: the exit code, the console, and the report.
fn junit_of(dir: &Path, name: &str, args: &[&str]) -> (i32, String, PathBuf) {
    let path = dir.join(name);
    let (code, out, err) = run(conform().arg("run").args(args).arg("--junit").arg(&path));
    assert!(path.is_file(), "no report: {out}{err}");
    (code, format!("{out}{err}"), path)
}

#[test]
fn junitparser_reads_the_report_and_its_counts_match() {
    let Some(python) = python_with("junitparser", "junitparser_reads_the_report") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // a run with failures, skips and passes: the bundled server with a defect
    let (code, out, xml) = junit_of(
        dir.path(),
        "report.xml",
        &["--fault", "list-renumbers-after-dele"],
    );
    assert_eq!(code, 1, "{out}");
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
        let skipped_here = cases
            .iter()
            .filter(|c| {
                c["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r == "Skipped")
            })
            .count();
        assert_eq!(s["skipped"], skipped_here, "{}", s["name"]);
        let props = &s["properties"];
        assert!(
            props["target"].as_str().unwrap().starts_with("pop3://"),
            "{props}"
        );
        assert_eq!(props["suite-version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(props["tls"], "none");
        assert_eq!(
            props["scenario-digest"].as_str().unwrap().len(),
            32,
            "{props}"
        );
        // the suite is `rfcNNNN (mode)`, its cases' classnames `rfcNNNN.SECTION (mode)`
        let suite = s["name"].as_str().unwrap();
        let rfc = suite.strip_suffix(" (none)").expect(suite);
        for c in cases {
            let class = c["classname"].as_str().unwrap();
            assert!(
                class.starts_with(&format!("{rfc}.")) && class.ends_with(" (none)"),
                "{class} in {suite}"
            );
            // the name is the case id: no level, no title
            let name = c["name"].as_str().unwrap();
            assert!(
                name.starts_with(&format!("{rfc}/")) && !name.contains(' '),
                "{name}"
            );
            // transcripts only for the failures (the default)
            let failure = c["results"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "Failure");
            let system_out = c["system_out"].as_str().unwrap();
            assert_eq!(failure, system_out.contains("S: +OK"), "{c}");
        }
    }
    // the report names the cases that failed
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
    assert!(failing
        .iter()
        .any(|c| c["name"] == "rfc1939/5/dele-leaves-gaps"));
}

/// An all-pass run, a run with failures, a baseline run (skips, not applicable, blocked,
/// known deviations, an outdated entry), an interrupted run and an unreachable target: each
/// report is what the run was, and Jenkins' xunit schema accepts them all.
#[test]
fn jenkins_xunit_schema_accepts_every_kind_of_report() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let (code, out, all_pass) = junit_of(d, "all-pass.xml", &[]);
    assert_eq!(code, 0, "{out}");
    let text = std::fs::read_to_string(&all_pass).unwrap();
    // no transcript on a pass: the whole catalogue's report stays small (1.8 MB before)
    assert!(text.len() < 150_000, "{} bytes", text.len());
    assert!(!text.contains("<system-out>"), "a pass with a transcript");
    assert!(
        !text.contains(" file=\""),
        "testcase/@file is not in the schema"
    );

    let (code, out, failures) =
        junit_of(d, "failures.xml", &["--fault", "list-renumbers-after-dele"]);
    assert_eq!(code, 1, "{out}");
    let (cases, _) = read(&std::fs::read_to_string(&failures).unwrap());
    let failed: Vec<&Case> = cases.iter().filter(|c| c.result == "failure").collect();
    assert!(!failed.is_empty());
    for c in &failed {
        // title, RFC, level, requirement and where, relative, in the message
        assert!(
            c.message.contains("RFC 1939 §") && c.message.contains(" MUST: \""),
            "{c:?}"
        );
        assert!(c.message.contains("(at scenarios/rfc1939/"), "{c:?}");
        assert!(c.system_out.contains("S: +OK"), "{c:?}");
    }

    let baseline = d.join("baseline.toml");
    std::fs::write(
        &baseline,
        r#"server = "the bundled server without its maildrop lock"

[[deviation]]
id = "rfc1939/4/lock-protects-maildrop"
rfc = "1939 §4"
reason = "no maildrop lock"

[[deviation]]
id = "rfc1939/5/noop"
rfc = "1939 §5"
reason = "listed to show an outdated entry"
"#,
    )
    .unwrap();
    let (code, out, baselined) = junit_of(
        d,
        "baseline.xml",
        &[
            "--fault",
            "no-maildrop-lock",
            "--baseline",
            baseline.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    let (cases, _) = read(&std::fs::read_to_string(&baselined).unwrap());
    let kinds: BTreeSet<&str> = cases.iter().map(|c| c.result.as_str()).collect();
    for kind in [
        "",
        "skipped:skip",
        "skipped:not-applicable",
        "skipped:blocked",
        "skipped:known-deviation",
    ] {
        assert!(kinds.contains(kind), "no {kind:?} case: {kinds:?}");
    }
    let known = cases
        .iter()
        .find(|c| c.result == "skipped:known-deviation")
        .unwrap();
    assert!(
        known.system_out.starts_with("known deviation: ") && known.system_out.contains("S: +OK"),
        "{known:?}"
    );
    let outdated = cases.iter().find(|c| c.name == "rfc1939/5/noop").unwrap();
    assert!(outdated.system_out.contains("passes now"), "{outdated:?}");

    let interrupted = interrupted_run(d);
    let (cases, props) = read(&std::fs::read_to_string(&interrupted).unwrap());
    assert_eq!(
        props.get("interrupted").map(String::as_str),
        Some("SIGTERM")
    );
    assert!(
        cases.iter().any(|c| c.result == "skipped:skip"),
        "{cases:?}"
    );

    let (code, out, unreachable) = unreachable_run(d);
    assert_eq!(code, 3, "{out}");
    let (cases, props) = read(&std::fs::read_to_string(&unreachable).unwrap());
    assert_eq!(cases.len(), 1, "{cases:?}");
    assert_eq!(
        (cases[0].name.as_str(), cases[0].result.as_str()),
        ("conform/target", "error")
    );
    assert!(props.contains_key("setup-error"), "{props:?}");

    let all = [&all_pass, &failures, &baselined, &interrupted, &unreachable];
    jenkins_schema_accepts(
        &all.map(PathBuf::as_path),
        "jenkins_xunit_schema_accepts_every_kind_of_report",
    );
}

/// A run whose RETRs never end (the fault `missing-terminator`) stopped by SIGTERM a second
/// after its cases have started: exit 130, its JUnit report.
fn interrupted_run(dir: &Path) -> PathBuf {
    use std::io::BufRead as _;
    let path = dir.join("interrupted.xml");
    let mut child = conform()
        .args([
            "run",
            "--fault",
            "missing-terminator",
            "--timeout",
            "30",
            "--jobs",
            "1",
        ])
        .arg("--junit")
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let (started, running) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            // the header is out: the cases start (and the first RETR hangs)
            if line.contains("conform: running") {
                let _ = started.send(());
            }
        }
    });
    running
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the cases start");
    std::thread::sleep(std::time::Duration::from_secs(1));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert_eq!(status.code(), Some(130), "not interrupted");
    path
}

/// A run against a port nothing listens on: exit 3, its JUnit report.
fn unreachable_run(dir: &Path) -> (i32, String, PathBuf) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let path = dir.join("unreachable.xml");
    let (code, out, err) = run(conform()
        .args([
            "run",
            "--target",
            &format!("127.0.0.1:{port}"),
            "--user",
            "x",
        ])
        .arg("--junit")
        .arg(&path)
        .env("CONFORM_PASSWORD", "x"));
    (code, format!("{out}{err}"), path)
}

/// The catalogue in the three TLS modes against the bundled server: merged, no two testcases
/// share (classname, name) — GitLab's key — nor (suite, classname, name) — Jenkins' — and
/// every case id is in each file, under the same name.
#[test]
fn three_tls_mode_runs_merged_keep_every_case_apart() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut ids_per_mode = Vec::new();
    let mut gitlab = BTreeSet::new();
    let mut jenkins = BTreeSet::new();
    let mut total = 0;
    for mode in ["none", "starttls", "implicit"] {
        let (code, out, path) = junit_of(dir.path(), &format!("{mode}.xml"), &["--tls", mode]);
        assert_eq!(code, 0, "{mode}: {out}");
        let (cases, props) = read(&std::fs::read_to_string(&path).unwrap());
        assert_eq!(props["tls"], mode);
        assert!(cases.len() > 400, "{mode}: {}", cases.len());
        for c in &cases {
            assert!(c.suite.ends_with(&format!(" ({mode})")), "{c:?}");
            assert!(c.classname.ends_with(&format!(" ({mode})")), "{c:?}");
            gitlab.insert((c.classname.clone(), c.name.clone()));
            jenkins.insert((c.suite.clone(), c.classname.clone(), c.name.clone()));
        }
        total += cases.len();
        ids_per_mode.push(cases.into_iter().map(|c| c.name).collect::<BTreeSet<_>>());
        files.push(path);
    }
    assert_eq!(
        gitlab.len(),
        total,
        "two testcases share classname and name"
    );
    assert_eq!(jenkins.len(), total);
    assert_eq!(ids_per_mode[0], ids_per_mode[1]);
    assert_eq!(ids_per_mode[1], ids_per_mode[2]);
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    jenkins_schema_accepts(&files, "three_tls_mode_runs_merged_keep_every_case_apart");
}

/// `--junit-transcripts all` puts every case's transcript in, `none` none; scenario files
/// given by an absolute path are shown relative to the folder given, never absolute; and
/// `--rerun-failed` runs again exactly the cases the report says failed.
#[test]
fn transcripts_as_asked_relative_files_and_rerun_failed() {
    let dir = tempfile::tempdir().unwrap();
    let folder = root().join("scenarios/rfc1939").canonicalize().unwrap();
    let folder_text = folder.to_str().unwrap();
    let fault = ["--fault", "list-renumbers-after-dele"];

    let (code, out, all) = junit_of(
        dir.path(),
        "all.xml",
        &[
            folder_text,
            fault[0],
            fault[1],
            "--junit-transcripts",
            "all",
        ],
    );
    assert_eq!(code, 1, "{out}");
    let text = std::fs::read_to_string(&all).unwrap();
    assert!(
        !text.contains(folder_text),
        "an absolute path in the report"
    );
    let (cases, _) = read(&text);
    let failed: Vec<&str> = cases
        .iter()
        .filter(|c| c.result == "failure")
        .map(|c| c.name.as_str())
        .collect();
    assert!(failed.contains(&"rfc1939/5/dele-leaves-gaps"), "{failed:?}");
    for c in &cases {
        if c.result.is_empty() || c.result == "failure" {
            assert!(c.system_out.contains("S: +OK"), "{c:?}");
        }
        if c.result == "failure" {
            // relative to the folder given: its files are `session.pop3`, ...
            let at = c.message.rsplit("(at ").next().unwrap();
            assert!(!at.starts_with('/') && at.contains(".pop3:"), "{c:?}");
        }
    }

    let (code, out, none) = junit_of(
        dir.path(),
        "none.xml",
        &[
            fault[0],
            fault[1],
            "--filter",
            "rfc:1939/5",
            "--junit-transcripts",
            "none",
        ],
    );
    assert_eq!(code, 1, "{out}");
    let (cases, _) = read(&std::fs::read_to_string(&none).unwrap());
    assert!(cases.iter().any(|c| c.result == "failure"));
    assert!(cases.iter().all(|c| c.system_out.is_empty()), "{cases:?}");

    // the ids read back from the first report are the cases run again
    let (code, out, _) = run(conform()
        .args(["run", fault[0], fault[1], "--rerun-failed"])
        .arg(&all));
    assert_eq!(code, 1, "{out}");
    let ran: BTreeSet<&str> = out
        .lines()
        .filter(|l| l.starts_with("PASS ") || l.starts_with("FAIL "))
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert_eq!(ran, failed.iter().copied().collect(), "{out}");
}
