//! The whole catalogue against a real third-party server: Dovecot's POP3 server (Debian
//! `dovecot-pop3d`, Dovecot 2.3), started unprivileged on loopback by `.ci/dovecot/start.sh`.
//!
//! One Dovecot per run, the runs in parallel: plain (`--tls none`), STLS and implicit TLS, each
//! with the committed baseline of Dovecot's deviations (`scenarios/baselines/dovecot.toml`),
//! must exit 0; a plain run without the baseline must exit 1 and name every baselined case.
//!
//! Dovecot missing: the test skips with one loud line (`.ci/run` installs it; tests install
//! nothing).

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
            password: started.value("password"),
            cert: PathBuf::from(started.value("cert")),
            started,
        };
        let seeded = conform()
            .args(["seed", "--replace", "--maildir"])
            .arg(dovecot.maildir())
            .output()
            .expect("conform seed runs");
        assert!(
            seeded.status.success(),
            "conform seed: {}",
            String::from_utf8_lossy(&seeded.stderr)
        );
        dovecot
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
    if system_binary("dovecot").is_none() {
        eprintln!(
            "SKIPPED catalogue_against_dovecot: dovecot is not installed (.ci/run installs the Debian package dovecot-pop3d)"
        );
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
}

/// Dovecot's distinct deviations in a plain run: the baseline's entries for plain runs.
const ROOT_CAUSES: usize = 7;
