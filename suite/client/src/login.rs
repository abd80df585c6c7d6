//! Logging in with one method, over any line exchange: the probes' connections and the
//! runner's `login` step (which logs and judges every line) run the same steps.

use std::future::Future;

use pop3_proto::auth::{
    apop, channel_binding, cram_md5, decode_base64, encode_base64, oauth, plain::Plain, scram,
};

use crate::capability::LoginMethod;
use crate::target::Profile;

/// What an answer in a login must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// A positive status line (`+OK`).
    Ok,
    /// A SASL continuation (`+ ` and a challenge, RFC 5034 §4).
    Challenge,
}

/// Sends one line and reads the one-line answer.
pub trait Exchange {
    /// What can go wrong on the wire.
    type Error;
    /// Sends `line` (CRLF is added) and returns the answer line (without CRLF).
    fn exchange(&mut self, line: &[u8]) -> impl Future<Output = Result<Vec<u8>, Self::Error>>;

    /// The channel binding of type `kind` of the connection (RFC 5802 §6), for SCRAM -PLUS;
    /// `None` without TLS, or where the type is not defined for the session.
    fn channel_binding(&self, kind: channel_binding::Kind) -> Option<Vec<u8>> {
        let _ = kind;
        None
    }
}

/// Why a login did not get through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError<E> {
    /// An answer was not the one the method needs.
    Refused {
        /// The command the answer was to (`USER`, `PASS`, `AUTH PLAIN`, ...).
        step: &'static str,
        /// What was needed.
        want: Want,
        /// What came.
        answer: Vec<u8>,
    },
    /// APOP needs the greeting's timestamp and the greeting has none.
    NoTimestamp,
    /// OAUTHBEARER and XOAUTH2 need a bearer token and the run has none.
    NoToken,
    /// SCRAM -PLUS needs a channel binding and the connection has none (no TLS).
    NoChannelBinding,
    /// The CRAM-MD5 challenge is not base64.
    BadChallenge(Vec<u8>),
    /// A SCRAM exchange the client must not finish (RFC 5802 §5: a nonce that does not
    /// extend the client's, a malformed message, a server signature that does not verify).
    /// The client cancelled it with `*` (RFC 5034 §4).
    Scram {
        /// The mechanism.
        mechanism: &'static str,
        /// What was wrong.
        problem: scram::ScramError,
    },
    /// The exchange failed.
    Wire(E),
}

impl<E: std::fmt::Display> std::fmt::Display for LoginError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginError::Refused { step, answer, .. } => {
                write!(f, "{step} answered {}", crate::printable(answer))
            }
            LoginError::NoTimestamp => f.write_str("the greeting has no timestamp"),
            LoginError::NoToken => f.write_str("no bearer token (give one with --token-env)"),
            LoginError::NoChannelBinding => f.write_str("no TLS channel binding to use"),
            LoginError::BadChallenge(c) => write!(
                f,
                "the CRAM-MD5 challenge is not base64: {}",
                crate::printable(c)
            ),
            LoginError::Scram { mechanism, problem } => write!(f, "{mechanism}: {problem}"),
            LoginError::Wire(e) => write!(f, "{e}"),
        }
    }
}

/// Whether `answer` is what `want` asks for; `strict`: `+OK` exactly as RFC 1939 §3 writes
/// it (the runner judges), else in any case (the probes only find out).
pub fn answered(answer: &[u8], want: Want, strict: bool) -> bool {
    match want {
        Want::Ok if strict => answer.starts_with(b"+OK"),
        Want::Ok => answer
            .get(..3)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"+OK")),
        Want::Challenge => answer.starts_with(b"+ ") || answer == b"+",
    }
}

