//! Drives proptest: generates sequences ([`crate::ops`]), runs each against the target from a
//! restored and inspected maildrop ([`crate::exec`]), and on a divergence lets proptest shrink
//! the sequence to a minimal one, which is run once more for its transcript and scenario.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::probe::ProbeError;
use pop3_proto::auth::scram;
use pop3_proto::message::to_crlf;
use pop3_proto::multiline::wire_size;
use proptest::strategy::{Strategy as _, ValueTree};
use proptest::test_runner::{
    Config as ProptestConfig, FailurePersistence as _, FileFailurePersistence, PersistedSeed,
};

use crate::exec::{Caps, Env, Outcome, SequenceStep};
use crate::jobs::{case_seed, parallel, runner_for, Account, Digest, Job, Schedule};
use crate::maildrop::{Maildrop, Message};
use crate::ops::{self, Op};

/// How much to explore: sequences, their length and sessions, the seed, shrinking.
#[derive(Debug, Clone)]
pub struct Exploration {
    /// Sequences to generate.
    pub cases: u32,
    /// The seed: the same seed, target and maildrop give the same sequences.
    pub seed: u64,
    /// Steps per sequence, at most.
    pub max_steps: usize,
    /// Clients interleaved on the maildrop (1 or 2).
    pub sessions: u8,
    /// Shrink steps after a failure, at most.
    pub max_shrink_iters: u32,
    /// proptest's failure persistence file (seeds of past failures, replayed first).
    pub regressions: Option<&'static str>,
}

impl Default for Exploration {
    fn default() -> Exploration {
        Exploration {
            cases: 256,
            seed: 0,
            max_steps: 24,
            sessions: 2,
            max_shrink_iters: 4096,
            regressions: None,
        }
    }
}

/// Restores the maildrop before each sequence (`Err` says why it could not).
pub type Reseed<'a> = &'a (dyn Fn() -> Result<(), fixture::ReseedError> + Sync);

/// A failing sequence, shrunk by proptest to a minimal one.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The minimal sequence.
    pub ops: Vec<Op>,
    /// The maildrop it started from.
    pub start: Maildrop,
    /// Its run, once more: transcript, scenario and the divergence (None if the rerun did
    /// not diverge again: the target is not deterministic there).
    pub outcome: Outcome,
    /// proptest's message for the original failure.
    pub reason: String,
}

/// What a model run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// Sequences run (shrink runs included).
    pub sequences: u64,
    /// Commands sent.
    pub commands: u64,
    /// Wall time.
    pub duration: Duration,
    /// The shrunk failure, if any.
    pub failure: Option<Shrunk>,
    /// Jobs that ran sequences at once (one per account).
    pub jobs: usize,
    /// A digest of the sequences generated (in sequence order, up to the first failure): the
    /// same seed gives the same digest, whatever the number of jobs.
    pub digest: u64,
}

impl Report {
    /// Commands per second.
    pub fn rate(&self) -> f64 {
        self.commands as f64 / self.duration.as_secs_f64().max(1e-9)
    }
}

/// Why a model run could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The maildrop could not be restored.
    #[error("restoring the maildrop failed: {0}")]
    Reseed(String),
    /// The target could not be inspected (no login, no LIST).
    #[error("inspecting the maildrop failed: {0}")]
    Inspect(String),
    /// No account to run sequences on.
    #[error("no account to run the sequences on")]
    NoAccount,
    /// A job's async runtime, or its own server, could not be started.
    #[error("starting a job: {0}")]
    Runtime(String),
}

/// The 32-byte ChaCha seed for `seed`.
pub(crate) fn rng_seed(seed: u64) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    // splitmix64 spreads a small seed over the key
    let mut x = seed;
    for chunk in bytes.chunks_mut(8) {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes());
    }
    bytes
}

