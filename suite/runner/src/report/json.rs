//! JSON Lines (`--json FILE`): one JSON object per line, written as the run goes, so a
//! pipeline can follow a long run. The schema is `suite/runner/JSON-REPORT.md`.
//!
//! - first line: `{"event":"started", ...}` — target, suite version, cases selected, the
//!   capabilities the target announced;
//! - one `{"event":"case", ...}` per case, in completion order: id, RFC, level, verdict,
//!   duration, expected, actual, transcript;
//! - last line: `{"event":"finished", ...}` — the counts, and `interrupted: true` when a
//!   `SIGINT` or `SIGTERM` stopped the run (its unfinished cases are skips `not run:
//!   interrupted`).
//!
//! A run that could not start (an unreachable target, a TLS setup error) writes the three
//! kinds of line too: its one case is `conform/target`, an error that says why.
//!
//! Written to a file, the report is written under a temporary name beside it and renamed
//! into place when the run ends ([`super::ReportFile`]); to follow a run as it goes, give a
//! FIFO or `/dev/stdout`.
//!
//! Transcripts carry what the runner logged, credentials already masked (PASS, APOP and AUTH
//! arguments, SASL answers: `***`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Output, ReadError, ReportError};
use crate::judge::{Dir, Verdict};
use crate::{CaseResult, Discovered, Event, Reporter, Target};

/// The version of this format (`format` in the `started` line).
pub const FORMAT: u32 = 1;

/// Writes JSON Lines to `out`.
#[derive(Debug)]
pub struct Json<W: Output> {
    out: W,
    /// Record durations and timestamps (off for snapshots).
    pub timings: bool,
    /// A line could not be written: the error was returned, nothing more is written.
    failed: bool,
}

/// One line of the report, `event` naming its kind. The writer writes these and
/// [`failed_ids`] reads them back: one set of types for both.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum Record<'a> {
    Started(Started<'a>),
    Case(Case<'a>),
    Finished(Finished),
}

#[derive(Debug, Serialize, Deserialize)]
struct Started<'a> {
    format: u32,
    suite_version: Cow<'a, str>,
    target: String,
    total: usize,
    /// The tags CAPA announced.
    capabilities: Vec<Cow<'a, str>>,
    /// Whether CAPA is implemented.
    capa: bool,
    /// Every available capability and how it was found.
    available: BTreeMap<Cow<'a, str>, String>,
    /// How the `login` step logs in.
    login: Option<String>,
    /// `standard`, or why the maildrop is not the fixture (when a case needs it).
    fixture: Option<String>,
    /// The maildrop changed between sessions without DELE: the evidence.
    drift: Option<Cow<'a, str>>,
    /// The capabilities the vendor declared (`--expect`).
    declared: Cow<'a, [String]>,
}

/// Who wrote a transcript line: `C`, `S`, or `#` (a runner note).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Side {
    #[serde(rename = "C")]
    Client,
    #[serde(rename = "S")]
    Server,
    #[serde(rename = "#")]
    Note,
}

#[derive(Debug, Serialize, Deserialize)]
struct Line<'a> {
    at_ms: Option<u64>,
    session: usize,
    dir: Side,
    text: Cow<'a, str>,
}

/// A case's verdict as the report spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictName {
    /// `pass`
    Pass,
    /// `fail`
    Fail,
    /// `error`
    Error,
    /// `skip`
    Skip,
    /// `not-applicable`
    NotApplicable,
    /// `blocked`
    Blocked,
}

impl VerdictName {
    /// The console's word: PASS, FAIL, ERROR, SKIP, N/A, BLOCKED.
    pub fn label(self) -> &'static str {
        match self {
            VerdictName::Pass => "PASS",
            VerdictName::Fail => "FAIL",
            VerdictName::Error => "ERROR",
            VerdictName::Skip => "SKIP",
            VerdictName::NotApplicable => "N/A",
            VerdictName::Blocked => "BLOCKED",
        }
    }

    /// A failure or an error.
    pub fn failed(self) -> bool {
        matches!(self, VerdictName::Fail | VerdictName::Error)
    }
}

