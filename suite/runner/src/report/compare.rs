//! Runs side by side, from their JSON Lines reports ([`super::json::read`]): the
//! cases × runs matrix (`conform report merge`, Autobahn-style: one column per run — TLS
//! modes, servers, versions — each cell linking to its wire log) and what changed between two
//! runs (`conform report diff`: new failures, fixed cases, other changed verdicts).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::html::escape;
use super::json::{ReadCase, ReadReport};

/// One verdict that differs between two runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The case id.
    pub id: String,
    /// Its outcome in the old run (`PASS`, `FAIL`, `KNOWN`, `N/A`, ...); `None`: not in it.
    pub old: Option<&'static str>,
    /// Its outcome in the new run; `None`: not in it.
    pub new: Option<&'static str>,
    /// Why, in the new run (its failure message or skip reason), else `was: ` and why in
    /// the old one.
    pub reason: Option<String>,
}

/// What changed from an old run to a new one, each list in the new report's order (then the
/// old one's, for cases only it has).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Cases that fail the new run (a failure or error the baseline does not list) and did
    /// not fail the old one, or were not in it: regressions.
    pub new_failures: Vec<Change>,
    /// Cases that failed the old run and pass the new one.
    pub fixed: Vec<Change>,
    /// Every other change of verdict (a pass now not applicable, a failure now an error or
    /// a known deviation, a case only one run has, ...).
    pub changed: Vec<Change>,
}

impl Diff {
    /// Whether the new run regressed (exit 1 in `conform report diff`).
    pub fn regressed(&self) -> bool {
        !self.new_failures.is_empty()
    }

    /// The diff as text: one section per list, one line per case, then a summary line.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let sections = [
            ("new failures", &self.new_failures),
            ("fixed", &self.fixed),
            ("changed", &self.changed),
        ];
        for (title, list) in sections {
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(out, "{title} ({}):", list.len());
            for c in list {
                let _ = write!(
                    out,
                    "  {:<56} {} -> {}",
                    c.id,
                    c.old.unwrap_or("(absent)"),
                    c.new.unwrap_or("(absent)")
                );
                match &c.reason {
                    Some(why) => {
                        let _ = writeln!(out, "  {}", first_line(why));
                    }
                    None => out.push('\n'),
                }
            }
        }
        let _ = writeln!(
            out,
            "{} new failures, {} fixed, {} other changes",
            self.new_failures.len(),
            self.fixed.len(),
            self.changed.len()
        );
        out
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// What changed from `old` to `new`.
pub fn diff(old: &ReadReport, new: &ReadReport) -> Diff {
    let before: BTreeMap<&str, &ReadCase> = old.cases.iter().map(|c| (c.id.as_str(), c)).collect();
    let after: BTreeSet<&str> = new.cases.iter().map(|c| c.id.as_str()).collect();
    let mut d = Diff::default();
    for n in &new.cases {
        let o = before.get(n.id.as_str()).copied();
        let change = Change {
            id: n.id.clone(),
            old: o.map(ReadCase::outcome),
            new: Some(n.outcome()),
            reason: n.reason.clone().or_else(|| {
                o.and_then(|o| o.reason.as_ref())
                    .map(|why| format!("was: {why}"))
            }),
        };
        if n.fails_the_run() && !o.is_some_and(ReadCase::fails_the_run) {
            d.new_failures.push(change);
        } else if o.is_some_and(ReadCase::fails_the_run)
            && n.verdict == super::json::VerdictName::Pass
        {
            d.fixed.push(change);
        } else if change.old != change.new {
            d.changed.push(change);
        }
    }
    for o in old.cases.iter().filter(|o| !after.contains(o.id.as_str())) {
        d.changed.push(Change {
            id: o.id.clone(),
            old: Some(o.outcome()),
            new: None,
            reason: None,
        });
    }
    d
}

/// Cells shown with their wire log: every one but passes, unless `all_logs`.
fn logged(c: &ReadCase, all_logs: bool) -> bool {
    all_logs || c.verdict != super::json::VerdictName::Pass
}

