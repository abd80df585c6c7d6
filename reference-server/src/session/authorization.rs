//! AUTHORIZATION: USER/PASS and APOP (RFC 1939 §7), AUTH and its mechanisms (RFC 5034,
//! RFC 4616, RFC 2195), STLS (RFC 2595 §4).

use super::transaction::listed_sizes;
use super::*;

impl Session {
    pub(super) fn plaintext_refused(&self) -> Option<Output> {
        let refuse = !self.plaintext_ok() && !self.fault(Fault::PlaintextAuthBeforeTls);
        refuse.then(|| {
            Output::Reply(err_code(
                ResponseCode::Auth,
                "plaintext authentication disallowed before TLS; use STLS or port 995",
            ))
        })
    }

    pub(super) fn user(&mut self, name: String) -> Output {
        if let Some(refused) = self.plaintext_refused() {
            return refused;
        }
        if self.variant(Variant::StrictSequencing) {
            if let Phase::Authorization { user: Some(_) } = self.phase {
                // not "after the greeting or after an unsuccessful USER or PASS": refused,
                // and the PASS after it no longer follows a successful USER
                self.phase = Phase::Authorization { user: None };
                return Output::Reply(err("USER already given; PASS expected"));
            }
        }
        if self.variant(Variant::UserRejectsUnknown) && self.ctx.users.secret(&name).is_none() {
            self.phase = Phase::Authorization { user: None };
            return Output::Reply(err("never heard of that mailbox"));
        }
        self.phase = Phase::Authorization { user: Some(name) };
        Output::Reply(ok("send PASS"))
    }

    pub(super) fn pass(&mut self, password: String) -> Output {
        if let Some(refused) = self.plaintext_refused() {
            return refused;
        }
        let Phase::Authorization { user: Some(user) } =
            std::mem::replace(&mut self.phase, Phase::Authorization { user: None })
        else {
            return Output::Reply(err("PASS must follow a successful USER"));
        };
        let good = self.ctx.users.check(&user, &password);
        match self.login(user.clone(), good) {
            // nothing happened: the same PASS may come again after USER
            Output::LockBusy => {
                self.phase = Phase::Authorization { user: Some(user) };
                Output::LockBusy
            }
            out => out,
        }
    }

    pub(super) fn apop(&mut self, name: String, digest: String) -> Output {
        self.phase = Phase::Authorization { user: None };
        let good = self.ctx.users.secret(&name).is_some_and(|secret| {
            apop::verify(&self.timestamp, secret, &digest)
                || (self.fault(Fault::ApopAcceptsWrongDigest) && well_formed_digest(&digest))
        });
        self.login(name, good)
    }

    /// Opens the maildrop after a successful authentication, or says why not.
    pub(super) fn login(&mut self, user: String, credentials_ok: bool) -> Output {
        if !credentials_ok {
            self.phase = Phase::Authorization { user: None };
            return Output::Reply(err_code(
                ResponseCode::Auth,
                "invalid user name or password",
            ));
        }
        let key = self.ctx.store.lock_key(&user);
        let lock = self.ctx.locks.try_lock(key);
        if lock.is_none() && !self.fault(Fault::NoMaildropLock) {
            if self.lock_patience {
                return Output::LockBusy;
            }
            self.phase = Phase::Authorization { user: None };
            return Output::Reply(err_code(ResponseCode::InUse, "maildrop already locked"));
        }
        let mut maildrop = match self.ctx.store.open(&user) {
            Ok(m) => m,
            Err(_) => {
                self.phase = Phase::Authorization { user: None };
                return Output::Reply(err_code(ResponseCode::SysTemp, "cannot open maildrop"));
            }
        };
        let n = maildrop.messages().len();
        let sizes = listed_sizes(maildrop.as_mut(), &self.ctx.faults);
        let size: u64 = sizes.iter().sum();
        self.phase = Phase::Transaction(Box::new(Transaction {
            user,
            deleted: vec![false; n],
            maildrop,
            sizes,
            faults: self.ctx.faults.clone(),
            _lock: lock,
        }));
        Output::Reply(ok(format!("maildrop has {n} messages ({size} octets)")))
    }

