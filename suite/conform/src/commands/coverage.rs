//! `conform coverage`: the coverage matrix, generated from the requirements catalogue
//! (`scenarios/requirements/*.toml`) and the cases' quoted requirements.

use std::path::PathBuf;

use clap::Args;
use scenario::coverage::{Catalogue, Matrix};

use crate::catalogue::{built_in_requirements, load, BUILT_IN_ROOT};
use crate::error::{CliError, Outcome};

/// Arguments of `conform coverage`.
#[derive(Debug, Args)]
pub struct CoverageArgs {
    /// Scenario files or folders (default: the catalogue built into conform).
    paths: Vec<PathBuf>,
    /// The requirements catalogue folder (default: the one built into conform).
    #[arg(long, value_name = "DIR")]
    requirements: Option<PathBuf>,
    /// Also write the whole matrix as Markdown here (`scenarios/COVERAGE.md` in the repo).
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Print only the totals, as the Markdown table the README shows.
    #[arg(long)]
    totals: bool,
}

/// Exit 0 when every testable MUST and SHOULD requirement has a case, 1 when some have
/// none (they are listed as MISSING), 2 when a case quotes something the catalogue lacks.
pub fn run(args: CoverageArgs) -> Result<Outcome, CliError> {
    let cases = load(&args.paths)?;
    let catalogue = match &args.requirements {
        Some(dir) => Catalogue::load_dir(dir),
        None => Catalogue::parse(&built_in_requirements()),
    };
    let dir = args
        .requirements
        .clone()
        .unwrap_or_else(|| PathBuf::from(BUILT_IN_ROOT).join("requirements"));
    let matrix = catalogue
        .and_then(|c| Matrix::build(&c, &cases))
        .map_err(|e| CliError::Coverage {
            message: e.to_string(),
            dir,
        })?;
    if args.totals {
        print!("{}", matrix.totals_markdown());
    } else {
        print!("{}", matrix.text());
    }
    if let Some(path) = &args.markdown {
        super::write_report("Markdown", path, &matrix.markdown())?;
    }
    Ok(Outcome::failed_if(matrix.totals().gaps() > 0))
}
