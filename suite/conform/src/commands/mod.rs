//! One module per subcommand; each resolves its arguments once and returns an
//! [`Outcome`](crate::error::Outcome) or a [`CliError`] that `main` prints.

pub mod bench;
pub mod coverage;
pub mod fuzz;
mod generate;
pub mod list;
pub mod model;
pub mod probe;
pub mod report;
pub mod run;
pub mod scenarios;
pub mod seed;
pub mod selfcheck;
pub mod serve;

use anyhow::Context as _;

use crate::error::CliError;

/// The async runtime a command's I/O runs on.
fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    Ok(tokio::runtime::Runtime::new().context("starting the async runtime")?)
}

/// Writes a whole text report (`--markdown`, `--totals`) to `path` as `conform run` writes
/// its reports: to a temporary name, synced, then renamed, so a failure never leaves a
/// truncated file in place of an earlier one. A failure is [`CliError::Report`] (exit 4),
/// naming the path and the OS error.
fn write_report(report: &'static str, path: &std::path::Path, text: &str) -> Result<(), CliError> {
    use runner::report::Output as _;
    use std::io::Write as _;
    let fail = |error: std::io::Error| {
        CliError::Report(vec![runner::ReportError {
            report,
            to: path.display().to_string(),
            error,
        }])
    };
    let mut file = runner::report::ReportFile::create(path).map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)?;
    file.complete().map_err(fail)
}
