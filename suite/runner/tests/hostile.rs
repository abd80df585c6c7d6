//! A hostile or dead target: each misbehaving case gets an error (or fail) verdict with its
//! transcript, within a bounded time, and the run goes on to the next case; one small server
//! per behaviour. A target that dies mid-run, a report that cannot be written and an
//! interrupted run end the run early with every case reported.

use std::sync::Arc;
use std::time::{Duration, Instant};

use runner::transport::IoLimits;
use runner::{
    CaseEnv, Event, Interrupt, Profile, ReportError, Reporter, RunConfig, RunError, Target,
    TlsMode, Trust, Verdict, GONE_AFTER, SETUP_CASE,
};
use scenario::plan::Level;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const CASES: &str = r#"
id: h/stall
title: the server stalls after the greeting
rfc: 1939 §4
level: MUST
requirement: "r"
---
S: +OK {*}
C: NOOP
S: -ERR {*}
===
id: h/garbage
title: the server answers garbage
rfc: 1939 §4
level: MUST
requirement: "r"
---
S: +OK {*}
C: GARB
S: -ERR {*}
===
id: h/closes
title: the server closes mid-case
rfc: 1939 §4
level: MUST
requirement: "r"
---
S: +OK {*}
C: CLOS
S: -ERR {*}
===
id: h/flood
title: the server sends an endless line
rfc: 1939 §4
level: MUST
requirement: "r"
---
S: +OK {*}
C: FLOO
S: -ERR {*}
===
id: h/fine
title: a well-behaved exchange after all that
rfc: 1939 §4
level: MUST
requirement: "r"
---
S: +OK {*}
C: QUIT
S: +OK {*}
"#;

/// A fake server: greets, then reacts to the first command word.
async fn hostile() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let _ = s.write_all(b"+OK hostile\r\n").await;
                let mut buf = [0u8; 64];
                let n = s.read(&mut buf).await.unwrap_or(0);
                match &buf[..n.min(4)] {
                    b"CAPA" => {
                        let _ = s.write_all(b"+OK\r\n.\r\n").await;
                    }
                    b"NOOP" => tokio::time::sleep(Duration::from_secs(30)).await,
                    b"GARB" => {
                        let _ = s.write_all(b"\x00\xff\xfe garbage\r\n").await;
                    }
                    b"CLOS" => {}
                    b"FLOO" => {
                        let chunk = vec![b'x'; 64 * 1024];
                        for _ in 0..64 {
                            if s.write_all(&chunk).await.is_err() {
                                break;
                            }
                        }
                    }
                    _ => {
                        let _ = s.write_all(b"+OK bye\r\n").await;
                    }
                }
            });
        }
    });
    port
}

/// What a run reported: every result (the one setup case when it could not start), and
/// whether it was interrupted.
#[derive(Default)]
struct Collect {
    results: Vec<(String, Verdict, usize)>,
    setup_failed: bool,
    interrupted: Option<String>,
}

impl Collect {
    fn keep(&mut self, results: &[runner::CaseResult]) {
        self.results = results
            .iter()
            .map(|r| (r.case.id.clone(), r.verdict.clone(), r.transcript.len()))
            .collect();
    }
}

impl Reporter for Collect {
    fn event(&mut self, e: &Event<'_>) -> Result<(), ReportError> {
        match e {
            Event::Finished { results, summary } => {
                self.keep(results);
                self.interrupted = summary.interrupted.clone();
            }
            Event::SetupFailed {
                result, summary, ..
            } => {
                self.keep(std::slice::from_ref(*result));
                self.setup_failed = true;
                self.interrupted = summary.interrupted.clone();
            }
            _ => {}
        }
        Ok(())
    }
}

