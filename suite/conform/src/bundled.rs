//! The bundled reference server, started in-process on loopback with the standard fixture in
//! memory: the target of `conform run` without `--target`, and of `conform selfcheck`.

use std::sync::Arc;

use anyhow::Context as _;
use reference_server::maildrop::{MemoryStore, Prepared};
use reference_server::{fixture, tls, Config, Fault, Faults, RunningServer, Users, Variants};
use runner::{Profile, Target, TlsMode, Trust};

/// The password of the bundled server's users (one password for the whole pool, as with
/// `--user` against a target).
pub const PASSWORD: &str = "demo-password";

/// The bearer token of each of the bundled server's users, for OAUTHBEARER and XOAUTH2
/// (RFC 7628), as `--token-env` gives one against a target.
pub const TOKEN: &str = "conform-demo-token";

/// A running bundled server and how to reach it.
pub struct Bundled {
    /// Stops when dropped with the runtime; kept alive by this field.
    pub server: RunningServer,
    /// Where the cases connect (the plain listener, or the implicit-TLS one).
    pub target: Target,
    /// The accounts, one per user of [`Options::users`], each with its own maildrop holding
    /// the fixture and its own reseed.
    pub accounts: Vec<runner::Account>,
}

/// How to start the bundled server.
#[derive(Debug, Clone)]
pub struct Options {
    /// The users cases log in as (the account pool; at least one), each with the fixture in
    /// a maildrop of its own.
    pub users: Vec<String>,
    /// Deliberate defects.
    pub faults: Faults,
    /// Permitted variations.
    pub variants: Variants,
    /// Allow USER/PASS, PLAIN and LOGIN before TLS (`conform run` does; `conform serve`
    /// does not unless asked).
    pub allow_plaintext_auth: bool,
    /// How the cases connect.
    pub tls: TlsMode,
}

/// Starts the server on 127.0.0.1 (a plain listener with STLS and an implicit-TLS one, a
/// fresh self-signed certificate; a variant without TLS has only the plain one) on the
/// current tokio runtime.
pub async fn start(options: Options) -> anyhow::Result<Bundled> {
    // a login that meets the lock waits a little for the holder (the runner's own session of
    // the case before, ending); well under the shortest --timeout a run uses (the selfcheck's 1 s)
    Ok(
        start_with(options, 0, std::time::Duration::from_millis(100))
            .await?
            .0,
    )
}

/// The server for `conform model` and `fuzz` with `--jobs N`: at least `accounts` users
/// (`options.users`, then `FIRST-K` for the K-th when there are fewer; the same password),
/// each with the fixture in a maildrop of its own, and each account's login and reseed. A login that meets a locked maildrop is
/// refused at once: there the lock is met on purpose (the model's second session), its
/// refusal is what is judged, and the server releases the lock before a QUIT's answer or the
/// close of a dropped connection, so the model never meets a lock that is still being let go.
/// With it, [`Replicas`] to start a server of each job's own on the job's runtime.
pub async fn start_for_model(
    options: Options,
    accounts: usize,
) -> anyhow::Result<(Bundled, Replicas)> {
    start_with(options, accounts, std::time::Duration::ZERO).await
}

/// More servers like the one started: the same configuration, users and store, on other
/// loopback ports (`conform model --jobs`: one per job, on the job's own runtime and thread,
/// so that a command and its answer never wait for another thread to be woken).
#[derive(Debug, Clone)]
pub struct Replicas {
    config: Config,
    tls_listener: bool,
    implicit: bool,
}

impl Replicas {
    /// Starts one on the current runtime: the server (it stops when dropped) and the port
    /// the TLS mode connects to.
    pub async fn start(&self) -> anyhow::Result<(RunningServer, u16)> {
        let tls_addr = self
            .tls_listener
            .then(|| "127.0.0.1:0".parse())
            .transpose()?;
        let server =
            RunningServer::start(self.config.clone(), Some("127.0.0.1:0".parse()?), tls_addr)
                .await
                .context("starting the bundled reference server")?;
        let addr = match self.implicit {
            true => server.tls_addr(),
            false => server.plain_addr(),
        }
        .context("the bundled server has no listener for that TLS mode (a variant without TLS?)")?;
        Ok((server, addr.port()))
    }
}

/// The server with `options.users`, made up to at least `accounts` users.
async fn start_with(
    options: Options,
    accounts: usize,
    lock_wait: std::time::Duration,
) -> anyhow::Result<(Bundled, Replicas)> {
    let store = if options.faults.has(Fault::UidlReused) {
        MemoryStore::reusing_uids()
    } else {
        MemoryStore::new()
    };
    let mut names = options.users.clone();
    if names.is_empty() {
        anyhow::bail!("the bundled server needs at least one user");
    }
    for k in names.len() + 1..=accounts {
        names.push(format!("{}-{k}", options.users[0]));
    }
    let mut users = Users::new();
    for name in &names {
        fixture::seed_memory(&store, name);
        users.insert(name, PASSWORD);
        users.set_token(name, TOKEN);
    }
    let mut config = Config::new(users, Arc::new(store.clone()));
    // a server with no TLS at all cannot ask for TLS before plaintext logins
    config.allow_plaintext_auth = options.allow_plaintext_auth || !options.variants.tls();
    config.faults = options.faults;
    config.lock_wait = lock_wait;
    // the selfcheck shuts one server down per fault: a session a fault left hanging is
    // not waited for long
    config.shutdown_grace = std::time::Duration::from_secs(1);
    config.variants = options.variants.clone();
    let identity = tls::self_signed("localhost")?;
    config.tls = Some(identity.config.clone());
    config.tls_server_end_point = identity.end_point.clone();
    let replicas = Replicas {
        config,
        tls_listener: options.variants.tls(),
        implicit: options.tls == TlsMode::Implicit,
    };
    let (server, port) = replicas.start().await?;
    let messages = Arc::new(Prepared::new(fixture::MESSAGES.iter().copied()));
    let reseed = |user: String| -> ::fixture::Reseed {
        let (store, messages) = (store.clone(), messages.clone());
        Arc::new(move || {
            store.replace_prepared(&user, &messages);
            Ok(())
        })
    };
    let accounts = names
        .into_iter()
        .map(|user| {
            let profile = Profile {
                user: user.clone(),
                password: PASSWORD.into(),
                token: Some(TOKEN.into()),
            };
            runner::Account {
                profile,
                reseed: Some(reseed(user)),
            }
        })
        .collect();
    let bundled = Bundled {
        server,
        target: Target {
            host: "localhost".into(),
            port,
            tls: options.tls,
            trust: Trust::Pem(identity.cert_pem.clone()),
        },
        accounts,
    };
    Ok((bundled, replicas))
}
