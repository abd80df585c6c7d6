//! JSON Lines (`--json FILE`): one JSON object per line, written as the run goes, so a
//! pipeline can follow a long run. The schema is `suite/runner/JSON-REPORT.md`.
//!
//! - first line: `{"event":"started", ...}` — target, suite version, cases selected, the
//!   capabilities the target announced;
//! - one `{"event":"case", ...}` per case, in completion order: id, RFC, level, verdict,
//!   duration, expected, actual, transcript;
//! - last line: `{"event":"finished", ...}` — the counts.
//!
//! Transcripts carry what the runner logged, credentials already masked (PASS, APOP and AUTH
//! arguments, SASL answers: `***`).

use std::io::Write;

use serde::Serialize;

use crate::judge::{Dir, Verdict};
use crate::{CaseResult, Event, Reporter};

/// The version of this format (`format` in the `started` line).
pub const FORMAT: u32 = 1;

/// Writes JSON Lines to `out`.
#[derive(Debug)]
pub struct Json<W: Write> {
    out: W,
    /// Record durations and timestamps (off for snapshots).
    pub timings: bool,
    /// Set when a line could not be written.
    pub error: Option<String>,
}

#[derive(Serialize)]
struct Started<'a> {
    event: &'static str,
    format: u32,
    suite_version: &'static str,
    target: String,
    total: usize,
    /// The tags CAPA announced.
    capabilities: Vec<&'a str>,
    /// Whether CAPA is implemented.
    capa: bool,
    /// Every available capability and how it was found.
    available: std::collections::BTreeMap<&'a str, String>,
    /// How the `login` step logs in.
    login: Option<String>,
    /// `standard`, or why the maildrop is not the fixture (when a case needs it).
    fixture: Option<String>,
    /// The maildrop changed between sessions without DELE: the evidence.
    drift: Option<&'a str>,
    /// The capabilities the vendor declared (`--expect`).
    declared: &'a [String],
}

#[derive(Serialize)]
struct Line<'a> {
    at_ms: Option<u64>,
    session: usize,
    dir: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct Case<'a> {
    event: &'static str,
    id: &'a str,
    title: &'a str,
    rfc: String,
    rfc_number: u32,
    section: &'a str,
    level: String,
    requirement: &'a str,
    tags: &'a [String],
    location: String,
    verdict: &'static str,
    known_deviation: Option<&'a str>,
    duration_ms: Option<u64>,
    message: Option<&'a str>,
    expected: Option<&'a str>,
    actual: Option<&'a str>,
    failed_at: Option<String>,
    skip_reason: Option<&'a str>,
    blocked_by: Option<&'a str>,
    transcript: Vec<Line<'a>>,
}

#[derive(Serialize)]
struct Finished {
    event: &'static str,
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
}

impl<W: Write> Json<W> {
    /// A JSON Lines reporter writing to `out`.
    pub fn new(out: W) -> Json<W> {
        Json {
            out,
            timings: true,
            error: None,
        }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn line(&mut self, value: &impl Serialize) {
        let written = serde_json::to_writer(&mut self.out, value)
            .map_err(|e| e.to_string())
            .and_then(|()| self.out.write_all(b"\n").map_err(|e| e.to_string()))
            .and_then(|()| self.out.flush().map_err(|e| e.to_string()));
        if let Err(e) = written {
            self.error.get_or_insert(e);
        }
    }

    fn ms(&self, d: std::time::Duration) -> Option<u64> {
        self.timings
            .then(|| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    fn case(&mut self, r: &CaseResult) {
        let c = &r.case;
        let (verdict, failure, skip) = match &r.verdict {
            Verdict::Pass => ("pass", None, None),
            Verdict::Fail(f) => ("fail", Some(f), None),
            Verdict::Error(f) => ("error", Some(f), None),
            Verdict::Skip(why) => ("skip", None, Some(why.clone())),
            Verdict::NotApplicable(why) => ("not-applicable", None, Some(why.clone())),
            Verdict::Blocked { by } => ("blocked", None, Some(format!("blocked by {by}"))),
        };
        let transcript = r
            .transcript
            .iter()
            .map(|e| Line {
                at_ms: self.ms(e.at),
                session: e.session,
                dir: match e.dir {
                    Dir::Client => "C",
                    Dir::Server => "S",
                    Dir::Note => "#",
                },
                text: &e.text,
            })
            .collect();
        let line = Case {
            event: "case",
            id: &c.id,
            title: &c.title,
            rfc: c.rfc.to_string(),
            rfc_number: c.rfc.number,
            section: &c.rfc.section,
            level: c.level.to_string(),
            requirement: &c.requirement,
            tags: &c.tags,
            location: format!("{}:{}:{}", c.span.file.display(), c.span.line, c.span.col),
            verdict,
            known_deviation: r.known_deviation().map(|d| d.reason.as_str()),
            duration_ms: self.ms(r.duration),
            message: failure.map(|f| f.message.as_str()),
            expected: failure.map(|f| f.expected.as_str()),
            actual: failure.map(|f| f.actual.as_str()),
            failed_at: failure
                .map(|f| format!("{}:{}:{}", f.span.file.display(), f.span.line, f.span.col)),
            skip_reason: skip.as_deref(),
            blocked_by: match &r.verdict {
                Verdict::Blocked { by } => Some(by.as_str()),
                _ => None,
            },
            transcript,
        };
        self.line(&line);
    }
}

impl<W: Write + Send> Reporter for Json<W> {
    fn event(&mut self, event: &Event<'_>) {
        match event {
            Event::Started {
                target,
                total,
                discovered,
            } => self.line(&Started {
                event: "started",
                format: FORMAT,
                suite_version: env!("CARGO_PKG_VERSION"),
                target: target.to_string(),
                total: *total,
                capabilities: discovered
                    .capabilities
                    .announced
                    .iter()
                    .map(String::as_str)
                    .collect(),
                capa: discovered.capabilities.capa,
                available: discovered
                    .capabilities
                    .available
                    .iter()
                    .map(|(tag, how)| (tag.as_str(), how.to_string()))
                    .collect(),
                login: discovered.capabilities.login.map(|m| m.to_string()),
                fixture: discovered.inspection.as_ref().map(|i| match &i.fixture {
                    Ok(()) => "standard".to_owned(),
                    Err(why) => why.to_string(),
                }),
                drift: discovered
                    .inspection
                    .as_ref()
                    .and_then(|i| i.drift.as_deref()),
                declared: &discovered.declared,
            }),
            Event::CaseFinished(r) => self.case(r),
            Event::Finished { summary, .. } => self.line(&Finished {
                event: "finished",
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
            }),
        }
    }
}
