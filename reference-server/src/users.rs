//! The accounts the server knows: name and shared secret (kept in clear, because APOP and
//! CRAM-MD5 need the secret itself: RFC 1939 §7, RFC 2195 §2), and the OAuth 2.0 bearer
//! tokens that OAUTHBEARER and XOAUTH2 accept (RFC 7628).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use pop3_proto::auth::scram;

/// A bad `--user` value or users file line.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// Not `name:password`.
    #[error("{origin}: expected NAME:PASSWORD, got {line:?}")]
    Syntax {
        /// Where the line came from (file:line or `--user`).
        origin: String,
        /// The line, password hidden.
        line: String,
    },
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// How SCRAM credentials are derived from the configured passwords (RFC 5802 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramSettings {
    /// The iteration count `i` (RFC 7677 §4: "SHOULD be at least 4096"); default 4096.
    pub iterations: u32,
    /// One salt for every user; `None` (the default): a salt of 16 octets per user, derived
    /// from the user name, so it is the same in every run, as stored credentials would be.
    pub salt: Option<Vec<u8>>,
}

impl Default for ScramSettings {
    fn default() -> ScramSettings {
        ScramSettings {
            iterations: scram::MIN_ITERATIONS,
            salt: None,
        }
    }
}

/// User names and their secrets.
#[derive(Clone, Default)]
pub struct Users {
    secrets: BTreeMap<String, String>,
    scram: ScramSettings,
    /// Each user's bearer token (RFC 6750), for OAUTHBEARER and XOAUTH2; none: the
    /// mechanisms are not offered.
    tokens: BTreeMap<String, String>,
    /// SCRAM credentials derived so far, by user and hash (PBKDF2 is slow by design).
    derived: Arc<Mutex<HashMap<(String, scram::Hash), scram::Credentials>>>,
}

impl PartialEq for Users {
    fn eq(&self, other: &Users) -> bool {
        self.secrets == other.secrets && self.scram == other.scram && self.tokens == other.tokens
    }
}

