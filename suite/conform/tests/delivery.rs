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
//! SMTP is not run against a real server here: no SMTP server that delivers locally runs on
//! loopback in CI (Dovecot's submission service only relays, and exim or postfix would be a
//! system MTA to install and configure); the SMTP dialogue is tested against a scripted
//! server in `suite/deliver/src/smtp.rs`, and shares all but `EHLO` and the replies after
//! DATA with the LMTP client tested here.
//!
//! Dovecot or its IMAP/LMTP parts missing: the test skips with one loud line (`.ci/run`
//! installs them; tests install nothing).

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
}

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

#[test]
fn seeding_dovecot_over_lmtp_and_imap() {
    if let Some(why) = missing_tool() {
        println!("SKIPPED seeding_dovecot_over_lmtp_and_imap: {why}");
        return;
    }
    let started = Started::start("dovecot-delivery");
    let d = Dovecot {
        pop3: started.port("pop3"),
        imap: started.port("imap"),
        lmtp: started.port("lmtp"),
        started,
    };
    let _ = root();

    // each destination: seed + --check, twice (idempotent with --replace), then refusals
    for how in ["lmtp", "imap"] {
        for round in 1..=2 {
            let pop3 = d.pop3();
            let mut extra = vec!["--check", "--check-timeout", "10"];
            if how == "imap" {
                extra.extend(["--target", &pop3]);
            }
            let (code, out, err) = d.seed(how, &extra);
            assert_eq!(code, 0, "{how} round {round}:\n{out}\n{err}");
            assert!(
                out.contains("the maildrop is the standard fixture (7 messages"),
                "{out}"
            );
            if round == 2 {
                let removed = if how == "lmtp" {
                    "emptied the maildrop at pop3://127.0.0.1"
                } else {
                    "(7 removed first)"
                };
                assert!(out.contains(removed), "{how}: {out}");
            }
        }
        let files = std::fs::read_dir(d.maildir().join("cur"))
            .unwrap()
            .chain(std::fs::read_dir(d.maildir().join("new")).unwrap())
            .count();
        assert_eq!(
            files, 7,
            "{how}: the Maildir holds 7 files after seeding twice"
        );
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
    let by_maildir = d.subset("maildir");
    assert!(by_maildir.len() >= 40, "{by_maildir:?}");
    assert!(
        by_maildir.values().all(|v| v != "skip"),
        "fixture cases skipped: {by_maildir:?}"
    );
    for how in ["lmtp", "imap"] {
        let other = d.subset(how);
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
