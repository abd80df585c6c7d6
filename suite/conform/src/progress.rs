//! A progress bar for long runs (the catalogue, the model, the fuzzer), on standard error and
//! only when standard error is a terminal: in a pipeline or a log it is not drawn at all.

use std::io::{IsTerminal as _, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use runner::{Event, ReportError, Reporter};

/// A bar of `len` steps, hidden unless standard error is a terminal.
pub fn bar(len: u64, unit: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let template = format!("{{elapsed_precise}} [{{wide_bar}}] {{pos}}/{{len}} {unit} {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Drives a bar from the run's events: one step per case.
pub struct Progress(pub ProgressBar);

impl Reporter for Progress {
    fn event(&mut self, event: &Event<'_>) -> Result<(), ReportError> {
        match event {
            Event::Started { total, .. } => self.0.set_length(*total as u64),
            Event::CaseFinished(r) => {
                self.0.set_message(r.case.id.clone());
                self.0.inc(1);
            }
            Event::Finished { .. } | Event::SetupFailed { .. } => self.0.finish_and_clear(),
        }
        Ok(())
    }
}

/// Standard output written above the bar (the bar steps aside for each write), so lines and
/// bar do not mix when both go to the terminal. Written through `anstream`, which drops ANSI
/// colours when standard output is no terminal, `NO_COLOR` is set, or `--color never`.
pub struct AboveBar(pub ProgressBar);

impl Write for AboveBar {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.suspend(|| anstream::stdout().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        anstream::stdout().flush()
    }
}
