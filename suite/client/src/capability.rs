//! What the target implements, and how the runner found out: the capabilities it *announces*
//! (RFC 2449 CAPA) and the ones that are *available* — announced, or found working by a probe
//! when CAPA is not implemented or leaves them out, or declared by the vendor (`--expect`).
//!
//! RFC 2449 §5: "a client MUST NOT ... make the assumption that any particular capability is
//! not supported if it is not listed" only for servers that do not implement CAPA; §3 tells a
//! client to probe a server that answers CAPA with -ERR. So the suite probes: USER/PASS (USER
//! gets +OK and the login works), APOP (a timestamp in the greeting, RFC 1939 §7), TOP (`TOP 1
//! 0`), UIDL. A case whose `requires:` names something the target does not have is *not
//! applicable*, never a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// How the runner learned that the target has (or lacks) a capability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// Listed in the CAPA response.
    Announced,
    /// Not announced (or no CAPA), but the probe found it working; the text says how.
    Probed(String),
    /// Seen in the greeting (APOP's timestamp, RFC 1939 §7).
    Greeting,
}

impl fmt::Display for Discovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Discovery::Announced => f.write_str("announced in CAPA"),
            Discovery::Probed(how) => write!(f, "probed: {how}"),
            Discovery::Greeting => f.write_str("timestamp in the greeting"),
        }
    }
}

/// A way to log in, in the order the `login` step tries them (README, LANGUAGE.md `login`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LoginMethod {
    /// USER then PASS (RFC 1939 §7).
    UserPass,
    /// APOP with the greeting's timestamp (RFC 1939 §7).
    Apop,
    /// AUTH PLAIN (RFC 4616), without an initial response.
    SaslPlain,
    /// AUTH LOGIN (draft-murchison-sasl-login), the two prompts.
    SaslLogin,
    /// AUTH CRAM-MD5 (RFC 2195).
    CramMd5,
    /// AUTH SCRAM-SHA-1 (RFC 5802), the server's signature verified.
    ScramSha1,
    /// AUTH SCRAM-SHA-256 (RFC 7677), the server's signature verified.
    ScramSha256,
    /// AUTH OAUTHBEARER (RFC 7628) with the run's bearer token (`--token-env`).
    OAuthBearer,
    /// AUTH XOAUTH2 with the run's bearer token.
    XOAuth2,
    /// AUTH SCRAM-SHA-256-PLUS (RFC 5802 §6): the TLS channel bound, tls-exporter where
    /// defined (TLS 1.3), else tls-server-end-point.
    ScramSha256Plus,
    /// AUTH SCRAM-SHA-1-PLUS.
    ScramSha1Plus,
}

impl LoginMethod {
    /// Every method, in the order the `login` step prefers them.
    pub const ORDER: [LoginMethod; 11] = [
        LoginMethod::UserPass,
        LoginMethod::Apop,
        LoginMethod::SaslPlain,
        LoginMethod::SaslLogin,
        LoginMethod::CramMd5,
        LoginMethod::ScramSha256,
        LoginMethod::ScramSha1,
        LoginMethod::OAuthBearer,
        LoginMethod::XOAuth2,
        LoginMethod::ScramSha256Plus,
        LoginMethod::ScramSha1Plus,
    ];

    /// Whether it logs in with a bearer token, not the password.
    pub fn needs_token(self) -> bool {
        matches!(self, LoginMethod::OAuthBearer | LoginMethod::XOAuth2)
    }

