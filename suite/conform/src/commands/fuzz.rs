//! `conform fuzz`: the network fuzzer (crate `model`, module `fuzz`) against a target, bounded
//! by `--duration`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use model::fuzz::{FuzzConfig, FuzzReport};

use super::generate::{print_transcript, seed_or_clock, write_scenario, Started};
use crate::args::TargetArgs;
use crate::error::{CliError, Outcome};
use crate::progress;
use crate::setup::Setup;

/// Arguments of `conform fuzz`.
#[derive(Debug, Args)]
pub struct FuzzArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Seconds to generate new sequences (shrinking a finding may take up to a quarter more);
    /// the run stops by itself.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    duration: u64,
    /// The seed (default: from the clock, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Steps per sequence, at most.
    #[arg(long, value_name = "K", default_value_t = 16)]
    max_steps: usize,
    /// Stop after this many distinct findings.
    #[arg(long, default_value_t = 10)]
    max_findings: usize,
    /// Stop after this many sequences, if --duration has not run out first: the run then does
    /// not depend on the machine's speed (the same seed, the same sequences and findings).
    #[arg(long, value_name = "N")]
    sequences: Option<u64>,
    /// Sequences run at once, each on an account (a maildrop) of its own: the bundled server
    /// gets a user per job; a --target has one account, so it takes 1 only.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    /// Where the scenarios of the findings are written.
    #[arg(long, value_name = "DIR", default_value = "reports/fuzz")]
    out: PathBuf,
}

/// Fuzzes for `--duration`; each finding is printed and written as a scenario (exit 1).
pub fn run(args: FuzzArgs) -> Result<Outcome, CliError> {
    let setup = Setup::resolve(&args.target, None)?;
    let started = Started::new(&setup, usize::from(args.jobs))?;
    let config = FuzzConfig {
        duration: Duration::from_secs(args.duration.max(1)),
        seed: seed_or_clock(args.seed),
        max_steps: args.max_steps.max(1),
        sessions: 1,
        max_findings: args.max_findings.max(1),
        sequences: args.sequences,
    };
    let bound = match args.sequences {
        Some(n) => format!("{n} sequences or {}s", args.duration),
        None => format!("{}s", args.duration),
    };
    println!(
        "conform fuzz: {} for {bound}, seed {}, sequences of up to {} steps, {} job(s)",
        started.env.endpoint.target, config.seed, config.max_steps, args.jobs
    );
    let report = fuzz(&started, &config, args.duration)?;
    // a scenario that does not compile, or cannot be written, is reported after the
    // findings, not instead of them
    let mut unwritten = None;
    let mut unwritable = Vec::new();
    for (i, f) in report.findings.iter().enumerate() {
        let n = i + 1;
        let Some(d) = &f.outcome.divergence else {
            continue;
        };
        println!("\nFINDING {n}: {d}");
        println!("shrunk to {} step(s): {:?}", f.steps.len(), f.steps);
        print_transcript(&f.outcome.transcript);
        if let Some(text) = model::replay::fuzz_scenario(f, config.seed, n) {
            let name = format!("fuzz-seed-{}-{n}.pop3", config.seed);
            match write_scenario(&args.out, &name, &text) {
                Ok(path) => println!("scenario: {}", path.display()),
                Err(e @ CliError::WrittenScenario { .. }) => {
                    unwritten.get_or_insert(e);
                }
                Err(CliError::Report(errors)) => unwritable.extend(errors),
                Err(e) => return Err(e),
            }
        }
    }
    println!(
        "\n{} jobs, sequences digest {:016x}",
        report.jobs, report.digest
    );
    println!(
        "{} sequences, {} sessions, {} commands in {:.1}s ({:.0} sessions/s, {:.0} commands/s), {} finding(s)",
        report.sequences,
        report.sessions,
        report.commands,
        report.duration.as_secs_f64(),
        report.sessions as f64 / report.duration.as_secs_f64().max(1e-9),
        report.rate(),
        report.findings.len()
    );
    if !unwritable.is_empty() {
        // a report that could not be written wins: the findings are not where they belong
        return Err(CliError::Report(unwritable));
    }
    match unwritten {
        Some(e) => Err(e),
        None => Ok(Outcome::failed_if(!report.findings.is_empty())),
    }
}

/// The fuzzing itself, with a progress bar over `secs`.
fn fuzz(started: &Started, config: &FuzzConfig, secs: u64) -> Result<FuzzReport, CliError> {
    let bar = progress::bar(secs, "s");
    let began = Instant::now();
    let report = model::fuzz::fuzz(
        &started.env,
        &started.accounts(),
        &started.fixture,
        config,
        &|sequences, findings| {
            bar.set_position(began.elapsed().as_secs().min(secs));
            bar.set_message(format!("{sequences} sequences, {findings} finding(s)"));
        },
    )
    .map_err(|e| started.error(e))?;
    bar.finish_and_clear();
    Ok(report)
}
