//! The bundled reference server, started in-process on loopback with the standard fixture in
//! memory: the target of `conform run` without `--target`, and of `conform selfcheck`.

use std::sync::Arc;

use anyhow::Context as _;
use reference_server::maildrop::MemoryStore;
use reference_server::{fixture, tls, Config, Fault, Faults, RunningServer, Users, Variants};
use runner::{Profile, Target, TlsMode, Trust};

/// The password of the bundled server's users (one password for the whole pool, as with
/// `--user` against a target).
pub const PASSWORD: &str = "demo-password";

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
    let store = if options.faults.has(Fault::UidlReused) {
        MemoryStore::reusing_uids()
    } else {
        MemoryStore::new()
    };
    let mut users = Users::new();
    for user in &options.users {
        fixture::seed_memory(&store, user);
        users.insert(user, PASSWORD);
    }
    let mut config = Config::new(users, Arc::new(store.clone()));
    // a server with no TLS at all cannot ask for TLS before plaintext logins
    config.allow_plaintext_auth = options.allow_plaintext_auth || !options.variants.tls();
    config.faults = options.faults;
    // a login that meets the lock waits a little for the holder (the runner's own session of
    // the case before, ending); well under the shortest --timeout a run uses (the selfcheck's 1 s)
    config.lock_wait = std::time::Duration::from_millis(100);
    // the selfcheck shuts one server down per fault: a session a fault left hanging is
    // not waited for long
    config.shutdown_grace = std::time::Duration::from_secs(1);
    config.variants = options.variants.clone();
    let identity = tls::self_signed("localhost")?;
    config.tls = Some(identity.config.clone());
    let tls_addr = options
        .variants
        .tls()
        .then(|| "127.0.0.1:0".parse())
        .transpose()?;
    let server = RunningServer::start(config, Some("127.0.0.1:0".parse()?), tls_addr)
        .await
        .context("starting the bundled reference server")?;
    let addr = match options.tls {
        TlsMode::Implicit => server.tls_addr(),
        _ => server.plain_addr(),
    }
    .context("the bundled server has no listener for that TLS mode (a variant without TLS?)")?;
    let accounts = options
        .users
        .iter()
        .map(|user| {
            let (store, name) = (store.clone(), user.clone());
            let reseed: ::fixture::Reseed = Arc::new(move || {
                store.replace(&name, fixture::MESSAGES.iter().map(|m| m.to_vec()));
                Ok(())
            });
            runner::Account {
                profile: Profile {
                    user: user.clone(),
                    password: PASSWORD.into(),
                },
                reseed: Some(reseed),
            }
        })
        .collect();
    Ok(Bundled {
        server,
        target: Target {
            host: "localhost".into(),
            port: addr.port(),
            tls: options.tls,
            trust: Trust::Pem(identity.cert_pem.clone()),
        },
        accounts,
    })
}
