//! Driving the connections: connect and read the greeting (RFC 1939 §4), send a command line
//! (§3), read a multi-line body through its terminator (§3), close with or without QUIT.

use client::transport::{Conn, Line, WireError};
use scenario::plan::{Action, Template};
use scenario::print::session_name;

use super::script::{ok_any, PatternBuilder};
use super::{ClientState, Divergence, Execution};
use crate::rules::{self, Rule};
use crate::transcript::{printable, Dir};

/// A command line: what goes on the wire, what the scenario sends, what the transcript shows.
pub(crate) struct Command {
    /// The bytes, CRLF added when sent.
    pub(crate) wire: String,
    /// The scenario's `C:` template (credentials as `{user}`, `{password}`).
    pub(crate) script: Template,
    /// The transcript's text (credentials masked).
    pub(crate) shown: String,
}

impl Command {
    /// A line without credentials: the same text everywhere.
    pub(crate) fn plain(line: String) -> Command {
        Command {
            script: super::script::TemplateBuilder::new().lit(&line).done(),
            shown: line.clone(),
            wire: line,
        }
    }
}

impl Execution<'_> {
    /// Opens session `s` if it is closed (reading the greeting).
    pub(crate) async fn ensure_open(&mut self, s: usize) -> Result<(), Divergence> {
        if self.sessions[s].conn.is_some() {
            return Ok(());
        }
        self.connections += 1;
        let index = self.connections - 1;
        let name = session_name(index);
        self.sessions[s].index = index;
        if index > 0 {
            self.script.push(index, Action::Open);
        }
        self.sent = format!("(connect {name})");
        self.note(&name, Dir::Note, "connect".into());
        let mut conn = Conn::open(
            &self.env.endpoint.target,
            self.env.endpoint.tls.clone(),
            self.env.endpoint.limits,
        )
        .await
        .map_err(|e| self.wire(&e, rules::GREETING, "a greeting"))?;
        let greeting = conn
            .read_line()
            .await
            .map_err(|e| self.wire(&e, rules::GREETING, "+OK greeting"))?;
        let text = String::from_utf8_lossy(&greeting.bytes).into_owned();
        self.note(&name, Dir::Server, text.clone());
        let stamp = apop_stamp(&text);
        let var = format!("stamp{}", self.connections);
        let pattern = match &stamp {
            // RFC 1939 §7: the timestamp, with its angle brackets, for `apop(...)`
            Some(_) => PatternBuilder::new()
                .lit("+OK ")
                .any()
                .capture(&var, "<[^<>]*>")
                .any()
                .done(),
            None => ok_any(),
        };
        self.script.push(index, Action::Expect(pattern));
        if !greeting.bytes.starts_with(b"+OK") || !greeting.crlf {
            return Err(self.diverge(
                "+OK greeting ending in CRLF",
                printable(&greeting.bytes),
                rules::GREETING,
            ));
        }
        let session = &mut self.sessions[s];
        session.conn = Some(conn);
        session.name = name;
        session.phase = ClientState::Authorization { pending: None };
        session.stamp = stamp.map(|v| (var, v));
        session.may_close = false;
        session.tls = self.env.endpoint.target.tls != client::TlsMode::None;
        Ok(())
    }

    /// Reads one line on open session `s`.
    pub(crate) async fn read_line(&mut self, s: usize) -> Result<Line, WireError> {
        let conn = self.sessions[s].conn.as_mut().expect("open");
        conn.read_line().await
    }

    /// Sends `command` (CRLF added) on session `s` and records it.
    pub(crate) async fn send(&mut self, s: usize, command: Command) -> Result<(), Divergence> {
        self.commands += 1;
        self.sent = command.shown.clone();
        let name = self.sessions[s].name.clone();
        self.record(s, super::script::send(command.script));
        self.note(&name, Dir::Client, command.shown);
        let conn = self.sessions[s].conn.as_mut().expect("open before send");
        match conn.send(format!("{}\r\n", command.wire).as_bytes()).await {
            Ok(()) => Ok(()),
            // the server may have closed; the read says whether that was allowed
            Err(WireError::Closed) | Err(WireError::Io(_)) => Ok(()),
            Err(e) => Err(self.wire(&e, rules::CRLF, "the command to be sent")),
        }
    }

    /// Reads a multi-line body through its terminator, un-stuffed, CRLF line ends (RFC 1939
    /// §3).
    pub(crate) async fn body(&mut self, s: usize) -> Result<Vec<Vec<u8>>, Divergence> {
        let name = self.sessions[s].name.clone();
        let mut lines = Vec::new();
        let mut octets = 0usize;
        loop {
            let read = self.read_line(s).await;
            let line = read.map_err(|e| {
                self.wire(
                    &e,
                    rules::TERMINATOR,
                    "more of the multi-line response, ending in \".\"",
                )
            })?;
            if line.bytes == b"." {
                break;
            }
            if !line.crlf {
                return Err(self.diverge(
                    "lines ending in CRLF",
                    format!("{} (bare LF)", printable(&line.bytes)),
                    rules::CRLF,
                ));
            }
            octets += line.bytes.len() + 2;
            let data = match line.bytes.strip_prefix(b".") {
                Some(rest) => rest.to_vec(),
                None => line.bytes,
            };
            lines.push(data);
        }
        self.note(
            &name,
            Dir::Server,
            format!("<{} lines, {octets} octets> .", lines.len()),
        );
        Ok(lines)
    }

    /// Session `s`'s connection is gone: back to a closed session; the lock is released.
    pub(crate) fn closed(&mut self, s: usize) {
        let session = &mut self.sessions[s];
        session.conn = None;
        session.phase = ClientState::Authorization { pending: None };
        session.stamp = None;
        session.may_close = false;
        if self.lock == Some(s) {
            self.lock = None;
        }
    }

    /// The client goes away without QUIT (RFC 1939 §6: no UPDATE).
    pub(crate) async fn drop_connection(&mut self, s: usize) {
        let name = self.sessions[s].name.clone();
        self.record(s, Action::Drop);
        self.note(&name, Dir::Note, "drop (no QUIT)".into());
        self.hang_up(s).await;
    }

    /// Closes session `s`'s connection from the client's side, recording nothing.
    pub(crate) async fn hang_up(&mut self, s: usize) {
        if let Some(mut c) = self.sessions[s].conn.take() {
            c.close().await;
        }
        self.closed(s);
    }

    /// Waits for the server to close session `s` (after QUIT).
    pub(crate) async fn expect_eof(&mut self, s: usize, rule: Rule) -> Result<(), Divergence> {
        self.record(s, Action::ExpectClose);
        let name = self.sessions[s].name.clone();
        let conn = self.sessions[s].conn.as_mut().expect("open");
        match conn.expect_eof().await {
            Ok(None) => {
                self.note(&name, Dir::Note, "closed by the server".into());
                Ok(())
            }
            Ok(Some(l)) => Err(self.diverge("the connection closed", printable(&l.bytes), rule)),
            Err(e) => Err(self.wire(&e, rule, "the connection closed")),
        }
    }
}

/// The APOP timestamp of a greeting (RFC 1939 §7: a msg-id in angle brackets).
fn apop_stamp(greeting: &str) -> Option<String> {
    let start = greeting.find('<')?;
    let end = greeting[start..].find('>')? + start;
    let stamp = &greeting[start..=end];
    (stamp.len() > 2 && !stamp[1..stamp.len() - 1].contains('<')).then(|| stamp.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps() {
        assert_eq!(
            apop_stamp("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>").as_deref(),
            Some("<1896.697170952@dbc.mtview.ca.us>")
        );
        assert_eq!(apop_stamp("+OK ready"), None);
        assert_eq!(apop_stamp("+OK <>"), None);
    }
}
