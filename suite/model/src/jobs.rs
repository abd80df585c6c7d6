//! Running sequences in parallel, one job per account, deterministically.
//!
//! Each job has an account of its own (its login, its maildrop, its reseed: two jobs on one
//! maildrop would see each other's deletions and locks, which the model does not predict),
//! its own OS thread and its own single-threaded tokio runtime, so that a job's replies wake
//! the thread that waits for them and nothing else.
//!
//! Determinism does not depend on timing: sequence `i` is generated from its own RNG,
//! [`case_seed`]`(seed, i)`, never from a stream shared in scheduling order; the jobs take
//! sequence indices from one counter and the results are put back in index order. Whatever
//! the number of jobs, the same seed runs the same sequences and reports the same findings.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, TestRng, TestRunner};

use crate::check::{inspect_known, rng_seed, KnownFixture, ModelError, Reseed};
use crate::exec::{Env, Outcome, SequenceStep};
use crate::maildrop::Maildrop;

/// What a job's sequences connect to, started on the job's own runtime: the port, and what
/// keeps it running (dropped with the job).
pub type Hosted = (u16, Box<dyn Send>);

/// Starts a server for one job on the job's runtime (see [`Account::host`]).
pub type Host<'a> = &'a (dyn Fn() -> Pin<Box<dyn Future<Output = Result<Hosted, String>>>> + Sync);

/// An account the model runs sequences on: one per job.
#[derive(Clone)]
pub struct Account<'a> {
    /// The login.
    pub profile: client::Profile,
    /// Restores this account's maildrop before each sequence (`None`: each sequence starts
    /// from what the previous one left).
    pub reseed: Option<Reseed<'a>>,
    /// The reseed puts the very same maildrop in place every time (the bundled server's
    /// in-memory store, restored from the built-in fixture): the maildrop is then inspected
    /// after the first reseed only, and every later sequence starts from that inspection,
    /// which is what inspecting again would give. A `--reseed-cmd` is not taken to be exact:
    /// its maildrop is inspected before every sequence.
    pub exact_reseed: bool,
    /// An in-process server of the job's own (the bundled server: another listener on the
    /// same store and configuration), started on the job's runtime and thread so that a
    /// command and its answer never wait for another thread to be woken; the job connects
    /// to its port instead of the target's. `None`: the target.
    pub host: Option<Host<'a>>,
}

impl std::fmt::Debug for Account<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("user", &self.profile.user)
            .field("reseed", &self.reseed.is_some())
            .field("exact_reseed", &self.exact_reseed)
            .field("host", &self.host.is_some())
            .finish()
    }
}

/// The 32-byte seed of sequence `index` of a run with `seed`: a function of both and of
/// nothing else (in particular not of which job runs it, or when).
pub fn case_seed(seed: u64, index: u64) -> [u8; 32] {
    let mut key = rng_seed(seed);
    // a second, independent stream for the index (offset so that index 0 is not seed 0)
    let salt = rng_seed(index ^ 0xC0FF_EE00_5EED_0001);
    for (k, s) in key.iter_mut().zip(salt) {
        *k ^= s;
    }
    key
}

/// A proptest runner whose RNG is `seed` (a [`case_seed`], or a persisted one).
pub(crate) fn runner_for(seed: &[u8; 32], config: ProptestConfig) -> TestRunner {
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, seed))
}

/// FNV-1a over the sequences' debug text, in index order: the same sequences give the same
/// digest on every platform and every run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Digest(u64);

