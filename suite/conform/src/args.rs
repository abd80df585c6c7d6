//! The target options as the command line gives them (`conform run`, `model`, `fuzz`):
//! raw values, resolved once with the profile into a [`crate::setup::Setup`].

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use reference_server::{Fault, Variant};
use runner::{LoginMethod, TlsMode};

/// TLS mode on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TlsArg {
    /// TLS from the first byte (RFC 8314).
    Implicit,
    /// STLS before each case (RFC 2595).
    Starttls,
    /// Plain TCP.
    None,
}

impl From<TlsArg> for TlsMode {
    fn from(t: TlsArg) -> TlsMode {
        match t {
            TlsArg::Implicit => TlsMode::Implicit,
            TlsArg::Starttls => TlsMode::StartTls,
            TlsArg::None => TlsMode::None,
        }
    }
}

/// The target options.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The server: HOST:PORT (995 = implicit TLS), pop3://HOST[:PORT], pop3s://HOST[:PORT].
    /// Without it, the bundled reference server starts in-process on loopback.
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
    /// Override the TLS mode the target implies.
    #[arg(long, value_enum)]
    pub tls: Option<TlsArg>,
    /// Trust any server certificate (test servers with self-signed certificates).
    #[arg(long)]
    pub insecure: bool,
    /// Trust the CA certificates in this PEM file instead of the platform roots.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub ca: Option<PathBuf>,
    /// The user to log in as; repeat it for an account pool (same password, each its own
    /// maildrop with the fixture): cases that log in run in parallel, one per account at a
    /// time. Default with the bundled server: demo, demo2, demo3, demo4.
    #[arg(long, value_name = "NAME")]
    pub user: Vec<String>,
    /// The environment variable holding the password [default: CONFORM_PASSWORD].
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// The environment variable holding an OAuth 2.0 bearer token of the user, for
    /// OAUTHBEARER and XOAUTH2 (RFC 7628) [default: CONFORM_TOKEN, when set]. Without a
    /// token the cases that need one are skipped. The bundled server has its own.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
    /// Deadline in seconds [default: 10]: for a connect, a TLS handshake, a write, and a whole
    /// answer line; an answer (a multi-line body included) must then keep coming at 64 KiB/s
    /// or more. Silence, a line that never ends or a slower drip is the server's failure.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Shell command (`sh -c`) that restores the target's maildrop to the standard fixture,
    /// e.g. `conform seed --maildir /srv/mail/{user}/Maildir --replace`; `{user}` is the
    /// account's name (required with more than one --user). `conform run` runs it once per
    /// account before the first case and again after each case that mutates the maildrop;
    /// `conform model` before every sequence.
    #[arg(long, value_name = "CMD")]
    pub reseed_cmd: Option<String>,
    /// Capabilities the vendor declares the server implements, comma-separated (repeatable):
    /// APOP, TOP, UIDL, USER, STLS, SASL=PLAIN, ... Each is a case `expect/...` that fails
    /// when the capability is missing (no APOP timestamp, not in CAPA, not working), and the
    /// cases that need it are then blocked by it instead of not applicable.
    #[arg(long, value_name = "CAPS", value_delimiter = ',')]
    pub expect: Vec<String>,
    /// How the `login` step logs in: user, apop, plain, login or cram-md5 [default: the
    /// first of these that works on the target, in this order].
    #[arg(long, value_name = "METHOD", value_parser = parse_login)]
    pub login: Option<LoginMethod>,
    /// Bundled server only: turn on a deliberate defect (to see the suite catch it).
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<Fault>,
    /// Bundled server only: turn on a permitted variation (a choice the RFCs leave to the
    /// server; the catalogue must pass against it).
    #[arg(long = "variant", value_name = "NAME")]
    pub variants: Vec<Variant>,
    /// Take the target options from this profile of the config file; options given on the
    /// command line win.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The config file with the profiles.
    #[arg(long, value_name = "FILE", default_value = "conform.toml")]
    pub config: PathBuf,
}

/// `--login METHOD` (and `login = "..."` in a profile).
pub fn parse_login(name: &str) -> Result<LoginMethod, String> {
    LoginMethod::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = LoginMethod::ORDER.iter().map(|m| m.name()).collect();
        format!(
            "unknown login method `{name}` (expected {})",
            names.join(", ")
        )
    })
}
