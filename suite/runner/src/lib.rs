//! Runs scenario plans against a POP3 target: [`target`] says where, [`transport`] carries the
//! bytes (plain, implicit TLS, STLS; every read and write bounded), [`judge`] runs one case,
//! and [`run`] runs a whole selection: capability discovery, fixture detection, skips,
//! parallel jobs, and one stream of [`Event`]s that every reporter ([`report`]) reads.

pub mod baseline;
pub mod judge;
pub mod report;
pub mod target;
pub mod transport;
pub mod values;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use scenario::plan::{Action, Case, Fixture, Level, TemplatePiece};
use tokio::sync::{mpsc, oneshot, Semaphore};

pub use baseline::{Baseline, Deviation};
pub use judge::{CaseEnv, Dir, Entry, Failure, Verdict};
pub use target::{Profile, Target, TlsMode, Trust};

/// One case's outcome.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case.
    pub case: Arc<Case>,
    /// The verdict.
    pub verdict: Verdict,
    /// Wall time.
    pub duration: Duration,
    /// The wire log.
    pub transcript: Vec<Entry>,
    /// The baseline's entry for this case in this run's TLS mode, if any.
    pub baseline: Option<Deviation>,
}

impl CaseResult {
    /// Whether the verdict is a failure or an error.
    pub fn failed(&self) -> bool {
        matches!(self.verdict, Verdict::Fail(_) | Verdict::Error(_))
    }

    /// A failure the baseline knows: reported apart, it does not fail the run.
    pub fn known_deviation(&self) -> Option<&Deviation> {
        self.baseline.as_ref().filter(|_| self.failed())
    }

    /// A baselined case that passes now: its baseline entry can go.
    pub fn baseline_outdated(&self) -> bool {
        self.baseline.is_some() && self.verdict == Verdict::Pass
    }

    /// Whether this result fails the run at `threshold` (MUST only by default): a failure
    /// or error at or above the threshold that the baseline does not list.
    pub fn fails_run(&self, threshold: Level) -> bool {
        self.failed() && self.case.level <= threshold && self.baseline.is_none()
    }
}

/// Counts over a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Passed.
    pub passed: usize,
    /// Failed (the target broke a requirement).
    pub failed: usize,
    /// Errors (the case could not be judged).
    pub errors: usize,
    /// Skipped.
    pub skipped: usize,
    /// Failures and errors that fail the run at the chosen level.
    pub run_failures: usize,
    /// Failures and errors the baseline lists (counted in `failed`/`errors` too).
    pub known: usize,
    /// Baselined cases that passed.
    pub outdated: usize,
    /// Wall time of the whole run.
    pub duration: Duration,
}

/// The stream every reporter reads.
#[derive(Debug)]
pub enum Event<'a> {
    /// The run starts: target, and how many cases.
    Started {
        /// The target.
        target: &'a Target,
        /// Cases selected.
        total: usize,
        /// Capabilities the target announced.
        capabilities: &'a BTreeSet<String>,
    },
    /// A case finished (in completion order).
    CaseFinished(&'a CaseResult),
    /// The run finished; results are in the selection's order.
    Finished {
        /// Every result, in order.
        results: &'a [CaseResult],
        /// The counts.
        summary: &'a Summary,
    },
}

/// Something that reads the event stream (Send: a run may go on another task or thread).
pub trait Reporter: Send {
    /// Handles one event.
    fn event(&mut self, event: &Event<'_>);
}

/// A run that could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Nothing was selected (an error, never a pass).
    #[error("no case selected")]
    NothingSelected,
    /// The target could not be reached (or TLS failed) before any case ran.
    #[error("target {target} unreachable: {reason}")]
    Unreachable {
        /// The target.
        target: String,
        /// Why.
        reason: String,
    },
}

/// How to run.
pub struct RunConfig {
    /// Target and login.
    pub env: CaseEnv,
    /// Cases run at once (over separate connections).
    pub jobs: usize,
    /// Which failures fail the run.
    pub threshold: Level,
    /// Restores the maildrop after a case that mutates it (the bundled server reseeds in
    /// memory; `--reseed-cmd` for other targets).
    pub reseed: Option<Arc<dyn Fn() -> Result<(), String> + Send + Sync>>,
    /// Known deviations of the target (`--baseline`).
    pub baseline: Option<Baseline>,
}

impl std::fmt::Debug for RunConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunConfig")
            .field("env", &self.env)
            .field("jobs", &self.jobs)
            .field("threshold", &self.threshold)
            .field("reseed", &self.reseed.is_some())
            .field("baseline", &self.baseline)
            .finish()
    }
}