/// A whole report read back ([`read`]): for `conform report merge` and `diff`.
#[derive(Debug, Clone, Default)]
pub struct ReadReport {
    /// The `started` line's target.
    pub target: String,
    /// The conform version that wrote it.
    pub suite_version: String,
    /// The `case` lines, in the report's order.
    pub cases: Vec<ReadCase>,
    /// Whether the `finished` line is there.
    pub finished: bool,
    /// A signal stopped the run.
    pub interrupted: bool,
}

/// One `case` line read back.
#[derive(Debug, Clone)]
pub struct ReadCase {
    /// The case id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// `RFC 1939 §5`.
    pub rfc: String,
    /// `MUST`, `SHOULD`, `MAY`.
    pub level: String,
    /// The verdict.
    pub verdict: VerdictName,
    /// The baseline's reason, for a known deviation.
    pub known_deviation: Option<String>,
    /// What went wrong (fail and error), else why it did not run.
    pub reason: Option<String>,
    /// The wire log as `C:`/`S:`/`#` lines (`[n]` before a later session's lines).
    pub transcript: Vec<String>,
}

impl ReadCase {
    /// A failure or an error the baseline does not list: it fails a run.
    pub fn fails_the_run(&self) -> bool {
        self.verdict.failed() && self.known_deviation.is_none()
    }

    /// The verdict as a report cell: `FAIL`, or `KNOWN` for a listed deviation.
    pub fn outcome(&self) -> &'static str {
        if self.verdict.failed() && self.known_deviation.is_some() {
            "KNOWN"
        } else {
            self.verdict.label()
        }
    }
}

/// Reads a whole report this module wrote (any [`FORMAT`]-1 report); every line must be one
/// it writes.
pub fn read(text: &str) -> Result<ReadReport, ReadError> {
    let mut report = ReadReport::default();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: Record<'_> = serde_json::from_str(line).map_err(|source| ReadError::Json {
            line: n + 1,
            source,
        })?;
        match record {
            Record::Started(s) if s.format != FORMAT => {
                return Err(ReadError::Format {
                    found: s.format,
                    reads: FORMAT,
                })
            }
            Record::Started(s) => {
                report.target = s.target;
                report.suite_version = s.suite_version.into_owned();
            }
            Record::Case(c) => {
                let sessions = c.transcript.iter().any(|l| l.session > 0);
                report.cases.push(ReadCase {
                    id: c.id.into_owned(),
                    title: c.title.into_owned(),
                    rfc: c.rfc,
                    level: c.level,
                    verdict: c.verdict,
                    known_deviation: c.known_deviation.map(Cow::into_owned),
                    reason: c.message.map(Cow::into_owned).or(c.skip_reason),
                    transcript: c
                        .transcript
                        .iter()
                        .map(|l| {
                            let side = match l.dir {
                                Side::Client => "C:",
                                Side::Server => "S:",
                                Side::Note => "#",
                            };
                            if sessions {
                                format!("[{}] {side} {}", l.session + 1, l.text)
                            } else {
                                format!("{side} {}", l.text)
                            }
                        })
                        .collect(),
                });
            }
            Record::Finished(f) => {
                report.finished = true;
                report.interrupted = f.interrupted;
            }
        }
    }
    Ok(report)
}

