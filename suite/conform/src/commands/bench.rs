//! `conform bench`: load measurements of a POP3 server (crate `bench`): sessions per second,
//! RETR throughput of the largest message, latency percentiles, failures and lock
//! contention; with `--against`, a second server measured in the same run, side by side.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bench::stats::Percentiles;
use bench::{BenchError, Measurement, PhaseReport, Prepared, Settings, Side};
use clap::Args;
use reference_server::RunningServer;
use runner::report::{Output as _, ReportFile};
use runner::{Profile, ReportError, Target, TlsMode, Trust};
use serde::Serialize;

use crate::args::{TargetArgs, TlsArg};
use crate::bundled;
use crate::error::{CliError, Outcome};
use crate::setup::{Destination, Setup};

/// The password's variable of an `--against` server after the bundled one, without
/// `--against-password-env` (the same default as `--password-env`'s).
const DEFAULT_PASSWORD_ENV: &str = "CONFORM_PASSWORD";

const EXAMPLES: &str = "\
Examples:
  conform bench                                    # the bundled server, in-process
  CONFORM_PASSWORD=secret conform bench --target 127.0.0.1:110 --user alice --insecure \\
      --concurrency 1 --duration 10 --against bundled --json reports/bench.json

Workers log in round-robin over the accounts. A POP3 server locks the maildrop for a whole
session (RFC 1939 §4): workers sharing an account wait for each other, and logins answered
-ERR [IN-USE] are counted as lock contention, not as sessions. Give one account per worker
(or --concurrency 1 with one account). The bundled server gets one account per worker (USER-1 ... USER-N, USER from --user or
`demo`; `bench-N` as --against).";

/// Arguments of `conform bench`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct BenchArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Workers at once, each with its own connections, logging in round-robin over the
    /// accounts.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=512))]
    concurrency: u16,
    /// Measured seconds of each phase (sessions, then RETR); fractions allowed.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_secs)]
    duration: Duration,
    /// Unmeasured seconds of load before each phase; 0 for none.
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_secs)]
    warmup: Duration,
    /// A second server measured in the same run, shown beside the first with the ratio
    /// (second / first): `bundled` (the bundled server, in the first's TLS mode) or
    /// HOST:PORT, pop3://..., pop3s://... (the first's account, password and trust unless
    /// the --against-* options say otherwise).
    #[arg(long, value_name = "TARGET")]
    against: Option<String>,
    /// The user to log in as on the --against server [default: the first's].
    #[arg(long, value_name = "NAME")]
    against_user: Option<String>,
    /// The variable holding the --against server's password [default: the first's password].
    #[arg(long, value_name = "VAR")]
    against_password_env: Option<String>,
    /// The --against server's TLS mode [default: what its TARGET implies; `bundled`: the
    /// first's].
    #[arg(long, value_enum, value_name = "MODE")]
    against_tls: Option<TlsArg>,
    /// Trust the CA certificates in this PEM file for the --against server.
    #[arg(long, value_name = "FILE", conflicts_with = "against_insecure")]
    against_ca: Option<PathBuf>,
    /// Trust any certificate of the --against server.
    #[arg(long)]
    against_insecure: bool,
    /// Write the results as JSON here (written beside it and renamed into place when complete).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// Seconds, fractions allowed (`0.3`).
fn parse_secs(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("`{text}` is not a number of seconds (0 to 86400)"))
}

/// Measures the target (and `--against`), prints the table, writes `--json`.
pub fn run(args: BenchArgs) -> Result<Outcome, CliError> {
    let setup = Setup::resolve(&args.target, None)?;
    if !args.target.expect.is_empty() {
        return Err(CliError::Usage(
            "--expect declares capabilities for `conform run`; the bench does not judge them"
                .into(),
        ));
    }
    if args.against.is_none()
        && (args.against_user.is_some()
            || args.against_password_env.is_some()
            || args.against_tls.is_some()
            || args.against_ca.is_some()
            || args.against_insecure)
    {
        return Err(CliError::Usage(
            "the --against-* options need --against".into(),
        ));
    }
    // an unwritable report fails before minutes of measuring, not after
    let json = match &args.json {
        Some(path) => Some(ReportFile::create(path).map_err(|e| report_error(path, e))?),
        None => None,
    };
    let settings = Settings {
        concurrency: usize::from(args.concurrency),
        duration: args.duration,
        warmup: args.warmup,
        io_timeout: setup.io_timeout,
    };
    let runtime = super::runtime()?;
    let load_before = load_average();
    let results = runtime.block_on(measure(&args, &setup, &settings))?;
    let report = Report {
        concurrency: settings.concurrency,
        duration_secs: settings.duration.as_secs_f64(),
        warmup_secs: settings.warmup.as_secs_f64(),
        io_timeout_secs: settings.io_timeout.as_secs(),
        load_average_before: load_before,
        load_average_after: load_average(),
        ratio: (results.len() == 2).then(|| Ratio::of(&results[0], &results[1])),
        targets: results,
    };
    print!("{}", table(&report));
    if let (Some(mut file), Some(path)) = (json, &args.json) {
        let written = serde_json::to_writer_pretty(&mut file, &report)
            .map_err(std::io::Error::from)
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.complete());
        written.map_err(|e| report_error(path, e))?;
    }
    Ok(Outcome::Passed)
}

