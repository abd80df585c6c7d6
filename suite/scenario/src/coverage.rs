//! The requirements catalogue and the coverage matrix.
//!
//! `scenarios/requirements/*.toml` lists the requirements of each RFC that a POP3 server
//! must or should meet, each quoted with its section and level, and marked `untestable`
//! (with the reason) when a client cannot observe it on the wire:
//!
//! ```toml
//! rfc = 1939
//!
//! [[requirement]]
//! id = "1939-5-stat-format"
//! section = "5"
//! level = "MUST"
//! quote = "The positive response consists of \"+OK\" followed by a single space, ..."
//! # untestable = "constrains the client"
//! ```
//!
//! A case covers the requirement whose `quote` equals the case's `requirement:` text
//! (whitespace collapsed) in the same RFC and section. The matrix is generated from those
//! two sources only: [`Matrix::build`] links them and reports every case that quotes
//! something the catalogue does not list, so the catalogue and the cases cannot drift apart.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::plan::{Case, Level};

/// A catalogue or link problem.
#[derive(Debug, thiserror::Error)]
pub enum CoverageError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Problems in the catalogue or links from cases, one per line.
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    rfc: u32,
    #[serde(default, rename = "requirement")]
    requirements: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    section: String,
    level: String,
    quote: String,
    #[serde(default)]
    untestable: Option<String>,
}

/// One requirement of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// Unique id, `<rfc>-<section>-<slug>`.
    pub id: String,
    /// The RFC.
    pub rfc: u32,
    /// The section.
    pub section: String,
    /// MUST, SHOULD or MAY.
    pub level: Level,
    /// The RFC's words.
    pub quote: String,
    /// Why a client cannot check it, if it cannot.
    pub untestable: Option<String>,
    /// Where it is written (`file:index`).
    pub origin: String,
}

/// The whole catalogue, in file order.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    /// Every requirement.
    pub requirements: Vec<Requirement>,
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn level(s: &str) -> Option<Level> {
    match s {
        "MUST" => Some(Level::Must),
        "SHOULD" => Some(Level::Should),
        "MAY" => Some(Level::May),
        _ => None,
    }
}

impl Catalogue {
    /// Reads every `*.toml` in `dir` (sorted by name).
    pub fn load_dir(dir: &Path) -> Result<Catalogue, CoverageError> {
        let read_err = |source| CoverageError::Read {
            path: dir.to_owned(),
            source,
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(read_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        let mut texts = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|source| CoverageError::Read {
                path: f.clone(),
                source,
            })?;
            texts.push((f, text));
        }
        Catalogue::parse(&texts)
    }

    /// Parses catalogue files given as (name, text).
    pub fn parse(files: &[(PathBuf, String)]) -> Result<Catalogue, CoverageError> {
        let mut problems = Vec::new();
        let mut requirements = Vec::new();
        let mut ids: HashMap<String, String> = HashMap::new();
        let mut quotes: HashMap<(u32, String, String), String> = HashMap::new();
        for (path, text) in files {
            let file: File = match toml::from_str(text) {
                Ok(f) => f,
                Err(e) => {
                    problems.push(format!("{}: {e}", path.display()));
                    continue;
                }
            };
            for (i, e) in file.requirements.into_iter().enumerate() {
                let origin = format!("{}: requirement {} (`{}`)", path.display(), i + 1, e.id);
                let Some(level) = level(&e.level) else {
                    problems.push(format!(
                        "{origin}: level `{}` (expected MUST, SHOULD or MAY)",
                        e.level
                    ));
                    continue;
                };
                if let Some(first) = ids.insert(e.id.clone(), origin.clone()) {
                    problems.push(format!("{origin}: id already used by {first}"));
                }
                let quote = collapse(&e.quote);
                if quote.is_empty() {
                    problems.push(format!("{origin}: empty quote"));
                }
                if e.untestable.as_deref().is_some_and(|r| r.trim().is_empty()) {
                    problems.push(format!("{origin}: `untestable` needs a reason"));
                }
                let key = (file.rfc, e.section.clone(), quote.clone());
                if let Some(first) = quotes.insert(key, origin.clone()) {
                    problems.push(format!("{origin}: same quote and section as {first}"));
                }
                requirements.push(Requirement {
                    id: e.id,
                    rfc: file.rfc,
                    section: e.section,
                    level,
                    quote,
                    untestable: e.untestable,
                    origin,
                });
            }
        }
        if problems.is_empty() {
            Ok(Catalogue { requirements })
        } else {
            Err(CoverageError::Invalid(problems))
        }
    }
}

