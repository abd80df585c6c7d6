//! SMTP (RFC 5321) and LMTP (RFC 2033) delivery: one transaction per message, in order,
//! each waiting for its answer before the next.
//!
//! The dialogue (RFC 5321 §3.3, §4.1.1): the `220` greeting; `EHLO` (LMTP: `LHLO`, RFC 2033
//! §4.1) and its `250` list of extensions; optionally `STARTTLS` (RFC 3207 §4: `220`, the
//! handshake, then `EHLO` again, the earlier list forgotten) and `AUTH PLAIN` (RFC 4954 §4,
//! the initial response of RFC 4616; `235`). Then per message `MAIL FROM:<sender>` (with
//! `BODY=8BITMIME` when the message has 8-bit octets, RFC 6152 §3, which the server must
//! announce), one `RCPT TO:<rcpt>` per recipient (`250`/`251`), `DATA` (`354`), the message
//! with CRLF line ends and every line starting with `.` doubled (RFC 5321 §4.5.2), and
//! `<CRLF>.<CRLF>`. SMTP answers that with one reply; LMTP with one reply per recipient whose
//! RCPT succeeded, in RCPT order (RFC 2033 §4.2), so each mailbox's delivery is known.
//! Finally `QUIT` (`221`).
//!
//! A refused recipient (at RCPT or, in LMTP, after DATA) is a failure: the fixture must reach
//! every recipient, and a maildrop with some messages missing is no fixture. The error says
//! which messages were delivered before it.

use std::sync::Arc;

use base64::Engine as _;
use rustls::ClientConfig;

use crate::wire::Wire;
use crate::{crlf, printable, DeliverError};

/// Which protocol: they differ in the greeting command and the replies after DATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SMTP (RFC 5321): `EHLO`, one reply after DATA.
    Smtp,
    /// LMTP (RFC 2033): `LHLO`, one reply per accepted recipient after DATA.
    Lmtp,
}

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Dialect::Smtp => "SMTP",
            Dialect::Lmtp => "LMTP",
        }
    }

    fn hello(self) -> &'static str {
        match self {
            Dialect::Smtp => "EHLO",
            Dialect::Lmtp => "LHLO",
        }
    }
}

/// How to deliver.
#[derive(Clone)]
pub struct Options {
    /// SMTP or LMTP.
    pub dialect: Dialect,
    /// The name given in `EHLO`/`LHLO`.
    pub hello_name: String,
    /// The envelope sender (`MAIL FROM:<...>`).
    pub from: String,
    /// The envelope recipients (`RCPT TO:<...>`), at least one.
    pub recipients: Vec<String>,
    /// Upgrade with STARTTLS (RFC 3207), verified with this configuration.
    pub starttls: Option<Arc<ClientConfig>>,
    /// `AUTH PLAIN` with this user and password (RFC 4954, RFC 4616).
    pub auth: Option<(String, String)>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("dialect", &self.dialect)
            .field("from", &self.from)
            .field("recipients", &self.recipients)
            .field("starttls", &self.starttls.is_some())
            .field("auth", &self.auth.as_ref().map(|(u, _)| (u, "***")))
            .finish()
    }
}

/// A reply: its code and its lines' text (after the code and separator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text of each line.
    pub lines: Vec<String>,
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text: Vec<String> = self
            .lines
            .iter()
            .map(|l| format!("{} {l}", self.code))
            .collect();
        f.write_str(&text.join(" / "))
    }
}

/// Reads one reply (RFC 5321 §4.2: `CODE-text` lines, the last `CODE text` or just `CODE`).
pub async fn read_reply(wire: &mut Wire, step: &str) -> Result<Reply, DeliverError> {
    let mut lines = Vec::new();
    let mut code = None;
    loop {
        let line = wire.read_line(step).await?;
        let bad = || DeliverError::Protocol {
            step: step.into(),
            answer: printable(&line),
        };
        if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let this: u16 = std::str::from_utf8(&line[..3])
            .map_err(|_| bad())?
            .parse()
            .map_err(|_| bad())?;
        if code.is_some_and(|c| c != this) || lines.len() > 1000 {
            return Err(bad());
        }
        code = Some(this);
        lines.push(printable(line.get(4..).unwrap_or_default()));
        match line.get(3) {
            None | Some(b' ') => return Ok(Reply { code: this, lines }),
            Some(b'-') => {}
            Some(_) => return Err(bad()),
        }
    }
}

