//! The network fuzzer behind `conform fuzz`: structure-aware sequences (model commands that
//! reach TRANSACTION and move through it, mixed with hostile steps, [`crate::hostile`]) run
//! against the target until a deadline; every answer is judged (the model's prediction for
//! model commands; framing, size and liveness for hostile ones). A finding is shrunk (while
//! time remains) and kept with its transcript and scenario.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, TestRng, TestRunner};
use tokio::runtime::Handle;

use crate::check::{inspect, rng_seed, Reseed};
use crate::exec::{self, Env, Outcome, SequenceStep};
use crate::hostile::hostile;
use crate::maildrop::Maildrop;
use crate::ModelError;

/// How long and how widely to fuzz.
#[derive(Debug, Clone)]
pub struct FuzzConfig {
    /// Stop generating after this long (shrinking a finding may add up to a quarter of it).
    pub duration: Duration,
    /// The seed.
    pub seed: u64,
    /// Steps per sequence, at most.
    pub max_steps: usize,
    /// Clients interleaved (1 or 2); hostile steps go to the first.
    pub sessions: u8,
    /// Stop after this many distinct findings.
    pub max_findings: usize,
}

impl Default for FuzzConfig {
    fn default() -> FuzzConfig {
        FuzzConfig {
            duration: Duration::from_secs(60),
            seed: 0,
            max_steps: 16,
            sessions: 1,
            max_findings: 10,
        }
    }
}

/// One finding, shrunk.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The (shrunk) sequence.
    pub steps: Vec<SequenceStep>,
    /// The maildrop it started from.
    pub start: Maildrop,
    /// Its last run: divergence, transcript, scenario.
    pub outcome: Outcome,
}

/// What a fuzzing run did.
#[derive(Debug, Clone, Default)]
pub struct FuzzReport {
    /// Sequences run.
    pub sequences: u64,
    /// Connections opened.
    pub sessions: u64,
    /// Commands sent.
    pub commands: u64,
    /// Wall time.
    pub duration: Duration,
    /// Distinct findings.
    pub findings: Vec<Finding>,
}

impl FuzzReport {
    /// Commands per second.
    pub fn rate(&self) -> f64 {
        self.commands as f64 / self.duration.as_secs_f64().max(1e-9)
    }
}

/// Sequences of model and hostile steps.
pub fn sequence(sessions: u8, max_steps: usize) -> impl Strategy<Value = Vec<SequenceStep>> {
    let step = prop_oneof![
        5 => crate::ops::op(sessions).prop_map(SequenceStep::Model),
        2 => hostile().prop_map(SequenceStep::Hostile),
    ];
    proptest::collection::vec(step, 1..=max_steps.max(1))
}

/// A finding's identity, so one bug is reported once: the rule and what was expected.
fn signature(o: &Outcome) -> Option<String> {
    o.divergence
        .as_ref()
        .map(|d| format!("{} | {}", d.rule.quote, d.expected))
}

/// Fuzzes the target until `config.duration` has passed or enough findings are in.
pub fn fuzz(
    rt: &Handle,
    env: &Env,
    fixture: &[Vec<u8>],
    reseed: Option<Reseed<'_>>,
    config: &FuzzConfig,
    progress: &dyn Fn(&FuzzReport),
) -> Result<FuzzReport, ModelError> {
    let started = Instant::now();
    let deadline = started + config.duration;
    let shrink_deadline = deadline + config.duration / 4;
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &rng_seed(config.seed)),
    );
    let strategy = sequence(config.sessions, config.max_steps);
    let mut report = FuzzReport::default();
    let count = |report: &mut FuzzReport, o: &Outcome| {
        report.sequences += 1;
        report.commands += o.commands;
        report.sessions += o.connections as u64;
    };
    let run_once = |steps: &[SequenceStep]| -> Result<(Maildrop, Outcome), ModelError> {
        if let Some(reseed) = reseed {
            reseed().map_err(|e| ModelError::Reseed(e.to_string()))?;
        }
        let start = rt
            .block_on(inspect(env, fixture))
            .map_err(|e| ModelError::Inspect(e.to_string()))?;
        let outcome = rt.block_on(exec::run_steps(env, &start, steps, config.sessions));
        Ok((start, outcome))
    };
    let mut seen = Vec::new();
    while Instant::now() < deadline && report.findings.len() < config.max_findings {
        let mut tree = strategy
            .new_tree(&mut runner)
            .map_err(|e| ModelError::Inspect(e.to_string()))?;
        let (start, outcome) = run_once(&tree.current())?;
        count(&mut report, &outcome);
        progress(&report);
        let Some(sig) = signature(&outcome) else {
            continue;
        };
        if seen.contains(&sig) {
            continue;
        }
        // shrink: simplify while it still fails the same way, back off when it does not
        let mut best = (tree.current(), start, outcome);
        let mut shrinks = 0u32;
        while Instant::now() < shrink_deadline && shrinks < 2048 && tree.simplify() {
            loop {
                shrinks += 1;
                let (start, o) = run_once(&tree.current())?;
                count(&mut report, &o);
                if signature(&o).as_ref() == Some(&sig) {
                    best = (tree.current(), start, o);
                    break;
                }
                if Instant::now() >= shrink_deadline || !tree.complicate() {
                    break;
                }
            }
        }
        seen.push(sig);
        report.findings.push(Finding {
            steps: best.0,
            start: best.1,
            outcome: best.2,
        });
        progress(&report);
    }
    report.duration = started.elapsed();
    Ok(report)
}
