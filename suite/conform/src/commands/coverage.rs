//! `conform coverage`: the coverage matrix, generated from the requirements catalogue
//! (`scenarios/requirements/*.toml`) and the cases' quoted requirements.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use scenario::coverage::{Catalogue, Matrix};

use crate::error::{CliError, Outcome};
use crate::scenarios::{default_paths, load};

/// Arguments of `conform coverage`.
#[derive(Debug, Args)]
pub struct CoverageArgs {
    /// Scenario files or folders (default: the bundled `scenarios/`).
    paths: Vec<PathBuf>,
    /// The requirements catalogue folder (default: `requirements/` in the scenarios folder).
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
    let dir = match args.requirements {
        Some(d) => d,
        None => default_paths()
            .into_iter()
            .next()
            .context("no scenarios folder")?
            .join("requirements"),
    };
    let matrix = Catalogue::load_dir(&dir)
        .and_then(|c| Matrix::build(&c, &cases))
        .map_err(|e| CliError::Coverage {
            message: e.to_string(),
            dir: dir.clone(),
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