/// What the target implements (RFC 2449 CAPA, or the client's probes where CAPA is absent
/// or silent): which optional commands the model may use. A target that cannot be probed
/// gets RFC 1939's optional commands assumed.
pub async fn discover(env: &Env) -> Caps {
    match client::probe::capabilities(&env.endpoint, None).await {
        Ok((caps, _)) => Caps {
            user: caps.has("USER"),
            uidl: caps.has("UIDL"),
            top: caps.has("TOP"),
            plain: caps.has("SASL PLAIN"),
            scram: [scram::Mechanism::SHA256, scram::Mechanism::SHA1]
                .into_iter()
                .find(|m| caps.has(&format!("SASL {}", m.name()))),
            stls: caps.has("STLS"),
        },
        Err(_) => Caps::default(),
    }
}

/// The standard fixture as the model compares with it: each message with CRLF line ends and
/// its size, computed once for a whole run (the large message is about 1 MB).
#[derive(Debug, Clone)]
pub struct KnownFixture {
    /// The messages as RETR sends them un-stuffed, CRLF line ends.
    pub messages: Vec<Arc<Vec<u8>>>,
    /// Their sizes in octets (RFC 1939 §5).
    pub sizes: Vec<u64>,
}

impl KnownFixture {
    /// `fixture` (as stored, LF line ends) with its CRLF forms and sizes.
    pub fn new(fixture: &[Vec<u8>]) -> KnownFixture {
        KnownFixture {
            messages: fixture.iter().map(|m| Arc::new(to_crlf(m))).collect(),
            sizes: fixture.iter().map(|m| wire_size(m)).collect(),
        }
    }
}

/// Logs in once and reads LIST: the maildrop the next sequence starts from. Messages whose
/// sizes are the standard fixture's are taken to be it (their contents are then known).
pub async fn inspect(env: &Env, fixture: &[Vec<u8>]) -> Result<Maildrop, InspectError> {
    inspect_known(env, &KnownFixture::new(fixture)).await
}

/// [`inspect`] with the fixture's forms computed once.
pub async fn inspect_known(env: &Env, fixture: &KnownFixture) -> Result<Maildrop, InspectError> {
    // a session of the previous sequence may still be ending on the server (the login is
    // refused while it holds the lock): retry that briefly; a wire error ends it at once
    // (a server may also close a connection it cannot take yet, as Dovecot does while the
    // previous session's process ends: a few tries; a timeout ends it at once)
    let mut closed = 0;
    let mut tries = 0;
    loop {
        let error = match inspect_once(env, fixture).await {
            Ok(m) => return Ok(m),
            Err(e) => e,
        };
        tries += 1;
        let again = match &error {
            InspectError::LoginRefused(_) | InspectError::Probe(ProbeError::Refused(..)) => {
                tries < 40
            }
            InspectError::Probe(e) if e.closed() && closed < 5 => {
                closed += 1;
                true
            }
            _ => false,
        };
        if !again {
            return Err(error);
        }
        tokio::time::sleep(Duration::from_millis(25 * (1 + closed))).await;
    }
}

/// Why the maildrop could not be inspected.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// No login the model knows (USER/PASS, APOP, the announced SCRAM) was accepted: worth another try (the
    /// previous sequence's session may still hold the maildrop).
    #[error("could not log in as {0}")]
    LoginRefused(String),
    /// A probe failed: a refused LIST is worth another try, a closed connection a few, the
    /// rest not.
    #[error("{0}")]
    Probe(#[from] ProbeError),
    /// A scan listing line the model cannot read.
    #[error("a scan listing the model cannot read: {0:?}")]
    Listing(String),
}