/// Whether a case logs in (and so holds the maildrop lock while it runs): it mutates, or
/// one of the lines it sends — also inside a pipelined `C!:` batch — starts with PASS, APOP
/// or AUTH, or it sends the password.
fn logs_in(case: &Case) -> bool {
    case.mutates
        || case.steps.iter().any(|s| match &s.action {
            Action::Send { template, .. } => template.pieces.iter().any(|p| match p {
                TemplatePiece::Literal(b) => b.split(|&c| c == b'\n').any(|line| {
                    let upper = line.trim_ascii_start().to_ascii_uppercase();
                    ["PASS", "APOP", "AUTH"]
                        .iter()
                        .any(|k| upper.starts_with(k.as_bytes()))
                }),
                TemplatePiece::Expr(e) => mentions_password(e),
            }),
            _ => false,
        })
}

/// Whether an expression uses the password (a login in a computed line).
fn mentions_password(e: &scenario::plan::Expr) -> bool {
    use scenario::plan::Expr;
    match e {
        Expr::Var(name) => name == "password",
        Expr::Call(_, args) => args.iter().any(mentions_password),
        Expr::Str(_) | Expr::Int(_) => false,
    }
}

/// Why `requires` is not met by the announced `caps` and the run's TLS mode, if it is not.
///
/// An item is a CAPA tag (`TOP`, `SASL PLAIN`; `APOP` stands for a greeting timestamp) that
/// must be announced, `!TAG` that must not be, or a pseudo-capability of the run's
/// connections: `@PLAINTEXT` (not TLS), `@TLS` (implicit TLS, or STLS done by the runner
/// first) and `@IMPLICIT-TLS`.
pub fn unmet_requirement(
    requires: &[String],
    caps: &BTreeSet<String>,
    tls: TlsMode,
) -> Option<String> {
    let mut missing = Vec::new();
    let mut present = Vec::new();
    let mut mode = Vec::new();
    for r in requires {
        let r = r.to_ascii_uppercase();
        if let Some(pseudo) = r.strip_prefix('@') {
            let ok = match pseudo {
                "PLAINTEXT" => tls == TlsMode::None,
                "TLS" => tls != TlsMode::None,
                "IMPLICIT-TLS" => tls == TlsMode::Implicit,
                _ => false,
            };
            if !ok {
                mode.push(r);
            }
        } else if let Some(tag) = r.strip_prefix('!') {
            if caps.contains(tag.trim()) {
                present.push(tag.trim().to_owned());
            }
        } else if !caps.contains(&r) {
            missing.push(r);
        }
    }
    let mut why = Vec::new();
    if !missing.is_empty() {
        why.push(format!(
            "target does not announce {} in CAPA",
            missing.join(", ")
        ));
    }
    if !present.is_empty() {
        why.push(format!("target announces {} in CAPA", present.join(", ")));
    }
    if !mode.is_empty() {
        let name = match tls {
            TlsMode::None => "plaintext",
            TlsMode::Implicit => "implicit TLS",
            TlsMode::StartTls => "STLS",
        };
        why.push(format!("needs {} (this run is {name})", mode.join(", ")));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// Asks the target for CAPA over one connection. `Err` if it cannot be reached.
async fn capabilities(env: &CaseEnv) -> Result<BTreeSet<String>, String> {
    let mut conn = transport::Conn::open(&env.target, env.tls.clone(), env.limits)
        .await
        .map_err(|e| e.to_string())?;
    let greeting = conn.read_line().await.map_err(|e| e.to_string())?;
    if !greeting.bytes.starts_with(b"+OK") {
        return Err(format!(
            "greeting is not +OK: {}",
            judge::printable(&greeting.bytes)
        ));
    }
    let mut caps = BTreeSet::new();
    // RFC 1939 §7: APOP has no CAPA tag; a server that offers it shows a timestamp in the
    // greeting, so "APOP" stands for that.
    let has_stamp =
        pop3_proto::StatusLine::parse(&greeting.bytes).is_ok_and(|g| g.timestamp().is_some());
    if has_stamp {
        caps.insert("APOP".to_owned());
    }
    conn.send(b"CAPA\r\n").await.map_err(|e| e.to_string())?;
    let status = conn.read_line().await.map_err(|e| e.to_string())?;
    if status.bytes.starts_with(b"+OK") {
        loop {
            // A listing that never ends (no "." line) keeps what it gave: the CAPA cases
            // judge the framing, the others still run on the tags announced.
            let Ok(l) = conn.read_line().await else {
                return Ok(caps);
            };
            if l.bytes == b"." {
                break;
            }
            let text = String::from_utf8_lossy(&l.bytes).to_ascii_uppercase();
            let mut words = text.split_whitespace();
            if let Some(tag) = words.next() {
                caps.insert(tag.to_owned());
                if tag == "SASL" {
                    for m in words {
                        caps.insert(format!("SASL {m}"));
                    }
                }
            }
        }
    }
    let _ = conn.send(b"QUIT\r\n").await;
    Ok(caps)
}

/// Whether the target's maildrop is the standard fixture: logs in and compares STAT, then
/// each scan listing, with the fixture's sizes. `Err` says why not (or why it could not tell).
async fn fixture_present(env: &CaseEnv) -> Result<(), String> {
    let mut conn = transport::Conn::open(&env.target, env.tls.clone(), env.limits)
        .await
        .map_err(|e| e.to_string())?;
    let ask = async |conn: &mut transport::Conn, line: String| -> Result<Vec<u8>, String> {
        conn.send(format!("{line}\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        Ok(conn.read_line().await.map_err(|e| e.to_string())?.bytes)
    };
    let greeting = conn.read_line().await.map_err(|e| e.to_string())?.bytes;
    let user = &env.profile.user;
    let mut ok = ask(&mut conn, format!("USER {user}"))
        .await?
        .starts_with(b"+OK")
        && ask(&mut conn, format!("PASS {}", env.profile.password))
            .await?
            .starts_with(b"+OK");
    if !ok {
        let stamp = pop3_proto::StatusLine::parse(&greeting)
            .ok()
            .and_then(|g| g.timestamp().map(str::to_owned));
        if let Some(stamp) = stamp {
            let digest = pop3_proto::auth::apop::digest(&stamp, &env.profile.password);
            ok = ask(&mut conn, format!("APOP {user} {digest}"))
                .await?
                .starts_with(b"+OK");
        }
    }
    if !ok {
        return Err("could not log in to inspect the maildrop".into());
    }
    let want: Vec<u64> = env
        .fixture
        .iter()
        .map(|m| pop3_proto::multiline::wire_size(m))
        .collect();
    let stat = ask(&mut conn, "STAT".into()).await?;
    let expected = format!("+OK {} {}", want.len(), want.iter().sum::<u64>());
    let stat = String::from_utf8_lossy(&stat).into_owned();
    if stat.split(' ').take(3).collect::<Vec<_>>().join(" ") != expected {
        let _ = ask(&mut conn, "QUIT".into()).await;
        return Err(format!("the maildrop is not the standard fixture (STAT answered {stat:?}, the fixture gives {expected:?}); seed it with `conform seed`"));
    }
    // the same count and total could hide other sizes: compare each scan listing
    let first = ask(&mut conn, "LIST".into()).await?;
    if !first.starts_with(b"+OK") {
        return Err(format!(
            "could not inspect the maildrop: LIST answered {:?}",
            judge::printable(&first)
        ));
    }
    let mut listed = Vec::new();
    loop {
        let line = conn.read_line().await.map_err(|e| e.to_string())?.bytes;
        if line == b"." {
            break;
        }
        // RFC 1939 §5: a scan listing may carry more after the size; compare the two fields
        let text = String::from_utf8_lossy(&line).into_owned();
        listed.push(text.split(' ').take(2).collect::<Vec<_>>().join(" "));
        if listed.len() > want.len() {
            break;
        }
    }
    let _ = ask(&mut conn, "QUIT".into()).await;
    let expected: Vec<String> = want
        .iter()
        .enumerate()
        .map(|(i, size)| format!("{} {size}", i + 1))
        .collect();
    if listed != expected {
        return Err(format!("the maildrop is not the standard fixture (LIST gave {listed:?}, the fixture gives {expected:?}); seed it with `conform seed`"));
    }
    Ok(())
}

/// Runs `cases` in order (results in that order), sending events to `reporter`.
pub async fn run(
    cases: Vec<Case>,
    config: RunConfig,
    reporter: &mut dyn Reporter,
) -> Result<Summary, RunError> {
    if cases.is_empty() {
        return Err(RunError::NothingSelected);
    }
    let started = Instant::now();
    let env = Arc::new(config.env);
    let caps = capabilities(&env)
        .await
        .map_err(|reason| RunError::Unreachable {
            target: env.target.to_string(),
            reason,
        })?;
    reporter.event(&Event::Started {
        target: &env.target,
        total: cases.len(),
        capabilities: &caps,
    });
    let fixture_state = if cases.iter().any(|c| c.fixture == Fixture::Standard) {
        fixture_present(&env).await
    } else {
        Ok(())
    };
    let permits = Arc::new(Semaphore::new(config.jobs.max(1)));
    // Cases that log in hold the maildrop lock on the target, so they run one at a time, in
    // the selection's order: each waits for the previous one to finish.
    let mut previous_login: Option<oneshot::Receiver<()>> = None;
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, CaseResult)>();
    // Skips first (so they come first in the live stream, whatever the timing), then the
    // cases that run.
    let mut runnable = Vec::new();
    for (index, case) in cases.into_iter().enumerate() {
        let case = Arc::new(case);
        let skip = if let Some(reason) = unmet_requirement(&case.requires, &caps, env.target.tls) {
            Some(reason)
        } else if case.fixture == Fixture::Standard {
            fixture_state
                .as_ref()
                .err()
                .map(|why| format!("needs the standard fixture: {why}"))
        } else {
            None
        };
        if let Some(reason) = skip {
            let _ = tx.send((
                index,
                CaseResult {
                    case,
                    verdict: Verdict::Skip(reason),
                    duration: Duration::ZERO,
                    transcript: Vec::new(),
                    baseline: None,
                },
            ));
        } else {
            runnable.push((index, case));
        }
    }
    // Without a way to restore the maildrop, cases that change it run last, and each case
    // that needs the fixture after one of them checks again that the maildrop still is it.
    let touched = Arc::new(AtomicBool::new(false));
    if config.reseed.is_none() {
        runnable.sort_by_key(|(_, case)| case.mutates);
    }
    for (index, case) in runnable {
        let (env, permits, tx, reseed, touched) = (
            env.clone(),
            permits.clone(),
            tx.clone(),
            config.reseed.clone(),
            touched.clone(),
        );
        let (wait_for, done) = if logs_in(&case) {
            let (done, next) = oneshot::channel::<()>();
            (previous_login.replace(next), Some(done))
        } else {
            (None, None)
        };
        tokio::spawn(async move {
            if let Some(previous) = wait_for {
                // an error only means the previous task ended without signalling: go on
                let _ = previous.await;
            }
            let _permit = permits.acquire().await.expect("semaphore open");
            let t = Instant::now();
            if case.fixture == Fixture::Standard && touched.load(Ordering::SeqCst) {
                if let Err(why) = fixture_present(&env).await {
                    let _ = tx.send((
                        index,
                        CaseResult {
                            case,
                            verdict: Verdict::Skip(format!(
                                "needs the standard fixture, which an earlier case changed (give --reseed-cmd to restore it): {why}"
                            )),
                            duration: t.elapsed(),
                            transcript: Vec::new(),
                            baseline: None,
                        },
                    ));
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                    return;
                }
            }
            let (mut verdict, mut transcript) = judge::run_case(&case, &env).await;
            if case.mutates && reseed.is_none() {
                touched.store(true, Ordering::SeqCst);
            }
            if case.mutates {
                if let Some(reseed) = reseed {
                    // let the server finish UPDATE before the maildrop is restored
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if let Err(e) = reseed() {
                        transcript.push(Entry {
                            at: t.elapsed(),
                            session: 0,
                            dir: Dir::Note,
                            text: format!("reseed failed: {e}"),
                        });
                        if verdict == Verdict::Pass {
                            verdict = Verdict::Error(Failure {
                                message: format!("reseeding the maildrop failed: {e}"),
                                expected: "reseed".into(),
                                actual: e,
                                span: case.span.clone(),
                            });
                        }
                    }
                }
            }
            let _ = tx.send((
                index,
                CaseResult {
                    case,
                    verdict,
                    duration: t.elapsed(),
                    transcript,
                    baseline: None,
                },
            ));
            if let Some(done) = done {
                let _ = done.send(());
            }
        });
    }
    drop(tx);
    let mut results = Vec::new();
    while let Some((index, mut result)) = rx.recv().await {
        if let Some(b) = &config.baseline {
            result.baseline = b.get(&result.case.id, env.target.tls).cloned();
        }
        reporter.event(&Event::CaseFinished(&result));
        results.push((index, result));
    }
    results.sort_by_key(|(i, _)| *i);
    let results: Vec<CaseResult> = results.into_iter().map(|(_, r)| r).collect();
    let mut summary = Summary::default();
    for r in &results {
        match r.verdict {
            Verdict::Pass => summary.passed += 1,
            Verdict::Fail(_) => summary.failed += 1,
            Verdict::Error(_) => summary.errors += 1,
            Verdict::Skip(_) => summary.skipped += 1,
        }
        if r.fails_run(config.threshold) {
            summary.run_failures += 1;
        }
        if r.known_deviation().is_some() {
            summary.known += 1;
        }
        if r.baseline_outdated() {
            summary.outdated += 1;
        }
    }
    summary.duration = started.elapsed();
    reporter.event(&Event::Finished {
        results: &results,
        summary: &summary,
    });
    Ok(summary)
}
