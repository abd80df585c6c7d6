//! Load measurements of a POP3 server, for `conform bench`: how many sessions per second it
//! serves, how fast it sends its largest message, with latency percentiles, every failure
//! counted by kind, and lock contention apart.
//!
//! A [`Side`] (one server, its accounts) is first [`prepare`]d: one preflight session per
//! account finds the login method (when none is given), checks that each account logs in
//! and finds its largest message with `LIST` (RFC 1939 §5). A target that cannot be reached
//! or logged in to fails here, in bounded time ([`BenchError::is_target_failure`]). Then
//! each phase runs `concurrency` workers for its duration (after an unmeasured warm-up):
//!
//! - [`Prepared::sessions`]: connect (+ TLS per the target's mode), greeting, login, `STAT`,
//!   `QUIT`, again and again; one latency per session.
//! - [`Prepared::retr`]: one logged-in session per worker sending `RETR` of the largest
//!   message again and again; one latency per message, and the octets.
//!
//! **Accounts and the maildrop lock.** Worker `i` logs in as account `i mod n`. A POP3 server
//! locks the maildrop for the whole session (RFC 1939 §4: "the POP3 server then acquires an
//! exclusive-access lock on the maildrop"), so workers that share an account wait for each
//! other, and a login that finds the lock taken may be answered `-ERR [IN-USE]` (RFC 2449
//! §8.1.1, RFC 3206). Such logins are counted as *lock contention*, neither sessions nor
//! failures. Give one account per worker to measure the server rather than its lock.
//!
//! **A target that stops answering.** When `3 × concurrency` attempts in a row (at least 3)
//! could not make a session at all (connect, TLS or greeting failed), the phase stops and
//! the bench ends with [`BenchError::Stopped`]. Every read and write has the transport's
//! deadline (`io_timeout`), and a phase waits at most `io_timeout` + 1 s past its end for
//! its workers, so the bench ends in bounded time whatever the target does.
//!
//! All wire traffic goes through the shared client ([`client::probe::Probe`], the login
//! procedure) and the codec ([`pop3_proto::Command`], [`pop3_proto::StatusLine`]).

// every dependency is used (unit-test builds also see the dev-dependencies of other targets)
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod session;
pub mod stats;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client::probe::{self, ProbeError};
use client::target::TargetError;
use client::transport::IoLimits;
use client::{Endpoint, LoginMethod, Profile, Target, TlsMode};
use serde::Serialize;

use crate::session::{Failure, Miss, Retriever};
use crate::stats::{Errors, Percentiles, Tally};

/// After `-ERR [IN-USE]`, a worker waits this long before it tries again, so that workers
/// sharing an account do not hammer the server while one of them holds the lock.
const IN_USE_PAUSE: Duration = Duration::from_millis(2);

/// One server to measure.
#[derive(Debug, Clone)]
pub struct Side {
    /// How the reports name it (`target`, `against`, `bundled`).
    pub label: String,
    /// Where and how to connect (TLS mode and trust).
    pub target: Target,
    /// The accounts, used round-robin by the workers (one per worker is best: the lock).
    pub accounts: Vec<Profile>,
    /// The login method; `None`: the first of [`LoginMethod::ORDER`] that works, found by
    /// the capability probes (`client::probe::capabilities`).
    pub login: Option<LoginMethod>,
}

/// How long and how hard.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Workers at once.
    pub concurrency: usize,
    /// The measured time of each phase.
    pub duration: Duration,
    /// Unmeasured load before each phase (connections warmed, caches filled).
    pub warmup: Duration,
    /// The deadline of each connect, handshake, write and answer line (the transport's
    /// [`IoLimits::io_timeout`]).
    pub io_timeout: Duration,
}

