//! What the runner learns about a target before any case runs: its capabilities (announced
//! and probed, [`crate::capability`]), how to log in, and whether its maildrop holds the
//! standard fixture — identified by the messages' contents, never by their sizes.

use std::time::Duration;

use crate::capability::{add_capa_line, Capabilities, Discovery, LoginMethod};
use crate::judge::{printable, CaseEnv};
use crate::transport::{Conn, WireError};

/// A positive status indicator, in any case: discovery is lenient so that the cases, which
/// require `+OK` exactly (RFC 1939 §3), get to judge a server that writes `+ok`.
fn positive(line: &[u8]) -> bool {
    line.get(..3)
        .is_some_and(|s| s.eq_ignore_ascii_case(b"+OK"))
}

/// A short client for the probes: one connection, lines in and out.
struct Probe {
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
}

impl Probe {
    async fn open(env: &CaseEnv) -> Result<Probe, ProbeError> {
        let mut conn = Conn::open(&env.target, env.tls.clone(), env.limits).await?;
        let greeting = conn.read_line().await?.bytes;
        if !positive(&greeting) {
            return Err(ProbeError::Greeting(printable(&greeting)));
        }
        Ok(Probe { conn, greeting })
    }

    async fn ask(&mut self, line: &[u8]) -> Result<Vec<u8>, WireError> {
        let mut bytes = line.to_vec();
        bytes.extend_from_slice(b"\r\n");
        self.conn.send(&bytes).await?;
        Ok(self.conn.read_line().await?.bytes)
    }

    /// The lines of a multi-line response up to its `.`, un-stuffed.
    async fn multiline(&mut self) -> Result<Vec<Vec<u8>>, WireError> {
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

    async fn quit(mut self) {
        let _ = self.ask(b"QUIT").await;
        self.conn.close().await;
    }

    fn timestamp(&self) -> Option<String> {
        pop3_proto::StatusLine::parse(&self.greeting)
            .ok()
            .and_then(|g| g.timestamp().map(str::to_owned))
    }

    /// Logs in with `method`; `Err` says what the server answered.
    async fn login(&mut self, env: &CaseEnv, method: LoginMethod) -> Result<(), String> {
        use pop3_proto::auth::{cram_md5, encode_base64, plain::Plain};
        let (user, password) = (&env.profile.user, &env.profile.password);
        let wire = |e: WireError| e.to_string();
        let refused =
            |what: &str, answer: &[u8]| Err(format!("{what} answered {}", printable(answer)));
        let challenge = |a: &[u8]| a.starts_with(b"+ ") || a == b"+";
        match method {
            LoginMethod::UserPass => {
                let a = self
                    .ask(format!("USER {user}").as_bytes())
                    .await
                    .map_err(wire)?;
                if !positive(&a) {
                    return refused("USER", &a);
                }
                let a = self
                    .ask(format!("PASS {password}").as_bytes())
                    .await
                    .map_err(wire)?;
                if !positive(&a) {
                    return refused("PASS", &a);
                }
            }
            LoginMethod::Apop => {
                let Some(stamp) = self.timestamp() else {
                    return Err("the greeting has no timestamp".into());
                };
                let digest = pop3_proto::auth::apop::digest(&stamp, password);
                let a = self
                    .ask(format!("APOP {user} {digest}").as_bytes())
                    .await
                    .map_err(wire)?;
                if !positive(&a) {
                    return refused("APOP", &a);
                }
            }
            LoginMethod::SaslPlain => {
                let a = self.ask(b"AUTH PLAIN").await.map_err(wire)?;
                if !challenge(&a) {
                    return refused("AUTH PLAIN", &a);
                }
                let m = Plain {
                    authzid: String::new(),
                    authcid: user.clone(),
                    passwd: password.clone(),
                };
                let a = self.ask(m.to_base64().as_bytes()).await.map_err(wire)?;
                if !positive(&a) {
                    return refused("AUTH PLAIN", &a);
                }
            }
            LoginMethod::SaslLogin => {
                let a = self.ask(b"AUTH LOGIN").await.map_err(wire)?;
                if !challenge(&a) {
                    return refused("AUTH LOGIN", &a);
                }
                let a = self
                    .ask(encode_base64(user.as_bytes()).as_bytes())
                    .await
                    .map_err(wire)?;
                if !challenge(&a) {
                    return refused("AUTH LOGIN", &a);
                }
                let a = self
                    .ask(encode_base64(password.as_bytes()).as_bytes())
                    .await
                    .map_err(wire)?;
                if !positive(&a) {
                    return refused("AUTH LOGIN", &a);
                }
            }
            LoginMethod::CramMd5 => {
                let a = self.ask(b"AUTH CRAM-MD5").await.map_err(wire)?;
                if !challenge(&a) {
                    return refused("AUTH CRAM-MD5", &a);
                }
                let text = String::from_utf8_lossy(a.get(2..).unwrap_or_default()).into_owned();
                let c = cram_md5::decode_challenge(text.trim())
                    .map_err(|_| "the CRAM-MD5 challenge is not base64".to_owned())?;
                let r = cram_md5::response_base64(user, &c, password);
                let a = self.ask(r.as_bytes()).await.map_err(wire)?;
                if !positive(&a) {
                    return refused("AUTH CRAM-MD5", &a);
                }
            }
        }
        Ok(())
    }
}

/// Opens a probe connection, retrying a few times when the server closes it at once (a
/// server may still be ending the previous session's process; Dovecot does) or refuses
/// with `[IN-USE]`-like answers while a previous session holds the lock.
async fn open_logged_in(env: &CaseEnv, method: LoginMethod) -> Result<Probe, String> {
    let mut last = String::new();
    for attempt in 0..4u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(150 << attempt)).await;
        }
        let mut p = match Probe::open(env).await {
            Ok(p) => p,
            Err(ProbeError::Wire(WireError::Closed)) => {
                last = "the server closed the connection".into();
                continue;
            }
            Err(e) => return Err(e.to_string()),
        };
        match p.login(env, method).await {
            Ok(()) => return Ok(p),
            Err(why) => {
                let in_use = why.contains("[IN-USE]");
                p.quit().await;
                last = why;
                if !in_use {
                    break;
                }
            }
        }
    }
    Err(last)
}

