//! `conform serve`: the bundled reference server on real sockets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::Context as _;
use clap::Args;
use reference_server::maildrop::{MaildirStore, MemoryStore, Store};
use reference_server::{
    fixture, tls, Config, Drained, Fault, Faults, RunningServer, Users, Variant, Variants,
};

use crate::error::{CliError, Outcome};

/// The demo account `conform serve` creates when no user is given.
pub const DEMO_USER: &str = "demo";
/// Its password (loopback demo only).
pub const DEMO_PASSWORD: &str = "demo-password";

/// Arguments of `conform serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Plain POP3 listener (STLS offered when TLS is set up).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:1110")]
    listen: SocketAddr,
    /// Implicit-TLS listener (RFC 8314), with the --cert/--key identity or a self-signed one.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:1995")]
    tls_listen: SocketAddr,
    /// Do not open the implicit-TLS listener and do not offer STLS.
    #[arg(long)]
    no_tls: bool,
    /// Serve Maildirs from DIR (`%u` is replaced by the user name; without it every user
    /// shares DIR). Without --maildir, each user gets the standard fixture in memory.
    #[arg(long, value_name = "DIR")]
    maildir: Option<String>,
    /// An account, NAME:PASSWORD (repeatable). Without --user/--users: demo:demo-password.
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    users: Vec<String>,
    /// A file of NAME:PASSWORD lines.
    #[arg(long = "users", value_name = "FILE")]
    users_file: Option<PathBuf>,
    /// A file of `NAME TOKEN` lines: each user's OAuth 2.0 bearer token, for AUTH
    /// OAUTHBEARER and XOAUTH2 (RFC 7628), offered only when there are tokens and where
    /// plaintext logins are. The demo account's token is conform-demo-token.
    #[arg(long = "tokens", value_name = "FILE")]
    tokens_file: Option<PathBuf>,
    /// PEM certificate chain (with --key); default: a self-signed certificate made at start.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// PEM private key (with --cert).
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Write the server certificate (PEM) here, for clients to trust.
    #[arg(long, value_name = "FILE")]
    cert_out: Option<PathBuf>,
    /// Allow USER/PASS, PLAIN and LOGIN before TLS (test setups only; RFC 5034 §4).
    #[arg(long)]
    allow_plaintext_auth: bool,
    /// Autologout timer in seconds (RFC 1939 §3 asks for at least 600).
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    autologout: u64,
    /// Host name in the greeting timestamp.
    #[arg(long, default_value = "localhost")]
    hostname: String,
    /// Turn on a deliberate defect by name (for testing the suite itself; repeatable).
    #[arg(long = "fault", value_name = "NAME")]
    faults: Vec<Fault>,
    /// Turn on a permitted variation by name (a choice the RFCs leave to the server, e.g.
    /// `no-capa`: a pure RFC 1939 server with no TLS; repeatable).
    #[arg(long = "variant", value_name = "NAME")]
    variants: Vec<Variant>,
}

/// What `conform serve` serves, resolved once from its arguments: the server's
/// configuration, its TLS identity, and what the banner says.
struct Served {
    config: Config,
    /// The certificate (PEM), when TLS is on.
    cert_pem: Option<String>,
    users: Users,
    /// The demo account (no `--user`/`--users`): the banner shows its password.
    demo: bool,
    /// Neither the TLS listener nor STLS (`--no-tls`, or a variant without TLS).
    no_tls: bool,
    /// Plaintext logins before TLS (`--allow-plaintext-auth`, or a variant without TLS).
    allow_plaintext_auth: bool,
}

/// Runs the server until it stops or Ctrl-C.
pub fn run(args: ServeArgs) -> Result<Outcome, CliError> {
    let served = resolve(&args)?;
    if let (Some(pem), Some(out)) = (&served.cert_pem, &args.cert_out) {
        std::fs::write(out, pem).with_context(|| format!("writing {}", out.display()))?;
    }
    super::runtime()?.block_on(serve(&args, served))
}

