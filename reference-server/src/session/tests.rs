//! The session replayed line by line, in-process: the RFC 1939 §7 and §10 examples and the
//! behaviour the RFCs require in each state.

use super::*;
use crate::maildrop::MemoryStore;

const STAMP: &str = "<1896.697170952@dbc.mtview.ca.us>";

/// A message whose CRLF size is exactly `size` octets (RFC 1939 §10 uses 120 and 200).
fn message_of(size: usize, tag: &str) -> Vec<u8> {
    let mut m = format!("Subject: {tag}\n\n").into_bytes();
    let mut wire = m.len() + 2;
    while wire + 12 <= size {
        m.extend_from_slice(b"12345678\n");
        wire += 10;
    }
    match size - wire {
        0 => {}
        1 => {
            m.pop();
            m.extend_from_slice(b"9\n");
        }
        pad => {
            m.extend(std::iter::repeat_n(b'x', pad - 2));
            m.push(b'\n');
        }
    }
    assert_eq!(pop3_proto::multiline::wire_size(&m), size as u64);
    m
}

struct Harness {
    ctx: Arc<Context>,
    store: MemoryStore,
}

impl Harness {
    fn new(plaintext: bool, stls: bool) -> Harness {
        Harness::with(plaintext, stls, Faults::none(), Variants::none())
    }

    /// A harness with deliberate defects or permitted variations on.
    fn with(plaintext: bool, stls: bool, faults: Faults, variants: Variants) -> Harness {
        Harness::build(plaintext, stls, faults, variants, false)
    }

    /// `tokens`: tim has the bearer token `t1m-token` (OAUTHBEARER, XOAUTH2 offered).
    fn build(
        plaintext: bool,
        stls: bool,
        faults: Faults,
        variants: Variants,
        tokens: bool,
    ) -> Harness {
        let store = if faults.has(Fault::UidlReused) {
            MemoryStore::reusing_uids()
        } else {
            MemoryStore::new()
        };
        store.deliver("mrose", message_of(120, "first"));
        store.deliver("mrose", message_of(200, "second"));
        let mut users = Users::new();
        users.insert("mrose", "tanstaaf");
        users.insert("tim", "tanstaaftanstaaf");
        if tokens {
            users.set_token("tim", "t1m-token");
        }
        let ctx = Arc::new(Context {
            users,
            store: Arc::new(store.clone()),
            locks: LockTable::default(),
            hostname: "dbc.mtview.ca.us".into(),
            allow_plaintext_auth: plaintext,
            stls_available: stls,
            faults,
            variants,
        });
        Harness { ctx, store }
    }

    fn session(&self) -> Transcript {
        let (session, greeting) = Session::with_timestamp(self.ctx.clone(), false, STAMP.into());
        let mut t = Transcript {
            session,
            log: String::new(),
        };
        t.server(&greeting);
        t
    }
}

struct Transcript {
    session: Session,
    log: String,
}

impl Transcript {
    fn server(&mut self, bytes: &[u8]) {
        for line in String::from_utf8_lossy(bytes).split_inclusive("\r\n") {
            self.log.push_str("S: ");
            self.log.push_str(line.trim_end_matches("\r\n"));
            self.log.push('\n');
        }
    }

    /// Sends one line and returns what the server answered, rendered as on the wire.
    fn send(&mut self, line: &str) -> String {
        self.log.push_str(&format!("C: {line}\n"));
        let before = self.log.len();
        let out = self.session.handle_line(line.as_bytes());
        let bytes = match out {
            Output::Reply(r) | Output::StartTls(r) | Output::Close(r) => r,
            Output::Message { mut head, content } => {
                let mut s = pop3_proto::Stuffer::new();
                s.feed(&content, &mut head);
                s.finish(&mut head);
                head
            }
            Output::LockBusy => unreachable!("handle_line refuses at once"),
        };
        self.server(&bytes);
        self.log[before..].to_owned()
    }

    fn ok(&mut self, line: &str) -> String {
        let r = self.send(line);
        assert!(r.starts_with("S: +OK"), "{line} -> {r}");
        r
    }

    fn err(&mut self, line: &str) -> String {
        let r = self.send(line);
        assert!(r.starts_with("S: -ERR"), "{line} -> {r}");
        r
    }
}

