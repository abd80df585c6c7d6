//! What the binary's integration tests share: running `conform`, and `conform serve` as an
//! external target.

#![allow(dead_code)] // each test file uses a part

pub mod server;

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The repository root (scenarios/ is found from there).
pub fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// `conform` run from the repository root.
pub fn conform() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_conform"));
    c.current_dir(root());
    c
}

/// Exit code, stdout, stderr.
pub fn run(c: &mut Command) -> (i32, String, String) {
    let out = c.output().expect("conform runs");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A `conform serve` process, killed on drop (also when an assertion fails).
pub struct Served {
    child: Child,
    /// `127.0.0.1:PORT` of the plain listener.
    pub plain: String,
    /// `127.0.0.1:PORT` of the implicit-TLS listener.
    pub tls: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `conform serve ARGS` on loopback ports chosen by the system and reads the
/// addresses from its banner.
pub fn serve(args: &[&str]) -> Served {
    let mut child = conform()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-listen",
            "127.0.0.1:0",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("conform serve starts");
    let stdout = child.stdout.take().expect("piped");
    let (mut plain, mut tls) = (String::new(), String::new());
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("banner");
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("pop3"), Some(a)) => plain = a.to_owned(),
            (Some("pop3s"), Some(a)) => tls = a.to_owned(),
            _ => {}
        }
        if line.trim_start().starts_with("maildrop:") {
            break;
        }
    }
    assert!(!plain.is_empty(), "conform serve printed no address");
    Served { child, plain, tls }
}

/// The number a summary line starts with (`480 cases`, `12 skipped`).
pub fn leading_number(text: &str) -> usize {
    text.trim()
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number at the start of {text:?}"))
}

/// `text` with what stands between `<!-- NAME:begin -->` and `<!-- NAME:end -->` replaced by
/// `block` (the generated parts of the README); `None` without the markers.
pub fn with_block(text: &str, name: &str, block: &str) -> Option<String> {
    let (begin, end) = (
        format!("<!-- {name}:begin -->\n"),
        format!("<!-- {name}:end -->"),
    );
    let a = text.find(&begin)? + begin.len();
    let b = text[a..].find(&end)? + a;
    Some(format!("{}{block}{}", &text[..a], &text[b..]))
}

/// `'text'` for `sh -c` (a `--reseed-cmd` with paths in it).
pub fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A system program: on PATH, or in /usr/sbin or /sbin (where Debian puts daemons such as
/// `dovecot` and `pop3d`, not on a normal user's PATH).
pub fn system_binary(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(std::path::PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `text` with every line cut at 300 characters (some cases send 70000-octet lines), for
/// assertion messages.
pub fn cut_long_lines(text: &str) -> String {
    text.lines()
        .map(|l| match l.char_indices().nth(300) {
            Some((i, _)) => format!("{}...", &l[..i]),
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A baseline's entries as (id, modes); modes `None` = all. The files are ours and simple: one
/// `id = "..."` and at most one `modes = [...]` line per `[[deviation]]`.
pub fn baseline_entries(path: &str) -> Vec<(String, Option<Vec<String>>)> {
    let text = std::fs::read_to_string(root().join(path)).expect("reading the baseline");
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
