//! One self-contained HTML page (`--html FILE`), written when the run finishes: a header
//! (target, suite version, date, totals), a summary by RFC and by level, and a table of every
//! case — failures and errors first, then known deviations, passes, skips — each expandable
//! to its requirement, expected vs actual, the failing step, the skip or baseline reason and
//! the colour-coded `C:`/`S:`/`#` wire log with timestamps (ms since the case started).
//!
//! The page fetches nothing: its CSS and its small vanilla script are inline, and a
//! Content-Security-Policy forbids every other source. The rows are written here, so the page
//! reads without script; the script adds the filters (text on id and title, verdicts, level,
//! RFC; preset by a link's `#q=dele&verdict=fail,error&level=MUST&rfc=1939`), says how many
//! rows are shown (`id="shown"`), and marks `<body data-ready="yes">` once it has run.
//!
//! The totals are elements `id="n-tests"`, `n-passed`, `n-failed`, `n-errors`, `n-skipped`,
//! `n-known`, `n-na` (not applicable), `n-blocked` with the number in `data-count`; they
//! partition the cases (a known deviation is counted only under `known`), so `failed`,
//! `errors` and `skipped + known + na + blocked` are JUnit's `failures`, `errors` and
//! `skipped`. Below them: what the target implements and how that was found, the maildrop,
//! and the root causes of the failures with the cases each blocked.
//!
//! An interrupted run's status says `INTERRUPTED (SIGTERM)`; a run that could not start is a
//! page with its one error case, `conform/target`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use scenario::plan::Level;

use super::{Output, ReportError};
use crate::judge::{Dir, Entry, Verdict};
use crate::{CaseResult, Event, Reporter, Summary};

/// Collects the target and writes the page at the end of the run.
#[derive(Debug)]
pub struct Html<W: Output> {
    out: Option<W>,
    target: String,
    /// What discovery found, one line each (capabilities, login, maildrop, drift).
    discovered: Vec<String>,
    /// Record the date, durations and timestamps (off for snapshots).
    pub timings: bool,
}

/// How a case is shown, in the table's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Fail,
    Error,
    Known,
    Pass,
    Skip,
    NotApplicable,
    Blocked,
}

impl Kind {
    fn of(r: &CaseResult) -> Kind {
        if r.known_deviation().is_some() {
            return Kind::Known;
        }
        match r.verdict {
            Verdict::Fail(_) => Kind::Fail,
            Verdict::Error(_) => Kind::Error,
            Verdict::Pass => Kind::Pass,
            Verdict::Skip(_) => Kind::Skip,
            Verdict::NotApplicable(_) => Kind::NotApplicable,
            Verdict::Blocked { .. } => Kind::Blocked,
        }
    }

    /// The `data-verdict` value and CSS class suffix.
    fn name(self) -> &'static str {
        match self {
            Kind::Fail => "fail",
            Kind::Error => "error",
            Kind::Known => "known",
            Kind::Pass => "pass",
            Kind::Skip => "skip",
            Kind::NotApplicable => "na",
            Kind::Blocked => "blocked",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Fail => "FAIL",
            Kind::Error => "ERROR",
            Kind::Known => "KNOWN",
            Kind::Pass => "PASS",
            Kind::Skip => "SKIP",
            Kind::NotApplicable => "N/A",
            Kind::Blocked => "BLOCKED",
        }
    }

    const ALL: [Kind; 7] = [
        Kind::Fail,
        Kind::Error,
        Kind::Known,
        Kind::Pass,
        Kind::Skip,
        Kind::NotApplicable,
        Kind::Blocked,
    ];
}

/// Counts by kind.
#[derive(Debug, Clone, Copy, Default)]
struct Tally([usize; 7]);

impl Tally {
    fn of<'a>(rs: impl IntoIterator<Item = &'a CaseResult>) -> Tally {
        let mut t = Tally::default();
        for r in rs {
            t.0[Kind::of(r) as usize] += 1;
        }
        t
    }

    fn get(&self, k: Kind) -> usize {
        self.0[k as usize]
    }

    fn total(&self) -> usize {
        self.0.iter().sum()
    }
}

