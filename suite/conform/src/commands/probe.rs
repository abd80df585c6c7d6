//! `conform probe`: what a run would meet on a target, changing nothing there — the greeting,
//! TLS (version, cipher suite, the certificate chain and whether it verifies), CAPA before
//! and after login, the capabilities discovery finds (announced and probed), the maildrop,
//! and which cases would run, be skipped or be not applicable, and why.
//!
//! Read-only: no DELE, no `--reseed-cmd`; the sessions read (CAPA, LIST, TOP or RETR, UIDL,
//! STAT) and end with QUIT.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use runner::client::certificate::CertificateSummary;
use runner::client::probe::{open_logged_in, positive, Endpoint, Probe, ProbeError};
use runner::client::transport::{TlsSession, WireError};
use runner::{RunConfig, TlsMode, Trust, Verdict};
use scenario::plan::{Case, Level};
use serde::Serialize;

use crate::args::TargetArgs;
use crate::catalogue;
use crate::error::{CliError, Outcome};
use crate::select::SelectArgs;
use crate::setup::Setup;

const EXAMPLES: &str = "\
Examples:
  conform probe                                   # the bundled server
  CONFORM_PASSWORD=secret conform probe --target pop3s://127.0.0.1:995 --user alice --ca ca.pem
  conform probe --target 127.0.0.1:110 --user alice --filter rfc:2449 --cases
  conform probe --target 127.0.0.1:110 --user alice --json > probe.json

Nothing on the target changes: no DELE, and --reseed-cmd is not run. A certificate that does
not verify is shown (the rest of the probe then trusts it, as --insecure would) and the probe
exits 3, as a run would.";

/// Arguments of `conform probe`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct ProbeArgs {
    /// Scenario files or folders whose cases to triage (default: the catalogue built into
    /// conform).
    paths: Vec<PathBuf>,
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    select: SelectArgs,
    /// List every case with what a run would do with it (default: the counts and the
    /// commonest reasons).
    #[arg(long)]
    cases: bool,
    /// Print the probe as one JSON document on standard output instead of text.
    #[arg(long)]
    json: bool,
}

/// Whether the server's certificate chain verifies against the trust given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
enum Verification {
    /// The handshake verified it (chain and name) against `against`.
    Verified { against: String },
    /// `--insecure`: not checked.
    NotChecked,
    /// The handshake refused it: why.
    Failed { reason: String },
}

/// One connection's TLS, as negotiated.
#[derive(Debug, Clone, Serialize)]
struct Tls {
    /// How TLS started: `implicit` or `STLS`.
    how: &'static str,
    version: String,
    cipher_suite: String,
    /// Leaf first, as the server sent it.
    chain: Vec<CertificateSummary>,
    verification: Verification,
}

/// A CAPA exchange: the status line and, when positive, the capability lines.
#[derive(Debug, Clone, Serialize)]
struct Capa {
    status: String,
    lines: Vec<String>,
}

/// How a run would treat the selection.
#[derive(Debug, Clone, Serialize)]
struct Triage {
    selected: usize,
    run: usize,
    skipped: usize,
    not_applicable: usize,
    blocked: usize,
    /// The declared capabilities' cases (`--expect`), judged at discovery.
    judged: usize,
    /// Each case: its id and `run`, or its verdict and why.
    cases: Vec<CaseFate>,
}

/// What a run would do with one case.
#[derive(Debug, Clone, Serialize)]
struct CaseFate {
    id: String,
    fate: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    why: Option<String>,
}

/// Everything the probe found.
#[derive(Debug, Clone, Serialize)]
struct Probed {
    target: String,
    greeting: String,
    /// The connection's TLS (`None` on plain TCP).
    tls: Option<Tls>,
    /// A plaintext target that announces STLS: the TLS it starts.
    stls: Option<Tls>,
    capa_before_login: Capa,
    /// The account and method discovery logged in with.
    login: Option<String>,
    capa_after_login: Option<Capa>,
    /// What discovery found, one line per capability (announced, probed, missing).
    capabilities: Vec<String>,
    /// Whether the maildrop holds the standard fixture, and drift between sessions.
    maildrop: Vec<String>,
    triage: Triage,
}

