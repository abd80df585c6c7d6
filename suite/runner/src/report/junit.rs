//! JUnit XML: a `<testsuite>` per RFC, a `<testcase>` per case (classname
//! `rfc1939.7`), the failure message = requirement + expected vs actual, the C:/S:
//! transcript in `<system-out>`, `<skipped message="reason"/>` for skipped cases.
//!
//! A baselined failure (a known deviation) is written as pytest writes an expected failure:
//! `<skipped type="known-deviation" message="...">`, with the failure in system-out; a
//! baselined case that passes says so in its system-out.
//!
//! Written with quick-xml's escaping rather than the junit-report crate, which cannot give a
//! `<skipped>` element a message nor a skipped case its system-out.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use quick_xml::escape::escape;
use quick_xml::events::{BytesStart, Event as XmlEvent};

use super::{Output, ReadError, ReportError};
use crate::judge::Verdict;
use crate::{CaseResult, Event, Reporter, Summary};

/// The element of one case.
const TESTCASE: &str = "testcase";
/// The `type` of the `<skipped>` element of a known deviation (a baselined failure).
const KNOWN_DEVIATION: &str = "known-deviation";

/// A testcase's `name`: `ID [LEVEL] title`, so a CI's test view shows all three.
fn testcase_name(case: &scenario::plan::Case) -> String {
    format!("{} [{}] {}", case.id, case.level, case.title)
}

/// The case id in a testcase's `name` (the first word: see [`testcase_name`]; a report of
/// another tool may have the id alone).
fn id_in_name(name: &str) -> &str {
    name.split(' ').next().unwrap_or_default()
}

/// Collects results and writes the XML at the end of the run (or of its setup, when that
/// failed: one error case [`crate::SETUP_CASE`]). An interrupted run's suites have the
/// property `interrupted` (its reason).
#[derive(Debug)]
pub struct JUnit<W: Output> {
    out: Option<W>,
    /// A fixed timestamp for reproducible output; now if `None`.
    pub timestamp: Option<SystemTime>,
    /// Record durations (off for snapshots).
    pub timings: bool,
    /// `<property>`s written in every `<testsuite>` besides the target and the suite
    /// version, e.g. the scenario digest.
    pub properties: Vec<(String, String)>,
    /// The target, from the run's start.
    target: Option<String>,
}

