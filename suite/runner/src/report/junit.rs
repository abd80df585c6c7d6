//! JUnit XML, written with the `junit-report` crate: one `<testsuite>` per RFC and TLS mode
//! (`rfc1939 (starttls)`), one `<testcase>` per case.
//!
//! **Names are stable and unique across TLS modes.** A testcase's `name` is the case id
//! (`rfc1939/5/dele-leaves-gaps`), which does not change when a title is edited; its
//! `classname` is the RFC section and the TLS mode (`rfc1939.5 (starttls)`). A CI that merges
//! the three files of a run per TLS mode keeps every case apart: GitLab keys a test on
//! classname + name, Jenkins on suite + classname + name, and both differ between modes.
//! The title, level, requirement and where the step is (`scenarios/rfc1939/...pop3:12:1`,
//! relative to the catalogue or to the folder given, never absolute) are in the failure
//! message.
//!
//! **Verdicts.** A failure is `<failure type="MUST violation" message="...">` (the message:
//! title, RFC, level, requirement, expected vs actual; the body: the same, one per line), an
//! error `<error type="target error">`; a case that was not judged is `<skipped type="...">`
//! with its reason as the message (types `skip`, `not-applicable`, `blocked`). A baselined
//! failure (a known deviation) is written as pytest writes an expected failure: `<skipped
//! type="known-deviation">`, the failure in system-out; a baselined case that passes says so
//! in its system-out.
//!
//! **Transcripts** (the C:/S: wire log) go in `<system-out>` of failures, errors and known
//! deviations only ([`Transcripts::Failures`], the default): an all-pass run of the whole
//! catalogue is about 60 KB (1.8 MB with every transcript). [`Transcripts::All`] adds them to every case
//! (`conform run --junit-transcripts all`), [`Transcripts::None`] to none.
//!
//! **Valid for Jenkins' xunit plugin and read by junitparser** (both checked by
//! `suite/conform/tests/junit.rs`): no `testcase/@file`, no `testsuites/@skipped` (the
//! xunit JUnit schema has neither); `testsuite/@skipped` and `@time` with at most three
//! decimals, which it has.
//!
//! Where quick-xml still writes: junit-report 0.9 has no `<properties>` and no counts on
//! `<testsuites>` nor `skipped` on `<testsuite>`, and writes every `time` at full `f64`
//! precision (`1.3450000000000002`, which the schema's time pattern refuses) on one line.
//! [`decorate`] reads its document back with quick-xml and writes it again indented, with
//! the suite properties (target, suite version, capabilities, interrupted, ...), those counts,
//! and millisecond times; nothing else changes. The reader [`failed_ids`]
//! (`--rerun-failed`) is quick-xml too: junit-report only writes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use junit_report::{Report, TestCase, TestResult, TestSuite};
use quick_xml::events::{BytesEnd, BytesStart, Event as XmlEvent};
use quick_xml::XmlVersion;

use super::{Output, ReadError, ReportError};
use crate::baseline::mode_name;
use crate::judge::{Failure, Verdict};
use crate::{CaseResult, Event, Reporter, Summary, TlsMode};

/// The element of one case.
const TESTCASE: &str = "testcase";
/// The `type` of the `<skipped>` element of a known deviation (a baselined failure).
const KNOWN_DEVIATION: &str = "known-deviation";

/// Which cases carry their transcript in `<system-out>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transcripts {
    /// Failures, errors and known deviations (the default: the report stays small).
    #[default]
    Failures,
    /// Every case that has one.
    All,
    /// None: the failure messages alone.
    None,
}