/// Probes the target and prints what it found; exit 3 when the certificate does not verify.
pub fn run(args: ProbeArgs) -> Result<Outcome, CliError> {
    let setup = Setup::resolve(&args.target, None)?;
    let mut cases = catalogue::load(&args.paths)?;
    args.select.apply(&mut cases)?;
    let runtime = super::runtime()?;
    let probed = runtime.block_on(probe(&setup, cases))?;
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&probed)
            .map_err(|e| CliError::Usage(format!("the probe as JSON: {e}")))?;
        json.push('\n');
        json
    } else {
        render(&probed, args.cases)
    };
    crate::print_all(text.as_bytes())?;
    let failed = [&probed.tls, &probed.stls]
        .into_iter()
        .flatten()
        .find_map(|t| match &t.verification {
            Verification::Failed { reason } => Some(reason.clone()),
            _ => None,
        });
    match failed {
        Some(reason) => Err(CliError::Unreachable(format!(
            "the server's certificate does not verify: {reason} (a run would stop here: give \
             --ca FILE with the server's CA, or --insecure for a test server)"
        ))),
        None => Ok(Outcome::Passed),
    }
}

/// The probe's sessions, in order: the first connection (greeting, TLS, CAPA), STLS on a
/// plaintext target that announces it, discovery and triage as a run does them, and CAPA
/// after login.
async fn probe(setup: &Setup, cases: Vec<Case>) -> Result<Probed, CliError> {
    // `ready` keeps the bundled server running until the probe ends
    let ready = setup.start_read_only().await?;
    let mut env = ready.case_env(setup.io_timeout)?;
    let (mut first, verification) = connect(&mut env.endpoint).await?;
    let greeting = String::from_utf8_lossy(first.greeting()).into_owned();
    let tls = first
        .tls_session()
        .map(|s| tls_of(s, implicit_or_stls(env.endpoint.target.tls), verification));
    let capa_before_login = capa(&mut first).await?;
    first.quit().await;
    let announces_stls = capa_before_login
        .lines
        .iter()
        .any(|l| l.eq_ignore_ascii_case("STLS"));
    let stls = if env.endpoint.target.tls == TlsMode::None && announces_stls {
        let mut endpoint = env.endpoint.clone();
        endpoint.target.tls = TlsMode::StartTls;
        endpoint.tls = Some(endpoint.target.client_config()?);
        let (p, verification) = connect(&mut endpoint).await?;
        let t = p.tls_session().map(|s| tls_of(s, "STLS", verification));
        p.quit().await;
        t
    } else {
        None
    };
    let config = RunConfig {
        env: env.clone(),
        jobs: 1,
        threshold: Level::Must,
        reseed: None,
        more_accounts: ready.more_accounts(),
        baseline: None,
        expect: setup.expect.clone(),
        login: setup.login,
        interrupt: None,
    };
    let preview = runner::preview(cases, &config).await?;
    let caps = &preview.discovered.capabilities;
    let (login, capa_after_login) = match caps.login {
        Some(method) => {
            let mut s = open_logged_in(&env.endpoint, method)
                .await
                .map_err(|e| CliError::Unreachable(format!("logging in again: {e}")))?;
            let after = capa(&mut s).await?;
            s.quit().await;
            let who = format!("{} with {method}", env.endpoint.profile.user);
            (Some(who), Some(after))
        }
        None => (None, None),
    };
    let maildrop = match &preview.discovered.inspection {
        None => vec!["not inspected: no selected case needs the standard fixture".into()],
        Some(i) => {
            let mut out = vec![match &i.fixture {
                Ok(()) => "holds the standard fixture (identified by Message-ID)".to_owned(),
                Err(why) => why.to_string(),
            }];
            out.extend(i.drift.iter().map(|d| format!("drift: {d}")));
            out
        }
    };
    Ok(Probed {
        target: env.endpoint.target.to_string(),
        greeting,
        tls,
        stls,
        capa_before_login,
        login,
        capa_after_login,
        capabilities: caps.describe(),
        maildrop,
        triage: triage(&preview.cases),
    })
}

/// Opens a probe connection and says whether the certificate verified; one that does not
/// is shown anyway: the connection is made again trusting anything, and `endpoint` keeps
/// that trust for the rest of the probe.
async fn connect(endpoint: &mut Endpoint) -> Result<(Probe, Verification), CliError> {
    let name = endpoint.target.to_string();
    let unreachable = |e: ProbeError| CliError::Unreachable(format!("{name}: {e}"));
    let verified = match &endpoint.target.trust {
        Trust::Insecure => Verification::NotChecked,
        Trust::Platform => Verification::Verified {
            against: "the platform's root certificates".into(),
        },
        Trust::CaFile(path) => Verification::Verified {
            against: format!("the CA certificates in {}", path.display()),
        },
        Trust::Pem(_) => Verification::Verified {
            against: "the bundled server's own certificate".into(),
        },
    };
    match Probe::open(endpoint).await {
        Ok(p) => Ok((p, verified)),
        Err(ProbeError::Wire(WireError::Certificate(reason))) => {
            endpoint.target.trust = Trust::Insecure;
            endpoint.tls = Some(endpoint.target.client_config()?);
            let p = Probe::open(endpoint).await.map_err(unreachable)?;
            Ok((p, Verification::Failed { reason }))
        }
        Err(e) => Err(unreachable(e)),
    }
}