/// Discovers what the target implements: the greeting (APOP timestamp), CAPA, then which
/// login works (`preset` first, else each method in [`LoginMethod::ORDER`] that the target
/// may offer), and in that session TOP and UIDL. `Err` if the target cannot be reached or
/// its greeting is not `+OK`: the run cannot start.
pub async fn capabilities(
    env: &CaseEnv,
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
                    caps.missing.insert("USER".into(), why);
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
async fn listing(s: &mut Probe) -> Result<Vec<String>, String> {
    let wire = |e: WireError| format!("inspecting the maildrop: {e}");
    let a = s.ask(b"LIST").await.map_err(wire)?;
    if !positive(&a) {
        return Err(format!("LIST answered {}", printable(&a)));
    }
    Ok(s.multiline()
        .await
        .map_err(wire)?
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

/// What the inspection of the maildrop found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// `Ok` when the maildrop holds the standard fixture (by content); else why not.
    pub fixture: Result<(), String>,
    /// The maildrop changed between two sessions without a DELE (sizes or unique-ids): the
    /// evidence. Not a violation (RFC 1939 forbids changes only *during* a session, §4), but
    /// every case that needs exact sizes must take them from its own session.
    pub drift: Option<String>,
}

/// The `Message-ID` header field of a message (or of a `TOP n 0` answer).
fn message_id(lines: &[Vec<u8>]) -> Option<String> {
    lines.iter().take_while(|l| !l.is_empty()).find_map(|l| {
        let text = String::from_utf8_lossy(l);
        let (name, value) = text.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("message-id")
            .then(|| value.trim().to_owned())
    })
}

/// One session's view: the scan listing and each message's Message-ID.
async fn look(
    env: &CaseEnv,
    method: LoginMethod,
    top: bool,
) -> Result<(Vec<String>, Vec<Option<String>>), String> {
    let mut s = open_logged_in(env, method)
        .await
        .map_err(|why| format!("could not log in to inspect the maildrop ({why})"))?;
    let wire = |e: WireError| format!("inspecting the maildrop: {e}");
    let listing = listing(&mut s).await?;
    let mut ids = Vec::new();
    for n in 1..=listing.len().min(env.fixture.len()) {
        // TOP n 0 where the target has it; else RETR (the whole message, ~1 MB for one)
        let command = if top {
            format!("TOP {n} 0")
        } else {
            format!("RETR {n}")
        };
        let a = s.ask(command.as_bytes()).await.map_err(wire)?;
        if !positive(&a) {
            return Err(format!("{command} answered {}", printable(&a)));
        }
        ids.push(message_id(&s.multiline().await.map_err(wire)?));
    }
    s.quit().await;
    Ok((listing, ids))
}

/// The fixture's Message-IDs, in order.
fn fixture_ids(env: &CaseEnv) -> Vec<Option<String>> {
    env.fixture
        .iter()
        .map(|m| {
            let lines: Vec<Vec<u8>> = m.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
            message_id(&lines)
        })
        .collect()
}

/// Compares one session's view with the fixture: seven messages with its Message-IDs.
fn compare(env: &CaseEnv, listing: &[String], ids: &[Option<String>]) -> Result<(), String> {
    let want = fixture_ids(env);
    if listing.len() != want.len() {
        return Err(format!(
            "the maildrop is not the standard fixture: it holds {} messages, the fixture {}; seed it with `conform seed`",
            listing.len(),
            want.len()
        ));
    }
    match ids.iter().zip(&want).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(at) => Err(format!(
            "the maildrop is not the standard fixture: message {} has Message-ID {}, the fixture's is {}; seed it with `conform seed`",
            at + 1,
            ids[at].as_deref().unwrap_or("(none)"),
            want[at].as_deref().unwrap_or("(none)")
        )),
    }
}

/// Whether the maildrop holds the standard fixture (one session; for a re-check).
pub async fn fixture_present(env: &CaseEnv, caps: &Capabilities) -> Result<(), String> {
    let method = caps
        .login
        .ok_or("no login method works, so the maildrop could not be inspected")?;
    let (listing, ids) = look(env, method, caps.has("TOP")).await?;
    compare(env, &listing, &ids)
}

/// Whether the maildrop holds the standard fixture, identified by each message's
/// Message-ID (in order, seven messages), and whether it drifts between two sessions.
///
/// `first` is the listing discovery saw in its own session, before this one: a change since
/// then is drift too.
pub async fn inspect(env: &CaseEnv, caps: &Capabilities, first: Option<Vec<String>>) -> Inspection {
    let Some(method) = caps.login else {
        return Inspection {
            fixture: Err("no login method works, so the maildrop could not be inspected".into()),
            drift: None,
        };
    };
    let top = caps.has("TOP");
    let first_seen = first;
    let first = match look(env, method, top).await {
        Ok(v) => v,
        Err(why) => {
            return Inspection {
                fixture: Err(why),
                drift: None,
            }
        }
    };
    let fixture = compare(env, &first.0, &first.1);
    let earliest = first_seen.unwrap_or_else(|| first.0.clone());
    // a second session: the same listing, unless the server rewrites its store between
    // sessions (mbox servers add Status/X-UID fields on the first visit)
    let drift = match look(env, method, top).await {
        Ok(second) if second.0 != earliest => {
            let changes: Vec<String> = earliest
                .iter()
                .zip(&second.0)
                .filter(|(a, b)| a != b)
                .map(|(a, b)| format!("{a} -> {b}"))
                .collect();
            Some(format!(
                "the scan listing changed between two sessions without DELE: {}",
                if changes.is_empty() {
                    format!("{} messages, then {}", earliest.len(), second.0.len())
                } else {
                    changes.join(", ")
                }
            ))
        }
        _ => None,
    };
    Inspection { fixture, drift }
}