impl Eq for Users {}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never print secrets
        f.debug_struct("Users")
            .field("names", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Users {
    /// No users.
    pub fn new() -> Users {
        Users::default()
    }

    /// Adds or replaces a user.
    pub fn insert(&mut self, name: impl Into<String>, secret: impl Into<String>) {
        self.secrets.insert(name.into(), secret.into());
    }

    /// Adds a user from `name:password` (the password may hold further colons).
    pub fn insert_spec(&mut self, spec: &str, origin: &str) -> Result<(), UsersError> {
        match spec.split_once(':') {
            Some((name, secret)) if !name.is_empty() && !secret.is_empty() => {
                self.insert(name, secret);
                Ok(())
            }
            _ => Err(UsersError::Syntax {
                origin: origin.to_owned(),
                line: spec.split(':').next().unwrap_or_default().to_owned() + ":…",
            }),
        }
    }

    /// Reads a users file: one `name:password` a line; blank lines and `#` comments skipped.
    pub fn load_file(&mut self, path: &Path) -> Result<(), UsersError> {
        for (origin, line) in entries(path)? {
            self.insert_spec(&line, &origin)?;
        }
        Ok(())
    }

    /// Gives `name` the bearer token `token` (what an authorization server would have issued;
    /// the reference server checks it by comparison, as a resource server that introspects).
    pub fn set_token(&mut self, name: impl Into<String>, token: impl Into<String>) {
        self.tokens.insert(name.into(), token.into());
    }

    /// Reads a token file: one `name token` a line (the token is the rest of the line after
    /// the first space); blank lines and `#` comments skipped.
    pub fn load_token_file(&mut self, path: &Path) -> Result<(), UsersError> {
        for (origin, line) in entries(path)? {
            match line.split_once(' ') {
                Some((name, token)) if !name.is_empty() && !token.trim().is_empty() => {
                    self.set_token(name, token.trim());
                }
                _ => {
                    return Err(UsersError::Syntax {
                        origin,
                        line: line.split(' ').next().unwrap_or_default().to_owned() + " …",
                    })
                }
            }
        }
        Ok(())
    }

    /// Whether any user has a bearer token (OAUTHBEARER and XOAUTH2 are offered then).
    pub fn has_tokens(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Whether `token` is `name`'s bearer token.
    pub fn check_token(&self, name: &str, token: &str) -> bool {
        self.tokens.get(name).is_some_and(|t| t == token)
    }

    /// The user whose bearer token is `token` (an OAUTHBEARER message without `a=`).
    pub fn token_owner(&self, token: &str) -> Option<&str> {
        self.tokens
            .iter()
            .find(|(_, t)| *t == token)
            .map(|(n, _)| n.as_str())
    }

    /// Sets how SCRAM credentials are derived (salt, iteration count).
    pub fn set_scram(&mut self, settings: ScramSettings) {
        self.scram = settings;
        self.derived = Arc::default();
    }

    /// How SCRAM credentials are derived.
    pub fn scram(&self) -> &ScramSettings {
        &self.scram
    }

    /// The salt of `name`'s SCRAM credentials.
    pub fn scram_salt(&self, name: &str) -> Vec<u8> {
        match &self.scram.salt {
            Some(salt) => salt.clone(),
            None => {
                scram::Hash::Sha256.digest(format!("conform salt {name}").as_bytes())[..16].to_vec()
            }
        }
    }

    /// `name`'s SCRAM credentials for `hash` (RFC 5802 §3), derived from its password with
    /// [`Users::scram`]'s salt and iteration count; `iterations` overrides the count.
    pub fn scram_credentials(
        &self,
        name: &str,
        hash: scram::Hash,
        iterations: Option<u32>,
    ) -> Option<scram::Credentials> {
        let secret = self.secret(name)?;
        let i = iterations.unwrap_or(self.scram.iterations);
        let derive = || {
            let salt = self.scram_salt(name);
            scram::Keys::derive(hash, secret, &salt, i).credentials(&salt, i)
        };
        if i != self.scram.iterations {
            return Some(derive());
        }
        let mut cache = self.derived.lock().unwrap_or_else(|e| e.into_inner());
        Some(
            cache
                .entry((name.to_owned(), hash))
                .or_insert_with(derive)
                .clone(),
        )
    }

    /// The secret of `name`.
    pub fn secret(&self, name: &str) -> Option<&str> {
        self.secrets.get(name).map(String::as_str)
    }

    /// Whether `name` exists and `password` is its secret.
    pub fn check(&self, name: &str, password: &str) -> bool {
        self.secret(name).is_some_and(|s| s == password)
    }

    /// The user names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.secrets.keys().map(String::as_str)
    }

    /// How many users.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

/// The lines of a users or token file that hold an entry, each with its `file:line`: blank
/// lines and `#` comments skipped, CRLF line ends accepted.
fn entries(path: &Path) -> Result<Vec<(String, String)>, UsersError> {
    let text = std::fs::read_to_string(path).map_err(|source| UsersError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(text
        .lines()
        .enumerate()
        .map(|(n, line)| (n, line.trim_end_matches('\r')))
        .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(|(n, line)| (format!("{}:{}", path.display(), n + 1), line.to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_and_files() {
        let mut u = Users::new();
        u.insert_spec("ann:pa:ss", "--user").unwrap();
        assert!(u.check("ann", "pa:ss"));
        assert!(u.insert_spec("nocolon", "--user").is_err());
        assert!(u.insert_spec(":pw", "--user").is_err());
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("users");
        std::fs::write(&f, "# accounts\n\nbob:secret\r\ncarol:x\n").unwrap();
        u.load_file(&f).unwrap();
        assert_eq!(u.names().collect::<Vec<_>>(), ["ann", "bob", "carol"]);
        std::fs::write(&f, "bad line\n").unwrap();
        let e = u.load_file(&f).unwrap_err().to_string();
        assert!(e.contains(":1:"), "{e}");
        assert!(!format!("{u:?}").contains("secret"));
    }

    #[test]
    fn scram_credentials_from_passwords() {
        let mut u = Users::new();
        u.insert("user", "pencil");
        u.set_scram(ScramSettings {
            iterations: 4096,
            salt: Some(crate::users::tests::b64("QSXCR+Q6sek8bf92")),
        });
        let c = u
            .scram_credentials("user", scram::Hash::Sha1, None)
            .unwrap();
        assert_eq!(c.iterations, 4096);
        // the RFC 5802 §5 exchange verifies against credentials derived here
        let first = scram::ClientFirst::new("user", "fyko+d2lbbFgONRv9qkxdawL");
        let server = scram::Server::new(scram::Mechanism::SHA1, first, c, "3rfcNHYJY1ZVvWVs7j");
        assert_eq!(
            server.finish(b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
            Ok("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=".to_owned())
        );
        assert!(u
            .scram_credentials("nobody", scram::Hash::Sha1, None)
            .is_none());
        let mut v = Users::new();
        v.insert("user", "pencil");
        assert_ne!(v.scram_salt("user"), v.scram_salt("other"));
        assert_eq!(v.scram_salt("user").len(), 16);
    }

    #[test]
    fn token_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tokens");
        std::fs::write(&f, "# bearer tokens\nann ya29.abc\r\n\nbob  t-2\n").unwrap();
        let mut u = Users::new();
        assert!(!u.has_tokens());
        u.load_token_file(&f).unwrap();
        assert!(u.check_token("ann", "ya29.abc"));
        assert!(u.check_token("bob", "t-2"));
        assert!(!u.check_token("ann", "t-2"));
        assert_eq!(u.token_owner("t-2"), Some("bob"));
        assert_eq!(u.token_owner("nope"), None);
        std::fs::write(&f, "ann\n").unwrap();
        let e = u.load_token_file(&f).unwrap_err().to_string();
        assert!(e.contains(":1:"), "{e}");
    }

    fn b64(t: &str) -> Vec<u8> {
        pop3_proto::auth::decode_base64(t).unwrap()
    }
}
