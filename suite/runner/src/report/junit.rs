//! JUnit XML (DESIGN.md §5) via the junit-report crate: a testsuite per RFC, a testcase per
//! case (classname `rfc1939.7`), the failure message = requirement + expected vs actual, the
//! C:/S: transcript in system-out.
//!
//! junit-report 0.8 writes `<skipped/>` without a message attribute, so a skipped case's
//! reason goes into its system-out, prefixed `skipped: `.

use std::collections::BTreeMap;
use std::io::Write;

use junit_report::{Duration, OffsetDateTime, ReportBuilder, TestCase, TestSuiteBuilder};

use crate::judge::Verdict;
use crate::{CaseResult, Event, Reporter};

/// Collects results and writes the XML at the end of the run.
#[derive(Debug)]
pub struct JUnit<W: Write> {
    out: Option<W>,
    /// A fixed timestamp for reproducible output (snapshots); now if `None`.
    pub timestamp: Option<OffsetDateTime>,
    /// Record durations (off for snapshots).
    pub timings: bool,
    /// Set when the XML could not be written.
    pub error: Option<String>,
}

impl<W: Write> JUnit<W> {
    /// A JUnit reporter writing to `out` when the run finishes.
    pub fn new(out: W) -> JUnit<W> {
        JUnit {
            out: Some(out),
            timestamp: None,
            timings: true,
            error: None,
        }
    }

    fn build(&self, results: &[CaseResult]) -> junit_report::Report {
        let mut suites: BTreeMap<u32, Vec<&CaseResult>> = BTreeMap::new();
        for r in results {
            suites.entry(r.case.rfc.number).or_default().push(r);
        }
        let mut report = ReportBuilder::new();
        for (rfc, cases) in suites {
            let mut suite = TestSuiteBuilder::new(&format!("RFC {rfc}"));
            if let Some(t) = self.timestamp {
                suite.set_timestamp(t);
            }
            for r in cases {
                let c = &r.case;
                let time = if self.timings {
                    Duration::nanoseconds(r.duration.as_nanos().min(i64::MAX as u128) as i64)
                } else {
                    Duration::ZERO
                };
                let name = format!("{} [{}] {}", c.id, c.level, c.title);
                let mut tc = match &r.verdict {
                    // pytest's convention for an expected failure: skipped, the reason and the
                    // failure in system-out
                    _ if r.known_deviation().is_some() => TestCase::skipped(&name),
                    Verdict::Pass => TestCase::success(&name, time),
                    Verdict::Skip(_) => TestCase::skipped(&name),
                    Verdict::Fail(f) => TestCase::failure(
                        &name,
                        time,
                        &format!("{} violation", c.level),
                        &format!(
                            "{} {}: \"{}\" — {}: expected {}, got {} (at {})",
                            c.rfc, c.level, c.requirement, f.message, f.expected, f.actual, f.span
                        ),
                    ),
                    Verdict::Error(f) => TestCase::error(
                        &name,
                        time,
                        "target error",
                        &format!(
                            "{}: expected {}, got {} (at {})",
                            f.message, f.expected, f.actual, f.span
                        ),
                    ),
                };
                let section = c.rfc.section.replace('.', "_");
                let classname = if section.is_empty() {
                    format!("rfc{}", c.rfc.number)
                } else {
                    format!("rfc{}.{section}", c.rfc.number)
                };
                tc.set_classname(&classname);
                tc.set_filepath(&c.span.file.display().to_string());
                let mut out = String::new();
                if let Some(d) = r.known_deviation() {
                    out.push_str(&format!("known deviation (baseline): {}\n", d.reason));
                    if let Verdict::Fail(f) | Verdict::Error(f) = &r.verdict {
                        out.push_str(&format!(
                            "{}: expected {}, got {} (at {})\n",
                            f.message, f.expected, f.actual, f.span
                        ));
                    }
                } else if let Verdict::Skip(why) = &r.verdict {
                    out.push_str(&format!("skipped: {why}\n"));
                }
                if r.baseline_outdated() {
                    out.push_str("baselined, but passes now: remove it from the baseline\n");
                }
                out.push_str(&super::transcript_text(&r.transcript));
                if !out.is_empty() {
                    tc.set_system_out(&out);
                }
                suite.add_testcase(tc);
            }
            report.add_testsuite(suite.build());
        }
        report.build()
    }
}

impl<W: Write> Reporter for JUnit<W> {
    fn event(&mut self, event: &Event<'_>) {
        if let Event::Finished { results, .. } = event {
            let report = self.build(results);
            if let Some(mut out) = self.out.take() {
                if let Err(e) = report
                    .write_xml(&mut out)
                    .map_err(|e| e.to_string())
                    .and_then(|_| out.flush().map_err(|e| e.to_string()))
                {
                    self.error = Some(e);
                }
            }
        }
    }
}
