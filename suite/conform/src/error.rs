//! How a command ends: an [`Outcome`] (exit 0 or 1) or a [`CliError`] that knows its exit
//! code (the README's table, the same for every subcommand). `main` prints the error, once.

use std::path::PathBuf;

use scenario::Diagnostics;

use crate::profile::ProfileError;
use crate::select::SelectError;

/// Every required case passed (or the command did what was asked).
const OK: u8 = 0;
/// At least one conformance failure.
const FAILED: u8 = 1;
/// Usage, configuration or scenario error; zero cases selected.
const USAGE: u8 = 2;
/// The target was unreachable, or TLS failed, before any case ran.
const UNREACHABLE: u8 = 3;
/// A report could not be written in full (the path and the OS error are on standard error).
const REPORT: u8 = 4;
/// `SIGINT` or `SIGTERM` stopped the run; the reports are complete and say it was
/// interrupted (128 + SIGINT, as a shell reports a job stopped by Ctrl-C).
const INTERRUPTED: u8 = 130;

/// A command that ran to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing failed, or the command did what was asked.
    Passed,
    /// A conformance failure (a case, a model divergence, a finding, a coverage gap, a
    /// missed fault).
    Failed,
    /// A signal stopped the run; its reports are complete and marked interrupted.
    Interrupted,
}

impl Outcome {
    /// [`Outcome::Failed`] when `failed`.
    pub fn failed_if(failed: bool) -> Outcome {
        if failed {
            Outcome::Failed
        } else {
            Outcome::Passed
        }
    }

    /// 0 or 1.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Passed => OK,
            Outcome::Failed => FAILED,
            Outcome::Interrupted => INTERRUPTED,
        }
    }
}

/// Why a command stopped, with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A bad option, or options that do not go together.
    #[error("{0}")]
    Usage(String),
    /// The config file or the profile.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// A target that does not parse, or a TLS client configuration that cannot be made.
    #[error(transparent)]
    Target(#[from] runner::target::TargetError),
    /// The scenarios do not compile: diagnostics at file:line:col.
    #[error("{0}")]
    Scenarios(Diagnostics),
    /// The baseline cannot be read or names no case.
    #[error("baseline {0}")]
    Baseline(#[from] runner::baseline::BaselineError),
    /// A bad `--filter`/`--exclude`, or an unreadable `--rerun-failed` report.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// Zero cases selected: an error, never a pass.
    #[error("no case selected")]
    NothingSelected,
    /// The first `--reseed-cmd` failed (before any case).
    #[error("--reseed-cmd failed: {0}")]
    Reseed(String),
    /// Restoring the maildrop before a generated sequence failed.
    #[error("{0}")]
    Restore(String),
    /// The target was unreachable, or TLS failed, before any case ran.
    #[error("{0}")]
    Unreachable(String),
    /// One report or more could not be written in full: each with its path and OS error.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\nconform: "))]
    Report(Vec<runner::ReportError>),
    /// The coverage matrix cannot be built: the catalogue's message, then which catalogue.
    #[error("{message}\nconform: the coverage matrix cannot be built (catalogue: {})", dir.display())]
    Coverage {
        /// The requirements folder.
        dir: PathBuf,
        /// What is wrong with it or with a case's quote.
        message: String,
    },
    /// The selfcheck's runs with no fault fail: the selfcheck means nothing.
    #[error("the catalogue does not pass against the bundled server with no fault; a selfcheck means nothing until it does")]
    SelfcheckNotClean,
    /// A permitted variant fails some case: those cases are wrong.
    #[error(
        "the catalogue fails a server variant the RFCs permit; the failing cases are wrong for it"
    )]
    VariantFails,
    /// A scenario written for a divergence does not compile (a bug in conform).
    #[error("the scenario written to {} does not compile (a bug in conform):\n{diagnostics}", path.display())]
    WrittenScenario {
        /// The file written.
        path: PathBuf,
        /// Why it does not compile.
        diagnostics: Diagnostics,
    },
    /// Anything else: files, the async runtime, the bundled server.
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

impl CliError {
    /// The exit code (the README's table).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Unreachable(_) => UNREACHABLE,
            CliError::Report(_) => REPORT,
            // a divergence or a failing selfcheck was found; the message says more
            CliError::SelfcheckNotClean
            | CliError::VariantFails
            | CliError::WrittenScenario { .. } => FAILED,
            CliError::Usage(_)
            | CliError::Profile(_)
            | CliError::Target(_)
            | CliError::Scenarios(_)
            | CliError::Baseline(_)
            | CliError::Select(_)
            | CliError::NothingSelected
            | CliError::Reseed(_)
            | CliError::Restore(_)
            | CliError::Coverage { .. }
            | CliError::Other(_) => USAGE,
        }
    }

    /// The text for standard error: `conform: ...`, except scenario diagnostics and the
    /// catalogue's, which stand as the compiler wrote them.
    pub fn report(&self) -> String {
        match self {
            CliError::Scenarios(_) | CliError::Coverage { .. } => self.to_string(),
            _ => format!("conform: {self}"),
        }
    }
}

impl From<runner::RunError> for CliError {
    fn from(e: runner::RunError) -> CliError {
        match e {
            runner::RunError::NothingSelected => CliError::NothingSelected,
            e @ (runner::RunError::Unreachable { .. } | runner::RunError::Account { .. }) => {
                CliError::Unreachable(e.to_string())
            }
            runner::RunError::Report(e) => CliError::Report(vec![e]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_readme() {
        assert_eq!(Outcome::Passed.exit_code(), 0);
        assert_eq!(Outcome::Failed.exit_code(), 1);
        assert_eq!(CliError::NothingSelected.exit_code(), 2);
        assert_eq!(CliError::Usage("x".into()).exit_code(), 2);
        assert_eq!(CliError::Unreachable("x".into()).exit_code(), 3);
        assert_eq!(CliError::SelfcheckNotClean.exit_code(), 1);
        assert_eq!(CliError::Report(Vec::new()).exit_code(), 4);
        assert_eq!(Outcome::Interrupted.exit_code(), 130);
        assert_eq!(
            CliError::NothingSelected.report(),
            "conform: no case selected"
        );
    }
}
