//! The config file (`conform.toml`): named target profiles. A profile is read and checked
//! here (paths made relative to the file, the TLS mode and login method typed); it fills
//! what the command line did not give when the [`crate::setup::Setup`] is resolved.
//! Passwords never go in the file, only the name of the environment variable holding one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::ValueEnum as _;
use runner::{LoginMethod, TlsMode};
use serde::Deserialize;

use crate::args::{parse_login, TlsArg};

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    profiles: BTreeMap<String, RawProfile>,
}

/// One profile as written: text, checked only when the profile is chosen (a typo in
/// another profile does not stop this one).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawProfile {
    target: Option<String>,
    tls: Option<String>,
    ca: Option<PathBuf>,
    #[serde(default)]
    insecure: bool,
    user: Option<String>,
    users: Option<Vec<String>>,
    password_env: Option<String>,
    timeout: Option<u64>,
    reseed_cmd: Option<String>,
    #[serde(default)]
    expect: Vec<String>,
    login: Option<String>,
    baseline: Option<PathBuf>,
}

/// A chosen profile, checked: the target options and the baseline of `conform run`.
#[derive(Debug, Default)]
pub struct Profile {
    /// `--target`.
    pub target: Option<String>,
    /// `--tls`.
    pub tls: Option<TlsMode>,
    /// `--ca`, relative to the config file's folder.
    pub ca: Option<PathBuf>,
    /// `--insecure`.
    pub insecure: bool,
    /// `--user`, repeated: `user = "a"` or `users = ["a", "b"]` (an account pool, one
    /// password variable for all); empty when neither is given.
    pub users: Vec<String>,
    /// `--password-env`.
    pub password_env: Option<String>,
    /// `--timeout`.
    pub timeout: Option<u64>,
    /// `--reseed-cmd`.
    pub reseed_cmd: Option<String>,
    /// `--expect`.
    pub expect: Vec<String>,
    /// `--login`.
    pub login: Option<LoginMethod>,
    /// `conform run --baseline`, relative to the config file's folder.
    pub baseline: Option<PathBuf>,
}

/// Why a profile cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The config file cannot be read.
    #[error("--profile {name}: reading {}: {source}", path.display())]
    Read {
        name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A password in the file (its value is never repeated).
    #[error("{}: a password does not go in the config file; name the environment variable that holds it with password-env", path.display())]
    Password { path: PathBuf },
    /// Not TOML, or unknown keys.
    #[error("{}: {source}", path.display())]
    Syntax {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    /// No profile of that name.
    #[error("{}: no profile `{name}` (the profiles: {known})", path.display())]
    Unknown {
        path: PathBuf,
        name: String,
        known: String,
    },
    /// A value of the profile that means nothing.
    #[error("{}: profile `{name}`: {message}", path.display())]
    Value {
        path: PathBuf,
        name: String,
        message: String,
    },
}

/// Reads profile `name` of the config file `path`.
pub fn load(path: &Path, name: &str) -> Result<Profile, ProfileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
        name: name.to_owned(),
        path: path.to_owned(),
        source,
    })?;
    if text.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("password ") || l.starts_with("password=")
    }) {
        return Err(ProfileError::Password {
            path: path.to_owned(),
        });
    }
    let mut file: ConfigFile = toml::from_str(&text).map_err(|source| ProfileError::Syntax {
        path: path.to_owned(),
        source: Box::new(source),
    })?;
    let Some(raw) = file.profiles.remove(name) else {
        let known: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
        return Err(ProfileError::Unknown {
            path: path.to_owned(),
            name: name.to_owned(),
            known: if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            },
        });
    };
    check(raw, path.parent().unwrap_or(Path::new(""))).map_err(|message| ProfileError::Value {
        path: path.to_owned(),
        name: name.to_owned(),
        message,
    })
}

/// Types a profile's values; paths relative to `dir`.
fn check(raw: RawProfile, dir: &Path) -> Result<Profile, String> {
    let near = |p: PathBuf| if p.is_absolute() { p } else { dir.join(p) };
    let tls = match &raw.tls {
        Some(tls) => Some(
            TlsArg::from_str(tls, true)
                .map_err(|_| format!("tls is implicit, starttls or none, not `{tls}`"))?
                .into(),
        ),
        None => None,
    };
    let users = match (raw.user, raw.users) {
        (Some(_), Some(_)) => return Err("give user or users, not both".into()),
        (Some(user), None) => vec![user],
        (None, Some(users)) if users.is_empty() => {
            return Err("users is empty (leave it out, or name at least one)".into())
        }
        (None, users) => users.unwrap_or_default(),
    };
    let login = match &raw.login {
        Some(login) => Some(parse_login(login).map_err(|e| format!("login: {e}"))?),
        None => None,
    };
    Ok(Profile {
        target: raw.target,
        tls,
        ca: raw.ca.map(near),
        insecure: raw.insecure,
        users,
        password_env: raw.password_env,
        timeout: raw.timeout,
        reseed_cmd: raw.reseed_cmd,
        expect: raw.expect,
        login,
        baseline: raw.baseline.map(near),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(body: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conform.toml");
        std::fs::write(&path, body).unwrap();
        (dir, path)
    }

    #[test]
    fn a_profile_is_typed_and_its_paths_are_near_the_file() {
        let (dir, path) = write(
            "[profiles.a]\ntls = \"STARTTLS\"\nca = \"ca.pem\"\nlogin = \"apop\"\nbaseline = \"/b.toml\"\n[profiles.b]\ntls = \"x\"\n",
        );
        let p = load(&path, "a").unwrap();
        assert_eq!(p.tls, Some(TlsMode::StartTls));
        assert_eq!(p.ca, Some(dir.path().join("ca.pem")));
        assert_eq!(p.login, LoginMethod::from_name("apop"));
        assert_eq!(p.baseline, Some(PathBuf::from("/b.toml")));
        let err = load(&path, "b").unwrap_err().to_string();
        assert!(
            err.ends_with("profile `b`: tls is implicit, starttls or none, not `x`"),
            "{err}"
        );
        assert!(p.users.is_empty());
        let err = load(&path, "c").unwrap_err().to_string();
        assert!(
            err.ends_with("no profile `c` (the profiles: a, b)"),
            "{err}"
        );
    }

    #[test]
    fn user_or_users_name_the_accounts() {
        let (_dir, path) = write(
            "[profiles.one]\nuser = \"a\"\n[profiles.pool]\nusers = [\"a\", \"b\"]\n[profiles.both]\nuser = \"a\"\nusers = [\"b\"]\n[profiles.none]\nusers = []\n",
        );
        assert_eq!(load(&path, "one").unwrap().users, ["a"]);
        assert_eq!(load(&path, "pool").unwrap().users, ["a", "b"]);
        let err = load(&path, "both").unwrap_err().to_string();
        assert!(err.ends_with("give user or users, not both"), "{err}");
        let err = load(&path, "none").unwrap_err().to_string();
        assert!(err.contains("users is empty"), "{err}");
    }
}