    /// The capability that offers it (`USER`, `APOP`, `SASL PLAIN`, ...).
    pub fn capability(self) -> &'static str {
        match self {
            LoginMethod::UserPass => "USER",
            LoginMethod::Apop => "APOP",
            LoginMethod::SaslPlain => "SASL PLAIN",
            LoginMethod::SaslLogin => "SASL LOGIN",
            LoginMethod::CramMd5 => "SASL CRAM-MD5",
            LoginMethod::ScramSha1 => "SASL SCRAM-SHA-1",
            LoginMethod::ScramSha256 => "SASL SCRAM-SHA-256",
            LoginMethod::OAuthBearer => "SASL OAUTHBEARER",
            LoginMethod::XOAuth2 => "SASL XOAUTH2",
            LoginMethod::ScramSha256Plus => "SASL SCRAM-SHA-256-PLUS",
            LoginMethod::ScramSha1Plus => "SASL SCRAM-SHA-1-PLUS",
        }
    }

    /// The name used on the command line (`--login`).
    pub fn name(self) -> &'static str {
        match self {
            LoginMethod::UserPass => "user",
            LoginMethod::Apop => "apop",
            LoginMethod::SaslPlain => "plain",
            LoginMethod::SaslLogin => "login",
            LoginMethod::CramMd5 => "cram-md5",
            LoginMethod::ScramSha1 => "scram-sha-1",
            LoginMethod::ScramSha256 => "scram-sha-256",
            LoginMethod::OAuthBearer => "oauthbearer",
            LoginMethod::XOAuth2 => "xoauth2",
            LoginMethod::ScramSha256Plus => "scram-sha-256-plus",
            LoginMethod::ScramSha1Plus => "scram-sha-1-plus",
        }
    }

    /// The method called `name` (`user`, `apop`, `plain`, `login`, `cram-md5`,
    /// `scram-sha-256`, `scram-sha-1`, `oauthbearer`, `xoauth2`, `scram-sha-256-plus`,
    /// `scram-sha-1-plus`).
    pub fn from_name(name: &str) -> Option<LoginMethod> {
        Self::ORDER
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for LoginMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LoginMethod::UserPass => "USER/PASS",
            LoginMethod::Apop => "APOP",
            LoginMethod::SaslPlain => "AUTH PLAIN",
            LoginMethod::SaslLogin => "AUTH LOGIN",
            LoginMethod::CramMd5 => "AUTH CRAM-MD5",
            LoginMethod::ScramSha1 => "AUTH SCRAM-SHA-1",
            LoginMethod::ScramSha256 => "AUTH SCRAM-SHA-256",
            LoginMethod::OAuthBearer => "AUTH OAUTHBEARER",
            LoginMethod::XOAuth2 => "AUTH XOAUTH2",
            LoginMethod::ScramSha256Plus => "AUTH SCRAM-SHA-256-PLUS",
            LoginMethod::ScramSha1Plus => "AUTH SCRAM-SHA-1-PLUS",
        })
    }
}

/// What the target implements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// CAPA answered +OK (RFC 2449 is implemented).
    pub capa: bool,
    /// The tags CAPA listed, upper case (`SASL` also as `SASL MECH` per mechanism).
    pub announced: BTreeSet<String>,
    /// Every capability the target has, with how it was found: the announced ones, and the
    /// probed ones.
    pub available: BTreeMap<String, Discovery>,
    /// Capabilities that were probed and found missing, with what the probe saw.
    pub missing: BTreeMap<String, String>,
    /// How the `login` step logs in (`None`: no method worked).
    pub login: Option<LoginMethod>,
}

impl Capabilities {
    /// What a server that answered CAPA with these lines announces (nothing probed yet).
    pub fn from_capa_lines(lines: &[&str]) -> Capabilities {
        let mut c = Capabilities {
            capa: true,
            ..Capabilities::default()
        };
        for line in lines {
            add_capa_line(&mut c, line.as_bytes());
        }
        c
    }

    /// Whether `tag` is available.
    pub fn has(&self, tag: &str) -> bool {
        tag == "CAPA" && self.capa || self.available.contains_key(tag)
    }

    /// Why `tag` is not available, for a case's "not applicable" reason (`TOP (not in
    /// CAPA)`, with what the probe saw when there was one); `None` when it is available.
    pub fn lacks(&self, tag: &str) -> Option<String> {
        if self.has(tag) {
            return None;
        }
        Some(match self.missing.get(tag) {
            Some(why) => format!("{tag} ({why})"),
            None if tag == "CAPA" => "CAPA (it answered -ERR)".to_owned(),
            None if self.capa => format!("{tag} (not in CAPA)"),
            None => tag.to_owned(),
        })
    }

