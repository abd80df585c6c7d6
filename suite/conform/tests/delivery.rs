//! `conform seed` over the network into a real server: Dovecot (Debian `dovecot-pop3d`,
//! `dovecot-imapd`, `dovecot-lmtpd`, 2.3) started by `.ci/dovecot-delivery/start.sh`, seeded
//! through its LMTP (RFC 2033) and through IMAP APPEND with STARTTLS (RFC 9051), each checked
//! over POP3 (`--check`), seeded twice with `--replace` (still the fixture: 7 messages, not
//! 14), and then a fixture-heavy subset of the catalogue (`--filter rfc:1939/5`, 52 cases)
//! run with that destination as `--reseed-cmd`: the verdicts must equal those of the same
//! subset seeded through the Maildir. Refusals (an unknown recipient, a mailbox that does not
//! exist, a maildrop that holds messages without `--replace`) are exit 2 naming the step and
//! Dovecot's answer.
//!
//! SMTP through a real MTA (`seeding_dovecot_over_smtp`): OpenSMTPD (Debian `opensmtpd`,
//! 6.8) started by `.ci/smtp/start.sh` on a free loopback port, handing each message to the
//! same Dovecot's LMTP; seeded twice with `--replace` and `--check`, a recipient it refuses,
//! and the same subset with SMTP as `--reseed-cmd`, verdicts equal to the Maildir-seeded run.
//! The MTA adds a `Received:` header (Dovecot's LMTP `Return-Path:` and `Delivered-To:`), so
//! the messages are larger than the fixture's files: the fixture is found by Message-ID and
//! the cases read sizes from the session. Its queue may deliver a session's messages out of
//! order, so `conform seed --smtp --target` sends one message per session and waits for each
//! to show in the maildrop. smtpd runs only as root (CI is root).
//!
//! Dovecot or its IMAP/LMTP parts missing, or OpenSMTPD missing or not root: the test skips
//! with one loud line (`.ci/run` installs them; tests install nothing).

