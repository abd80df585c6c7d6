//! The measured operations, through the shared client ([`client::probe::Probe`]: the bounded
//! transport, the login procedure) and the codec (commands written by
//! [`pop3_proto::Command`], status lines read by [`pop3_proto::StatusLine`]).

use std::time::{Duration, Instant};

use client::login::LoginError;
use client::probe::{Probe, ProbeError};
use client::transport::WireError;
use client::{printable, Endpoint, LoginMethod};
use pop3_proto::{Command, StatusLine};

use crate::stats::FailureKind;

/// A failed operation: its kind, whether it happened before the session was established
/// (connect, TLS, greeting: these count towards "the target stopped answering"), and the
/// message.
#[derive(Debug, Clone)]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// Whether no session could be made (the connection or its greeting failed).
    pub unreachable: bool,
    /// What happened, for the report.
    pub message: String,
}

/// How a session attempt ended, other than completed.
#[derive(Debug, Clone)]
pub enum Miss {
    /// The login was answered `-ERR [IN-USE]` (RFC 2449 §8.1.1): another session holds the
    /// maildrop lock (RFC 1939 §4). Lock contention, not a failure.
    InUse,
    /// A failure.
    Failed(Failure),
}

/// Where in a session something failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Connect, TLS (implicit or STLS), greeting.
    Open,
    /// The login exchange.
    Login,
    /// A command in TRANSACTION.
    Command,
}

fn wire_failure(stage: Stage, e: &WireError) -> Failure {
    let kind = match e {
        WireError::Timeout(_) | WireError::TooSlow { .. } => FailureKind::Timeout,
        WireError::Tls(_)
        | WireError::Certificate(_)
        | WireError::TlsEnded(_)
        | WireError::StlsRefused(_) => FailureKind::Tls,
        WireError::Io(_) if stage == Stage::Open => FailureKind::Connect,
        WireError::Io(_) | WireError::Closed => FailureKind::Closed,
        WireError::LineTooLong(_) | WireError::TooManyLines(_) | WireError::TooMuch(_) => {
            FailureKind::Protocol
        }
    };
    Failure {
        kind,
        unreachable: stage == Stage::Open,
        message: e.to_string(),
    }
}

fn probe_failure(stage: Stage, e: &ProbeError) -> Miss {
    if e.in_use() {
        return Miss::InUse;
    }
    Miss::Failed(match e {
        ProbeError::Wire(w) | ProbeError::Login(LoginError::Wire(w)) => wire_failure(stage, w),
        ProbeError::Greeting(_) => Failure {
            kind: FailureKind::Protocol,
            unreachable: true,
            message: e.to_string(),
        },
        ProbeError::Login(_) => Failure {
            kind: FailureKind::Login,
            unreachable: false,
            message: e.to_string(),
        },
        ProbeError::Refused(..) => Failure {
            kind: FailureKind::Protocol,
            unreachable: false,
            message: e.to_string(),
        },
    })
}

fn refused(command: &Command, answer: &[u8]) -> Miss {
    Miss::Failed(Failure {
        kind: FailureKind::Protocol,
        unreachable: false,
        message: format!("{} answered {}", command.keyword(), printable(answer)),
    })
}

/// Sends `command` and reads its status line; `Err` unless `+OK` (RFC 1939 §3).
async fn ask_ok(p: &mut Probe, command: &Command) -> Result<(), Miss> {
    let answer = p
        .ask(command.to_string().as_bytes())
        .await
        .map_err(|e| Miss::Failed(wire_failure(Stage::Command, &e)))?;
    match StatusLine::parse(&answer) {
        Ok(s) if s.is_ok() => Ok(()),
        _ => Err(refused(command, &answer)),
    }
}