/// RFC 1939 §10, the example POP3 session, with the APOP digest of §7.
#[test]
fn rfc1939_section10_example_session() {
    let h = Harness::new(false, false);
    let mut t = h.session();
    t.ok("APOP mrose c4c9334bac560ecc979e58001b3e22fb");
    assert_eq!(t.ok("STAT"), "S: +OK 2 320\n");
    assert_eq!(
        t.ok("LIST"),
        "S: +OK 2 messages (320 octets)\nS: 1 120\nS: 2 200\nS: .\n"
    );
    let retr = t.ok("RETR 1");
    assert!(retr.starts_with("S: +OK 120 octets\nS: Subject: first\n"));
    assert!(retr.ends_with("S: .\n"));
    assert_eq!(t.ok("DELE 1"), "S: +OK message 1 deleted\n");
    t.ok("RETR 2");
    t.ok("DELE 2");
    assert!(t.ok("QUIT").contains("0 messages left"));
    assert_eq!(h.store.count("mrose"), 0);
    insta::assert_snapshot!("rfc1939_section10", t.log);
}

/// RFC 1939 §7: USER/PASS, and the gaps DELE leaves in LIST (numbers are never reused).
#[test]
fn dele_leaves_gaps_and_rset_restores() {
    let h = Harness::new(true, false);
    let mut t = h.session();
    t.ok("USER mrose");
    t.ok("PASS tanstaaf");
    t.ok("DELE 1");
    assert_eq!(
        t.ok("LIST"),
        "S: +OK 1 messages (200 octets)\nS: 2 200\nS: .\n"
    );
    assert_eq!(t.err("LIST 1"), "S: -ERR message already deleted\n");
    t.err("RETR 1");
    t.err("DELE 1");
    t.err("TOP 1 0");
    t.err("UIDL 1");
    assert_eq!(t.ok("STAT"), "S: +OK 1 200\n");
    assert_eq!(
        t.ok("RSET"),
        "S: +OK maildrop has 2 messages (320 octets)\n"
    );
    assert_eq!(t.ok("STAT"), "S: +OK 2 320\n");
    t.err("LIST 0");
    t.err("LIST 3");
    t.err("RETR 4294967295");
    t.err("RETR 4294967296");
    t.ok("QUIT");
    assert_eq!(h.store.count("mrose"), 2);
}

#[test]
fn commands_in_the_wrong_state_are_refused() {
    let h = Harness::new(true, false);
    let mut t = h.session();
    for c in [
        "STAT", "LIST", "RETR 1", "DELE 1", "NOOP", "RSET", "TOP 1 0", "UIDL",
    ] {
        assert!(
            t.err(c).contains("not valid in the AUTHORIZATION state"),
            "{c}"
        );
    }
    t.err("PASS tanstaaf");
    t.ok("USER mrose");
    t.ok("PASS tanstaaf");
    for c in [
        "USER mrose",
        "PASS x",
        "APOP mrose c4c9334bac560ecc979e58001b3e22fb",
        "AUTH PLAIN",
        "STLS",
        "UTF8",
    ] {
        assert!(
            t.err(c).contains("not valid in the TRANSACTION state"),
            "{c}"
        );
    }
    t.ok("NOOP");
}

#[test]
fn quit_in_authorization_does_not_enter_update() {
    let h = Harness::new(true, false);
    let mut t = h.session();
    t.ok("USER mrose");
    assert!(matches!(t.session.handle_line(b"QUIT"), Output::Close(_)));
    assert_eq!(h.store.count("mrose"), 2);
}

#[test]
fn a_dropped_session_applies_no_deletion_and_frees_the_lock() {
    let h = Harness::new(true, false);
    let mut t = h.session();
    t.ok("USER mrose");
    t.ok("PASS tanstaaf");
    t.ok("DELE 1");
    let mut second = h.session();
    second.ok("USER mrose");
    assert_eq!(
        second.err("PASS tanstaaf"),
        "S: -ERR [IN-USE] maildrop already locked\n"
    );
    drop(t);
    assert_eq!(h.store.count("mrose"), 2);
    second.ok("USER mrose");
    second.ok("PASS tanstaaf");
}

#[test]
fn top_sends_headers_blank_line_and_n_lines() {
    use pop3_proto::message::top_cut;
    let m = b"A: 1\nB: 2\n\nl1\nl2\nl3\n";
    assert_eq!(top_cut(m, 0), 11);
    assert_eq!(top_cut(m, 2), 17);
    assert_eq!(top_cut(m, 99), m.len());
    assert_eq!(top_cut(b"A: 1\r\n\r\nx\r\n", 0), 8);
    assert_eq!(top_cut(b"no blank line\nat all", 5), 20);
    let h = Harness::new(true, false);
    let mut t = h.session();
    t.ok("USER mrose");
    t.ok("PASS tanstaaf");
    assert_eq!(
        t.ok("TOP 1 0"),
        "S: +OK top of message follows\nS: Subject: first\nS: \nS: .\n"
    );
    assert_eq!(
        t.ok("TOP 1 2"),
        "S: +OK top of message follows\nS: Subject: first\nS: \nS: 12345678\nS: 12345678\nS: .\n"
    );
}

