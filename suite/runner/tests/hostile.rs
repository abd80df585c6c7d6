//! A hostile or dead target: each misbehaving case gets an error (or fail) verdict with its
//! transcript, and the run goes on to the next case.

use std::sync::Arc;
use std::time::Duration;

use runner::transport::IoLimits;
use runner::{CaseEnv, Event, Profile, Reporter, RunConfig, Target, TlsMode, Trust, Verdict};
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

#[derive(Default)]
struct Collect(Vec<(String, Verdict, usize)>);

impl Reporter for Collect {
    fn event(&mut self, e: &Event<'_>) {
        if let Event::Finished { results, .. } = e {
            self.0 = results
                .iter()
                .map(|r| (r.case.id.clone(), r.verdict.clone(), r.transcript.len()))
                .collect();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_misbehaviour_gets_a_verdict_and_the_run_goes_on() {
    let port = hostile().await;
    let cases = scenario::parse_str(std::path::Path::new("hostile.pop3"), CASES).unwrap();
    let env = CaseEnv {
        endpoint: runner::client::Endpoint {
            target: Target {
                host: "127.0.0.1".into(),
                port,
                tls: TlsMode::None,
                trust: Trust::Insecure,
            },
            tls: None,
            limits: IoLimits {
                io_timeout: Duration::from_millis(500),
                max_line: 4096,
                max_bytes: 1 << 20,
            },
            profile: Profile {
                user: "u".into(),
                password: "p".into(),
            },
        },
        fixture: Arc::new(Vec::new()),
        login: None,
    };
    let config = RunConfig {
        env,
        jobs: 4,
        threshold: Level::Must,
        reseed: None,
        baseline: None,
        expect: Vec::new(),
        login: None,
    };
    let mut c = Collect::default();
    let summary = tokio::time::timeout(Duration::from_secs(20), runner::run(cases, config, &mut c))
        .await
        .expect("the run ends by itself")
        .unwrap();
    let by_id = |id: &str| c.0.iter().find(|(i, ..)| i == id).unwrap().clone();
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
    for (id, _, transcript) in &c.0 {
        assert!(*transcript >= 2, "{id} has its transcript");
    }
    assert_eq!((summary.passed, summary.failed, summary.errors), (1, 3, 1));
}