/// The run's configuration against 127.0.0.1:`port`, one job, the given deadline.
fn config(port: u16, tls: TlsMode, io_timeout: Duration) -> RunConfig {
    let target = Target {
        host: "127.0.0.1".into(),
        port,
        tls,
        trust: Trust::Insecure,
    };
    let env = CaseEnv {
        endpoint: runner::client::Endpoint {
            tls: (tls != TlsMode::None).then(|| target.client_config().unwrap()),
            target,
            limits: IoLimits {
                io_timeout,
                max_line: 4096,
                max_bytes: 1 << 20,
            },
            profile: Profile {
                user: "u".into(),
                password: "p".into(),
                token: None,
            },
        },
        fixture: Arc::new(Vec::new()),
        login: None,
    };
    RunConfig {
        env,
        jobs: 4,
        threshold: Level::Must,
        reseed: None,
        more_accounts: Vec::new(),
        baseline: None,
        expect: Vec::new(),
        login: None,
        interrupt: None,
    }
}
#[tokio::test(flavor = "multi_thread")]
async fn every_misbehaviour_gets_a_verdict_and_the_run_goes_on() {
    let port = hostile().await;
    let cases = scenario::parse_str(std::path::Path::new("hostile.pop3"), CASES).unwrap();
    let config = config(port, TlsMode::None, Duration::from_millis(500));
    let mut c = Collect::default();
    let summary = tokio::time::timeout(Duration::from_secs(20), runner::run(cases, config, &mut c))
        .await
        .expect("the run ends by itself")
        .unwrap();
    let by_id = |id: &str| c.results.iter().find(|(i, ..)| i == id).unwrap().clone();
    assert!(
        // silence where an answer is due is the server's failure (RFC 1939 §3)
        matches!(by_id("h/stall").1, Verdict::Fail(ref f) if f.actual.contains("no answer")),
        "{:?}",
        by_id("h/stall")
    );
    assert!(
        matches!(by_id("h/garbage").1, Verdict::Fail(ref f) if f.actual.contains("garbage")),
        "{:?}",
        by_id("h/garbage")
    );
    assert!(
        matches!(by_id("h/closes").1, Verdict::Fail(ref f) if f.actual.contains("closed")),
        "{:?}",
        by_id("h/closes")
    );
    assert!(
        matches!(by_id("h/flood").1, Verdict::Error(ref f) if f.actual.contains("longer than")),
        "{:?}",
        by_id("h/flood")
    );
    assert_eq!(by_id("h/fine").1, Verdict::Pass);
    for (id, _, transcript) in &c.results {
        assert!(*transcript >= 2, "{id} has its transcript");
    }
    assert_eq!((summary.passed, summary.failed, summary.errors), (1, 3, 1));
}

/// How one in-test server misbehaves. It answers CAPA (`+OK`, no capability) and refuses
/// every login, so that the discovery ends and the cases run; `NOOP` (and `LIST`) is where it
/// misbehaves, unless the behaviour starts at the greeting.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Hostile {
    /// The greeting drips one byte every 0.25 s and never ends its line.
    GreetingDrip,
    /// The answer to NOOP comes one byte a second.
    SlowDrip,
    /// CAPA answers 1,000,000 lines.
    HugeCapa,
    /// LIST's multi-line answer never ends.
    EndlessListing,
    /// NOOP's answer is one line that never ends.
    EndlessLine,
    /// NOOP's answer holds NUL bytes.
    Nul,
    /// NOOP's answer ends its lines with a bare CR.
    BareCr,
    /// NOOP's answer is a thousand lines of garbage.
    Garbage,
    /// A TLS server that answers the ClientHello with a fatal alert.
    TlsAlert,
    /// The server shuts its side after reading NOOP (and keeps the connection).
    HalfClose,
}

/// The cases run against every behaviour: NOOP and LIST in AUTHORIZATION, and CAPA.
const HOSTILE_CASES: &str = r#"
id: h/noop
title: NOOP is answered
rfc: 1939 §3
level: MUST
requirement: "r"
---
S: +OK {*}
C: NOOP
S: {/[+-]/}{*}
C: QUIT
S: +OK {*}
===
id: h/list
title: LIST is answered
rfc: 1939 §5
level: MUST
requirement: "r"
---
S: +OK {*}
C: LIST
S: +OK {*}
S*: {*}
S: .
===
id: h/capa
title: CAPA is answered
rfc: 2449 §5
level: MUST
requirement: "r"
---
S: +OK {*}
C: CAPA
S: +OK {*}
S*: {*}
S: .
"#;

/// Writes `bytes` one at a time, `every` apart, until the client goes.
async fn drip(s: &mut tokio::net::TcpStream, bytes: &[u8], every: Duration) {
    for b in bytes.iter().cycle() {
        if s.write_all(&[*b]).await.is_err() {
            return;
        }
        tokio::time::sleep(every).await;
    }
}

