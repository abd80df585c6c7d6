//! The seed corpus, `fuzz/corpus/<target>/seed-<hash>`, made from the RFC transcripts
//! (`C:`/`S:` lines of `shared/rfc/*.txt`), the seed sessions (`shared/seeds/*.txt`) and the
//! scenario files (`scenarios/**/*.pop3`).
//!
//! `UPDATE_CORPUS=1 cargo test -p fuzz-checks --test corpus` (re)writes the seeds; without
//! it the test checks that every seed is there with the same bytes. Files libFuzzer or a
//! person added beside them are left alone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Session setup byte of the `session` target: plaintext logins allowed, STLS available.
const SESSION_FLAGS: u8 = 0b011;

/// At most this many seeds a target gets from one kind of source.
const PER_SOURCE: usize = 40;

/// At most this many cases of one scenario file.
const CASES_PER_FILE: usize = 4;

/// One transcript: the client's lines and the server's, in order.
#[derive(Debug, Default)]
struct Transcript {
    client: Vec<String>,
    server: Vec<String>,
}

impl Transcript {
    fn is_empty(&self) -> bool {
        self.client.is_empty() && self.server.is_empty()
    }
}

fn crlf(lines: &[String]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| format!("{l}\r\n").into_bytes())
        .collect()
}

fn is_status(line: &str) -> bool {
    line.starts_with("+OK") || line.starts_with("-ERR") || line.starts_with("+ ")
}

/// Bit `i` set when the `i`-th status line of `server` is followed by a body (a `.` line
/// before the next status line): the `response_decode` mask.
fn body_mask(server: &[String]) -> u64 {
    let mut mask = 0u64;
    let mut i = 0;
    for (k, l) in server.iter().enumerate() {
        if !is_status(l) {
            continue;
        }
        let body_ends = server[k + 1..]
            .iter()
            .take_while(|n| !is_status(n))
            .any(|n| n == ".");
        if body_ends && i < 64 {
            mask |= 1 << i;
        }
        i += 1;
    }
    mask
}