/// Why a bench could not measure.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The side has no account.
    #[error("{label}: no account to log in with")]
    NoAccounts {
        /// The side.
        label: String,
    },
    /// The TLS client configuration could not be made (a CA file, the server name).
    #[error("{label}: {source}")]
    Tls {
        /// The side.
        label: String,
        /// Why.
        source: TargetError,
    },
    /// The preflight session failed: the target is unreachable, TLS failed, or the account
    /// could not log in.
    #[error("{label} ({target}): {what}: {source}")]
    Preflight {
        /// The side.
        label: String,
        /// The target.
        target: String,
        /// What was being done (`connect and log in as alice`).
        what: String,
        /// What went wrong.
        source: ProbeError,
    },
    /// No login method worked in the preflight.
    #[error("{label} ({target}): no login method works for {user} (tried {tried}); give --login")]
    NoLogin {
        /// The side.
        label: String,
        /// The target.
        target: String,
        /// The account.
        user: String,
        /// What the probes tried and saw.
        tried: String,
    },
    /// The target stopped answering during a phase.
    #[error("{label} ({target}) stopped answering in the {phase} phase: {failures} attempts in a row made no session (last: {last})")]
    Stopped {
        /// The side.
        label: String,
        /// The target.
        target: String,
        /// `sessions` or `retr`.
        phase: &'static str,
        /// Attempts in a row that failed.
        failures: u64,
        /// The last failure's message.
        last: String,
    },
}

impl BenchError {
    /// Whether the target is at fault (unreachable, TLS, login, stopped answering), rather
    /// than the bench's configuration.
    pub fn is_target_failure(&self) -> bool {
        matches!(
            self,
            BenchError::Preflight { .. } | BenchError::NoLogin { .. } | BenchError::Stopped { .. }
        )
    }
}

/// The largest message of an account's maildrop, as `LIST` gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Largest {
    /// Its message number.
    pub number: u32,
    /// Its size in octets (RFC 1939 §5: the exact size).
    pub octets: u64,
}

/// A side that passed its preflight: ready to measure.
#[derive(Debug)]
pub struct Prepared {
    side: Side,
    endpoints: Vec<Endpoint>,
    method: LoginMethod,
    largest: Vec<Option<Largest>>,
}

/// Checks `side` with one preflight session per account (see the crate's documentation).
pub async fn prepare(side: Side, io_timeout: Duration) -> Result<Prepared, BenchError> {
    if side.accounts.is_empty() {
        return Err(BenchError::NoAccounts { label: side.label });
    }
    let tls = match side.target.tls {
        TlsMode::None => None,
        _ => Some(
            side.target
                .client_config()
                .map_err(|source| BenchError::Tls {
                    label: side.label.clone(),
                    source,
                })?,
        ),
    };
    let limits = IoLimits {
        io_timeout,
        // a session may RETR a large message many times: the per-connection cap of a
        // conformance run (64 MiB) would end it; the client keeps none of what it reads
        max_bytes: usize::MAX,
        ..IoLimits::default()
    };
    let endpoints: Vec<Endpoint> = side
        .accounts
        .iter()
        .map(|profile| Endpoint {
            target: side.target.clone(),
            tls: tls.clone(),
            limits,
            profile: profile.clone(),
        })
        .collect();
    let failed = |what: String, source: ProbeError| BenchError::Preflight {
        label: side.label.clone(),
        target: side.target.to_string(),
        what,
        source,
    };
    let first = &endpoints[0];
    let method = match side.login {
        Some(m) => m,
        None => {
            let what = format!("connect and find how {} logs in", first.profile.user);
            let (caps, _) = probe::capabilities(first, None)
                .await
                .map_err(|e| failed(what, e))?;
            caps.login.ok_or_else(|| BenchError::NoLogin {
                label: side.label.clone(),
                target: side.target.to_string(),
                user: first.profile.user.clone(),
                tried: caps.describe().join("; "),
            })?
        }
    };
    let mut largest = Vec::with_capacity(endpoints.len());
    for env in &endpoints {
        let what = || format!("connect and log in as {} with {method}", env.profile.user);
        let mut p = probe::open_logged_in(env, method)
            .await
            .map_err(|e| failed(what(), e))?;
        let listing = probe::listing(&mut p).await;
        p.quit().await;
        let listing = listing.map_err(|e| failed(format!("LIST as {}", env.profile.user), e))?;
        largest.push(largest_of(&listing));
    }
    Ok(Prepared {
        side,
        endpoints,
        method,
        largest,
    })
}

