//! The runner against the bundled reference server on loopback: a clean pass, a deliberate
//! defect caught, an unreachable target, and snapshots of the console and JUnit reports.

use std::sync::{Arc, Mutex};

use reference_server::maildrop::MemoryStore;
use reference_server::{fixture, tls, Config, Fault, Faults, RunningServer, Users};
use runner::report::console::Console;
use runner::report::html::Html;
use runner::report::json::Json;
use runner::report::junit::JUnit;
use runner::transport::IoLimits;
use runner::{
    Baseline, CaseEnv, Event, Profile, ReportError, Reporter, RunConfig, RunError, Summary, Target,
    TlsMode, Trust, Verdict,
};
use scenario::plan::{Case, Level};

const SCENARIO: &str = r#"
id: demo/stat
title: STAT on the fixture
rfc: 1939 §5
level: MUST
requirement: "the number of messages in the maildrop ... and the size of the maildrop in octets"
fixture: standard
---
S: +OK {*}
C: USER {user}
S: +OK {*}
C: PASS {password}
S: +OK {*}
C: STAT
S: +OK 7 1056458
C: QUIT
S: +OK {*}
===
id: demo/gaps
title: LIST keeps numbers after DELE
rfc: 1939 §5
level: MUST
requirement: "Any future reference to the message-number associated with the message in a POP3 command generates an error."
fixture: standard
---
S: +OK {*}
C: USER {user}
S: +OK {*}
C: PASS {password}
S: +OK {*}
C: DELE 1
S: +OK {*}
C: LIST
S: +OK {*}
S: 2 311
S*: {n:\d+} {size:\d+}
S: .
C: QUIT
S: +OK {*}
===
id: demo/needs-xyz
title: A case whose capability the server lacks
rfc: 2449 §5
level: SHOULD
requirement: "skipped, with the reason"
requires: X-NOT-THERE
---
S: +OK {*}
"#;

fn cases() -> Vec<Case> {
    scenario::parse_str(std::path::Path::new("demo.pop3"), SCENARIO).expect("scenario parses")
}

async fn bundled(faults: Faults) -> (RunningServer, CaseEnv, MemoryStore) {
    bundled_with(
        faults,
        Config::new(Users::new(), Arc::new(MemoryStore::new())).max_connections,
    )
    .await
}

/// [`bundled`] taking at most `max_connections` sessions at once (beyond them a connection
/// gets `-ERR too many connections` and is closed).
async fn bundled_with(
    faults: Faults,
    max_connections: usize,
) -> (RunningServer, CaseEnv, MemoryStore) {
    let store = MemoryStore::new();
    fixture::seed_memory(&store, "demo");
    let mut users = Users::new();
    users.insert("demo", "demo-password");
    let mut config = Config::new(users, Arc::new(store.clone()));
    config.allow_plaintext_auth = true;
    config.max_connections = max_connections;
    config.faults = faults;
    let id = tls::self_signed("localhost").unwrap();
    config.tls = Some(id.config.clone());
    let server = RunningServer::start(config, Some("127.0.0.1:0".parse().unwrap()), None)
        .await
        .unwrap();
    let env = CaseEnv {
        endpoint: runner::client::Endpoint {
            target: Target {
                host: "127.0.0.1".into(),
                port: server.plain_addr().unwrap().port(),
                tls: TlsMode::None,
                trust: Trust::Pem(id.cert_pem),
            },
            tls: None,
            limits: IoLimits::default(),
            profile: Profile {
                user: "demo".into(),
                password: "demo-password".into(),
                token: None,
            },
        },
        fixture: Arc::new(fixture::MESSAGES.iter().map(|m| m.to_vec()).collect()),
        login: None,
    };
    (server, env, store)
}

/// Collects the events' verdicts for assertions.
#[derive(Default)]
struct Verdicts(Vec<(String, Verdict)>);

impl Reporter for Verdicts {
    fn event(&mut self, e: &Event<'_>) -> Result<(), ReportError> {
        if let Event::Finished { results, .. } = e {
            self.0 = results
                .iter()
                .map(|r| (r.case.id.clone(), r.verdict.clone()))
                .collect();
        }
        Ok(())
    }
}

struct Both<'a>(Vec<&'a mut dyn Reporter>);

impl Reporter for Both<'_> {
    fn event(&mut self, e: &Event<'_>) -> Result<(), ReportError> {
        for r in &mut self.0 {
            r.event(e)?;
        }
        Ok(())
    }
}

