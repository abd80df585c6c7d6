//! The console reporter, as nextest's: a line per case as it finishes, for the verdicts the
//! [`StatusLevel`] shows (the CLI's default: failures, errors and known deviations only);
//! then the transcript around each failure, the root causes, the list of failing ids with
//! their one-line reason, a line per group of skipped and not-applicable cases, and the
//! closing line `N passed, N failed, N skipped`. Colour (ANSI) only when asked: the CLI asks,
//! and its output stream strips the codes when it is no terminal.

use std::collections::BTreeMap;
use std::io::Write;

use anstyle::{AnsiColor, Style};

use super::ReportError;
use crate::judge::Verdict;
use crate::{CaseResult, Event, Reporter};

/// Which finished cases get their own line (`--status-level`); each level shows what the
/// ones before it show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StatusLevel {
    /// No per-case line: the failures' details and the summary only.
    None,
    /// Failures, errors and known deviations.
    Fail,
    /// Also skipped, not-applicable and blocked cases.
    Skip,
    /// Every case.
    Pass,
}

impl StatusLevel {
    /// The least level that shows `r`'s line.
    fn of(r: &CaseResult) -> StatusLevel {
        match &r.verdict {
            Verdict::Fail(_) | Verdict::Error(_) => StatusLevel::Fail,
            Verdict::Skip(_) | Verdict::NotApplicable(_) | Verdict::Blocked { .. } => {
                StatusLevel::Skip
            }
            Verdict::Pass => StatusLevel::Pass,
        }
    }
}

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
    /// Which cases get a line as they finish (default here: every case).
    pub status_level: StatusLevel,
    /// Write ANSI colours (off by default).
    pub colour: bool,
    /// List this many slowest cases with their wall times at the end (`--profile-time`);
    /// 0: none.
    pub slowest: usize,
}

const RED: Style = AnsiColor::Red.on_default().bold();
const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();

impl<W: Write> Console<W> {
    /// A console reporter on `out`.
    pub fn new(out: W) -> Console<W> {
        Console {
            out,
            timings: true,
            context: 12,
            to: "standard output".into(),
            status_level: StatusLevel::Pass,
            colour: false,
            slowest: 0,
        }
    }