/// The largest message of a scan listing (`n size` lines; the first of equal sizes).
fn largest_of(listing: &[String]) -> Option<Largest> {
    let mut best: Option<Largest> = None;
    for line in listing {
        let mut words = line.split(' ');
        let number = words.next().and_then(|n| n.parse().ok());
        let octets = words.next().and_then(|n| n.parse().ok());
        if let (Some(number), Some(octets)) = (number, octets) {
            if best.is_none_or(|b| octets > b.octets) {
                best = Some(Largest { number, octets });
            }
        }
    }
    best
}

/// One phase's results.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// Completed operations: sessions, or messages retrieved.
    pub completed: u64,
    /// The measured time: from the phase's start to the end of the last measured operation
    /// (at least the phase's duration).
    pub elapsed_secs: f64,
    /// Completed operations per second (sessions/s, or messages/s).
    pub per_second: f64,
    /// Latency percentiles in microseconds, one sample per completed operation; `None`
    /// when nothing completed.
    pub latency_us: Option<Percentiles>,
    /// Failures by kind, with the first message of each.
    pub errors: Errors,
    /// Logins answered `-ERR [IN-USE]` (neither completed nor failed).
    pub lock_contention: u64,
}

/// The RETR phase's results.
#[derive(Debug, Clone, Serialize)]
pub struct RetrReport {
    /// The message retrieved (the first account's largest).
    pub message: Largest,
    /// Octets of message content received.
    pub octets: u64,
    /// MiB (2^20 octets) of message content per second.
    pub mib_per_second: f64,
    /// Messages (`completed`), messages/s (`per_second`), latencies per RETR, failures.
    #[serde(flatten)]
    pub phase: PhaseReport,
}

/// One side measured.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// How the reports name it.
    pub label: String,
    /// `pop3://host:port`, `pop3s://...`, `pop3+stls://...`.
    pub target: String,
    /// The login method.
    pub login: String,
    /// How many accounts the workers shared.
    pub accounts: usize,
    /// The sessions phase.
    pub sessions: PhaseReport,
    /// The RETR phase; `None` when no maildrop has a message (`retr_skipped` says so).
    pub retr: Option<RetrReport>,
    /// Why the RETR phase did not run.
    pub retr_skipped: Option<String>,
}

/// Counts attempts in a row that made no session, over all workers of a phase.
#[derive(Debug)]
struct Breaker {
    in_a_row: AtomicU64,
    limit: u64,
    tripped: AtomicBool,
    last: Mutex<String>,
}

impl Breaker {
    fn new(concurrency: usize) -> Breaker {
        Breaker {
            in_a_row: AtomicU64::new(0),
            limit: (3 * concurrency as u64).max(3),
            tripped: AtomicBool::new(false),
            last: Mutex::new(String::new()),
        }
    }

    fn session_made(&self) {
        self.in_a_row.store(0, Ordering::Relaxed);
    }

    fn no_session(&self, failure: &Failure) {
        *self.last.lock().expect("not poisoned") = failure.message.clone();
        if self.in_a_row.fetch_add(1, Ordering::Relaxed) + 1 >= self.limit {
            self.tripped.store(true, Ordering::Relaxed);
        }
    }

    fn tripped(&self) -> bool {
        self.tripped.load(Ordering::Relaxed)
    }
}

/// What one worker needs.
#[derive(Debug, Clone)]
struct Worker {
    env: Endpoint,
    method: LoginMethod,
    largest: Option<Largest>,
    until: Instant,
    breaker: Arc<Breaker>,
    tally: Arc<Mutex<WorkerTally>>,
}

/// A worker's tally, and when its last measured operation ended.
#[derive(Debug, Default)]
struct WorkerTally {
    tally: Tally,
    last_end: Option<Instant>,
}