/// Writes `line` again and again until the client goes (or `times` times).
async fn repeat(s: &mut tokio::net::TcpStream, line: &[u8], times: usize) -> bool {
    let chunk: Vec<u8> = line.repeat((64 * 1024 / line.len()).max(1));
    let per = chunk.len() / line.len();
    let mut sent = 0;
    while sent < times {
        let n = per.min(times - sent);
        if s.write_all(&chunk[..n * line.len()]).await.is_err() {
            return false;
        }
        sent += n;
    }
    true
}

async fn connection(mut s: tokio::net::TcpStream, how: Hostile) {
    if how == Hostile::TlsAlert {
        let mut hello = [0u8; 512];
        let _ = s.read(&mut hello).await;
        // a TLS 1.2 record: alert, fatal, handshake_failure
        let _ = s
            .write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])
            .await;
        return;
    }
    if how == Hostile::GreetingDrip {
        return drip(&mut s, b"+OK slow greeting", Duration::from_millis(250)).await;
    }
    if s.write_all(b"+OK hostile\r\n").await.is_err() {
        return;
    }
    let mut pending = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let Some(end) = pending.iter().position(|&b| b == b'\n') else {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
            continue;
        };
        let line: Vec<u8> = pending.drain(..=end).collect();
        let word = line
            .split(|b| *b == b' ' || *b == b'\r' || *b == b'\n')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        match (word.as_slice(), how) {
            (b"CAPA", Hostile::HugeCapa) => {
                let _ = s.write_all(b"+OK capabilities follow\r\n").await;
                if repeat(&mut s, b"X-HOSTILE-CAPABILITY\r\n", 1_000_000).await {
                    let _ = s.write_all(b".\r\n").await;
                }
            }
            (b"CAPA", _) => {
                let _ = s.write_all(b"+OK\r\n.\r\n").await;
            }
            (b"LIST", Hostile::EndlessListing) => {
                let _ = s.write_all(b"+OK a listing\r\n").await;
                repeat(&mut s, b"1 100\r\n", usize::MAX).await;
                return;
            }
            (b"NOOP", Hostile::SlowDrip) => {
                return drip(&mut s, b"+OK slow\r\n", Duration::from_secs(1)).await
            }
            (b"NOOP", Hostile::EndlessLine) => {
                let _ = s.write_all(b"+OK ").await;
                repeat(&mut s, b"x", usize::MAX).await;
                return;
            }
            (b"NOOP", Hostile::Nul) => {
                let _ = s.write_all(b"\0\0\0+OK\0\0\r\n").await;
            }
            (b"NOOP", Hostile::BareCr) => {
                repeat(&mut s, b"+OK bare CR\r", 1000).await;
            }
            (b"NOOP", Hostile::Garbage) => {
                repeat(&mut s, b"\x01\xfe#%&garbage \x7f\r\n", 1000).await;
            }
            (b"NOOP", Hostile::HalfClose) => {
                let _ = s.shutdown().await;
                // keep the connection (the read side) open until the client goes
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
                return;
            }
            (b"QUIT", _) => {
                let _ = s.write_all(b"+OK bye\r\n").await;
                return;
            }
            _ => {
                let _ = s.write_all(b"-ERR no\r\n").await;
            }
        }
    }
}

/// Starts a server that misbehaves as `how` on 127.0.0.1 (a port of the system's choice).
async fn serve(how: Hostile) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(connection(s, how));
        }
    });
    port
}

/// Runs the hostile cases against `how` (1 s deadline): the run ends by itself well within
/// 30 s, and the case `hit` (where the server misbehaves), or the setup, fails or errors.
async fn against(how: Hostile, hit: &str) -> Collect {
    let port = serve(how).await;
    let cases = scenario::parse_str(std::path::Path::new("hostile.pop3"), HOSTILE_CASES).unwrap();
    let tls = match how {
        Hostile::TlsAlert => TlsMode::Implicit,
        _ => TlsMode::None,
    };
    let mut c = Collect::default();
    let t = Instant::now();
    let ran = tokio::time::timeout(
        Duration::from_secs(30),
        runner::run(cases, config(port, tls, Duration::from_secs(1)), &mut c),
    )
    .await
    .unwrap_or_else(|_| panic!("{how:?}: the run did not end within 30 s"));
    let took = t.elapsed();
    eprintln!("{how:?}: {took:?}: {:?}", c.results);
    assert!(took < Duration::from_secs(30), "{how:?}: {took:?}");
    match ran {
        Ok(_) => assert!(!c.setup_failed),
        Err(RunError::Unreachable { .. }) => assert!(c.setup_failed, "{how:?}"),
        Err(e) => panic!("{how:?}: {e}"),
    }
    let hit = if c.setup_failed { SETUP_CASE } else { hit };
    assert!(
        matches!(verdict(&c, hit), Verdict::Fail(_) | Verdict::Error(_)),
        "{how:?}: {:?}",
        c.results
    );
    c
}

