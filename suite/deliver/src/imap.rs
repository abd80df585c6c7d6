//! IMAP APPEND of the fixture into one mailbox (RFC 3501, RFC 9051): the small subset a
//! seeder needs, written by hand (see the crate's Cargo.toml history for why no IMAP crate).
//!
//! The session: the greeting (`* OK`, or `* PREAUTH`; `* BYE` refuses); with STARTTLS
//! (RFC 9051 §6.2.1) the upgrade and a new CAPABILITY; `LOGIN` (§6.2.3; refused when the
//! server announces `LOGINDISABLED`); `CAPABILITY`; `SELECT` (§6.3.2), whose `* n EXISTS` says
//! what the mailbox holds; when it holds messages and the caller asked to replace them,
//! `STORE 1:* +FLAGS.SILENT (\Deleted)` (§6.4.6) and `EXPUNGE` (§6.4.3); then the messages
//! in order by `APPEND` (RFC 3501 §6.3.11, RFC 9051 §6.3.12), each a literal with CRLF line
//! ends: one command for all of them with MULTIAPPEND (RFC 3502, all or none appended),
//! else one per message. Literals are synchronizing (`{n}`, wait for the `+` continuation,
//! §4.3) unless the server announces LITERAL+ (RFC 7888: `{n+}`, no wait). Then `SELECT`
//! again, which must count exactly the messages appended, and `LOGOUT`.
//!
//! Server answers are read whole: an untagged line ending in a literal `{n}` goes on after
//! its n octets (§4.3), so no literal's content is ever taken for a response line.

use std::sync::Arc;

use rustls::ClientConfig;

use crate::wire::Wire;
use crate::{crlf, printable, DeliverError};

/// How to seed the mailbox.
#[derive(Clone)]
pub struct Options {
    /// The user (`LOGIN`).
    pub user: String,
    /// The password.
    pub password: String,
    /// The mailbox (`INBOX`, ...), 7-bit ASCII (modified UTF-7 names are the caller's).
    pub mailbox: String,
    /// Upgrade with STARTTLS (RFC 9051 §6.2.1), verified with this configuration.
    pub starttls: Option<Arc<ClientConfig>>,
    /// Empty the mailbox first; without it a mailbox that holds messages is an error.
    pub replace: bool,
    /// Use MULTIAPPEND when the server announces it (RFC 3502).
    pub multiappend: bool,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("user", &self.user)
            .field("password", &"***")
            .field("mailbox", &self.mailbox)
            .field("starttls", &self.starttls.is_some())
            .field("replace", &self.replace)
            .finish()
    }
}

/// What the seeding did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeded {
    /// Messages the mailbox held before (removed with `replace`).
    pub removed: usize,
    /// Messages appended.
    pub appended: usize,
    /// Whether one MULTIAPPEND command carried them.
    pub multiappend: bool,
    /// Octets appended (CRLF line ends), summed.
    pub octets: u64,
}

/// A tagged completion: `OK`, `NO` or `BAD` and the whole line.
#[derive(Debug)]
struct Done {
    status: String,
    line: String,
}

/// What came before a tagged completion.
#[derive(Debug, Default)]
struct Untagged {
    /// The untagged lines, literals inlined as `{n}` only.
    lines: Vec<String>,
}

impl Untagged {
    /// The last `* n EXISTS` (RFC 9051 §7.4.1).
    fn exists(&self) -> Option<usize> {
        self.lines.iter().rev().find_map(|l| {
            let mut words = l.split(' ');
            match (words.next(), words.next(), words.next()) {
                (Some("*"), Some(n), Some(w)) if w.eq_ignore_ascii_case("EXISTS") => n.parse().ok(),
                _ => None,
            }
        })
    }

    /// The capabilities of a `* CAPABILITY` line, upper-cased.
    fn capabilities(&self) -> Option<Vec<String>> {
        self.lines.iter().rev().find_map(|l| {
            let rest = l.strip_prefix("* ")?;
            let (word, caps) = rest.split_once(' ').unwrap_or((rest, ""));
            word.eq_ignore_ascii_case("CAPABILITY")
                .then(|| caps.split(' ').map(str::to_ascii_uppercase).collect())
        })
    }
}