    pub(super) fn mechanisms(&self) -> Vec<&'static str> {
        let plaintext = self.plaintext_ok() || self.fault(Fault::PlaintextAuthBeforeTls);
        let mut mechs = Vec::new();
        if plaintext {
            mechs.extend(["PLAIN", "LOGIN"]);
        }
        mechs.push("CRAM-MD5");
        mechs.extend(SCRAM_MECHANISMS);
        if self.scram_plus() {
            mechs.extend(SCRAM_PLUS_MECHANISMS);
        }
        if plaintext && self.ctx.users.has_tokens() {
            mechs.extend(OAUTH_MECHANISMS);
        }
        mechs
    }

    pub(super) fn auth(
        &mut self,
        mechanism: Option<String>,
        initial: Option<InitialResponse>,
    ) -> Output {
        self.phase = Phase::Authorization { user: None };
        let Some(mechanism) = mechanism else {
            return Output::Reply(multi(
                ok("SASL mechanisms follow"),
                self.mechanisms().into_iter().map(str::to_owned),
            ));
        };
        let mech = mechanism.to_ascii_uppercase();
        let oauth = OAUTH_MECHANISMS.iter().copied().find(|m| *m == mech);
        let known = ["PLAIN", "LOGIN", "CRAM-MD5"].contains(&mech.as_str())
            || SCRAM_MECHANISMS.contains(&mech.as_str())
            || (SCRAM_PLUS_MECHANISMS.contains(&mech.as_str()) && self.scram_plus())
            || (oauth.is_some() && self.ctx.users.has_tokens());
        if !known {
            return Output::Reply(err(format!("unsupported SASL mechanism {mechanism}")));
        }
        if !self.mechanisms().contains(&mech.as_str()) {
            return self
                .plaintext_refused()
                .expect("only plaintext mechanisms are withheld");
        }
        let initial = match initial {
            None => None,
            Some(InitialResponse::Empty) => Some(Vec::new()),
            Some(InitialResponse::Base64(b)) => match auth::decode_base64(&b) {
                Ok(d) => Some(d),
                Err(e) => return Output::Reply(err(format!("AUTH rejected: {e}"))),
            },
        };
        match (mech.as_str(), initial) {
            ("PLAIN", None) => self.challenge(Sasl::Plain),
            ("PLAIN", Some(message)) => self.finish_plain(&message),
            ("LOGIN", None) => self.challenge(Sasl::LoginUser),
            ("LOGIN", Some(user)) => self.login_user(&user),
            ("CRAM-MD5", None) => self.challenge(Sasl::CramMd5 {
                challenge: self.timestamp.clone(),
            }),
            (_, None) if oauth.is_some() => self.challenge(Sasl::OAuth(oauth.expect("matched"))),
            (_, Some(message)) if oauth.is_some() => self.oauth(oauth.expect("matched"), &message),
            (m, first) if SCRAM_MECHANISMS.contains(&m) || SCRAM_PLUS_MECHANISMS.contains(&m) => {
                let mech = scram::Mechanism::from_name(m).expect("a SCRAM mechanism");
                match first {
                    // RFC 5034 §4: no initial response, so an empty challenge first
                    None => self.challenge(Sasl::ScramFirst(mech)),
                    Some(first) => self.scram_first(mech, &first),
                }
            }
            // RFC 5034 §4: an initial response to a mechanism that has none MUST be rejected
            (_, Some(_)) => Output::Reply(err("CRAM-MD5 takes no initial response")),
            _ => unreachable!("mechanisms checked above"),
        }
    }

    /// Sends the server challenge of `step` and waits for the client's response
    /// (RFC 5034 §4: a `+` line with base64 data).
    pub(super) fn challenge(&mut self, step: Sasl) -> Output {
        let data = match &step {
            Sasl::Plain => String::new(),
            Sasl::LoginUser => login::username_challenge().to_owned(),
            Sasl::LoginPass { .. } => login::password_challenge().to_owned(),
            Sasl::CramMd5 { challenge } => auth::encode_base64(challenge.as_bytes()),
            Sasl::ScramFirst(_) => String::new(),
            Sasl::ScramFinal { server, .. } => {
                auth::encode_base64(server.server_first.text.as_bytes())
            }
            // first sent with the verifier (scram_final) or the error result (oauth); again
            // only when a fault ignores a cancel (`*`): an empty challenge, the exchange
            // still waiting for the client's empty response
            Sasl::ScramDone { .. } | Sasl::OAuth(_) | Sasl::OAuthFailed => String::new(),
        };
        self.phase = Phase::Sasl(step);
        Output::Reply(format!("+ {data}\r\n").into_bytes())
    }

    pub(super) fn login_user(&mut self, user: &[u8]) -> Output {
        match String::from_utf8(user.to_vec()) {
            Ok(user) if !user.is_empty() => self.challenge(Sasl::LoginPass { user }),
            _ => Output::Reply(err("LOGIN: empty or non-UTF-8 user name")),
        }
    }

    pub(super) fn finish_plain(&mut self, message: &[u8]) -> Output {
        match Plain::parse(message) {
            Ok(p)
                if !p.authzid.is_empty()
                    && p.authzid != p.authcid
                    && !self.fault(Fault::PlainAuthzidIgnored) =>
            {
                Output::Reply(err_code(
                    ResponseCode::Auth,
                    "authorization identity differs from authentication identity",
                ))
            }
            Ok(p) => {
                let good = self.ctx.users.check(&p.authcid, &p.passwd);
                self.login(p.authcid, good)
            }
            Err(e) => Output::Reply(err(format!("AUTH rejected: {e}"))),
        }
    }

    pub(super) fn sasl_step(&mut self, line: &[u8]) -> Output {
        let Phase::Sasl(step) =
            std::mem::replace(&mut self.phase, Phase::Authorization { user: None })
        else {
            unreachable!("called only in an AUTH exchange");
        };
        let data = match ClientResponse::parse(line) {
            Ok(ClientResponse::Cancel) if self.fault(Fault::AuthCancelIgnored) => {
                return self.challenge(step);
            }
            Ok(ClientResponse::Cancel) => return Output::Reply(err("AUTH cancelled")),
            Ok(ClientResponse::Data(d)) => d,
            // RFC 5034 §4: undecodable base64 MUST be rejected with -ERR
            Err(e) => return Output::Reply(err(format!("AUTH rejected: {e}"))),
        };
        match step {
            Sasl::Plain => self.finish_plain(&data),
            Sasl::LoginUser => self.login_user(&data),
            Sasl::LoginPass { user } => {
                let good =
                    std::str::from_utf8(&data).is_ok_and(|pw| self.ctx.users.check(&user, pw));
                self.login(user, good)
            }
            Sasl::CramMd5 { challenge } => match cram_md5::parse_response(&data) {
                Ok((user, digest)) => {
                    let good = self.ctx.users.secret(&user).is_some_and(|s| {
                        cram_md5::digest(challenge.as_bytes(), s) == digest
                            || (self.fault(Fault::CramMd5AcceptsWrongDigest)
                                && well_formed_digest(&digest))
                    });
                    self.login(user, good)
                }
                Err(e) => Output::Reply(err(format!("AUTH rejected: {e}"))),
            },
            Sasl::ScramFirst(mech) => self.scram_first(mech, &data),
            Sasl::ScramFinal { server, user } => self.scram_final(&server, user, &data),
            Sasl::ScramDone { user } if data.is_empty() => self.login(user, true),
            Sasl::ScramDone { .. } => Output::Reply(err(
                "AUTH rejected: the response to the server-final-message must be empty",
            )),
            Sasl::OAuth(mech) => self.oauth(mech, &data),
            Sasl::OAuthFailed => self.login(String::new(), false),
        }
    }

    /// Checks an OAUTHBEARER (RFC 7628 §3.1) or XOAUTH2 message: the bearer token must be the
    /// user's (the one named, or for OAUTHBEARER without `a=`, the token's owner). A refusal
    /// is the JSON error result as a challenge (RFC 7628 §3.2.2), answered -ERR whatever the
    /// client sends next; a lone %x01 as the first message fails at once (RFC 7628 §3.1: the
    /// server "MAY simply fail the authentication without returning discovery information").
    pub(super) fn oauth(&mut self, mech: &'static str, message: &[u8]) -> Output {
        let parsed = if mech == "XOAUTH2" {
            oauth::Xoauth2Response::parse(message).map(|r| (Some(r.user), r.token))
        } else {
            oauth::BearerResponse::parse(message).map(|r| (r.authzid, r.token))
        };
        let users = &self.ctx.users;
        let (user, status) = match parsed {
            Err(oauth::OAuthError::Dummy) => return self.login(String::new(), false),
            Err(_) => (None, "invalid_request"),
            Ok((Some(name), token)) => {
                let good = users.check_token(&name, &token)
                    || (self.fault(Fault::OauthAcceptsWrongToken) && users.secret(&name).is_some());
                (good.then_some(name), "invalid_token")
            }
            Ok((None, token)) => (
                users.token_owner(&token).map(str::to_owned),
                "invalid_token",
            ),
        };
        if let Some(user) = user {
            return self.login(user, true);
        }
        if self.fault(Fault::OauthErrorWithoutChallenge) {
            return self.login(String::new(), false);
        }
        // XOAUTH2 servers send the HTTP status (Google: "400"/"401")
        let status = if mech == "XOAUTH2" { "401" } else { status };
        let result = oauth::ErrorResult {
            status: status.to_owned(),
            scope: None,
            openid_configuration: None,
        };
        self.phase = Phase::Sasl(Sasl::OAuthFailed);
        Output::Reply(
            format!("+ {}\r\n", auth::encode_base64(result.to_json().as_bytes())).into_bytes(),
        )
    }

    /// Answers a client-first-message with the server-first-message (RFC 5802 §5).
    pub(super) fn scram_first(&mut self, mech: scram::Mechanism, message: &[u8]) -> Output {
        let first = match scram::ClientFirst::parse(message) {
            Ok(f) => f,
            Err(e) => return Output::Reply(err(format!("AUTH rejected: {e}"))),
        };
        let mut cbind_data = Vec::new();
        match (&first.cbind, mech.plus) {
            (scram::ChannelBinding::Required(name), true) => {
                let data =
                    channel_binding::Kind::from_name(name).and_then(|kind| self.bindings.get(kind));
                match data {
                    Some(data) => cbind_data = data.to_vec(),
                    // RFC 5802 §7 server-error-value
                    None => {
                        return Output::Reply(err_code(
                            ResponseCode::Auth,
                            format!("SCRAM: unsupported-channel-binding-type {name}"),
                        ))
                    }
                }
            }
            (scram::ChannelBinding::Required(name), false) => {
                // RFC 5802 §6: p= is for the -PLUS mechanisms only
                return Output::Reply(err_code(
                    ResponseCode::Auth,
                    format!("channel binding {name} requires {}-PLUS", mech.name()),
                ));
            }
            (_, true) => {
                // -PLUS without p=: no binding to check, the mechanism's point is lost
                return Output::Reply(err_code(
                    ResponseCode::Auth,
                    format!("{} requires channel binding (p=)", mech.name()),
                ));
            }
            (scram::ChannelBinding::SupportedNotUsed, false) if self.scram_plus() => {
                // RFC 5802 §6: "If the flag is set to "y" and the server supports channel
                // binding, the server MUST fail authentication." (a downgrade: the client
                // thinks this server offers no -PLUS)
                return Output::Reply(err_code(
                    ResponseCode::Auth,
                    "SCRAM: server-does-support-channel-binding",
                ));
            }
            _ => {}
        }
        if first.authzid.as_ref().is_some_and(|a| *a != first.user) {
            return Output::Reply(err_code(
                ResponseCode::Auth,
                "authorization identity differs from authentication identity",
            ));
        }
        let iterations = self
            .fault(Fault::ScramLowIterations)
            .then_some(fault::SCRAM_LOW_ITERATIONS);
        let users = &self.ctx.users;
        let (credentials, user) = match users.scram_credentials(&first.user, mech.hash, iterations)
        {
            Some(c) => (c, Some(first.user.clone())),
            None => {
                // an unknown user gets made-up credentials: the exchange fails at the proof,
                // and the answer does not tell which names exist
                let salt = users.scram_salt(&first.user);
                let i = iterations.unwrap_or(users.scram().iterations);
                let keys = scram::Keys::derive(mech.hash, &scram::fresh_nonce(), &salt, i);
                (keys.credentials(&salt, i), None)
            }
        };
        let server_nonce = scram::fresh_nonce();
        let mut server = scram::Server::new(mech, first, credentials, &server_nonce);
        server.cbind_data = cbind_data;
        if self.fault(Fault::ScramNonceNotExtended) {
            let c = &server.credentials;
            server.server_first = scram::ServerFirst::new(&server_nonce, &c.salt, c.iterations);
        }
        self.challenge(Sasl::ScramFinal {
            server: Box::new(server),
            user,
        })
    }

    /// Checks the client-final-message (RFC 5802 §5: the nonce and the proof) and sends the
    /// server-final-message as a challenge, or refuses (RFC 5034 §4: -ERR).
    pub(super) fn scram_final(
        &mut self,
        server: &scram::Server,
        user: Option<String>,
        message: &[u8],
    ) -> Output {
        let ignored;
        let server = if self.fault(Fault::ScramPlusIgnoresBinding) && server.mechanism.plus {
            // the binding data is taken from the client's c=, whatever it is
            let mut s = server.clone();
            if let Ok(parsed) = scram::ClientFinalParsed::parse(message) {
                let header = s.first.gs2_header.len();
                s.cbind_data = parsed
                    .channel_binding
                    .get(header..)
                    .unwrap_or_default()
                    .to_vec();
            }
            ignored = s;
            &ignored
        } else {
            server
        };
        let verdict = match server.finish(message) {
            Err(scram::Refusal::InvalidProof) if self.fault(Fault::ScramAcceptsWrongProof) => {
                let parsed = scram::ClientFinalParsed::parse(message).expect("parsed by finish");
                let am = scram::auth_message(
                    &server.first.bare,
                    &server.server_first.text,
                    &parsed.without_proof,
                );
                Ok(server.verifier(&am))
            }
            other => other,
        };
        match (verdict, user) {
            (Ok(verifier), Some(user)) => {
                let verifier = if self.fault(Fault::ScramWrongServerSignature) {
                    fault::wrong_scram_verifier(&verifier)
                } else {
                    verifier
                };
                self.phase = Phase::Sasl(Sasl::ScramDone { user });
                Output::Reply(
                    format!("+ {}\r\n", auth::encode_base64(verifier.as_bytes())).into_bytes(),
                )
            }
            (Ok(_), None) | (Err(scram::Refusal::InvalidProof), _) => {
                self.login(String::new(), false)
            }
            (Err(e), _) => Output::Reply(err_code(ResponseCode::Auth, format!("SCRAM: {e}"))),
        }
    }

    pub(super) fn stls(&mut self) -> Output {
        if !self.ctx.stls_available {
            return Output::Reply(err("STLS not available: no TLS certificate configured"));
        }
        if self.tls {
            return Output::Reply(err("already using TLS"));
        }
        if self.variant(Variant::StlsRefusedAfterUser) {
            if let Phase::Authorization { user: Some(_) } = self.phase {
                return Output::Reply(err("STLS only before USER"));
            }
        }
        Output::StartTls(ok("begin TLS negotiation"))
    }
}

/// 32 lowercase hex digits: what an APOP or CRAM-MD5 digest looks like.
pub(super) fn well_formed_digest(digest: &str) -> bool {
    digest.len() == 32
        && digest
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
