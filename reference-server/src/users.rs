//! The accounts the server knows: name and shared secret (kept in clear, because APOP and
//! CRAM-MD5 need the secret itself: RFC 1939 §7, RFC 2195 §2).

use std::collections::BTreeMap;
use std::path::Path;

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

/// User names and their secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Users {
    secrets: BTreeMap<String, String>,
}

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
        let text = std::fs::read_to_string(path).map_err(|source| UsersError::Io {
            path: path.display().to_string(),
            source,
        })?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            self.insert_spec(line, &format!("{}:{}", path.display(), n + 1))?;
        }
        Ok(())
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
}