#[test]
fn uidl_is_stable_and_per_message() {
    let h = Harness::new(true, false);
    let mut t = h.session();
    t.ok("USER mrose");
    t.ok("PASS tanstaaf");
    let all = t.ok("UIDL");
    let one = t.ok("UIDL 2");
    let uid2 = one.trim_end().rsplit(' ').next().unwrap().to_owned();
    assert!(all.contains(&format!("S: 2 {uid2}\n")), "{all}");
    t.ok("QUIT");
    let mut again = h.session();
    again.ok("USER mrose");
    again.ok("PASS tanstaaf");
    assert_eq!(again.ok("UIDL 2"), one);
}

#[test]
fn bad_credentials_answer_auth_code() {
    let h = Harness::new(true, false);
    let mut t = h.session();
    t.ok("USER mrose");
    assert_eq!(
        t.err("PASS wrong"),
        "S: -ERR [AUTH] invalid user name or password\n"
    );
    t.err("PASS tanstaaf"); // USER must come again
    t.err("APOP mrose 00000000000000000000000000000000");
    t.err("APOP nobody c4c9334bac560ecc979e58001b3e22fb");
    t.ok("APOP mrose c4c9334bac560ecc979e58001b3e22fb");
}

#[test]
fn plaintext_is_refused_before_tls_unless_allowed() {
    let h = Harness::new(false, true);
    let mut t = h.session();
    let capa = t.ok("CAPA");
    assert!(
        !capa.contains("S: USER\n")
            && capa.contains("S: SASL CRAM-MD5 SCRAM-SHA-256 SCRAM-SHA-1\n")
            && capa.contains("S: STLS\n"),
        "{capa}"
    );
    assert!(t.err("USER mrose").contains("[AUTH]"));
    t.err("PASS tanstaaf");
    t.err("AUTH PLAIN AG1yb3NlAHRhbnN0YWFm");
    t.err("AUTH LOGIN");
    assert!(matches!(
        t.session.handle_line(b"STLS"),
        Output::StartTls(_)
    ));
    t.session.tls_started();
    let capa = t.ok("CAPA");
    assert!(
        capa.contains("S: USER\n")
            && capa.contains("S: SASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256 SCRAM-SHA-1\n")
            && !capa.contains("STLS"),
        "{capa}"
    );
    t.err("STLS");
    t.ok("USER mrose");
    t.ok("PASS tanstaaf");
}

#[test]
fn capa_snapshot() {
    let h = Harness::new(true, true);
    let mut t = h.session();
    t.ok("CAPA");
    t.ok("USER mrose");
    t.ok("PASS tanstaaf");
    t.ok("CAPA");
    insta::assert_snapshot!("capa_both_states", t.log);
}

/// RFC 5034 §4 and RFC 4616: PLAIN with and without initial response, `=`, `*`, bad base64.
#[test]
fn auth_plain() {
    let h = Harness::new(true, false);
    let mut t = h.session();
    assert_eq!(
        t.ok("AUTH"),
        "S: +OK SASL mechanisms follow\nS: PLAIN\nS: LOGIN\nS: CRAM-MD5\nS: SCRAM-SHA-256\nS: SCRAM-SHA-1\nS: .\n"
    );
    t.err("AUTH PLAIN =");
    t.err("AUTH PLAIN not*base64");
    assert_eq!(t.send("AUTH PLAIN"), "S: + \n");
    assert_eq!(t.err("*"), "S: -ERR AUTH cancelled\n");
    assert_eq!(t.send("AUTH PLAIN"), "S: + \n");
    t.err("%%%");
    assert_eq!(t.session.state(), State::Authorization);
    // authzid "ursel" for authcid "mrose": proxy authorization is not offered
    let ursel = pop3_proto::auth::plain::Plain {
        authzid: "ursel".into(),
        authcid: "mrose".into(),
        passwd: "tanstaaf".into(),
    };
    t.err(&format!("AUTH PLAIN {}", ursel.to_base64()));
    let good = pop3_proto::auth::plain::Plain {
        authzid: String::new(),
        authcid: "mrose".into(),
        passwd: "tanstaaf".into(),
    };
    t.send("AUTH PLAIN");
    t.ok(&good.to_base64());
    assert_eq!(t.session.state(), State::Transaction);
    t.err("AUTH PLAIN"); // a second AUTH after success
}