    /// `text` in `style` when colours are on.
    fn paint(&self, style: Style, text: &str) -> String {
        if self.colour {
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
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
            let head = self.paint(YELLOW, &format!("--- KNOWN {kind} {}", c.id));
            writeln!(self.out, "\n{head} ({}, {}) at {}", c.rfc, c.level, f.span)?;
            writeln!(self.out, "    baseline: {}", d.reason)?;
            writeln!(self.out, "    {}", f.message)?;
            writeln!(self.out, "    expected: {}", f.expected)?;
            writeln!(self.out, "    actual:   {}", f.actual)?;
            return Ok(());
        }
        let head = self.paint(RED, &format!("--- {kind} {}", c.id));
        writeln!(self.out, "\n{head} ({}, {}) at {}", c.rfc, c.level, f.span)?;
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

    /// One line per finished case the status level shows: verdict, level, id, and why it
    /// was not judged.
    fn case_line(&mut self, r: &CaseResult) -> std::io::Result<()> {
        if StatusLevel::of(r) > self.status_level {
            return Ok(());
        }
        let (tag, style) = match r.known_deviation() {
            Some(_) => ("KNOWN", YELLOW),
            None => (
                r.verdict.label(),
                match &r.verdict {
                    Verdict::Pass => GREEN,
                    Verdict::Fail(_) | Verdict::Error(_) => RED,
                    _ => DIM,
                },
            ),
        };
        let tag = self.paint(style, &format!("{tag:<7}"));
        write!(
            self.out,
            "{tag} {:<7} {}",
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
        self.failing_list(results)?;
        self.not_judged_groups(results)?;
        writeln!(self.out)?;
        if summary.errors > 0 {
            writeln!(
                self.out,
                "{} of the failures are errors: the target could not be judged",
                summary.errors
            )?;
        }
        self.slowest(results)?;
        if let Some(jobs) = summary.jobs_lowered_to {
            writeln!(
                self.out,
                "the target stopped accepting or greeting connections while cases ran (a limit \
                 on its sessions): the run went down to {jobs} at once and ran those cases again \
                 (--jobs {jobs} starts there)"
            )?;
        }
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

    /// The cases that fail the run, one line each with the first line of the reason, next
    /// to the summary (what a CI log's last screen should show).
    fn failing_list(&mut self, results: &[CaseResult]) -> std::io::Result<()> {
        let failing: Vec<&CaseResult> = results
            .iter()
            .filter(|r| r.failed() && r.known_deviation().is_none())
            .collect();
        if failing.is_empty() {
            return Ok(());
        }
        let head = self.paint(BOLD, &format!("failed ({}):", failing.len()));
        writeln!(self.out, "\n{head}")?;
        for r in failing {
            let (Verdict::Fail(f) | Verdict::Error(f)) = &r.verdict else {
                continue;
            };
            let tag = self.paint(RED, &format!("{:<5}", r.verdict.label()));
            writeln!(
                self.out,
                "    {tag} {:<6} {}  {}",
                r.case.level.to_string(),
                r.case.id,
                f.message.lines().next().unwrap_or_default()
            )?;
        }
        Ok(())
    }

    /// One line per kind of unjudged case (skipped, not applicable, blocked) the status level
    /// did not list: how many, and the commonest reasons.
    fn not_judged_groups(&mut self, results: &[CaseResult]) -> std::io::Result<()> {
        if self.status_level >= StatusLevel::Skip {
            return Ok(());
        }
        let mut groups: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
        for r in results {
            let (kind, why) = match &r.verdict {
                Verdict::Skip(why) => ("skipped", why.clone()),
                Verdict::NotApplicable(why) => ("not applicable", why.clone()),
                Verdict::Blocked { by } => ("blocked", format!("by {by}")),
                _ => continue,
            };
            *groups.entry(kind).or_default().entry(why).or_default() += 1;
        }
        if groups.is_empty() {
            return Ok(());
        }
        writeln!(self.out)?;
        for (kind, reasons) in groups {
            let total: usize = reasons.values().sum();
            let mut top: Vec<(usize, String)> = reasons.into_iter().map(|(w, n)| (n, w)).collect();
            top.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            let shown: Vec<String> = top
                .iter()
                .take(3)
                .map(|(n, why)| format!("{n} {why}"))
                .collect();
            let more = match top.len().saturating_sub(3) {
                0 => String::new(),
                n => format!("; {n} other reasons"),
            };
            let kind = self.paint(DIM, &format!("{kind} ({total}):"));
            writeln!(self.out, "{kind} {}{more}", shown.join("; "))?;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::judge::Failure;
    use crate::Summary;

    fn result(id: &str, verdict: Verdict) -> CaseResult {
        let mut case = crate::start::setup_case();
        case.id = id.into();
        CaseResult {
            case: Arc::new(case),
            verdict,
            duration: Duration::ZERO,
            transcript: Vec::new(),
            baseline: None,
            connected: true,
        }
    }

    fn results() -> Vec<CaseResult> {
        let failure = Failure {
            message: "line does not match\nmore".into(),
            expected: "+OK".into(),
            actual: "-ERR".into(),
            span: crate::start::setup_case().span,
        };
        vec![
            result("a/pass", Verdict::Pass),
            result("b/fail", Verdict::Fail(failure)),
            result("c/skip", Verdict::Skip("needs @TLS".into())),
            result("d/skip", Verdict::Skip("needs @TLS".into())),
            result("e/na", Verdict::NotApplicable("TOP (not in CAPA)".into())),
        ]
    }

    fn console(level: StatusLevel, colour: bool) -> String {
        let results = results();
        let mut c = Console::new(Vec::new());
        c.timings = false;
        c.status_level = level;
        c.colour = colour;
        for r in &results {
            c.event(&Event::CaseFinished(r)).unwrap();
        }
        let summary = Summary::count(&results, scenario::plan::Level::Must);
        c.event(&Event::Finished {
            results: &results,
            summary: &summary,
        })
        .unwrap();
        String::from_utf8(c.into_inner()).unwrap()
    }

    /// The status level decides which cases get a line; the failing list and the groups of
    /// unjudged cases close the run.
    #[test]
    fn the_status_level_picks_the_lines_and_the_summary_closes() {
        let fail = console(StatusLevel::Fail, false);
        assert!(fail.starts_with("FAIL    MUST    b/fail\n"), "{fail}");
        assert!(
            !fail.contains("PASS    ") && !fail.contains("SKIP    "),
            "{fail}"
        );
        assert!(
            fail.contains("failed (1):\n    FAIL  MUST   b/fail  line does not match\n"),
            "{fail}"
        );
        assert!(
            fail.contains("not applicable (1): 1 TOP (not in CAPA)\nskipped (2): 2 needs @TLS\n"),
            "{fail}"
        );
        let skip = console(StatusLevel::Skip, false);
        assert!(skip.contains("SKIP    MUST    c/skip  (needs @TLS)") && !skip.contains("PASS "));
        assert!(
            !skip.contains("skipped (2):"),
            "listed one by one instead: {skip}"
        );
        let pass = console(StatusLevel::Pass, false);
        assert!(pass.starts_with("PASS    MUST    a/pass\n"), "{pass}");
        let none = console(StatusLevel::None, false);
        assert!(none.starts_with("\n--- FAIL b/fail"), "{none}");
        assert!(!fail.contains('\u{1b}'));
        let coloured = console(StatusLevel::Fail, true);
        assert!(coloured.contains('\u{1b}'), "{coloured:?}");
        let codes = regex::Regex::new("\u{1b}\\[[0-9;]*m").unwrap();
        assert_eq!(
            codes.replace_all(&coloured, ""),
            fail,
            "colour adds codes only"
        );
    }
}
