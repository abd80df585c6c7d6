//! The steps that act on a connection: `open`, `starttls`, `drop`, `eof`, `reseed`, and the
//! `login` step (the client's login over the case's session, every line logged).

use super::*;
use pop3_proto::auth::channel_binding;

impl Run<'_> {
    /// `reseed`: the run restores the maildrop now; not applicable without a way to.
    pub(super) async fn reseed(&mut self, session: usize) -> Result<(), StepError> {
        let Some(reseed) = self.reseed else {
            return Err(StepError::NotApplicable(
                "the case delivers mail (`reseed`), and this run has no way to: give --reseed-cmd"
                    .into(),
            ));
        };
        // let the server finish the UPDATE of a session that just ended
        tokio::time::sleep(Duration::from_millis(20)).await;
        match reseed() {
            Ok(()) => {
                self.note(session, Dir::Note, "maildrop reseeded".into());
                Ok(())
            }
            Err(e) => Err(StepError::Reseed(e.to_string())),
        }
    }

    /// `open NAME`: connects session `session`.
    pub(super) async fn open(&mut self, session: usize) -> Result<(), StepError> {
        let conn = Conn::open(
            &self.env.endpoint.target,
            self.env.endpoint.tls.clone(),
            self.env.endpoint.limits,
        )
        .await?;
        if self.sessions.len() <= session {
            self.sessions.resize_with(session + 1, || None);
            self.in_sasl.resize(session + 1, false);
        }
        self.sessions[session] = Some(conn);
        self.note(session, Dir::Note, format!("session {session} connected"));
        self.bind_channel(session);
        Ok(())
    }

    /// Binds `tls_exporter` and `tls_server_end_point` to the channel bindings of session
    /// `session`'s TLS (RFC 5802 §6), for SCRAM -PLUS cases; the latest TLS session wins. A
    /// type the session does not define (tls-exporter before TLS 1.3) stays as it was.
    pub(super) fn bind_channel(&mut self, session: usize) {
        let Some(conn) = self.sessions.get(session).and_then(Option::as_ref) else {
            return;
        };
        for kind in channel_binding::Kind::ALL {
            if let Some(data) = conn.channel_binding(kind) {
                self.vars.set(&kind.name().replace('-', "_"), data);
            }
        }
    }

    /// `starttls`: the TLS handshake (after `+OK` to STLS, RFC 2595 §4).
    pub(super) async fn start_tls(&mut self, session: usize) -> Result<(), StepError> {
        self.conn(session)?.start_tls().await?;
        self.note(session, Dir::Note, "TLS established".into());
        self.bind_channel(session);
        Ok(())
    }

    /// `starttls or eof`: the handshake, or the server ending it (the case ends, passed).
    pub(super) async fn start_tls_or_eof(&mut self, session: usize) -> Result<(), StepError> {
        match self.conn(session)?.start_tls().await {
            Ok(()) => {
                self.note(session, Dir::Note, "TLS established".into());
                self.bind_channel(session);
                Ok(())
            }
            Err(WireError::TlsEnded(why)) => {
                self.note(
                    session,
                    Dir::Note,
                    format!("the server ended the TLS handshake ({why}); the case ends here"),
                );
                Err(StepError::Done)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `starttls if ok`: the handshake after `+OK`; after `-ERR` the case is not applicable
    /// (a server may refuse STLS, RFC 2595 §4).
    pub(super) async fn start_tls_if_ok(&mut self, session: usize) -> Result<(), StepError> {
        if !self.last_was_ok(session) {
            return Err(StepError::NotApplicable(
                "the server refused STLS here, as RFC 2595 §4 permits; the rest of the case needs TLS".into(),
            ));
        }
        self.start_tls(session).await
    }

    /// `drop`: closes the connection without QUIT.
    pub(super) async fn drop_session(&mut self, session: usize) {
        if let Some(mut c) = self.sessions.get_mut(session).and_then(Option::take) {
            c.close().await;
        }
        self.note(session, Dir::Note, "connection closed without QUIT".into());
    }

    /// `eof`: the server closes the connection now, sending nothing more.
    pub(super) async fn expect_close(&mut self, session: usize) -> Result<(), StepError> {
        match self.conn(session)?.expect_eof().await {
            Ok(None) => {
                self.note(session, Dir::Note, "server closed the connection".into());
                Ok(())
            }
            Ok(Some(line)) => {
                let text = printable(&line.bytes);
                self.note(session, Dir::Server, text.clone());
                fail(
                    "server sent more instead of closing the connection",
                    "connection closed",
                    text,
                )
            }
            Err(WireError::Timeout(t)) => fail(
                "server did not close the connection",
                "connection closed",
                format!("still open after {t:?}"),
            ),
            Err(e) => Err(e.into()),
        }
    }

    /// Sends one line the runner made (not from the scenario), logged and masked like a `C:`
    /// line.
    pub(super) async fn send_line(&mut self, session: usize, line: &[u8]) -> Result<(), StepError> {
        let shown = self.mask(session, line);
        self.note(session, Dir::Client, shown);
        self.sent(session, line);
        if let Some(s) = self.in_sasl.get_mut(session) {
            *s = false;
        }
        let mut bytes = line.to_vec();
        bytes.extend_from_slice(b"\r\n");
        self.conn(session)?.send(&bytes).await?;
        Ok(())
    }

    /// The `login` step: logs in with the run's method (the greeting was read already).
    ///
    /// The method worked when the run began, so a refusal is taken to be passing: the
    /// previous case's session may still hold the maildrop (`-ERR [IN-USE]`, RFC 2449 §8.1.2)
    /// while the server ends it. The login is tried again on a new connection for up to
    /// [`LOGIN_RETRY`], each attempt in the transcript; then the refusal is the verdict.
    pub(super) async fn login(&mut self, session: usize) -> Result<(), StepError> {
        let Some(method) = self.env.login else {
            return fail(
                "no login method works on this target",
                "USER/PASS, APOP or AUTH",
                "none (see the run's capabilities)",
            );
        };
        let started = Instant::now();
        loop {
            match self.login_once(session, method).await {
                Err(StepError::Fail(..)) if started.elapsed() < LOGIN_RETRY => {
                    self.note(
                        session,
                        Dir::Note,
                        "login refused (the maildrop may still be held by the previous session); trying again on a new connection".into(),
                    );
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    if let Some(mut old) = self.sessions.get_mut(session).and_then(Option::take) {
                        old.close().await;
                    }
                    let conn = Conn::open(
                        &self.env.endpoint.target,
                        self.env.endpoint.tls.clone(),
                        self.env.endpoint.limits,
                    )
                    .await?;
                    self.sessions[session] = Some(conn);
                    self.greetings[session] = None;
                    self.read(session).await?;
                }
                other => return other,
            }
        }
    }

    /// One login attempt with `method` on the session's connection: the client's login
    /// steps, each line logged and judged as a `C:`/`S:` pair would be.
    pub(super) async fn login_once(
        &mut self,
        session: usize,
        method: LoginMethod,
    ) -> Result<(), StepError> {
        use client::login::{login, LoginError, Want};
        let profile = self.env.endpoint.profile.clone();
        let greeting = self.greetings.get(session).cloned().flatten();
        let mut exchange = SessionExchange { run: self, session };
        match login(&mut exchange, method, &profile, greeting.as_deref(), true).await {
            Ok(()) => Ok(()),
            Err(LoginError::Wire(e)) => Err(e),
            Err(LoginError::Refused { step, want, answer }) => fail(
                format!("the login with {method} was refused ({step})"),
                match want {
                    Want::Ok => format!("+OK (login with {method})"),
                    Want::Challenge => format!("+ challenge (login with {method})"),
                },
                printable(&answer),
            ),
            Err(LoginError::NoChannelBinding) => fail(
                format!("{method} needs a TLS channel binding"),
                "a TLS connection (--tls starttls or implicit)",
                "no channel binding",
            ),
            Err(LoginError::NoToken) => fail(
                format!("{method} needs a bearer token"),
                "a bearer token (--token-env)",
                "none given",
            ),
            Err(LoginError::NoTimestamp) => fail(
                "APOP login needs the greeting's timestamp",
                "a greeting with <timestamp>",
                greeting.map_or("(no greeting read)".into(), |g| printable(&g)),
            ),
            Err(LoginError::BadChallenge(c)) => fail(
                "the CRAM-MD5 challenge is not base64",
                "+ BASE64",
                printable(&c),
            ),
            Err(LoginError::Scram { mechanism, problem }) => fail(
                format!("the {mechanism} exchange could not be finished: {problem}"),
                format!("a valid {mechanism} exchange (RFC 5802 §5)"),
                problem.to_string(),
            ),
        }
    }
}

/// One session of a case as the client's login sees it: every line sent is logged (masked)
/// and every answer read as a judged line (a bare LF fails the case).
struct SessionExchange<'r, 'a> {
    run: &'r mut Run<'a>,
    session: usize,
}

impl client::login::Exchange for SessionExchange<'_, '_> {
    type Error = StepError;

    async fn exchange(&mut self, line: &[u8]) -> Result<Vec<u8>, StepError> {
        self.run.send_line(self.session, line).await?;
        let expected = "an answer to the login";
        Ok(self.run.read_judged(self.session, expected).await?.bytes)
    }

    fn channel_binding(&self, kind: channel_binding::Kind) -> Option<Vec<u8>> {
        self.run
            .sessions
            .get(self.session)
            .and_then(Option::as_ref)
            .and_then(|c| c.channel_binding(kind))
    }
}

/// How long the `login` step tries again after a refusal.
const LOGIN_RETRY: Duration = Duration::from_secs(3);
