//! The whole catalogue against a real third-party server: Dovecot's POP3 server (Debian
//! `dovecot-pop3d`, Dovecot 2.3), started unprivileged on loopback by `.ci/dovecot/start.sh`.
//!
//! One Dovecot per run, the runs in parallel: plain (`--tls none`), STLS and implicit TLS, each
//! with the committed baseline of Dovecot's deviations (`scenarios/baselines/dovecot.toml`),
//! must exit 0; a plain run without the baseline must exit 1 and name every baselined case.
//! The catalogue runs use start.sh's four accounts and the default `--jobs` (the parallel
//! scheduler); a subset run serially on one account and in parallel on four must give every
//! case the same verdict.
//!
//! Dovecot missing: the test skips with one loud line (`.ci/run` installs it; tests install
//! nothing).

/// One line on the test process's standard error that `cargo test` does not capture (its
/// capture takes `eprintln!`): a skipped test says so loudly.
macro_rules! loud {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::server::{check_baselined, Run, Started};
use common::{conform, root, sh_quote, system_binary};

const BASELINE: &str = "scenarios/baselines/dovecot.toml";
const PASSWORD_VAR: &str = "CONFORM_DOVECOT_PASSWORD";

/// A running Dovecot in its own temporary directory; stopped when dropped (also on panic).
struct Dovecot {
    started: Started,
    pop3: u16,
    pop3s: u16,
    user: String,
    /// The account pool (the first is `user`), one password.
    users: Vec<String>,
    password: String,
    cert: PathBuf,
}

impl Dovecot {
    fn start() -> Dovecot {
        let started = Started::start("dovecot");
        let dovecot = Dovecot {
            pop3: started.port("pop3"),
            pop3s: started.port("pop3s"),
            user: started.value("user"),
            users: started
                .value("users")
                .split(',')
                .map(str::to_owned)
                .collect(),
            password: started.value("password"),
            cert: PathBuf::from(started.value("cert")),
            started,
        };
        for user in &dovecot.users {
            let seeded = conform()
                .args(["seed", "--replace", "--maildir"])
                .arg(dovecot.maildirs().join(user))
                .output()
                .expect("conform seed runs");
            assert!(
                seeded.status.success(),
                "conform seed: {}",
                String::from_utf8_lossy(&seeded.stderr)
            );
        }
        dovecot
    }

    /// Each user's Maildir is `maildirs/USER` (the first user's is a link to `Maildir`).
    fn maildirs(&self) -> PathBuf {
        PathBuf::from(self.started.value("maildirs"))
    }

    fn maildir(&self) -> PathBuf {
        self.started.dir.path().join("Maildir")
    }

    fn conf(&self) -> PathBuf {
        self.started.dir.path().join("dovecot.conf")
    }

    /// What `--reseed-cmd` runs before the first case and after each mutating one.
    fn reseed_cmd(&self) -> String {
        format!(
            "{} seed --replace --maildir {}",
            sh_quote(env!("CARGO_BIN_EXE_conform")),
            sh_quote(&self.maildir().to_string_lossy())
        )
    }

    /// What `--reseed-cmd` runs for each account of the pool (`{user}` replaced).
    fn reseed_pool_cmd(&self) -> String {
        format!(
            "{} seed --replace --maildir {}/{{user}}",
            sh_quote(env!("CARGO_BIN_EXE_conform")),
            sh_quote(&self.maildirs().to_string_lossy())
        )
    }

    /// The target options of a `conform` command against this Dovecot in `mode`, as the one
    /// account `user`.
    fn target(&self, c: &mut Command, mode: &str) {
        self.target_as(c, mode, false);
    }

    /// The target options in `mode`, with every account of the pool when `pool`.
    fn target_as(&self, c: &mut Command, mode: &str, pool: bool) {
        let port = if mode == "implicit" {
            self.pop3s
        } else {
            self.pop3
        };
        c.args(["--tls", mode]);
        let reseed = if pool {
            for user in &self.users {
                c.args(["--user", user]);
            }
            self.reseed_pool_cmd()
        } else {
            c.args(["--user", &self.user]);
            self.reseed_cmd()
        };
        c.arg("--target")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--password-env")
            .arg(PASSWORD_VAR)
            .env(PASSWORD_VAR, &self.password)
            // start.sh's certificate is a self-signed leaf for 127.0.0.1: trust exactly it
            .arg("--ca")
            .arg(&self.cert)
            .arg("--reseed-cmd")
            .arg(reseed)
            // Dovecot's POP3 session lock waits up to 10 s for a competing session before
            // -ERR [IN-USE]; above that, such a wait is a verdict and not a timeout.
            .args(["--timeout", "15"]);
    }

    /// `conform run` of the whole catalogue against this Dovecot in `mode`, on the four
    /// accounts with the default `--jobs`.
    fn run(&self, mode: &str, baseline: bool) -> Run {
        let name = format!(
            "reports/dovecot-{mode}{}",
            if baseline { "" } else { "-no-baseline" }
        );
        let mut c = conform();
        c.arg("run");
        self.target_as(&mut c, mode, true);
        c.arg("--junit").arg(root().join(format!("{name}.xml")));
        c.arg("--json").arg(root().join(format!("{name}.jsonl")));
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

    fn finish(&self, label: String, c: Command) -> Run {
        Run::of(label, c, &self.started.dir.path().join("dovecot.log"))
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.started.dir.path().join("run/master.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        let _ = Command::new(system_binary("dovecot").unwrap_or_else(|| "dovecot".into()))
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

#[test]
fn catalogue_against_dovecot() {
    if dovecot_missing("catalogue_against_dovecot") {
        return;
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

    let roots = check_baselined("dovecot", &runs[..3], &runs[3], BASELINE);
    assert_eq!(roots, ROOT_CAUSES, "distinct root causes (plain)");

    // Dovecot announces SCRAM-SHA-1 and SCRAM-SHA-256 (dovecot.conf.in): every SCRAM case
    // runs in every mode, and passes (a skip or N/A would hide a broken exchange).
    for mode in ["none", "starttls", "implicit"] {
        let report = root().join(format!("reports/dovecot-{mode}.jsonl"));
        let scram: Vec<(String, String)> = verdicts(&report)
            .into_iter()
            .filter(|(id, _)| is_scram_case(id))
            .collect();
        assert!(
            scram.len() >= SCRAM_CASES,
            "{mode}: the SCRAM cases ran: {scram:?}"
        );
        for (id, verdict) in &scram {
            if needs_plus(id) {
                // Dovecot 2.3 has no SCRAM -PLUS: not applicable (skipped without TLS)
                assert!(
                    ["pass", "not-applicable", "skip"].contains(&verdict.as_str()),
                    "{mode}: {id} on Dovecot: {verdict}"
                );
            } else {
                assert_eq!(verdict, "pass", "{mode}: {id} on Dovecot");
            }
        }
    }
}

/// The SCRAM cases: RFC 5802 and RFC 7677, and RFC 5034's SCRAM exchanges.
fn is_scram_case(id: &str) -> bool {
    id.starts_with("rfc5802/") || id.starts_with("rfc7677/") || id.contains("scram")
}

/// The SCRAM cases about channel binding (RFC 5802 §6), which need a -PLUS mechanism.
fn needs_plus(id: &str) -> bool {
    id.contains("-plus") || id.contains("y-flag")
}

/// How many SCRAM cases the catalogue has, at least.
const SCRAM_CASES: usize = 11;

/// The `login` step over SCRAM: the catalogue's TRANSACTION cases logged in with
/// `--login scram-sha-256` and `--login scram-sha-1` (Dovecot derives the keys from the
/// {PLAIN} password), and the model with SCRAM logins among its methods.
#[test]
fn scram_logins_against_dovecot() {
    if dovecot_missing("scram_logins_against_dovecot") {
        return;
    }
    let dovecot = Dovecot::start();
    for (method, mode) in [("scram-sha-256", "implicit"), ("scram-sha-1", "none")] {
        let mut c = conform();
        c.args([
            "run",
            "--filter",
            "rfc:1939/5|rfc:5802|rfc:7677",
            "--login",
            method,
        ]);
        dovecot.target_as(&mut c, mode, true);
        let run = dovecot.finish(format!("--login {method}, {mode}"), c);
        println!(
            "dovecot, {}: exit {:?} in {:.1?}: {}",
            run.label,
            run.code,
            run.took,
            run.summary()
        );
        assert_eq!(run.code, Some(0), "{}", run.explain());
        let login = format!("login: AUTH {}", method.to_ascii_uppercase());
        assert!(run.stdout.contains(&login), "{}", run.explain());
    }
}

/// Cases of every kind for the serial and parallel runs: failed logins (SASL, CRAM-MD5,
/// APOP), logins, deletions (reseeded), several sessions on one maildrop.
const SUBSET: &str = "rfc:2195|rfc:5034|rfc:1939/5|rfc:1939/7";

/// Whether Dovecot is missing; if so, says that `test` skips (one loud line).
fn dovecot_missing(test: &str) -> bool {
    let missing = system_binary("dovecot").is_none();
    if missing {
        loud!(
            "SKIPPED {test}: dovecot is not installed (.ci/run installs the Debian package dovecot-pop3d)"
        );
    }
    missing
}

/// Each case's verdict in a JSON Lines report.
fn verdicts(path: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .expect("the JSON report")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "case")
        .map(|v| {
            (
                v["id"].as_str().expect("an id").to_owned(),
                v["verdict"].as_str().expect("a verdict").to_owned(),
            )
        })
        .collect()
}

#[test]
fn dovecot_verdicts_are_the_same_serial_and_parallel() {
    if dovecot_missing("dovecot_verdicts_are_the_same_serial_and_parallel") {
        return;
    }
    let dovecot = Dovecot::start();
    let dir = tempfile::tempdir().unwrap();
    let mut maps = Vec::new();
    for (name, pool, jobs) in [("serial", false, "1"), ("parallel", true, "16")] {
        let json = dir.path().join(format!("{name}.jsonl"));
        let mut c = conform();
        c.args(["run", "--filter", SUBSET, "--jobs", jobs, "--json"])
            .arg(&json);
        dovecot.target_as(&mut c, "none", pool);
        let out = c.output().expect("conform runs");
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{name}: {:?}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        maps.push(verdicts(&json));
    }
    let (serial, parallel) = (&maps[0], &maps[1]);
    assert!(serial.len() > 100, "the subset ran: {}", serial.len());
    assert_eq!(
        serial, parallel,
        "serial (one account) vs parallel (four accounts)"
    );
}

/// Dovecot's distinct deviations in a plain run: the baseline's entries for plain runs.
const ROOT_CAUSES: usize = 7;
