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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::time::{Duration, SystemTime};

use scenario::plan::Level;

use crate::judge::{Dir, Entry, Verdict};
use crate::{CaseResult, Event, Reporter, Summary};

/// Collects the target and writes the page at the end of the run.
#[derive(Debug)]
pub struct Html<W: Write> {
    out: Option<W>,
    target: String,
    /// What discovery found, one line each (capabilities, login, maildrop, drift).
    discovered: Vec<String>,
    /// Record the date, durations and timestamps (off for snapshots).
    pub timings: bool,
    /// Set when the page could not be written.
    pub error: Option<String>,
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

const STYLE: &str = r#"
:root{--fail:#c62828;--error:#e65100;--known:#6a1b9a;--pass:#2e7d32;--skip:#757575}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1c1c1c;background:#f4f5f7}
header{background:#263238;color:#fff;padding:16px 24px}
header h1{margin:0 0 4px;font-size:20px;font-weight:600}
header .meta{opacity:.85}
header .meta span+span::before{content:" · "}
.status{display:inline-block;margin-left:8px;padding:1px 8px;border-radius:4px;font-size:13px;font-weight:700;vertical-align:middle}
.status.ok{background:var(--pass)}.status.bad{background:var(--fail)}
.totals{display:flex;flex-wrap:wrap;gap:10px;margin-top:12px}
.total{background:#fff;color:#1c1c1c;border-radius:6px;padding:4px 12px;border-left:6px solid #90a4ae;min-width:92px}
.total b{display:block;font-size:22px;font-variant-numeric:tabular-nums}
.total.fail{border-color:var(--fail)}.total.error{border-color:var(--error)}.total.known{border-color:var(--known)}
.total.pass{border-color:var(--pass)}.total.skip{border-color:var(--skip)}
main{padding:8px 24px 32px}
h2{font-size:16px;margin:20px 0 8px}
.summaries{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08)}
th,td{padding:4px 10px;border-bottom:1px solid #e3e5e8;text-align:left;vertical-align:top}
th{background:#eceff1;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.all td{font-weight:700}
td.z{color:#b0b4b8}
td.hot{color:var(--fail);font-weight:700}
#filters{display:flex;flex-wrap:wrap;gap:14px;align-items:center;margin:8px 0;padding:8px 10px;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08)}
#filters input[type=search]{width:200px;padding:3px 6px}
#filters label{white-space:nowrap}
#cases{width:100%}
#cases td.v{width:72px}#cases td.l{width:70px}#cases td.r{width:120px;white-space:nowrap}#cases td.d{width:80px;white-space:nowrap}
.badge{display:inline-block;min-width:56px;text-align:center;border-radius:4px;color:#fff;font-size:12px;font-weight:700;padding:1px 6px}
.v-fail{background:var(--fail)}.v-error{background:var(--error)}.v-known{background:var(--known)}.v-pass{background:var(--pass)}.v-skip{background:var(--skip)}.v-na{background:var(--skip)}.v-blocked{background:var(--known)}
tr.k-fail{background:#fff5f5}tr.k-error{background:#fff8f0}tr.k-known{background:#faf5fc}
summary{cursor:pointer}
summary code{font-weight:600}
.body{margin:8px 0 4px;padding:8px 12px;border-left:3px solid #cfd8dc;background:#fafbfc}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0 0 8px}
dt{font-weight:600;color:#455a64}dd{margin:0;word-break:break-word}
blockquote{margin:0;font-style:italic}
code,pre{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:12.5px}
dd.exp code{color:var(--pass)}dd.act code{color:var(--fail)}
pre.wire{margin:0;padding:8px 10px;background:#1e2227;color:#d7dae0;border-radius:4px;overflow-x:auto;white-space:pre}
pre.wire .c{color:#61afef}pre.wire .s{color:#98c379}pre.wire .x{color:#8b929a;font-style:italic}
pre.wire .t{color:#6b717a;user-select:none}
.note{color:#6a1b9a}
#empty{padding:12px;color:#757575}
"#;

const SCRIPT: &str = r#"
(function () {
  'use strict';
  var rows = [].slice.call(document.querySelectorAll('#cases > tbody > tr'));
  var text = document.getElementById('f-text');
  var level = document.getElementById('f-level');
  var rfc = document.getElementById('f-rfc');
  var boxes = [].slice.call(document.querySelectorAll('#f-verdicts input'));
  var shown = document.getElementById('shown');
  var empty = document.getElementById('empty');
  var rfcs = {};
  rows.forEach(function (r) { rfcs[r.getAttribute('data-rfc')] = true; });
  Object.keys(rfcs).sort(function (a, b) { return a - b; }).forEach(function (n) {
    var o = document.createElement('option');
    o.value = n;
    o.textContent = 'RFC ' + n;
    rfc.appendChild(o);
  });
  function apply() {
    var q = text.value.trim().toLowerCase();
    var want = {};
    boxes.forEach(function (b) { want[b.value] = b.checked; });
    var n = 0;
    rows.forEach(function (r) {
      var ok = want[r.getAttribute('data-verdict')] === true &&
        (!level.value || r.getAttribute('data-level') === level.value) &&
        (!rfc.value || r.getAttribute('data-rfc') === rfc.value) &&
        (!q || r.getAttribute('data-search').indexOf(q) >= 0);
      r.hidden = !ok;
      if (ok) { n++; }
    });
    shown.textContent = String(n);
    shown.setAttribute('data-count', String(n));
    empty.hidden = n > 0;
  }
  function openAll(open) {
    rows.forEach(function (r) {
      if (!r.hidden) { r.querySelector('details').open = open; }
    });
  }
  [text, level, rfc].concat(boxes).forEach(function (el) {
    el.addEventListener('input', apply);
    el.addEventListener('change', apply);
  });
  document.getElementById('expand').addEventListener('click', function () { openAll(true); });
  document.getElementById('collapse').addEventListener('click', function () { openAll(false); });
  [].slice.call(document.querySelectorAll('tr[data-pick-rfc], tr[data-pick-level]')).forEach(function (tr) {
    tr.style.cursor = 'pointer';
    tr.title = 'show these cases';
    tr.addEventListener('click', function () {
      rfc.value = tr.getAttribute('data-pick-rfc') || '';
      level.value = tr.getAttribute('data-pick-level') || '';
      apply();
      document.getElementById('cases').scrollIntoView();
    });
  });
  // a link may preset the filters: #q=dele&verdict=fail,error&level=MUST&rfc=1939
  location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
    var i = kv.indexOf('=');
    if (i < 0) { return; }
    var k = kv.slice(0, i), v = decodeURIComponent(kv.slice(i + 1));
    if (k === 'q') { text.value = v; }
    if (k === 'level') { level.value = v; }
    if (k === 'rfc') { rfc.value = v; }
    if (k === 'verdict') {
      var on = v.split(',');
      boxes.forEach(function (b) { b.checked = on.indexOf(b.value) >= 0; });
    }
  });
  document.getElementById('filters').hidden = false;
  apply();
  document.body.setAttribute('data-ready', 'yes');
})();
"#;

impl<W: Write> Html<W> {
    /// An HTML reporter writing to `out` when the run finishes.
    pub fn new(out: W) -> Html<W> {
        Html {
            out: Some(out),
            target: String::new(),
            discovered: Vec::new(),
            timings: true,
            error: None,
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
        let (class, status) = if summary.run_failures > 0 {
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
        let item = |h: &mut String, class: &str, term: &str, html: &str| {
            let class = if class.is_empty() {
                String::new()
            } else {
                format!(" class=\"{class}\"")
            };
            let _ = writeln!(h, "<dt>{term}</dt><dd{class}>{html}</dd>");
        };
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

impl<W: Write + Send> Reporter for Html<W> {
    fn event(&mut self, event: &Event<'_>) {
        match event {
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
            Event::Finished { results, summary } => {
                let page = self.render(results, summary);
                if let Some(mut out) = self.out.take() {
                    if let Err(e) = out.write_all(page.as_bytes()).and_then(|_| out.flush()) {
                        self.error = Some(e.to_string());
                    }
                }
            }
        }
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
