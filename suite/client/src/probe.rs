//! Short client sessions that learn what a target implements before anything is judged:
//! its capabilities, announced and probed ([`crate::capability`]), and which login works.
//! The runner's discovery and the model's inspection both use them.

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;

use crate::capability::{add_capa_line, Capabilities, Discovery, LoginMethod};
use crate::login::LoginError;
use crate::target::{Profile, Target};
use crate::transcript::printable;
use crate::transport::{Conn, IoLimits, WireError};

/// Where the probes connect, and as whom.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The server.
    pub target: Target,
    /// Its TLS client configuration (None for plaintext).
    pub tls: Option<Arc<ClientConfig>>,
    /// Timeouts and size caps of every read and write.
    pub limits: IoLimits,
    /// The account.
    pub profile: Profile,
}

/// A positive status indicator, in any case: discovery is lenient so that the cases, which
/// require `+OK` exactly (RFC 1939 §3), get to judge a server that writes `+ok`.
pub fn positive(line: &[u8]) -> bool {
    line.get(..3)
        .is_some_and(|s| s.eq_ignore_ascii_case(b"+OK"))
}

/// A short client for the probes: one connection, lines in and out.
#[derive(Debug)]
pub struct Probe {
    conn: Conn,
    greeting: Vec<u8>,
}