/// RFC 2195 §2: CRAM-MD5 against the greeting-style challenge; LOGIN's two prompts.
#[test]
fn auth_cram_md5_and_login() {
    let h = Harness::new(true, false);
    let mut t = h.session();
    t.err("AUTH CRAM-MD5 dGlt");
    let challenge = t.send("AUTH CRAM-MD5");
    let b64 = challenge
        .trim_end()
        .strip_prefix("S: + ")
        .unwrap()
        .to_owned();
    let decoded = pop3_proto::auth::decode_base64(&b64).unwrap();
    assert_eq!(decoded, STAMP.as_bytes());
    t.err(&pop3_proto::auth::cram_md5::response_base64(
        "tim", &decoded, "wrong",
    ));
    t.send("AUTH CRAM-MD5");
    t.ok(&pop3_proto::auth::cram_md5::response_base64(
        "tim",
        &decoded,
        "tanstaaftanstaaf",
    ));
    drop(t);

    let mut t = h.session();
    assert_eq!(t.send("AUTH LOGIN"), "S: + VXNlcm5hbWU6\n");
    assert_eq!(t.send("bXJvc2U="), "S: + UGFzc3dvcmQ6\n");
    t.ok("dGFuc3RhYWY=");
}

/// RFC 5802 §5 / RFC 7677: a whole SCRAM exchange, with and without initial response; a
/// wrong proof, a `p=` channel binding, `*` and an unknown user are refused.
#[test]
fn auth_scram() {
    use pop3_proto::auth::{decode_base64, encode_base64, scram};
    let h = Harness::new(false, false);
    let challenge =
        |line: &str| decode_base64(line.trim_end().strip_prefix("S: + ").unwrap()).unwrap();
    for (mech, initial) in [
        (scram::Mechanism::SHA256, true),
        (scram::Mechanism::SHA1, false),
    ] {
        let mut t = h.session();
        let client = scram::Client::new(mech, "tim", &scram::fresh_nonce());
        let first = encode_base64(client.first_message().as_bytes());
        let sf = if initial {
            t.send(&format!("AUTH {} {first}", mech.name()))
        } else {
            assert_eq!(t.send(&format!("AUTH {}", mech.name())), "S: + \n");
            t.send(&first)
        };
        let sf = challenge(&sf);
        let parsed = scram::ServerFirst::parse(&sf).unwrap();
        assert_eq!(parsed.iterations, 4096);
        let fin = client.finish("tanstaaftanstaaf", &sf, 10_000).unwrap();
        let v = challenge(&t.send(&encode_base64(fin.message.as_bytes())));
        scram::verify_server_final(&v, &fin.server_signature).unwrap();
        t.ok("");
        assert_eq!(t.session.state(), State::Transaction);
    }
    // a wrong password: -ERR [AUTH]
    let mut t = h.session();
    let client = scram::Client::new(scram::Mechanism::SHA256, "tim", "abc");
    let sf = challenge(&t.send(&format!(
        "AUTH SCRAM-SHA-256 {}",
        encode_base64(client.first_message().as_bytes())
    )));
    let fin = client.finish("wrong", &sf, 10_000).unwrap();
    assert!(t
        .err(&encode_base64(fin.message.as_bytes()))
        .contains("[AUTH]"));
    // an unknown user goes on to the proof and fails there
    let client = scram::Client::new(scram::Mechanism::SHA1, "nobody", "abc");
    let sf = challenge(&t.send(&format!(
        "AUTH SCRAM-SHA-1 {}",
        encode_base64(client.first_message().as_bytes())
    )));
    let fin = client.finish("x", &sf, 10_000).unwrap();
    t.err(&encode_base64(fin.message.as_bytes()));
    // channel binding required: not supported without -PLUS; `*` cancels mid-exchange
    t.err(&format!(
        "AUTH SCRAM-SHA-1 {}",
        encode_base64(b"p=tls-exporter,,n=tim,r=abc")
    ));
    t.send(&format!(
        "AUTH SCRAM-SHA-1 {}",
        encode_base64(b"y,,n=tim,r=abc")
    ));
    assert_eq!(t.err("*"), "S: -ERR AUTH cancelled\n");
    assert_eq!(t.session.state(), State::Authorization);
}

