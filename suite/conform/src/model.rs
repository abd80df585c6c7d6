//! `conform model`: the proptest model of the POP3 session (crate `model`) against a target.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::Args;
use model::exec::{Dir, Entry, Env};
use model::{Config, ModelError};
use reference_server::fixture;
use runner::TlsMode;

use crate::target::{Resolved, TargetArgs};
use crate::{exit, progress};

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

/// A runtime, the resolved target (it keeps the bundled server running) and the model's
/// view of it.
pub struct Started {
    pub runtime: tokio::runtime::Runtime,
    pub resolved: Resolved,
    pub env: Env,
}

/// Applies `--profile`, starts the runtime and resolves the target; `None` (the reason
/// printed) for a usage error.
pub fn start(target: &mut TargetArgs) -> anyhow::Result<Option<Started>> {
    if let Err(e) = target.apply_profile() {
        eprintln!("conform: {e:#}");
        return Ok(None);
    }
    let target = &*target;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let resolved = match runtime.block_on(target.resolve()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("conform: {e:#}");
            return Ok(None);
        }
    };
    let env = model_env(&runtime, &resolved, target)?;
    Ok(Some(Started {
        runtime,
        resolved,
        env,
    }))
}

/// The model's view of a resolved target: TLS client configuration, limits, login and the
/// capabilities its CAPA announces.
fn model_env(
    runtime: &tokio::runtime::Runtime,
    resolved: &Resolved,
    target: &TargetArgs,
) -> anyhow::Result<Env> {
    let tls = match resolved.target.tls {
        TlsMode::None => None,
        _ => Some(resolved.target.client_config()?),
    };
    let mut env = Env {
        endpoint: runner::client::Endpoint {
            target: resolved.target.clone(),
            tls,
            limits: runner::transport::Limits {
                io_timeout: target.io_timeout(),
                ..Default::default()
            },
            profile: resolved.profile.clone(),
        },
        caps: Default::default(),
    };
    env.caps = runtime.block_on(model::check::discover(&env));
    Ok(env)
}

/// The standard fixture's messages.
pub fn fixture_messages() -> Vec<Vec<u8>> {
    fixture::MESSAGES.iter().map(|m| m.to_vec()).collect()
}

/// Restores the maildrop before each sequence, where the target can be restored.
pub fn reseed_fn(resolved: &Resolved) -> impl Fn() -> Result<(), String> + Sync {
    let reseed = resolved.reseed.clone();
    move || reseed.as_ref().map_or(Ok(()), |r| r())
}

/// Says why a model or fuzz run could not run; its exit code.
pub fn model_error(e: &ModelError, env: &Env) -> u8 {
    match e {
        ModelError::Reseed(_) => {
            eprintln!("conform: {e}");
            exit::USAGE
        }
        ModelError::Inspect(_) => {
            eprintln!("conform: target {}: {e}", env.endpoint.target);
            exit::UNREACHABLE
        }
    }
}

/// The seed given, or one from the clock.
pub fn seed_or_clock(seed: Option<u64>) -> u64 {
    seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    })
}

/// Prints a wire log, one line per entry.
pub fn print_transcript(transcript: &[Entry]) {
    for e in transcript {
        let dir = match e.dir {
            Dir::Client => "C:",
            Dir::Server => "S:",
            Dir::Note => "#:",
        };
        println!("  [{:>7.1?}] {:<5} {dir} {}", e.at, e.conn, e.text);
    }
}

/// Writes a scenario into `dir` as `name`, checks that it compiles, and says where it is.
pub fn write_scenario(dir: &Path, name: &str, text: &str) -> anyhow::Result<Option<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    // the file must be a valid scenario: a writer bug is reported, not hidden
    if let Err(diag) = scenario::load_paths(std::slice::from_ref(&path)) {
        eprintln!(
            "conform: the scenario written to {} does not compile (a bug in conform):\n{diag}",
            path.display()
        );
        return Ok(None);
    }
    Ok(Some(path))
}

pub fn run(mut args: ModelArgs) -> anyhow::Result<u8> {
    let Some(Started {
        runtime,
        resolved,
        env,
    }) = start(&mut args.target)?
    else {
        return Ok(exit::USAGE);
    };
    let seed = seed_or_clock(args.seed);
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
        config.cases, config.max_steps, config.sessions, env.endpoint.target
    );
    if resolved.reseed.is_none() {
        println!(
            "note: no --reseed-cmd: each sequence starts from what the previous one left (QUIT after DELE empties the maildrop over time)"
        );
    }
    let fixture = fixture_messages();
    let reseed_fn = reseed_fn(&resolved);
    let bar = progress::bar(u64::from(config.cases), "sequences");
    let report = match model::check(
        runtime.handle(),
        &env,
        &fixture,
        Some(&reseed_fn),
        &config,
        &|n| {
            // shrinking runs go past the case count
            bar.set_length(bar.length().unwrap_or(0).max(n));
            bar.set_position(n);
        },
    ) {
        Ok(r) => r,
        Err(e) => return Ok(model_error(&e, &env)),
    };
    bar.finish_and_clear();
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
    print_transcript(&failure.outcome.transcript);
    println!("divergence: {d}");
    if let Some(text) = model::replay::scenario(&failure, seed) {
        match write_scenario(&args.out, &format!("model-seed-{seed}.pop3"), &text)? {
            Some(path) => println!(
                "scenario: {} (replay: conform run {} with the same target options)",
                path.display(),
                path.display()
            ),
            None => return Ok(exit::FAILED),
        }
    }
    println!("failed: {summary}");
    Ok(exit::FAILED)
}
