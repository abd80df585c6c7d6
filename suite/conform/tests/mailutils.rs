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
//! pop3d missing: the test skips with one loud line (tests install nothing).
//! `.ci/run` installs it.

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

const BASELINE: &str = "scenarios/baselines/mailutils.toml";
const PASSWORD_VAR: &str = "CONFORM_MAILUTILS_PASSWORD";

/// A running pop3d in its own temporary directory; stopped when dropped (also on panic).
struct Pop3d {
    started: Started,
    pop3: u16,
    pop3s: u16,
    user: String,
    password: String,
    cert: PathBuf,
    mbox: PathBuf,
}

impl Pop3d {
    fn start() -> Pop3d {
        let started = Started::start("mailutils");
        let started = Pop3d {
            pop3: started.port("pop3"),
            pop3s: started.port("pop3s"),
            user: started.value("user"),
            password: started.value("password"),
            cert: PathBuf::from(started.value("cert")),
            mbox: PathBuf::from(started.value("mbox")),
            started,
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
        let label = format!(
            "{mode}{}",
            if baseline {
                ", baseline"
            } else {
                ", no baseline"
            }
        );
        Run::of(label, c, &self.started.dir.path().join("pop3d.log"))
    }
}

impl Drop for Pop3d {
    fn drop(&mut self) {
        let Some(pid) = std::fs::read_to_string(self.started.dir.path().join("pop3d.pid"))
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

#[test]
fn catalogue_against_mailutils() {
    if system_binary("pop3d").is_none() {
        loud!(
            "SKIPPED catalogue_against_mailutils: GNU Mailutils pop3d is not installed (.ci/run installs the Debian package mailutils-pop3d)"
        );
        return;
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

    let roots = check_baselined("mailutils", &runs[..3], &runs[3], BASELINE);
    assert_eq!(roots, ROOT_CAUSES, "distinct root causes (plain)");
    let bare = &runs[3];
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