async fn inspect_once(env: &Env, fixture: &KnownFixture) -> Result<Maildrop, InspectError> {
    use client::capability::LoginMethod;
    use client::probe::{listing, Probe};
    let endpoint = &env.endpoint;
    let mut p = Probe::open(endpoint).await?;
    let mut logged_in = false;
    let scram = env.caps.scram.map(|m| {
        if m.hash == scram::Hash::Sha256 {
            LoginMethod::ScramSha256
        } else {
            LoginMethod::ScramSha1
        }
    });
    let methods = [Some(LoginMethod::UserPass), Some(LoginMethod::Apop), scram];
    for method in methods.into_iter().flatten() {
        if method == LoginMethod::UserPass && !env.caps.user {
            continue;
        }
        if p.login(endpoint, method).await.is_ok() {
            logged_in = true;
            break;
        }
    }
    if !logged_in {
        p.quit().await;
        return Err(InspectError::LoginRefused(
            env.endpoint.profile.user.clone(),
        ));
    }
    let listed = listing(&mut p).await?;
    let mut sizes = Vec::new();
    for text in &listed {
        let mut fields = text.split(' ');
        let (n, size) = (fields.next(), fields.next());
        match (
            n.and_then(|n| n.parse::<usize>().ok()),
            size.and_then(|s| s.parse::<u64>().ok()),
        ) {
            (Some(n), Some(size)) if n == sizes.len() + 1 => sizes.push(size),
            _ => return Err(InspectError::Listing(text.clone())),
        }
    }
    p.quit().await;
    let is_fixture = sizes == fixture.sizes;
    Ok(Maildrop {
        messages: sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| Message {
                identity: i,
                size,
                uid: None,
                content: is_fixture.then(|| fixture.messages[i].clone()),
                fixture: is_fixture.then_some(i + 1),
            })
            .collect(),
        is_fixture,
    })
}

