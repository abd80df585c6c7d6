//! `conform`: the POP3 conformance suite's command line.
//!
//! Exit codes are [`exit`] constants; anyhow carries errors to `main`, which prints them.

mod exit;
mod seed;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// POP3 conformance test suite and fuzzing harness.
#[derive(Debug, Parser)]
#[command(name = "conform", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Run the bundled reference POP3 server.
    Serve(Box<serve::ServeArgs>),
    /// Write the standard fixture maildrop into a Maildir a target serves.
    Seed(seed::SeedArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Commands::Serve(args) => serve::run(*args),
        Commands::Seed(args) => seed::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("conform: {e:#}");
            ExitCode::from(exit::USAGE)
        }
    }
}