/// RFC 7628: OAUTHBEARER and XOAUTH2 with the user's bearer token; a wrong token gets the
/// JSON error result as a challenge and -ERR after the client's %x01; the lone %x01 fails at
/// once; offered only with tokens and where plaintext credentials are.
#[test]
fn auth_oauth() {
    use pop3_proto::auth::{decode_base64, encode_base64, oauth};
    let h = Harness::new(true, false);
    // no tokens configured: not offered, not accepted
    assert!(!h.session().ok("CAPA").contains("OAUTHBEARER"));
    h.session().err("AUTH OAUTHBEARER");
    let with_tokens = |plaintext: bool, faults: Faults| {
        Harness::build(plaintext, false, faults, Variants::none(), true)
    };
    let h = with_tokens(true, Faults::none());
    let bearer =
        |user: &str, token: &str| encode_base64(&oauth::oauthbearer_message(user, token, &[]));
    let mut t = h.session();
    t.send("CAPA");
    assert!(t.log.contains("OAUTHBEARER XOAUTH2"), "{}", t.log);
    t.ok(&format!("AUTH OAUTHBEARER {}", bearer("tim", "t1m-token")));
    t.ok("QUIT");
    // without an initial response: the empty challenge first (RFC 5034 §4)
    let mut t = h.session();
    assert_eq!(t.send("AUTH OAUTHBEARER"), "S: + \n");
    t.ok(&bearer("tim", "t1m-token"));
    t.ok("QUIT");
    // XOAUTH2
    let mut t = h.session();
    let x = encode_base64(&oauth::xoauth2_message("tim", "t1m-token"));
    t.ok(&format!("AUTH XOAUTH2 {x}"));
    t.ok("QUIT");
    // a wrong token: the error result, then -ERR whatever comes
    let mut t = h.session();
    let r = t.send(&format!("AUTH OAUTHBEARER {}", bearer("tim", "wrong")));
    let json = decode_base64(r.trim_end().strip_prefix("S: + ").unwrap()).unwrap();
    assert_eq!(
        oauth::ErrorResult::parse(&json).unwrap().status,
        "invalid_token"
    );
    assert!(t.err("AQ==").contains("[AUTH]"));
    t.err(&format!(
        "AUTH OAUTHBEARER {}",
        encode_base64(oauth::DUMMY_RESPONSE)
    ));
    let x = encode_base64(&oauth::xoauth2_message("tim", "wrong"));
    assert!(t.send(&format!("AUTH XOAUTH2 {x}")).starts_with("S: + "));
    t.err("");
    assert_eq!(t.session.state(), State::Authorization);
    // plaintext refused: not offered before TLS
    let h = with_tokens(false, Faults::none());
    assert!(!h.session().ok("CAPA").contains("OAUTHBEARER"));
    // the faults
    let h = with_tokens(true, Faults::none().with(Fault::OauthAcceptsWrongToken));
    h.session()
        .ok(&format!("AUTH OAUTHBEARER {}", bearer("tim", "wrong")));
    let h = with_tokens(true, Faults::none().with(Fault::OauthErrorWithoutChallenge));
    h.session()
        .err(&format!("AUTH OAUTHBEARER {}", bearer("tim", "wrong")));
}