/// One row of the matrix.
#[derive(Debug, Clone)]
pub struct Row {
    /// The requirement.
    pub requirement: Requirement,
    /// Ids of the cases that cover it.
    pub cases: Vec<String>,
}

impl Row {
    /// Whether it is covered by a case or marked untestable.
    pub fn accounted_for(&self) -> bool {
        !self.cases.is_empty() || self.requirement.untestable.is_some()
    }
}

/// Counts for one RFC (or all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Requirements by level (MUST, SHOULD, MAY).
    pub requirements: [usize; 3],
    /// Of those, testable.
    pub testable: [usize; 3],
    /// Of the testable ones, covered by at least one case.
    pub covered: [usize; 3],
    /// Cases.
    pub cases: usize,
}

impl Totals {
    fn of<'a>(cases: usize, rows: impl Iterator<Item = &'a Row>) -> Totals {
        let mut t = Totals {
            cases,
            ..Totals::default()
        };
        for row in rows {
            let l = row.requirement.level as usize;
            t.requirements[l] += 1;
            if row.requirement.untestable.is_none() {
                t.testable[l] += 1;
                if !row.cases.is_empty() {
                    t.covered[l] += 1;
                }
            }
        }
        t
    }

    /// Testable MUST and SHOULD requirements without a case.
    pub fn gaps(&self) -> usize {
        (self.testable[0] - self.covered[0]) + (self.testable[1] - self.covered[1])
    }
}

/// The coverage matrix.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// Rows by RFC, in catalogue order within each.
    pub rfcs: BTreeMap<u32, Vec<Row>>,
    /// Cases per RFC.
    pub cases_per_rfc: BTreeMap<u32, usize>,
}

impl Matrix {
    /// Links `cases` to `catalogue`. Every case must quote a catalogued requirement of its
    /// RFC and section; otherwise the error lists each such case at its `file:line:col`.
    pub fn build(catalogue: &Catalogue, cases: &[Case]) -> Result<Matrix, CoverageError> {
        let mut rfcs: BTreeMap<u32, Vec<Row>> = BTreeMap::new();
        let mut index: HashMap<(u32, String), Vec<(usize, String)>> = HashMap::new();
        for r in &catalogue.requirements {
            let rows = rfcs.entry(r.rfc).or_default();
            index
                .entry((r.rfc, r.quote.clone()))
                .or_default()
                .push((rows.len(), r.section.clone()));
            rows.push(Row {
                requirement: r.clone(),
                cases: Vec::new(),
            });
        }
        let mut problems = Vec::new();
        let mut cases_per_rfc: BTreeMap<u32, usize> = BTreeMap::new();
        for c in cases {
            *cases_per_rfc.entry(c.rfc.number).or_default() += 1;
            let quote = collapse(&c.requirement);
            let at = format!("{}:{}:{}", c.span.file.display(), c.span.line, c.span.col);
            match index.get(&(c.rfc.number, quote)) {
                None => problems.push(format!(
                    "{at}: case `{}` quotes a requirement that scenarios/requirements/ does not list for RFC {}: \"{}\"",
                    c.id, c.rfc.number, c.requirement
                )),
                Some(hits) => match hits.iter().find(|(_, s)| *s == c.rfc.section) {
                    Some((row, _)) => {
                        if let Some(rows) = rfcs.get_mut(&c.rfc.number) {
                            rows[*row].cases.push(c.id.clone());
                        }
                    }
                    None => problems.push(format!(
                        "{at}: case `{}` cites {} but the catalogue has its quote in §{}",
                        c.id,
                        c.rfc,
                        hits.iter()
                            .map(|(_, s)| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", §")
                    )),
                },
            }
        }
        if problems.is_empty() {
            Ok(Matrix {
                rfcs,
                cases_per_rfc,
            })
        } else {
            Err(CoverageError::Invalid(problems))
        }
    }

