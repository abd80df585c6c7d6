//! The model against the bundled reference server, in-process on 127.0.0.1:0: a compliant
//! server passes every sequence; a faulty one is found.

use std::sync::Arc;
use std::time::Duration;

use client::transport::IoLimits;
use client::{Profile, Target, TlsMode, Trust};
use model::exec::{Caps, Env};
use model::{check, Account, Exploration as Config};
use reference_server::maildrop::MemoryStore;
use reference_server::{fixture, Config as ServerConfig, Fault, Faults, RunningServer, Users};

struct Bundled {
    rt: tokio::runtime::Runtime,
    _server: RunningServer,
    env: Env,
    store: MemoryStore,
}

fn bundled(faults: Faults) -> Bundled {
    bundled_for(faults, 1)
}

/// The user of job `k` (0-based): `demo`, `demo-2`, ...
fn user(k: usize) -> String {
    match k {
        0 => "demo".into(),
        k => format!("demo-{}", k + 1),
    }
}

/// The server with `jobs` users, each with the fixture in a maildrop of its own.
fn bundled_for(faults: Faults, jobs: usize) -> Bundled {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = MemoryStore::new();
    let mut users = Users::new();
    for k in 0..jobs {
        fixture::seed_memory(&store, &user(k));
        users.insert(user(k), "demo-password");
    }
    let mut config = ServerConfig::new(users, Arc::new(store.clone()));
    config.allow_plaintext_auth = true;
    config.faults = faults;
    // the model's second session meets the lock on purpose: refused at once, as by
    // `conform model`'s bundled server (the lock is let go before QUIT's answer or the close)
    config.lock_wait = Duration::ZERO;
    let server = rt
        .block_on(RunningServer::start(
            config,
            Some("127.0.0.1:0".parse().unwrap()),
            None,
        ))
        .unwrap();
    let port = server.plain_addr().unwrap().port();
    let mut env = Env {
        endpoint: client::Endpoint {
            target: Target {
                host: "127.0.0.1".into(),
                port,
                tls: TlsMode::None,
                trust: Trust::Insecure,
            },
            tls: None,
            limits: IoLimits {
                io_timeout: Duration::from_secs(5),
                ..IoLimits::default()
            },
            profile: Profile {
                user: "demo".into(),
                password: "demo-password".into(),
                token: None,
            },
        },
        caps: Caps::default(),
    };
    env.caps = rt.block_on(model::check::discover(&env));
    Bundled {
        rt,
        _server: server,
        env,
        store,
    }
}

fn fixture_messages() -> Vec<Vec<u8>> {
    fixture::MESSAGES.iter().map(|m| m.to_vec()).collect()
}

fn run(b: &Bundled, config: &Config) -> model::Report {
    run_jobs(b, 1, config)
}

/// The model on `jobs` jobs, one user each.
fn run_jobs(b: &Bundled, jobs: usize, config: &Config) -> model::Report {
    let reseeds: Vec<_> = (0..jobs)
        .map(|k| {
            let store = b.store.clone();
            move || {
                store.replace(&user(k), fixture::MESSAGES.iter().map(|m| m.to_vec()));
                Ok(())
            }
        })
        .collect();
    let accounts: Vec<Account<'_>> = reseeds
        .iter()
        .enumerate()
        .map(|(k, reseed)| Account {
            profile: client::Profile {
                user: user(k),
                password: "demo-password".into(),
                token: None,
            },
            reseed: Some(reseed),
            exact_reseed: true,
            host: None,
        })
        .collect();
    check(&b.env, &accounts, &fixture_messages(), config, &|_| {}).unwrap()
}

/// Sequence `i` comes from (seed, i): one job or four, the same sequences (their digest and
/// their commands) on a compliant server, and the same failure, shrunk to the same sequence,
/// on a faulty one.
#[test]
fn four_jobs_run_the_same_sequences_as_one() {
    let b = bundled_for(Faults::none(), 4);
    let config = Config {
        cases: 120,
        seed: 21,
        ..Config::default()
    };
    let (one, four) = (run_jobs(&b, 1, &config), run_jobs(&b, 4, &config));
    assert!(one.failure.is_none() && four.failure.is_none());
    assert_eq!((one.jobs, four.jobs), (1, 4));
    assert_eq!(
        (one.digest, one.sequences, one.commands),
        (four.digest, four.sequences, four.commands)
    );
    let b = bundled_for(Faults::none().with(Fault::RsetKeepsMarks), 4);
    let config = Config {
        cases: 300,
        seed: 4,
        ..Config::default()
    };
    let (one, four) = (run_jobs(&b, 1, &config), run_jobs(&b, 4, &config));
    assert_eq!(one.digest, four.digest);
    let (f1, f4) = (one.failure.expect("found"), four.failure.expect("found"));
    assert_eq!(f1.ops, f4.ops);
    let (d1, d4) = (
        f1.outcome.divergence.unwrap(),
        f4.outcome.divergence.unwrap(),
    );
    assert_eq!(
        (d1.step, &d1.expected, d1.rule),
        (d4.step, &d4.expected, d4.rule)
    );
}