/// Text for HTML text and attribute values: markup characters as entities, control
/// characters (which a transcript shows as `\xHH` already) as `\xHH`, so no byte of a report
/// can open a tag or end an attribute.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

mod assets;
use assets::{SCRIPT, STYLE};

impl<W: Output> Html<W> {
    /// An HTML reporter writing to `out` when the run finishes.
    pub fn new(out: W) -> Html<W> {
        Html {
            out: Some(out),
            target: String::new(),
            discovered: Vec::new(),
            timings: true,
        }
    }

    /// The whole page.
    pub fn render(&self, results: &[CaseResult], summary: &Summary) -> String {
        let tally = Tally::of(results);
        let mut h = String::new();
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
             style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>conform: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
            escape(&self.target)
        );
        self.header(&mut h, &tally, summary);
        h.push_str("<main>\n");
        summaries(&mut h, results);
        root_causes(&mut h, results);
        self.cases(&mut h, results, &tally);
        let _ = write!(h, "</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n");
        h
    }

    fn header(&self, h: &mut String, t: &Tally, summary: &Summary) {
        let (class, status) = if let Some(why) = &summary.interrupted {
            (
                "bad",
                format!("INTERRUPTED ({why}): the cases not finished were not run"),
            )
        } else if summary.run_failures > 0 {
            (
                "bad",
                format!("FAILED: {} failing the run", summary.run_failures),
            )
        } else {
            ("ok", "PASSED".to_owned())
        };
        let _ = writeln!(
            h,
            "<header>\n<h1>conform report <span class=\"status {class}\" id=\"status\">{status}</span></h1>"
        );
        let _ = write!(
            h,
            "<div class=\"meta\"><span>target <code>{}</code></span><span>conform {}</span>",
            escape(&self.target),
            env!("CARGO_PKG_VERSION")
        );
        if self.timings {
            let _ = write!(
                h,
                "<span>{}</span><span>{}</span>",
                humantime::format_rfc3339_seconds(SystemTime::now()),
                ms(summary.duration)
            );
        }
        if summary.outdated > 0 {
            let _ = write!(
                h,
                "<span>{} baselined but passing (remove from the baseline)</span>",
                summary.outdated
            );
        }
        h.push_str("</div>\n<div class=\"totals\">\n");
        let total = |h: &mut String, id: &str, class: &str, label: &str, n: usize| {
            let _ = writeln!(
                h,
                "<div class=\"total {class}\"><b id=\"n-{id}\" data-count=\"{n}\">{n}</b>{label}</div>"
            );
        };
        total(h, "tests", "", "cases", t.total());
        total(h, "passed", "pass", "passed", t.get(Kind::Pass));
        total(h, "failed", "fail", "failed", t.get(Kind::Fail));
        total(h, "errors", "error", "errors", t.get(Kind::Error));
        total(h, "skipped", "skip", "skipped", t.get(Kind::Skip));
        total(h, "known", "known", "known (baseline)", t.get(Kind::Known));
        total(
            h,
            "na",
            "skip",
            "not applicable",
            t.get(Kind::NotApplicable),
        );
        total(h, "blocked", "known", "blocked", t.get(Kind::Blocked));
        h.push_str("</div>\n");
        if !self.discovered.is_empty() {
            h.push_str("<details class=\"discovery\" open><summary>What the target implements, and how that was found</summary><ul id=\"discovered\">\n");
            for line in &self.discovered {
                let _ = writeln!(h, "<li>{}</li>", escape(line));
            }
            h.push_str("</ul></details>\n");
        }
        h.push_str("</header>\n");
    }

    fn cases(&self, h: &mut String, results: &[CaseResult], t: &Tally) {
        h.push_str("<h2>Cases</h2>\n<div id=\"filters\" hidden>\n");
        h.push_str(
            "<input type=\"search\" id=\"f-text\" placeholder=\"filter id or title\" \
             aria-label=\"filter id or title\">\n<span id=\"f-verdicts\">",
        );
        for k in Kind::ALL {
            let _ = write!(
                h,
                "<label><input type=\"checkbox\" value=\"{}\" checked> \
                 <span class=\"badge v-{}\">{}</span> {}</label> ",
                k.name(),
                k.name(),
                k.label(),
                t.get(k)
            );
        }
        h.push_str(
            "</span>\n<select id=\"f-level\" aria-label=\"level\"><option value=\"\">every level</option>\
             <option>MUST</option><option>SHOULD</option><option>MAY</option></select>\n\
             <select id=\"f-rfc\" aria-label=\"RFC\"><option value=\"\">every RFC</option></select>\n\
             <span><b id=\"shown\"></b> of ",
        );
        let _ = write!(
            h,
            "{} shown</span>\n<button type=\"button\" id=\"expand\">expand shown</button>\
             <button type=\"button\" id=\"collapse\">collapse</button>\n</div>\n",
            t.total()
        );
        h.push_str("<table id=\"cases\">\n<thead><tr><th>verdict</th><th>level</th><th>RFC</th>");
        if self.timings {
            h.push_str("<th class=\"n\">time</th>");
        }
        h.push_str("<th>case</th></tr></thead>\n<tbody>\n");
        let mut order: Vec<&CaseResult> = results.iter().collect();
        order.sort_by_key(|r| Kind::of(r));
        for r in order {
            self.case(h, r);
        }
        h.push_str(
            "</tbody>\n</table>\n<div id=\"empty\" hidden>no case matches the filters</div>\n",
        );
    }

    fn case(&self, h: &mut String, r: &CaseResult) {
        let c = &r.case;
        let k = Kind::of(r);
        let _ = write!(
            h,
            "<tr class=\"case k-{k}\" data-verdict=\"{k}\" data-level=\"{level}\" data-rfc=\"{rfc}\" \
             data-search=\"{search}\"><td class=\"v\"><span class=\"badge v-{k}\">{label}</span></td>\
             <td class=\"l\">{level}</td><td class=\"r\">{rfcref}</td>",
            k = k.name(),
            label = k.label(),
            level = c.level,
            rfc = c.rfc.number,
            search = escape(&format!("{} {}", c.id, c.title).to_lowercase()),
            rfcref = escape(&c.rfc.to_string()),
        );
        if self.timings {
            let _ = write!(h, "<td class=\"d n\">{}</td>", ms(r.duration));
        }
        let _ = write!(
            h,
            "<td><details><summary><code>{}</code> {}</summary>\n<div class=\"body\"><dl>\n",
            escape(&c.id),
            escape(&c.title)
        );
        details(h, r);
        h.push_str("</dl>\n");
        if !r.transcript.is_empty() {
            self.wire(h, r);
        }
        h.push_str("</div></details></td></tr>\n");
    }

    /// The wire log: one line per entry, coloured by who wrote it. A long run of server
    /// lines (a message body) shows its first and last [`KEEP`] lines (the JUnit and JSON
    /// reports have them all), so that a page of the whole catalogue stays small.
    fn wire(&self, h: &mut String, r: &CaseResult) {
        let t = &r.transcript;
        let many = t.iter().any(|e| e.session > 0);
        h.push_str("<pre class=\"wire\">");
        let mut i = 0;
        while i < t.len() {
            let run = t[i..]
                .iter()
                .take_while(|e| e.dir == t[i].dir && e.session == t[i].session)
                .count();
            let end = i + run;
            if t[i].dir == Dir::Server && run > 3 * KEEP {
                for e in &t[i..i + KEEP] {
                    self.line(h, e, many);
                }
                let _ = writeln!(
                    h,
                    "<span class=\"x\">    … {} more lines from the server …</span>",
                    run - 2 * KEEP
                );
                for e in &t[end - KEEP..end] {
                    self.line(h, e, many);
                }
            } else {
                for e in &t[i..end] {
                    self.line(h, e, many);
                }
            }
            i = end;
        }
        h.push_str("</pre>\n");
    }

    fn line(&self, h: &mut String, e: &Entry, many: bool) {
        let (class, who) = match e.dir {
            Dir::Client => ("c", "C"),
            Dir::Server => ("s", "S"),
            Dir::Note => ("x", "#"),
        };
        let _ = write!(h, "<span class=\"{class}\">");
        if self.timings {
            let _ = write!(
                h,
                "<span class=\"t\">{:>8.1} ms </span>",
                e.at.as_secs_f64() * 1000.0
            );
        }
        if many {
            let _ = write!(h, "[{}] ", e.session + 1);
        }
        let _ = writeln!(h, "{who}: {}</span>", escape(&e.text));
    }
}