/// Connects (TLS per the target), reads the greeting and logs in with `method`.
pub async fn open(env: &Endpoint, method: LoginMethod) -> Result<Probe, Miss> {
    let mut p = Probe::open(env)
        .await
        .map_err(|e| probe_failure(Stage::Open, &e))?;
    if let Err(e) = p.login(env, method).await {
        return Err(probe_failure(Stage::Login, &e));
    }
    Ok(p)
}

/// One measured session: connect (and TLS), greeting, login, `STAT`, `QUIT` answered `+OK`
/// (RFC 1939 §4, §5, §6). The connection is dropped after QUIT's answer, without waiting for
/// the server to close: the maildrop lock is released before that answer (RFC 1939 §6, the
/// UPDATE state).
pub async fn session(env: &Endpoint, method: LoginMethod) -> Result<(), Miss> {
    let mut p = open(env, method).await?;
    ask_ok(&mut p, &Command::Stat).await?;
    ask_ok(&mut p, &Command::Quit).await
}

/// A logged-in session that retrieves one message again and again.
#[derive(Debug)]
pub struct Retriever {
    probe: Probe,
}

impl Retriever {
    /// Opens the session (see [`open`]).
    pub async fn open(env: &Endpoint, method: LoginMethod) -> Result<Retriever, Miss> {
        Ok(Retriever {
            probe: open(env, method).await?,
        })
    }

    /// `RETR msg` and its whole multi-line answer (RFC 1939 §5, byte-stuffing per §3):
    /// the octets of the message (un-stuffed, each line with its CRLF) and the time from
    /// sending the command to the terminating line.
    pub async fn retr(&mut self, msg: u32) -> Result<(u64, Duration), Miss> {
        let start = Instant::now();
        let command = Command::Retr(msg);
        ask_ok(&mut self.probe, &command).await?;
        let lines = self
            .probe
            .multiline()
            .await
            .map_err(|e| Miss::Failed(wire_failure(Stage::Command, &e)))?;
        let elapsed = start.elapsed();
        let octets = lines.iter().map(|l| l.len() as u64 + 2).sum();
        Ok((octets, elapsed))
    }

    /// QUIT, then close (not measured).
    pub async fn quit(self) {
        self.probe.quit().await;
    }
}

#[cfg(test)]
mod tests {
    use client::login::Want;

    use super::*;

    fn refused(answer: &[u8]) -> ProbeError {
        ProbeError::Login(LoginError::Refused {
            step: "PASS",
            want: Want::Ok,
            answer: answer.to_vec(),
        })
    }

    #[test]
    fn in_use_is_contention_and_the_rest_is_sorted_by_kind() {
        assert!(matches!(
            probe_failure(Stage::Login, &refused(b"-ERR [IN-USE] locked")),
            Miss::InUse
        ));
        let kind = |stage, e: &ProbeError| match probe_failure(stage, e) {
            Miss::Failed(f) => (f.kind, f.unreachable),
            Miss::InUse => panic!("not contention: {e}"),
        };
        assert_eq!(
            kind(Stage::Login, &refused(b"-ERR [AUTH] bad password")),
            (FailureKind::Login, false)
        );
        let refused_connect =
            ProbeError::Wire(WireError::Io(std::io::ErrorKind::ConnectionRefused.into()));
        assert_eq!(
            kind(Stage::Open, &refused_connect),
            (FailureKind::Connect, true)
        );
        let timeout = ProbeError::Wire(WireError::Timeout(Duration::from_secs(1)));
        assert_eq!(kind(Stage::Open, &timeout), (FailureKind::Timeout, true));
        assert_eq!(
            kind(Stage::Command, &timeout),
            (FailureKind::Timeout, false)
        );
        let closed = ProbeError::Login(LoginError::Wire(WireError::Closed));
        assert_eq!(kind(Stage::Login, &closed), (FailureKind::Closed, false));
        let greeting = ProbeError::Greeting("-ERR go away".into());
        assert_eq!(kind(Stage::Open, &greeting), (FailureKind::Protocol, true));
    }
}