/// One line on the test process's standard error that `cargo test` does not capture (its
/// capture takes `eprintln!`): a skipped test says so loudly.
macro_rules! loud {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::server::Started;
use common::{conform, root, run, sh_quote, system_binary};

const PASSWORD: &str = "conform-dovecot-secret";
const SUBSET: &str = "rfc:1939/5";

struct Dovecot {
    started: Started,
    pop3: u16,
    imap: u16,
    lmtp: u16,
    /// OpenSMTPD's port, handing mail to `lmtp` (`seeding_dovecot_over_smtp` only).
    smtp: Option<u16>,
}

/// The envelope recipient of SMTP seeding: any domain (the MTA delivers every one to
/// Dovecot's LMTP, which drops the domain).
const SMTP_RCPT: &str = "conform@mail.test";

impl Drop for Dovecot {
    fn drop(&mut self) {
        let dir = self.started.dir.path();
        let pid = std::fs::read_to_string(dir.join("run/master.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        let _ = Command::new(system_binary("dovecot").unwrap_or_else(|| "dovecot".into()))
            .arg("-c")
            .arg(dir.join("dovecot.conf"))
            .arg("stop")
            .output();
        if let Some(pid) = pid {
            for _ in 0..100 {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
}

impl Dovecot {
    fn pop3(&self) -> String {
        format!("127.0.0.1:{}", self.pop3)
    }

    fn maildir(&self) -> PathBuf {
        self.started.dir.path().join("Maildir")
    }

    fn cert(&self) -> PathBuf {
        self.started.dir.path().join("cert.pem")
    }

    /// `conform seed` arguments for each destination (all with --replace).
    fn seed_args(&self, how: &str) -> Vec<String> {
        let mut a: Vec<String> = vec!["seed".into(), "--replace".into()];
        match how {
            "maildir" => a.extend(["--maildir".into(), self.maildir().display().to_string()]),
            "lmtp" => a.extend(
                [
                    "--lmtp",
                    &format!("127.0.0.1:{}", self.lmtp),
                    "--rcpt",
                    "conform",
                    "--target",
                    &self.pop3(),
                    "--user",
                    "conform",
                ]
                .map(String::from),
            ),
            "smtp" => a.extend(
                [
                    "--smtp",
                    &format!("127.0.0.1:{}", self.smtp.expect("smtpd started")),
                    "--rcpt",
                    SMTP_RCPT,
                    "--target",
                    &self.pop3(),
                    "--user",
                    "conform",
                ]
                .map(String::from),
            ),
            "imap" => a.extend(
                [
                    "--imap",
                    &format!("imap://127.0.0.1:{}/INBOX", self.imap),
                    "--starttls",
                    "--ca",
                    &self.cert().display().to_string(),
                    "--user",
                    "conform",
                ]
                .map(String::from),
            ),
            _ => unreachable!(),
        }
        a
    }

    fn seed(&self, how: &str, extra: &[&str]) -> (i32, String, String) {
        let mut c = conform();
        c.env("CONFORM_PASSWORD", PASSWORD)
            .args(self.seed_args(how))
            .args(extra);
        run(&mut c)
    }

    /// The subset with `how` as the reseed command: each case's verdict.
    fn subset(&self, how: &str) -> BTreeMap<String, String> {
        let json = self.started.dir.path().join(format!("{how}.jsonl"));
        let reseed = std::iter::once(sh_quote(env!("CARGO_BIN_EXE_conform")))
            .chain(self.seed_args(how).iter().map(|a| sh_quote(a)))
            .collect::<Vec<_>>()
            .join(" ");
        let mut c = conform();
        c.env("CONFORM_PASSWORD", PASSWORD)
            .args(["run", "--target", &self.pop3(), "--user", "conform"])
            .args(["--filter", SUBSET, "--reseed-cmd", &reseed])
            .args(["--baseline", "scenarios/baselines/dovecot.toml", "--json"])
            .arg(&json);
        let (code, out, err) = run(&mut c);
        assert_eq!(code, 0, "{how}-seeded run:\n{out}\n{err}");
        let text = std::fs::read_to_string(&json).expect("the JSON report");
        let verdicts: BTreeMap<String, String> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON line"))
            .filter(|v| v["event"] == "case")
            .map(|v| {
                (
                    v["id"].as_str().unwrap().to_owned(),
                    v["verdict"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        println!(
            "{how}-seeded {SUBSET}: {} cases, {} pass, {} skip",
            verdicts.len(),
            verdicts.values().filter(|v| *v == "pass").count(),
            verdicts.values().filter(|v| *v == "skip").count()
        );
        verdicts
    }
}

fn missing_tool() -> Option<String> {
    if system_binary("dovecot").is_none() {
        return Some("dovecot is not installed (.ci/run installs dovecot-pop3d)".into());
    }
    for part in ["imap", "lmtp"] {
        if !Path::new(&format!("/usr/lib/dovecot/{part}")).exists() {
            return Some(format!(
                "dovecot's {part} is not installed (.ci/run installs dovecot-{part}d)"
            ));
        }
    }
    if system_binary("openssl").is_none() {
        return Some("openssl is not installed (.ci/run installs it)".into());
    }
    None
}

/// OpenSMTPD started by `.ci/smtp/start.sh`, stopped (SIGTERM) when dropped.
struct Smtpd {
    dir: PathBuf,
    port: u16,
}

impl Smtpd {
    /// Starts it in `dir`, delivering to the LMTP server at `lmtp`.
    fn start(dir: PathBuf, lmtp: &str) -> Smtpd {
        let script = root().join(".ci/smtp/start.sh");
        let out = Command::new(&script)
            .arg(&dir)
            .arg(lmtp)
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{} failed:\n{stdout}{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let port = stdout
            .lines()
            .find_map(|l| l.strip_prefix("smtp="))
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("start.sh printed no smtp=PORT: {stdout}"));
        Smtpd { dir, port }
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let Some(pid) = std::fs::read_to_string(self.dir.join("smtpd.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        else {
            return;
        };
        let _ = Command::new("kill").arg(pid.to_string()).output();
        for _ in 0..100 {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Dovecot {
    /// `.ci/dovecot-delivery/start.sh`: POP3, IMAP and LMTP.
    fn start() -> Dovecot {
        let started = Started::start("dovecot-delivery");
        Dovecot {
            pop3: started.port("pop3"),
            imap: started.port("imap"),
            lmtp: started.port("lmtp"),
            smtp: None,
            started,
        }
    }

    /// Seeds through `how` with `--check`, twice (idempotent with --replace): the fixture,
    /// seven files in the Maildir. The second round's report.
    fn seed_twice(&self, how: &str) -> String {
        let mut last = String::new();
        for round in 1..=2 {
            let pop3 = self.pop3();
            let mut extra = vec!["--check", "--check-timeout", "10"];
            if how == "imap" {
                extra.extend(["--target", &pop3]);
            }
            let (code, out, err) = self.seed(how, &extra);
            assert_eq!(code, 0, "{how} round {round}:\n{out}\n{err}");
            assert!(
                out.contains("the maildrop is the standard fixture (7 messages"),
                "{out}"
            );
            if round == 2 {
                let removed = if how == "imap" {
                    "(7 removed first)"
                } else {
                    "emptied the maildrop at pop3://127.0.0.1"
                };
                assert!(out.contains(removed), "{how}: {out}");
            }
            last = out;
        }
        let files = std::fs::read_dir(self.maildir().join("cur"))
            .unwrap()
            .chain(std::fs::read_dir(self.maildir().join("new")).unwrap())
            .count();
        assert_eq!(
            files, 7,
            "{how}: the Maildir holds 7 files after seeding twice"
        );
        last
    }

    /// The subset seeded by each of `hows` gives the Maildir-seeded run's verdicts.
    fn same_verdicts_as_maildir(&self, hows: &[&str]) {
        let by_maildir = self.subset("maildir");
        assert!(by_maildir.len() >= 40, "{by_maildir:?}");
        assert!(
            by_maildir.values().all(|v| v != "skip"),
            "fixture cases skipped: {by_maildir:?}"
        );
        for how in hows {
            let other = self.subset(how);
            let diff: Vec<String> = by_maildir
                .iter()
                .filter(|(id, v)| other.get(*id) != Some(*v))
                .map(|(id, v)| format!("{id}: maildir {v}, {how} {:?}", other.get(id)))
                .collect();
            assert!(
                diff.is_empty() && other.len() == by_maildir.len(),
                "{}",
                diff.join("\n")
            );
        }
    }
}

#[test]
fn seeding_dovecot_over_lmtp_and_imap() {
    if let Some(why) = missing_tool() {
        loud!("SKIPPED seeding_dovecot_over_lmtp_and_imap: {why}");
        return;
    }
    let d = Dovecot::start();

    // each destination: seed + --check, twice (idempotent with --replace), then refusals
    for how in ["lmtp", "imap"] {
        let _ = d.seed_twice(how);
    }
    // without --replace, a maildrop or mailbox that holds messages is refused, unchanged
    let mut c = conform();
    c.env("CONFORM_PASSWORD", PASSWORD).args([
        "seed",
        "--lmtp",
        &format!("127.0.0.1:{}", d.lmtp),
        "--rcpt",
        "conform",
        "--target",
        &d.pop3(),
        "--user",
        "conform",
    ]);
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("holds 7 messages: nothing delivered (--replace empties it first)"),
        "{err}"
    );
    let mut c = conform();
    c.env("CONFORM_PASSWORD", PASSWORD).args([
        "seed",
        "--imap",
        &format!("imap://127.0.0.1:{}/", d.imap),
        "--user",
        "conform",
    ]);
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("mailbox INBOX holds 7 messages: nothing appended"),
        "{err}"
    );
    // Dovecot's own refusals, quoted with the step
    let mut c = conform();
    c.env("CONFORM_PASSWORD", PASSWORD).args([
        "seed",
        "--imap",
        &format!("imap://127.0.0.1:{}/No%20Such", d.imap),
        "--user",
        "conform",
        "--replace",
    ]);
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("SELECT No Such refused: c4 NO"), "{err}");
    let mut c = conform();
    c.env("CONFORM_PASSWORD", PASSWORD).args([
        "seed",
        "--lmtp",
        &format!("127.0.0.1:{}", d.lmtp),
        "--rcpt",
        "nobody",
    ]);
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("RCPT TO:<nobody> of message 1 refused: 550"),
        "{err}"
    );
    // a --check that cannot hold: the maildrop is not the fixture (an extra message)
    let (code, _, err) = {
        let mut c = conform();
        c.env("CONFORM_PASSWORD", PASSWORD).args([
            "seed",
            "--lmtp",
            &format!("127.0.0.1:{}", d.lmtp),
            "--rcpt",
            "conform",
        ]);
        assert_eq!(run(&mut c).0, 0, "a second delivery without --target adds");
        let mut c = conform();
        c.env("CONFORM_PASSWORD", PASSWORD).args([
            "seed",
            "--check",
            "--check-timeout",
            "1",
            "--target",
            &d.pop3(),
            "--user",
            "conform",
        ]);
        run(&mut c)
    };
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("it holds 14 messages, the fixture 7"), "{err}");

    // the fixture cases give the same verdicts whichever way the fixture came
    d.same_verdicts_as_maildir(&["lmtp", "imap"]);
}

/// Why OpenSMTPD cannot run here, if it cannot.
fn missing_smtpd() -> Option<String> {
    if system_binary("smtpd").is_none() {
        return Some("OpenSMTPD is not installed (.ci/run installs opensmtpd)".into());
    }
    let root_user = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|u| u.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    if !root_user {
        return Some("OpenSMTPD's smtpd runs only as root (opensmtpd)".into());
    }
    None
}

#[test]
fn seeding_dovecot_over_smtp() {
    if let Some(why) = missing_tool().or_else(missing_smtpd) {
        loud!("SKIPPED seeding_dovecot_over_smtp: {why}");
        return;
    }
    let mut d = Dovecot::start();
    let smtpd = Smtpd::start(
        d.started.dir.path().join("smtp"),
        &format!("127.0.0.1:{}", d.lmtp),
    );
    d.smtp = Some(smtpd.port);

    let out = d.seed_twice("smtp");
    assert!(
        out.contains("7 messages, ")
            && out.contains("(one at a time, each waited for in the maildrop)"),
        "{out}"
    );
    // every message came through the MTA, which added a Received: header (the fixture has none)
    let received = std::fs::read_dir(d.maildir().join("new"))
        .unwrap()
        .chain(std::fs::read_dir(d.maildir().join("cur")).unwrap())
        .filter(|e| {
            std::fs::read(e.as_ref().unwrap().path())
                .map(|m| m.windows(9).any(|w| w == b"Received:"))
                .unwrap_or(false)
        })
        .count();
    assert_eq!(
        received, 7,
        "every message came through the MTA (Received:)"
    );

    // a recipient the MTA does not know: refused at RCPT, nothing delivered
    let mut c = conform();
    c.env("CONFORM_PASSWORD", PASSWORD).args([
        "seed",
        "--smtp",
        &format!("127.0.0.1:{}", smtpd.port),
        "--rcpt",
        "nobody@mail.test",
    ]);
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("RCPT TO:<nobody@mail.test> of message 1 refused: 550"),
        "{err}"
    );

    d.same_verdicts_as_maildir(&["smtp"]);
    drop(smtpd);
}
