//! The whole catalogue against a second real third-party server: GNU Mailutils' POP3 server
//! (Debian `mailutils-pop3d`, Mailutils 3.15), started on loopback by
//! `.ci/mailutils/start.sh`, with an mbox maildrop seeded by `conform seed --mbox`.
//!
//! One pop3d per run, the runs in parallel: plain (`--tls none`), STLS and implicit TLS (both
//! offered by pop3d 3.15: `tls-mode ondemand` and `connection`), each with the committed
//! baseline of Mailutils' deviations (`scenarios/baselines/mailutils.toml`), must exit 0; a
//! plain run without the baseline must exit 1 and name every baselined case. The JUnit reports
//! land in `reports/mailutils-*.xml`.
//!
//! pop3d missing: the test fails, unless `CONFORM_SKIP_MAILUTILS=1` (then it says it skipped).
//! `.ci/run` installs it.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{baseline_entries, conform, cut_long_lines, root, sh_quote, system_binary};

const BASELINE: &str = "scenarios/baselines/mailutils.toml";
const PASSWORD_VAR: &str = "CONFORM_MAILUTILS_PASSWORD";

/// A running pop3d in its own temporary directory; stopped when dropped (also on panic).
struct Pop3d {
    dir: tempfile::TempDir,
    pop3: u16,
    pop3s: u16,
    user: String,
    password: String,
    cert: PathBuf,
    mbox: PathBuf,
}

impl Pop3d {
    fn start() -> Pop3d {
        let dir = tempfile::Builder::new()
            .prefix("conform-mailutils.")
            .tempdir()
            .expect("temporary directory");
        let out = Command::new(root().join(".ci/mailutils/start.sh"))
            .arg(dir.path())
            .output()
            .expect("running .ci/mailutils/start.sh");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            ".ci/mailutils/start.sh failed:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let value = |key: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .unwrap_or_else(|| panic!("start.sh printed no {key}=:\n{stdout}"))
                .to_owned()
        };
        let port = |key: &str| value(key).parse::<u16>().expect("a port number");
        let started = Pop3d {
            pop3: port("pop3"),
            pop3s: port("pop3s"),
            user: value("user"),
            password: value("password"),
            cert: PathBuf::from(value("cert")),
            mbox: PathBuf::from(value("mbox")),
            dir,
        };
        let seeded = conform()
            .args(["seed", "--replace", "--mbox"])
            .arg(&started.mbox)
            .output()
            .expect("conform seed runs");
        assert!(
            seeded.status.success(),
            "conform seed --mbox: {}",
            String::from_utf8_lossy(&seeded.stderr)
        );
        started
    }

    /// What `--reseed-cmd` runs before the first case and after each mutating one.
    fn reseed_cmd(&self) -> String {
        format!(
            "{} seed --replace --mbox {}",
            sh_quote(env!("CARGO_BIN_EXE_conform")),
            sh_quote(&self.mbox.to_string_lossy())
        )
    }

    /// `conform run` of the whole catalogue against this pop3d in `mode`, with the baseline
    /// or without.
    fn run(&self, mode: &str, baseline: bool) -> Run {
        let port = if mode == "implicit" {
            self.pop3s
        } else {
            self.pop3
        };
        let mut c = conform();
        c.arg("run")
            .args(["--tls", mode, "--user", &self.user])
            .arg("--target")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--password-env")
            .arg(PASSWORD_VAR)
            .env(PASSWORD_VAR, &self.password)
            // start.sh's certificate is a self-signed leaf for 127.0.0.1: trust exactly it
            .arg("--ca")
            .arg(&self.cert)
            .arg("--reseed-cmd")
            .arg(self.reseed_cmd())
            .arg("--junit")
            .arg(root().join(format!(
                "reports/mailutils-{mode}{}.xml",
                if baseline { "" } else { "-no-baseline" }
            )));
        if baseline {
            c.arg("--baseline").arg(BASELINE);
        }
        let start = Instant::now();
        let out = c.output().expect("conform runs");
        Run {
            mode: format!(
                "{mode}{}",
                if baseline {
                    ", baseline"
                } else {
                    ", no baseline"
                }
            ),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took: start.elapsed(),
            log: std::fs::read_to_string(self.dir.path().join("pop3d.log")).unwrap_or_default(),
        }
    }
}

impl Drop for Pop3d {
    fn drop(&mut self) {
        let Some(pid) = std::fs::read_to_string(self.dir.path().join("pop3d.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        else {
            return;
        };
        // SIGTERM to the master: it ends its session children and exits. Wait (briefly) until
        // it is gone, so the temporary directory is not removed under it.
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .output();
        // start.sh has exited, so the master's parent is init (or a subreaper), which may
        // reap it late: a zombie (state Z) counts as gone.
        let alive = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                st.rsplit(')')
                    .next()
                    .map(str::trim_start)
                    .is_some_and(|r| !r.starts_with('Z'))
            })
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

struct Run {
    mode: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
    log: String,
}

impl Run {
    fn summary(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }

    /// The `--- FAIL id ...` / `--- ERROR id ...` headers of the report: the new failures.
    fn new_failures(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with("--- FAIL ") || l.starts_with("--- ERROR "))
            .collect()
    }

    /// The ids the report gives as failed or errored (new or known): with prerequisites
    /// (`after:`), one per root cause; the cases they block are `BLOCKED`, not failures.
    fn failed_ids(&self) -> std::collections::BTreeSet<String> {
        self.stdout
            .lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                matches!(words.next(), Some("FAIL" | "ERROR" | "KNOWN"))
                    .then(|| words.nth(1).map(str::to_owned))
                    .flatten()
            })
            .collect()
    }

    /// Whether the report lists `id` as a (new or known) failure or error.
    fn names_failure(&self, id: &str) -> bool {
        self.stdout.lines().any(|l| {
            let mut words = l.split_whitespace();
            matches!(words.next(), Some("FAIL" | "ERROR")) && words.any(|w| w == id)
        })
    }

    /// Everything needed to see why a run went wrong: its report, stderr, pop3d's log tail
    /// (lines cut at 300 characters: some cases send 70000-octet lines).
    fn explain(&self) -> String {
        let cut = cut_long_lines;
        let log: Vec<&str> = self.log.lines().collect();
        let tail = cut(&log[log.len().saturating_sub(40)..].join("\n"));
        format!(
            "conform ({}) exited {:?} after {:.1?}\n--- stdout\n{}\n--- stderr\n{}\n--- pop3d.log (tail)\n{}",
            self.mode,
            self.code,
            self.took,
            cut(&self.stdout),
            cut(&self.stderr),
            tail
        )
    }
}

#[test]
fn catalogue_against_mailutils() {
    if system_binary("pop3d").is_none() {
        if std::env::var("CONFORM_SKIP_MAILUTILS").as_deref() == Ok("1") {
            println!("skipped: GNU Mailutils pop3d is not installed and CONFORM_SKIP_MAILUTILS=1");
            return;
        }
        panic!(
            "GNU Mailutils pop3d is not installed: this test runs the catalogue against it. \
             Install it (`apt-get install mailutils-pop3d openssl`, as .ci/run does) or set \
             CONFORM_SKIP_MAILUTILS=1 to skip this test."
        );
    }

    // Four servers, four runs at once: the runs mostly wait on the network.
    let runs: Vec<Run> = std::thread::scope(|s| {
        let jobs = [
            ("none", true),
            ("starttls", true),
            ("implicit", true),
            ("none", false),
        ]
        .map(|(mode, baseline)| {
            s.spawn(move || {
                let pop3d = Pop3d::start();
                pop3d.run(mode, baseline)
            })
        });
        jobs.into_iter()
            .map(|j| j.join().expect("a run panicked"))
            .collect()
    });

    for run in &runs {
        println!(
            "mailutils, {}: exit {:?} in {:.1?}: {}",
            run.mode,
            run.code,
            run.took,
            run.summary()
        );
        for failure in run.new_failures() {
            println!("    {failure}");
        }
    }
    for run in &runs[..3] {
        assert_eq!(
            run.code,
            Some(0),
            "new failures against GNU Mailutils pop3d ({}):\n{}\n\n{}",
            run.mode,
            run.new_failures().join("\n"),
            run.explain()
        );
        if !run.summary().contains(" 0 baselined but passing") {
            println!(
                "note ({}): baselined cases pass now; remove them from {BASELINE}",
                run.mode
            );
        }
    }

    let bare = &runs[3];
    assert_eq!(bare.code, Some(1), "{}", bare.explain());
    let missing: Vec<String> = baseline_entries(BASELINE)
        .into_iter()
        .filter(|(_, modes)| modes.as_ref().is_none_or(|m| m.iter().any(|x| x == "none")))
        .map(|(id, _)| id)
        .filter(|id| !bare.names_failure(id))
        .collect();
    assert!(
        missing.is_empty(),
        "without the baseline these deviations are not reported as failures: {missing:?}\n{}",
        bare.explain()
    );
    // every failure is a distinct root cause, the baseline's entry for it: no stale size, no
    // second failure of one defect (those are blocked by the first)
    let roots: std::collections::BTreeSet<String> = baseline_entries(BASELINE)
        .into_iter()
        .filter(|(_, modes)| modes.as_ref().is_none_or(|m| m.iter().any(|x| x == "none")))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(bare.failed_ids(), roots, "{}", bare.explain());
    assert_eq!(roots.len(), ROOT_CAUSES, "distinct root causes (plain)");
    assert!(bare.summary().contains(" blocked"), "{}", bare.summary());
    // pop3d rewrites the mbox when a session ends: the drift is named once, before the cases
    for run in &runs {
        assert_eq!(
            run.stdout.matches("maildrop drift:").count(),
            1,
            "{}",
            run.explain()
        );
    }
}

/// The distinct root causes of pop3d's failures in a plain run: the baseline's entries.
const ROOT_CAUSES: usize = 8;