/// Runs the model: `config.cases` sequences on as many jobs as there are `accounts` (one
/// account each), then shrinks the first failure (by sequence index) on the first account.
/// `progress` is called after each sequence with the number run so far.
///
/// Sequence `i` comes from its own RNG ([`crate::jobs::case_seed`]): the same seed runs the
/// same sequences and finds the same failure, whatever the number of jobs, as long as each
/// sequence starts from a restored maildrop. Without a reseed each starts from what the one
/// before it on the same account left, which depends on the scheduling when there is more
/// than one job.
pub fn check(
    env: &Env,
    accounts: &[Account<'_>],
    fixture: &[Vec<u8>],
    config: &Exploration,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Report, ModelError> {
    let started = Instant::now();
    let known = KnownFixture::new(fixture);
    let mut jobs = Job::for_accounts(env, accounts)?;
    let proptest_config = ProptestConfig {
        max_shrink_iters: config.max_shrink_iters,
        ..ProptestConfig::default()
    };
    let run = Counters::default();
    let count = |outcome: &Outcome| {
        let n = run.sequences.fetch_add(1, Ordering::SeqCst) + 1;
        run.commands.fetch_add(outcome.commands, Ordering::SeqCst);
        progress(n);
    };
    let generate = |seed: &[u8; 32]| -> Result<_, ModelError> {
        ops::sequence(config.sessions, config.max_steps)
            .new_tree(&mut runner_for(seed, proptest_config.clone()))
            .map_err(|e| ModelError::Inspect(e.to_string()))
    };
    let steps = |ops: &[Op]| -> Vec<SequenceStep> {
        ops.iter().copied().map(SequenceStep::Model).collect()
    };
    let mut digest = Digest::new();
    // the seeds of past failures (proptest's persistence file), replayed first, on one job
    let mut failing: Option<([u8; 32], String, bool)> = None;
    for seed in persisted(config.regressions) {
        let ops = generate(&seed)?.current();
        let (_, outcome) = jobs[0].once(&known, &steps(&ops), config.sessions)?;
        count(&outcome);
        if let Some(d) = outcome.divergence {
            failing = Some((seed, d.to_string(), true));
            break;
        }
    }
    let mut sequences = 0;
    if failing.is_none() {
        let schedule = Schedule::new(u64::from(config.cases));
        let results = parallel(&mut jobs, &schedule, &|job, i| {
            let seed = case_seed(config.seed, i);
            let ops = generate(&seed)?.current();
            let (_, outcome) = job.once(&known, &steps(&ops), config.sessions)?;
            let failed = outcome.divergence.as_ref().map(ToString::to_string);
            if failed.is_some() {
                schedule.stop_after(i);
            }
            count(&outcome);
            Ok((format!("{ops:?}"), outcome.commands, failed))
        });
        // in sequence order: the first failure, or the first error, is the run's
        let mut commands = 0;
        for (i, result) in results {
            let (text, n, failed) = result?;
            digest.add(&text);
            sequences += 1;
            commands += n;
            if let Some(reason) = failed {
                failing = Some((case_seed(config.seed, i), reason, false));
                break;
            }
        }
        // what ran after the first failure on other jobs is not part of this run
        run.sequences.store(sequences, Ordering::SeqCst);
        run.commands.store(commands, Ordering::SeqCst);
    }
    let failure = match failing {
        None => None,
        Some((seed, reason, replayed)) => {
            let mut tree = generate(&seed)?;
            let job = &mut jobs[0];
            let mut shrink = |ops: &Vec<Op>| -> Verdict {
                let (_, outcome) = job.once(&known, &steps(ops), config.sessions)?;
                count(&outcome);
                Ok(outcome.divergence.map(|d| d.to_string()))
            };
            let reason =
                shrink_tree(&mut tree, config.max_shrink_iters, &mut shrink)?.unwrap_or(reason);
            let ops = tree.current();
            if let (Some(path), false) = (config.regressions, replayed) {
                save_persisted(path, &seed, &ops);
            }
            let (start, outcome) = job.once(&known, &steps(&ops), config.sessions)?;
            count(&outcome);
            Some(Shrunk {
                ops,
                start,
                outcome,
                reason,
            })
        }
    };
    Ok(Report {
        sequences: run.sequences.load(Ordering::SeqCst),
        commands: run.commands.load(Ordering::SeqCst),
        duration: started.elapsed(),
        failure,
        jobs: jobs.len(),
        digest: digest.value(),
    })
}

/// Sequences and commands run so far, over every job.
#[derive(Default)]
struct Counters {
    sequences: AtomicU64,
    commands: AtomicU64,
}

/// A run's divergence, if any (its text), or why it could not run.
type Verdict = Result<Option<String>, ModelError>;

/// proptest's shrinking loop (`TestRunner::shrink`): simplify while the value still fails,
/// complicate when it passes, at most `max_iters` runs. The reason of the last failure seen,
/// if any; the tree is left at the smallest failing value.
fn shrink_tree<T: ValueTree>(
    tree: &mut T,
    max_iters: u32,
    fails: &mut dyn FnMut(&T::Value) -> Verdict,
) -> Result<Option<String>, ModelError> {
    let mut last_failure = None;
    if max_iters == 0 || !tree.simplify() {
        return Ok(None);
    }
    let mut iterations = 0;
    loop {
        if iterations >= max_iters {
            // back to the most recent failing value
            while tree.complicate() {}
            break;
        }
        iterations += 1;
        match fails(&tree.current())? {
            None => {
                if !tree.complicate() {
                    break;
                }
            }
            Some(why) => {
                last_failure = Some(why);
                if !tree.simplify() {
                    break;
                }
            }
        }
    }
    Ok(last_failure)
}

/// The seeds in proptest's failure persistence file `path` (its `cc HEX` lines), oldest first.
fn persisted(path: Option<&'static str>) -> Vec<[u8; 32]> {
    let Some(path) = path else {
        return Vec::new();
    };
    let mut seeds: Vec<[u8; 32]> = FileFailurePersistence::Direct(path)
        .load_persisted_failures2(None)
        .iter()
        .filter_map(|s| chacha_seed(&s.to_string()))
        .collect();
    // proptest replays them newest first
    seeds.reverse();
    seeds
}

/// The 32 bytes of a persisted ChaCha seed, `cc` and 64 hex digits.
fn chacha_seed(text: &str) -> Option<[u8; 32]> {
    let hex = text.strip_prefix("cc ")?.trim();
    if hex.len() != 64 {
        return None;
    }
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(seed)
}

/// Appends a failing sequence's seed to proptest's failure persistence file.
fn save_persisted(path: &'static str, seed: &[u8; 32], ops: &[Op]) {
    let text: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    if let Ok(seed) = format!("cc {text}").parse::<PersistedSeed>() {
        FileFailurePersistence::Direct(path).save_persisted_failure2(None, seed, &ops);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_and_repeat() {
        assert_eq!(rng_seed(1), rng_seed(1));
        assert_ne!(rng_seed(1), rng_seed(2));
        assert_ne!(rng_seed(0), [0; 32]);
    }
}