/// The matrix page: one row per case (in the first run's order, then cases only later runs
/// have), one column per run (`label`, its report); each cell the case's outcome in that
/// run, linking to its wire log below the table (logs of passes only with `all_logs`). The
/// page is self-contained: no script, no fetched resource.
pub fn matrix_html(runs: &[(String, ReadReport)], all_logs: bool) -> String {
    let mut ids: Vec<&str> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut titles: BTreeMap<&str, (&str, &str, &str)> = BTreeMap::new();
    let mut cells: Vec<BTreeMap<&str, &ReadCase>> = Vec::new();
    for (_, report) in runs {
        let mut by_id = BTreeMap::new();
        for c in &report.cases {
            if seen.insert(c.id.as_str()) {
                ids.push(&c.id);
                titles.insert(&c.id, (&c.title, &c.rfc, &c.level));
            }
            by_id.insert(c.id.as_str(), c);
        }
        cells.push(by_id);
    }
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n");
    h.push_str("<title>conform: runs compared</title>\n<style>");
    h.push_str(STYLE);
    h.push_str("</style></head><body>\n<h1>conform: runs compared</h1>\n");
    // the runs, with their totals
    h.push_str("<table class=\"runs\"><tr><th>run</th><th>target</th><th>conform</th><th>cases</th><th>failing the run</th><th>status</th></tr>\n");
    for (label, r) in runs {
        let failing = r.cases.iter().filter(|c| c.fails_the_run()).count();
        let status = match (r.finished, r.interrupted) {
            (true, false) => "finished",
            (true, true) => "interrupted",
            (false, _) => "cut (no finished line)",
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{failing}</td><td>{status}</td></tr>",
            escape(label),
            escape(&r.target),
            escape(&r.suite_version),
            r.cases.len()
        );
    }
    h.push_str(
        "</table>\n<table class=\"matrix\"><thead><tr><th>case</th><th>RFC</th><th>level</th>",
    );
    for (label, _) in runs {
        let _ = write!(h, "<th>{}</th>", escape(label));
    }
    h.push_str("</tr></thead><tbody>\n");
    for (row, id) in ids.iter().enumerate() {
        let (title, rfc, level) = titles[id];
        let _ = write!(
            h,
            "<tr><td title=\"{}\">{}</td><td>{}</td><td>{}</td>",
            escape(title),
            escape(id),
            escape(rfc),
            escape(level)
        );
        for (col, by_id) in cells.iter().enumerate() {
            match by_id.get(id) {
                None => h.push_str("<td class=\"absent\">—</td>"),
                Some(c) => {
                    let word = c.outcome();
                    let class = word.to_ascii_lowercase().replace('/', "");
                    if logged(c, all_logs) {
                        let _ = write!(
                            h,
                            "<td class=\"{class}\"><a href=\"#log-{row}-{col}\">{word}</a></td>"
                        );
                    } else {
                        let _ = write!(h, "<td class=\"{class}\">{word}</td>");
                    }
                }
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n<h2>Wire logs</h2>\n");
    for (row, id) in ids.iter().enumerate() {
        for (col, by_id) in cells.iter().enumerate() {
            let Some(c) = by_id.get(id).filter(|c| logged(c, all_logs)) else {
                continue;
            };
            let _ = writeln!(
                h,
                "<section id=\"log-{row}-{col}\"><h3>{} — {} — {}</h3>",
                escape(id),
                escape(&runs[col].0),
                c.outcome()
            );
            if let Some(why) = &c.reason {
                let _ = writeln!(h, "<p>{}</p>", escape(why));
            }
            if let Some(known) = &c.known_deviation {
                let _ = writeln!(h, "<p>known deviation: {}</p>", escape(known));
            }
            let _ = writeln!(
                h,
                "<pre>{}</pre></section>",
                escape(&c.transcript.join("\n"))
            );
        }
    }
    h.push_str("</body></html>\n");
    h
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:1.5em}\
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;font-size:.9em}\
td.pass{background:#dfd}td.fail,td.error{background:#fcc}td.known{background:#fec}\
td.skip,td.na,td.blocked,td.absent{background:#eee}pre{background:#f6f6f6;padding:.5em;overflow-x:auto}\
section{border-top:1px solid #ccc;margin-top:1em}";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::json::VerdictName;

    fn case(id: &str, verdict: VerdictName, known: bool) -> ReadCase {
        ReadCase {
            id: id.into(),
            title: format!("title of {id}"),
            rfc: "RFC 1939 §5".into(),
            level: "MUST".into(),
            verdict,
            known_deviation: known.then(|| "accepted".into()),
            reason: (verdict != VerdictName::Pass).then(|| format!("why {id}")),
            transcript: vec!["C: STAT".into(), "S: +OK 1 2 <b>".into()],
        }
    }

    fn report(cases: Vec<ReadCase>) -> ReadReport {
        ReadReport {
            target: "pop3://127.0.0.1:110".into(),
            suite_version: "0.1.0".into(),
            cases,
            finished: true,
            interrupted: false,
        }
    }

    #[test]
    fn diff_lists_regressions_fixes_and_changes() {
        use VerdictName::*;
        let old = report(vec![
            case("a", Pass, false),
            case("b", Fail, false),
            case("c", Pass, false),
            case("d", Fail, true),
            case("gone", Pass, false),
            case("e", Error, false),
        ]);
        let new = report(vec![
            case("a", Fail, false),
            case("b", Pass, false),
            case("c", NotApplicable, false),
            case("d", Fail, false),
            case("e", Fail, false),
            case("added", Error, false),
            case("fine", Pass, false),
        ]);
        let d = diff(&old, &new);
        let ids = |l: &[Change]| l.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        // a known deviation that is no longer listed fails the run again: a regression
        assert_eq!(ids(&d.new_failures), ["a", "d", "added"]);
        assert_eq!(ids(&d.fixed), ["b"]);
        assert_eq!(ids(&d.changed), ["c", "e", "fine", "gone"]);
        assert!(d.regressed());
        assert_eq!(d.new_failures[1].old, Some("KNOWN"));
        assert_eq!(d.new_failures[2].old, None);
        assert_eq!(d.fixed[0].reason.as_deref(), Some("was: why b"));
        let text = d.text();
        assert!(text.contains("new failures (3):"), "{text}");
        assert!(
            text.ends_with("3 new failures, 1 fixed, 4 other changes\n"),
            "{text}"
        );
        let same = diff(&new, &new);
        assert!(!same.regressed() && same.fixed.is_empty() && same.changed.is_empty());
    }

    #[test]
    fn the_matrix_has_a_column_per_run_and_links_each_logged_cell() {
        use VerdictName::*;
        let runs = vec![
            (
                "none".to_owned(),
                report(vec![case("a", Pass, false), case("b", Fail, false)]),
            ),
            (
                "starttls".to_owned(),
                report(vec![case("b", Fail, true), case("c", Skip, false)]),
            ),
        ];
        let h = matrix_html(&runs, false);
        assert!(h.contains("<th>none</th><th>starttls</th>"), "{h}");
        // a: pass (no log), absent in the second run
        assert!(
            h.contains("<td class=\"pass\">PASS</td><td class=\"absent\">—</td>"),
            "{h}"
        );
        assert!(h.contains("<a href=\"#log-1-0\">FAIL</a>") && h.contains("id=\"log-1-0\""));
        assert!(h.contains("<a href=\"#log-1-1\">KNOWN</a>") && h.contains("id=\"log-1-1\""));
        assert!(
            !h.contains("id=\"log-0-0\""),
            "no log for a pass by default"
        );
        assert!(h.contains("S: +OK 1 2 &lt;b&gt;"), "logs are escaped");
        assert!(matrix_html(&runs, true).contains("id=\"log-0-0\""));
    }
}