fn report_error(path: &Path, error: std::io::Error) -> CliError {
    CliError::Report(vec![ReportError {
        report: "JSON",
        to: path.display().to_string(),
        error,
    }])
}

/// What a side needs: the server (kept running while the bench runs) and the side.
struct Started {
    side: Side,
    server: Option<RunningServer>,
}

/// Starts what the sides need, checks them (preflight), and runs the phases, alternating
/// sides (sessions of each, then RETR of each) so that a change in the machine's load
/// weighs on both.
async fn measure(
    args: &BenchArgs,
    setup: &Setup,
    settings: &Settings,
) -> Result<Vec<Measurement>, CliError> {
    let first = first_side(setup, settings.concurrency).await?;
    let mut started = vec![first];
    if let Some(spec) = &args.against {
        let mut second = against_side(args, spec, &started[0], settings.concurrency).await?;
        if second.side.label == started[0].side.label {
            second.side.label.push_str(" 2");
        }
        started.push(second);
    }
    let mut prepared: Vec<Prepared> = Vec::new();
    for s in &started {
        let p = bench::prepare(s.side.clone(), settings.io_timeout)
            .await
            .map_err(bench_error)?;
        if p.accounts() < settings.concurrency {
            eprintln!(
                "conform bench: {}: {} workers share {} account(s): expect lock contention \
                 (RFC 1939 §4); give one account per worker",
                p.label(),
                settings.concurrency,
                p.accounts()
            );
        }
        prepared.push(p);
    }
    let mut sessions = Vec::new();
    for p in &prepared {
        announce(p, "sessions", settings);
        sessions.push(p.sessions(settings).await.map_err(bench_error)?);
    }
    let mut retrs = Vec::new();
    for p in &prepared {
        announce(p, "RETR", settings);
        retrs.push(p.retr(settings).await.map_err(bench_error)?);
    }
    Ok(prepared
        .iter()
        .zip(sessions.into_iter().zip(retrs))
        .map(|(p, (s, r))| p.measurement(s, r))
        .collect())
}

fn announce(p: &Prepared, phase: &str, settings: &Settings) {
    eprintln!(
        "conform bench: {}: {phase} phase, {}, {:.1} s warm-up + {:.1} s",
        p.label(),
        workers(settings.concurrency),
        settings.warmup.as_secs_f64(),
        settings.duration.as_secs_f64()
    );
}

/// `1 worker`, `8 workers`.
fn workers(n: usize) -> String {
    format!("{n} worker{}", if n == 1 { "" } else { "s" })
}

fn bench_error(e: BenchError) -> CliError {
    match e {
        BenchError::Tls { source, .. } => CliError::Target(source),
        e if e.is_target_failure() => CliError::Unreachable(e.to_string()),
        e => CliError::Usage(e.to_string()),
    }
}

/// The first side: `--target` (its `--reseed-cmd` run once first), or the bundled server.
async fn first_side(setup: &Setup, concurrency: usize) -> Result<Started, CliError> {
    match &setup.destination {
        Destination::External { .. } => {
            let ready = setup.start().await?;
            // the account pool (repeatable --user): workers log in round-robin over it
            Ok(Started {
                side: Side {
                    label: "target".into(),
                    target: ready.target,
                    accounts: ready.accounts.into_iter().map(|a| a.profile).collect(),
                    login: setup.login,
                },
                server: None,
            })
        }
        Destination::Bundled(options) => {
            let (server, target, accounts) = start_bundled(options, "bench", concurrency).await?;
            Ok(Started {
                side: Side {
                    label: "bundled".into(),
                    target,
                    accounts,
                    login: setup.login,
                },
                server: Some(server),
            })
        }
    }
}