    /// Totals for one RFC.
    pub fn totals_for(&self, rfc: u32) -> Totals {
        Totals::of(
            self.cases_per_rfc.get(&rfc).copied().unwrap_or(0),
            self.rfcs.get(&rfc).into_iter().flatten(),
        )
    }

    /// Totals over every RFC.
    pub fn totals(&self) -> Totals {
        Totals::of(
            self.cases_per_rfc.values().sum(),
            self.rfcs.values().flatten(),
        )
    }

    /// Every RFC that has requirements or cases.
    fn numbers(&self) -> Vec<u32> {
        let mut n: Vec<u32> = self
            .rfcs
            .keys()
            .chain(self.cases_per_rfc.keys())
            .copied()
            .collect();
        n.sort_unstable();
        n.dedup();
        n
    }

    /// The totals as a Markdown table (the README shows it).
    pub fn totals_markdown(&self) -> String {
        let mut out = String::from(
            "| RFC | cases | MUST covered / testable (all) | SHOULD covered / testable (all) | MAY covered / testable (all) |\n|---|---:|---:|---:|---:|\n",
        );
        let cell = |t: &Totals, l: usize| {
            format!(
                "{} / {} ({})",
                t.covered[l], t.testable[l], t.requirements[l]
            )
        };
        for rfc in self.numbers() {
            let t = self.totals_for(rfc);
            let _ = writeln!(
                out,
                "| {rfc} | {} | {} | {} | {} |",
                t.cases,
                cell(&t, 0),
                cell(&t, 1),
                cell(&t, 2)
            );
        }
        let t = self.totals();
        let _ = writeln!(
            out,
            "| **all** | **{}** | **{}** | **{}** | **{}** |",
            t.cases,
            cell(&t, 0),
            cell(&t, 1),
            cell(&t, 2)
        );
        out
    }