/// Sends `command` (CRLF added) and reads its reply, which must be `want` class (2 or 3).
async fn ask(wire: &mut Wire, command: &str, step: &str, want: u16) -> Result<Reply, DeliverError> {
    wire.send(format!("{command}\r\n").as_bytes(), step).await?;
    let reply = read_reply(wire, step).await?;
    if reply.code / 100 != want {
        return Err(DeliverError::Refused {
            step: step.into(),
            answer: reply.to_string(),
        });
    }
    Ok(reply)
}

/// The extension keywords of an EHLO/LHLO reply (its lines after the first), upper-cased.
fn extensions(reply: &Reply) -> Vec<String> {
    reply
        .lines
        .iter()
        .skip(1)
        .map(|l| l.to_ascii_uppercase())
        .collect()
}

fn has(extensions: &[String], keyword: &str) -> bool {
    extensions
        .iter()
        .any(|e| e.split(' ').next() == Some(keyword))
}

/// `body` (CRLF line ends) with every line that starts with `.` given another (RFC 5321
/// §4.5.2), then the end of data `.CRLF`.
pub fn dot_stuffed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 64);
    for line in body.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// What a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Messages delivered to every recipient.
    pub messages: usize,
    /// Octets sent as message data (CRLF line ends, before stuffing), summed.
    pub octets: u64,
}

/// Delivers `messages` in order to every recipient over `wire` (just connected: the greeting
/// is read here), then QUIT. A refusal at any step ends the delivery with an error naming the
/// step, the server's answer, and how many messages had been delivered before.
pub async fn deliver(
    wire: Wire,
    options: &Options,
    messages: &[&[u8]],
) -> Result<Delivered, DeliverError> {
    deliver_numbered(wire, options, messages, 1).await
}