fn implicit_or_stls(mode: TlsMode) -> &'static str {
    match mode {
        TlsMode::StartTls => "STLS",
        _ => "implicit",
    }
}

fn tls_of(s: TlsSession, how: &'static str, verification: Verification) -> Tls {
    Tls {
        how,
        version: s.version,
        cipher_suite: s.cipher_suite,
        chain: s
            .certificates
            .iter()
            .filter_map(|der| CertificateSummary::from_der(der).ok())
            .collect(),
        verification,
    }
}

/// CAPA on `p`: the status line and, when positive, the listing's lines.
async fn capa(p: &mut Probe) -> Result<Capa, CliError> {
    let wire = |e: WireError| CliError::Unreachable(format!("CAPA: {e}"));
    let status = p.ask(b"CAPA").await.map_err(wire)?;
    let lines = if positive(&status) {
        p.multiline()
            .await
            .map_err(wire)?
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    } else {
        Vec::new()
    };
    Ok(Capa {
        status: String::from_utf8_lossy(&status).into_owned(),
        lines,
    })
}

/// The triage's counts and each case's fate.
fn triage(cases: &[(std::sync::Arc<Case>, Option<Verdict>)]) -> Triage {
    let mut t = Triage {
        selected: cases.len(),
        run: 0,
        skipped: 0,
        not_applicable: 0,
        blocked: 0,
        judged: 0,
        cases: Vec::with_capacity(cases.len()),
    };
    for (case, verdict) in cases {
        let (fate, why) = match verdict {
            None => {
                t.run += 1;
                ("run", None)
            }
            Some(Verdict::Skip(why)) => {
                t.skipped += 1;
                ("skip", Some(why.clone()))
            }
            Some(Verdict::NotApplicable(why)) => {
                t.not_applicable += 1;
                ("not applicable", Some(why.clone()))
            }
            Some(Verdict::Blocked { by }) => {
                t.blocked += 1;
                ("blocked", Some(format!("by {by}")))
            }
            // a declared capability's own case (`--expect`) is judged at discovery
            Some(v) => {
                t.judged += 1;
                let why = match v {
                    Verdict::Fail(f) | Verdict::Error(f) => format!("{}: {}", v.label(), f.message),
                    v => v.label().to_owned(),
                };
                ("judged", Some(why))
            }
        };
        t.cases.push(CaseFate {
            id: case.id.clone(),
            fate,
            why,
        });
    }
    t
}

/// The probe as text: one section per finding.
fn render(p: &Probed, every_case: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "target       {}", p.target);
    let _ = writeln!(out, "greeting     {}", p.greeting);
    match &p.tls {
        Some(t) => render_tls(&mut out, t),
        None => {
            let _ = writeln!(out, "TLS          none: plain TCP");
        }
    }
    if let Some(t) = &p.stls {
        render_tls(&mut out, t);
    }
    render_capa(&mut out, "CAPA before login", &p.capa_before_login);
    match (&p.login, &p.capa_after_login) {
        (Some(who), Some(capa)) => {
            let _ = writeln!(out, "login        {who}");
            render_capa(&mut out, "CAPA after login", capa);
        }
        _ => {
            let _ = writeln!(out, "login        no method worked with the given account");
        }
    }
    let _ = writeln!(out, "capabilities");
    for line in &p.capabilities {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(out, "maildrop");
    for line in &p.maildrop {
        let _ = writeln!(out, "  {line}");
    }
    let t = &p.triage;
    let _ = writeln!(
        out,
        "cases        {} selected: {} would run, {} skipped, {} not applicable, {} blocked{}",
        t.selected,
        t.run,
        t.skipped,
        t.not_applicable,
        t.blocked,
        match t.judged {
            0 => String::new(),
            n => format!(", {n} declared capabilities judged"),
        }
    );
    if every_case {
        for c in &t.cases {
            match &c.why {
                None => {
                    let _ = writeln!(out, "  {:<15} {}", c.fate, c.id);
                }
                Some(why) => {
                    let _ = writeln!(out, "  {:<15} {}  ({why})", c.fate, c.id);
                }
            }
        }
    } else {
        let mut groups: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
        for c in &t.cases {
            if let (fate, Some(why)) = (c.fate, &c.why) {
                *groups.entry(fate).or_default().entry(why).or_default() += 1;
            }
        }
        for (fate, reasons) in groups {
            let mut by_count: Vec<(&str, usize)> = reasons.into_iter().collect();
            by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let _ = writeln!(out, "  {fate}:");
            for (why, n) in by_count {
                let _ = writeln!(out, "    {n:>4}  {why}");
            }
        }
        if t.selected > t.run {
            let _ = writeln!(out, "  (--cases lists each case)");
        }
    }
    out
}

