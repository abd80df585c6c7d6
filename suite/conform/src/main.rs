//! `conform`: the POP3 conformance suite's command line.
//!
//! Each subcommand (one module under [`commands`]) resolves its options once (the target
//! options with the `conform.toml` profile into a [`setup::Setup`]) and returns an
//! [`Outcome`] or a [`CliError`] that knows its exit code; `main` prints the error, once.

// every dependency is used (unit-test builds also see the dev-dependencies of other targets)
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod args;
mod bundled;
mod commands;
mod error;
mod profile;
mod progress;
mod reseed;
mod scenarios;
mod select;
mod setup;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::commands::{bench, coverage, fuzz, list, model, run, seed, selfcheck, serve};
use crate::error::{CliError, Outcome};

/// POP3 conformance test suite and fuzzing harness.
#[derive(Debug, Parser)]
#[command(name = "conform", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Run scenarios against a POP3 server (the bundled one when no --target).
    Run(Box<run::RunArgs>),
    /// List every case: id, RFC section, level, title.
    List(list::ListArgs),
    /// Run the bundled reference POP3 server.
    Serve(Box<serve::ServeArgs>),
    /// Write the standard fixture maildrop into a Maildir or an mbox file a target serves.
    Seed(seed::SeedArgs),
    /// The coverage matrix: each RFC requirement (quoted) and the cases that cover it.
    Coverage(coverage::CoverageArgs),
    /// The suite tests itself: the catalogue against the reference server with one deliberate
    /// defect at a time; prints each fault, the cases that caught it, and the mutation score.
    Selfcheck(Box<selfcheck::SelfcheckArgs>),
    /// The proptest model of a POP3 session against a target: random command sequences on
    /// one or two clients, every reply judged; a failure shrinks to a scenario file.
    Model(Box<model::ModelArgs>),
    /// The network fuzzer: model commands mixed with hostile ones (garbage, huge numbers,
    /// format strings, bare LF, pipelining, STLS with plaintext behind it) for --duration
    /// seconds; findings are written as scenario files.
    Fuzz(Box<fuzz::FuzzArgs>),
    /// Load measurements: sessions/s (connect, login, STAT, QUIT) and RETR throughput of the
    /// largest message, with latency percentiles, failures and lock contention; --against
    /// measures a second server in the same run, side by side.
    Bench(Box<bench::BenchArgs>),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard
    /// output, e.g. `conform completions bash > /etc/bash_completion.d/conform`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output, e.g. `conform man > conform.1`.
    Man,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match dispatch(cli.command) {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            eprintln!("{}", e.report());
            e.exit_code()
        }
    };
    ExitCode::from(code)
}

fn dispatch(command: Commands) -> Result<Outcome, CliError> {
    match command {
        Commands::Run(args) => run::run(*args),
        Commands::List(args) => list::run(args),
        Commands::Serve(args) => serve::run(*args),
        Commands::Seed(args) => seed::run(args),
        Commands::Coverage(args) => coverage::run(args),
        Commands::Selfcheck(args) => selfcheck::run(*args),
        Commands::Model(args) => model::run(*args),
        Commands::Fuzz(args) => fuzz::run(*args),
        Commands::Bench(args) => bench::run(*args),
        Commands::Completions { shell } => {
            // into a buffer first: clap_complete panics on a failed write (a closed pipe)
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "conform", &mut out);
            print_all(&out)
        }
        Commands::Man => man(),
    }
}

/// The man page of `conform` and, after it, one section per subcommand.
fn man() -> Result<Outcome, CliError> {
    let command = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut out)
        .map_err(anyhow::Error::from)?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("conform-{}", sub.get_name());
        let sub = sub.clone().display_name(name);
        clap_mangen::Man::new(sub)
            .render(&mut out)
            .map_err(anyhow::Error::from)?;
    }
    print_all(&out)
}

/// Writes `bytes` to standard output; a reader that went away (`| head`) is not an error.
fn print_all(bytes: &[u8]) -> Result<Outcome, CliError> {
    match std::io::Write::write_all(&mut std::io::stdout(), bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(anyhow::Error::from(e).into()),
        _ => Ok(Outcome::Passed),
    }
}