/// Lines kept at each end of a long run of server lines.
const KEEP: usize = 20;

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// The two summary tables: by RFC and by level.
fn summaries(h: &mut String, results: &[CaseResult]) {
    let mut by_rfc: BTreeMap<u32, Vec<&CaseResult>> = BTreeMap::new();
    let mut by_level: BTreeMap<Level, Vec<&CaseResult>> = BTreeMap::new();
    for r in results {
        by_rfc.entry(r.case.rfc.number).or_default().push(r);
        by_level.entry(r.case.level).or_default().push(r);
    }
    h.push_str("<h2>Summary</h2>\n<div class=\"summaries\">\n");
    let rows: Vec<(String, String, Tally)> = by_rfc
        .iter()
        .map(|(n, rs)| {
            (
                format!("data-pick-rfc=\"{n}\""),
                format!("RFC {n}"),
                Tally::of(rs.iter().copied()),
            )
        })
        .collect();
    table(h, "by-rfc", "RFC", &rows, Tally::of(results));
    let rows: Vec<(String, String, Tally)> = by_level
        .iter()
        .map(|(l, rs)| {
            (
                format!("data-pick-level=\"{l}\""),
                l.to_string(),
                Tally::of(rs.iter().copied()),
            )
        })
        .collect();
    table(h, "by-level", "level", &rows, Tally::of(results));
    h.push_str("</div>\n");
}