/// Logs in with `method` as `profile` (APOP takes the timestamp from `greeting`).
pub async fn login<X: Exchange>(
    x: &mut X,
    method: LoginMethod,
    profile: &Profile,
    greeting: Option<&[u8]>,
    strict: bool,
) -> Result<(), LoginError<X::Error>> {
    let (user, password) = (&profile.user, &profile.password);
    let step = async |x: &mut X, name: &'static str, line: &[u8], want: Want| {
        let answer = x.exchange(line).await.map_err(LoginError::Wire)?;
        if answered(&answer, want, strict) {
            Ok(answer)
        } else {
            Err(LoginError::Refused {
                step: name,
                want,
                answer,
            })
        }
    };
    match method {
        LoginMethod::UserPass => {
            step(x, "USER", format!("USER {user}").as_bytes(), Want::Ok).await?;
            step(x, "PASS", format!("PASS {password}").as_bytes(), Want::Ok).await?;
        }
        LoginMethod::Apop => {
            let stamp = greeting
                .and_then(|g| pop3_proto::StatusLine::parse(g).ok())
                .and_then(|g| g.timestamp().map(str::to_owned))
                .ok_or(LoginError::NoTimestamp)?;
            let digest = apop::digest(&stamp, password);
            step(
                x,
                "APOP",
                format!("APOP {user} {digest}").as_bytes(),
                Want::Ok,
            )
            .await?;
        }
        LoginMethod::SaslPlain => {
            step(x, "AUTH PLAIN", b"AUTH PLAIN", Want::Challenge).await?;
            let message = Plain {
                authzid: String::new(),
                authcid: user.clone(),
                passwd: password.clone(),
            };
            step(x, "AUTH PLAIN", message.to_base64().as_bytes(), Want::Ok).await?;
        }
        LoginMethod::SaslLogin => {
            step(x, "AUTH LOGIN", b"AUTH LOGIN", Want::Challenge).await?;
            let name = encode_base64(user.as_bytes());
            step(x, "AUTH LOGIN", name.as_bytes(), Want::Challenge).await?;
            let secret = encode_base64(password.as_bytes());
            step(x, "AUTH LOGIN", secret.as_bytes(), Want::Ok).await?;
        }
        LoginMethod::CramMd5 => {
            let c = step(x, "AUTH CRAM-MD5", b"AUTH CRAM-MD5", Want::Challenge).await?;
            let text = String::from_utf8_lossy(c.get(2..).unwrap_or_default()).into_owned();
            let challenge = cram_md5::decode_challenge(text.trim())
                .map_err(|_| LoginError::BadChallenge(c.clone()))?;
            let response = cram_md5::response_base64(user, &challenge, password);
            step(x, "AUTH CRAM-MD5", response.as_bytes(), Want::Ok).await?;
        }
        LoginMethod::ScramSha1
        | LoginMethod::ScramSha256
        | LoginMethod::ScramSha1Plus
        | LoginMethod::ScramSha256Plus => {
            let (mech, name) = match method {
                LoginMethod::ScramSha1 => (scram::Mechanism::SHA1, "AUTH SCRAM-SHA-1"),
                LoginMethod::ScramSha256 => (scram::Mechanism::SHA256, "AUTH SCRAM-SHA-256"),
                LoginMethod::ScramSha1Plus => (
                    scram::Mechanism {
                        plus: true,
                        ..scram::Mechanism::SHA1
                    },
                    "AUTH SCRAM-SHA-1-PLUS",
                ),
                _ => (
                    scram::Mechanism {
                        plus: true,
                        ..scram::Mechanism::SHA256
                    },
                    "AUTH SCRAM-SHA-256-PLUS",
                ),
            };
            let nonce = scram::fresh_nonce();
            let client = if mech.plus {
                // RFC 9266: tls-exporter where it is defined (TLS 1.3), else the certificate
                let (kind, data) = channel_binding::Kind::ALL
                    .into_iter()
                    .find_map(|k| x.channel_binding(k).map(|d| (k, d)))
                    .ok_or(LoginError::NoChannelBinding)?;
                scram::Client::with_channel_binding(mech, user, &nonce, kind.name(), data)
            } else {
                scram::Client::new(mech, user, &nonce)
            };
            let first = encode_base64(client.first_message().as_bytes());
            let command = format!("AUTH {} {first}", mech.name());
            let c = step(x, name, command.as_bytes(), Want::Challenge).await?;
            // RFC 5034 §4: a client that cannot go on cancels with "*"
            let cancel = async |x: &mut X, problem| {
                let _ = x.exchange(b"*").await.map_err(LoginError::Wire)?;
                Err(LoginError::Scram {
                    mechanism: mech.name(),
                    problem,
                })
            };
            let server_first = match challenge_data(&c) {
                Some(sf) => sf,
                None => return cancel(x, scram::ScramError::NotBase64).await,
            };
            let fin = match client.finish(password, &server_first, scram::MAX_ITERATIONS) {
                Ok(fin) => fin,
                Err(problem) => return cancel(x, problem).await,
            };
            let reply = encode_base64(fin.message.as_bytes());
            let c = step(x, name, reply.as_bytes(), Want::Challenge).await?;
            let checked = challenge_data(&c)
                .ok_or(scram::ScramError::NotBase64)
                .and_then(|v| scram::verify_server_final(&v, &fin.server_signature));
            if let Err(problem) = checked {
                return cancel(x, problem).await;
            }
            step(x, name, b"", Want::Ok).await?;
        }
        LoginMethod::OAuthBearer | LoginMethod::XOAuth2 => {
            let token = profile.token.as_deref().ok_or(LoginError::NoToken)?;
            let (name, message, dummy) = if method == LoginMethod::OAuthBearer {
                let m = oauth::oauthbearer_message(user, token, &[]);
                ("AUTH OAUTHBEARER", m, oauth::DUMMY_RESPONSE)
            } else {
                (
                    "AUTH XOAUTH2",
                    oauth::xoauth2_message(user, token),
                    &b""[..],
                )
            };
            let command = format!("{name} {}", encode_base64(&message));
            let answer = x
                .exchange(command.as_bytes())
                .await
                .map_err(LoginError::Wire)?;
            if answered(&answer, Want::Challenge, strict) {
                // RFC 7628 §3: after the error result the client MUST send one more message
                // (OAUTHBEARER: %x01; XOAUTH2: an empty response); the server then fails
                x.exchange(encode_base64(dummy).as_bytes())
                    .await
                    .map_err(LoginError::Wire)?;
            }
            if !answered(&answer, Want::Ok, strict) {
                return Err(LoginError::Refused {
                    step: name,
                    want: Want::Ok,
                    answer,
                });
            }
        }
    }
    Ok(())
}