/// [`deliver`], with `messages[0]` called message `first` in steps and errors: for a caller
/// that sends the fixture one message per session (waiting for each to land before the next,
/// since an SMTP relay's queue may reorder what one session hands it).
pub async fn deliver_numbered(
    mut wire: Wire,
    options: &Options,
    messages: &[&[u8]],
    first: usize,
) -> Result<Delivered, DeliverError> {
    let dialect = options.dialect;
    let name = dialect.name();
    if options.recipients.is_empty() {
        return Err(DeliverError::Incomplete("no recipient given".into()));
    }
    let greeting = read_reply(&mut wire, &format!("{name} greeting")).await?;
    if greeting.code != 220 {
        return Err(DeliverError::Refused {
            step: format!("{name} greeting"),
            answer: greeting.to_string(),
        });
    }
    let hello = format!("{} {}", dialect.hello(), options.hello_name);
    let mut ext = extensions(&ask(&mut wire, &hello, dialect.hello(), 2).await?);
    if let Some(config) = &options.starttls {
        if !has(&ext, "STARTTLS") {
            return Err(DeliverError::Unsupported(format!(
                "STARTTLS: the {name} server does not announce it in its {} reply (RFC 3207)",
                dialect.hello()
            )));
        }
        ask(&mut wire, "STARTTLS", "STARTTLS", 2).await?;
        wire.upgrade(config.clone(), "STARTTLS").await?;
        // RFC 3207 §4.2: forget what the server said before TLS, and greet again
        ext = extensions(
            &ask(
                &mut wire,
                &hello,
                &format!("{} after STARTTLS", dialect.hello()),
                2,
            )
            .await?,
        );
    }
    if let Some((user, password)) = &options.auth {
        let plain = ext
            .iter()
            .any(|e| e.starts_with("AUTH ") && e.split(' ').any(|m| m == "PLAIN"));
        if !plain {
            return Err(DeliverError::Unsupported(format!(
                "AUTH PLAIN: the {name} server does not announce it (RFC 4954){}",
                if wire.is_tls() {
                    ""
                } else {
                    "; many servers offer AUTH only after STARTTLS"
                }
            )));
        }
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        // the step names no credential
        ask(&mut wire, &format!("AUTH PLAIN {token}"), "AUTH PLAIN", 2).await?;
    }
    let eight_bit_ok = has(&ext, "8BITMIME");
    let mut octets = 0u64;
    for (i, message) in messages.iter().enumerate() {
        let number = first + i;
        // the messages before this one (1..number): delivered, here or in earlier sessions
        let done = || -> String {
            match number - 1 {
                0 => "no message was delivered".into(),
                1 => "message 1 was delivered before it".into(),
                n => format!("messages 1-{n} were delivered before it"),
            }
        };
        let refused = |e: DeliverError| -> DeliverError {
            match e {
                DeliverError::Refused { step, answer } => DeliverError::Refused {
                    step,
                    answer: format!("{answer} ({})", done()),
                },
                other => other,
            }
        };
        let eight_bit = message.iter().any(|&b| b >= 0x80);
        let body = if eight_bit {
            if !eight_bit_ok {
                return Err(DeliverError::Unsupported(format!(
                    "message {number} has 8-bit octets and the {name} server does not announce \
8BITMIME (RFC 6152): it cannot be sent unchanged ({})",
                    done()
                )));
            }
            " BODY=8BITMIME"
        } else {
            ""
        };
        let step = format!("MAIL FROM of message {number}");
        ask(
            &mut wire,
            &format!("MAIL FROM:<{}>{body}", options.from),
            &step,
            2,
        )
        .await
        .map_err(refused)?;
        let mut refused_rcpts = Vec::new();
        let mut accepted = Vec::new();
        for rcpt in &options.recipients {
            let step = format!("RCPT TO:<{rcpt}> of message {number}");
            wire.send(format!("RCPT TO:<{rcpt}>\r\n").as_bytes(), &step)
                .await?;
            let reply = read_reply(&mut wire, &step).await?;
            if reply.code / 100 == 2 {
                accepted.push(rcpt);
            } else {
                refused_rcpts.push(format!(
                    "RCPT TO:<{rcpt}> of message {number} refused: {reply}"
                ));
            }
        }
        if !refused_rcpts.is_empty() {
            let _ = ask(&mut wire, "RSET", "RSET", 2).await;
            return Err(DeliverError::Incomplete(format!(
                "{} ({})",
                refused_rcpts.join("; "),
                done()
            )));
        }
        let step = format!("DATA of message {number}");
        ask(&mut wire, "DATA", &step, 3).await.map_err(refused)?;
        let data = crlf(message);
        octets += data.len() as u64;
        wire.send(&dot_stuffed(&data), &step).await?;
        let mut failures = Vec::new();
        // SMTP: one reply for the message; LMTP: one per accepted recipient, in order
        let steps: Vec<String> = match dialect {
            Dialect::Smtp => vec![format!("end of DATA of message {number}")],
            Dialect::Lmtp => accepted
                .iter()
                .map(|r| format!("delivery of message {number} to <{r}>"))
                .collect(),
        };
        for step in steps {
            let reply = read_reply(&mut wire, &step).await?;
            if reply.code / 100 != 2 {
                failures.push(format!("{step} refused: {reply}"));
            }
        }
        if !failures.is_empty() {
            return Err(DeliverError::Incomplete(format!(
                "{} ({})",
                failures.join("; "),
                done()
            )));
        }
    }
    // the messages are delivered: a QUIT that goes wrong changes nothing
    let _ = ask(&mut wire, "QUIT", "QUIT", 2).await;
    wire.shutdown().await;
    Ok(Delivered {
        messages: messages.len(),
        octets,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
    use tokio::net::TcpListener;

    use super::*;
    use crate::wire::Address;

    #[test]
    fn stuffing() {
        assert_eq!(
            dot_stuffed(b".\r\n..a\r\nb.\r\n"),
            b"..\r\n...a\r\nb.\r\n.\r\n"
        );
        assert_eq!(dot_stuffed(b""), b".\r\n");
    }

    /// A scripted server: answers each command with the next canned reply; records what it
    /// got (DATA as one item, unstuffed by nothing: exactly the octets sent).
    async fn scripted(
        script: Vec<(&'static str, &'static str)>,
    ) -> (Address, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = tokio::spawn(async move {
            let (sock, _) = listener.accept().await.unwrap();
            let (r, mut w) = sock.into_split();
            let mut r = BufReader::new(r);
            let mut got = Vec::new();
            w.write_all(b"220 test ready\r\n").await.unwrap();
            for (expect, answer) in script {
                let mut line = String::new();
                if expect == "<data>" {
                    let mut data = Vec::new();
                    loop {
                        let mut l = Vec::new();
                        r.read_until(b'\n', &mut l).await.unwrap();
                        data.extend_from_slice(&l);
                        if l == b".\r\n" {
                            break;
                        }
                    }
                    got.push(String::from_utf8(data).unwrap());
                } else {
                    r.read_line(&mut line).await.unwrap();
                    assert!(
                        line.starts_with(expect),
                        "expected {expect:?}, got {line:?}"
                    );
                    got.push(line.trim_end().to_owned());
                }
                w.write_all(answer.as_bytes()).await.unwrap();
            }
            let mut rest = Vec::new();
            let _ = r.read_to_end(&mut rest).await;
            got
        });
        (
            Address::Tcp {
                host: "127.0.0.1".into(),
                port,
            },
            handle,
        )
    }

    fn options(dialect: Dialect, rcpts: &[&str]) -> Options {
        Options {
            dialect,
            hello_name: "localhost".into(),
            from: "conform@example.org".into(),
            recipients: rcpts.iter().map(|r| r.to_string()).collect(),
            starttls: None,
            auth: None,
        }
    }

    #[tokio::test]
    async fn lmtp_reads_one_reply_per_recipient_and_stuffs_dots() {
        let (addr, server) = scripted(vec![
            (
                "LHLO localhost",
                "250-test\r\n250-8BITMIME\r\n250 PIPELINING\r\n",
            ),
            ("MAIL FROM:<conform@example.org>", "250 ok\r\n"),
            ("RCPT TO:<a>", "250 ok\r\n"),
            ("RCPT TO:<b>", "250 ok\r\n"),
            ("DATA", "354 go\r\n"),
            ("<data>", "250 2.0.0 <a> saved\r\n250 2.0.0 <b> saved\r\n"),
            ("QUIT", "221 bye\r\n"),
        ])
        .await;
        let wire = Wire::connect(&addr, None, Duration::from_secs(5))
            .await
            .unwrap();
        let done = deliver(
            wire,
            &options(Dialect::Lmtp, &["a", "b"]),
            &[b"S: x\n\n.\n..x\nend\n"],
        )
        .await
        .unwrap();
        assert_eq!(done.messages, 1);
        let got = server.await.unwrap();
        assert_eq!(got[5], "S: x\r\n\r\n..\r\n...x\r\nend\r\n.\r\n");
    }

    #[tokio::test]
    async fn a_refused_lmtp_recipient_after_data_is_an_error_naming_it() {
        let (addr, server) = scripted(vec![
            ("LHLO", "250 test\r\n"),
            ("MAIL FROM", "250 ok\r\n"),
            ("RCPT TO:<a>", "250 ok\r\n"),
            ("RCPT TO:<b>", "250 ok\r\n"),
            ("DATA", "354 go\r\n"),
            (
                "<data>",
                "250 2.0.0 <a> saved\r\n452 4.2.2 <b> Mailbox is full\r\n",
            ),
        ])
        .await;
        let wire = Wire::connect(&addr, None, Duration::from_secs(5))
            .await
            .unwrap();
        let err = deliver(
            wire,
            &options(Dialect::Lmtp, &["a", "b"]),
            &[b"S: x\n\nbody\n"],
        )
        .await
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "delivery of message 1 to <b> refused: 452 4.2.2 <b> Mailbox is full (no message was delivered)"
        );
        drop(server);
    }

    #[tokio::test]
    async fn smtp_rcpt_refusal_and_missing_8bitmime_are_errors() {
        let (addr, _server) = scripted(vec![
            ("EHLO", "250-test\r\n250 8BITMIME\r\n"),
            ("MAIL FROM:<conform@example.org>\r", "250 ok\r\n"),
            ("RCPT TO:<nobody>", "550 5.1.1 no such user\r\n"),
            ("RSET", "250 ok\r\n"),
        ])
        .await;
        let wire = Wire::connect(&addr, None, Duration::from_secs(5))
            .await
            .unwrap();
        let err = deliver(
            wire,
            &options(Dialect::Smtp, &["nobody"]),
            &[b"S: x\n\nb\n"],
        )
        .await
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "RCPT TO:<nobody> of message 1 refused: 550 5.1.1 no such user (no message was delivered)"
        );

        let (addr, _server) = scripted(vec![
            ("EHLO", "250 test\r\n"),
            ("MAIL FROM:<conform@example.org>\r", "250 ok\r\n"),
            ("RCPT TO:<a>", "250 ok\r\n"),
            ("DATA", "354 go\r\n"),
            ("<data>", "250 queued\r\n"),
        ])
        .await;
        let wire = Wire::connect(&addr, None, Duration::from_secs(5))
            .await
            .unwrap();
        let err = deliver(
            wire,
            &options(Dialect::Smtp, &["a"]),
            &[b"S: x\n\nb\n", "S: y\n\n\u{e9}\n".as_bytes()],
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("message 2 has 8-bit octets"), "{err}");
        assert!(
            err.ends_with("(message 1 was delivered before it)"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn numbered_delivery_names_the_message_and_those_before_it() {
        // message 4 in a session of its own: 1-3 went in earlier sessions
        let (addr, _server) = scripted(vec![
            ("EHLO", "250 test\r\n"),
            ("MAIL FROM:<conform@example.org>\r", "250 ok\r\n"),
            ("RCPT TO:<a>", "250 ok\r\n"),
            ("DATA", "354 go\r\n"),
            ("<data>", "452 4.3.1 queue full\r\n"),
        ])
        .await;
        let wire = Wire::connect(&addr, None, Duration::from_secs(5))
            .await
            .unwrap();
        let err = deliver_numbered(wire, &options(Dialect::Smtp, &["a"]), &[b"S: x\n\nb\n"], 4)
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "end of DATA of message 4 refused: 452 4.3.1 queue full (messages 1-3 were delivered before it)"
        );
    }

    #[tokio::test]
    async fn smtp_auth_is_refused_when_not_announced_and_replies_must_be_well_formed() {
        let (addr, _server) = scripted(vec![("EHLO", "250-test\r\n250 AUTH LOGIN\r\n")]).await;
        let wire = Wire::connect(&addr, None, Duration::from_secs(5))
            .await
            .unwrap();
        let mut o = options(Dialect::Smtp, &["a"]);
        o.auth = Some(("u".into(), "p".into()));
        let err = deliver(wire, &o, &[b"x\n"]).await.unwrap_err().to_string();
        assert!(
            err.starts_with("AUTH PLAIN: the SMTP server does not announce it"),
            "{err}"
        );

        let (addr, _server) = scripted(vec![("EHLO", "250-test\r\n251 mixed\r\n")]).await;
        let wire = Wire::connect(&addr, None, Duration::from_secs(5))
            .await
            .unwrap();
        let err = deliver(wire, &options(Dialect::Smtp, &["a"]), &[b"x\n"])
            .await
            .unwrap_err();
        assert!(matches!(err, DeliverError::Protocol { .. }), "{err}");
    }
}