impl Digest {
    pub(crate) fn new() -> Digest {
        Digest(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn add(&mut self, sequence: &str) {
        for b in sequence.bytes().chain([b'\n']) {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub(crate) fn value(self) -> u64 {
        self.0
    }
}

/// One job: an account, the model's view of the target with that login, a runtime.
pub(crate) struct Job<'a> {
    pub(crate) env: Env,
    reseed: Option<Reseed<'a>>,
    exact_reseed: bool,
    /// The inspection after the first reseed, when the reseed is exact.
    start: Option<Maildrop>,
    /// The job's own server, if it has one (dropped before the runtime).
    _hosted: Option<Box<dyn Send>>,
    pub(crate) rt: tokio::runtime::Runtime,
}

impl<'a> Job<'a> {
    /// One job per account, each with `env`'s target and that account's login.
    pub(crate) fn for_accounts(
        env: &Env,
        accounts: &[Account<'a>],
    ) -> Result<Vec<Job<'a>>, ModelError> {
        if accounts.is_empty() {
            return Err(ModelError::NoAccount);
        }
        accounts
            .iter()
            .map(|a| {
                let mut env = env.clone();
                env.endpoint.profile = a.profile.clone();
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| ModelError::Runtime(e.to_string()))?;
                let hosted = match a.host {
                    Some(host) => {
                        let (port, guard) = rt.block_on(host()).map_err(ModelError::Runtime)?;
                        env.endpoint.target.port = port;
                        Some(guard)
                    }
                    None => None,
                };
                Ok(Job {
                    env,
                    reseed: a.reseed,
                    exact_reseed: a.exact_reseed,
                    start: None,
                    _hosted: hosted,
                    rt,
                })
            })
            .collect()
    }

    /// Restores (when it can) and inspects the maildrop: where the next sequence starts.
    pub(crate) fn start(&mut self, fixture: &KnownFixture) -> Result<Maildrop, ModelError> {
        if let Some(reseed) = self.reseed {
            reseed().map_err(|e| ModelError::Reseed(e.to_string()))?;
        }
        if let Some(start) = &self.start {
            return Ok(start.clone());
        }
        let start = self
            .rt
            .block_on(inspect_known(&self.env, fixture))
            .map_err(|e| ModelError::Inspect(e.to_string()))?;
        if self.reseed.is_some() && self.exact_reseed {
            self.start = Some(start.clone());
        }
        Ok(start)
    }

    /// Restores and inspects the maildrop, then runs `steps` on `sessions` clients.
    pub(crate) fn once(
        &mut self,
        fixture: &KnownFixture,
        steps: &[SequenceStep],
        sessions: u8,
    ) -> Result<(Maildrop, Outcome), ModelError> {
        let start = self.start(fixture)?;
        let outcome = self
            .rt
            .block_on(crate::exec::run_steps(&self.env, &start, steps, sessions));
        Ok((start, outcome))
    }
}

/// Hands out sequence indices to the jobs: `0, 1, 2, ...` until [`Schedule::stop_after`]
/// or the end.
pub(crate) struct Schedule {
    next: AtomicU64,
    /// No index from this one on is handed out.
    end: AtomicU64,
}

impl Schedule {
    /// Indices `0..end`.
    pub(crate) fn new(end: u64) -> Schedule {
        Schedule {
            next: AtomicU64::new(0),
            end: AtomicU64::new(end),
        }
    }

    /// The next index, if any is left.
    fn take(&self) -> Option<u64> {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        (i < self.end.load(Ordering::SeqCst)).then_some(i)
    }

    /// Hands out no index above `index` from now on (those already running finish).
    pub(crate) fn stop_after(&self, index: u64) {
        self.end
            .fetch_min(index.saturating_add(1), Ordering::SeqCst);
    }

    /// Hands out nothing more.
    pub(crate) fn stop(&self) {
        self.end.store(0, Ordering::SeqCst);
    }
}

/// Runs `work` for each index the schedule hands out, on every job at once (a thread each),
/// and returns the results in index order. A job whose `work` fails stops the schedule at
/// that index (the indices below it still run, so that the lowest failing one is known).
pub(crate) fn parallel<'a, T: Send>(
    jobs: &mut [Job<'a>],
    schedule: &Schedule,
    work: &(dyn Fn(&mut Job<'a>, u64) -> Result<T, ModelError> + Sync),
) -> Vec<(u64, Result<T, ModelError>)> {
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for job in jobs.iter_mut() {
            let results = &results;
            s.spawn(move || {
                while let Some(i) = schedule.take() {
                    let r = work(job, i);
                    let failed = r.is_err();
                    results.lock().expect("results").push((i, r));
                    if failed {
                        schedule.stop_after(i);
                        break;
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().expect("results");
    results.sort_by_key(|(i, _)| *i);
    results
}

/// Runs `work` once for each item, spread over the jobs (item `k` on job `k % jobs`), and
/// returns the results in item order.
pub(crate) fn spread<'a, I: Sync, T: Send>(
    jobs: &mut [Job<'a>],
    items: &[I],
    work: &(dyn Fn(&mut Job<'a>, &I) -> T + Sync),
) -> Vec<T> {
    let n = jobs.len().max(1);
    let results: Vec<Mutex<Option<T>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for (j, job) in jobs.iter_mut().enumerate() {
            let results = &results;
            s.spawn(move || {
                for (k, item) in items.iter().enumerate().skip(j).step_by(n) {
                    let r = work(job, item);
                    *results[k].lock().expect("result") = Some(r);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| m.into_inner().expect("result").expect("every item ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_seeds_depend_on_seed_and_index_only() {
        assert_eq!(case_seed(7, 3), case_seed(7, 3));
        assert_ne!(case_seed(7, 3), case_seed(7, 4));
        assert_ne!(case_seed(7, 3), case_seed(8, 3));
        assert_ne!(case_seed(0, 0), rng_seed(0));
    }

    #[test]
    fn the_schedule_stops_after_a_failure_but_finishes_below_it() {
        let s = Schedule::new(10);
        assert_eq!((s.take(), s.take(), s.take()), (Some(0), Some(1), Some(2)));
        s.stop_after(1);
        assert_eq!(s.take(), None);
        let s = Schedule::new(2);
        assert_eq!((s.take(), s.take(), s.take()), (Some(0), Some(1), None));
        let s = Schedule::new(5);
        s.stop();
        assert_eq!(s.take(), None);
        assert_eq!(Schedule::new(0).take(), None);
    }

    #[test]
    fn digests_follow_the_sequences() {
        let digest = |seqs: &[&str]| {
            let mut d = Digest::new();
            seqs.iter().for_each(|s| d.add(s));
            d.value()
        };
        assert_eq!(digest(&["a", "b"]), digest(&["a", "b"]));
        assert_ne!(digest(&["a", "b"]), digest(&["b", "a"]));
        assert_ne!(digest(&["ab"]), digest(&["a", "b"]));
    }
}