/// Text for XML: the transcript may carry any byte shown as text; XML 1.0 forbids most
/// control characters even escaped, so they become `\xHH`.
fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && !matches!(c, '\n' | '\t' | '\r') {
            let _ = write!(out, "\\x{:02X}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

fn attr(s: &str) -> String {
    escape(clean(s).as_str()).replace('\n', "&#10;")
}

fn text(s: &str) -> String {
    escape(clean(s).as_str()).into_owned()
}

impl<W: Output> JUnit<W> {
    /// A JUnit reporter writing to `out` when the run finishes.
    pub fn new(out: W) -> JUnit<W> {
        JUnit {
            out: Some(out),
            timestamp: None,
            timings: true,
            properties: Vec::new(),
            target: None,
        }
    }

    /// The `<properties>` of a suite: target, suite version, and [`JUnit::properties`].
    fn properties(&self, x: &mut String) {
        let fixed = [
            ("target".to_owned(), self.target.clone().unwrap_or_default()),
            (
                "suite-version".to_owned(),
                env!("CARGO_PKG_VERSION").to_owned(),
            ),
        ];
        x.push_str("    <properties>\n");
        for (name, value) in fixed.iter().chain(&self.properties) {
            let _ = writeln!(
                x,
                "      <property name=\"{}\" value=\"{}\"/>",
                attr(name),
                attr(value)
            );
        }
        x.push_str("    </properties>\n");
    }

    fn secs(&self, d: Duration) -> String {
        if self.timings {
            format!("{:.3}", d.as_secs_f64())
        } else {
            "0".into()
        }
    }

    /// The whole document.
    pub fn render(&self, results: &[CaseResult]) -> String {
        let mut suites: BTreeMap<u32, Vec<&CaseResult>> = BTreeMap::new();
        for r in results {
            suites.entry(r.case.rfc.number).or_default().push(r);
        }
        let stamp =
            humantime::format_rfc3339_seconds(self.timestamp.unwrap_or_else(SystemTime::now));
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let all: Vec<&CaseResult> = results.iter().collect();
        let _ = writeln!(x, "<testsuites name=\"conform\" {}>", self.counts(&all));
        for (rfc, cases) in &suites {
            let _ = writeln!(
                x,
                "  <testsuite name=\"RFC {rfc}\" {} timestamp=\"{stamp}\">",
                self.counts(cases)
            );
            self.properties(&mut x);
            for r in cases {
                self.testcase(&mut x, r);
            }
            x.push_str("  </testsuite>\n");
        }
        x.push_str("</testsuites>\n");
        x
    }

    /// The `tests failures errors skipped time` attributes of a suite: a known deviation
    /// counts as skipped, as its testcase is written.
    fn counts(&self, rs: &[&CaseResult]) -> String {
        let known = |r: &&&CaseResult| r.known_deviation().is_some();
        let count = |f: &dyn Fn(&&&CaseResult) -> bool| rs.iter().filter(f).count();
        format!(
            "tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\"",
            rs.len(),
            count(&|r| matches!(r.verdict, Verdict::Fail(_)) && !known(r)),
            count(&|r| matches!(r.verdict, Verdict::Error(_)) && !known(r)),
            count(&|r| r.verdict.not_judged().is_some() || known(r)),
            self.secs(rs.iter().map(|r| r.duration).sum()),
        )
    }

    fn testcase(&self, x: &mut String, r: &CaseResult) {
        let c = &r.case;
        let section = c.rfc.section.replace('.', "_");
        let classname = if section.is_empty() {
            format!("rfc{}", c.rfc.number)
        } else {
            format!("rfc{}.{section}", c.rfc.number)
        };
        let _ = writeln!(
            x,
            "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" time=\"{}\">",
            attr(&testcase_name(c)),
            attr(&classname),
            attr(&c.span.file.display().to_string()),
            self.secs(r.duration),
        );
        let mut out = String::new();
        if let Some(d) = r.known_deviation() {
            let _ = writeln!(
                x,
                "      <skipped type=\"{KNOWN_DEVIATION}\" message=\"{}\"/>",
                attr(&format!("known deviation (baseline): {}", d.reason))
            );
            if let Verdict::Fail(f) | Verdict::Error(f) = &r.verdict {
                let _ = writeln!(
                    out,
                    "known deviation: {}: expected {}, got {} (at {})",
                    f.message, f.expected, f.actual, f.span
                );
            }
        } else {
            verdict_element(x, r);
        }
        if r.baseline_outdated() {
            out.push_str("baselined, but passes now: remove it from the baseline\n");
        }
        out.push_str(&super::transcript_text(&r.transcript));
        if !out.is_empty() {
            let _ = writeln!(x, "      <system-out>{}</system-out>", text(&out));
        }
        x.push_str("    </testcase>\n");
    }
}

/// The element that says a case's verdict (none for a pass): `<skipped>` with its type,
/// `<failure>` with the requirement, or `<error>`.
fn verdict_element(x: &mut String, r: &CaseResult) {
    let c = &r.case;
    match &r.verdict {
        Verdict::Pass => {}
        Verdict::Skip(why) => {
            let _ = writeln!(x, "      <skipped message=\"{}\"/>", attr(why));
        }
        Verdict::NotApplicable(why) => {
            let _ = writeln!(
                x,
                "      <skipped type=\"not-applicable\" message=\"{}\"/>",
                attr(&format!("not applicable: {why}"))
            );
        }
        Verdict::Blocked { by } => {
            let _ = writeln!(
                x,
                "      <skipped type=\"blocked\" message=\"{}\"/>",
                attr(&format!("blocked by {by}, which failed (one root cause)"))
            );
        }
        Verdict::Fail(f) => {
            let _ = writeln!(
                x,
                "      <failure type=\"{} violation\" message=\"{}\">{}</failure>",
                c.level,
                attr(&format!(
                    "{} {}: \"{}\" — {}: expected {}, got {} (at {})",
                    c.rfc, c.level, c.requirement, f.message, f.expected, f.actual, f.span
                )),
                text(&format!(
                    "{}\nexpected: {}\nactual:   {}\nat {}",
                    f.message, f.expected, f.actual, f.span
                )),
            );
        }
        Verdict::Error(f) => {
            let _ = writeln!(
                x,
                "      <error type=\"target error\" message=\"{}\">{}</error>",
                attr(&format!(
                    "{}: expected {}, got {} (at {})",
                    f.message, f.expected, f.actual, f.span
                )),
                text(&format!(
                    "{}\nexpected: {}\nactual:   {}\nat {}",
                    f.message, f.expected, f.actual, f.span
                )),
            );
        }
    }
}

impl<W: Output> JUnit<W> {
    /// Writes the document and puts it in place.
    fn write(&mut self, results: &[CaseResult], summary: &Summary) -> Result<(), ReportError> {
        if let Some(why) = &summary.interrupted {
            self.properties.push(("interrupted".into(), why.clone()));
        }
        let xml = self.render(results);
        let Some(mut out) = self.out.take() else {
            return Ok(());
        };
        out.write_all(xml.as_bytes())
            .and_then(|()| out.complete())
            .map_err(|error| ReportError {
                report: "JUnit",
                to: out.name(),
                error,
            })
    }
}

impl<W: Output> Reporter for JUnit<W> {
    fn event(&mut self, event: &Event<'_>) -> Result<(), ReportError> {
        if let Event::SetupFailed {
            target,
            result,
            summary,
        } = event
        {
            self.target = Some(target.to_string());
            let why = match &result.verdict {
                Verdict::Fail(f) | Verdict::Error(f) => f.message.clone(),
                v => v.not_judged().unwrap_or_default(),
            };
            self.properties.push(("setup-error".into(), why));
            return self.write(std::slice::from_ref(*result), summary);
        }
        if let Event::Started {
            target, discovered, ..
        } = event
        {
            self.target = Some(target.to_string());
            // what the target implements and how that was found, for the CI's test view
            self.properties.push((
                "capabilities".into(),
                discovered.capabilities.describe().join("; "),
            ));
            if let Some(drift) = discovered.inspection.as_ref().and_then(|i| i.drift.clone()) {
                self.properties.push(("maildrop-drift".into(), drift));
            }
        }
        if let Event::Finished { results, summary } = event {
            return self.write(results, summary);
        }
        Ok(())
    }
}

/// The ids of the cases a JUnit report says failed or errored, a known deviation included
/// (`--rerun-failed`), in the report's order: a `<testcase>` holding a `<failure>`, an
/// `<error>`, or a `<skipped type="known-deviation">`, the elements [`JUnit`] writes.
pub fn failed_ids(xml: &str) -> Result<Vec<String>, ReadError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut ids = Vec::new();
    // the id of the testcase being read, until its failure is found
    let mut current: Option<String> = None;
    loop {
        match reader.read_event()? {
            XmlEvent::Start(e) if e.name().as_ref() == TESTCASE.as_bytes() => {
                current = attribute(&e, "name")?.map(|n| id_in_name(&n).to_owned());
            }
            XmlEvent::End(e) if e.name().as_ref() == TESTCASE.as_bytes() => current = None,
            XmlEvent::Start(e) | XmlEvent::Empty(e) if failed(&e)? => {
                ids.extend(current.take());
            }
            XmlEvent::Eof => break,
            _ => {}
        }
    }
    Ok(ids)
}

/// Whether an element inside a testcase says that the case failed.
fn failed(e: &BytesStart<'_>) -> Result<bool, ReadError> {
    Ok(match e.name().as_ref() {
        b"failure" | b"error" => true,
        b"skipped" => attribute(e, "type")?.as_deref() == Some(KNOWN_DEVIATION),
        _ => false,
    })
}

/// An attribute's value, unescaped.
fn attribute(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, ReadError> {
    let Some(a) = e.try_get_attribute(name).map_err(quick_xml::Error::from)? else {
        return Ok(None);
    };
    Ok(Some(a.unescape_value()?.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_cases_are_read_back() {
        let xml = r#"<?xml version="1.0"?><testsuites><testsuite name="x">
<testcase name="a" classname="x"></testcase>
<testcase name="b [MUST] a title" classname="x"><failure message="m">t</failure></testcase>
<testcase name="c" classname="x"><skipped message="why"/></testcase>
<testcase name="d" classname="x"><skipped type="known-deviation" message="k"/></testcase>
<testcase name="e&amp;f" classname="x"><error message="m"/></testcase>
</testsuite></testsuites>"#;
        assert_eq!(failed_ids(xml).unwrap(), ["b", "d", "e&f"]);
        assert!(failed_ids("<testsuites><testcase name=\"a\"></x>").is_err());
    }

    /// What the writer wrote (the snapshots of `tests/bundled.rs`) reads back.
    #[test]
    fn the_writers_reports_read_back() {
        let baseline = include_str!("../../tests/snapshots/bundled__junit_baseline.snap");
        let fault = include_str!("../../tests/snapshots/bundled__junit_fault.snap");
        let clean = include_str!("../../tests/snapshots/bundled__junit_clean.snap");
        let body = |snap: &'static str| snap.splitn(3, "---\n").nth(2).unwrap();
        assert_eq!(failed_ids(body(clean)).unwrap(), Vec::<String>::new());
        let known = failed_ids(body(baseline)).unwrap();
        assert_eq!(known.len(), 1, "{known:?}");
        let failed = failed_ids(body(fault)).unwrap();
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(!failed[0].contains(' '), "{failed:?}");
    }

    #[test]
    fn control_characters_and_markup_are_escaped() {
        assert_eq!(
            attr("a<b>\"c\"\n\u{0}"),
            "a&lt;b&gt;&quot;c&quot;&#10;\\x00"
        );
        assert_eq!(text("]]> & <x>"), "]]&gt; &amp; &lt;x&gt;");
    }
}