#[derive(Debug, Serialize, Deserialize)]
struct Case<'a> {
    id: Cow<'a, str>,
    title: Cow<'a, str>,
    rfc: String,
    rfc_number: u32,
    section: Cow<'a, str>,
    level: String,
    requirement: Cow<'a, str>,
    tags: Cow<'a, [String]>,
    location: String,
    verdict: VerdictName,
    known_deviation: Option<Cow<'a, str>>,
    duration_ms: Option<u64>,
    message: Option<Cow<'a, str>>,
    expected: Option<Cow<'a, str>>,
    actual: Option<Cow<'a, str>>,
    failed_at: Option<String>,
    skip_reason: Option<String>,
    blocked_by: Option<Cow<'a, str>>,
    transcript: Vec<Line<'a>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Finished {
    passed: usize,
    failed: usize,
    errors: usize,
    skipped: usize,
    not_applicable: usize,
    blocked: usize,
    known: usize,
    baselined_but_passing: usize,
    run_failures: usize,
    duration_ms: Option<u64>,
    /// A `SIGINT` or `SIGTERM` stopped the run.
    #[serde(default)]
    interrupted: bool,
    /// The concurrency the run went down to when the target stopped accepting or greeting
    /// connections under its load (absent: it stayed at `--jobs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jobs_lowered_to: Option<usize>,
}

/// The ids of the cases a report says failed or errored (a known deviation is a failure
/// too: `--rerun-failed`), in the report's order. Every line must be one this module
/// writes, of this [`FORMAT`].
pub fn failed_ids(text: &str) -> Result<Vec<String>, ReadError> {
    Ok(read(text)?
        .cases
        .into_iter()
        .filter(|c| c.verdict.failed())
        .map(|c| c.id)
        .collect())
}

/// Text of the run, borrowed into a line.
fn borrowed(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s)
}