impl Worker {
    fn going(&self) -> bool {
        Instant::now() < self.until && !self.breaker.tripped()
    }

    fn completed(&self, latency: Duration, octets: u64) {
        let mut t = self.tally.lock().expect("not poisoned");
        t.tally.latencies.record(latency);
        t.tally.octets += octets;
        t.last_end = Some(Instant::now());
    }

    /// Counts a miss (lock contention, after which it pauses, or a failure).
    async fn missed(&self, miss: Miss) {
        match miss {
            Miss::InUse => {
                self.tally
                    .lock()
                    .expect("not poisoned")
                    .tally
                    .lock_contention += 1;
                tokio::time::sleep(IN_USE_PAUSE).await;
            }
            Miss::Failed(f) => {
                if f.unreachable {
                    self.breaker.no_session(&f);
                }
                let message = f.message;
                self.tally
                    .lock()
                    .expect("not poisoned")
                    .tally
                    .errors
                    .add(f.kind, || message);
            }
        }
    }
}

/// The sessions worker: whole sessions until the phase ends.
async fn sessions_worker(w: Worker) {
    while w.going() {
        let start = Instant::now();
        match session::session(&w.env, w.method).await {
            Ok(()) => {
                w.breaker.session_made();
                w.completed(start.elapsed(), 0);
            }
            Err(miss) => w.missed(miss).await,
        }
    }
}

/// The RETR worker: a session that retrieves the largest message until the phase ends (a
/// new session when one fails).
async fn retr_worker(w: Worker) {
    let Some(largest) = w.largest else { return };
    while w.going() {
        let mut r = match Retriever::open(&w.env, w.method).await {
            Ok(r) => {
                w.breaker.session_made();
                r
            }
            Err(miss) => {
                w.missed(miss).await;
                continue;
            }
        };
        let mut broken = false;
        while w.going() {
            match r.retr(largest.number).await {
                Ok((octets, latency)) => w.completed(latency, octets),
                Err(miss) => {
                    w.missed(miss).await;
                    broken = true;
                    break;
                }
            }
        }
        if !broken {
            r.quit().await;
        }
    }
}

impl Prepared {
    /// The side's label.
    pub fn label(&self) -> &str {
        &self.side.label
    }

    /// The login method the workers use.
    pub fn method(&self) -> LoginMethod {
        self.method
    }

    /// How many accounts the workers share.
    pub fn accounts(&self) -> usize {
        self.endpoints.len()
    }

    /// The sessions phase (after its warm-up).
    pub async fn sessions(&self, settings: &Settings) -> Result<PhaseReport, BenchError> {
        self.phase("sessions", settings, sessions_worker).await
    }

    /// The RETR phase (after its warm-up); `None` when no account's maildrop has a message.
    pub async fn retr(&self, settings: &Settings) -> Result<Option<RetrReport>, BenchError> {
        let Some(message) = self.largest.iter().flatten().next().copied() else {
            return Ok(None);
        };
        let (phase, octets) = self.phase_octets("retr", settings, retr_worker).await?;
        Ok(Some(RetrReport {
            message,
            octets,
            mib_per_second: octets as f64 / f64::from(1 << 20) / phase.elapsed_secs,
            phase,
        }))
    }

    /// The measurement of this side from its phases.
    pub fn measurement(&self, sessions: PhaseReport, retr: Option<RetrReport>) -> Measurement {
        let retr_skipped = retr
            .is_none()
            .then(|| "no message in the maildrop (seed the fixture: conform seed)".to_owned());
        Measurement {
            label: self.side.label.clone(),
            target: self.side.target.to_string(),
            login: self.method.to_string(),
            accounts: self.endpoints.len(),
            sessions,
            retr,
            retr_skipped,
        }
    }

