//! `conform list`: the selected cases, one line each.

use std::path::PathBuf;

use clap::Args;

use crate::catalogue;
use crate::error::{CliError, Outcome};
use crate::select::SelectArgs;

/// Arguments of `conform list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Scenario files or folders (default: the catalogue built into conform; `conform
    /// scenarios export DIR` writes it out).
    paths: Vec<PathBuf>,
    #[command(flatten)]
    select: SelectArgs,
}

/// Prints id, RFC section, level and title of every selected case, then the count.
pub fn run(args: ListArgs) -> Result<Outcome, CliError> {
    let mut cases = catalogue::load(&args.paths)?;
    args.select.apply(&mut cases)?;
    for c in &cases {
        println!(
            "{:<48} {:<16} {:<6} {}",
            c.id,
            c.rfc.to_string(),
            c.level.to_string(),
            c.title
        );
    }
    println!("{} cases", cases.len());
    Ok(Outcome::Passed)
}