    /// The whole matrix as Markdown: per RFC, each requirement quoted with section and
    /// level, and the cases that cover it (or why it cannot be tested).
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "# Coverage matrix\n\nGenerated by `conform coverage --markdown scenarios/COVERAGE.md` from \
             `scenarios/requirements/*.toml` and the cases' `requirement:` quotes; do not edit by hand.\n\n",
        );
        out.push_str(&self.totals_markdown());
        for rfc in self.numbers() {
            let _ = writeln!(out, "\n## RFC {rfc}\n");
            out.push_str("| id | § | level | requirement | covered by |\n|---|---|---|---|---|\n");
            for row in self.rfcs.get(&rfc).into_iter().flatten() {
                let r = &row.requirement;
                let covered = match (&r.untestable, row.cases.is_empty()) {
                    (_, false) => row
                        .cases
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    (Some(why), true) => format!("untestable: {}", md_cell(why)),
                    (None, true) => "**not covered**".into(),
                };
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | \"{}\" | {} |",
                    r.id,
                    r.section,
                    r.level,
                    md_cell(&r.quote),
                    covered
                );
            }
        }
        out
    }

    /// The matrix for a terminal: one line per requirement, gaps marked.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for rfc in self.numbers() {
            let t = self.totals_for(rfc);
            let _ = writeln!(
                out,
                "RFC {rfc}: {} cases; MUST {}/{} covered, SHOULD {}/{}, MAY {}/{}",
                t.cases,
                t.covered[0],
                t.testable[0],
                t.covered[1],
                t.testable[1],
                t.covered[2],
                t.testable[2]
            );
            for row in self.rfcs.get(&rfc).into_iter().flatten() {
                let r = &row.requirement;
                let mark = match (&r.untestable, row.cases.len()) {
                    (_, n) if n > 0 => format!("{n:>3} case{}", if n == 1 { " " } else { "s" }),
                    (Some(_), _) => "untestable".into(),
                    (None, _) => "  MISSING ".into(),
                };
                let mut quote = r.quote.clone();
                if quote.chars().count() > 90 {
                    quote = quote.chars().take(87).collect::<String>() + "...";
                }
                let _ = writeln!(
                    out,
                    "  {mark}  §{:<6} {:<6} {:<34} \"{quote}\"",
                    r.section, r.level, r.id
                );
            }
        }
        let t = self.totals();
        let _ = writeln!(
            out,
            "\n{} cases; {} requirements ({} MUST, {} SHOULD, {} MAY), {} testable; testable MUST covered {}/{}, SHOULD {}/{}, MAY {}/{}; {} testable MUST/SHOULD without a case",
            t.cases,
            t.requirements.iter().sum::<usize>(),
            t.requirements[0],
            t.requirements[1],
            t.requirements[2],
            t.testable.iter().sum::<usize>(),
            t.covered[0],
            t.testable[0],
            t.covered[1],
            t.testable[1],
            t.covered[2],
            t.testable[2],
            t.gaps()
        );
        out
    }
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASES: &str = "id: a/one\ntitle: t\nrfc: 1939 §5\nlevel: MUST\nrequirement: \"The  answer\n  is +OK.\"\n---\nS: +OK\n===\nid: a/two\ntitle: t\nrfc: 1939 §6\nlevel: MUST\nrequirement: \"The answer is +OK.\"\n---\nS: +OK\n===\nid: a/three\ntitle: t\nrfc: 2449 §5\nlevel: MUST\nrequirement: \"not listed\"\n---\nS: +OK\n";

    fn catalogue() -> Catalogue {
        Catalogue::parse(&[(
            PathBuf::from("r.toml"),
            "rfc = 1939\n[[requirement]]\nid = \"1939-5-answer\"\nsection = \"5\"\nlevel = \"MUST\"\nquote = \"The answer is +OK.\"\n[[requirement]]\nid = \"1939-5-lock\"\nsection = \"5\"\nlevel = \"SHOULD\"\nquote = \"Lock it.\"\n[[requirement]]\nid = \"1939-8-impl\"\nsection = \"8\"\nlevel = \"MUST\"\nquote = \"Internal.\"\nuntestable = \"internal to the server\"\n".into(),
        )])
        .expect("valid catalogue")
    }

    #[test]
    fn cases_link_by_quote_and_section_and_strays_are_named() {
        let cases = crate::parse_str("c.pop3", CASES).expect("cases compile");
        let err = Matrix::build(&catalogue(), &cases)
            .expect_err("two strays")
            .to_string();
        assert!(
            err.contains(
                "c.pop3:10:1: case `a/two` cites RFC 1939 §6 but the catalogue has its quote in §5"
            ),
            "{err}"
        );
        assert!(err.contains("case `a/three` quotes a requirement that scenarios/requirements/ does not list for RFC 2449"), "{err}");
        let m = Matrix::build(&catalogue(), &cases[..1]).expect("links");
        let t = m.totals();
        assert_eq!(t.requirements, [2, 1, 0]);
        assert_eq!(t.testable, [1, 1, 0]);
        assert_eq!(t.covered, [1, 0, 0]);
        assert_eq!(t.gaps(), 1);
        assert!(m.text().contains("MISSING   §5"), "{}", m.text());
        assert!(m
            .markdown()
            .contains("| `1939-5-answer` | 5 | MUST | \"The answer is +OK.\" | `a/one` |"));
    }

    #[test]
    fn catalogue_problems_are_all_reported() {
        let e = Catalogue::parse(&[(
            PathBuf::from("r.toml"),
            "rfc = 1939\n[[requirement]]\nid = \"x\"\nsection = \"5\"\nlevel = \"MUST\"\nquote = \"q\"\n[[requirement]]\nid = \"x\"\nsection = \"5\"\nlevel = \"MUST\"\nquote = \"q\"\nuntestable = \"\"\n[[requirement]]\nid = \"y\"\nsection = \"5\"\nlevel = \"must\"\nquote = \"z\"\n".into(),
        )])
        .expect_err("invalid")
        .to_string();
        assert!(e.contains("id already used"), "{e}");
        assert!(e.contains("same quote and section"), "{e}");
        assert!(e.contains("`untestable` needs a reason"), "{e}");
        assert!(e.contains("level `must`"), "{e}");
    }
}