fn render_tls(out: &mut String, t: &Tls) {
    let label = if t.how == "STLS" { "STLS" } else { "TLS" };
    let _ = writeln!(
        out,
        "{label:<12} {} {}, {}, {} certificate{}",
        t.how,
        t.version,
        t.cipher_suite,
        t.chain.len(),
        if t.chain.len() == 1 { "" } else { "s" }
    );
    for (i, c) in t.chain.iter().enumerate() {
        let _ = writeln!(out, "  [{i}] subject  {}", c.subject);
        let _ = writeln!(out, "      issuer   {}", c.issuer);
        let _ = writeln!(out, "      valid    {} to {}", c.not_before, c.not_after);
        if !c.names.is_empty() {
            let _ = writeln!(out, "      names    {}", c.names.join(", "));
        }
        let _ = writeln!(out, "      signed   {}", c.signature);
    }
    let verdict = match &t.verification {
        Verification::Verified { against } => format!("verifies against {against}"),
        Verification::NotChecked => "not checked (--insecure)".into(),
        Verification::Failed { reason } => {
            format!("DOES NOT VERIFY: {reason} (the rest of the probe trusts it anyway)")
        }
    };
    let _ = writeln!(out, "  certificate {verdict}");
}

fn render_capa(out: &mut String, title: &str, c: &Capa) {
    if positive(c.status.as_bytes()) {
        let _ = writeln!(out, "{title} ({} lines)", c.lines.len());
        for l in &c.lines {
            let _ = writeln!(out, "  {l}");
        }
    } else {
        let _ = writeln!(out, "{title}: {}", c.status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probed() -> Probed {
        Probed {
            target: "pop3s://127.0.0.1:995".into(),
            greeting: "+OK ready <1.2@host>".into(),
            tls: Some(Tls {
                how: "implicit",
                version: "TLSv1_3".into(),
                cipher_suite: "TLS13_AES_256_GCM_SHA384".into(),
                chain: vec![CertificateSummary {
                    subject: "CN=localhost".into(),
                    issuer: "CN=localhost".into(),
                    not_before: "Thu, 01 Jan 1975 00:00:00 +0000".into(),
                    not_after: "Fri, 01 Jan 4096 00:00:00 +0000".into(),
                    names: vec!["DNS:localhost".into()],
                    signature: "ecdsa-with-SHA256".into(),
                }],
                verification: Verification::Failed {
                    reason: "invalid peer certificate: UnknownIssuer".into(),
                },
            }),
            stls: None,
            capa_before_login: Capa {
                status: "+OK".into(),
                lines: vec!["TOP".into(), "USER".into(), "SASL PLAIN".into()],
            },
            login: Some("alice with USER/PASS".into()),
            capa_after_login: Some(Capa {
                status: "+OK".into(),
                lines: vec!["TOP".into(), "UIDL".into()],
            }),
            capabilities: vec!["CAPA announces: SASL, TOP, USER".into()],
            maildrop: vec!["holds the standard fixture (identified by Message-ID)".into()],
            triage: triage(&[]),
        }
    }

    #[test]
    fn the_text_has_a_section_per_finding() {
        let mut p = probed();
        p.triage = Triage {
            selected: 4,
            run: 1,
            skipped: 2,
            not_applicable: 1,
            blocked: 0,
            judged: 0,
            cases: vec![
                CaseFate {
                    id: "a".into(),
                    fate: "run",
                    why: None,
                },
                CaseFate {
                    id: "b".into(),
                    fate: "skip",
                    why: Some("needs STLS mode".into()),
                },
                CaseFate {
                    id: "c".into(),
                    fate: "skip",
                    why: Some("needs STLS mode".into()),
                },
                CaseFate {
                    id: "d".into(),
                    fate: "not applicable",
                    why: Some("UIDL is not announced".into()),
                },
            ],
        };
        insta::assert_snapshot!("probe_text", render(&p, false));
        insta::assert_snapshot!("probe_text_cases", render(&p, true));
    }

    #[test]
    fn the_json_names_each_field() {
        let json = serde_json::to_value(probed()).unwrap();
        assert_eq!(json["tls"]["verification"]["result"], "failed");
        assert_eq!(json["capa_before_login"]["lines"][2], "SASL PLAIN");
        assert_eq!(json["tls"]["chain"][0]["names"][0], "DNS:localhost");
        assert_eq!(json["triage"]["selected"], 0);
    }
}