/// A session: the wire, the tag counter, the capabilities.
struct Session {
    wire: Wire,
    tag: u32,
    caps: Vec<String>,
}

/// A piece of a command: text as is, or a string sent as a literal.
enum Part<'a> {
    Text(String),
    Literal(&'a [u8]),
}

/// `s` as an IMAP quoted string (RFC 9051 §4.3), or `None` when it needs a literal (CR, LF,
/// NUL or 8-bit octets).
fn quoted(s: &str) -> Option<String> {
    if s.bytes()
        .any(|b| b == b'\r' || b == b'\n' || b == 0 || b >= 0x80)
    {
        return None;
    }
    Some(format!(
        "\"{}\"",
        s.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

impl Session {
    fn has(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c == cap)
    }

    /// Reads one response line, with the literals it carries (their octets read and
    /// dropped: a seeder reads nothing it needs from them).
    async fn read_response(&mut self, step: &str) -> Result<String, DeliverError> {
        let mut text = String::new();
        loop {
            let line = self.wire.read_line(step).await?;
            let shown = printable(&line);
            text.push_str(&shown);
            // a line ending in {n} (or {n+}, from a server quoting us) is followed by n octets
            let literal = shown
                .strip_suffix('}')
                .and_then(|s| s.rsplit_once('{'))
                .and_then(|(_, n)| n.trim_end_matches('+').parse::<usize>().ok());
            match literal {
                Some(n) => {
                    self.wire.read_exact(n, step).await?;
                }
                None => return Ok(text),
            }
        }
    }

    /// Sends a command made of `parts` under a new tag and reads up to its completion.
    /// Each literal waits for the server's `+` unless LITERAL+ is announced; a completion
    /// instead of `+` ends the command there (the server refused it).
    async fn command(
        &mut self,
        parts: &[Part<'_>],
        step: &str,
    ) -> Result<(Done, Untagged), DeliverError> {
        self.tag += 1;
        let tag = format!("c{}", self.tag);
        let non_sync = self.has("LITERAL+");
        let mut untagged = Untagged::default();
        let mut pending = format!("{tag} ");
        for part in parts {
            match part {
                Part::Text(t) => pending.push_str(t),
                Part::Literal(bytes) => {
                    pending.push_str(&format!(
                        "{{{}{}}}\r\n",
                        bytes.len(),
                        if non_sync { "+" } else { "" }
                    ));
                    self.wire.send(pending.as_bytes(), step).await?;
                    pending.clear();
                    if !non_sync {
                        // RFC 9051 §7.5: the continuation request, or the command's end
                        loop {
                            let line = self.read_response(step).await?;
                            if line.starts_with('+') {
                                break;
                            }
                            if let Some(done) = completion(&tag, &line) {
                                return Ok((done, untagged));
                            }
                            untagged.lines.push(line);
                        }
                    }
                    self.wire.send(bytes, step).await?;
                }
            }
        }
        pending.push_str("\r\n");
        self.wire.send(pending.as_bytes(), step).await?;
        loop {
            let line = self.read_response(step).await?;
            if let Some(done) = completion(&tag, &line) {
                return Ok((done, untagged));
            }
            if line.starts_with("* BYE") || line.starts_with("* bye") {
                // the server is closing: its reason is the answer
                return Err(DeliverError::Refused {
                    step: step.into(),
                    answer: line,
                });
            }
            untagged.lines.push(line);
        }
    }

    /// [`Session::command`] that must complete `OK`.
    async fn ok(&mut self, parts: &[Part<'_>], step: &str) -> Result<Untagged, DeliverError> {
        let (done, untagged) = self.command(parts, step).await?;
        if done.status != "OK" {
            return Err(DeliverError::Refused {
                step: step.into(),
                answer: done.line,
            });
        }
        Ok(untagged)
    }

    async fn capability(&mut self) -> Result<(), DeliverError> {
        let u = self
            .ok(&[Part::Text("CAPABILITY".into())], "CAPABILITY")
            .await?;
        self.caps = u.capabilities().unwrap_or_default();
        Ok(())
    }

    /// `SELECT mailbox`, and how many messages it holds.
    async fn select(&mut self, mailbox: &str, step: &str) -> Result<usize, DeliverError> {
        let u = self
            .ok(
                &[Part::Text(format!(
                    "SELECT {}",
                    quoted(mailbox).expect("checked")
                ))],
                step,
            )
            .await?;
        u.exists().ok_or_else(|| DeliverError::Protocol {
            step: step.into(),
            answer: "no * n EXISTS before OK (RFC 9051 §6.3.2 requires it)".into(),
        })
    }
}

/// The completion `tag OK|NO|BAD ...` of `line`, when it is one.
fn completion(tag: &str, line: &str) -> Option<Done> {
    let rest = line.strip_prefix(tag)?.strip_prefix(' ')?;
    let status = rest.split(' ').next().unwrap_or("").to_ascii_uppercase();
    Some(Done {
        status,
        line: line.to_owned(),
    })
}

/// Puts `messages` into the mailbox in order over `wire` (just connected: the greeting is
/// read here). With `replace` the mailbox is emptied first; without it a mailbox that holds
/// messages is refused before anything changes.
pub async fn seed(
    wire: Wire,
    options: &Options,
    messages: &[&[u8]],
) -> Result<Seeded, DeliverError> {
    if quoted(&options.mailbox).is_none() || options.mailbox.is_empty() {
        return Err(DeliverError::Unsupported(format!(
            "mailbox {:?}: give a 7-bit name (modified UTF-7 for others, RFC 3501 §5.1.3)",
            options.mailbox
        )));
    }
    let mut s = Session {
        wire,
        tag: 0,
        caps: Vec::new(),
    };
    let greeting = s.read_response("IMAP greeting").await?;
    let preauth = greeting.to_ascii_uppercase().starts_with("* PREAUTH");
    if !greeting.to_ascii_uppercase().starts_with("* OK") && !preauth {
        return Err(DeliverError::Refused {
            step: "IMAP greeting".into(),
            answer: greeting,
        });
    }
    s.capability().await?;
    if let Some(config) = &options.starttls {
        if preauth {
            return Err(DeliverError::Unsupported(
                "STARTTLS: the server greeted with PREAUTH, so it cannot be used (RFC 9051 §6.2.1)"
                    .into(),
            ));
        }
        if !s.has("STARTTLS") {
            return Err(DeliverError::Unsupported(
                "STARTTLS: the IMAP server does not announce it in CAPABILITY (RFC 9051 §6.2.1)"
                    .into(),
            ));
        }
        s.ok(&[Part::Text("STARTTLS".into())], "STARTTLS").await?;
        s.wire.upgrade(config.clone(), "STARTTLS").await?;
        // RFC 9051 §6.2.1: capabilities from before TLS are discarded
        s.capability().await?;
    }
    if !preauth {
        if s.has("LOGINDISABLED") {
            return Err(DeliverError::Unsupported(
                "LOGIN: the IMAP server announces LOGINDISABLED (use TLS: imaps:// or --starttls)"
                    .into(),
            ));
        }
        let user = match quoted(&options.user) {
            Some(q) => Part::Text(q),
            None => Part::Literal(options.user.as_bytes()),
        };
        let password = match quoted(&options.password) {
            Some(q) => Part::Text(q),
            None => Part::Literal(options.password.as_bytes()),
        };
        s.ok(
            &[
                Part::Text("LOGIN ".into()),
                user,
                Part::Text(" ".into()),
                password,
            ],
            "LOGIN",
        )
        .await?;
        // the capabilities may change after login
        s.capability().await?;
    }
    let held = s
        .select(&options.mailbox, &format!("SELECT {}", options.mailbox))
        .await?;
    if held > 0 {
        if !options.replace {
            return Err(DeliverError::Incomplete(format!(
                "mailbox {} holds {held} messages: nothing appended (--replace empties it first)",
                options.mailbox
            )));
        }
        s.ok(
            &[Part::Text("STORE 1:* +FLAGS.SILENT (\\Deleted)".into())],
            "STORE \\Deleted",
        )
        .await?;
        s.ok(&[Part::Text("EXPUNGE".into())], "EXPUNGE").await?;
    }
    let data: Vec<Vec<u8>> = messages.iter().map(|m| crlf(m)).collect();
    let octets = data.iter().map(|d| d.len() as u64).sum();
    let mailbox = quoted(&options.mailbox).expect("checked");
    let multi = options.multiappend && s.has("MULTIAPPEND") && data.len() > 1;
    if multi {
        // RFC 3502 §6.3.11: APPEND mailbox literal SP literal ...; all or none appended
        let mut parts = vec![Part::Text(format!("APPEND {mailbox} "))];
        for (i, d) in data.iter().enumerate() {
            if i > 0 {
                parts.push(Part::Text(" ".into()));
            }
            parts.push(Part::Literal(d));
        }
        s.ok(
            &parts,
            &format!(
                "MULTIAPPEND of messages 1-{} to {}",
                data.len(),
                options.mailbox
            ),
        )
        .await?;
    } else {
        for (i, d) in data.iter().enumerate() {
            let step = format!("APPEND of message {} to {}", i + 1, options.mailbox);
            let parts = [Part::Text(format!("APPEND {mailbox} ")), Part::Literal(d)];
            s.ok(&parts, &step).await.map_err(|e| match e {
                DeliverError::Refused { step, answer } if i > 0 => DeliverError::Refused {
                    step,
                    answer: if i == 1 {
                        format!("{answer} (message 1 was appended before it)")
                    } else {
                        format!("{answer} (messages 1-{i} were appended before it)")
                    },
                },
                other => other,
            })?;
        }
    }
    let now = s
        .select(
            &options.mailbox,
            &format!("SELECT {} after APPEND", options.mailbox),
        )
        .await?;
    if now != data.len() {
        return Err(DeliverError::Incomplete(format!(
            "mailbox {} holds {now} messages after appending {}: another delivery came in between",
            options.mailbox,
            data.len()
        )));
    }
    let _ = s.command(&[Part::Text("LOGOUT".into())], "LOGOUT").await;
    s.wire.shutdown().await;
    Ok(Seeded {
        removed: held,
        appended: data.len(),
        multiappend: multi,
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

    /// A scripted IMAP server: for each step the command it expects (prefix, without the tag)
    /// and its answer (`TAG` replaced by the command's tag). A step `{n}` reads a literal of
    /// n octets after sending `+ go`.
    async fn scripted(
        script: Vec<(&'static str, &'static str)>,
    ) -> (Address, tokio::task::JoinHandle<Vec<Vec<u8>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = tokio::spawn(async move {
            let (sock, _) = listener.accept().await.unwrap();
            let (r, mut w) = sock.into_split();
            let mut r = BufReader::new(r);
            w.write_all(b"* OK ready\r\n").await.unwrap();
            let mut literals = Vec::new();
            let mut tag = String::new();
            for (expect, answer) in script {
                if let Some(n) = expect.strip_prefix('{') {
                    let n: usize = n.trim_end_matches('}').parse().unwrap();
                    w.write_all(b"+ go\r\n").await.unwrap();
                    let mut lit = vec![0; n];
                    r.read_exact(&mut lit).await.unwrap();
                    literals.push(lit);
                    let mut rest = String::new();
                    r.read_line(&mut rest).await.unwrap();
                    assert_eq!(rest, "\r\n", "CRLF after the literal");
                } else {
                    let mut line = String::new();
                    r.read_line(&mut line).await.unwrap();
                    let (t, cmd) = line.split_once(' ').unwrap();
                    tag = t.to_owned();
                    assert!(cmd.starts_with(expect), "expected {expect:?}, got {line:?}");
                }
                w.write_all(answer.replace("TAG", &tag).as_bytes())
                    .await
                    .unwrap();
            }
            let mut rest = Vec::new();
            let _ = r.read_to_end(&mut rest).await;
            literals
        });
        (
            Address::Tcp {
                host: "127.0.0.1".into(),
                port,
            },
            handle,
        )
    }

    fn options(replace: bool) -> Options {
        Options {
            user: "u".into(),
            password: "p\"w".into(),
            mailbox: "INBOX".into(),
            starttls: None,
            replace,
            multiappend: true,
        }
    }

    #[tokio::test]
    async fn empties_then_appends_with_synchronizing_literals() {
        let (addr, server) = scripted(vec![
            ("CAPABILITY", "* CAPABILITY IMAP4rev1\r\nTAG OK done\r\n"),
            ("LOGIN \"u\" \"p\\\"w\"", "TAG OK logged in\r\n"),
            ("CAPABILITY", "* CAPABILITY IMAP4rev1 UIDPLUS\r\nTAG OK done\r\n"),
            ("SELECT \"INBOX\"", "* 2 EXISTS\r\n* FLAGS (\\Deleted)\r\nTAG OK [READ-WRITE] selected\r\n"),
            ("STORE 1:* +FLAGS.SILENT (\\Deleted)", "TAG OK stored\r\n"),
            ("EXPUNGE", "* 1 EXPUNGE\r\n* 1 EXPUNGE\r\nTAG OK expunged\r\n"),
            ("APPEND \"INBOX\" {11}", ""),
            ("{11}", "TAG OK [APPENDUID 1 3] appended\r\n"),
            ("APPEND \"INBOX\" {5}", ""),
            ("{5}", "TAG OK appended\r\n"),
            // a literal in an untagged answer is read over, not taken for a line
            ("SELECT", "* LIST () \"/\" {9}\r\nTAG OK no\r\n* 2 EXISTS\r\nTAG OK [READ-WRITE] selected\r\n"),
            ("LOGOUT", "* BYE\r\nTAG OK bye\r\n"),
        ])
        .await;
        let wire = Wire::connect(&addr, None, Duration::from_secs(5))
            .await
            .unwrap();
        let done = seed(wire, &options(true), &[b"A: b\n\nc\n", b"x\n\n"])
            .await
            .unwrap();
        assert_eq!(
            done,
            Seeded {
                removed: 2,
                appended: 2,
                multiappend: false,
                octets: 16
            }
        );
        let literals = server.await.unwrap();
        assert_eq!(
            literals,
            vec![b"A: b\r\n\r\nc\r\n".to_vec(), b"x\r\n\r\n".to_vec()]
        );
    }

    #[tokio::test]
    async fn refusals_name_the_step_and_the_answer() {
        // a mailbox that does not exist
        let (addr, _server) = scripted(vec![
            ("CAPABILITY", "* CAPABILITY IMAP4rev1\r\nTAG OK done\r\n"),
            ("LOGIN", "TAG OK logged in\r\n"),
            ("CAPABILITY", "* CAPABILITY IMAP4rev1\r\nTAG OK done\r\n"),
            (
                "SELECT \"Nope\"",
                "TAG NO [NONEXISTENT] Mailbox doesn't exist: Nope\r\n",
            ),
        ])
        .await;
        let wire = Wire::connect(&addr, None, Duration::from_secs(5))
            .await
            .unwrap();
        let mut o = options(true);
        o.mailbox = "Nope".into();
        let err = seed(wire, &o, &[b"x\n"]).await.unwrap_err().to_string();
        assert_eq!(
            err,
            "SELECT Nope refused: c4 NO [NONEXISTENT] Mailbox doesn't exist: Nope"
        );

        // a refused APPEND (instead of the continuation), after one that worked
        let (addr, _server) = scripted(vec![
            ("CAPABILITY", "* CAPABILITY IMAP4rev1\r\nTAG OK done\r\n"),
            ("LOGIN", "TAG OK logged in\r\n"),
            ("CAPABILITY", "* CAPABILITY IMAP4rev1\r\nTAG OK done\r\n"),
            ("SELECT", "* 0 EXISTS\r\nTAG OK selected\r\n"),
            ("APPEND", ""),
            ("{3}", "TAG OK appended\r\n"),
            ("APPEND", "TAG NO [OVERQUOTA] Quota exceeded\r\n"),
        ])
        .await;
        let wire = Wire::connect(&addr, None, Duration::from_secs(5))
            .await
            .unwrap();
        let err = seed(wire, &options(false), &[b"x\n", b"y\n"])
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "APPEND of message 2 to INBOX refused: c6 NO [OVERQUOTA] Quota exceeded (message 1 was appended before it)"
        );

        // a non-empty mailbox without replace: nothing changes
        let (addr, _server) = scripted(vec![
            ("CAPABILITY", "* CAPABILITY IMAP4rev1\r\nTAG OK done\r\n"),
            (
                "LOGIN",
                "TAG NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
            ),
        ])
        .await;
        let wire = Wire::connect(&addr, None, Duration::from_secs(5))
            .await
            .unwrap();
        let err = seed(wire, &options(false), &[b"x\n"])
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "LOGIN refused: c2 NO [AUTHENTICATIONFAILED] Authentication failed."
        );
    }

    #[tokio::test]
    async fn multiappend_with_literal_plus_sends_one_command() {
        let (addr, server) = scripted(vec![
            (
                "CAPABILITY",
                "* CAPABILITY IMAP4rev1 LITERAL+ MULTIAPPEND\r\nTAG OK done\r\n",
            ),
            ("LOGIN", "TAG OK logged in\r\n"),
            (
                "CAPABILITY",
                "* CAPABILITY IMAP4rev1 LITERAL+ MULTIAPPEND\r\nTAG OK done\r\n",
            ),
            ("SELECT", "* 3 EXISTS\r\nTAG OK selected\r\n"),
        ])
        .await;
        let wire = Wire::connect(&addr, None, Duration::from_secs(5))
            .await
            .unwrap();
        let err = seed(wire, &options(false), &[b"x\n", b"y\n"])
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "mailbox INBOX holds 3 messages: nothing appended (--replace empties it first)"
        );
        drop(server);

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (sock, _) = listener.accept().await.unwrap();
            let (r, mut w) = sock.into_split();
            let mut r = BufReader::new(r);
            w.write_all(b"* OK [CAPABILITY IMAP4rev1] ready\r\n")
                .await
                .unwrap();
            let mut seen = Vec::new();
            let mut line = Vec::new();
            let mut selects = 0;
            loop {
                line.clear();
                if r.read_until(b'\n', &mut line).await.unwrap() == 0 {
                    return seen;
                }
                let text = String::from_utf8_lossy(&line).into_owned();
                seen.push(text.clone());
                let tag = text.split(' ').next().unwrap().to_owned();
                let answer = if text.contains("CAPABILITY") {
                    "* CAPABILITY IMAP4rev1 LITERAL+ MULTIAPPEND\r\nTAG OK\r\n".to_owned()
                } else if text.contains("SELECT") {
                    selects += 1;
                    format!(
                        "* {} EXISTS\r\nTAG OK\r\n",
                        if selects == 1 { 0 } else { 2 }
                    )
                } else if text.contains("APPEND") {
                    // the whole command: two literals {n+} then the final CRLF
                    let mut rest = Vec::new();
                    r.read_until(b'\n', &mut rest).await.unwrap(); // "x\r\n"
                    r.read_until(b'\n', &mut rest).await.unwrap(); // " {3+}\r\n"
                    r.read_until(b'\n', &mut rest).await.unwrap(); // "y\r\n"
                    r.read_until(b'\n', &mut rest).await.unwrap(); // "\r\n"
                    seen.push(String::from_utf8_lossy(&rest).into_owned());
                    "TAG OK [APPENDUID 1 1:2] done\r\n".to_owned()
                } else {
                    "TAG OK\r\n".to_owned()
                };
                w.write_all(answer.replace("TAG", &tag).as_bytes())
                    .await
                    .unwrap();
            }
        });
        let addr = Address::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        let wire = Wire::connect(&addr, None, Duration::from_secs(5))
            .await
            .unwrap();
        let done = seed(wire, &options(false), &[b"x\n", b"y\n"])
            .await
            .unwrap();
        assert!(done.multiappend);
        let seen = server.await.unwrap();
        let append = seen.iter().position(|l| l.contains("APPEND")).unwrap();
        assert!(
            seen[append].ends_with("APPEND \"INBOX\" {3+}\r\n"),
            "{seen:?}"
        );
        assert_eq!(seen[append + 1], "x\r\n {3+}\r\ny\r\n\r\n");
    }
}
