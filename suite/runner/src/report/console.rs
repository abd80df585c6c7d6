//! The console reporter: a line per case as it finishes, the transcript around each failure,
//! and the closing line `N passed, N failed, N skipped`.

use std::io::Write;

use super::ReportError;
use crate::judge::Verdict;
use crate::{CaseResult, Event, Reporter};

/// Writes to any `Write` (stdout in the CLI, a buffer in tests).
#[derive(Debug)]
pub struct Console<W: Write> {
    out: W,
    /// Show timings (off for snapshots).
    pub timings: bool,
    /// Transcript lines shown before a failing step.
    pub context: usize,
    /// What an error names (`standard output`).
    pub to: String,
    /// List this many slowest cases with their wall times at the end (`--profile-time`);
    /// 0: none.
    pub slowest: usize,
}

impl<W: Write> Console<W> {
    /// A console reporter on `out`.
    pub fn new(out: W) -> Console<W> {
        Console {
            out,
            timings: true,
            context: 12,
            to: "standard output".into(),
            slowest: 0,
        }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn failure(&mut self, r: &CaseResult) -> std::io::Result<()> {
        let (kind, f) = match &r.verdict {
            Verdict::Fail(f) => ("FAIL", f),
            Verdict::Error(f) => ("ERROR", f),
            _ => return Ok(()),
        };
        let c = &r.case;
        if let Some(d) = r.known_deviation() {
            writeln!(
                self.out,
                "\n--- KNOWN {kind} {} ({}, {}) at {}",
                c.id, c.rfc, c.level, f.span
            )?;
            writeln!(self.out, "    baseline: {}", d.reason)?;
            writeln!(self.out, "    {}", f.message)?;
            writeln!(self.out, "    expected: {}", f.expected)?;
            writeln!(self.out, "    actual:   {}", f.actual)?;
            return Ok(());
        }
        writeln!(
            self.out,
            "\n--- {kind} {} ({}, {}) at {}",
            c.id, c.rfc, c.level, f.span
        )?;
        writeln!(self.out, "    requirement: \"{}\"", c.requirement)?;
        writeln!(self.out, "    {}", f.message)?;
        writeln!(self.out, "    expected: {}", f.expected)?;
        writeln!(self.out, "    actual:   {}", f.actual)?;
        let text = super::transcript_text(&r.transcript);
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(self.context);
        if from > 0 {
            writeln!(self.out, "    ... ({from} earlier lines)")?;
        }
        for l in &lines[from..] {
            writeln!(self.out, "    {l}")?;
        }
        Ok(())
    }

    /// The failures that are root causes, each with the cases it blocked.
    fn root_causes(&mut self, results: &[CaseResult]) -> std::io::Result<()> {
        let roots = super::root_causes(results);
        if roots.is_empty() {
            return Ok(());
        }
        writeln!(self.out, "\nroot causes ({}):", roots.len())?;
        for r in &roots {
            write!(self.out, "    {}", r.id)?;
            if !r.blocked.is_empty() {
                write!(
                    self.out,
                    " (blocks {}: {})",
                    r.blocked.len(),
                    r.blocked.join(", ")
                )?;
            }
            writeln!(self.out)?;
        }
        Ok(())
    }

    fn write(&mut self, event: &Event<'_>) -> std::io::Result<()> {
        match event {
            Event::Started {
                target,
                total,
                discovered,
            } => self.started(target, *total, discovered)?,
            Event::CaseFinished(r) => self.case_line(r)?,
            Event::Finished { results, summary } => self.finished(results, summary)?,
            // the binary says why, once, on standard error
            Event::SetupFailed { .. } => {}
        }
        self.out.flush()
    }

    /// The header: what runs against what, and what discovery found.
    fn started(
        &mut self,
        target: &crate::Target,
        total: usize,
        discovered: &crate::Discovered,
    ) -> std::io::Result<()> {
        writeln!(self.out, "conform: running {total} cases against {target}")?;
        for line in discovered.capabilities.describe() {
            writeln!(self.out, "  {line}")?;
        }
        if let Some(i) = &discovered.inspection {
            match &i.fixture {
                Ok(()) => writeln!(self.out, "  maildrop: the standard fixture")?,
                Err(why) => writeln!(self.out, "  maildrop: {why}")?,
            }
            if let Some(drift) = &i.drift {
                writeln!(
                    self.out,
                    "  maildrop drift: {drift} (allowed between sessions; cases compare sizes within one session)"
                )?;
            }
        }
        Ok(())
    }

    /// One line per finished case: verdict, level, id, and why it was not judged.
    fn case_line(&mut self, r: &CaseResult) -> std::io::Result<()> {
        let tag = match r.known_deviation() {
            Some(_) => "KNOWN",
            None => r.verdict.label(),
        };
        write!(
            self.out,
            "{tag:<7} {:<7} {}",
            r.case.level.to_string(),
            r.case.id
        )?;
        match &r.verdict {
            Verdict::Skip(why) | Verdict::NotApplicable(why) => write!(self.out, "  ({why})")?,
            Verdict::Blocked { by } => write!(self.out, "  (blocked by {by})")?,
            _ => {}
        }
        if self.timings {
            write!(self.out, "  [{:.0?}]", r.duration)?;
        }
        writeln!(self.out)
    }

    /// The failures with their transcripts, outdated baseline entries, the root causes and
    /// the closing counts.
    fn finished(
        &mut self,
        results: &[CaseResult],
        summary: &crate::Summary,
    ) -> std::io::Result<()> {
        // new failures last, next to the summary; known deviations before them
        for r in results.iter().filter(|r| r.known_deviation().is_some()) {
            self.failure(r)?;
        }
        for r in results.iter().filter(|r| r.known_deviation().is_none()) {
            self.failure(r)?;
        }
        let outdated: Vec<&CaseResult> = results.iter().filter(|r| r.baseline_outdated()).collect();
        if !outdated.is_empty() {
            writeln!(
                self.out,
                "\nbaselined, but passing now (remove them from the baseline):"
            )?;
            for r in outdated {
                writeln!(self.out, "    {} ({})", r.case.id, r.case.rfc)?;
            }
        }
        self.root_causes(results)?;
        writeln!(self.out)?;
        if summary.errors > 0 {
            writeln!(
                self.out,
                "{} of the failures are errors: the target could not be judged",
                summary.errors
            )?;
        }
        self.slowest(results)?;
        if self.timings {
            writeln!(self.out, "finished in {:.2?}", summary.duration)?;
        }
        if let Some(why) = &summary.interrupted {
            let not_run = results
                .iter()
                .filter(|r| matches!(&r.verdict, Verdict::Skip(s) if s.starts_with("not run: interrupted")))
                .count();
            writeln!(
                self.out,
                "INTERRUPTED ({why}): {not_run} cases not run; the reports are complete and say so"
            )?;
        }
        self.counts(summary)
    }

    /// The slowest cases, slowest first: where a run's time goes (each refused login may
    /// cost the server's failure delay; a case's time does not count the wait for its
    /// account).
    fn slowest(&mut self, results: &[CaseResult]) -> std::io::Result<()> {
        if self.slowest == 0 {
            return Ok(());
        }
        let mut by_time: Vec<&CaseResult> = results.iter().collect();
        by_time.sort_by_key(|r| std::cmp::Reverse(r.duration));
        by_time.truncate(self.slowest);
        writeln!(self.out, "slowest {} cases:", by_time.len())?;
        for r in by_time {
            writeln!(self.out, "  {:>9.2?}  {}", r.duration, r.case.id)?;
        }
        Ok(())
    }

    /// The closing line: `N passed, N failed, N skipped[, N not applicable, N blocked][, ...]`.
    fn counts(&mut self, summary: &crate::Summary) -> std::io::Result<()> {
        write!(
            self.out,
            "{} passed, {} failed, {} skipped",
            summary.passed,
            summary.failed + summary.errors - summary.known,
            summary.skipped
        )?;
        if summary.not_applicable > 0 || summary.blocked > 0 {
            write!(
                self.out,
                ", {} not applicable, {} blocked",
                summary.not_applicable, summary.blocked
            )?;
        }
        if summary.known > 0 || summary.outdated > 0 {
            write!(
                self.out,
                ", {} known (baseline), {} baselined but passing",
                summary.known, summary.outdated
            )?;
        }
        writeln!(self.out)
    }
}

impl<W: Write + Send> Reporter for Console<W> {
    fn event(&mut self, event: &Event<'_>) -> Result<(), ReportError> {
        self.write(event).map_err(|error| ReportError {
            report: "console",
            to: self.to.clone(),
            error,
        })
    }
}