    /// Marks `tag` available, found by `how` (announced wins over a probe).
    pub fn add(&mut self, tag: &str, how: Discovery) {
        self.missing.remove(tag);
        self.available.entry(tag.to_owned()).or_insert(how);
    }

    /// What the target implements and how that was found, a few lines for reports:
    /// CAPA and what it announced, what probes found, what is missing, the login.
    pub fn describe(&self) -> Vec<String> {
        let announced: Vec<&str> = self
            .available
            .iter()
            .filter(|(_, how)| **how == Discovery::Announced)
            .map(|(tag, _)| tag.as_str())
            .collect();
        let mut out = vec![if self.capa {
            format!("CAPA announces: {}", announced.join(", "))
        } else {
            "CAPA: not implemented (answered -ERR); capabilities were probed".to_owned()
        }];
        for (tag, how) in &self.available {
            if *how != Discovery::Announced {
                out.push(format!("{tag}: {how}"));
            }
        }
        for (tag, why) in &self.missing {
            out.push(format!("{tag}: not available ({why})"));
        }
        out.extend(self.notes());
        out.push(match self.login {
            Some(m) => format!("login: {m}"),
            None => "login: no method worked".to_owned(),
        });
        out
    }
}

impl Capabilities {
    /// Informational notes on what the target announces, never a failure: RFC 6331 ("Moving
    /// DIGEST-MD5 to Historic") retired DIGEST-MD5, so a server that still offers it is worth
    /// a word, but RFC 5034 and RFC 4422 do not forbid it.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.announced.contains("SASL DIGEST-MD5") {
            notes.push(
                "note: SASL DIGEST-MD5 is announced; RFC 6331 moved it to Historic (informational, not a failure)"
                    .to_owned(),
            );
        }
        notes
    }
}

/// Adds the tags of one CAPA line (`SASL PLAIN LOGIN` gives `SASL`, `SASL PLAIN`, `SASL
/// LOGIN`).
pub fn add_capa_line(caps: &mut Capabilities, line: &[u8]) {
    let text = String::from_utf8_lossy(line).to_ascii_uppercase();
    let mut words = text.split_whitespace();
    if let Some(tag) = words.next() {
        caps.announced.insert(tag.to_owned());
        caps.add(tag, Discovery::Announced);
        if tag == "SASL" {
            for m in words {
                let t = format!("SASL {m}");
                caps.announced.insert(t.clone());
                caps.add(&t, Discovery::Announced);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(tags: &[&str]) -> Capabilities {
        Capabilities::from_capa_lines(tags)
    }

    #[test]
    fn digest_md5_is_a_note() {
        assert!(caps(&["SASL PLAIN SCRAM-SHA-256"]).notes().is_empty());
        let c = caps(&["SASL PLAIN digest-md5"]);
        assert_eq!(c.notes().len(), 1);
        assert!(c.describe().iter().any(|l| l.contains("RFC 6331")));
    }

    #[test]
    fn why_a_capability_is_lacking() {
        let c = caps(&["USER", "SASL PLAIN LOGIN"]);
        assert_eq!(c.lacks("USER"), None);
        assert_eq!(c.lacks("SASL LOGIN"), None);
        assert_eq!(c.lacks("CAPA"), None);
        assert_eq!(c.lacks("TOP").as_deref(), Some("TOP (not in CAPA)"));
        let mut probed = Capabilities::default();
        probed.add("TOP", Discovery::Probed("TOP 1 0 answered +OK".into()));
        probed
            .missing
            .insert("UIDL".into(), "UIDL answered -ERR".into());
        assert_eq!(probed.lacks("TOP"), None);
        assert_eq!(
            probed.lacks("UIDL").as_deref(),
            Some("UIDL (UIDL answered -ERR)")
        );
        assert_eq!(
            probed.lacks("CAPA").as_deref(),
            Some("CAPA (it answered -ERR)")
        );
        assert_eq!(probed.lacks("STLS").as_deref(), Some("STLS"));
    }
}
