//! Drives proptest: generates sequences ([`crate::ops`]), runs each against the target from a
//! restored and inspected maildrop ([`crate::exec`]), and on a divergence lets proptest shrink
//! the sequence to a minimal one, which is run once more for its transcript and scenario.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::probe::ProbeError;
use pop3_proto::message::to_crlf;
use pop3_proto::multiline::wire_size;
use proptest::strategy::Strategy as _;
use proptest::test_runner::{
    Config as ProptestConfig, FileFailurePersistence, RngAlgorithm, TestCaseError, TestError,
    TestRng, TestRunner,
};
use tokio::runtime::Handle;

use crate::exec::{self, Caps, Env, Outcome};
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
            stls: caps.has("STLS"),
        },
        Err(_) => Caps::default(),
    }
}

/// Logs in once and reads LIST: the maildrop the next sequence starts from. Messages whose
/// sizes are the standard fixture's are taken to be it (their contents are then known).
pub async fn inspect(env: &Env, fixture: &[Vec<u8>]) -> Result<Maildrop, InspectError> {
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
    /// No login the model knows (USER/PASS, APOP) was accepted: worth another try (the
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

async fn inspect_once(env: &Env, fixture: &[Vec<u8>]) -> Result<Maildrop, InspectError> {
    use client::capability::LoginMethod;
    use client::probe::{listing, Probe};
    let endpoint = &env.endpoint;
    let mut p = Probe::open(endpoint).await?;
    let mut logged_in = false;
    for method in [LoginMethod::UserPass, LoginMethod::Apop] {
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
    let is_fixture =
        sizes.len() == fixture.len() && sizes.iter().zip(fixture).all(|(&s, m)| s == wire_size(m));
    Ok(Maildrop {
        messages: sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| Message {
                identity: i,
                size,
                uid: None,
                content: is_fixture.then(|| Arc::new(to_crlf(&fixture[i]))),
                fixture: is_fixture.then_some(i + 1),
            })
            .collect(),
        is_fixture,
    })
}

/// Restores (when it can) and inspects the maildrop, then runs `ops`.
fn once(
    rt: &Handle,
    env: &Env,
    fixture: &[Vec<u8>],
    reseed: Option<Reseed<'_>>,
    ops: &[Op],
    sessions: u8,
) -> Result<(Maildrop, Outcome), ModelError> {
    if let Some(reseed) = reseed {
        reseed().map_err(|e| ModelError::Reseed(e.to_string()))?;
    }
    let start = rt
        .block_on(inspect(env, fixture))
        .map_err(|e| ModelError::Inspect(e.to_string()))?;
    let outcome = rt.block_on(exec::run(env, &start, ops, sessions));
    Ok((start, outcome))
}

/// Runs the model: `config.cases` sequences, shrinking the first failure. `progress` is
/// called after each sequence with the number run so far.
pub fn check(
    rt: &Handle,
    env: &Env,
    fixture: &[Vec<u8>],
    reseed: Option<Reseed<'_>>,
    config: &Exploration,
    progress: &dyn Fn(u64),
) -> Result<Report, ModelError> {
    let started = Instant::now();
    let proptest_config = ProptestConfig {
        cases: config.cases,
        max_shrink_iters: config.max_shrink_iters,
        failure_persistence: config
            .regressions
            .map(|p| Box::new(FileFailurePersistence::Direct(p)) as Box<_>),
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new_with_rng(
        proptest_config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &rng_seed(config.seed)),
    );
    let sequences = Cell::new(0u64);
    let commands = Cell::new(0u64);
    let fatal: RefCell<Option<ModelError>> = RefCell::new(None);
    let strategy = ops::sequence(config.sessions, config.max_steps).boxed();
    let result = runner.run(&strategy, |ops| {
        if fatal.borrow().is_some() {
            return Ok(());
        }
        match once(rt, env, fixture, reseed, &ops, config.sessions) {
            Ok((_, outcome)) => {
                sequences.set(sequences.get() + 1);
                commands.set(commands.get() + outcome.commands);
                progress(sequences.get());
                match outcome.divergence {
                    Some(d) => Err(TestCaseError::fail(d.to_string())),
                    None => Ok(()),
                }
            }
            Err(e) => {
                *fatal.borrow_mut() = Some(e);
                Ok(())
            }
        }
    });
    if let Some(e) = fatal.into_inner() {
        return Err(e);
    }
    let failure = match result {
        Ok(()) => None,
        Err(TestError::Fail(reason, ops)) => {
            let (start, outcome) = once(rt, env, fixture, reseed, &ops, config.sessions)?;
            commands.set(commands.get() + outcome.commands);
            Some(Shrunk {
                ops,
                start,
                outcome,
                reason: reason.to_string(),
            })
        }
        Err(TestError::Abort(reason)) => return Err(ModelError::Inspect(reason.to_string())),
    };
    Ok(Report {
        sequences: sequences.get(),
        commands: commands.get(),
        duration: started.elapsed(),
        failure,
    })
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
