//! Which cases run: `--filter`, `--exclude` and `--rerun-failed`, shared by `conform run` and
//! `conform list`.
//!
//! A filter expression is one or more terms joined by `|` (any of them):
//!
//! | term | matches |
//! |---|---|
//! | `GLOB` or `id:GLOB` | the case id, `*` for any text: `rfc1939/7/*` |
//! | `rfc:1939` | cases of RFC 1939 |
//! | `rfc:1939/7` (or `rfc:1939§7`) | RFC 1939 §7 and its subsections (§7.1, ...) |
//! | `section:7` | §7 and its subsections, of any RFC |
//! | `tag:NAME` | cases tagged NAME |
//! | `level:must` | MUST cases (`should`, `may`) |
//!
//! Every `--filter` must match (they add up); a case matching any `--exclude` is left out.

use std::path::{Path, PathBuf};

use clap::Args;
use runner::report::ReadError;
use scenario::plan::{Case, Level};

/// Why the selection options cannot select.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// A `--filter` or `--exclude` expression that does not parse.
    #[error("{flag} {message}")]
    Expr {
        /// `--filter` or `--exclude`.
        flag: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The `--rerun-failed` report cannot be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The report.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The report is neither JSON Lines nor JUnit XML.
    #[error("{}: neither a JSON Lines report (--json) nor JUnit XML (--junit)", path.display())]
    Format {
        /// The report.
        path: PathBuf,
    },
    /// The report is not what conform writes.
    #[error("{}: {source}", path.display())]
    Report {
        /// The report.
        path: PathBuf,
        /// Where and why.
        source: ReadError,
    },
    /// The report lists no failed case: nothing to run again.
    #[error("--rerun-failed {}: the report lists no failed case", path.display())]
    NoFailure {
        /// The report.
        path: PathBuf,
    },
    /// The scenario paths hold no case at all.
    #[error(
        "no case selected: the scenario paths given hold no case (*.pop3 files with `id:` lines)"
    )]
    NoCases,
    /// The options select no case: each unmatched term with the closest ids, tags, RFCs or
    /// sections the catalogue has.
    #[error("no case selected: {}", .0.join("; "))]
    NothingMatches(Vec<String>),
}

/// The selection options.
#[derive(Debug, Args, Default)]
pub struct SelectArgs {
    /// Only cases matching EXPR (repeatable: all must match). EXPR: an id glob
    /// (`rfc1939/7/*`), `id:GLOB`, `rfc:1939`, `rfc:1939/7`, `section:7`, `tag:NAME`,
    /// `level:must|should|may`; `A|B` for either.
    #[arg(long, value_name = "EXPR")]
    pub filter: Vec<String>,
    /// Leave out cases matching EXPR (repeatable: any excludes), same syntax as --filter.
    #[arg(long, value_name = "EXPR")]
    pub exclude: Vec<String>,
    /// Only the cases that failed or errored in an earlier report: JSON Lines (--json) or
    /// JUnit XML (--junit). Known deviations count as failed.
    #[arg(long, value_name = "FILE")]
    pub rerun_failed: Option<PathBuf>,
}

/// One term of an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Id(String),
    Rfc(u32, Option<String>),
    Section(String),
    Tag(String),
    Level(Level),
}

/// Whether `section` is `want` or one of its subsections.
fn in_section(section: &str, want: &str) -> bool {
    section == want
        || section
            .strip_prefix(want)
            .is_some_and(|rest| rest.starts_with('.'))
}

