//! One module per subcommand; each resolves its arguments once and returns an
//! [`Outcome`](crate::error::Outcome) or a [`CliError`] that `main` prints.

pub mod bench;
pub mod coverage;
pub mod fuzz;
mod generate;
pub mod list;
pub mod model;
pub mod run;
pub mod seed;
pub mod selfcheck;
pub mod serve;

use anyhow::Context as _;

use crate::error::CliError;

/// The async runtime a command's I/O runs on.
fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    Ok(tokio::runtime::Runtime::new().context("starting the async runtime")?)
}