/// Why the JUnit document could not be made (a bug, never the target's doing: the run then
/// ends with exit 4, the report not written).
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// junit-report could not write its document.
    #[error("junit-report: {0}")]
    JUnit(#[from] junit_report::Error),
    /// junit-report's document did not read back.
    #[error("reading junit-report's document back: {0}")]
    Xml(#[from] quick_xml::Error),
    /// The document is not UTF-8.
    #[error("the document is not UTF-8: {0}")]
    Utf8(#[from] std::string::FromUtf8Error),
    /// A `time` attribute that is no number.
    #[error("a time attribute that is no number: {0:?}")]
    Time(String),
}

impl From<quick_xml::events::attributes::AttrError> for RenderError {
    fn from(e: quick_xml::events::attributes::AttrError) -> RenderError {
        RenderError::Xml(e.into())
    }
}

/// The case id in a testcase's `name`: the name is the id; reports of conform before 0.2
/// had `ID [LEVEL] title`, whose first word is the id.
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
    /// Which cases carry their transcript.
    pub transcripts: Transcripts,
    /// The scenario files and folders given (`conform run PATHS`): a case's file is shown
    /// relative to the one it is under. Empty for the built-in catalogue, whose files are
    /// named `scenarios/...` already.
    pub roots: Vec<PathBuf>,
    /// The target, from the run's start.
    target: Option<String>,
    /// The target's host (the suites' `hostname`).
    host: String,
    /// The run's TLS mode, in suite names and classnames.
    mode: TlsMode,
}

/// Text for XML: the transcript may carry any byte shown as text; XML 1.0 forbids most
/// control characters even escaped, so they become `\xHH`.
fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if (c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
            || matches!(c, '\u{FFFE}' | '\u{FFFF}')
        {
            let _ = write!(out, "\\x{:02X}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// An attribute value (junit-report escapes markup): one line, as parsers would make it.
fn attr(s: &str) -> String {
    clean(s).replace(['\r', '\n'], " ")
}

/// The content of a CDATA section (junit-report writes system-out and failure bodies as
/// CDATA, verbatim): a `]]>` in it would end the section, so it is split in two sections
/// there, which a reader joins back into the same text.
fn cdata(s: &str) -> String {
    clean(s).replace("]]>", "]]]]><![CDATA[>")
}

/// How a case's file is shown: never absolute. A relative path stays as it is (the built-in
/// catalogue's `scenarios/rfc1939/...`, or what the user gave); an absolute one is made
/// relative to the given folder it is under (a given file: its name), else to the working
/// directory, else it is its file name.
pub fn shown_path(file: &Path, roots: &[PathBuf]) -> String {
    let plain = |p: &Path| {
        p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    };
    if file.is_relative() && plain(file) {
        return file.display().to_string();
    }
    let name = || {
        file.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let cwd = std::env::current_dir().ok();
    for root in roots.iter().chain(cwd.as_ref()) {
        let root = if root.is_relative() {
            match &cwd {
                Some(cwd) => cwd.join(root),
                None => continue,
            }
        } else {
            root.clone()
        };
        let absolute = if file.is_relative() {
            cwd.as_ref().map(|c| c.join(file))
        } else {
            Some(file.to_path_buf())
        };
        if let Some(rest) = absolute.as_deref().and_then(|f| f.strip_prefix(&root).ok()) {
            if rest.as_os_str().is_empty() {
                return name();
            }
            if plain(rest) {
                return rest.display().to_string();
            }
        }
    }
    name()
}

/// The counts of a set of results, as the suite elements carry them: a known deviation
/// counts as skipped, as its testcase is written.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
}

impl Counts {
    fn of<'a>(rs: impl IntoIterator<Item = &'a CaseResult>) -> Counts {
        let mut c = Counts::default();
        for r in rs {
            let known = r.known_deviation().is_some();
            c.tests += 1;
            match &r.verdict {
                _ if known => c.skipped += 1,
                Verdict::Fail(_) => c.failures += 1,
                Verdict::Error(_) => c.errors += 1,
                Verdict::Pass => {}
                _ => c.skipped += 1,
            }
        }
        c
    }
}

impl<W: Output> JUnit<W> {
    /// A JUnit reporter writing to `out` when the run finishes.
    pub fn new(out: W) -> JUnit<W> {
        JUnit {
            out: Some(out),
            timestamp: None,
            timings: true,
            properties: Vec::new(),
            transcripts: Transcripts::default(),
            roots: Vec::new(),
            target: None,
            host: "localhost".into(),
            mode: TlsMode::None,
        }
    }

    /// The suite properties: target, suite version, and [`JUnit::properties`].
    fn all_properties(&self) -> Vec<(String, String)> {
        let mut all = vec![
            ("target".to_owned(), self.target.clone().unwrap_or_default()),
            (
                "suite-version".to_owned(),
                env!("CARGO_PKG_VERSION").to_owned(),
            ),
            ("tls".to_owned(), mode_name(self.mode).to_owned()),
        ];
        all.extend(self.properties.iter().cloned());
        all
    }

    /// The whole document.
    pub fn render(&self, results: &[CaseResult]) -> Result<String, RenderError> {
        let mut by_rfc: BTreeMap<u32, Vec<&CaseResult>> = BTreeMap::new();
        for r in results {
            by_rfc.entry(r.case.rfc.number).or_default().push(r);
        }
        let stamp = self.timestamp.unwrap_or_else(SystemTime::now);
        let stamp = time::OffsetDateTime::from(stamp);
        let stamp = stamp.replace_nanosecond(0).unwrap_or(stamp);
        let mode = mode_name(self.mode);
        let mut report = Report::new();
        let mut suites = Vec::new();
        for (rfc, cases) in &by_rfc {
            let mut suite = TestSuite::new(&format!("rfc{rfc} ({mode})"));
            suite.set_timestamp(stamp);
            suite.hostname = self.host.clone();
            suite.add_testcases(cases.iter().map(|r| self.testcase(r)));
            report.add_testsuite(suite);
            suites.push(Counts::of(cases.iter().copied()));
        }
        let mut xml = Vec::new();
        report.write_xml(&mut xml)?;
        decorate(&xml, &Counts::of(results), &suites, &self.all_properties())
    }

    /// A duration as the report gives it: to the millisecond, zero without timings.
    fn time(&self, d: Duration) -> time::Duration {
        if self.timings {
            time::Duration::milliseconds(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        } else {
            time::Duration::ZERO
        }
    }

    /// A failure's "expected, got, at", the step's file shown relative.
    fn failure_text(&self, f: &Failure) -> String {
        format!(
            "{}: expected {}, got {} (at {}:{}:{})",
            f.message,
            f.expected,
            f.actual,
            shown_path(&f.span.file, &self.roots),
            f.span.line,
            f.span.col
        )
    }

    fn testcase(&self, r: &CaseResult) -> TestCase {
        let c = &r.case;
        let mode = mode_name(self.mode);
        let section = c.rfc.section.replace('.', "_");
        let classname = if section.is_empty() {
            format!("rfc{} ({mode})", c.rfc.number)
        } else {
            format!("rfc{}.{section} ({mode})", c.rfc.number)
        };
        let name = c.id.as_str();
        let time = self.time(r.duration);
        let what = format!("{} — {} {}: \"{}\"", c.title, c.rfc, c.level, c.requirement);
        let mut out = String::new();
        let failed = r.failed();
        let mut tc = if let Some(d) = r.known_deviation() {
            if let Verdict::Fail(f) | Verdict::Error(f) = &r.verdict {
                let _ = writeln!(out, "known deviation: {what} — {}", self.failure_text(f));
            }
            skipped(
                name,
                KNOWN_DEVIATION,
                &format!("known deviation (baseline): {}", d.reason),
            )
        } else {
            match &r.verdict {
                Verdict::Pass => TestCase::success(name, time),
                Verdict::Skip(why) => skipped(name, "skip", why),
                Verdict::NotApplicable(why) => {
                    skipped(name, "not-applicable", &format!("not applicable: {why}"))
                }
                Verdict::Blocked { by } => skipped(
                    name,
                    "blocked",
                    &format!("blocked by {by}, which failed (one root cause)"),
                ),
                Verdict::Fail(f) | Verdict::Error(f) => {
                    let message = attr(&format!("{what} — {}", self.failure_text(f)));
                    let body = Some(cdata(&format!(
                        "{}\n{}\nexpected: {}\nactual:   {}\nat {}:{}:{}",
                        what,
                        f.message,
                        f.expected,
                        f.actual,
                        shown_path(&f.span.file, &self.roots),
                        f.span.line,
                        f.span.col
                    )));
                    let mut tc = if matches!(r.verdict, Verdict::Fail(_)) {
                        TestCase::failure(name, time, &format!("{} violation", c.level), &message)
                    } else {
                        TestCase::error(name, time, "target error", &message)
                    };
                    if let TestResult::Failure { cause, .. } | TestResult::Error { cause, .. } =
                        &mut tc.result
                    {
                        *cause = body;
                    }
                    tc
                }
            }
        };
        tc.time = time;
        tc.set_classname(&classname);
        if r.baseline_outdated() {
            out.push_str("baselined, but passes now: remove it from the baseline\n");
        }
        let with_transcript = match self.transcripts {
            Transcripts::All => true,
            Transcripts::Failures => failed,
            Transcripts::None => false,
        };
        if with_transcript {
            out.push_str(&super::transcript_text(&r.transcript));
        }
        if !out.is_empty() {
            tc.set_system_out(&cdata(&out));
        }
        tc
    }
}

/// A `<skipped>` case of this type, with its reason.
fn skipped(name: &str, kind: &str, why: &str) -> TestCase {
    TestCase::skipped_with_cause(name, kind, &attr(why))
}

/// junit-report's document, written again indented with what junit-report 0.9 cannot write
/// (see the module doc): `<testsuites name="conform" tests failures errors time>`, each
/// `<testsuite>`'s `skipped` and `<properties>`, and every `time` to the millisecond.
/// `suites` are the counts of the suites in the document's order.
fn decorate(
    xml: &[u8],
    all: &Counts,
    suites: &[Counts],
    properties: &[(String, String)],
) -> Result<String, RenderError> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut writer = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
    let mut suites = suites.iter();
    let mut buf = Vec::new();
    let write = |w: &mut quick_xml::Writer<Vec<u8>>, e: XmlEvent<'_>| {
        w.write_event(e).map_err(quick_xml::Error::from)
    };
    loop {
        let event = reader.read_event_into(&mut buf)?;
        match event {
            XmlEvent::Eof => break,
            XmlEvent::Start(ref e) | XmlEvent::Empty(ref e)
                if e.name().as_ref() == b"testsuites" =>
            {
                let mut top = BytesStart::new("testsuites");
                top.push_attribute(("name", "conform"));
                top.push_attribute(("tests", all.tests.to_string().as_str()));
                top.push_attribute(("failures", all.failures.to_string().as_str()));
                top.push_attribute(("errors", all.errors.to_string().as_str()));
                // no `skipped` here: the xunit schema has none on <testsuites>
                write(&mut writer, XmlEvent::Start(top))?;
                if matches!(event, XmlEvent::Empty(_)) {
                    write(&mut writer, XmlEvent::End(BytesEnd::new("testsuites")))?;
                }
            }
            XmlEvent::Start(e) if e.name().as_ref() == b"testsuite" => {
                let counts = suites.next().copied().unwrap_or_default();
                let mut suite = with_times(&e)?;
                suite.push_attribute(("skipped", counts.skipped.to_string().as_str()));
                write(&mut writer, XmlEvent::Start(suite))?;
                write(&mut writer, XmlEvent::Start(BytesStart::new("properties")))?;
                for (name, value) in properties {
                    let mut p = BytesStart::new("property");
                    p.push_attribute(("name", attr(name).as_str()));
                    p.push_attribute(("value", attr(value).as_str()));
                    write(&mut writer, XmlEvent::Empty(p))?;
                }
                write(&mut writer, XmlEvent::End(BytesEnd::new("properties")))?;
            }
            XmlEvent::Start(e) => write(&mut writer, XmlEvent::Start(with_times(&e)?))?,
            XmlEvent::Empty(e) => write(&mut writer, XmlEvent::Empty(with_times(&e)?))?,
            e => write(&mut writer, e)?,
        }
        buf.clear();
    }
    let mut out = writer.into_inner();
    out.push(b'\n');
    // junit-report wrote UTF-8 from `String`s and the reader passed it through unchanged
    Ok(String::from_utf8(out)?)
}

/// `e` with its `time` attribute (if any) to the millisecond: `1.345`, not
/// `1.3450000000000002`.
fn with_times(e: &BytesStart<'_>) -> Result<BytesStart<'static>, RenderError> {
    let mut out = BytesStart::new(String::from_utf8_lossy(e.name().as_ref()).into_owned());
    for a in e.attributes() {
        let a = a?;
        if a.key.as_ref() == b"time" {
            let value = a.normalized_value(XmlVersion::Implicit1_0)?;
            let secs: f64 = value
                .parse()
                .map_err(|_| RenderError::Time(value.clone().into_owned()))?;
            out.push_attribute(("time", format!("{secs:.3}").as_str()));
        } else {
            out.push_attribute(a);
        }
    }
    Ok(out.into_owned())
}

impl<W: Output> JUnit<W> {
    /// Writes the document and puts it in place.
    fn write(&mut self, results: &[CaseResult], summary: &Summary) -> Result<(), ReportError> {
        if let Some(why) = &summary.interrupted {
            self.properties.push(("interrupted".into(), why.clone()));
        }
        let Some(mut out) = self.out.take() else {
            return Ok(());
        };
        self.render(results)
            .map_err(std::io::Error::other)
            .and_then(|xml| out.write_all(xml.as_bytes()))
            .and_then(|()| out.complete())
            .map_err(|error| ReportError {
                report: "JUnit",
                to: out.name(),
                error,
            })
    }

    /// The target of the run, its host and TLS mode.
    fn target(&mut self, target: &crate::Target) {
        self.target = Some(target.to_string());
        self.host.clone_from(&target.host);
        self.mode = target.tls;
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
            self.target(target);
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
            self.target(target);
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
/// `<error>`, or a `<skipped type="known-deviation">`, the elements [`JUnit`] writes. The id
/// is the testcase's name (its first word in reports of conform before 0.2). Read with
/// quick-xml: junit-report only writes.
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
    Ok(Some(
        a.normalized_value(XmlVersion::Implicit1_0)?.into_owned(),
    ))
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
<testcase name="g/h" classname="rfc1939.5 (starttls)"><failure message="m"><![CDATA[x]]></failure></testcase>
</testsuite></testsuites>"#;
        assert_eq!(failed_ids(xml).unwrap(), ["b", "d", "e&f", "g/h"]);
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
        assert_eq!(failed_ids(body(baseline)).unwrap(), ["demo/gaps"]);
        assert_eq!(failed_ids(body(fault)).unwrap(), ["demo/gaps"]);
    }

    #[test]
    fn control_characters_and_cdata_ends_are_kept_readable() {
        assert_eq!(attr("a<b>\"c\"\n\u{0}"), "a<b>\"c\" \\x00");
        assert_eq!(cdata("]]> & <x>\u{7}"), "]]]]><![CDATA[> & <x>\\x07");
    }

    #[test]
    fn files_are_never_shown_absolute() {
        let roots = [PathBuf::from("/srv/cases"), PathBuf::from("/srv/one.pop3")];
        let shown = |p: &str| shown_path(Path::new(p), &roots);
        assert_eq!(
            shown("scenarios/rfc1939/stat.pop3"),
            "scenarios/rfc1939/stat.pop3"
        );
        assert_eq!(shown("/srv/cases/rfc1939/stat.pop3"), "rfc1939/stat.pop3");
        assert_eq!(shown("/srv/one.pop3"), "one.pop3");
        assert_eq!(shown("/elsewhere/x/two.pop3"), "two.pop3");
        assert_eq!(shown("../up/three.pop3"), "three.pop3");
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            shown_path(&cwd.join("here/four.pop3"), &[]),
            "here/four.pop3"
        );
    }

    /// A failure with a `]]>` and control characters in its transcript: the document parses
    /// and the text reads back as it was shown.
    #[test]
    fn a_hostile_transcript_stays_well_formed() {
        use crate::judge::{Dir, Entry};
        let case = crate::start::setup_case();
        let failure = Failure {
            message: "line does not match".into(),
            expected: "+OK".into(),
            actual: "]]><x>\u{1}".into(),
            span: case.span.clone(),
        };
        let result = CaseResult {
            case: std::sync::Arc::new(case),
            verdict: Verdict::Fail(failure),
            duration: Duration::from_millis(1345),
            transcript: vec![Entry {
                at: Duration::ZERO,
                session: 0,
                dir: Dir::Server,
                text: "]]><![CDATA[ \u{0}".into(),
            }],
            baseline: None,
            connected: true,
        };
        let junit = JUnit::new(Vec::new());
        let xml = junit.render(std::slice::from_ref(&result)).unwrap();
        assert_eq!(failed_ids(&xml).unwrap(), ["conform/target"], "{xml}");
        assert!(xml.contains("time=\"1.345\""), "{xml}");
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut out = String::new();
        let mut in_out = false;
        loop {
            match reader.read_event().unwrap() {
                XmlEvent::Start(e) => in_out = e.name().as_ref() == b"system-out",
                XmlEvent::CData(t) if in_out => {
                    out.push_str(std::str::from_utf8(&t).unwrap());
                }
                XmlEvent::End(_) => in_out = false,
                XmlEvent::Eof => break,
                _ => {}
            }
        }
        assert_eq!(out, "S: ]]><![CDATA[ \\x00\n", "{xml}");
    }
}