impl Term {
    fn parse(text: &str) -> Result<Term, String> {
        let text = text.trim();
        let Some((key, value)) = text.split_once(':') else {
            return Ok(Term::Id(text.to_owned()));
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(format!("`{text}`: nothing after `{key}:`"));
        }
        match key.trim().to_ascii_lowercase().as_str() {
            "id" => Ok(Term::Id(value.to_owned())),
            "rfc" => {
                let (number, section) = match value.split_once(['/', '§']) {
                    Some((n, s)) => (n, Some(s.trim().to_owned())),
                    None => (value, None),
                };
                let number = number
                    .trim()
                    .trim_start_matches(|c: char| {
                        c.eq_ignore_ascii_case(&'r')
                            || c.eq_ignore_ascii_case(&'f')
                            || c.eq_ignore_ascii_case(&'c')
                    })
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| format!("`{text}`: an RFC number, e.g. rfc:1939 or rfc:1939/7"))?;
                Ok(Term::Rfc(number, section.filter(|s| !s.is_empty())))
            }
            "section" => Ok(Term::Section(value.trim_start_matches('§').to_owned())),
            "tag" => Ok(Term::Tag(value.to_ascii_lowercase())),
            "level" => match value.to_ascii_lowercase().as_str() {
                "must" => Ok(Term::Level(Level::Must)),
                "should" => Ok(Term::Level(Level::Should)),
                "may" => Ok(Term::Level(Level::May)),
                _ => Err(format!("`{text}`: level is must, should or may")),
            },
            other => Err(format!(
                "`{text}`: unknown key `{other}` (expected id, rfc, section, tag or level)"
            )),
        }
    }

    fn matches(&self, case: &Case) -> bool {
        match self {
            Term::Id(g) => glob(g, &case.id),
            Term::Rfc(n, None) => case.rfc.number == *n,
            Term::Rfc(n, Some(s)) => case.rfc.number == *n && in_section(&case.rfc.section, s),
            Term::Section(s) => in_section(&case.rfc.section, s),
            Term::Tag(t) => case.tags.iter().any(|x| x.eq_ignore_ascii_case(t)),
            Term::Level(l) => case.level == *l,
        }
    }
}

/// Alternatives: a case matches if any term does.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expr(Vec<Term>);

impl Expr {
    fn parse(text: &str) -> Result<Expr, String> {
        let terms = text
            .split('|')
            .map(Term::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if terms.is_empty() {
            return Err("an empty expression".into());
        }
        Ok(Expr(terms))
    }

    fn matches(&self, case: &Case) -> bool {
        self.0.iter().any(|t| t.matches(case))
    }
}

/// `*` matches any text.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    rest.is_empty()
}

/// The ids a report (JSON Lines or JUnit XML, told apart by the first character) says
/// failed or errored, read by the reporter's own reader.
fn failed_ids(path: &Path) -> Result<Vec<String>, SelectError> {
    let text = std::fs::read_to_string(path).map_err(|source| SelectError::Read {
        path: path.to_owned(),
        source,
    })?;
    let read = match text.trim_start().chars().next() {
        Some('{') => runner::report::json::failed_ids(&text),
        Some('<') => runner::report::junit::failed_ids(&text),
        _ => {
            return Err(SelectError::Format {
                path: path.to_owned(),
            })
        }
    };
    read.map_err(|source| SelectError::Report {
        path: path.to_owned(),
        source,
    })
}

impl SelectArgs {
    /// Keeps the selected cases, in their order. Bad expressions and unreadable reports are
    /// errors.
    pub fn apply(&self, cases: &mut Vec<Case>) -> Result<(), SelectError> {
        let parse = |list: &[String], flag: &'static str| -> Result<Vec<Expr>, SelectError> {
            list.iter()
                .map(|e| Expr::parse(e).map_err(|message| SelectError::Expr { flag, message }))
                .collect()
        };
        let filters = parse(&self.filter, "--filter")?;
        let excludes = parse(&self.exclude, "--exclude")?;
        let rerun = match &self.rerun_failed {
            Some(path) => {
                let ids = failed_ids(path)?;
                if ids.is_empty() {
                    return Err(SelectError::NoFailure {
                        path: path.to_owned(),
                    });
                }
                Some(ids)
            }
            None => None,
        };
        if cases.is_empty() {
            return Err(SelectError::NoCases);
        }
        let all = std::mem::take(cases);
        *cases = all
            .iter()
            .filter(|c| {
                filters.iter().all(|f| f.matches(c))
                    && !excludes.iter().any(|f| f.matches(c))
                    && rerun.as_ref().is_none_or(|ids| ids.contains(&c.id))
            })
            .cloned()
            .collect();
        if cases.is_empty() {
            return Err(SelectError::NothingMatches(why_nothing(
                &all,
                &self.filter,
                &filters,
                &excludes,
            )));
        }
        Ok(())
    }
}

/// Why `filters` and `excludes` select nothing from `all`: each filter term that matches no
/// case, with the closest names the catalogue has; else how many each filter matches alone.
fn why_nothing(all: &[Case], texts: &[String], filters: &[Expr], excludes: &[Expr]) -> Vec<String> {
    let mut reasons = Vec::new();
    for expr in filters {
        let unmatched: Vec<&Term> = expr
            .0
            .iter()
            .filter(|t| !all.iter().any(|c| t.matches(c)))
            .collect();
        if unmatched.len() < expr.0.len() {
            continue;
        }
        reasons.extend(unmatched.into_iter().map(|t| t.nearest(all)));
    }
    if reasons.is_empty() {
        let counts: Vec<String> = texts
            .iter()
            .zip(filters)
            .map(|(t, f)| {
                let n = all.iter().filter(|c| f.matches(c)).count();
                format!("--filter {t} matches {n}")
            })
            .collect();
        let excluded = if excludes.is_empty() {
            ""
        } else {
            " (and not an --exclude)"
        };
        reasons.push(format!(
            "{}, but no case matches every filter{excluded}",
            counts.join(", ")
        ));
    }
    reasons
}

