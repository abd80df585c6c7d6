//! The whole catalogue against a real third-party server: Dovecot's POP3 server (Debian
//! `dovecot-pop3d`, Dovecot 2.3), started unprivileged on loopback by `.ci/dovecot/start.sh`.
//!
//! One Dovecot per run, the runs in parallel: plain (`--tls none`), STLS and implicit TLS, each
//! with the committed baseline of Dovecot's deviations (`scenarios/baselines/dovecot.toml`),
//! must exit 0; a plain run without the baseline must exit 1 and name every baselined case.
//!
//! Dovecot missing: the test fails, unless `CONFORM_SKIP_DOVECOT=1` (then it says it skipped).
//! `.ci/run` installs it.

mod common;

use std::path::PathBuf;

use common::{conform, root};
use std::process::Command;
use std::time::{Duration, Instant};

const BASELINE: &str = "scenarios/baselines/dovecot.toml";
const PASSWORD_VAR: &str = "CONFORM_DOVECOT_PASSWORD";

/// `'text'` for `sh -c`.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A running Dovecot in its own temporary directory; stopped when dropped (also on panic).
struct Dovecot {
    dir: tempfile::TempDir,
    pop3: u16,
    pop3s: u16,
    user: String,
    password: String,
    cert: PathBuf,
}

impl Dovecot {
    fn start() -> Dovecot {
        let dir = tempfile::Builder::new()
            .prefix("conform-dovecot.")
            .tempdir()
            .expect("temporary directory");
        let out = Command::new(root().join(".ci/dovecot/start.sh"))
            .arg(dir.path())
            .output()
            .expect("running .ci/dovecot/start.sh");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            ".ci/dovecot/start.sh failed:\n{stdout}{}",
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
        let started = Dovecot {
            pop3: port("pop3"),
            pop3s: port("pop3s"),
            user: value("user"),
            password: value("password"),
            cert: PathBuf::from(value("cert")),
            dir,
        };
        let seeded = conform()
            .args(["seed", "--replace", "--maildir"])
            .arg(started.maildir())
            .output()
            .expect("conform seed runs");
        assert!(
            seeded.status.success(),
            "conform seed: {}",
            String::from_utf8_lossy(&seeded.stderr)
        );
        started
    }

    fn maildir(&self) -> PathBuf {
        self.dir.path().join("Maildir")
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("dovecot.conf")
    }

    /// What `--reseed-cmd` runs before the first case and after each mutating one.
    fn reseed_cmd(&self) -> String {
        format!(
            "{} seed --replace --maildir {}",
            sh_quote(env!("CARGO_BIN_EXE_conform")),
            sh_quote(&self.maildir().to_string_lossy())
        )
    }

    /// The target options of a `conform` command against this Dovecot in `mode`.
    fn target(&self, c: &mut Command, mode: &str) {
        let port = if mode == "implicit" {
            self.pop3s
        } else {
            self.pop3
        };
        c.args(["--tls", mode, "--user", &self.user])
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
            // Dovecot's POP3 session lock waits up to 10 s for a competing session before
            // -ERR [IN-USE]; above that, such a wait is a verdict and not a timeout.
            .args(["--timeout", "15"]);
    }

    /// `conform run` of the whole catalogue against this Dovecot in `mode`.
    fn run(&self, mode: &str, baseline: bool) -> Run {
        let junit = root().join(format!(
            "reports/dovecot-{mode}{}.xml",
            if baseline { "" } else { "-no-baseline" }
        ));
        let mut c = conform();
        c.arg("run");
        self.target(&mut c, mode);
        c.arg("--junit").arg(&junit);
        if baseline {
            c.arg("--baseline").arg(BASELINE);
        }
        let label = format!(
            "{mode}{}",
            if baseline {
                ", baseline"
            } else {
                ", no baseline"
            }
        );
        self.finish(label, c)
    }

    /// `conform model` against this Dovecot in `mode`: `cases` sequences on `sessions`
    /// clients (a failure's scenario lands in `reports/model-dovecot-*`).
    fn model(&self, mode: &str, sessions: u8, cases: u32) -> Run {
        let mut c = conform();
        c.arg("model");
        self.target(&mut c, mode);
        c.args(["--sessions", &sessions.to_string()])
            .args(["--cases", &cases.to_string(), "--seed", "1"])
            .arg("--out")
            .arg(root().join(format!("reports/model-dovecot-{mode}-{sessions}")));
        self.finish(format!("model, {mode}, {sessions} session(s)"), c)
    }