/// The `--against` side.
async fn against_side(
    args: &BenchArgs,
    spec: &str,
    first: &Started,
    concurrency: usize,
) -> Result<Started, CliError> {
    let first_bundled = first.server.is_some();
    let first = &first.side;
    if spec.eq_ignore_ascii_case("bundled") {
        let user = args.against_user.as_deref().unwrap_or("bench");
        let options = bundled::Options {
            users: Vec::new(),
            faults: reference_server::Faults::none(),
            variants: reference_server::Variants::none(),
            allow_plaintext_auth: true,
            tls: args.against_tls.map_or(first.target.tls, TlsMode::from),
        };
        let (server, target, accounts) = start_bundled(&options, user, concurrency).await?;
        return Ok(Started {
            side: Side {
                label: "bundled".into(),
                target,
                accounts,
                login: first.login,
            },
            server: Some(server),
        });
    }
    let mut target = Target::parse(spec)?;
    if let Some(mode) = args.against_tls {
        target.tls = mode.into();
    }
    target.trust = match (&args.against_ca, args.against_insecure) {
        (Some(ca), _) => Trust::CaFile(ca.clone()),
        (None, true) => Trust::Insecure,
        // the bundled server's own certificate means nothing to another server
        (None, false) => match &first.target.trust {
            Trust::Pem(_) => Trust::Platform,
            t => t.clone(),
        },
    };
    let password = match &args.against_password_env {
        Some(var) => Some(password_from(var, "--against-password-env")?),
        None => None,
    };
    let accounts = match (&args.against_user, password) {
        // the bundled server's generated accounts mean nothing to another server
        (None, _) if first_bundled => {
            return Err(CliError::Usage(
                "--against a server of yours after the bundled one needs --against-user \
                 (and its password in $CONFORM_PASSWORD or --against-password-env)"
                    .into(),
            ))
        }
        (Some(user), password) => vec![Profile {
            user: user.clone(),
            password: match password {
                Some(p) => p,
                None if first_bundled => {
                    password_from(DEFAULT_PASSWORD_ENV, "--against-password-env")?
                }
                None => first.accounts[0].password.clone(),
            },
            token: None,
        }],
        // the first's accounts (the same names on both servers), with another password
        (None, Some(password)) => first
            .accounts
            .iter()
            .map(|a| Profile {
                user: a.user.clone(),
                password: password.clone(),
                token: None,
            })
            .collect(),
        (None, None) => first.accounts.clone(),
    };
    Ok(Started {
        side: Side {
            label: "against".into(),
            target,
            accounts,
            login: first.login,
        },
        server: None,
    })
}

/// The password in the variable `var` (named by `option`).
fn password_from(var: &str, option: &str) -> Result<String, CliError> {
    std::env::var(var).map_err(|e| {
        CliError::Usage(format!(
            "the --against password is read from ${var} (see {option}): {e}"
        ))
    })
}

