//! SASL LOGIN (draft-murchison-sasl-login-00): the server prompts `Username:` then
//! `Password:`, each base64-encoded in a `+ ` continuation; the client answers each with a
//! base64 line. Obsolete but still common, and in the seeds.

use super::encode_base64;

/// The first prompt, `Username:` (draft-murchison-sasl-login §2.1).
pub const USERNAME_PROMPT: &str = "Username:";
/// The second prompt, `Password:`.
pub const PASSWORD_PROMPT: &str = "Password:";

/// The base64 of [`USERNAME_PROMPT`], as it appears after `+ `.
pub fn username_challenge() -> String {
    encode_base64(USERNAME_PROMPT.as_bytes())
}

/// The base64 of [`PASSWORD_PROMPT`], as it appears after `+ `.
pub fn password_challenge() -> String {
    encode_base64(PASSWORD_PROMPT.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts() {
        assert_eq!(username_challenge(), "VXNlcm5hbWU6");
        assert_eq!(password_challenge(), "UGFzc3dvcmQ6");
    }
}
