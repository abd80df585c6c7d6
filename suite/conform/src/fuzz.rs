//! `conform fuzz`: the network fuzzer (crate `model`, module `fuzz`) against a target, bounded
//! by `--duration`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use model::fuzz::FuzzConfig;

use crate::model::{
    fixture_messages, model_error, print_transcript, reseed_fn, seed_or_clock, start,
    write_scenario, Started,
};
use crate::target::TargetArgs;
use crate::{exit, progress};

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
    /// Where the scenarios of the findings are written.
    #[arg(long, value_name = "DIR", default_value = "reports/fuzz")]
    out: PathBuf,
}

pub fn run(mut args: FuzzArgs) -> anyhow::Result<u8> {
    let Some(Started {
        runtime,
        resolved,
        env,
    }) = start(&mut args.target)?
    else {
        return Ok(exit::USAGE);
    };
    // `resolved` keeps the bundled server running until the end
    let seed = seed_or_clock(args.seed);
    let config = FuzzConfig {
        duration: Duration::from_secs(args.duration.max(1)),
        seed,
        max_steps: args.max_steps.max(1),
        sessions: 1,
        max_findings: args.max_findings.max(1),
    };
    println!(
        "conform fuzz: {} for {}s, seed {seed}, sequences of up to {} steps",
        env.endpoint.target, args.duration, config.max_steps
    );
    let fixture = fixture_messages();
    let reseed_fn = reseed_fn(&resolved);
    let bar = progress::bar(args.duration, "s");
    let started = std::time::Instant::now();
    let report = match model::fuzz::fuzz(
        runtime.handle(),
        &env,
        &fixture,
        Some(&reseed_fn),
        &config,
        &|r| {
            bar.set_position(started.elapsed().as_secs().min(args.duration));
            bar.set_message(format!(
                "{} sequences, {} finding(s)",
                r.sequences,
                r.findings.len()
            ));
        },
    ) {
        Ok(r) => r,
        Err(e) => return Ok(model_error(&e, &env)),
    };
    bar.finish_and_clear();
    for (i, f) in report.findings.iter().enumerate() {
        let n = i + 1;
        let Some(d) = &f.outcome.divergence else {
            continue;
        };
        println!("\nFINDING {n}: {d}");
        println!("shrunk to {} step(s): {:?}", f.steps.len(), f.steps);
        print_transcript(&f.outcome.transcript);
        if let Some(text) = model::replay::fuzz_scenario(f, seed, n) {
            if let Some(path) =
                write_scenario(&args.out, &format!("fuzz-seed-{seed}-{n}.pop3"), &text)?
            {
                println!("scenario: {}", path.display());
            }
        }
    }
    println!(
        "\n{} sequences, {} sessions, {} commands in {:.1}s ({:.0} commands/s), {} finding(s)",
        report.sequences,
        report.sessions,
        report.commands,
        report.duration.as_secs_f64(),
        report.rate(),
        report.findings.len()
    );
    Ok(if report.findings.is_empty() {
        exit::OK
    } else {
        exit::FAILED
    })
}
