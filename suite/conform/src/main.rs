//! `conform`: the POP3 conformance suite's command line.
//!
//! Each subcommand (one module under [`commands`]) resolves its options once (the target
//! options with the `conform.toml` profile into a [`setup::Setup`]) and returns an
//! [`Outcome`] or a [`CliError`] that knows its exit code; `main` prints the error, once.

// every dependency is used (unit-test builds also see the dev-dependencies of other targets)
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod args;
mod bundled;
mod catalogue;
mod commands;
mod error;
mod profile;
mod progress;
mod reseed;
mod select;
mod setup;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::commands::{
    bench, coverage, fuzz, list, model, probe, report, run, scenarios, seed, selfcheck, serve,
};
use crate::error::{CliError, Outcome};

/// Examples, for `--help` and the man page: the command, what it does.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "conform run",
        "the catalogue against the bundled reference server",
    ),
    (
        "conform run --target pop3s://127.0.0.1:995 --user test --ca ca.pem --junit junit.xml",
        "against your server (the password in $CONFORM_PASSWORD)",
    ),
    (
        "conform run --profile ci --tls starttls --baseline known.toml",
        "options from conform.toml; known deviations reported apart",
    ),
    (
        "conform probe --target pop3s://127.0.0.1:995 --user test --ca ca.pem",
        "what a run would meet: greeting, TLS, CAPA, capabilities, which cases run and why not",
    ),
    (
        "conform list --filter rfc:1939/5",
        "the cases of RFC 1939 section 5",
    ),
    (
        "conform report diff old.jsonl new.jsonl",
        "what changed between two runs (exit 1 on a regression)",
    ),
    (
        "conform model --target 127.0.0.1:110 --user test --cases 1000",
        "generated command sequences, a failure shrunk to a scenario",
    ),
];

/// Exit status, for `--help` and the man page (the README's table).
const EXIT_STATUS: &[(&str, &str)] = &[
    (
        "0",
        "all required cases passed (or the command did what was asked)",
    ),
    (
        "1",
        "at least one conformance failure (or a regression, a finding)",
    ),
    (
        "2",
        "usage, configuration or scenario error; zero cases selected",
    ),
    (
        "3",
        "target unreachable, or TLS failed, before any case ran",
    ),
    (
        "4",
        "a report could not be written in full (the path and the OS error on stderr)",
    ),
    (
        "130",
        "interrupted by SIGINT or SIGTERM (the reports are complete and say so)",
    ),
];

/// The text after `conform --help`'s options: the examples and the exit status.
fn after_help() -> String {
    let mut out = String::from("Examples:\n");
    for (command, what) in EXAMPLES {
        out.push_str(&format!("  {command}\n      {what}\n"));
    }
    out.push_str("\nExit status:\n");
    for (code, what) in EXIT_STATUS {
        out.push_str(&format!("  {code:<5}{what}\n"));
    }
    out
}

/// POP3 conformance test suite and fuzzing harness.
#[derive(Debug, Parser)]
#[command(name = "conform", version, about, long_about = None)]
#[command(after_help = after_help())]
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
    /// What a run would meet on a target, changing nothing there: the greeting, TLS (version,
    /// cipher, certificate chain, whether it verifies), CAPA before and after login, the
    /// discovered capabilities, the maildrop, and which cases would run, be skipped or be not
    /// applicable, and why.
    Probe(Box<probe::ProbeArgs>),
    /// The scenario catalogue built into this binary: `conform scenarios export DIR`.
    Scenarios(scenarios::ScenariosArgs),
    /// Run the bundled reference POP3 server.
    Serve(Box<serve::ServeArgs>),
    /// Write the standard fixture maildrop into a Maildir or an mbox file a target serves.
    Seed(Box<seed::SeedArgs>),
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
    /// Compare runs from their JSON Lines reports: `merge` (a cases × runs page) and `diff`
    /// (new failures, fixed cases; exit 1 on a regression).
    Report(report::ReportArgs),
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
        Commands::Probe(args) => probe::run(*args),
        Commands::Scenarios(args) => scenarios::run(args),
        Commands::Serve(args) => serve::run(*args),
        Commands::Seed(args) => seed::run(*args),
        Commands::Coverage(args) => coverage::run(args),
        Commands::Selfcheck(args) => selfcheck::run(*args),
        Commands::Model(args) => model::run(*args),
        Commands::Fuzz(args) => fuzz::run(*args),
        Commands::Report(args) => report::run(args),
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

/// The man page of `conform` (with EXAMPLES and EXIT STATUS) and, after it, one section per
/// subcommand.
fn man() -> Result<Outcome, CliError> {
    // the examples and exit codes get their own sections instead of clap's EXTRA
    let command = Cli::command().after_help("");
    let mut out = Vec::new();
    let page = clap_mangen::Man::new(command.clone());
    let render = |out: &mut Vec<u8>| -> std::io::Result<()> {
        page.render_title(out)?;
        page.render_name_section(out)?;
        page.render_synopsis_section(out)?;
        page.render_description_section(out)?;
        page.render_options_section(out)?;
        page.render_subcommands_section(out)?;
        out.extend_from_slice(&roff_section("EXAMPLES", EXAMPLES));
        out.extend_from_slice(&roff_section("EXIT STATUS", EXIT_STATUS));
        page.render_version_section(out)
    };
    render(&mut out).map_err(anyhow::Error::from)?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("conform-{}", sub.get_name());
        let sub = sub.clone().display_name(name);
        clap_mangen::Man::new(sub)
            .render(&mut out)
            .map_err(anyhow::Error::from)?;
    }
    print_all(&out)
}

/// A man page section of tagged paragraphs (`.TP`): each item, then its text.
fn roff_section(name: &str, items: &[(&str, &str)]) -> Vec<u8> {
    // roff: `\` is an escape, and a line starting with `.` or `'` would be a request
    let text = |s: &str| {
        let s = s.replace('\\', "\\e");
        if s.starts_with(['.', '\'']) {
            format!("\\&{s}")
        } else {
            s
        }
    };
    let mut out = format!(".SH \"{name}\"\n");
    for (item, what) in items {
        out.push_str(&format!(".TP\n{}\n{}\n", text(item), text(what)));
    }
    out.into_bytes()
}

/// Writes `bytes` to standard output; a reader that went away (`| head`) is not an error.
fn print_all(bytes: &[u8]) -> Result<Outcome, CliError> {
    match std::io::Write::write_all(&mut std::io::stdout(), bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(anyhow::Error::from(e).into()),
        _ => Ok(Outcome::Passed),
    }
}
