//! What the tests against real third-party servers (Dovecot, GNU Mailutils) share: starting a
//! server with its `.ci/NAME/start.sh`, running `conform` against it, and reading the report.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{baseline_entries, cut_long_lines, root};

/// A server started by `.ci/NAME/start.sh DIR`: its directory and the `key=value` lines the
/// script printed (ports, user, password, certificate, ...).
pub struct Started {
    /// The server's directory (removed when dropped: stop the server first).
    pub dir: tempfile::TempDir,
    values: BTreeMap<String, String>,
}

impl Started {
    /// Runs `.ci/NAME/start.sh` in a new temporary directory; panics with its output when it
    /// fails.
    pub fn start(name: &str) -> Started {
        let dir = tempfile::Builder::new()
            .prefix(&format!("conform-{name}."))
            .tempdir()
            .expect("temporary directory");
        let script = root().join(format!(".ci/{name}/start.sh"));
        let out = Command::new(&script)
            .arg(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{} failed:\n{stdout}{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let values = stdout
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Started { dir, values }
    }

    /// What the script printed for `key`.
    pub fn value(&self, key: &str) -> String {
        self.values
            .get(key)
            .unwrap_or_else(|| panic!("start.sh printed no {key}=: {:?}", self.values))
            .clone()
    }

    /// The port printed for `key`.
    pub fn port(&self, key: &str) -> u16 {
        self.value(key).parse().expect("a port number")
    }
}

/// One `conform` run against a server, and the server's log at its end.
pub struct Run {
    /// What ran (mode, baseline or not).
    pub label: String,
    /// The exit code.
    pub code: Option<i32>,
    /// The console report.
    pub stdout: String,
    /// Errors.
    pub stderr: String,
    /// Wall time.
    pub took: Duration,
    /// The server's log (its name in `log_name`).
    pub log: String,
    log_name: String,
}

impl Run {
    /// Runs `c`, then reads the server's log at `log`.
    pub fn of(label: String, mut c: Command, log: &std::path::Path) -> Run {
        let start = Instant::now();
        let out = c.output().expect("conform runs");
        Run {
            label,
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took: start.elapsed(),
            log: std::fs::read_to_string(log).unwrap_or_default(),
            log_name: log
                .file_name()
                .map_or("log".into(), |n| n.to_string_lossy().into_owned()),
        }
    }

    /// The report's last line (the counts).
    pub fn summary(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }

    /// The `--- FAIL id ...` / `--- ERROR id ...` headers of the report: the new failures.
    pub fn new_failures(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with("--- FAIL ") || l.starts_with("--- ERROR "))
            .collect()
    }

    /// Whether the report lists `id` as a (new or known) failure or error.
    pub fn names_failure(&self, id: &str) -> bool {
        self.failed_ids().contains(id)
    }

    /// The ids the report gives as failed or errored (new or known): with prerequisites
    /// (`after:`), one per root cause; the cases they block are `BLOCKED`, not failures.
    pub fn failed_ids(&self) -> BTreeSet<String> {
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

    /// Everything needed to see why a run went wrong: its report, stderr, the server's log
    /// tail (lines cut at 300 characters: some cases send 70000-octet lines).
    pub fn explain(&self) -> String {
        let log: Vec<&str> = self.log.lines().collect();
        let tail = cut_long_lines(&log[log.len().saturating_sub(40)..].join("\n"));
        format!(
            "conform ({}) exited {:?} after {:.1?}\n--- stdout\n{}\n--- stderr\n{}\n--- {} (tail)\n{}",
            self.label,
            self.code,
            self.took,
            cut_long_lines(&self.stdout),
            cut_long_lines(&self.stderr),
            self.log_name,
            tail
        )
    }
}

/// The checks every baselined server gets: the runs with the baseline (`with`) exit 0; the
/// plain run without it (`bare`) exits 1, and what it reports as failed is exactly the
/// baseline's entries for plain runs — one per root cause, nothing else (the rest blocked).
/// Returns the number of root causes.
pub fn check_baselined(server: &str, with: &[Run], bare: &Run, baseline: &str) -> usize {
    for run in with.iter().chain([bare]) {
        println!(
            "{server}, {}: exit {:?} in {:.1?}: {}",
            run.label,
            run.code,
            run.took,
            run.summary()
        );
        for failure in run.new_failures() {
            println!("    {failure}");
        }
    }
    for run in with {
        assert_eq!(
            run.code,
            Some(0),
            "new failures against {server} ({}):\n{}\n\n{}",
            run.label,
            run.new_failures().join("\n"),
            run.explain()
        );
        if !run.summary().contains(" 0 baselined but passing") {
            println!(
                "note ({}): baselined cases pass now; remove them from {baseline}",
                run.label
            );
        }
    }
    assert_eq!(bare.code, Some(1), "{}", bare.explain());
    let roots: BTreeSet<String> = baseline_entries(baseline)
        .into_iter()
        .filter(|(_, modes)| modes.as_ref().is_none_or(|m| m.iter().any(|x| x == "none")))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        bare.failed_ids(),
        roots,
        "without the baseline, the failures must be the baseline's root causes:\n{}",
        bare.explain()
    );
    roots.len()
}