/// The decoded data of a `+ ` challenge line; `None` when it is not base64.
fn challenge_data(line: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(line.get(2..).unwrap_or_default()).ok()?;
    decode_base64(text.trim_end()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server script: answers in order, and what was sent.
    struct Script(Vec<&'static [u8]>, Vec<Vec<u8>>);

    impl Exchange for Script {
        type Error = &'static str;
        async fn exchange(&mut self, line: &[u8]) -> Result<Vec<u8>, &'static str> {
            self.1.push(line.to_vec());
            if self.0.is_empty() {
                return Err("closed");
            }
            Ok(self.0.remove(0).to_vec())
        }
    }

    fn profile() -> Profile {
        Profile::new("tim", "tanstaaf")
    }

    #[test]
    fn bearer_tokens() {
        let mut p = profile();
        let mut s = Script(vec![], Vec::new());
        let r = futures_lite(login(&mut s, LoginMethod::OAuthBearer, &p, None, true));
        assert_eq!(r, Err(LoginError::NoToken));
        p.token = Some("t0k".into());
        // RFC 7628 §3.1: n,a=tim,^Aauth=Bearer t0k^A^A
        let mut s = Script(vec![b"+OK welcome"], Vec::new());
        let r = futures_lite(login(&mut s, LoginMethod::OAuthBearer, &p, None, true));
        assert_eq!(r, Ok(()));
        assert_eq!(
            s.1,
            vec![b"AUTH OAUTHBEARER bixhPXRpbSwBYXV0aD1CZWFyZXIgdDBrAQE=".to_vec()]
        );
        // refused with the error result: the dummy %x01 (AQ==), then -ERR
        let mut s = Script(
            vec![b"+ eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=", b"-ERR [AUTH] no"],
            Vec::new(),
        );
        let r = futures_lite(login(&mut s, LoginMethod::OAuthBearer, &p, None, true));
        assert!(matches!(
            r,
            Err(LoginError::Refused {
                step: "AUTH OAUTHBEARER",
                ..
            })
        ));
        assert_eq!(s.1[1], b"AQ==".to_vec());
        // XOAUTH2: user=tim^Aauth=Bearer t0k^A^A; its error result is answered with an empty line
        let mut s = Script(vec![b"+ eyJzdGF0dXMiOiI0MDEifQ==", b"-ERR no"], Vec::new());
        let r = futures_lite(login(&mut s, LoginMethod::XOAuth2, &p, None, true));
        assert!(r.is_err());
        assert_eq!(
            s.1,
            vec![
                b"AUTH XOAUTH2 dXNlcj10aW0BYXV0aD1CZWFyZXIgdDBrAQE=".to_vec(),
                Vec::new()
            ]
        );
    }

    fn run(
        method: LoginMethod,
        answers: Vec<&'static [u8]>,
        strict: bool,
    ) -> (Result<(), LoginError<&'static str>>, Vec<Vec<u8>>) {
        let mut s = Script(answers, Vec::new());
        let greeting = b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>";
        let r = futures_lite(login(&mut s, method, &profile(), Some(greeting), strict));
        (r, s.1)
    }

    /// Polls a future that never waits (the script answers at once).
    fn futures_lite<F: Future>(f: F) -> F::Output {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    #[test]
    fn apop_sends_the_rfc_digest() {
        // RFC 1939 §7's example: the digest of the timestamp and the secret
        let (r, sent) = run(LoginMethod::Apop, vec![b"+OK maildrop has 1 message"], true);
        assert_eq!(r, Ok(()));
        assert_eq!(
            sent,
            vec![b"APOP tim c4c9334bac560ecc979e58001b3e22fb".to_vec()]
        );
    }

    #[test]
    fn refusals_and_strictness() {
        let (r, _) = run(LoginMethod::UserPass, vec![b"+OK", b"-ERR [AUTH] no"], true);
        assert!(matches!(
            r,
            Err(LoginError::Refused {
                step: "PASS",
                want: Want::Ok,
                ..
            })
        ));
        let (r, _) = run(LoginMethod::UserPass, vec![b"+ok", b"+ok"], false);
        assert_eq!(r, Ok(()));
        let (r, _) = run(LoginMethod::UserPass, vec![b"+ok"], true);
        assert!(matches!(r, Err(LoginError::Refused { step: "USER", .. })));
        let (r, sent) = run(LoginMethod::SaslPlain, vec![b"+ ", b"+OK"], true);
        assert_eq!(r, Ok(()));
        assert_eq!(sent[1], b"AHRpbQB0YW5zdGFhZg==".to_vec());
        let (r, _) = run(LoginMethod::CramMd5, vec![b"+ not base64!"], true);
        assert!(matches!(r, Err(LoginError::BadChallenge(_))));
        let (r, _) = run(LoginMethod::SaslLogin, vec![b"+ VXNlcm5hbWU6"], true);
        assert_eq!(r, Err(LoginError::Wire("closed")));
    }

    /// A SCRAM server for the login tests: pop3-proto's server side, with the user's
    /// credentials, optionally sending a wrong verifier.
    struct ScramServer {
        server: Option<scram::Server>,
        wrong_signature: bool,
        sent: Vec<Vec<u8>>,
    }

    impl Exchange for ScramServer {
        type Error = &'static str;
        async fn exchange(&mut self, line: &[u8]) -> Result<Vec<u8>, &'static str> {
            self.sent.push(line.to_vec());
            let text = std::str::from_utf8(line).unwrap();
            if let Some(first) = text.strip_prefix("AUTH SCRAM-SHA-256 ") {
                let first = scram::ClientFirst::parse(&decode_base64(first).unwrap()).unwrap();
                let salt = b"salty".to_vec();
                let creds = scram::Keys::derive(scram::Hash::Sha256, "tanstaaf", &salt, 4096)
                    .credentials(&salt, 4096);
                let server = scram::Server::new(scram::Mechanism::SHA256, first, creds, "srv");
                let reply = format!("+ {}", encode_base64(server.server_first.text.as_bytes()));
                self.server = Some(server);
                return Ok(reply.into_bytes());
            }
            match text {
                "" => Ok(b"+OK welcome".to_vec()),
                "*" => Ok(b"-ERR cancelled".to_vec()),
                _ => {
                    let server = self.server.as_ref().ok_or("no exchange")?;
                    let v = match server.finish(&decode_base64(text).unwrap()) {
                        Ok(v) => v,
                        Err(_) => return Ok(b"-ERR [AUTH] invalid-proof".to_vec()),
                    };
                    let v = if self.wrong_signature {
                        "v=AAAA".to_owned()
                    } else {
                        v
                    };
                    Ok(format!("+ {}", encode_base64(v.as_bytes())).into_bytes())
                }
            }
        }
    }

    /// A SCRAM -PLUS server over a channel whose tls-exporter is 32 octets of 9: the client
    /// binds to what its connection reports, and without a binding it does not start.
    struct PlusServer {
        inner: ScramServer,
        binding: Option<Vec<u8>>,
    }

    impl Exchange for PlusServer {
        type Error = &'static str;
        async fn exchange(&mut self, line: &[u8]) -> Result<Vec<u8>, &'static str> {
            let text = std::str::from_utf8(line).unwrap();
            let Some(first) = text.strip_prefix("AUTH SCRAM-SHA-256-PLUS ") else {
                return self.inner.exchange(line).await;
            };
            self.inner.sent.push(line.to_vec());
            let first = scram::ClientFirst::parse(&decode_base64(first).unwrap()).unwrap();
            assert_eq!(
                first.cbind,
                scram::ChannelBinding::Required("tls-exporter".into())
            );
            let salt = b"salty".to_vec();
            let creds = scram::Keys::derive(scram::Hash::Sha256, "tanstaaf", &salt, 4096)
                .credentials(&salt, 4096);
            let mech = scram::Mechanism::from_name("SCRAM-SHA-256-PLUS").unwrap();
            let mut server = scram::Server::new(mech, first, creds, "srv");
            server.cbind_data = vec![9; 32];
            let reply = format!("+ {}", encode_base64(server.server_first.text.as_bytes()));
            self.inner.server = Some(server);
            Ok(reply.into_bytes())
        }

        fn channel_binding(&self, kind: channel_binding::Kind) -> Option<Vec<u8>> {
            (kind == channel_binding::Kind::TlsExporter)
                .then(|| self.binding.clone())
                .flatten()
        }
    }

    #[test]
    fn scram_plus_binds_the_channel() {
        let run_with = |binding: Option<Vec<u8>>| {
            let mut s = PlusServer {
                inner: ScramServer {
                    server: None,
                    wrong_signature: false,
                    sent: Vec::new(),
                },
                binding,
            };
            let r = futures_lite(login(
                &mut s,
                LoginMethod::ScramSha256Plus,
                &profile(),
                None,
                true,
            ));
            (r, s.inner.sent)
        };
        assert_eq!(run_with(Some(vec![9u8; 32])).0, Ok(()));
        // another channel's data: the server refuses the client-final-message
        assert!(matches!(
            run_with(Some(vec![8u8; 32])).0,
            Err(LoginError::Refused { .. })
        ));
        let (r, sent) = run_with(None);
        assert_eq!(r, Err(LoginError::NoChannelBinding));
        assert!(sent.is_empty());
    }

    #[test]
    fn scram_logs_in_and_verifies_the_server() {
        for (wrong_signature, password) in [(false, "tanstaaf"), (true, "tanstaaf"), (false, "bad")]
        {
            let mut s = ScramServer {
                server: None,
                wrong_signature,
                sent: Vec::new(),
            };
            let mut p = profile();
            p.password = password.into();
            let r = futures_lite(login(&mut s, LoginMethod::ScramSha256, &p, None, true));
            match (wrong_signature, password) {
                (false, "tanstaaf") => {
                    assert_eq!(r, Ok(()));
                    assert_eq!(s.sent.last().unwrap(), b"");
                }
                (true, _) => {
                    assert_eq!(
                        r,
                        Err(LoginError::Scram {
                            mechanism: "SCRAM-SHA-256",
                            problem: scram::ScramError::BadServerSignature
                        })
                    );
                    assert_eq!(s.sent.last().unwrap(), b"*");
                }
                _ => assert!(matches!(
                    r,
                    Err(LoginError::Refused {
                        want: Want::Challenge,
                        ..
                    })
                )),
            }
        }
        assert_eq!(
            LoginMethod::from_name("SCRAM-SHA-256"),
            Some(LoginMethod::ScramSha256)
        );
    }
}