fn stable(text: &str) -> String {
    let stamp = regex::Regex::new(r"(<|&lt;)\d+\.\d+\.\d+@localhost(>|&gt;)").unwrap();
    let port = regex::Regex::new(r"127\.0\.0\.1:\d+").unwrap();
    let ts = regex::Regex::new(r#"timestamp="[^"]*""#).unwrap();
    let host = regex::Regex::new(r#"hostname="[^"]*""#).unwrap();
    let s = stamp.replace_all(text, "${1}STAMP${2}");
    let s = port.replace_all(&s, "127.0.0.1:PORT");
    let s = ts.replace_all(&s, "timestamp=\"T\"");
    host.replace_all(&s, "hostname=\"H\"").into_owned()
}

async fn run_with(faults: Faults) -> (Summary, Vec<(String, Verdict)>, String, String) {
    run_with_baseline(faults, None).await
}

async fn run_with_baseline(
    faults: Faults,
    baseline: Option<Baseline>,
) -> (Summary, Vec<(String, Verdict)>, String, String) {
    let (_server, env, store) = bundled(faults).await;
    let reseed_store = store.clone();
    let config = RunConfig {
        env,
        jobs: 1,
        threshold: Level::Must,
        reseed: Some(Arc::new(move || {
            reseed_store.replace("demo", fixture::MESSAGES.iter().map(|m| m.to_vec()));
            Ok(())
        })),
        baseline,
        expect: Vec::new(),
        login: None,
        more_accounts: Vec::new(),
        interrupt: None,
    };
    let mut verdicts = Verdicts::default();
    let mut console = Console::new(Vec::new());
    console.timings = false;
    let junit_buf = Arc::new(Mutex::new(Vec::new()));
    let mut junit = JUnit::new(SharedBuf(junit_buf.clone()));
    junit.timings = false;
    let summary = runner::run(
        cases(),
        config,
        &mut Both(vec![&mut verdicts, &mut console, &mut junit]),
    )
    .await
    .unwrap();
    let console = String::from_utf8(console.into_inner()).unwrap();
    let xml = String::from_utf8(junit_buf.lock().unwrap().clone()).unwrap();
    (summary, verdicts.0, stable(&console), stable(&xml))
}

#[derive(Clone)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl runner::report::Output for SharedBuf {
    fn name(&self) -> String {
        "a shared buffer".into()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn clean_server_passes_and_skips_with_reason() {
    let (summary, verdicts, console, xml) = run_with(Faults::none()).await;
    assert_eq!(
        (
            summary.passed,
            summary.failed,
            summary.errors,
            summary.skipped,
            summary.not_applicable
        ),
        (2, 0, 0, 0, 1),
        "{console}"
    );
    assert_eq!(summary.run_failures, 0);
    assert!(matches!(&verdicts[2].1, Verdict::NotApplicable(r) if r.contains("X-NOT-THERE")));
    assert!(
        console.ends_with("2 passed, 0 failed, 0 skipped, 1 not applicable, 0 blocked\n"),
        "{console}"
    );
    assert!(
        xml.contains("<skipped type=\"not-applicable\" message=\"not applicable: target does not implement X-NOT-THERE (not in CAPA)\"/>"),
        "{xml}"
    );
    insta::assert_snapshot!("console_clean", console);
    insta::assert_snapshot!("junit_clean", xml);
}

#[tokio::test(flavor = "multi_thread")]
async fn deliberate_defect_is_caught_and_named() {
    let (summary, verdicts, console, xml) =
        run_with(Faults::none().with(Fault::ListRenumbersAfterDele)).await;
    assert_eq!(summary.run_failures, 1, "{console}");
    assert_eq!(verdicts[0].1, Verdict::Pass);
    let Verdict::Fail(f) = &verdicts[1].1 else {
        panic!("demo/gaps must fail: {:?}", verdicts[1]);
    };
    assert_eq!(f.expected, "2 311");
    assert_eq!(f.actual, "1 311");
    assert!(
        xml.contains("<failure") && xml.contains("demo/gaps"),
        "{xml}"
    );
    insta::assert_snapshot!("console_fault", console);
    insta::assert_snapshot!("junit_fault", xml);
}

const BASELINE: &str = r#"
server = "the bundled server with list-renumbers-after-dele"

[[deviation]]
id = "demo/gaps"
rfc = "1939 §5"
reason = "renumbers the messages after DELE"

[[deviation]]
id = "demo/stat"
rfc = "1939 §5"
modes = ["none"]
reason = "listed to show that a baselined case that passes is flagged"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn baselined_deviations_do_not_fail_the_run_and_are_reported_apart() {
    let baseline =
        Baseline::parse(std::path::Path::new("b.toml"), BASELINE, &cases()).expect("valid");
    let (summary, verdicts, console, xml) = run_with_baseline(
        Faults::none().with(Fault::ListRenumbersAfterDele),
        Some(baseline),
    )
    .await;
    assert!(matches!(verdicts[1].1, Verdict::Fail(_)), "{console}");
    assert_eq!(
        (summary.run_failures, summary.known, summary.outdated),
        (0, 1, 1),
        "{console}"
    );
    assert!(console.contains("KNOWN   MUST    demo/gaps"), "{console}");
    assert!(console.contains("--- KNOWN FAIL demo/gaps"), "{console}");
    assert!(
        console.ends_with(
            "1 passed, 0 failed, 0 skipped, 1 not applicable, 0 blocked, 1 known (baseline), 1 baselined but passing\n"
        ),
        "{console}"
    );
    assert!(!xml.contains("<failure"), "{xml}");
    insta::assert_snapshot!("console_baseline", console);
    insta::assert_snapshot!("junit_baseline", xml);
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_target_is_an_error_before_any_case() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let (_server, mut env, _) = bundled(Faults::none()).await;
    env.endpoint.target.port = port;
    let config = RunConfig {
        env,
        jobs: 1,
        threshold: Level::Must,
        reseed: None,
        more_accounts: Vec::new(),
        baseline: None,
        expect: Vec::new(),
        login: None,
        interrupt: None,
    };
    let err = runner::run(cases(), config, &mut Verdicts::default())
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Unreachable { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_selected_is_an_error() {
    let (_server, env, _) = bundled(Faults::none()).await;
    let config = RunConfig {
        env,
        jobs: 1,
        threshold: Level::Must,
        reseed: None,
        more_accounts: Vec::new(),
        baseline: None,
        expect: Vec::new(),
        login: None,
        interrupt: None,
    };
    let err = runner::run(Vec::new(), config, &mut Verdicts::default())
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::NothingSelected));
}

/// `S~:` (any order), `S|:` (any of) and `S!:` (absent) judged on real lines, both ways.
#[tokio::test(flavor = "multi_thread")]
async fn unordered_alternatives_and_absence() {
    let text = r#"
id: u/ok
title: LIST lines in any order
rfc: 1939 §5
level: MUST
requirement: "r"
---
S: +OK {*}
C: USER {user}
S: +OK {*}
C: PASS {password}
S: +OK {*}
C: LIST
S: +OK {*}
S~: 3 549
S~: 1 {first}
S~: 2 311
S*: {*}
S: .
assert first == 895
C: NOOP
S|: -ERR {*}
S|: +OK {*}
C: CAPA
S: +OK {*}
S!: NO-SUCH-CAPABILITY
S: .
C: QUIT
S: +OK {*}
===
id: u/bad
title: a set that the listing does not hold
rfc: 1939 §5
level: MUST
requirement: "r"
---
S: +OK {*}
C: USER {user}
S: +OK {*}
C: PASS {password}
S: +OK {*}
C: LIST
S: +OK {*}
S~: 2 311
S~: 1 895
S~: 3 999
"#;
    let cases = scenario::parse_str(std::path::Path::new("u.pop3"), text).unwrap();
    let (_server, env, _) = bundled(Faults::none()).await;
    let config = RunConfig {
        env,
        jobs: 1,
        threshold: Level::Must,
        reseed: None,
        more_accounts: Vec::new(),
        baseline: None,
        expect: Vec::new(),
        login: None,
        interrupt: None,
    };
    let mut v = Verdicts::default();
    runner::run(cases, config, &mut v).await.unwrap();
    assert_eq!(v.0[0].1, Verdict::Pass, "{:?}", v.0[0]);
    let Verdict::Fail(f) = &v.0[1].1 else {
        panic!("{:?}", v.0[1])
    };
    assert_eq!(f.actual, "3 549");
    assert_eq!(f.expected, "3 999");
}

/// Runs the demo cases against a maildrop holding `messages`; returns the verdicts.
async fn verdicts_on(messages: Vec<Vec<u8>>) -> Vec<(String, Verdict)> {
    let (_server, env, store) = bundled(Faults::none()).await;
    store.replace("demo", messages);
    let config = RunConfig {
        env,
        jobs: 1,
        threshold: Level::Must,
        reseed: None,
        more_accounts: Vec::new(),
        baseline: None,
        expect: Vec::new(),
        login: None,
        interrupt: None,
    };
    let mut verdicts = Verdicts::default();
    runner::run(cases(), config, &mut verdicts).await.unwrap();
    verdicts.0
}

#[tokio::test(flavor = "multi_thread")]
async fn fixture_cases_are_skipped_when_the_maildrop_is_not_the_fixture() {
    // one message fewer: STAT differs
    let fewer: Vec<Vec<u8>> = fixture::MESSAGES[1..].iter().map(|m| m.to_vec()).collect();
    // messages 1 and 2 swapped: STAT is the fixture's, the scan listings are not
    let mut swapped: Vec<Vec<u8>> = fixture::MESSAGES.iter().map(|m| m.to_vec()).collect();
    swapped.swap(0, 1);
    for (messages, why) in [
        (fewer, "it holds 6 messages"),
        (swapped, "message 1 has Message-ID <fixture-2."),
    ] {
        let verdicts = verdicts_on(messages).await;
        for (id, verdict) in &verdicts[..2] {
            assert!(
                matches!(verdict, Verdict::Skip(r) if r.contains("needs the standard fixture") && r.contains(why)),
                "{id}: {verdict:?}"
            );
        }
    }
}

/// Runs the demo cases against the bundled server with `faults` (and `baseline`) into
/// `reporter`, reseeding after each mutating case.
async fn report_into(faults: Faults, baseline: Option<Baseline>, reporter: &mut dyn Reporter) {
    let (_server, env, store) = bundled(faults).await;
    let config = RunConfig {
        env,
        jobs: 1,
        threshold: Level::Must,
        reseed: Some(Arc::new(move || {
            store.replace("demo", fixture::MESSAGES.iter().map(|m| m.to_vec()));
            Ok(())
        })),
        baseline,
        expect: Vec::new(),
        login: None,
        more_accounts: Vec::new(),
        interrupt: None,
    };
    runner::run(cases(), config, reporter).await.unwrap();
}

/// The JSON Lines report of a run against the bundled server with `faults`.
async fn json_of(faults: Faults) -> String {
    let mut json = Json::new(Vec::new());
    json.timings = false;
    report_into(faults, None, &mut json).await;
    stable(&String::from_utf8(json.into_inner()).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn json_lines_one_event_per_case_with_the_transcript_and_no_password() {
    for (name, faults, verdicts) in [
        (
            "json_clean",
            Faults::none(),
            ["not-applicable", "pass", "pass"],
        ),
        (
            "json_fault",
            Faults::none().with(Fault::ListRenumbersAfterDele),
            ["not-applicable", "pass", "fail"],
        ),
    ] {
        let text = json_of(faults).await;
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert_eq!(lines[0]["event"], "started");
        assert_eq!(lines[0]["total"], 3);
        assert_eq!(lines[4]["event"], "finished");
        let cases = &lines[1..4];
        for (c, want) in cases.iter().zip(verdicts) {
            assert_eq!(c["event"], "case");
            assert_eq!(c["verdict"], want, "{c}");
            assert!(c["rfc"].as_str().unwrap().starts_with("RFC "), "{c}");
        }
        // skips come first in the live stream, then the cases in order (one job)
        assert_eq!(
            cases[0]["skip_reason"],
            "target does not implement X-NOT-THERE (not in CAPA)"
        );
        if name == "json_fault" {
            assert_eq!(cases[2]["id"], "demo/gaps");
            assert_eq!(cases[2]["expected"], "2 311");
            assert_eq!(cases[2]["actual"], "1 311");
            let transcript = cases[2]["transcript"].as_array().unwrap();
            assert!(transcript.iter().any(|l| l["text"] == "PASS ***"), "{text}");
        }
        assert!(!text.contains("demo-password"), "{text}");
        insta::assert_snapshot!(name, text);
    }
}

/// The HTML page of a run against the bundled server with `faults` and `baseline`.
async fn html_of(faults: Faults, baseline: Option<Baseline>) -> String {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let mut html = Html::new(SharedBuf(buf.clone()));
    html.timings = false;
    report_into(faults, baseline, &mut html).await;
    let page = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    stable(&page)
}

/// The number in `data-count` of the total `n-NAME`.
fn count_of(page: &str, name: &str) -> usize {
    let at = page
        .find(&format!("id=\"n-{name}\" data-count=\""))
        .unwrap_or_else(|| panic!("no n-{name} in the page"));
    let rest = &page[at..];
    let n = &rest[rest.find("data-count=\"").unwrap() + 12..];
    n[..n.find('"').unwrap()].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn html_page_is_self_contained_escaped_failures_first_and_without_password() {
    let baseline = || {
        Some(Baseline::parse(std::path::Path::new("b.toml"), BASELINE, &cases()).expect("valid"))
    };
    for (name, faults, baseline, order, totals) in [
        (
            "html_fault",
            Faults::none().with(Fault::ListRenumbersAfterDele),
            None,
            ["fail", "pass", "na"],
            [1, 1, 0, 0, 0, 1],
        ),
        (
            "html_baseline",
            Faults::none().with(Fault::ListRenumbersAfterDele),
            baseline(),
            ["known", "pass", "na"],
            [1, 0, 0, 0, 1, 1],
        ),
    ] {
        let page = html_of(faults, baseline).await;
        // one row per case, failures first, then known deviations, passes, skips
        let verdicts: Vec<&str> = page
            .split("<tr class=\"case ")
            .skip(1)
            .map(|row| &row[row.find("data-verdict=\"").unwrap() + 14..])
            .map(|v| &v[..v.find('"').unwrap()])
            .collect();
        assert_eq!(verdicts, order, "{name}");
        let got =
            ["passed", "failed", "errors", "skipped", "known", "na"].map(|id| count_of(&page, id));
        assert_eq!(got, totals, "{name}");
        assert_eq!(count_of(&page, "tests"), 3, "{name}");
        // nothing is fetched: no external reference of any kind
        for external in [
            "src=", "href=", "url(", "@import", "http:", "https:", "//cdn",
        ] {
            assert!(!page.contains(external), "{name}: {external}");
        }
        // the greeting's <timestamp> is text, not a tag; no password in any form
        assert!(page.contains("ready &lt;STAMP&gt;"), "{page}");
        assert!(page.contains("C: PASS ***"), "{page}");
        for secret in [
            "demo-password".to_owned(),
            pop3_proto::auth::encode_base64(b"demo-password"),
            pop3_proto::auth::encode_base64(b"\0demo\0demo-password"),
            pop3_proto::auth::encode_base64(b"demo\0demo-password"),
        ] {
            assert!(!page.contains(&secret), "{name}: {secret}");
        }
        insta::assert_snapshot!(name, page);
    }
}

/// A server that takes 4 sessions at once, and 16 cases of two sessions each on 8 jobs: the
/// connections it turns away while other cases run are its limit, not a verdict. The run
/// halves its concurrency and runs those cases again: every case passes, and the summary
/// says how far the run went down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_limit_on_sessions_lowers_the_concurrency_not_the_verdicts() {
    let (_server, env, _store) = bundled_with(Faults::none(), 4).await;
    let mut text = String::new();
    for i in 0..16 {
        text.push_str(&format!(
            "{}id: limit/two-sessions-{i}\ntitle: two sessions at once\nrfc: 1939 §3\nlevel: MUST\n\
             requirement: \"the POP3 server issues a one line greeting\"\n---\n\
             S: +OK {{*}}\nopen second\nS: +OK {{*}}\nC: NOOP\nS: -ERR {{*}}\n\
             use main\nC: QUIT\nS: +OK {{*}}\nuse second\nC: QUIT\nS: +OK {{*}}\n",
            if i == 0 { "" } else { "===\n" }
        ));
    }
    let cases = scenario::parse_str(std::path::Path::new("limit.pop3"), &text).expect("parses");
    let config = RunConfig {
        env,
        jobs: 8,
        threshold: Level::Must,
        reseed: None,
        baseline: None,
        expect: Vec::new(),
        login: None,
        more_accounts: Vec::new(),
        interrupt: None,
    };
    let mut verdicts = Verdicts::default();
    let summary = runner::run(cases, config, &mut verdicts).await.unwrap();
    assert_eq!(verdicts.0.len(), 16);
    for (id, v) in &verdicts.0 {
        assert_eq!(*v, Verdict::Pass, "{id}");
    }
    let lowered = summary.jobs_lowered_to.expect("the run went down");
    assert!(lowered < 8, "{lowered}");
}