/// RFC 5802 §6 over TLS: -PLUS offered with the channel's bindings, the right binding logs
/// in, another is refused, "y" is refused while -PLUS is offered, -PLUS needs p=, and an
/// unknown type is refused at once.
#[test]
fn auth_scram_plus() {
    use crate::session::ChannelBindings;
    use pop3_proto::auth::{decode_base64, encode_base64, scram};
    let h = Harness::new(false, true);
    let tls_session = || {
        let (mut session, greeting) = Session::with_timestamp(h.ctx.clone(), true, STAMP.into());
        session.set_channel_bindings(ChannelBindings {
            tls_exporter: Some(vec![1; 32]),
            tls_server_end_point: Some(vec![2; 32]),
        });
        let mut t = Transcript {
            session,
            log: String::new(),
        };
        t.server(&greeting);
        t
    };
    let challenge =
        |line: &str| decode_base64(line.trim_end().strip_prefix("S: + ").unwrap()).unwrap();
    let plus = scram::Mechanism::from_name("SCRAM-SHA-256-PLUS").unwrap();
    // (type, data, logs in)
    for (kind, data, good) in [
        ("tls-exporter", vec![1; 32], true),
        ("tls-server-end-point", vec![2; 32], true),
        ("tls-exporter", vec![2; 32], false),
    ] {
        let mut t = tls_session();
        assert!(t.ok("CAPA").contains("SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS"));
        let client = scram::Client::with_channel_binding(plus, "tim", "abc", kind, data);
        let first = encode_base64(client.first_message().as_bytes());
        let sf = challenge(&t.send(&format!("AUTH SCRAM-SHA-256-PLUS {first}")));
        let fin = client.finish("tanstaaftanstaaf", &sf, 10_000).unwrap();
        let reply = t.send(&encode_base64(fin.message.as_bytes()));
        if good {
            scram::verify_server_final(&challenge(&reply), &fin.server_signature).unwrap();
            t.ok("");
            t.ok("QUIT");
        } else {
            assert!(reply.contains("channel-bindings-dont-match"), "{reply}");
        }
    }
    let mut t = tls_session();
    for first in [
        "y,,n=tim,r=abc",            // "y" while -PLUS is offered
        "p=tls-unique,,n=tim,r=abc", // a type this server does not have
    ] {
        let mech = if first.starts_with('y') {
            "SCRAM-SHA-256"
        } else {
            "SCRAM-SHA-256-PLUS"
        };
        assert!(t
            .err(&format!("AUTH {mech} {}", encode_base64(first.as_bytes())))
            .contains("[AUTH]"));
    }
    // -PLUS without p=
    t.err(&format!(
        "AUTH SCRAM-SHA-1-PLUS {}",
        encode_base64(b"n,,n=tim,r=abc")
    ));
    // no TLS: no -PLUS, and "y" is fine
    let mut t = h.session();
    assert!(!t.ok("CAPA").contains("PLUS"));
    t.err(&format!(
        "AUTH SCRAM-SHA-256-PLUS {}",
        encode_base64(b"p=tls-exporter,,n=tim,r=abc")
    ));
    assert!(t
        .send(&format!(
            "AUTH SCRAM-SHA-256 {}",
            encode_base64(b"y,,n=tim,r=abc")
        ))
        .starts_with("S: + "));
}

#[test]
fn garbage_gets_err_and_then_a_hangup() {
    let h = Harness::new(true, false);
    let mut t = h.session();
    t.err("");
    t.err("XYZZY");
    t.err("\u{1}\u{2}");
    t.ok("CAPA");
    for _ in 0..MAX_CONSECUTIVE_ERRORS - 1 {
        assert!(matches!(t.session.handle_line(b"BAD!"), Output::Reply(_)));
    }
    assert!(matches!(t.session.handle_line(b"BAD!"), Output::Close(_)));
}

#[test]
fn fault_renumbers_list_after_dele() {
    let store = MemoryStore::new();
    for i in 0..3 {
        store.deliver("u", message_of(100 + i, "m"));
    }
    let mut users = Users::new();
    users.insert("u", "p");
    let ctx = Arc::new(Context {
        users,
        store: Arc::new(store),
        locks: LockTable::default(),
        hostname: "h".into(),
        allow_plaintext_auth: true,
        stls_available: false,
        faults: Faults::none().with(Fault::ListRenumbersAfterDele),
        variants: Variants::none(),
    });
    let (session, _) = Session::with_timestamp(ctx, false, "<1.2@h>".into());
    let mut t = Transcript {
        session,
        log: String::new(),
    };
    t.ok("USER u");
    t.ok("PASS p");
    t.ok("DELE 1");
    assert_eq!(
        t.ok("LIST"),
        "S: +OK 2 messages (203 octets)\nS: 1 101\nS: 2 102\nS: .\n"
    );
}

/// RFC 2449 §4: a response's first line is at most 512 octets, even when the error quotes a
/// bad line escaped (each `\` becomes `\\`, each C1 control `\u{85}`).
#[test]
fn errors_quoting_the_line_fit_in_512_octets() {
    let h = Harness::new(true, false);
    let mut t = h.session();
    for line in [
        "\\".repeat(250),
        format!("RETR {}", "\u{85}".repeat(120)),
        format!("DELE {}", "\"".repeat(248)),
    ] {
        let Output::Reply(reply) = t.session.handle_line(line.as_bytes()) else {
            panic!("{line:?} closed the session");
        };
        assert!(reply.len() <= 512, "{} octets", reply.len());
        let status = StatusLine::parse(&reply[..reply.len() - 2]).expect("a status line");
        assert!(
            !status.is_ok() && status.text.ends_with("..."),
            "{status:?}"
        );
    }
}

// ---- permitted variations (crate::variant) and the faults that mirror them ----

