//! `conform report`: JSON Lines reports of earlier runs, compared. `merge` puts runs side by
//! side (a cases × runs matrix, each cell linking to its wire log); `diff` says what changed
//! between two runs and fails on a regression.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use runner::report::compare;
use runner::report::json::{self, ReadReport};

use crate::error::{CliError, Outcome};

/// Arguments of `conform report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Cases × runs in one page: a column per report (TLS modes, servers, versions), each
    /// cell the case's verdict linking to its wire log.
    ///
    /// Example: `conform report merge none.jsonl starttls.jsonl implicit.jsonl --html matrix.html`
    Merge {
        /// JSON Lines reports (`conform run --json FILE`), one column each, in this order.
        #[arg(required = true, num_args = 1..)]
        reports: Vec<PathBuf>,
        /// The page to write.
        #[arg(long, value_name = "FILE")]
        html: PathBuf,
        /// Column names, one per report in order (default: each file's name without
        /// `.jsonl`).
        #[arg(long = "label", value_name = "NAME")]
        labels: Vec<String>,
        /// Also link the wire logs of passing cells (a larger page).
        #[arg(long)]
        all_logs: bool,
    },
    /// What changed from OLD to NEW: new failures (a failure or error the baseline does not
    /// list, where OLD did not fail), fixed cases, other changed verdicts. Exit 1 when there
    /// is a new failure, else 0.
    ///
    /// Example: `conform report diff release-1.4.jsonl release-1.5.jsonl`
    Diff {
        /// The earlier run's JSON Lines report.
        old: PathBuf,
        /// The later run's.
        new: PathBuf,
    },
}

/// Runs the action.
pub fn run(args: ReportArgs) -> Result<Outcome, CliError> {
    match args.action {
        Action::Merge {
            reports,
            html,
            labels,
            all_logs,
        } => {
            if !labels.is_empty() && labels.len() != reports.len() {
                return Err(CliError::Usage(format!(
                    "{} --label for {} reports: give one per report, or none",
                    labels.len(),
                    reports.len()
                )));
            }
            let mut runs = Vec::with_capacity(reports.len());
            for (i, path) in reports.iter().enumerate() {
                let label = labels
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| default_label(path));
                runs.push((label, read(path)?));
            }
            super::write_report("HTML", &html, &compare::matrix_html(&runs, all_logs))?;
            println!(
                "{} runs, {} cases: {}",
                runs.len(),
                runs.iter().map(|(_, r)| r.cases.len()).max().unwrap_or(0),
                html.display()
            );
            Ok(Outcome::Passed)
        }
        Action::Diff { old, new } => {
            let d = compare::diff(&read(&old)?, &read(&new)?);
            print!("{}", d.text());
            Ok(Outcome::failed_if(d.regressed()))
        }
    }
}

/// A report's column name: its file name without `.jsonl`/`.json`.
fn default_label(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    name.strip_suffix(".jsonl")
        .or_else(|| name.strip_suffix(".json"))
        .unwrap_or(&name)
        .to_owned()
}

/// Reads a JSON Lines report; an unreadable or foreign file is a usage error naming it.
fn read(path: &Path) -> Result<ReadReport, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("reading {}: {e}", path.display())))?;
    let report = json::read(&text).map_err(|e| {
        CliError::Usage(format!(
            "{}: {e} (conform report reads the JSON Lines of `conform run --json`)",
            path.display()
        ))
    })?;
    if report.cases.is_empty() {
        return Err(CliError::Usage(format!(
            "{}: a report with no case",
            path.display()
        )));
    }
    Ok(report)
}