/// The names of `have` closest to `want` (edit distance), best first, at most three.
fn closest<'a>(want: &str, have: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let want = want.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> = have
        .into_iter()
        .map(|h| (strsim::levenshtein(&want, &h.to_ascii_lowercase()), h))
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, h)| h).collect()
}

impl Term {
    /// "`TERM` matches no case; closest: ..." for a term that matches none of `all`.
    fn nearest(&self, all: &[Case]) -> String {
        let list = |names: Vec<&str>| names.join(", ");
        match self {
            Term::Id(g) => {
                // the glob's text without its stars, against the ids
                let bare = g.replace('*', "");
                format!(
                    "no case id matches `{g}`; closest ids: {}",
                    list(closest(&bare, all.iter().map(|c| c.id.as_str())))
                )
            }
            Term::Rfc(n, None) => {
                let mut rfcs: Vec<u32> = all.iter().map(|c| c.rfc.number).collect();
                rfcs.sort_unstable();
                rfcs.dedup();
                let rfcs: Vec<String> = rfcs.iter().map(u32::to_string).collect();
                format!(
                    "no case of RFC {n}; closest: {} (the catalogue has RFC {})",
                    list(closest(&n.to_string(), rfcs.iter().map(String::as_str))),
                    rfcs.join(", ")
                )
            }
            Term::Rfc(n, Some(sec)) => {
                let sections: Vec<&str> = all
                    .iter()
                    .filter(|c| c.rfc.number == *n)
                    .map(|c| c.rfc.section.as_str())
                    .collect();
                if sections.is_empty() {
                    return Term::Rfc(*n, None).nearest(all);
                }
                format!(
                    "no case of RFC {n} §{sec}; closest sections: {}",
                    list(closest(sec, sections))
                )
            }
            Term::Section(sec) => format!(
                "no case in a section §{sec}; closest: {}",
                list(closest(sec, all.iter().map(|c| c.rfc.section.as_str())))
            ),
            Term::Tag(t) => format!(
                "no case is tagged `{t}`; closest tags: {}",
                list(closest(
                    t,
                    all.iter().flat_map(|c| c.tags.iter().map(String::as_str))
                ))
            ),
            Term::Level(l) => format!("no {l} case"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases() -> Vec<Case> {
        let text = r#"
id: rfc1939/7/a
title: a
rfc: 1939 §7
level: MUST
requirement: "x"
tags: auth, state
---
S: +OK {*}
===
id: rfc1939/7.1/b
title: b
rfc: 1939 §7.1
level: SHOULD
requirement: "x"
---
S: +OK {*}
===
id: rfc2449/7/c
title: c
rfc: 2449 §7
level: MAY
requirement: "x"
tags: capa
---
S: +OK {*}
===
id: rfc1939/70/d
title: d
rfc: 1939 §70
level: MUST
requirement: "x"
---
S: +OK {*}
"#;
        scenario::parse_str(Path::new("t.pop3"), text).unwrap()
    }

    fn select(filter: &[&str], exclude: &[&str]) -> Vec<String> {
        let mut c = cases();
        SelectArgs {
            filter: filter.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            rerun_failed: None,
        }
        .apply(&mut c)
        .unwrap();
        c.into_iter().map(|c| c.id).collect()
    }

    #[test]
    fn terms() {
        assert_eq!(
            select(&["rfc1939/7*"], &[]),
            ["rfc1939/7/a", "rfc1939/7.1/b", "rfc1939/70/d"]
        );
        assert_eq!(select(&["rfc1939/7/*"], &[]), ["rfc1939/7/a"]);
        assert_eq!(
            select(&["rfc:1939/7"], &[]),
            ["rfc1939/7/a", "rfc1939/7.1/b"]
        );
        assert_eq!(select(&["rfc:RFC 1939§7.1"], &[]), ["rfc1939/7.1/b"]);
        assert_eq!(
            select(&["section:7"], &[]),
            ["rfc1939/7/a", "rfc1939/7.1/b", "rfc2449/7/c"]
        );
        assert_eq!(select(&["tag:CAPA"], &[]), ["rfc2449/7/c"]);
        assert_eq!(
            select(&["level:must"], &[]),
            ["rfc1939/7/a", "rfc1939/70/d"]
        );
        assert_eq!(
            select(&["level:may|tag:auth"], &[]),
            ["rfc1939/7/a", "rfc2449/7/c"]
        );
        assert_eq!(
            select(&["rfc:1939", "level:must"], &["id:*/70/*"]),
            ["rfc1939/7/a"]
        );
        assert_eq!(select(&[], &["rfc:1939"]), ["rfc2449/7/c"]);
    }

    fn nothing(filter: &[&str], exclude: &[&str]) -> String {
        let mut c = cases();
        let err = SelectArgs {
            filter: filter.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            rerun_failed: None,
        }
        .apply(&mut c)
        .unwrap_err();
        assert!(matches!(err, SelectError::NothingMatches(_)), "{err}");
        err.to_string()
    }

    /// A selection of nothing is an error naming what the catalogue has that is closest.
    #[test]
    fn an_empty_selection_names_the_closest() {
        assert_eq!(
            nothing(&["rfc:19399"], &[]),
            "no case selected: no case of RFC 19399; closest: 1939, 2449 (the catalogue has RFC 1939, 2449)"
        );
        assert_eq!(
            nothing(&["rfc:1939/8"], &[]),
            "no case selected: no case of RFC 1939 §8; closest sections: 7, 70, 7.1"
        );
        assert_eq!(
            nothing(&["tag:cap"], &[]),
            "no case selected: no case is tagged `cap`; closest tags: capa, auth, state"
        );
        assert!(nothing(&["rfc1939/7/x*"], &[]).starts_with(
            "no case selected: no case id matches `rfc1939/7/x*`; closest ids: rfc1939/7/a"
        ),);
        assert_eq!(
            nothing(&["tag:capa", "level:must"], &[]),
            "no case selected: --filter tag:capa matches 1, --filter level:must matches 2, but no case matches every filter"
        );
        assert_eq!(
            nothing(&["tag:capa"], &["rfc:2449"]),
            "no case selected: --filter tag:capa matches 1, but no case matches every filter (and not an --exclude)"
        );
        // a term that matches something makes its alternatives no mistake
        assert!(nothing(&["tag:nope|tag:capa", "level:should"], &[]).contains("matches"));
        let err = SelectArgs::default().apply(&mut Vec::new()).unwrap_err();
        assert!(matches!(err, SelectError::NoCases), "{err}");
    }

    #[test]
    fn bad_expressions_are_errors() {
        for bad in ["rfc:x", "level:often", "colour:red", "tag:"] {
            let mut c = cases();
            let err = SelectArgs {
                filter: vec![bad.into()],
                ..Default::default()
            }
            .apply(&mut c)
            .unwrap_err();
            assert!(
                err.to_string().contains(bad.split(':').next().unwrap()),
                "{err}"
            );
        }
    }
}

#[cfg(test)]
mod rerun_tests {
    use super::*;

    #[test]
    fn rerun_failed_reads_either_report_and_needs_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let junit = dir.path().join("r.xml");
        std::fs::write(
            &junit,
            "<testsuites><testsuite><testcase name=\"a [MUST] t\"><failure message=\"m\"/></testcase></testsuite></testsuites>",
        )
        .unwrap();
        assert_eq!(failed_ids(&junit).unwrap(), ["a"]);
        let passing = dir.path().join("p.xml");
        std::fs::write(&passing, "<testsuites><testcase name=\"a\"/></testsuites>").unwrap();
        let args = SelectArgs {
            rerun_failed: Some(passing),
            ..Default::default()
        };
        let err = args.apply(&mut Vec::new()).unwrap_err();
        assert!(matches!(err, SelectError::NoFailure { .. }), "{err}");
        let text = dir.path().join("r.txt");
        std::fs::write(&text, "PASS ...").unwrap();
        let err = failed_ids(&text).unwrap_err().to_string();
        assert!(
            err.ends_with("neither a JSON Lines report (--json) nor JUnit XML (--junit)"),
            "{err}"
        );
        let json = dir.path().join("r.jsonl");
        std::fs::write(&json, "{\"event\":\"case\"}\n").unwrap();
        let err = failed_ids(&json).unwrap_err().to_string();
        assert!(err.contains("r.jsonl: line 1: "), "{err}");
    }
}
