//! `conform serve`: the bundled reference server on real sockets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Args;
use reference_server::maildrop::{MaildirStore, MemoryStore, Store};
use reference_server::{
    fixture, tls, Config, Fault, Faults, RunningServer, Users, Variant, Variants,
};

use crate::exit;

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

pub fn run(mut args: ServeArgs) -> anyhow::Result<u8> {
    let variants = args
        .variants
        .iter()
        .fold(Variants::none(), |v, x| v.with(*x));
    if !variants.tls() {
        // a server with no TLS at all: no listener, no STLS, plaintext logins allowed
        args.no_tls = true;
        args.allow_plaintext_auth = true;
    }
    let mut users = Users::new();
    for spec in &args.users {
        users.insert_spec(spec, "--user")?;
    }
    if let Some(f) = &args.users_file {
        users.load_file(f)?;
    }
    let demo = users.is_empty();
    if demo {
        users.insert(DEMO_USER, DEMO_PASSWORD);
    }
    let store: Arc<dyn Store> = match &args.maildir {
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
    };
    let mut config = Config::new(users.clone(), store);
    config.hostname = args.hostname.clone();
    config.allow_plaintext_auth = args.allow_plaintext_auth;
    config.autologout = Duration::from_secs(args.autologout);
    config.faults = args.faults.iter().fold(Faults::none(), |f, x| f.with(*x));
    config.variants = variants;
    let identity = if args.no_tls {
        None
    } else {
        Some(match (&args.cert, &args.key) {
            (Some(c), Some(k)) => tls::from_pem_files(c, k)?,
            _ => tls::self_signed(&args.hostname)?,
        })
    };
    if let (Some(id), Some(out)) = (&identity, &args.cert_out) {
        std::fs::write(out, &id.cert_pem).with_context(|| format!("writing {}", out.display()))?;
    } else if args.cert_out.is_some() {
        bail!("--cert-out needs TLS (drop --no-tls)");
    }
    config.tls = identity.as_ref().map(|i| i.config.clone());

    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let tls_addr = (!args.no_tls).then_some(args.tls_listen);
        let server = RunningServer::start(config, Some(args.listen), tls_addr)
            .await
            .with_context(|| format!("binding {} / {}", args.listen, args.tls_listen))?;
        let plain = server.plain_addr().expect("plain listener bound");
        // the banner is written once, and a closed stdout does not stop the server
        use std::fmt::Write as _;
        use std::io::Write as _;
        let mut banner = String::new();
        let _ = writeln!(banner, "conform reference POP3 server");
        let _ = writeln!(banner, "  pop3   {plain}  (plain{})", if args.no_tls { "" } else { ", STLS" });
        if let Some(t) = server.tls_addr() {
            let _ = writeln!(banner, "  pop3s  {t}  (implicit TLS)");
        }
        for name in users.names() {
            if demo {
                let _ = writeln!(banner, "  user {name}  password {DEMO_PASSWORD}");
            } else {
                let _ = writeln!(banner, "  user {name}");
            }
        }
        let _ = match &args.maildir {
            Some(d) => writeln!(banner, "  maildrop: Maildir {d}"),
            None => writeln!(banner,
                "  maildrop: the standard fixture in memory ({} messages each)",
                fixture::MESSAGES.len()
            ),
        };
        if !args.no_tls && args.cert.is_none() {
            let _ = writeln!(banner, "  TLS: self-signed certificate for localhost (clients need --insecure or the --cert-out file)");
        }
        if !args.allow_plaintext_auth {
            let _ = writeln!(banner, "  plaintext USER/PASS, PLAIN, LOGIN: only after STLS or on pop3s (--allow-plaintext-auth to allow)");
        }
        let mut stdout = std::io::stdout();
        let _ = stdout.write_all(banner.as_bytes()).and_then(|_| stdout.flush());
        tokio::select! {
            _ = server.wait() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok::<_, anyhow::Error>(exit::OK)
    })
}
