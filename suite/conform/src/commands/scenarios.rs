//! `conform scenarios`: the catalogue built into the binary.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::catalogue;
use crate::error::{CliError, Outcome};

/// Arguments of `conform scenarios`.
#[derive(Debug, Args)]
pub struct ScenariosArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Write the built-in catalogue (every `.pop3` file, LANGUAGE.md, the requirements, the
    /// baselines, the vectors and the fixture) into DIR, laid out as the repository's
    /// `scenarios/`; then `conform run DIR` runs it, edited or extended.
    ///
    /// Example: `conform scenarios export ./my-scenarios && conform run ./my-scenarios`
    Export {
        /// The folder to write (created if missing; must be empty unless --force).
        dir: PathBuf,
        /// Write over the files of a non-empty DIR (files that are not the catalogue's
        /// are left as they are).
        #[arg(long)]
        force: bool,
    },
}

/// Runs the action.
pub fn run(args: ScenariosArgs) -> Result<Outcome, CliError> {
    match args.action {
        Action::Export { dir, force } => {
            let n = catalogue::export(&dir, force).map_err(|e| match e {
                catalogue::ExportError::NotEmpty(_) => CliError::Usage(e.to_string()),
                e => CliError::Other(e.into()),
            })?;
            println!(
                "wrote {n} files of the built-in catalogue to {}",
                dir.display()
            );
            Ok(Outcome::Passed)
        }
    }
}
