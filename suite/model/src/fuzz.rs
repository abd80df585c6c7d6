//! The network fuzzer behind `conform fuzz`: structure-aware sequences (model commands that
//! reach TRANSACTION and move through it, mixed with hostile steps, [`crate::hostile`]) run
//! against the target until a deadline; every answer is judged (the model's prediction for
//! model commands; framing, size and liveness for hostile ones). A finding is shrunk (while
//! time remains) and kept with its transcript and scenario.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::Config as ProptestConfig;

use crate::check::KnownFixture;
use crate::exec::{Env, Outcome, SequenceStep};
use crate::hostile::hostile;
use crate::jobs::{case_seed, parallel, runner_for, spread, Account, Digest, Job, Schedule};
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
    /// Stop after this many sequences (the findings then do not depend on the machine's
    /// speed), if the duration has not run out first.
    pub sequences: Option<u64>,
}

impl Default for FuzzConfig {
    fn default() -> FuzzConfig {
        FuzzConfig {
            duration: Duration::from_secs(60),
            seed: 0,
            max_steps: 16,
            sessions: 1,
            max_findings: 10,
            sequences: None,
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
    /// Distinct findings, in the order of the sequences that found them.
    pub findings: Vec<Finding>,
    /// Jobs that ran sequences at once (one per account).
    pub jobs: usize,
    /// A digest of the sequences generated, in sequence order (shrink runs left out).
    pub digest: u64,
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

/// What a sequence of the parallel phase gave.
struct Ran {
    /// The sequence, as text (for the digest).
    text: String,
    /// Its commands and connections.
    commands: u64,
    connections: u64,
    /// Its divergence's signature, with the sequence, its start and its run, when it is the
    /// first of that signature seen so far.
    found: Option<(String, Vec<SequenceStep>, Maildrop, Outcome)>,
}

/// Fuzzes the target until `config.duration` has passed, `config.sequences` have run or
/// enough findings are in, on as many jobs as there are `accounts` (one account each); then
/// shrinks each finding on a job of its own. `progress` gets the sequences run and the
/// distinct findings so far.
///
/// Sequence `i` comes from its own RNG ([`crate::jobs::case_seed`]) and the findings are
/// taken in sequence order: bounded by `config.sequences` rather than by time, the same seed
/// gives the same sequences and the same findings whatever the number of jobs.
pub fn fuzz(
    env: &Env,
    accounts: &[Account<'_>],
    fixture: &[Vec<u8>],
    config: &FuzzConfig,
    progress: &(dyn Fn(u64, usize) + Sync),
) -> Result<FuzzReport, ModelError> {
    let started = Instant::now();
    let deadline = started + config.duration;
    let shrink_deadline = deadline + config.duration / 4;
    let known = KnownFixture::new(fixture);
    let mut jobs = Job::for_accounts(env, accounts)?;
    let max_findings = config.max_findings.max(1);
    let generate = |seed: &[u8; 32]| {
        sequence(config.sessions, config.max_steps)
            .new_tree(&mut runner_for(seed, ProptestConfig::default()))
            .map_err(|e| ModelError::Inspect(e.to_string()))
    };
    let schedule = Schedule::new(config.sequences.unwrap_or(u64::MAX));
    let ran = AtomicU64::new(0);
    // each signature with the lowest sequence index that gave it so far
    let first: Mutex<HashMap<String, u64>> = Mutex::new(HashMap::new());
    let results = parallel(&mut jobs, &schedule, &|job, i| {
        if Instant::now() >= deadline {
            schedule.stop();
            return Ok(None);
        }
        let steps = generate(&case_seed(config.seed, i))?.current();
        let (start, outcome) = job.once(&known, &steps, config.sessions)?;
        let found = signature(&outcome).and_then(|sig| {
            let mut first = first.lock().expect("signatures");
            let earlier = first.get(&sig).is_some_and(|&j| j < i);
            if !earlier {
                first.insert(sig.clone(), i);
            }
            if first.len() >= max_findings {
                schedule.stop();
            }
            (!earlier).then_some(sig)
        });
        let n = ran.fetch_add(1, Ordering::SeqCst) + 1;
        progress(n, first.lock().expect("signatures").len());
        Ok(Some(Ran {
            text: format!("{steps:?}"),
            commands: outcome.commands,
            connections: outcome.connections as u64,
            found: found.map(|sig| (sig, steps, start, outcome)),
        }))
    });
    // in sequence order, as one job would have found them
    let mut report = FuzzReport {
        jobs: jobs.len(),
        ..FuzzReport::default()
    };
    let mut digest = Digest::new();
    let mut found = Vec::new();
    let mut seen = Vec::new();
    for (i, result) in results {
        let Some(r) = result? else { continue };
        digest.add(&r.text);
        report.sequences += 1;
        report.commands += r.commands;
        report.sessions += r.connections;
        if let Some((sig, steps, start, outcome)) = r.found {
            if !seen.contains(&sig) {
                seen.push(sig.clone());
                found.push((i, sig, steps, start, outcome));
                if found.len() >= max_findings {
                    break;
                }
            }
        }
    }
    report.digest = digest.value();
    // each finding shrunk on a job of its own
    let shrunk = spread(
        &mut jobs,
        &found,
        &|job, (i, sig, steps, start, outcome)| {
            shrink(
                job,
                &known,
                config,
                shrink_deadline,
                generate(&case_seed(config.seed, *i)),
                sig,
                (steps.clone(), start.clone(), outcome.clone()),
            )
        },
    );
    for s in shrunk {
        let (finding, tally) = s?;
        report.sequences += tally.sequences;
        report.commands += tally.commands;
        report.sessions += tally.sessions;
        report.findings.push(finding);
    }
    report.duration = started.elapsed();
    Ok(report)
}

/// What shrinking ran.
#[derive(Debug, Default)]
struct Tally {
    sequences: u64,
    commands: u64,
    sessions: u64,
}

/// Shrinks one finding: simplify while it still fails the same way, back off when it does
/// not, until `until` or 2048 runs.
fn shrink<T: ValueTree<Value = Vec<SequenceStep>>>(
    job: &mut Job<'_>,
    known: &KnownFixture,
    config: &FuzzConfig,
    until: Instant,
    tree: Result<T, ModelError>,
    sig: &str,
    found: (Vec<SequenceStep>, Maildrop, Outcome),
) -> Result<(Finding, Tally), ModelError> {
    let mut tree = tree?;
    let mut tally = Tally::default();
    let mut best = found;
    let mut shrinks = 0u32;
    while Instant::now() < until && shrinks < 2048 && tree.simplify() {
        loop {
            shrinks += 1;
            let (start, o) = job.once(known, &tree.current(), config.sessions)?;
            tally.sequences += 1;
            tally.commands += o.commands;
            tally.sessions += o.connections as u64;
            if signature(&o).as_deref() == Some(sig) {
                best = (tree.current(), start, o);
                break;
            }
            if Instant::now() >= until || !tree.complicate() {
                break;
            }
        }
    }
    Ok((
        Finding {
            steps: best.0,
            start: best.1,
            outcome: best.2,
        },
        tally,
    ))
}