    async fn phase<F, Fut>(
        &self,
        name: &'static str,
        settings: &Settings,
        worker: F,
    ) -> Result<PhaseReport, BenchError>
    where
        F: Fn(Worker) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Ok(self.phase_octets(name, settings, worker).await?.0)
    }

    /// The warm-up, then the measured run; the report and the octets received.
    async fn phase_octets<F, Fut>(
        &self,
        name: &'static str,
        settings: &Settings,
        worker: F,
    ) -> Result<(PhaseReport, u64), BenchError>
    where
        F: Fn(Worker) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if !settings.warmup.is_zero() {
            self.run_workers(name, settings, settings.warmup, &worker)
                .await?;
        }
        let (tally, elapsed) = self
            .run_workers(name, settings, settings.duration, &worker)
            .await?;
        let completed = tally.latencies.len();
        let secs = elapsed.as_secs_f64();
        Ok((
            PhaseReport {
                completed,
                elapsed_secs: secs,
                per_second: completed as f64 / secs,
                latency_us: tally.latencies.percentiles(),
                errors: tally.errors,
                lock_contention: tally.lock_contention,
            },
            tally.octets,
        ))
    }

    /// `concurrency` workers for `duration`; their merged tally and the measured time.
    async fn run_workers<F, Fut>(
        &self,
        name: &'static str,
        settings: &Settings,
        duration: Duration,
        worker: &F,
    ) -> Result<(Tally, Duration), BenchError>
    where
        F: Fn(Worker) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let start = Instant::now();
        let until = start + duration;
        let breaker = Arc::new(Breaker::new(settings.concurrency));
        let mut tallies = Vec::with_capacity(settings.concurrency);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..settings.concurrency.max(1) {
            let account = i % self.endpoints.len();
            let tally = Arc::new(Mutex::new(WorkerTally::default()));
            tallies.push(tally.clone());
            tasks.spawn(worker(Worker {
                env: self.endpoints[account].clone(),
                method: self.method,
                largest: self.largest[account],
                until,
                breaker: breaker.clone(),
                tally,
            }));
        }
        // every operation has its deadline; past the phase's end by more than one of them
        // plus a second, a worker is stopped and its unfinished operation counted
        let grace = settings.io_timeout + Duration::from_secs(1);
        let mut stragglers = 0u64;
        let drained = tokio::time::timeout_at((until + grace).into(), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            stragglers = tasks.len() as u64;
            tasks.shutdown().await;
        }
        let mut tally = Tally::default();
        let mut last_end = until;
        for t in &tallies {
            let t = t.lock().expect("not poisoned");
            tally.merge(&t.tally);
            if let Some(end) = t.last_end {
                last_end = last_end.max(end);
            }
        }
        for _ in 0..stragglers {
            tally.errors.add(stats::FailureKind::Timeout, || {
                format!("an operation still unfinished {grace:?} after the phase ended")
            });
        }
        if breaker.tripped() {
            return Err(BenchError::Stopped {
                label: self.side.label.clone(),
                target: self.side.target.to_string(),
                phase: name,
                failures: breaker.in_a_row.load(Ordering::Relaxed),
                last: breaker.last.lock().expect("not poisoned").clone(),
            });
        }
        Ok((tally, last_end - start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_message_of_a_listing() {
        let listing: Vec<String> = ["1 120", "2 1048700", "3 bad", "4 1048700", "5 9"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            largest_of(&listing),
            Some(Largest {
                number: 2,
                octets: 1_048_700
            })
        );
        assert_eq!(largest_of(&[]), None);
    }

    #[test]
    fn the_breaker_trips_after_three_failures_per_worker_in_a_row() {
        let b = Breaker::new(2);
        let f = Failure {
            kind: stats::FailureKind::Connect,
            unreachable: true,
            message: "refused".into(),
        };
        for _ in 0..5 {
            b.no_session(&f);
        }
        b.session_made();
        for _ in 0..5 {
            b.no_session(&f);
        }
        assert!(!b.tripped());
        b.no_session(&f);
        assert!(b.tripped());
        assert_eq!(*b.last.lock().unwrap(), "refused");
    }
}