/// One `<dt>`/`<dd>` pair of a case's details.
fn item(h: &mut String, class: &str, term: &str, html: &str) {
    let class = if class.is_empty() {
        String::new()
    } else {
        format!(" class=\"{class}\"")
    };
    let _ = writeln!(h, "<dt>{term}</dt><dd{class}>{html}</dd>");
}

/// A case's details: requirement, place, tags, baseline notes, and what its verdict says.
fn details(h: &mut String, r: &CaseResult) {
    let c = &r.case;
    item(
        h,
        "",
        "requirement",
        &format!(
            "{} {}: <blockquote>“{}”</blockquote>",
            escape(&c.rfc.to_string()),
            c.level,
            escape(&c.requirement)
        ),
    );
    item(
        h,
        "",
        "case",
        &format!("<code>{}</code>", escape(&c.span.to_string())),
    );
    if !c.tags.is_empty() {
        item(h, "", "tags", &escape(&c.tags.join(", ")));
    }
    if let Some(d) = r.known_deviation() {
        item(h, "note", "baseline", &escape(&d.reason));
    }
    if r.baseline_outdated() {
        item(
            h,
            "note",
            "baseline",
            "listed, but passes now: remove it from the baseline",
        );
    }
    match &r.verdict {
        Verdict::Fail(f) | Verdict::Error(f) => {
            item(h, "", "what", &escape(&f.message));
            let code = |s: &str| format!("<code>{}</code>", escape(s));
            item(h, "exp", "expected", &code(&f.expected));
            item(h, "act", "actual", &code(&f.actual));
            item(h, "", "failing step", &code(&f.span.to_string()));
        }
        Verdict::Skip(why) => item(h, "", "skipped", &escape(why)),
        Verdict::NotApplicable(why) => item(h, "", "not applicable", &escape(why)),
        Verdict::Blocked { by } => item(
            h,
            "",
            "blocked",
            &format!(
                "by <code>{}</code>, which failed (one root cause)",
                escape(by)
            ),
        ),
        Verdict::Pass => {}
    }
}