/// The verdict of case `id`.
fn verdict<'c>(c: &'c Collect, id: &str) -> &'c Verdict {
    &c.results.iter().find(|(i, ..)| i == id).unwrap().1
}

/// Whether `v` is a failure or error whose text contains `what`.
fn says(v: &Verdict, what: &str) -> bool {
    matches!(v, Verdict::Fail(f) | Verdict::Error(f) if format!("{} {}", f.message, f.actual).contains(what))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_greeting_that_drips_without_a_line_end_is_a_setup_error() {
    let c = against(Hostile::GreetingDrip, "h/noop").await;
    assert!(c.setup_failed);
    assert!(
        says(verdict(&c, SETUP_CASE), "no answer within"),
        "{:?}",
        c.results
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_a_byte_a_second_fails() {
    let c = against(Hostile::SlowDrip, "h/noop").await;
    let noop = verdict(&c, "h/noop");
    assert!(
        says(noop, "no answer within") || says(noop, "too slowly"),
        "{:?}",
        c.results
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_million_line_capa_is_cut() {
    let c = against(Hostile::HugeCapa, "h/capa").await;
    let capa = c
        .results
        .iter()
        .find(|(i, ..)| i == "h/capa" || i == SETUP_CASE);
    assert!(
        capa.is_some_and(|(_, v, _)| says(v, "100000 lines") || says(v, "octets on one")),
        "{:?}",
        c.results
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_that_never_ends_is_cut() {
    let c = against(Hostile::EndlessListing, "h/list").await;
    assert!(
        matches!(verdict(&c, "h/list"), Verdict::Error(_)),
        "{:?}",
        c.results
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_line_is_cut() {
    let c = against(Hostile::EndlessLine, "h/noop").await;
    assert!(
        says(verdict(&c, "h/noop"), "longer than"),
        "{:?}",
        c.results
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nul_bytes_fail() {
    let c = against(Hostile::Nul, "h/noop").await;
    assert!(
        matches!(verdict(&c, "h/noop"), Verdict::Fail(_)),
        "{:?}",
        c.results
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bare_cr_line_ends_fail() {
    let c = against(Hostile::BareCr, "h/noop").await;
    assert!(
        matches!(verdict(&c, "h/noop"), Verdict::Fail(_) | Verdict::Error(_)),
        "{:?}",
        c.results
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_lines_fail() {
    let c = against(Hostile::Garbage, "h/noop").await;
    assert!(
        matches!(verdict(&c, "h/noop"), Verdict::Fail(_)),
        "{:?}",
        c.results
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_alert_is_a_setup_error() {
    let c = against(Hostile::TlsAlert, "h/noop").await;
    assert!(c.setup_failed);
    assert!(says(verdict(&c, SETUP_CASE), "TLS"), "{:?}", c.results);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_half_close_fails() {
    let c = against(Hostile::HalfClose, "h/noop").await;
    assert!(says(verdict(&c, "h/noop"), "closed"), "{:?}", c.results);
}

/// `count` cases that each greet and QUIT.
fn quit_cases(count: usize) -> Vec<scenario::plan::Case> {
    let text: Vec<String> = (0..count)
        .map(|i| {
            format!("id: d/c{i:02}\ntitle: t\nrfc: 1939 §6\nlevel: MUST\nrequirement: \"r\"\n---\nS: +OK {{*}}\nC: QUIT\nS: +OK {{*}}\n")
        })
        .collect();
    scenario::parse_str(std::path::Path::new("dies.pop3"), text.join("===\n")).unwrap()
}

/// A server that answers `serve` connections (the discovery's among them) and then stops
/// answering: it keeps its port but accepts nothing more, and its accept queue (one slot)
/// is full, so that every later connection waits out its deadline.
async fn dies_after(serve: usize) -> u16 {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let listener = socket.listen(1).unwrap();
    tokio::spawn(async move {
        for _ in 0..serve {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(connection(s, Hostile::Garbage));
        }
        // fill the accept queue, then hold it (and the listener) for the test's length
        let mut held = Vec::new();
        for _ in 0..4 {
            if let Ok(Ok(s)) = tokio::time::timeout(
                Duration::from_millis(200),
                tokio::net::TcpStream::connect(("127.0.0.1", port)),
            )
            .await
            {
                held.push(s);
            }
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop((listener, held));
    });
    port
}

/// A target that dies mid-run: after [`GONE_AFTER`] connections in a row that could not be
/// made, the other cases end at once as errors naming the case after which it died.
#[tokio::test(flavor = "multi_thread")]
async fn a_target_that_dies_mid_run_ends_the_rest_quickly() {
    // the discovery takes 1 connection (CAPA, logins refused on it), then 4 cases pass
    let port = dies_after(5).await;
    let mut config = config(port, TlsMode::None, Duration::from_secs(1));
    config.jobs = 1;
    let mut c = Collect::default();
    let t = Instant::now();
    runner::run(quit_cases(20), config, &mut c).await.unwrap();
    let took = t.elapsed();
    eprintln!("{took:?}: {:?}", c.results);
    let passed: Vec<&str> = c
        .results
        .iter()
        .filter(|(_, v, _)| *v == Verdict::Pass)
        .map(|(i, ..)| i.as_str())
        .collect();
    assert!(!passed.is_empty() && passed.len() < 20, "{:?}", c.results);
    let last = *passed.last().unwrap();
    let gone: Vec<_> = c
        .results
        .iter()
        .filter(|(_, v, _)| says(v, &format!("stopped answering after case {last}")))
        .collect();
    // 20 cases: some passed, GONE_AFTER could not connect (a few more on a loaded machine:
    // already started when the third ended, or queued by the server's last accept slot), the
    // rest were not run
    let tried = 20 - passed.len() - gone.len();
    assert!(
        (GONE_AFTER..=GONE_AFTER + 3).contains(&tried) && gone.len() >= 8,
        "{:?}",
        c.results
    );
    // without this, each of the ~13 cases left would wait out its 1 s deadline
    assert!(took < Duration::from_secs(10), "{took:?}");
}

/// A reporter that cannot write (a full disk).
struct Full;

impl Reporter for Full {
    fn event(&mut self, _: &Event<'_>) -> Result<(), ReportError> {
        Err(ReportError {
            report: "test",
            to: "/dev/full".into(),
            error: std::io::Error::from_raw_os_error(28),
        })
    }
}

/// A report that could not be written ends the run with that error, after the run.
#[tokio::test(flavor = "multi_thread")]
async fn a_report_that_cannot_be_written_is_the_runs_error() {
    let port = serve(Hostile::Garbage).await;
    let err = runner::run(
        quit_cases(2),
        config(port, TlsMode::None, Duration::from_secs(1)),
        &mut Full,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RunError::Report(_)), "{err}");
    assert!(err.to_string().contains("/dev/full"), "{err}");
}

/// An interrupt stops the run: the running and waiting cases are `not run: interrupted`,
/// and the reports get the whole stream.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupt_ends_the_run_with_every_case_reported() {
    let port = serve(Hostile::SlowDrip).await;
    let cases: Vec<_> = (0..10)
        .flat_map(|_| {
            scenario::parse_str(std::path::Path::new("hostile.pop3"), HOSTILE_CASES).unwrap()
        })
        .enumerate()
        .map(|(i, mut c)| {
            c.id = format!("{}-{i}", c.id);
            c
        })
        .collect();
    let mut config = config(port, TlsMode::None, Duration::from_secs(5));
    config.jobs = 1;
    let (interrupter, interrupt) = Interrupt::channel();
    config.interrupt = Some(interrupt);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        interrupter.interrupt("SIGTERM");
    });
    let mut c = Collect::default();
    let t = Instant::now();
    let summary = runner::run(cases, config, &mut c).await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(summary.interrupted.as_deref(), Some("SIGTERM"));
    assert_eq!(c.interrupted.as_deref(), Some("SIGTERM"));
    assert_eq!(c.results.len(), 30);
    let not_run = c
        .results
        .iter()
        .filter(|(_, v, _)| *v == Verdict::Skip("not run: interrupted (SIGTERM)".into()))
        .count();
    assert!(not_run >= 25, "{:?}", c.results);
}