impl<W: Output> Json<W> {
    /// A JSON Lines reporter writing to `out`.
    pub fn new(out: W) -> Json<W> {
        Json {
            out,
            timings: true,
            failed: false,
        }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn line(&mut self, value: &impl Serialize) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    fn ms(&self, d: std::time::Duration) -> Option<u64> {
        self.timings
            .then(|| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    fn case(&mut self, r: &CaseResult) -> std::io::Result<()> {
        let c = &r.case;
        let (verdict, failure, skip) = match &r.verdict {
            Verdict::Pass => (VerdictName::Pass, None, None),
            Verdict::Fail(f) => (VerdictName::Fail, Some(f), None),
            Verdict::Error(f) => (VerdictName::Error, Some(f), None),
            Verdict::Skip(why) => (VerdictName::Skip, None, Some(why.clone())),
            Verdict::NotApplicable(why) => (VerdictName::NotApplicable, None, Some(why.clone())),
            Verdict::Blocked { by } => {
                (VerdictName::Blocked, None, Some(format!("blocked by {by}")))
            }
        };
        let transcript = r
            .transcript
            .iter()
            .map(|e| Line {
                at_ms: self.ms(e.at),
                session: e.session,
                dir: match e.dir {
                    Dir::Client => Side::Client,
                    Dir::Server => Side::Server,
                    Dir::Note => Side::Note,
                },
                text: Cow::Borrowed(&e.text),
            })
            .collect();
        let line = Case {
            id: borrowed(&c.id),
            title: borrowed(&c.title),
            rfc: c.rfc.to_string(),
            rfc_number: c.rfc.number,
            section: borrowed(&c.rfc.section),
            level: c.level.to_string(),
            requirement: borrowed(&c.requirement),
            tags: Cow::Borrowed(&c.tags),
            location: format!("{}:{}:{}", c.span.file.display(), c.span.line, c.span.col),
            verdict,
            known_deviation: r.known_deviation().map(|d| borrowed(&d.reason)),
            duration_ms: self.ms(r.duration),
            message: failure.map(|f| borrowed(&f.message)),
            expected: failure.map(|f| borrowed(&f.expected)),
            actual: failure.map(|f| borrowed(&f.actual)),
            failed_at: failure
                .map(|f| format!("{}:{}:{}", f.span.file.display(), f.span.line, f.span.col)),
            skip_reason: skip,
            blocked_by: match &r.verdict {
                Verdict::Blocked { by } => Some(borrowed(by)),
                _ => None,
            },
            transcript,
        };
        self.line(&Record::Case(line))
    }

    fn started(
        &mut self,
        target: &Target,
        total: usize,
        discovered: &Discovered,
    ) -> std::io::Result<()> {
        let caps = &discovered.capabilities;
        let inspection = discovered.inspection.as_ref();
        self.line(&Record::Started(Started {
            format: FORMAT,
            suite_version: Cow::Borrowed(env!("CARGO_PKG_VERSION")),
            target: target.to_string(),
            total,
            capabilities: caps
                .announced
                .iter()
                .map(|c| Cow::Borrowed(c.as_str()))
                .collect(),
            capa: caps.capa,
            available: caps
                .available
                .iter()
                .map(|(tag, how)| (Cow::Borrowed(tag.as_str()), how.to_string()))
                .collect(),
            login: caps.login.map(|m| m.to_string()),
            fixture: inspection.map(|i| match &i.fixture {
                Ok(()) => "standard".to_owned(),
                Err(why) => why.to_string(),
            }),
            drift: inspection
                .and_then(|i| i.drift.as_deref())
                .map(Cow::Borrowed),
            declared: Cow::Borrowed(&discovered.declared),
        }))
    }

    fn finished(&mut self, summary: &crate::Summary) -> std::io::Result<()> {
        self.line(&Record::Finished(Finished {
            passed: summary.passed,
            failed: summary.failed,
            errors: summary.errors,
            skipped: summary.skipped,
            not_applicable: summary.not_applicable,
            blocked: summary.blocked,
            known: summary.known,
            baselined_but_passing: summary.outdated,
            run_failures: summary.run_failures,
            duration_ms: self.ms(summary.duration),
            interrupted: summary.interrupted.is_some(),
            jobs_lowered_to: summary.jobs_lowered_to,
        }))?;
        self.out.complete()
    }

    fn write(&mut self, event: &Event<'_>) -> std::io::Result<()> {
        match event {
            Event::Started {
                target,
                total,
                discovered,
            } => self.started(target, *total, discovered),
            Event::CaseFinished(r) => self.case(r),
            Event::Finished { summary, .. } => self.finished(summary),
            Event::SetupFailed {
                target,
                result,
                summary,
            } => {
                let nothing = Discovered {
                    capabilities: Default::default(),
                    inspection: None,
                    messages: None,
                    declared: Vec::new(),
                };
                self.started(target, 1, &nothing)?;
                self.case(result)?;
                self.finished(summary)
            }
        }
    }
}

impl<W: Output> Reporter for Json<W> {
    fn event(&mut self, event: &Event<'_>) -> Result<(), ReportError> {
        if self.failed {
            return Ok(());
        }
        self.write(event).map_err(|error| {
            self.failed = true;
            ReportError {
                report: "JSON",
                to: self.out.name(),
                error,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report lines of an insta snapshot of `tests/bundled.rs` (what the writer wrote).
    fn body(snap: &'static str) -> &'static str {
        snap.splitn(3, "---\n").nth(2).unwrap()
    }

    #[test]
    fn the_writers_reports_read_back() {
        let clean = include_str!("../../tests/snapshots/bundled__json_clean.snap");
        let fault = include_str!("../../tests/snapshots/bundled__json_fault.snap");
        assert_eq!(failed_ids(body(clean)).unwrap(), Vec::<String>::new());
        let failed = failed_ids(body(fault)).unwrap();
        assert_eq!(failed.len(), 1, "{failed:?}");
        // every line is a record, and writes back as it was
        for line in body(fault).lines() {
            let record: Record<'_> = serde_json::from_str(line).unwrap();
            assert_eq!(serde_json::to_string(&record).unwrap(), line);
        }
    }

    #[test]
    fn other_lines_and_formats_are_errors() {
        let err = failed_ids("{\"event\":\"case\",\"id\":\"a\"}").unwrap_err();
        assert!(err.to_string().starts_with("line 1: "), "{err}");
        let clean = include_str!("../../tests/snapshots/bundled__json_clean.snap");
        let later = body(clean).replacen("\"format\":1", "\"format\":2", 1);
        let err = failed_ids(&later).unwrap_err();
        assert!(matches!(err, ReadError::Format { found: 2, .. }), "{err}");
    }
}