    fn finish(&self, label: String, mut c: Command) -> Run {
        let start = Instant::now();
        let out = c.output().expect("conform runs");
        Run {
            label,
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took: start.elapsed(),
            log: std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default(),
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.dir.path().join("run/master.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        let _ = Command::new(dovecot_bin().unwrap_or_else(|| "dovecot".into()))
            .arg("-c")
            .arg(self.conf())
            .arg("stop")
            .output();
        // `dovecot stop` only signals the master: wait (briefly) until it is gone, so the
        // temporary directory is not removed under it.
        if let Some(pid) = pid {
            let proc_dir = PathBuf::from(format!("/proc/{pid}"));
            let deadline = Instant::now() + Duration::from_secs(5);
            while proc_dir.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

struct Run {
    label: String,
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

    /// Everything needed to see why a run went wrong: its report, stderr, Dovecot's log tail
    /// (lines cut at 300 characters: some cases send 70000-octet lines).
    fn explain(&self) -> String {
        let cut = |text: &str| -> String {
            text.lines()
                .map(|l| match l.char_indices().nth(300) {
                    Some((i, _)) => format!("{}...", &l[..i]),
                    None => l.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let log: Vec<&str> = self.log.lines().collect();
        let tail = cut(&log[log.len().saturating_sub(40)..].join("\n"));
        format!(
            "conform ({}) exited {:?} after {:.1?}\n--- stdout\n{}\n--- stderr\n{}\n--- dovecot.log (tail)\n{}",
            self.label,
            self.code,
            self.took,
            cut(&self.stdout),
            cut(&self.stderr),
            tail
        )
    }

    /// The `--- FAIL id ...` / `--- ERROR id ...` headers of the report: the new failures.
    fn new_failures(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with("--- FAIL ") || l.starts_with("--- ERROR "))
            .collect()
    }

    /// Whether the report lists `id` as a (new or known) failure or error.
    fn names_failure(&self, id: &str) -> bool {
        self.stdout.lines().any(|l| {
            let mut words = l.split_whitespace();
            matches!(words.next(), Some("FAIL" | "ERROR")) && words.any(|w| w == id)
        })
    }
}

/// The baseline's entries as (id, modes); modes `None` = all. The file is ours and simple:
/// one `id = "..."` and at most one `modes = [...]` line per `[[deviation]]`.
fn baseline_entries() -> Vec<(String, Option<Vec<String>>)> {
    let text = std::fs::read_to_string(root().join(BASELINE)).expect("reading the baseline");
    let quoted =
        |s: &str| -> Vec<String> { s.split('"').skip(1).step_by(2).map(str::to_owned).collect() };
    let mut entries: Vec<(String, Option<Vec<String>>)> = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("id =") {
            entries.push((quoted(v).remove(0), None));
        } else if let Some(v) = line.strip_prefix("modes =") {
            entries.last_mut().expect("modes after an id").1 = Some(quoted(v));
        }
    }
    entries
}

/// The `dovecot` binary: on PATH, or in /usr/sbin (Debian's place, not on a user's PATH).
fn dovecot_bin() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join("dovecot"))
        .find(|p| p.is_file())
}

#[test]
fn catalogue_against_dovecot() {
    if dovecot_bin().is_none() {
        if std::env::var("CONFORM_SKIP_DOVECOT").as_deref() == Ok("1") {
            println!("skipped: dovecot is not installed and CONFORM_SKIP_DOVECOT=1");
            return;
        }
        panic!(
            "dovecot is not installed: this test runs the catalogue against Dovecot's POP3 \
             server. Install it (`apt-get install dovecot-pop3d openssl`, as .ci/run does) \
             or set CONFORM_SKIP_DOVECOT=1 to skip this test."
        );
    }

    // Six servers, six runs at once: the runs mostly wait on the network (and the two-session
    // model on Dovecot's 10 s lock wait).
    let (runs, models): (Vec<Run>, Vec<Run>) = std::thread::scope(|s| {
        let jobs = [
            ("none", true),
            ("starttls", true),
            ("implicit", true),
            ("none", false),
        ]
        .map(|(mode, baseline)| {
            s.spawn(move || {
                let dovecot = Dovecot::start();
                dovecot.run(mode, baseline)
            })
        });
        let models = [("none", 1, 300), ("starttls", 2, 60)].map(|(mode, sessions, cases)| {
            s.spawn(move || {
                let dovecot = Dovecot::start();
                dovecot.model(mode, sessions, cases)
            })
        });
        let join = |j: std::thread::ScopedJoinHandle<'_, Run>| j.join().expect("a run panicked");
        (
            jobs.into_iter().map(join).collect(),
            models.into_iter().map(join).collect(),
        )
    });

    for model in &models {
        println!(
            "dovecot, {}: exit {:?} in {:.1?}: {}",
            model.label,
            model.code,
            model.took,
            model.summary()
        );
    }
    for model in &models {
        assert_eq!(
            model.code,
            Some(0),
            "the model diverged on Dovecot ({}):\n{}",
            model.label,
            model.explain()
        );
    }

    for run in &runs {
        println!(
            "dovecot, {}: exit {:?} in {:.1?}: {}",
            run.label,
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
            "new failures against Dovecot ({}):\n{}\n\n{}",
            run.label,
            run.new_failures().join("\n"),
            run.explain()
        );
        if !run.summary().contains(" 0 baselined but passing") {
            println!(
                "note ({}): baselined cases pass now; remove them from {BASELINE}",
                run.label
            );
        }
    }

    let bare = &runs[3];
    assert_eq!(bare.code, Some(1), "{}", bare.explain());
    let missing: Vec<String> = baseline_entries()
        .into_iter()
        .filter(|(_, modes)| {
            modes
                .as_ref()
                .map_or(true, |m| m.iter().any(|x| x == "none"))
        })
        .map(|(id, _)| id)
        .filter(|id| !bare.names_failure(id))
        .collect();
    assert!(
        missing.is_empty(),
        "without the baseline these deviations are not reported as failures: {missing:?}\n{}",
        bare.explain()
    );
}