/// The `C:`/`S:` examples of an RFC: runs of such lines.
fn rfc_transcripts(text: &str) -> Vec<Transcript> {
    let mut out = Vec::new();
    let mut cur = Transcript::default();
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(c) = t.strip_prefix("C:") {
            cur.client
                .push(c.strip_prefix(' ').unwrap_or(c).trim_end().to_owned());
        } else if let Some(s) = t.strip_prefix("S:") {
            cur.server
                .push(s.strip_prefix(' ').unwrap_or(s).trim_end().to_owned());
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

const KEYWORDS: &[&str] = &[
    "USER", "PASS", "APOP", "AUTH", "STLS", "UTF8", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET",
    "TOP", "UIDL", "CAPA", "QUIT",
];

/// The POP3 lines of a seed page (prose with numbered transcript lines): lines whose first
/// word is a command keyword are the client's, status lines start the server's.
fn seed_transcript(text: &str) -> Transcript {
    let mut t = Transcript::default();
    for line in text.lines() {
        let l = line.trim();
        let l = match l.strip_prefix('[').and_then(|r| r.split_once(']')) {
            Some((n, rest)) if n.bytes().all(|b| b.is_ascii_digit()) => rest.trim(),
            _ => l,
        };
        let word = l.split([' ', '\t']).next().unwrap_or("");
        if KEYWORDS.contains(&word) {
            t.client.push(l.to_owned());
        } else if l.starts_with("+OK") || l.starts_with("-ERR") {
            t.server.push(l.to_owned());
        }
    }
    t
}

fn is_base64ish(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

#[derive(Debug, Default)]
struct Corpus(BTreeMap<&'static str, BTreeSet<Vec<u8>>>);

impl Corpus {
    fn add(&mut self, target: &'static str, seed: Vec<u8>) {
        let set = self.0.entry(target).or_default();
        if set.len() < PER_SOURCE * 3 && seed.len() <= 8 * 1024 {
            set.insert(seed);
        }
    }

    fn add_transcript(&mut self, t: &Transcript) {
        let client = crlf(&t.client);
        let server = crlf(&t.server);
        let mask = body_mask(&t.server);
        if !t.client.is_empty() {
            self.add("command_decode", client.clone());
            let mut s = vec![SESSION_FLAGS];
            s.extend_from_slice(&client);
            self.add("session", s);
            self.add("command_roundtrip", client.clone());
        }
        if !t.server.is_empty() {
            let mut r = vec![mask as u8];
            r.extend_from_slice(&server);
            self.add("response_decode", r);
            self.add("response_roundtrip", server.clone());
        }
        // chunked_decode: body mask, three chunk lengths, then the server's stream
        let mut inc = mask.to_le_bytes().to_vec();
        inc.extend_from_slice(&[3, 1, 7, 3]);
        inc.extend_from_slice(if server.is_empty() { &client } else { &server });
        self.add("chunked_decode", inc);
        for l in &t.client {
            if is_base64ish(l) || l == "*" {
                self.add("sasl", l.clone().into_bytes());
            }
        }
        for l in &t.server {
            if let Some(b) = l.strip_prefix("+ ") {
                self.add("sasl", b.as_bytes().to_vec());
            }
        }
    }
}

fn sorted_files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The cases of a scenario file, each with the file's leading comment lines removed.
fn scenario_cases(text: &str) -> Vec<String> {
    text.split("\n===\n")
        .map(|c| c.trim_start_matches('\n').to_owned() + "\n")
        .filter(|c| c.contains("---\n"))
        .take(CASES_PER_FILE)
        .collect()
}

/// Hand-written sessions that log in each way the reference server allows and use every
/// command, so that the fuzzer starts inside TRANSACTION (byte 0 is the setup byte).
fn sessions() -> Vec<Vec<u8>> {
    let cram = pop3_proto::auth::cram_md5::response_base64(
        "tim",
        fuzz_checks::TIMESTAMP.as_bytes(),
        "tanstaaftanstaaf",
    );
    let lines: &[(u8, &[&str])] = &[
        (
            SESSION_FLAGS,
            &[
                "USER tim",
                "PASS tanstaaftanstaaf",
                "LIST",
                "UIDL",
                "RETR 1",
                "RETR 2",
                "RETR 3",
                "RETR 4",
                "RETR 5",
                "TOP 3 0",
                "TOP 4 1",
                "DELE 2",
                "LIST 2",
                "STAT",
                "RSET",
                "UIDL 3",
                "NOOP",
                "QUIT",
                "APOP mrose c4c9334bac560ecc979e58001b3e22fb",
                "CAPA",
                "STAT",
                "RETR 3",
                "QUIT",
            ],
        ),
        (
            SESSION_FLAGS,
            &["AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm", "STAT", "QUIT"],
        ),
        (
            SESSION_FLAGS,
            &["AUTH PLAIN", "AHRpbQB0YW5zdGFhZnRhbnN0YWFm", "LIST", "QUIT"],
        ),
        (
            SESSION_FLAGS,
            &[
                "AUTH LOGIN",
                "dGlt",
                "dGFuc3RhYWZ0YW5zdGFhZg==",
                "UIDL",
                "QUIT",
            ],
        ),
        (0, &["AUTH CRAM-MD5", &cram, "TOP 3 1", "DELE 1", "QUIT"]),
        (
            SESSION_FLAGS,
            &[
                "CAPA",
                "STLS",
                "CAPA",
                "USER tim",
                "PASS tanstaaftanstaaf",
                "QUIT",
            ],
        ),
        (
            0,
            &[
                "AUTH",
                "AUTH CRAM-MD5",
                "*",
                "AUTH PLAIN =",
                "USER tim",
                "UTF8",
                "QUIT",
            ],
        ),
        (
            0x83,
            &[
                "USER tim",
                "PASS tanstaaftanstaaf",
                "LIST",
                "UIDL",
                "RETR 3",
                "QUIT",
            ],
        ),
    ];
    let mut out: Vec<Vec<u8>> = lines
        .iter()
        .map(|(flags, l)| {
            let mut s = vec![*flags];
            s.extend(l.iter().flat_map(|l| format!("{l}\r\n").into_bytes()));
            s
        })
        .collect();
    // 20 bad lines in a row: the server hangs up
    let mut bad = vec![SESSION_FLAGS];
    bad.extend(b"XYZZY\r\n".repeat(21));
    out.push(bad);
    out
}

fn build(shared: &Path) -> Corpus {
    let mut corpus = Corpus::default();
    for s in sessions() {
        corpus.add("session", s);
    }
    for f in sorted_files(&shared.join("rfc"), "txt") {
        let text = std::fs::read_to_string(&f).expect("RFC text");
        for t in rfc_transcripts(&text) {
            corpus.add_transcript(&t);
        }
    }
    for f in sorted_files(&shared.join("seeds"), "txt") {
        let text = String::from_utf8_lossy(&std::fs::read(&f).expect("seed")).into_owned();
        corpus.add_transcript(&seed_transcript(&text));
    }
    for f in sorted_files(&root().join("scenarios"), "pop3") {
        let text = std::fs::read_to_string(&f).expect("scenario");
        for case in scenario_cases(&text) {
            corpus.add("scenario_file", case.into_bytes());
        }
    }
    corpus
}

/// FNV-1a, 64 bits: a stable name for a seed.
fn name(seed: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in seed {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("seed-{h:016x}")
}

#[test]
fn seed_corpus_is_up_to_date() {
    let shared = root().join("../shared");
    if !shared.join("rfc").is_dir() {
        eprintln!(
            "{} not found: the seed corpus is not checked",
            shared.display()
        );
        return;
    }
    let corpus = build(&shared);
    let update = std::env::var_os("UPDATE_CORPUS").is_some();
    let mut stale = Vec::new();
    for (target, seeds) in &corpus.0 {
        let dir = root().join("fuzz/corpus").join(target);
        if update {
            std::fs::create_dir_all(&dir).expect("corpus dir");
            for e in std::fs::read_dir(&dir).expect("corpus dir").flatten() {
                if e.file_name().to_string_lossy().starts_with("seed-") {
                    std::fs::remove_file(e.path()).expect("old seed");
                }
            }
        }
        for seed in seeds {
            let path = dir.join(name(seed));
            if update {
                std::fs::write(&path, seed).expect("seed written");
            } else if std::fs::read(&path).ok().as_ref() != Some(seed) {
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "seeds missing or changed (UPDATE_CORPUS=1 cargo test -p fuzz-checks --test corpus):\n{}",
        stale.join("\n")
    );
    let total: usize = corpus.0.values().map(BTreeSet::len).sum();
    assert!(
        (100..=600).contains(&total),
        "{total} seeds: keep the corpus modest"
    );
}