#[test]
fn a_compliant_server_passes_every_sequence() {
    let b = bundled(Faults::none());
    assert!(b.env.caps.user && b.env.caps.uidl && b.env.caps.top && b.env.caps.plain);
    for sessions in [1, 2] {
        let report = run(
            &b,
            &Config {
                cases: 150,
                seed: 7 + u64::from(sessions),
                sessions,
                regressions: Some("proptest-regressions/bundled.txt"),
                ..Config::default()
            },
        );
        if let Some(f) = &report.failure {
            panic!(
                "{} sessions: {}\n{:?}\n{:#?}",
                sessions, f.reason, f.ops, f.outcome.transcript
            );
        }
        assert!(report.sequences >= 150, "{}", report.sequences);
        assert!(report.commands > 150 * 3, "{}", report.commands);
        eprintln!(
            "{sessions} session(s): {} sequences, {} commands, {:.0} commands/s",
            report.sequences,
            report.commands,
            report.rate()
        );
    }
}

#[test]
fn a_fault_is_found_and_shrunk() {
    let b = bundled(Faults::none().with(Fault::ListRenumbersAfterDele));
    let report = run(
        &b,
        &Config {
            cases: 300,
            seed: 1,
            sessions: 1,
            // the seeds of this test's past failures (committed), replayed first
            regressions: Some("proptest-regressions/faults.txt"),
            ..Config::default()
        },
    );
    let f = report.failure.expect("the fault is found");
    let d = f
        .outcome
        .divergence
        .as_ref()
        .expect("the rerun diverges too");
    assert!(f.ops.len() <= 6, "shrunk: {:?}", f.ops);
    let text = model::replay::scenario(&f, 1).unwrap();
    assert!(text.contains("C: DELE"), "{text}");
    assert!(text.contains("fixture: standard"), "{text}");
    assert!(d.rule.rfc.starts_with("1939"), "{d}");
}

/// Every scenario the model records has a text: printed, it parses back to as many steps and
/// prints the same again (the printer inverts the parser), for sequences on two sessions.
#[test]
fn recorded_scenarios_print_and_parse_back() {
    use proptest::strategy::{Strategy, ValueTree};
    use scenario::plan::{Case, Fixture, Level, RfcRef, Span};
    let b = bundled(Faults::none());
    let strategy = model::ops::sequence(2, 24);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let file = Arc::new(std::path::PathBuf::from("recorded.pop3"));
    for _ in 0..60 {
        b.store
            .replace("demo", fixture::MESSAGES.iter().map(|m| m.to_vec()));
        let start =
            b.rt.block_on(check::inspect(&b.env, &fixture_messages()))
                .unwrap();
        let ops = strategy.new_tree(&mut runner).unwrap().current();
        let outcome = b.rt.block_on(model::exec::run(&b.env, &start, &ops, 2));
        assert!(outcome.divergence.is_none(), "{:?}", outcome.divergence);
        let (steps, comments) = outcome.script.steps(&file);
        let case = Case {
            id: "model/recorded".into(),
            title: "recorded".into(),
            rfc: RfcRef {
                number: 1939,
                section: "3".into(),
            },
            level: Level::Must,
            requirement: "r".into(),
            requires: Vec::new(),
            tags: Vec::new(),
            fixture: Fixture::Any,
            mutates: outcome.script.mutates,
            after: Vec::new(),
            holds_maildrop: true,
            logs_in_with_step: false,
            span: Span {
                file: file.clone(),
                line: 1,
                col: 1,
            },
            steps,
        };
        let text = scenario::print::print_commented(&case, &comments)
            .unwrap_or_else(|e| panic!("{e}: {ops:?}"));
        let back =
            scenario::parse_str("recorded.pop3", &text).unwrap_or_else(|d| panic!("{d}\n{text}"));
        assert_eq!(back[0].steps.len(), case.steps.len(), "{text}");
        assert_eq!(
            scenario::print::print_commented(&back[0], &comments).unwrap(),
            text
        );
    }
}
