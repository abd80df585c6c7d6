//! Baselines: the known deviations of one server, so that a pipeline fails only on new ones.
//!
//! A baseline is a TOML file (`scenarios/baselines/dovecot.toml` is the example that CI
//! uses):
//!
//! ```toml
//! server = "Dovecot 2.3.19"
//!
//! [[deviation]]
//! id = "rfc1939/5/some-case"          # the case id
//! rfc = "1939 §5"                     # the case's RFC reference, as `conform list` prints it
//! modes = ["none", "starttls"]        # optional: TLS modes it applies to (default: all)
//! reason = "what the server does, what the RFC requires"
//! ```
//!
//! A failing (or error) case listed for the run's mode is a *known* deviation: reported
//! separately, it does not fail the run. A listed case that passes is flagged, so the entry
//! can go. Entries are checked against the catalogue: an id that names no case, or an `rfc`
//! that is not the case's, is an error (a stale baseline hides nothing silently).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use scenario::plan::Case;
use serde::Deserialize;

use crate::TlsMode;

/// A baseline that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid baseline.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (from the TOML parser, with line and column, or from the checks).
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    server: String,
    #[serde(default, rename = "deviation")]
    deviations: Vec<Deviation>,
}

/// One known deviation.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Deviation {
    /// The case id.
    pub id: String,
    /// The case's RFC reference (`1939 §5`).
    pub rfc: String,
    /// The TLS modes (`none`, `starttls`, `implicit`) it applies to; all when absent.
    #[serde(default)]
    pub modes: Option<Vec<String>>,
    /// What the server does and why that departs from the RFC.
    pub reason: String,
}

impl Deviation {
    /// Whether the entry applies to a run in `mode`.
    pub fn applies(&self, mode: TlsMode) -> bool {
        self.modes
            .as_ref()
            .is_none_or(|m| m.iter().any(|x| x == mode_name(mode)))
    }
}

/// The name of a TLS mode as baselines and `--tls` spell it.
pub fn mode_name(mode: TlsMode) -> &'static str {
    match mode {
        TlsMode::None => "none",
        TlsMode::StartTls => "starttls",
        TlsMode::Implicit => "implicit",
    }
}

/// `RFC 1939 §5` and `1939 §5` are the same reference.
fn bare_rfc(text: &str) -> &str {
    let t = text.trim();
    t.strip_prefix("RFC ").unwrap_or(t)
}

/// A loaded, checked baseline.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    /// The server it describes.
    pub server: String,
    by_id: BTreeMap<String, Deviation>,
}

impl Baseline {
    /// Reads and checks `path` against the whole catalogue `cases` (before any filter).
    pub fn load(path: &Path, cases: &[Case]) -> Result<Baseline, BaselineError> {
        let text = std::fs::read_to_string(path).map_err(|source| BaselineError::Read {
            path: path.to_owned(),
            source,
        })?;
        Baseline::parse(path, &text, cases)
    }

    /// Parses and checks baseline `text` (named `path` in errors).
    pub fn parse(path: &Path, text: &str, cases: &[Case]) -> Result<Baseline, BaselineError> {
        let invalid = |message: String| BaselineError::Invalid {
            path: path.to_owned(),
            message,
        };
        let file: File = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let known: BTreeMap<&str, &Case> = cases.iter().map(|c| (c.id.as_str(), c)).collect();
        let mut by_id = BTreeMap::new();
        let mut problems = Vec::new();
        for d in file.deviations {
            match known.get(d.id.as_str()) {
                None => problems.push(format!("deviation `{}` names no case", d.id)),
                Some(c) if bare_rfc(&c.rfc.to_string()) != bare_rfc(&d.rfc) => {
                    problems.push(format!(
                        "deviation `{}` says rfc \"{}\" but the case cites \"{}\"",
                        d.id,
                        d.rfc,
                        bare_rfc(&c.rfc.to_string())
                    ))
                }
                Some(_) => {}
            }
            if d.reason.trim().is_empty() {
                problems.push(format!("deviation `{}` has no reason", d.id));
            }
            for m in d.modes.iter().flatten() {
                if !["none", "starttls", "implicit"].contains(&m.as_str()) {
                    problems.push(format!(
                        "deviation `{}`: unknown mode `{m}` (expected none, starttls or implicit)",
                        d.id
                    ));
                }
            }
            if by_id.contains_key(&d.id) {
                problems.push(format!("deviation `{}` is listed twice", d.id));
            }
            by_id.insert(d.id.clone(), d);
        }
        if !problems.is_empty() {
            return Err(invalid(problems.join("; ")));
        }
        Ok(Baseline {
            server: file.server,
            by_id,
        })
    }

    /// The entry for case `id` that applies in `mode`.
    pub fn get(&self, id: &str, mode: TlsMode) -> Option<&Deviation> {
        self.by_id.get(id).filter(|d| d.applies(mode))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases() -> Vec<Case> {
        scenario::parse_str(
            Path::new("t.pop3"),
            "id: a/one\ntitle: t\nrfc: 1939 §5\nlevel: MUST\nrequirement: \"r\"\n---\nS: +OK\n",
        )
        .expect("compiles")
    }

    #[test]
    fn entries_apply_by_mode() {
        let b = Baseline::parse(
            Path::new("b.toml"),
            "server = \"x\"\n[[deviation]]\nid = \"a/one\"\nrfc = \"1939 §5\"\nmodes = [\"starttls\"]\nreason = \"why\"\n",
            &cases(),
        )
        .expect("valid");
        assert_eq!(b.len(), 1);
        assert!(b.get("a/one", TlsMode::StartTls).is_some());
        assert!(b.get("a/one", TlsMode::None).is_none());
        assert!(b.get("a/two", TlsMode::StartTls).is_none());
    }

    #[test]
    fn stale_or_wrong_entries_are_errors() {
        let text = "server = \"x\"\n[[deviation]]\nid = \"a/gone\"\nrfc = \"1939 §5\"\nreason = \"r\"\n[[deviation]]\nid = \"a/one\"\nrfc = \"1939 §6\"\nmodes = [\"tls\"]\nreason = \" \"\n";
        let e = Baseline::parse(Path::new("b.toml"), text, &cases())
            .expect_err("invalid")
            .to_string();
        assert!(e.contains("`a/gone` names no case"), "{e}");
        assert!(e.contains("the case cites \"1939 §5\""), "{e}");
        assert!(e.contains("unknown mode `tls`"), "{e}");
        assert!(e.contains("`a/one` has no reason"), "{e}");
    }

    #[test]
    fn toml_errors_have_a_position() {
        let e = Baseline::parse(Path::new("b.toml"), "server = \n", &[])
            .expect_err("invalid")
            .to_string();
        assert!(e.starts_with("b.toml: TOML parse error at line 1"), "{e}");
    }
}