fn variant(v: Variant) -> Harness {
    Harness::with(true, true, Faults::none(), Variants::none().with(v))
}

fn faulty(f: Fault) -> Harness {
    Harness::with(true, true, Faults::none().with(f), Variants::none())
}

#[test]
fn no_capa_is_a_pure_rfc1939_server() {
    let h = variant(Variant::NoCapa);
    let mut t = h.session();
    for cmd in ["CAPA", "STLS", "AUTH", "AUTH PLAIN", "UTF8"] {
        let r = t.err(cmd);
        assert!(r.contains("unknown command"), "{r}");
    }
    t.ok("USER mrose");
    // no response codes, even where the default has [AUTH]
    assert_eq!(
        t.err("PASS wrong"),
        "S: -ERR invalid user name or password\n"
    );
    t.ok("APOP mrose c4c9334bac560ecc979e58001b3e22fb");
    t.ok("TOP 1 0");
    t.ok("UIDL");
    t.err("CAPA");
}

#[test]
fn user_rejects_unknown_names_at_once() {
    let mut t = variant(Variant::UserRejectsUnknown).session();
    t.err("USER frated");
    t.err("PASS tanstaaf");
    t.ok("USER mrose");
    t.ok("PASS tanstaaf");
    // the default takes any name and refuses at PASS
    let mut d = Harness::new(true, false).session();
    d.ok("USER frated");
    d.err("PASS tanstaaf");
}

#[test]
fn strict_sequencing_refuses_a_second_user() {
    let mut t = variant(Variant::StrictSequencing).session();
    t.err("PASS tanstaaf");
    t.ok("USER mrose");
    t.err("USER mrose");
    t.err("PASS tanstaaf"); // no longer immediately after a successful USER
    t.ok("USER mrose");
    t.err("PASS wrong");
    t.ok("USER mrose"); // after an unsuccessful PASS
    t.ok("PASS tanstaaf");
}

#[test]
fn stls_refused_after_user_keeps_the_name() {
    let mut t = variant(Variant::StlsRefusedAfterUser).session();
    t.ok("USER mrose");
    t.err("STLS");
    t.ok("PASS tanstaaf");
    let mut fresh = variant(Variant::StlsRefusedAfterUser).session();
    assert!(matches!(
        fresh.session.handle_line(b"STLS"),
        Output::StartTls(_)
    ));
}

#[test]
fn no_resp_codes_anywhere() {
    let h = variant(Variant::NoRespCodes);
    let mut t = h.session();
    let capa = t.ok("CAPA");
    assert!(!capa.contains("RESP-CODES"), "{capa}");
    t.ok("USER mrose");
    t.ok("PASS tanstaaf");
    let mut second = h.session();
    second.ok("USER mrose");
    assert_eq!(
        second.err("PASS tanstaaf"),
        "S: -ERR maildrop already locked\n"
    );
}

#[test]
fn top_whole_message_takes_any_line_count() {
    let mut t = variant(Variant::TopWholeMessage).session();
    t.ok("USER mrose");
    t.ok("PASS tanstaaf");
    let whole = t
        .ok("RETR 1")
        .replacen("120 octets", "top of message follows", 1);
    assert_eq!(t.ok("TOP 1 99999999999999999999"), whole);
    t.err("TOP 99999999999999999999 99999999999999999999");
    let mut d = Harness::new(true, false).session();
    d.ok("USER mrose");
    d.ok("PASS tanstaaf");
    d.err("TOP 1 99999999999999999999");
}

#[test]
fn store_rewritten_changes_sizes_between_sessions_only() {
    let h = variant(Variant::StoreRewritten);
    let mut t = h.session();
    t.ok("USER mrose");
    t.ok("PASS tanstaaf");
    let uidl = t.ok("UIDL");
    assert_eq!(t.ok("LIST 1"), "S: +OK 1 120\n");
    t.ok("QUIT");
    let mut t = h.session();
    t.ok("USER mrose");
    t.ok("PASS tanstaaf");
    let list = t.ok("LIST 1");
    let size: usize = list.trim_end().rsplit(' ').next().unwrap().parse().unwrap();
    assert!(size > 120, "{list}");
    let retr = t.ok("RETR 1");
    assert!(retr.starts_with(&format!("S: +OK {size} octets\nS: Status: RO\nS: X-UID: ")));
    assert_eq!(t.ok("UIDL"), uidl);
    drop(t); // a dropped connection rewrites too, and only once per message
    let mut t = h.session();
    t.ok("USER mrose");
    t.ok("PASS tanstaaf");
    assert_eq!(t.ok("LIST 1"), list);
}

