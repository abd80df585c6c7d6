//! `conform model`: the proptest model of the POP3 session (crate `model`) against a target.

use std::path::PathBuf;

use clap::Args;
use model::{Exploration, Report};

use super::generate::{print_transcript, seed_or_clock, write_scenario, Started};
use crate::args::TargetArgs;
use crate::error::{CliError, Outcome};
use crate::progress;
use crate::setup::Setup;

/// Arguments of `conform model`.
#[derive(Debug, Args)]
pub struct ModelArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Sequences to generate.
    #[arg(long, default_value_t = 256)]
    cases: u32,
    /// The seed (default: from the clock, printed): the same seed, target and maildrop give
    /// the same sequences.
    #[arg(long)]
    seed: Option<u64>,
    /// Commands per sequence, at most.
    #[arg(long, value_name = "K", default_value_t = 24)]
    max_steps: usize,
    /// Clients interleaved on the one maildrop: 2 also tests the lock and what one session's
    /// UPDATE shows the next.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    sessions: u8,
    /// Shrink steps after a failure, at most.
    #[arg(long, default_value_t = 4096)]
    max_shrink_iters: u32,
    /// Sequences run at once, each on an account (a maildrop) of its own: the bundled server
    /// gets a user per job; a --target has one account, so it takes 1 only. The same seed
    /// runs the same sequences, and finds the same failure, whatever N is.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    /// Where the scenario of a failure is written.
    #[arg(long, value_name = "DIR", default_value = "reports/model")]
    out: PathBuf,
}

/// Generates and judges the sequences; a failure is shrunk, printed and written as a
/// scenario (exit 1).
pub fn run(args: ModelArgs) -> Result<Outcome, CliError> {
    let setup = Setup::resolve(&args.target, None)?;
    let started = Started::new(&setup, usize::from(args.jobs))?;
    let config = Exploration {
        cases: args.cases.max(1),
        seed: seed_or_clock(args.seed),
        max_steps: args.max_steps.max(1),
        sessions: args.sessions,
        max_shrink_iters: args.max_shrink_iters,
        regressions: None,
    };
    println!(
        "conform model: {} sequences of up to {} commands on {} session(s) against {}, seed {}, {} job(s)",
        config.cases,
        config.max_steps,
        config.sessions,
        started.env.endpoint.target,
        config.seed,
        args.jobs
    );
    if started.ready.reseed.is_none() {
        println!(
            "note: no --reseed-cmd: each sequence starts from what the previous one left (QUIT after DELE empties the maildrop over time)"
        );
    }
    let report = check(&started, &config)?;
    let summary = format!(
        "{} sequences, {} commands in {:.1}s ({:.0} commands/s), {} job(s), sequences digest {:016x}",
        report.sequences,
        report.commands,
        report.duration.as_secs_f64(),
        report.rate(),
        report.jobs,
        report.digest
    );
    let Some(failure) = &report.failure else {
        println!("passed: {summary}");
        return Ok(Outcome::Passed);
    };
    println!("FAIL: {}", failure.reason);
    println!("shrunk to {} step(s): {:?}", failure.ops.len(), failure.ops);
    let Some(d) = &failure.outcome.divergence else {
        println!("the shrunk sequence did not fail again when rerun: the target is not deterministic there; no scenario written");
        println!("failed: {summary}");
        return Ok(Outcome::Failed);
    };
    println!("transcript of the shrunk sequence:");
    print_transcript(&failure.outcome.transcript);
    println!("divergence: {d}");
    let mut unwritten = None;
    if let Some(text) = model::replay::scenario(failure, config.seed) {
        let name = format!("model-seed-{}.pop3", config.seed);
        match write_scenario(&args.out, &name, &text) {
            Ok(path) => println!(
                "scenario: {} (replay: conform run {} with the same target options)",
                path.display(),
                path.display()
            ),
            // said after the summary, and the exit code says it (4, or 1 for a scenario
            // that does not compile)
            Err(e) => unwritten = Some(e),
        }
    }
    println!("failed: {summary}");
    match unwritten {
        Some(e) => Err(e),
        None => Ok(Outcome::Failed),
    }
}

/// The sequences, with a progress bar.
fn check(started: &Started, config: &Exploration) -> Result<Report, CliError> {
    let bar = progress::bar(u64::from(config.cases), "sequences");
    let report = model::check(
        &started.env,
        &started.accounts(),
        &started.fixture,
        config,
        &|n| {
            // shrinking runs go past the case count
            bar.set_length(bar.length().unwrap_or(0).max(n));
            bar.set_position(n);
        },
    )
    .map_err(|e| started.error(e))?;
    bar.finish_and_clear();
    Ok(report)
}
