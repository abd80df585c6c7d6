//! The AUTHORIZATION state (RFC 1939 §4, §7; RFC 5034 AUTH PLAIN, RFC 5802 SCRAM): USER, PASS,
//! APOP and AUTH with good and bad credentials, the lock a good login takes (or cannot take
//! while another session holds it, §4), and every login command refused once in TRANSACTION
//! (§3).

use pop3_proto::auth::{apop, encode_base64, plain::Plain, scram};
use scenario::plan::{AExpr, Action, Assertion};
use scenario::plan::{Expr, Func};

use super::connection::Command;
use super::judge::{Got, Want};
use super::script::{call, string, var, TemplateBuilder};
use super::{ClientState, Divergence, Execution};
use crate::maildrop::View;
use crate::ops::{Method, Op, Secret, Who};
use crate::rules::{self, Rule};

/// A mailbox no server has.
const UNKNOWN_MAILBOX: &str = "no-such-mailbox-c0nf";
/// A password no profile has.
const WRONG_PASSWORD: &str = "not-the-password-c0nf";

impl Execution<'_> {
    /// A whole login with good credentials (USER and PASS are two commands).
    pub(crate) async fn login(
        &mut self,
        s: usize,
        op: &Op,
        method: Method,
    ) -> Result<(), Divergence> {
        if self.in_transaction(s) {
            // every login command is out of state now (RFC 1939 §3)
            return match method {
                Method::UserPass => {
                    self.user(s, op, Who::Good).await?;
                    self.pass(s, op, Secret::Good).await
                }
                Method::Apop => self.apop(s, op, Secret::Good).await,
                Method::AuthPlain => self.auth_plain(s, op, Secret::Good).await,
                Method::Scram => self.auth_scram(s, op).await,
            };
        }
        match method {
            Method::UserPass => {
                self.user(s, op, Who::Good).await?;
                if self.sessions[s].conn.is_none() || self.pending(s) != Some(Who::Good) {
                    return Ok(());
                }
                self.pass(s, op, Secret::Good).await
            }
            Method::Apop => self.apop(s, op, Secret::Good).await,
            Method::AuthPlain => self.auth_plain(s, op, Secret::Good).await,
            Method::Scram => self.auth_scram(s, op).await,
        }
    }

    /// `USER name` (RFC 1939 §7): +OK for the profile's mailbox; +OK or -ERR for an unknown one.
    pub(crate) async fn user(&mut self, s: usize, op: &Op, who: Who) -> Result<(), Divergence> {
        let word = Self::keyword(op, "USER");
        let command = match who {
            Who::Good => Command {
                wire: format!("{word} {}", self.env.endpoint.profile.user),
                script: TemplateBuilder::new()
                    .lit(format!("{word} "))
                    .expr(var("user"))
                    .done(),
                shown: format!("{word} {}", self.env.endpoint.profile.user),
            },
            Who::Unknown => Command::plain(format!("{word} {UNKNOWN_MAILBOX}")),
        };
        self.script.requires.insert("USER");
        self.send(s, command).await?;
        if self.in_transaction(s) {
            self.status(s, Want::Err, None, rules::WRONG_STATE).await?;
            return Ok(());
        }
        let want = match who {
            Who::Good => Want::Ok,
            Who::Unknown => Want::Either,
        };
        let (got, _) = self.status(s, want, None, rules::USER).await?;
        self.set_pending(s, (got == Got::Ok).then_some(who));
        Ok(())
    }

    /// `PASS secret` (RFC 1939 §7): logs in only right after a USER of the profile's mailbox.
    pub(crate) async fn pass(
        &mut self,
        s: usize,
        op: &Op,
        secret: Secret,
    ) -> Result<(), Divergence> {
        let word = Self::keyword(op, "PASS");
        let (wire, script) = match secret {
            Secret::Good => (
                format!("{word} {}", self.env.endpoint.profile.password),
                TemplateBuilder::new()
                    .lit(format!("{word} "))
                    .expr(var("password"))
                    .done(),
            ),
            Secret::Wrong => {
                let line = format!("{word} {WRONG_PASSWORD}");
                (line.clone(), TemplateBuilder::new().lit(line).done())
            }
        };
        let shown = format!("{word} ***");
        self.script.requires.insert("USER");
        self.send(
            s,
            Command {
                wire,
                script,
                shown,
            },
        )
        .await?;
        if self.in_transaction(s) {
            self.status(s, Want::Err, None, rules::WRONG_STATE).await?;
            return Ok(());
        }
        match (self.pending(s), secret) {
            (Some(Who::Good), Secret::Good) => self.finish_login(s, rules::LOGIN).await,
            (pending, _) => {
                let rule = if pending.is_none() {
                    rules::PASS_AFTER_USER
                } else {
                    rules::PASS
                };
                self.status(s, Want::Err, None, rule).await?;
                self.set_pending(s, None);
                Ok(())
            }
        }
    }

    /// `APOP name digest` (RFC 1939 §7), the digest of the greeting's timestamp (a digest of
    /// zeros when the greeting has none).
    pub(crate) async fn apop(
        &mut self,
        s: usize,
        op: &Op,
        secret: Secret,
    ) -> Result<(), Divergence> {
        let word = Self::keyword(op, "APOP");
        let user = self.env.endpoint.profile.user.clone();
        let head = TemplateBuilder::new()
            .lit(format!("{word} "))
            .expr(var("user"))
            .lit(" ");
        let (wire, script) = match (&self.sessions[s].stamp, secret) {
            (Some((name, stamp)), secret) => {
                let (password, arg) = match secret {
                    Secret::Good => (self.env.endpoint.profile.password.as_str(), var("password")),
                    Secret::Wrong => (WRONG_PASSWORD, string(WRONG_PASSWORD)),
                };
                (
                    format!("{word} {user} {}", apop::digest(stamp, password)),
                    head.expr(call(Func::Apop, vec![var(name), arg])).done(),
                )
            }
            (None, _) => {
                let digest = "0".repeat(32);
                (format!("{word} {user} {digest}"), head.lit(&digest).done())
            }
        };
        let shown = format!("{word} {user} ***");
        self.script.requires.insert("APOP");
        self.send(
            s,
            Command {
                wire,
                script,
                shown,
            },
        )
        .await?;
        if self.in_transaction(s) {
            self.status(s, Want::Err, None, rules::WRONG_STATE).await?;
            return Ok(());
        }
        match secret {
            Secret::Good => self.finish_login(s, rules::APOP).await,
            Secret::Wrong => {
                self.status(s, Want::Err, None, rules::APOP_WRONG).await?;
                Ok(())
            }
        }
    }

    /// `AUTH PLAIN initial-response` (RFC 5034 §4, RFC 4616).
    pub(crate) async fn auth_plain(
        &mut self,
        s: usize,
        op: &Op,
        secret: Secret,
    ) -> Result<(), Divergence> {
        let word = Self::keyword(op, "AUTH");
        let (password, arg): (String, Expr) = match secret {
            Secret::Good => (self.env.endpoint.profile.password.clone(), var("password")),
            Secret::Wrong => (WRONG_PASSWORD.into(), string(WRONG_PASSWORD)),
        };
        let message = Plain {
            authzid: String::new(),
            authcid: self.env.endpoint.profile.user.clone(),
            passwd: password,
        };
        let script = TemplateBuilder::new()
            .lit(format!("{word} PLAIN "))
            .expr(call(Func::Plain, vec![string(""), var("user"), arg]))
            .done();
        self.script.requires.insert("SASL PLAIN");
        let command = Command {
            wire: format!("{word} PLAIN {}", message.to_base64()),
            script,
            shown: format!("{word} PLAIN ***"),
        };
        self.send(s, command).await?;
        if self.in_transaction(s) {
            self.status(s, Want::Err, None, rules::WRONG_STATE).await?;
            return Ok(());
        }
        match secret {
            Secret::Good => self.finish_login(s, rules::AUTH).await,
            Secret::Wrong => {
                self.status(s, Want::Err, None, rules::AUTH_FAILED).await?;
                Ok(())
            }
        }
    }

    /// `AUTH SCRAM-... client-first-message` (RFC 5034 §4, RFC 5802 §5) with the profile's
    /// password: the server-first-message must extend the client's nonce, the
    /// server-final-message must carry the ServerSignature the password gives, and the empty
    /// response to it logs in. The client nonce is a literal (`conform-model-N`, N the
    /// command's number in the sequence) so that the written scenario can compute the
    /// client-first-message again, as the catalogue's SCRAM cases do.
    pub(crate) async fn auth_scram(&mut self, s: usize, op: &Op) -> Result<(), Divergence> {
        let mech = self
            .env
            .caps
            .scram
            .expect("a SCRAM login only where one is announced");
        let word = Self::keyword(op, "AUTH");
        let k = self.commands + 1;
        let nonce = format!("conform-model-{k}");
        let profile = &self.env.endpoint.profile;
        let client = scram::Client::new(mech, &profile.user, &nonce);
        let password = profile.password.clone();
        let first = call(
            Func::ScramClientFirst,
            vec![string("n,,"), var("user"), string(&nonce)],
        );
        let name = mech.name();
        self.script
            .requires
            .insert(if mech.hash == scram::Hash::Sha256 {
                "SASL SCRAM-SHA-256"
            } else {
                "SASL SCRAM-SHA-1"
            });
        let command = Command {
            wire: format!(
                "{word} {name} {}",
                encode_base64(client.first_message().as_bytes())
            ),
            script: TemplateBuilder::new()
                .lit(format!("{word} {name} "))
                .expr(first.clone())
                .done(),
            shown: format!("{word} {name} ***"),
        };
        self.send(s, command).await?;
        if self.in_transaction(s) {
            self.status(s, Want::Err, None, rules::WRONG_STATE).await?;
            return Ok(());
        }
        let sfirst = format!("sfirst{k}");
        let Some(server_first) = self.challenge(s, &sfirst, rules::AUTH).await? else {
            return Ok(());
        };
        // RFC 5802 §5: the combined nonce starts with the client's
        self.record(
            s,
            Action::Assert(Assertion::Eq(
                AExpr::Value(call(
                    Func::Prefix,
                    vec![
                        call(Func::ScramAttr, vec![var(&sfirst), string("r")]),
                        Expr::Int(nonce.len() as u64),
                    ],
                )),
                AExpr::Value(string(&nonce)),
            )),
        );
        let fin = client
            .finish(&password, &server_first, scram::MAX_ITERATIONS)
            .map_err(|e| {
                self.diverge(
                    "a server-first-message that extends the client's nonce",
                    format!("{e}: {}", String::from_utf8_lossy(&server_first)),
                    rules::SCRAM_NONCE,
                )
            })?;
        let final_message = Command {
            wire: encode_base64(fin.message.as_bytes()),
            script: TemplateBuilder::new()
                .expr(call(
                    Func::ScramClientFinal,
                    vec![string(name), first.clone(), var("password"), var(&sfirst)],
                ))
                .done(),
            shown: "*** (client-final-message)".into(),
        };
        self.send(s, final_message).await?;
        let sfinal = format!("sfinal{k}");
        let Some(server_final) = self.challenge(s, &sfinal, rules::AUTH).await? else {
            return Ok(());
        };
        self.record(
            s,
            Action::Assert(Assertion::Eq(
                AExpr::Value(call(Func::ScramAttr, vec![var(&sfinal), string("v")])),
                AExpr::Value(call(
                    Func::ScramServerSignature,
                    vec![string(name), first, var("password"), var(&sfirst)],
                )),
            )),
        );
        if let Err(e) = scram::verify_server_final(&server_final, &fin.server_signature) {
            return Err(self.diverge(
                "v= with the ServerSignature of the password",
                format!("{e}: {}", String::from_utf8_lossy(&server_final)),
                rules::SCRAM_VERIFIER,
            ));
        }
        self.send(s, Command::plain(String::new())).await?;
        self.finish_login(s, rules::AUTH).await
    }

    /// The answer to a good login: +OK and TRANSACTION, or -ERR while the other session holds
    /// the lock (RFC 1939 §4).
    async fn finish_login(&mut self, s: usize, ok_rule: Rule) -> Result<(), Divergence> {
        let (want, rule) = match self.lock {
            Some(other) if other != s => (Want::Err, rules::LOCK),
            _ => (Want::Ok, ok_rule),
        };
        let (got, _) = self.status(s, want, None, rule).await?;
        if got == Got::Ok {
            self.sessions[s].phase = ClientState::Transaction(View::of(&self.maildrop));
            self.sessions[s].may_close = false;
            self.lock = Some(s);
        } else {
            self.set_pending(s, None);
        }
        Ok(())
    }

    /// The mailbox a USER named, while in AUTHORIZATION.
    fn set_pending(&mut self, s: usize, who: Option<Who>) {
        if let ClientState::Authorization { pending } = &mut self.sessions[s].phase {
            *pending = who;
        }
    }
}