#[test]
fn no_maildrop_lock_fault_lets_a_second_session_remove_what_the_first_lists() {
    let h = faulty(Fault::NoMaildropLock);
    let mut a = h.session();
    a.ok("USER mrose");
    a.ok("PASS tanstaaf");
    let mut b = h.session();
    b.ok("USER mrose");
    b.ok("PASS tanstaaf");
    b.ok("DELE 1");
    b.ok("QUIT");
    // removed before a's UPDATE (RFC 1939 §4), though a's snapshot still lists it
    assert_eq!(h.store.count("mrose"), 1);
    assert_eq!(a.ok("STAT"), "S: +OK 2 320\n");
    let mut c = h.session();
    c.ok("USER mrose");
    assert_eq!(
        c.ok("PASS tanstaaf"),
        "S: +OK maildrop has 1 messages (200 octets)\n"
    );
}

#[test]
fn uidl_reused_gives_a_removed_id_to_the_next_delivery() {
    let h = faulty(Fault::UidlReused);
    let mut t = h.session();
    t.ok("USER mrose");
    t.ok("PASS tanstaaf");
    let first = t.ok("UIDL 1");
    let uid = first.trim_end().rsplit(' ').next().unwrap().to_owned();
    t.ok("DELE 1");
    t.ok("QUIT");
    assert_eq!(h.store.deliver("mrose", "Subject: new\n\nother\n"), uid);
}

#[test]
fn new_listing_and_status_faults() {
    let mut t = faulty(Fault::ListSizePlusTwo).session();
    t.ok("USER mrose");
    t.ok("PASS tanstaaf");
    assert_eq!(t.ok("STAT"), "S: +OK 2 324\n");
    let mut t = faulty(Fault::SizeDrift).session();
    t.ok("USER mrose");
    t.ok("PASS tanstaaf");
    assert_eq!(t.ok("LIST 1"), "S: +OK 1 120\n");
    t.ok("UIDL");
    assert_eq!(t.ok("LIST 1"), "S: +OK 1 121\n");
    let h = faulty(Fault::LowercaseStatus);
    let (mut s, greeting) = Session::new(h.ctx.clone(), false);
    assert!(greeting.starts_with(b"+ok "));
    assert_eq!(
        s.handle_line(b"NOPE"),
        Output::Reply(b"-err unknown command NOPE\r\n".to_vec())
    );
    let mut t = faulty(Fault::CapaOmitsTop).session();
    assert!(!t.ok("CAPA").contains("S: TOP\n"));
    let mut t = faulty(Fault::CapaOmitsUidl).session();
    assert!(!t.ok("CAPA").contains("S: UIDL\n"));
    let (_, greeting) = Session::new(faulty(Fault::ApopNoTimestamp).ctx.clone(), false);
    assert!(
        !greeting.contains(&b'<'),
        "{}",
        String::from_utf8_lossy(&greeting)
    );
}

/// The auth-cancel-ignored fault answers `*` with the step's challenge again, at any step
/// of any mechanism: after SCRAM's server-final-message and OAUTHBEARER's error result too
/// (an empty challenge), never a panic.
#[test]
fn a_cancel_ignored_at_the_last_step_is_an_empty_challenge() {
    use pop3_proto::auth::{decode_base64, encode_base64, oauth, scram};
    let h = Harness::build(
        true,
        false,
        Faults::none().with(Fault::AuthCancelIgnored),
        Variants::none(),
        true,
    );
    let challenge =
        |line: &str| decode_base64(line.trim_end().strip_prefix("S: + ").unwrap()).unwrap();
    let mut t = h.session();
    let client = scram::Client::new(scram::Mechanism::SHA256, "tim", &scram::fresh_nonce());
    let sf = challenge(&t.send(&format!(
        "AUTH SCRAM-SHA-256 {}",
        encode_base64(client.first_message().as_bytes())
    )));
    let fin = client.finish("tanstaaftanstaaf", &sf, 10_000).unwrap();
    t.send(&encode_base64(fin.message.as_bytes()));
    assert_eq!(t.send("*"), "S: + \n");
    t.ok("");
    let mut t = h.session();
    let wrong = encode_base64(&oauth::oauthbearer_message("tim", "wrong", &[]));
    assert!(t
        .send(&format!("AUTH OAUTHBEARER {wrong}"))
        .starts_with("S: + "));
    assert_eq!(t.send("*"), "S: + \n");
    t.err("AQ==");
}