/// The failures that are root causes, with the cases each blocked (when any was blocked).
fn root_causes(h: &mut String, results: &[CaseResult]) {
    let roots = super::root_causes(results);
    if roots.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        "<h2>Root causes</h2>\n<ul id=\"roots\" data-count=\"{}\">",
        roots.len()
    );
    for r in &roots {
        let _ = write!(h, "<li><code>{}</code>", escape(&r.id));
        if !r.blocked.is_empty() {
            let _ = write!(h, " blocks {}:", r.blocked.len());
            for b in &r.blocked {
                let _ = write!(h, " <code>{}</code>", escape(b));
            }
        }
        h.push_str("</li>\n");
    }
    h.push_str("</ul>\n");
}

fn table(h: &mut String, id: &str, what: &str, rows: &[(String, String, Tally)], all: Tally) {
    let _ = write!(
        h,
        "<table id=\"{id}\"><thead><tr><th>{what}</th><th class=\"n\">cases</th>"
    );
    for k in Kind::ALL {
        let _ = write!(h, "<th class=\"n\">{}</th>", k.name());
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    let row = |h: &mut String, attrs: &str, name: &str, t: &Tally| {
        let _ = write!(
            h,
            "<tr {attrs}><td>{}</td><td class=\"n\">{}</td>",
            escape(name),
            t.total()
        );
        for k in Kind::ALL {
            let n = t.get(k);
            let cell = match (n, k) {
                (0, _) => "n z",
                (_, Kind::Fail | Kind::Error) => "n hot",
                _ => "n",
            };
            let _ = write!(h, "<td class=\"{cell}\">{n}</td>");
        }
        h.push_str("</tr>\n");
    };
    for (attrs, name, t) in rows {
        row(h, attrs, name, t);
    }
    row(h, "class=\"all\"", "all", &all);
    h.push_str("</tbody></table>\n");
}

impl<W: Output> Html<W> {
    /// Writes the page and puts it in place.
    fn write(&mut self, results: &[CaseResult], summary: &Summary) -> Result<(), ReportError> {
        let page = self.render(results, summary);
        let Some(mut out) = self.out.take() else {
            return Ok(());
        };
        out.write_all(page.as_bytes())
            .and_then(|()| out.complete())
            .map_err(|error| ReportError {
                report: "HTML",
                to: out.name(),
                error,
            })
    }
}

impl<W: Output> Reporter for Html<W> {
    fn event(&mut self, event: &Event<'_>) -> Result<(), ReportError> {
        match event {
            Event::SetupFailed {
                target,
                result,
                summary,
            } => {
                self.target = target.to_string();
                return self.write(std::slice::from_ref(*result), summary);
            }
            Event::Started {
                target, discovered, ..
            } => {
                self.target = target.to_string();
                self.discovered = discovered.capabilities.describe();
                if let Some(i) = &discovered.inspection {
                    self.discovered.push(match &i.fixture {
                        Ok(()) => "maildrop: the standard fixture".to_owned(),
                        Err(why) => format!("maildrop: {why}"),
                    });
                    if let Some(d) = &i.drift {
                        self.discovered.push(format!(
                            "maildrop drift: {d} (allowed between sessions; cases compare sizes within one session)"
                        ));
                    }
                }
            }
            Event::CaseFinished(_) => {}
            Event::Finished { results, summary } => return self.write(results, summary),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_quotes_and_control_characters_are_escaped() {
        assert_eq!(
            escape("<script>a&b</script> \"x\" 'y'\u{0}\u{7f}\n"),
            "&lt;script&gt;a&amp;b&lt;/script&gt; &quot;x&quot; &#39;y&#39;\\x00\\x7F\n"
        );
    }

    #[test]
    fn the_script_and_style_cannot_end_their_element_early() {
        assert!(!SCRIPT.contains("</"));
        assert!(!STYLE.contains("</"));
    }
}