/// The users, the maildrops, TLS and the faults and variants, as the arguments say.
fn resolve(args: &ServeArgs) -> Result<Served, CliError> {
    let variants = args
        .variants
        .iter()
        .fold(Variants::none(), |v, x| v.with(*x));
    // a server with no TLS at all: no listener, no STLS, plaintext logins allowed
    let no_tls = args.no_tls || !variants.tls();
    let allow_plaintext_auth = args.allow_plaintext_auth || !variants.tls();
    if no_tls && args.cert_out.is_some() {
        return Err(CliError::Usage(
            "--cert-out needs TLS (drop --no-tls)".into(),
        ));
    }
    let (users, demo) = users(args)?;
    let mut config = Config::new(users.clone(), store(args, &users));
    config.hostname = args.hostname.clone();
    config.allow_plaintext_auth = allow_plaintext_auth;
    config.autologout = Duration::from_secs(args.autologout);
    config.faults = args.faults.iter().fold(Faults::none(), |f, x| f.with(*x));
    config.variants = variants;
    let identity = if no_tls {
        None
    } else {
        Some(match (&args.cert, &args.key) {
            (Some(c), Some(k)) => tls::from_pem_files(c, k).map_err(anyhow::Error::from)?,
            _ => tls::self_signed(&args.hostname).map_err(anyhow::Error::from)?,
        })
    };
    config.tls = identity.as_ref().map(|i| i.config.clone());
    config.tls_server_end_point = identity.as_ref().and_then(|i| i.end_point.clone());
    Ok(Served {
        config,
        cert_pem: identity.map(|i| i.cert_pem),
        users,
        demo,
        no_tls,
        allow_plaintext_auth,
    })
}

/// The accounts of `--user` and `--users`, or the demo account (then `true`).
fn users(args: &ServeArgs) -> anyhow::Result<(Users, bool)> {
    let mut users = Users::new();
    for spec in &args.users {
        users.insert_spec(spec, "--user")?;
    }
    if let Some(f) = &args.users_file {
        users.load_file(f)?;
    }
    if let Some(f) = &args.tokens_file {
        users.load_token_file(f)?;
    }
    let demo = users.is_empty();
    if demo {
        users.insert(DEMO_USER, DEMO_PASSWORD);
        users.set_token(DEMO_USER, crate::bundled::TOKEN);
    }
    Ok((users, demo))
}

/// The Maildirs of `--maildir`, or the fixture in memory for every user.
fn store(args: &ServeArgs, users: &Users) -> Arc<dyn Store> {
    match &args.maildir {
        Some(dir) => Arc::new(MaildirStore::new(dir.clone())),
        None => {
            let store = if args.faults.contains(&Fault::UidlReused) {
                MemoryStore::reusing_uids()
            } else {
                MemoryStore::new()
            };
            for name in users.names() {
                fixture::seed_memory(&store, name);
            }
            Arc::new(store)
        }
    }
}

async fn serve(args: &ServeArgs, served: Served) -> Result<Outcome, CliError> {
    let tls_addr = (!served.no_tls).then_some(args.tls_listen);
    let mut server = RunningServer::start(served.config.clone(), Some(args.listen), tls_addr)
        .await
        .with_context(|| format!("binding {} / {}", args.listen, args.tls_listen))?;
    // the banner is written once, and a closed stdout does not stop the server
    let mut stdout = std::io::stdout();
    let _ = stdout
        .write_all(banner(args, &served, &server).as_bytes())
        .and_then(|_| stdout.flush());
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::select! {
        _ = server.listening() => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    // drain: a command being answered or an UPDATE being applied finishes, idle sessions
    // close without UPDATE (RFC 1939 §6)
    if let Drained::TimedOut(left) = server.shutdown().await {
        eprintln!("conform serve: {left} session(s) still running after the shutdown grace period");
    }
    Ok(Outcome::Passed)
}

/// What the server listens on, its users, maildrops and TLS.
fn banner(args: &ServeArgs, served: &Served, server: &RunningServer) -> String {
    let mut banner = String::new();
    let _ = writeln!(banner, "conform reference POP3 server");
    if let Some(plain) = server.plain_addr() {
        let stls = if served.no_tls { "" } else { ", STLS" };
        let _ = writeln!(banner, "  pop3   {plain}  (plain{stls})");
    }
    if let Some(t) = server.tls_addr() {
        let _ = writeln!(banner, "  pop3s  {t}  (implicit TLS)");
    }
    for name in served.users.names() {
        if served.demo {
            let _ = writeln!(
                banner,
                "  user {name}  password {DEMO_PASSWORD}  bearer token {}",
                crate::bundled::TOKEN
            );
        } else {
            let _ = writeln!(banner, "  user {name}");
        }
    }
    let _ = match &args.maildir {
        Some(d) => writeln!(banner, "  maildrop: Maildir {d}"),
        None => writeln!(
            banner,
            "  maildrop: the standard fixture in memory ({} messages each)",
            fixture::MESSAGES.len()
        ),
    };
    if !served.no_tls && args.cert.is_none() {
        let _ = writeln!(banner, "  TLS: self-signed certificate for localhost (clients need --insecure or the --cert-out file)");
    }
    if !served.allow_plaintext_auth {
        let _ = writeln!(banner, "  plaintext USER/PASS, PLAIN, LOGIN: only after STLS or on pop3s (--allow-plaintext-auth to allow)");
    }
    banner
}
