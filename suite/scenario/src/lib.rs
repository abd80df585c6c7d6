//! The conform scenario language: `.pop3` files parsed and compiled to checked plans.
//!
//! The language is described in `scenarios/LANGUAGE.md`. [`parse_str`] reads one file's
//! text, [`load_file`] one file, [`load_paths`] files and directory trees; each returns the
//! cases as [`plan::Case`]s — every name bound, every regex compiled, every function known —
//! or all the errors found, each at `file:line:col`.

// every dependency is used (unit-test builds also see the dev-dependencies of other targets)
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod coverage;
pub mod diagnostic;
pub mod plan;
pub mod print;

mod compile;
mod header;
mod maildrop;
mod matcher;
mod pieces;
mod syntax;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use diagnostic::{Diagnostic, Diagnostics};
use diagnostic::{Pos, Sink};
use plan::{Case, Span};

/// Parses and compiles the text of one scenario file. `path` is only used in spans and
/// messages. The text may be any bytes: non-UTF-8 input is an error at the first bad byte.
/// Never panics.
pub fn parse_str(path: impl AsRef<Path>, text: impl AsRef<[u8]>) -> Result<Vec<Case>, Diagnostics> {
    let file = Arc::new(path.as_ref().to_path_buf());
    let mut sink = Sink::new(file);
    let bytes = text.as_ref();
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let good = &bytes[..e.valid_up_to()];
            // The prefix is valid UTF-8 by definition.
            let good = std::str::from_utf8(good).unwrap_or("");
            let line = good.matches('\n').count() + 1;
            let line_start = good.rfind('\n').map_or(0, |i| i + 1);
            let col = good[line_start..].chars().count() + 1;
            let pos = Pos::new(
                u32::try_from(line).unwrap_or(u32::MAX),
                u32::try_from(col).unwrap_or(u32::MAX),
            );
            let byte = bytes.get(e.valid_up_to()).copied().unwrap_or(0);
            sink.error(
                pos,
                format!("invalid UTF-8 (byte 0x{byte:02X}); scenario files are UTF-8"),
            );
            return Err(Diagnostics(sink.diags));
        }
    };
    let syntax = syntax::parse_file(text, &mut sink);
    let cases = compile::compile_file(syntax, &mut sink);
    if sink.diags.is_empty() {
        Ok(cases)
    } else {
        let mut d = Diagnostics(sink.diags);
        d.sort_by_position();
        Err(d)
    }
}

/// Reads and compiles one scenario file.
pub fn load_file(path: impl AsRef<Path>) -> Result<Vec<Case>, Diagnostics> {
    let path = path.as_ref();
    match std::fs::read(path) {
        Ok(bytes) => parse_str(path, bytes),
        Err(e) => Err(Diagnostics(vec![io_error(path, &e)])),
    }
}

/// Reads the given files and, recursively, every `*.pop3` file under the given directories
/// (sorted by path within each directory argument; symbolic links to directories are not
/// followed), compiles them all, and checks that case ids are unique across all of them.
/// All the errors of all the files are returned together.
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<Case>, Diagnostics> {
    let mut diags = Vec::new();
    let mut files = Vec::new();
    let mut seen = BTreeSet::new();
    for path in paths {
        let mut found = Vec::new();
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => walk(path, &mut found, &mut diags),
            Ok(_) => found.push(path.clone()),
            Err(e) => diags.push(io_error(path, &e)),
        }
        found.sort();
        for f in found {
            if seen.insert(f.clone()) {
                files.push(f);
            }
        }
    }
    let mut cases: Vec<Case> = Vec::new();
    for f in &files {
        match load_file(f) {
            Ok(c) => cases.extend(c),
            Err(d) => diags.extend(d),
        }
    }
    checked(cases, diags)
}

/// Compiles scenario files given as (name, text) — a catalogue built into a program — as
/// [`load_paths`] compiles files it reads: all the errors together, ids unique, no
/// prerequisite cycles. The names appear in spans and messages.
pub fn load_sources<P: AsRef<Path>, T: AsRef<[u8]>>(
    files: impl IntoIterator<Item = (P, T)>,
) -> Result<Vec<Case>, Diagnostics> {
    let mut diags = Vec::new();
    let mut cases: Vec<Case> = Vec::new();
    for (name, text) in files {
        match parse_str(name, text) {
            Ok(c) => cases.extend(c),
            Err(d) => diags.extend(d),
        }
    }
    checked(cases, diags)
}

/// The cases of several files, checked together (unique ids, no prerequisite cycles), or
/// every error found in them.
fn checked(cases: Vec<Case>, mut diags: Vec<Diagnostic>) -> Result<Vec<Case>, Diagnostics> {
    diags.extend(duplicate_ids(&cases));
    diags.extend(prerequisite_cycles(&cases));
    if diags.is_empty() {
        Ok(cases)
    } else {
        Err(Diagnostics(diags))
    }
}

/// Errors for case ids defined more than once, each at the later place, naming the first.
fn duplicate_ids(cases: &[Case]) -> Vec<Diagnostic> {
    let mut first: HashMap<&str, &Span> = HashMap::new();
    let mut out = Vec::new();
    for c in cases {
        if let Some(prev) = first.get(c.id.as_str()) {
            out.push(Diagnostic::new(
                c.span.clone(),
                format!("duplicate case id `{}` (first defined at {prev})", c.id),
            ));
        } else {
            first.insert(&c.id, &c.span);
        }
    }
    out
}

/// Errors for `after:` ids that name no case of `cases`. Not checked when files are loaded
/// (a file run on its own may name prerequisites in other files: they are then not
/// selected, and ignored); the catalogue's tests check the whole catalogue with it.
pub fn unknown_prerequisites(cases: &[Case]) -> Vec<Diagnostic> {
    let ids: BTreeSet<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    let mut out = Vec::new();
    for c in cases {
        for p in &c.after {
            if !ids.contains(p.as_str()) {
                out.push(Diagnostic::new(
                    c.span.clone(),
                    format!("`after:` names `{p}`, which is no case loaded with this one"),
                ));
            }
        }
    }
    out
}

/// Errors for chains of prerequisites (`after:`) that lead back to the case.
fn prerequisite_cycles(cases: &[Case]) -> Vec<Diagnostic> {
    let by_id: HashMap<&str, &Case> = cases.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut out = Vec::new();
    for c in cases {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&str> = c.after.iter().map(String::as_str).collect();
        while let Some(id) = todo.pop() {
            if id == c.id {
                out.push(Diagnostic::new(
                    c.span.clone(),
                    format!("`after:` of `{}` leads back to itself", c.id),
                ));
                break;
            }
            if seen.insert(id) {
                if let Some(p) = by_id.get(id) {
                    todo.extend(p.after.iter().map(String::as_str));
                }
            }
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, diags: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            diags.push(io_error(dir, &e));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                diags.push(io_error(dir, &e));
                continue;
            }
        };
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, out, diags),
            Ok(_) if path.extension().is_some_and(|e| e == "pop3") && path.is_file() => {
                out.push(path);
            }
            Ok(_) => {}
            Err(e) => diags.push(io_error(&path, &e)),
        }
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> Diagnostic {
    Diagnostic::new(
        Span {
            file: Arc::new(path.to_path_buf()),
            line: 1,
            col: 1,
        },
        format!("cannot read: {e}"),
    )
}
