//! `conform model`: the proptest model of the POP3 session (crate `model`) against a target.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::Args;
use model::exec::{Dir, Env};
use model::{Config, ModelError};
use reference_server::fixture;
use runner::TlsMode;

use crate::exit;
use crate::target::TargetArgs;

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
    /// Where the scenario of a failure is written.
    #[arg(long, value_name = "DIR", default_value = "reports/model")]
    out: PathBuf,
}

pub fn run(args: ModelArgs) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let resolved = match runtime.block_on(args.target.resolve()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("conform: {e:#}");
            return Ok(exit::USAGE);
        }
    };
    let _server = resolved.server;
    let tls = match resolved.target.tls {
        TlsMode::None => None,
        _ => Some(resolved.target.client_config()?),
    };
    let mut env = Env {
        target: resolved.target,
        tls,
        limits: runner::transport::Limits {
            io_timeout: args.target.io_timeout(),
            ..Default::default()
        },
        profile: resolved.profile,
        caps: Default::default(),
    };
    env.caps = runtime.block_on(model::check::discover(&env));
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    let config = Config {
        cases: args.cases.max(1),
        seed,
        max_steps: args.max_steps.max(1),
        sessions: args.sessions,
        max_shrink_iters: args.max_shrink_iters,
        regressions: None,
    };
    println!(
        "conform model: {} sequences of up to {} commands on {} session(s) against {}, seed {seed}",
        config.cases, config.max_steps, config.sessions, env.target
    );
    if resolved.reseed.is_none() {
        println!(
            "note: no --reseed-cmd: each sequence starts from what the previous one left (QUIT after DELE empties the maildrop over time)"
        );
    }
    let fixture: Vec<Vec<u8>> = fixture::MESSAGES.iter().map(|m| m.to_vec()).collect();
    let reseed = resolved.reseed.clone();
    let reseed_fn = move || reseed.as_ref().map_or(Ok(()), |r| r());
    let report = match model::check(
        runtime.handle(),
        &env,
        &fixture,
        Some(&reseed_fn),
        &config,
        &|_| {},
    ) {
        Ok(r) => r,
        Err(e @ ModelError::Reseed(_)) => {
            eprintln!("conform: {e}");
            return Ok(exit::USAGE);
        }
        Err(e @ ModelError::Inspect(_)) => {
            eprintln!("conform: target {}: {e}", env.target);
            return Ok(exit::UNREACHABLE);
        }
    };
    let summary = format!(
        "{} sequences, {} commands in {:.1}s ({:.0} commands/s)",
        report.sequences,
        report.commands,
        report.duration.as_secs_f64(),
        report.rate()
    );
    let Some(failure) = report.failure else {
        println!("passed: {summary}");
        return Ok(exit::OK);
    };
    println!("FAIL: {}", failure.reason);
    println!("shrunk to {} step(s): {:?}", failure.ops.len(), failure.ops);
    let Some(d) = &failure.outcome.divergence else {
        println!("the shrunk sequence did not fail again when rerun: the target is not deterministic there; no scenario written");
        println!("failed: {summary}");
        return Ok(exit::FAILED);
    };
    println!("transcript of the shrunk sequence:");
    for e in &failure.outcome.transcript {
        let dir = match e.dir {
            Dir::Client => "C:",
            Dir::Server => "S:",
            Dir::Note => "#:",
        };
        println!("  [{:>7.1?}] {:<5} {dir} {}", e.at, e.conn, e.text);
    }
    println!("divergence: {d}");
    if let Some(text) = model::replay::scenario(&failure, seed) {
        std::fs::create_dir_all(&args.out)
            .with_context(|| format!("creating {}", args.out.display()))?;
        let path = args.out.join(format!("model-seed-{seed}.pop3"));
        std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
        // the file must be a valid scenario: a writer bug is reported, not hidden
        if let Err(diag) = scenario::load_paths(std::slice::from_ref(&path)) {
            eprintln!("conform: the scenario written to {} does not compile (a bug in conform model):\n{diag}", path.display());
            return Ok(exit::FAILED);
        }
        println!(
            "scenario: {} (replay: conform run {} with the same target options)",
            path.display(),
            path.display()
        );
    }
    println!("failed: {summary}");
    Ok(exit::FAILED)
}
