//! `conform seed`: the standard fixture into a Maildir (DESIGN.md §4).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use reference_server::fixture;

use crate::exit;

/// Arguments of `conform seed`.
#[derive(Debug, Args)]
pub struct SeedArgs {
    /// The Maildir to write (created if missing; `cur/`, `new/`, `tmp/`).
    #[arg(long, value_name = "DIR")]
    maildir: PathBuf,
    /// Remove the messages already in the Maildir first, so it holds exactly the fixture.
    #[arg(long)]
    replace: bool,
}

pub fn run(args: SeedArgs) -> anyhow::Result<u8> {
    let names = fixture::seed_maildir(&args.maildir, args.replace)
        .with_context(|| format!("seeding {}", args.maildir.display()))?;
    let size: u64 = fixture::MESSAGES
        .iter()
        .map(|m| pop3_proto::multiline::wire_size(m))
        .sum();
    println!(
        "seeded {} with the standard fixture: {} messages, {} octets",
        args.maildir.display(),
        names.len(),
        size
    );
    Ok(exit::OK)
}
