//! Whether the target's maildrop holds the standard fixture — identified by the messages'
//! contents (Message-ID), never by their sizes — and whether it drifts between sessions.
//! The capability probes are the client's ([`client::probe`]).

use client::capability::{Capabilities, LoginMethod};
use client::probe::{listing, open_logged_in, positive, ProbeError};

use crate::judge::{printable, CaseEnv};

/// Why the maildrop is not taken to be the standard fixture.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotFixture {
    /// No login method worked, so nothing could be looked at.
    #[error("no login method works, so the maildrop could not be inspected")]
    NoLogin,
    /// The inspection session failed (a login refused, a command refused, the wire).
    #[error("could not inspect the maildrop: {0}")]
    Inspection(String),
    /// No message at all (`STAT` counts none).
    #[error("the maildrop is empty (STAT counts no message); seed it with `conform seed`")]
    Empty,
    /// Another number of messages.
    #[error("the maildrop is not the standard fixture: it holds {held} messages, the fixture {want}; seed it with `conform seed`")]
    Count {
        /// Messages in the maildrop.
        held: usize,
        /// Messages in the fixture.
        want: usize,
    },
    /// A message that is not the fixture's at its place.
    #[error("the maildrop is not the standard fixture: message {number} has Message-ID {got}, the fixture's is {want}; seed it with `conform seed`")]
    Message {
        /// The message number.
        number: usize,
        /// Its Message-ID (`(none)` without one).
        got: String,
        /// The fixture's.
        want: String,
    },
}

impl From<ProbeError> for NotFixture {
    fn from(e: ProbeError) -> NotFixture {
        NotFixture::Inspection(e.to_string())
    }
}

/// What the inspection of the maildrop found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// `Ok` when the maildrop holds the standard fixture (by content); else why not.
    pub fixture: Result<(), NotFixture>,
    /// The maildrop changed between two sessions without a DELE (sizes or unique-ids): the
    /// evidence. Not a violation (RFC 1939 forbids changes only *during* a session, §4), but
    /// every case that needs exact sizes must take them from its own session.
    pub drift: Option<String>,
}

/// One session's view: the scan listing and each message's Message-ID.
async fn look(
    env: &CaseEnv,
    method: LoginMethod,
    top: bool,
) -> Result<(Vec<String>, Vec<Option<String>>), ProbeError> {
    let mut s = open_logged_in(&env.endpoint, method).await?;
    let listing = listing(&mut s).await?;
    let mut ids = Vec::new();
    for n in 1..=listing.len().min(env.fixture.len()) {
        // TOP n 0 where the target has it; else RETR (the whole message, ~1 MB for one)
        let command = if top {
            format!("TOP {n} 0")
        } else {
            format!("RETR {n}")
        };
        let a = s.ask(command.as_bytes()).await?;
        if !positive(&a) {
            let what = if top { "TOP n 0" } else { "RETR n" };
            return Err(ProbeError::Refused(what, printable(&a)));
        }
        let lines = s.multiline().await?;
        ids.push(fixture::message_id(&lines.join(&b'\n')));
    }
    s.quit().await;
    Ok((listing, ids))
}

/// The fixture's Message-IDs, in order.
fn fixture_ids(env: &CaseEnv) -> Vec<Option<String>> {
    env.fixture.iter().map(|m| fixture::message_id(m)).collect()
}

/// Compares one session's view with the fixture: seven messages with its Message-IDs.
fn compare(env: &CaseEnv, listing: &[String], ids: &[Option<String>]) -> Result<(), NotFixture> {
    let want = fixture_ids(env);
    if listing.len() != want.len() {
        return Err(NotFixture::Count {
            held: listing.len(),
            want: want.len(),
        });
    }
    match ids.iter().zip(&want).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(at) => Err(NotFixture::Message {
            number: at + 1,
            got: ids[at].clone().unwrap_or_else(|| "(none)".into()),
            want: want[at].clone().unwrap_or_else(|| "(none)".into()),
        }),
    }
}

/// How many messages the maildrop holds: `STAT` in a session of its own (a single line:
/// it does not depend on the server's multi-line framing). RFC 1939 §5: "+OK nn mm".
pub async fn message_count(env: &CaseEnv, caps: &Capabilities) -> Result<u64, NotFixture> {
    let method = caps.login.ok_or(NotFixture::NoLogin)?;
    let mut s = open_logged_in(&env.endpoint, method).await?;
    let a = s.ask(b"STAT").await.map_err(ProbeError::from)?;
    s.quit().await;
    let count = pop3_proto::StatusLine::parse(&a)
        .ok()
        .filter(|st| st.status == pop3_proto::Status::Ok)
        .and_then(|st| {
            st.text
                .split(' ')
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        });
    count.ok_or_else(|| NotFixture::Inspection(format!("STAT answered {}", printable(&a))))
}

/// Whether the maildrop holds a message (`fixture: messages`).
pub async fn messages_present(env: &CaseEnv, caps: &Capabilities) -> Result<(), NotFixture> {
    match message_count(env, caps).await? {
        0 => Err(NotFixture::Empty),
        _ => Ok(()),
    }
}

/// Whether the maildrop holds the standard fixture (one session; for a re-check).
pub async fn fixture_present(env: &CaseEnv, caps: &Capabilities) -> Result<(), NotFixture> {
    let method = caps.login.ok_or(NotFixture::NoLogin)?;
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
            fixture: Err(NotFixture::NoLogin),
            drift: None,
        };
    };
    let top = caps.has("TOP");
    let first_seen = first;
    let first = match look(env, method, top).await {
        Ok(v) => v,
        Err(why) => {
            return Inspection {
                fixture: Err(why.into()),
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
