//! The bundled reference server, started in-process on loopback with the standard fixture in
//! memory: the target of `conform run` without `--target`, and of `conform selfcheck`.

use std::sync::Arc;

use anyhow::Context as _;
use reference_server::maildrop::MemoryStore;
use reference_server::{fixture, tls, Config, Faults, RunningServer, Users};
use runner::{Profile, Target, TlsMode, Trust};

/// The password of the bundled server's one user.
pub const PASSWORD: &str = "demo-password";

/// A running bundled server and how to reach it.
pub struct Bundled {
    /// Stops when dropped with the runtime; kept alive by this field.
    pub server: RunningServer,
    /// Where the cases connect (the plain listener, or the implicit-TLS one).
    pub target: Target,
    /// The login.
    pub profile: Profile,
    /// Restores the fixture in `user`'s maildrop.
    pub reseed: Arc<dyn Fn() -> Result<(), String> + Send + Sync>,
}

/// How to start the bundled server.
#[derive(Debug, Clone)]
pub struct Options {
    /// The user cases log in as.
    pub user: String,
    /// Deliberate defects.
    pub faults: Faults,
    /// Allow USER/PASS, PLAIN and LOGIN before TLS (`conform run` does; `conform serve`
    /// does not unless asked).
    pub allow_plaintext_auth: bool,
    /// How the cases connect.
    pub tls: TlsMode,
}

/// Starts the server on 127.0.0.1 (a plain listener with STLS and an implicit-TLS one, a
/// fresh self-signed certificate) on the current tokio runtime.
pub async fn start(options: Options) -> anyhow::Result<Bundled> {
    let store = MemoryStore::new();
    fixture::seed_memory(&store, &options.user);
    let mut users = Users::new();
    users.insert(&options.user, PASSWORD);
    let mut config = Config::new(users, Arc::new(store.clone()));
    config.allow_plaintext_auth = options.allow_plaintext_auth;
    config.faults = options.faults;
    let identity = tls::self_signed("localhost")?;
    config.tls = Some(identity.config.clone());
    let server = RunningServer::start(
        config,
        Some("127.0.0.1:0".parse()?),
        Some("127.0.0.1:0".parse()?),
    )
    .await
    .context("starting the bundled reference server")?;
    let addr = match options.tls {
        TlsMode::Implicit => server.tls_addr(),
        _ => server.plain_addr(),
    }
    .context("the bundled server bound no listener")?;
    let user = options.user.clone();
    let reseed = Arc::new(move || {
        store.replace(&user, fixture::MESSAGES.iter().map(|m| m.to_vec()));
        Ok(())
    });
    Ok(Bundled {
        server,
        target: Target {
            host: "localhost".into(),
            port: addr.port(),
            tls: options.tls,
            trust: Trust::Pem(identity.cert_pem.clone()),
        },
        profile: Profile {
            user: options.user,
            password: PASSWORD.into(),
        },
        reseed,
    })
}