/// What a probe connection could not do.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The wire failed (connect, TLS, timeout, close).
    #[error("{0}")]
    Wire(#[from] WireError),
    /// The greeting was not `+OK`.
    #[error("greeting is not +OK: {0}")]
    Greeting(String),
    /// The login was refused (or its exchange failed).
    #[error("{0}")]
    Login(LoginError<WireError>),
    /// A command the probe needs was refused: the command, and what the server answered.
    #[error("{0} answered {1}")]
    Refused(&'static str, String),
}

impl ProbeError {
    /// Whether the server refused because the maildrop is in use (`[IN-USE]`, RFC 2449
    /// §8.1.1): a previous session may still hold it.
    pub fn in_use(&self) -> bool {
        matches!(self, ProbeError::Login(LoginError::Refused { answer, .. })
            if pop3_proto::StatusLine::parse(answer)
                .is_ok_and(|s| s.code == Some(pop3_proto::ResponseCode::InUse)))
    }

    /// Whether the server closed the connection (it may still be ending the previous
    /// session: Dovecot does).
    pub fn closed(&self) -> bool {
        matches!(
            self,
            ProbeError::Wire(WireError::Closed)
                | ProbeError::Login(LoginError::Wire(WireError::Closed))
        )
    }
}

impl Probe {
    /// Connects (TLS per the target) and reads the greeting, which must be positive.
    pub async fn open(env: &Endpoint) -> Result<Probe, ProbeError> {
        let mut conn = Conn::open(&env.target, env.tls.clone(), env.limits).await?;
        let greeting = conn.read_line().await?.bytes;
        if !positive(&greeting) {
            return Err(ProbeError::Greeting(printable(&greeting)));
        }
        Ok(Probe { conn, greeting })
    }

    /// Sends `line` (CRLF added) and reads one line back.
    pub async fn ask(&mut self, line: &[u8]) -> Result<Vec<u8>, WireError> {
        let mut bytes = line.to_vec();
        bytes.extend_from_slice(b"\r\n");
        self.conn.send(&bytes).await?;
        Ok(self.conn.read_line().await?.bytes)
    }

    /// The lines of a multi-line response up to its `.`, un-stuffed.
    pub async fn multiline(&mut self) -> Result<Vec<Vec<u8>>, WireError> {
        let mut lines = Vec::new();
        loop {
            let line = self.conn.read_line().await?.bytes;
            match line.as_slice() {
                b"." => return Ok(lines),
                [b'.', rest @ ..] => lines.push(rest.to_vec()),
                _ => lines.push(line),
            }
        }
    }

    /// What the TLS session negotiated, on a TLS connection.
    pub fn tls_session(&self) -> Option<crate::transport::TlsSession> {
        self.conn.tls_session()
    }

    /// The greeting line (without its line end).
    pub fn greeting(&self) -> &[u8] {
        &self.greeting
    }

    /// QUIT, then close.
    pub async fn quit(mut self) {
        let _ = self.ask(b"QUIT").await;
        self.conn.close().await;
    }

    /// The greeting's APOP timestamp (RFC 1939 §7), with its angle brackets.
    pub fn timestamp(&self) -> Option<String> {
        pop3_proto::StatusLine::parse(&self.greeting)
            .ok()
            .and_then(|g| g.timestamp().map(str::to_owned))
    }

    /// Logs in with `method`; `Err` says what the server answered.
    pub async fn login(&mut self, env: &Endpoint, method: LoginMethod) -> Result<(), ProbeError> {
        let greeting = self.greeting.clone();
        crate::login::login(self, method, &env.profile, Some(&greeting), false)
            .await
            .map_err(ProbeError::Login)
    }
}

impl crate::login::Exchange for Probe {
    type Error = WireError;

    async fn exchange(&mut self, line: &[u8]) -> Result<Vec<u8>, WireError> {
        self.ask(line).await
    }

    fn channel_binding(&self, kind: pop3_proto::auth::channel_binding::Kind) -> Option<Vec<u8>> {
        self.conn.channel_binding(kind)
    }
}

/// Opens a probe connection, retrying a few times when the server closes it at once (a
/// server may still be ending the previous session's process; Dovecot does) or refuses
/// with `[IN-USE]`-like answers while a previous session holds the lock.
pub async fn open_logged_in(env: &Endpoint, method: LoginMethod) -> Result<Probe, ProbeError> {
    let mut attempt = 0u32;
    loop {
        let error = match Probe::open(env).await {
            Ok(mut p) => match p.login(env, method).await {
                Ok(()) => return Ok(p),
                Err(e) => {
                    p.quit().await;
                    e
                }
            },
            Err(e) => e,
        };
        if attempt >= 3 || !(error.closed() || error.in_use()) {
            return Err(error);
        }
        attempt += 1;
        tokio::time::sleep(Duration::from_millis(150 << attempt)).await;
    }
}

/// Discovers what the target implements: the greeting (APOP timestamp), CAPA, then which
/// login works (`preset` first, else each method in [`LoginMethod::ORDER`] that the target
/// may offer), and in that session TOP and UIDL. `Err` if the target cannot be reached or
/// its greeting is not `+OK`: the run cannot start.
pub async fn capabilities(
    env: &Endpoint,
    preset: Option<LoginMethod>,
) -> Result<(Capabilities, Option<Vec<String>>), ProbeError> {
    let mut caps = Capabilities::default();
    let mut p = Probe::open(env).await?;
    if p.timestamp().is_some() {
        caps.add("APOP", Discovery::Greeting);
    } else {
        caps.missing
            .insert("APOP".into(), "no timestamp in the greeting".into());
    }
    let status = p.ask(b"CAPA").await?;
    if positive(&status) {
        caps.capa = true;
        // a listing that never ends keeps what it gave: the CAPA cases judge the framing
        if let Ok(lines) = p.multiline().await {
            for l in lines {
                add_capa_line(&mut caps, &l);
            }
        }
    }
    p.quit().await;

    let candidates: Vec<LoginMethod> = match preset {
        Some(m) => vec![m],
        None => LoginMethod::ORDER
            .into_iter()
            .filter(|m| match m {
                // USER/PASS is probed even when not announced: CAPA must be complete
                LoginMethod::UserPass => true,
                LoginMethod::Apop => caps.has("APOP"),
                other if other.needs_token() && env.profile.token.is_none() => false,
                other => caps.announced.contains(other.capability()),
            })
            .collect(),
    };
    let mut session = None;
    for method in candidates {
        match open_logged_in(env, method).await {
            Ok(s) => {
                if method == LoginMethod::UserPass && !caps.announced.contains("USER") {
                    caps.add("USER", Discovery::Probed("USER and PASS logged in".into()));
                }
                caps.login = Some(method);
                session = Some(s);
                break;
            }
            Err(why) => {
                if method == LoginMethod::UserPass && !caps.has("USER") {
                    caps.missing.insert("USER".into(), why.to_string());
                }
            }
        }
    }
    let Some(mut s) = session else {
        return Ok((caps, None));
    };
    // the first logged-in view of the maildrop, for drift: a store that rewrites messages
    // when a session ends shows other sizes to every later session
    let listing = listing(&mut s).await.ok();
    probe_transaction(&mut s, &mut caps).await;
    s.quit().await;
    Ok((caps, listing))
}

/// The scan listing (`LIST`), each line cut to `n size`.
pub async fn listing(s: &mut Probe) -> Result<Vec<String>, ProbeError> {
    let a = s.ask(b"LIST").await?;
    if !positive(&a) {
        return Err(ProbeError::Refused("LIST", printable(&a)));
    }
    Ok(s.multiline()
        .await?
        .iter()
        .map(|l| {
            // RFC 1939 §5: a scan listing may carry more after the size
            let text = String::from_utf8_lossy(l).into_owned();
            text.split(' ').take(2).collect::<Vec<_>>().join(" ")
        })
        .collect())
}

/// In a logged-in session: TOP and UIDL, when CAPA did not announce them.
async fn probe_transaction(s: &mut Probe, caps: &mut Capabilities) {
    if !caps.announced.contains("UIDL") {
        match s.ask(b"UIDL").await {
            Ok(a) if positive(&a) => {
                if s.multiline().await.is_ok() {
                    caps.add("UIDL", Discovery::Probed("UIDL answered +OK".into()));
                }
            }
            Ok(a) => {
                caps.missing
                    .insert("UIDL".into(), format!("UIDL answered {}", printable(&a)));
            }
            Err(e) => {
                caps.missing.insert("UIDL".into(), format!("UIDL: {e}"));
            }
        }
    }
    if !caps.announced.contains("TOP") {
        let count = match s.ask(b"STAT").await {
            Ok(a) => String::from_utf8_lossy(&a)
                .split(' ')
                .nth(1)
                .and_then(|n| n.parse::<u64>().ok()),
            Err(_) => None,
        };
        if count.unwrap_or(0) == 0 {
            caps.missing
                .insert("TOP".into(), "not probed: the maildrop is empty".into());
            return;
        }
        match s.ask(b"TOP 1 0").await {
            Ok(a) if positive(&a) => {
                if s.multiline().await.is_ok() {
                    caps.add("TOP", Discovery::Probed("TOP 1 0 answered +OK".into()));
                }
            }
            Ok(a) => {
                caps.missing
                    .insert("TOP".into(), format!("TOP 1 0 answered {}", printable(&a)));
            }
            Err(e) => {
                caps.missing.insert("TOP".into(), format!("TOP: {e}"));
            }
        }
    }
}