/// The bundled reference server on loopback with one account per worker
/// (`USER-1` ... `USER-N`, each with the standard fixture in memory): the bench measures the
/// server, not its maildrop lock. `options.users` is replaced by those accounts.
async fn start_bundled(
    options: &bundled::Options,
    user: &str,
    accounts: usize,
) -> Result<(RunningServer, Target, Vec<Profile>), CliError> {
    let mut options = options.clone();
    options.users = (1..=accounts.max(1))
        .map(|i| format!("{user}-{i}"))
        .collect();
    let started = bundled::start(options).await?;
    let profiles = started.accounts.into_iter().map(|a| a.profile).collect();
    Ok((started.server, started.target, profiles))
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`), when the system tells them.
fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut w = text.split_whitespace().map(|x| x.parse::<f64>().ok());
    Some([w.next()??, w.next()??, w.next()??])
}

/// The JSON document (`--json`).
#[derive(Debug, Serialize)]
struct Report {
    concurrency: usize,
    duration_secs: f64,
    warmup_secs: f64,
    io_timeout_secs: u64,
    load_average_before: Option<[f64; 3]>,
    load_average_after: Option<[f64; 3]>,
    /// One per side: the target (or the bundled server), then `--against`.
    targets: Vec<Measurement>,
    /// Second / first, with `--against`.
    ratio: Option<Ratio>,
}

/// The second side's figures divided by the first's (`null` where either is missing).
#[derive(Debug, Serialize)]
struct Ratio {
    basis: &'static str,
    sessions_per_second: Option<f64>,
    sessions_p50: Option<f64>,
    sessions_p99: Option<f64>,
    retr_mib_per_second: Option<f64>,
    retr_messages_per_second: Option<f64>,
    retr_p50: Option<f64>,
    retr_p99: Option<f64>,
}

fn divide(b: Option<f64>, a: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if a > 0.0 => Some(b / a),
        _ => None,
    }
}

impl Ratio {
    fn of(a: &Measurement, b: &Measurement) -> Ratio {
        let p = |m: &PhaseReport, f: fn(&Percentiles) -> u64| m.latency_us.map(|l| f(&l) as f64);
        let retr = |m: &Measurement, f: fn(&bench::RetrReport) -> f64| m.retr.as_ref().map(f);
        let rp = |m: &Measurement, f: fn(&Percentiles) -> u64| {
            m.retr.as_ref().and_then(|r| p(&r.phase, f))
        };
        Ratio {
            basis: "second / first (against / target)",
            sessions_per_second: divide(Some(b.sessions.per_second), Some(a.sessions.per_second)),
            sessions_p50: divide(p(&b.sessions, |l| l.p50), p(&a.sessions, |l| l.p50)),
            sessions_p99: divide(p(&b.sessions, |l| l.p99), p(&a.sessions, |l| l.p99)),
            retr_mib_per_second: divide(
                retr(b, |r| r.mib_per_second),
                retr(a, |r| r.mib_per_second),
            ),
            retr_messages_per_second: divide(
                retr(b, |r| r.phase.per_second),
                retr(a, |r| r.phase.per_second),
            ),
            retr_p50: divide(rp(b, |l| l.p50), rp(a, |l| l.p50)),
            retr_p99: divide(rp(b, |l| l.p99), rp(a, |l| l.p99)),
        }
    }
}

/// The console table: one column per side, the ratio last; then each side's failures with
/// their first message.
fn table(report: &Report) -> String {
    let sides = &report.targets;
    let mut rows: Vec<(String, Vec<String>, Option<f64>)> = Vec::new();
    let r = report.ratio.as_ref();
    let mut row = |name: &str, cells: Vec<String>, ratio: Option<f64>| {
        rows.push((name.to_owned(), cells, ratio));
    };
    row("", sides.iter().map(|m| m.label.clone()).collect(), None);
    row(
        "server",
        sides.iter().map(|m| m.target.clone()).collect(),
        None,
    );
    row(
        "login",
        sides.iter().map(|m| m.login.clone()).collect(),
        None,
    );
    row(
        "accounts",
        sides.iter().map(|m| m.accounts.to_string()).collect(),
        None,
    );
    row(
        "sessions/s",
        sides
            .iter()
            .map(|m| format!("{:.1}", m.sessions.per_second))
            .collect(),
        r.and_then(|r| r.sessions_per_second),
    );
    phase_rows(
        &mut row,
        sides.iter().map(|m| Some(&m.sessions)).collect(),
        "sessions",
        r.map(|r| (r.sessions_p50, r.sessions_p99)),
    );
    let retr: Vec<Option<&bench::RetrReport>> = sides.iter().map(|m| m.retr.as_ref()).collect();
    let cell = |f: &dyn Fn(&bench::RetrReport) -> String| -> Vec<String> {
        retr.iter()
            .map(|x| x.map_or_else(|| "-".to_owned(), f))
            .collect()
    };
    row(
        "RETR message",
        cell(&|x| format!("#{} ({} octets)", x.message.number, x.message.octets)),
        None,
    );
    row(
        "RETR MiB/s",
        cell(&|x| format!("{:.1}", x.mib_per_second)),
        r.and_then(|r| r.retr_mib_per_second),
    );
    row(
        "RETR messages/s",
        cell(&|x| format!("{:.1}", x.phase.per_second)),
        r.and_then(|r| r.retr_messages_per_second),
    );
    phase_rows(
        &mut row,
        retr.iter().map(|x| x.map(|x| &x.phase)).collect(),
        "messages",
        r.map(|r| (r.retr_p50, r.retr_p99)),
    );

    let columns = 1 + sides.len();
    let mut widths = vec![0; columns];
    for (name, cells, _) in &rows {
        widths[0] = widths[0].max(name.chars().count());
        for (i, c) in cells.iter().enumerate() {
            widths[i + 1] = widths[i + 1].max(c.chars().count());
        }
    }
    let mut out = format!(
        "conform bench: {}, {:.1} s per phase after {:.1} s warm-up{}\n\n",
        workers(report.concurrency),
        report.duration_secs,
        report.warmup_secs,
        report
            .load_average_before
            .map(|l| format!(
                ", load average {:.2} {:.2} {:.2} at the start",
                l[0], l[1], l[2]
            ))
            .unwrap_or_default()
    );
    for (i, (name, cells, ratio)) in rows.iter().enumerate() {
        let mut line = format!("{name:<w$}", w = widths[0]);
        for (j, c) in cells.iter().enumerate() {
            line.push_str(&format!("  {c:>w$}", w = widths[j + 1]));
        }
        if sides.len() == 2 {
            if i == 0 {
                line.push_str("  second/first");
            } else if let Some(x) = ratio {
                line.push_str(&format!("  {}x", ratio_text(*x)));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for m in sides {
        let phases = [
            ("sessions", Some(&m.sessions)),
            ("RETR", m.retr.as_ref().map(|r| &r.phase)),
        ];
        for (phase, p) in phases {
            for (kind, n, first) in p.into_iter().flat_map(|p| p.errors.iter()) {
                out.push_str(&format!(
                    "{} {phase}: {n} {kind} failure(s), the first: {first}\n",
                    m.label
                ));
            }
        }
        if let Some(why) = &m.retr_skipped {
            out.push_str(&format!("{}: RETR phase skipped: {why}\n", m.label));
        }
    }
    out
}

/// A ratio with three significant digits or so (`20.1`, `2.92`, `0.046`, `0.0046`).
fn ratio_text(x: f64) -> String {
    if x >= 10.0 {
        format!("{x:.1}")
    } else if x >= 0.1 || x == 0.0 {
        format!("{x:.2}")
    } else {
        let digits = (-x.log10()).ceil() as usize + 1;
        format!("{x:.digits$}")
    }
}

/// The rows of one phase: completed, latency percentiles, lock contention, failures.
fn phase_rows(
    row: &mut impl FnMut(&str, Vec<String>, Option<f64>),
    phases: Vec<Option<&PhaseReport>>,
    what: &str,
    ratios: Option<(Option<f64>, Option<f64>)>,
) {
    let cells = |f: &dyn Fn(&PhaseReport) -> String| -> Vec<String> {
        phases
            .iter()
            .map(|p| p.map_or_else(|| "-".to_owned(), f))
            .collect()
    };
    let ms = |f: fn(&Percentiles) -> u64| {
        move |p: &PhaseReport| {
            p.latency_us.map_or_else(
                || "-".to_owned(),
                |l| format!("{:.3} ms", f(&l) as f64 / 1000.0),
            )
        }
    };
    row(
        &format!("  {what}"),
        cells(&|p| p.completed.to_string()),
        None,
    );
    row(
        "  latency p50",
        cells(&ms(|l| l.p50)),
        ratios.and_then(|r| r.0),
    );
    row("  latency p90", cells(&ms(|l| l.p90)), None);
    row(
        "  latency p99",
        cells(&ms(|l| l.p99)),
        ratios.and_then(|r| r.1),
    );
    row("  latency max", cells(&ms(|l| l.max)), None);
    row(
        "  lock contention",
        cells(&|p| p.lock_contention.to_string()),
        None,
    );
    row(
        "  errors",
        cells(&|p| {
            let total = p.errors.total();
            if total == 0 {
                return "0".to_owned();
            }
            let kinds: Vec<String> = p
                .errors
                .iter()
                .map(|(k, n, _)| format!("{k} {n}"))
                .collect();
            format!("{total} ({})", kinds.join(", "))
        }),
        None,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_keep_their_digits_when_small() {
        assert_eq!(ratio_text(20.12), "20.1");
        assert_eq!(ratio_text(2.918), "2.92");
        assert_eq!(ratio_text(0.0463), "0.046");
        assert_eq!(ratio_text(0.00458), "0.0046");
        assert_eq!(ratio_text(0.0), "0.00");
    }

    #[test]
    fn seconds_take_fractions_and_refuse_nonsense() {
        assert_eq!(parse_secs("0.3"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_secs("5"), Ok(Duration::from_secs(5)));
        for bad in ["-1", "x", "NaN", "inf", "1e9"] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }
}
