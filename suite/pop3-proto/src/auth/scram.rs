//! SCRAM (RFC 5802) with SHA-1 and SHA-256 (RFC 7677): the messages, their grammar
//! (RFC 5802 §7), the key derivation (§3) and both sides' checks (§5).
//!
//! ```text
//! client-first:  gs2-header client-first-bare     n,,n=user,r=<cnonce>
//! server-first:  r=<cnonce><snonce>,s=<salt>,i=<iterations>
//! client-final:  c=<base64 gs2-header>,r=<nonce>,p=<ClientProof>
//! server-final:  v=<ServerSignature>  or  e=<server-error>
//! ```
//!
//! Nothing here does I/O or draws random numbers except [`fresh_nonce`]; every function is
//! pure, so the RFC's examples are reproduced exactly (tests below, and the vector
//! catalogue `scenarios/vectors/catalogue.toml`).

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

use super::{decode_base64, encode_base64};

/// RFC 7677 §4: "the hash iteration-count SHOULD be at least 4096".
pub const MIN_ITERATIONS: u32 = 4096;

/// The hash a SCRAM mechanism is built on (RFC 5802 §4: SCRAM-SHA-1; RFC 7677 §3:
/// SCRAM-SHA-256).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hash {
    /// SHA-1: SCRAM-SHA-1 (RFC 5802 §4).
    Sha1,
    /// SHA-256: SCRAM-SHA-256 (RFC 7677 §3).
    Sha256,
}

/// A SCRAM mechanism: its hash, and whether it is the channel-binding `-PLUS` variant
/// (RFC 5802 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mechanism {
    /// The hash.
    pub hash: Hash,
    /// `-PLUS`: channel binding required (RFC 5802 §6).
    pub plus: bool,
}

impl Mechanism {
    /// SCRAM-SHA-1.
    pub const SHA1: Mechanism = Mechanism {
        hash: Hash::Sha1,
        plus: false,
    };
    /// SCRAM-SHA-256.
    pub const SHA256: Mechanism = Mechanism {
        hash: Hash::Sha256,
        plus: false,
    };

    /// The SASL name (`SCRAM-SHA-256`, `SCRAM-SHA-1-PLUS`, ...).
    pub fn name(self) -> &'static str {
        match (self.hash, self.plus) {
            (Hash::Sha1, false) => "SCRAM-SHA-1",
            (Hash::Sha1, true) => "SCRAM-SHA-1-PLUS",
            (Hash::Sha256, false) => "SCRAM-SHA-256",
            (Hash::Sha256, true) => "SCRAM-SHA-256-PLUS",
        }
    }

    /// The mechanism named `name`, in any case.
    pub fn from_name(name: &str) -> Option<Mechanism> {
        [Hash::Sha1, Hash::Sha256]
            .into_iter()
            .flat_map(|hash| [false, true].map(|plus| Mechanism { hash, plus }))
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }
}

impl Hash {
    /// `H(str)` (RFC 5802 §2.2).
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest as _;
        match self {
            Hash::Sha1 => Sha1::digest(data).to_vec(),
            Hash::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    /// `HMAC(key, str)` (RFC 5802 §2.2, RFC 2104).
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
            let mut m = <M as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        match self {
            Hash::Sha1 => mac::<Hmac<Sha1>>(key, data),
            Hash::Sha256 => mac::<Hmac<Sha256>>(key, data),
        }
    }

    /// `Hi(str, salt, i)`, which is PBKDF2 with HMAC as the PRF and dkLen the hash's output
    /// length (RFC 5802 §2.2).
    pub fn hi(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Hash::Sha1 => {
                pbkdf2::pbkdf2_hmac_array::<Sha1, 20>(password, salt, iterations).to_vec()
            }
            Hash::Sha256 => {
                pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec()
            }
        }
    }
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// What the server stores for a user (RFC 5802 §3): the salt, the iteration count, StoredKey
/// and ServerKey. The password itself is not needed to verify a client.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The salt.
    pub salt: Vec<u8>,
    /// The iteration count `i`.
    pub iterations: u32,
    /// `StoredKey := H(ClientKey)`.
    pub stored_key: Vec<u8>,
    /// `ServerKey := HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// The keys of RFC 5802 §3 derived from a password.
#[derive(Clone, PartialEq, Eq)]
pub struct Keys {
    /// `SaltedPassword := Hi(Normalize(password), salt, i)`.
    pub salted_password: Vec<u8>,
    /// `ClientKey := HMAC(SaltedPassword, "Client Key")`.
    pub client_key: Vec<u8>,
    /// `StoredKey := H(ClientKey)`.
    pub stored_key: Vec<u8>,
    /// `ServerKey := HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys { .. }")
    }
}

impl Keys {
    /// Derives the keys (RFC 5802 §3). The password is used as given: SASLprep (RFC 4013)
    /// leaves ASCII passwords without control characters unchanged, and those are the ones
    /// the suite uses.
    pub fn derive(hash: Hash, password: &str, salt: &[u8], iterations: u32) -> Keys {
        let salted_password = hash.hi(password.as_bytes(), salt, iterations);
        let client_key = hash.hmac(&salted_password, b"Client Key");
        let stored_key = hash.digest(&client_key);
        let server_key = hash.hmac(&salted_password, b"Server Key");
        Keys {
            salted_password,
            client_key,
            stored_key,
            server_key,
        }
    }

    /// What the server keeps of these keys.
    pub fn credentials(&self, salt: &[u8], iterations: u32) -> Credentials {
        Credentials {
            salt: salt.to_vec(),
            iterations,
            stored_key: self.stored_key.clone(),
            server_key: self.server_key.clone(),
        }
    }
}

/// A SCRAM message that breaks the grammar of RFC 5802 §7, or an exchange that cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    /// A challenge that is not strict base64 (RFC 5034 §4).
    #[error("SCRAM challenge is not base64")]
    NotBase64,
    /// Not UTF-8 (RFC 5802 §7: the messages are UTF-8).
    #[error("SCRAM message is not UTF-8")]
    NotUtf8,
    /// The GS2 header is not `n,`, `y,` or `p=NAME,` followed by an optional `a=` and `,`
    /// (RFC 5802 §7 `gs2-header`).
    #[error("malformed GS2 header")]
    Gs2Header,
    /// A required attribute is missing or out of order.
    #[error("missing attribute {0}=")]
    Missing(char),
    /// An attribute value breaks its grammar.
    #[error("invalid value of attribute {0}=")]
    Invalid(char),
    /// `m=` (reserved for future extensibility, RFC 5802 §5.1): the exchange MUST fail.
    #[error("mandatory extension m= not supported")]
    MandatoryExtension,
    /// A saslname with `=` not followed by `2C` or `3D` (RFC 5802 §5.1).
    #[error("invalid saslname escape")]
    Escape,
    /// The server's nonce does not start with the client's (RFC 5802 §5.1 `r=`).
    #[error("the server nonce does not start with the client nonce")]
    NonceMismatch,
    /// The server sent `e=` (RFC 5802 §7 `server-error`).
    #[error("server error: {0}")]
    ServerError(String),
    /// The server's signature is not the one the password gives (RFC 5802 §5: the client
    /// verifies it).
    #[error("the server signature does not verify")]
    BadServerSignature,
    /// An iteration count of 0, or one beyond this implementation's limit.
    #[error("iteration count {0} out of range")]
    Iterations(u64),
}

/// Escapes a user name for `n=` (RFC 5802 §5.1: `,` as `=2C`, `=` as `=3D`).
pub fn escape_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// Undoes [`escape_saslname`]; any other `=` sequence is an error (RFC 5802 §5.1: the server
/// MUST fail the authentication).
pub fn unescape_saslname(name: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let esc = rest.get(i + 1..i + 3).ok_or(ScramError::Escape)?;
        out.push(match esc {
            "2C" => ',',
            "3D" => '=',
            _ => return Err(ScramError::Escape),
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A nonce of printable characters other than `,` (RFC 5802 §7 `c-nonce`/`s-nonce`).
fn valid_nonce(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// A fresh random nonce: 24 octets from the operating system's random source, base64 (which
/// never contains `,`).
pub fn fresh_nonce() -> String {
    let mut bytes = [0u8; 24];
    getrandom::getrandom(&mut bytes).expect("the operating system's random source");
    encode_base64(&bytes)
}

/// A fresh random salt of 16 octets.
pub fn fresh_salt() -> Vec<u8> {
    let mut bytes = vec![0u8; 16];
    getrandom::getrandom(&mut bytes).expect("the operating system's random source");
    bytes
}

/// The GS2 header's channel-binding flag (RFC 5802 §7 `gs2-cbind-flag`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelBinding {
    /// `n`: the client does not support channel binding.
    None,
    /// `y`: the client supports it but thinks the server does not.
    SupportedNotUsed,
    /// `p=NAME`: the client requires channel binding of type NAME.
    Required(String),
}

/// A parsed client-first-message (RFC 5802 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The channel-binding flag.
    pub cbind: ChannelBinding,
    /// `a=`: the authorization identity, unescaped.
    pub authzid: Option<String>,
    /// `n=`: the user name, unescaped.
    pub user: String,
    /// `r=`: the client nonce.
    pub nonce: String,
    /// The GS2 header exactly as sent (`n,,`), which `c=` must repeat.
    pub gs2_header: String,
    /// `client-first-message-bare` exactly as sent, part of the AuthMessage.
    pub bare: String,
}

impl ClientFirst {
    /// A client-first-message for `user` and `nonce`, without channel binding (`n,,`).
    pub fn new(user: &str, nonce: &str) -> ClientFirst {
        ClientFirst::with_flag(ChannelBinding::None, user, nonce)
    }

    /// A client-first-message with the given channel-binding flag.
    pub fn with_flag(cbind: ChannelBinding, user: &str, nonce: &str) -> ClientFirst {
        let flag = match &cbind {
            ChannelBinding::None => "n".to_owned(),
            ChannelBinding::SupportedNotUsed => "y".to_owned(),
            ChannelBinding::Required(name) => format!("p={name}"),
        };
        ClientFirst {
            cbind,
            authzid: None,
            user: user.to_owned(),
            nonce: nonce.to_owned(),
            gs2_header: format!("{flag},,"),
            bare: format!("n={},r={nonce}", escape_saslname(user)),
        }
    }

    /// The message as sent: `gs2-header client-first-message-bare`.
    pub fn message(&self) -> String {
        format!("{}{}", self.gs2_header, self.bare)
    }

    /// Parses a decoded client-first-message (RFC 5802 §7).
    pub fn parse(message: &[u8]) -> Result<ClientFirst, ScramError> {
        let text = std::str::from_utf8(message).map_err(|_| ScramError::NotUtf8)?;
        let (flag, rest) = text.split_once(',').ok_or(ScramError::Gs2Header)?;
        let cbind = match flag {
            "n" => ChannelBinding::None,
            "y" => ChannelBinding::SupportedNotUsed,
            _ => match flag.strip_prefix("p=") {
                Some(name)
                    if !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') =>
                {
                    ChannelBinding::Required(name.to_owned())
                }
                _ => return Err(ScramError::Gs2Header),
            },
        };
        let (authz, bare) = rest.split_once(',').ok_or(ScramError::Gs2Header)?;
        let authzid = match authz {
            "" => None,
            _ => Some(unescape_saslname(
                authz.strip_prefix("a=").ok_or(ScramError::Gs2Header)?,
            )?),
        };
        let gs2_header = text[..text.len() - bare.len()].to_owned();
        let mut attrs = bare.split(',');
        let first = attrs.next().unwrap_or_default();
        if first.starts_with("m=") {
            return Err(ScramError::MandatoryExtension);
        }
        let user = first.strip_prefix("n=").ok_or(ScramError::Missing('n'))?;
        let user = unescape_saslname(user)?;
        if user.is_empty() {
            return Err(ScramError::Invalid('n'));
        }
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Missing('r'))?;
        if !valid_nonce(nonce) {
            return Err(ScramError::Invalid('r'));
        }
        Ok(ClientFirst {
            cbind,
            authzid,
            user,
            nonce: nonce.to_owned(),
            gs2_header,
            bare: bare.to_owned(),
        })
    }
}

/// A parsed server-first-message (RFC 5802 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFirst {
    /// `r=`: the client nonce followed by the server's.
    pub nonce: String,
    /// `s=`: the salt, decoded.
    pub salt: Vec<u8>,
    /// `i=`: the iteration count.
    pub iterations: u32,
    /// The message exactly as received, part of the AuthMessage.
    pub text: String,
}

/// The highest iteration count a client of this suite computes (a hostile server could ask
/// for 2^32 - 1 and stall it for hours).
pub const MAX_ITERATIONS: u32 = 1_000_000;

impl ServerFirst {
    /// The message a server sends.
    pub fn new(nonce: &str, salt: &[u8], iterations: u32) -> ServerFirst {
        ServerFirst {
            nonce: nonce.to_owned(),
            salt: salt.to_vec(),
            iterations,
            text: format!("r={nonce},s={},i={iterations}", encode_base64(salt)),
        }
    }

    /// Parses a decoded server-first-message (RFC 5802 §7: `[reserved-mext ","] nonce ","
    /// salt "," iteration-count ["," extensions]`).
    pub fn parse(message: &[u8]) -> Result<ServerFirst, ScramError> {
        let text = std::str::from_utf8(message).map_err(|_| ScramError::NotUtf8)?;
        let mut attrs = text.split(',');
        let mut first = attrs.next().unwrap_or_default();
        if first.starts_with("m=") {
            return Err(ScramError::MandatoryExtension);
        }
        if let Some(e) = first.strip_prefix("e=") {
            return Err(ScramError::ServerError(e.to_owned()));
        }
        let nonce = first.strip_prefix("r=").ok_or(ScramError::Missing('r'))?;
        if !valid_nonce(nonce) {
            return Err(ScramError::Invalid('r'));
        }
        first = attrs.next().unwrap_or_default();
        let salt = first.strip_prefix("s=").ok_or(ScramError::Missing('s'))?;
        let salt = decode_base64(salt).map_err(|_| ScramError::Invalid('s'))?;
        let count = attrs
            .next()
            .and_then(|a| a.strip_prefix("i="))
            .ok_or(ScramError::Missing('i'))?;
        if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) || count.starts_with('0')
        {
            return Err(ScramError::Invalid('i'));
        }
        let n: u64 = count.parse().map_err(|_| ScramError::Invalid('i'))?;
        let iterations = u32::try_from(n).map_err(|_| ScramError::Iterations(n))?;
        Ok(ServerFirst {
            nonce: nonce.to_owned(),
            salt,
            iterations,
            text: text.to_owned(),
        })
    }
}

/// `AuthMessage := client-first-message-bare + "," + server-first-message + "," +
/// client-final-message-without-proof` (RFC 5802 §3).
pub fn auth_message(client_first_bare: &str, server_first: &str, without_proof: &str) -> String {
    format!("{client_first_bare},{server_first},{without_proof}")
}

/// `client-final-message-without-proof`: `c=base64(gs2-header [cbind-data]),r=nonce`
/// (RFC 5802 §7).
pub fn without_proof(gs2_header: &str, cbind_data: &[u8], nonce: &str) -> String {
    let mut c = gs2_header.as_bytes().to_vec();
    c.extend_from_slice(cbind_data);
    format!("c={},r={nonce}", encode_base64(&c))
}

/// The client side of one exchange, from the client-first-message on.
#[derive(Debug, Clone)]
pub struct Client {
    /// The mechanism.
    pub mechanism: Mechanism,
    /// What was sent first.
    pub first: ClientFirst,
    /// Channel-binding data for `c=` (empty without channel binding).
    pub cbind_data: Vec<u8>,
}

/// What the client sends last, and what it expects back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFinal {
    /// The client-final-message.
    pub message: String,
    /// The ServerSignature the server must send in `v=` (RFC 5802 §3), base64.
    pub server_signature: String,
}

impl Client {
    /// A client for `user` with nonce `nonce`, no channel binding.
    pub fn new(mechanism: Mechanism, user: &str, nonce: &str) -> Client {
        Client {
            mechanism,
            first: ClientFirst::new(user, nonce),
            cbind_data: Vec::new(),
        }
    }

    /// A client of a `-PLUS` mechanism: `p=kind` in the GS2 header and the channel's binding
    /// `data` after it in `c=` (RFC 5802 §6, §7 `cbind-input`).
    pub fn with_channel_binding(
        mechanism: Mechanism,
        user: &str,
        nonce: &str,
        kind: &str,
        data: Vec<u8>,
    ) -> Client {
        Client {
            mechanism,
            first: ClientFirst::with_flag(ChannelBinding::Required(kind.to_owned()), user, nonce),
            cbind_data: data,
        }
    }

    /// The client-first-message.
    pub fn first_message(&self) -> String {
        self.first.message()
    }

    /// Answers the server-first-message (RFC 5802 §5: the client checks that the nonce
    /// starts with its own, then proves the password). `max_iterations` bounds the work a
    /// server can ask for.
    pub fn finish(
        &self,
        password: &str,
        server_first: &[u8],
        max_iterations: u32,
    ) -> Result<ClientFinal, ScramError> {
        let sf = ServerFirst::parse(server_first)?;
        if !sf.nonce.starts_with(&self.first.nonce) {
            return Err(ScramError::NonceMismatch);
        }
        if sf.iterations > max_iterations {
            return Err(ScramError::Iterations(sf.iterations.into()));
        }
        Ok(self.final_message(password, &sf))
    }

    /// The client-final-message for a parsed server-first-message, with no check of the
    /// nonce: for cases that send it anyway to see what the server does.
    pub fn final_message(&self, password: &str, sf: &ServerFirst) -> ClientFinal {
        let hash = self.mechanism.hash;
        let keys = Keys::derive(hash, password, &sf.salt, sf.iterations);
        let wp = without_proof(&self.first.gs2_header, &self.cbind_data, &sf.nonce);
        let am = auth_message(&self.first.bare, &sf.text, &wp);
        let client_signature = hash.hmac(&keys.stored_key, am.as_bytes());
        let proof = xor(&keys.client_key, &client_signature);
        let server_signature = hash.hmac(&keys.server_key, am.as_bytes());
        ClientFinal {
            message: format!("{wp},p={}", encode_base64(&proof)),
            server_signature: encode_base64(&server_signature),
        }
    }
}

/// Checks a server-final-message against the expected ServerSignature (RFC 5802 §5: the
/// client verifies it; §7 `server-final-message = (server-error / verifier) ["," extensions]`).
pub fn verify_server_final(message: &[u8], expected_signature: &str) -> Result<(), ScramError> {
    let text = std::str::from_utf8(message).map_err(|_| ScramError::NotUtf8)?;
    let first = text.split(',').next().unwrap_or_default();
    if let Some(e) = first.strip_prefix("e=") {
        return Err(ScramError::ServerError(e.to_owned()));
    }
    let v = first.strip_prefix("v=").ok_or(ScramError::Missing('v'))?;
    if v == expected_signature {
        Ok(())
    } else {
        Err(ScramError::BadServerSignature)
    }
}

/// A parsed client-final-message (RFC 5802 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFinalParsed {
    /// `c=`, decoded: the GS2 header and any channel-binding data.
    pub channel_binding: Vec<u8>,
    /// `r=`.
    pub nonce: String,
    /// `p=`, decoded.
    pub proof: Vec<u8>,
    /// `client-final-message-without-proof` exactly as sent.
    pub without_proof: String,
}

impl ClientFinalParsed {
    /// Parses a decoded client-final-message: `c=...,r=...[,extensions],p=...`.
    pub fn parse(message: &[u8]) -> Result<ClientFinalParsed, ScramError> {
        let text = std::str::from_utf8(message).map_err(|_| ScramError::NotUtf8)?;
        let (without, proof) = text.rsplit_once(",p=").ok_or(ScramError::Missing('p'))?;
        let proof = decode_base64(proof).map_err(|_| ScramError::Invalid('p'))?;
        let mut attrs = without.split(',');
        let c = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(ScramError::Missing('c'))?;
        let channel_binding = decode_base64(c).map_err(|_| ScramError::Invalid('c'))?;
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Missing('r'))?;
        Ok(ClientFinalParsed {
            channel_binding,
            nonce: nonce.to_owned(),
            proof,
            without_proof: without.to_owned(),
        })
    }
}

/// Why the server refuses a client-final-message (RFC 5802 §7 `server-error-value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The message does not parse.
    #[error("invalid-encoding")]
    InvalidEncoding,
    /// `c=` is not the GS2 header of the client-first-message.
    #[error("channel-bindings-dont-match")]
    ChannelBindingsDontMatch,
    /// `r=` is not the nonce of the server-first-message.
    #[error("other-error")]
    NonceMismatch,
    /// The proof does not verify.
    #[error("invalid-proof")]
    InvalidProof,
}

/// The server side of one exchange, after it answered the client-first-message.
#[derive(Debug, Clone)]
pub struct Server {
    /// The mechanism.
    pub mechanism: Mechanism,
    /// The client-first-message.
    pub first: ClientFirst,
    /// The server-first-message sent.
    pub server_first: ServerFirst,
    /// The user's stored credentials.
    pub credentials: Credentials,
    /// Channel-binding data the server expects after the GS2 header in `c=`.
    pub cbind_data: Vec<u8>,
}

impl Server {
    /// Answers a parsed client-first-message: the combined nonce is the client's followed by
    /// `server_nonce` (RFC 5802 §5.1 `r=`).
    pub fn new(
        mechanism: Mechanism,
        first: ClientFirst,
        credentials: Credentials,
        server_nonce: &str,
    ) -> Server {
        let nonce = format!("{}{server_nonce}", first.nonce);
        let server_first = ServerFirst::new(&nonce, &credentials.salt, credentials.iterations);
        Server {
            mechanism,
            first,
            server_first,
            credentials,
            cbind_data: Vec::new(),
        }
    }

    /// Checks the client-final-message (RFC 5802 §3: the server verifies ClientProof by
    /// recomputing ClientKey from it and comparing H(ClientKey) with StoredKey) and returns
    /// the server-final-message (`v=ServerSignature`).
    pub fn finish(&self, message: &[u8]) -> Result<String, Refusal> {
        let cf = ClientFinalParsed::parse(message).map_err(|_| Refusal::InvalidEncoding)?;
        let mut expected_c = self.first.gs2_header.as_bytes().to_vec();
        expected_c.extend_from_slice(&self.cbind_data);
        if cf.channel_binding != expected_c {
            return Err(Refusal::ChannelBindingsDontMatch);
        }
        if cf.nonce != self.server_first.nonce {
            return Err(Refusal::NonceMismatch);
        }
        let hash = self.mechanism.hash;
        let am = auth_message(&self.first.bare, &self.server_first.text, &cf.without_proof);
        let client_signature = hash.hmac(&self.credentials.stored_key, am.as_bytes());
        if cf.proof.len() != client_signature.len() {
            return Err(Refusal::InvalidProof);
        }
        let client_key = xor(&cf.proof, &client_signature);
        if hash.digest(&client_key) != self.credentials.stored_key {
            return Err(Refusal::InvalidProof);
        }
        Ok(self.verifier(&am))
    }

    /// `v=ServerSignature` for an AuthMessage.
    pub fn verifier(&self, auth_message: &str) -> String {
        let sig = self
            .mechanism
            .hash
            .hmac(&self.credentials.server_key, auth_message.as_bytes());
        format!("v={}", encode_base64(&sig))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5802 §5: SCRAM-SHA-1, user "user", password "pencil".
    const SHA1_CLIENT_FIRST: &str = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
    const SHA1_SERVER_FIRST: &str =
        "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
    const SHA1_CLIENT_FINAL: &str =
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
    const SHA1_SERVER_FINAL: &str = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";

    /// RFC 7677 §3: SCRAM-SHA-256, user "user", password "pencil".
    const SHA256_CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const SHA256_SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const SHA256_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SHA256_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn known_answer(
        mech: Mechanism,
        cnonce: &str,
        client_first: &str,
        server_first: &str,
        client_final: &str,
        server_final: &str,
    ) {
        let client = Client::new(mech, "user", cnonce);
        assert_eq!(client.first_message(), client_first);
        let fin = client
            .finish("pencil", server_first.as_bytes(), MAX_ITERATIONS)
            .unwrap();
        assert_eq!(fin.message, client_final);
        verify_server_final(server_final.as_bytes(), &fin.server_signature).unwrap();

        // the server side, from the same salt and count, with the RFC's server nonce
        let cf = ClientFirst::parse(client_first.as_bytes()).unwrap();
        let sf = ServerFirst::parse(server_first.as_bytes()).unwrap();
        let creds = Keys::derive(mech.hash, "pencil", &sf.salt, sf.iterations)
            .credentials(&sf.salt, sf.iterations);
        let snonce = &sf.nonce[cnonce.len()..];
        let server = Server::new(mech, cf, creds, snonce);
        assert_eq!(server.server_first.text, server_first);
        assert_eq!(
            server.finish(client_final.as_bytes()).as_deref(),
            Ok(server_final)
        );
        // a wrong password gives a proof the server refuses
        let wrong = client
            .finish("pencil!", server_first.as_bytes(), MAX_ITERATIONS)
            .unwrap();
        assert_eq!(
            server.finish(wrong.message.as_bytes()),
            Err(Refusal::InvalidProof)
        );
        assert_eq!(
            verify_server_final(b"v=AAAA", &fin.server_signature),
            Err(ScramError::BadServerSignature)
        );
    }

    #[test]
    fn rfc5802_section5_sha1() {
        known_answer(
            Mechanism::SHA1,
            "fyko+d2lbbFgONRv9qkxdawL",
            SHA1_CLIENT_FIRST,
            SHA1_SERVER_FIRST,
            SHA1_CLIENT_FINAL,
            SHA1_SERVER_FINAL,
        );
    }

    #[test]
    fn rfc7677_section3_sha256() {
        known_answer(
            Mechanism::SHA256,
            "rOprNGfwEbeRWgbNEkqO",
            SHA256_CLIENT_FIRST,
            SHA256_SERVER_FIRST,
            SHA256_CLIENT_FINAL,
            SHA256_SERVER_FINAL,
        );
    }

    /// RFC 6070 §2, PBKDF2-HMAC-SHA1 test vectors 1 and 2 (Hi() is PBKDF2).
    #[test]
    fn hi_is_pbkdf2() {
        let hex = |b: &[u8]| super::super::apop::hex(b);
        assert_eq!(
            hex(&Hash::Sha1.hi(b"password", b"salt", 1)),
            "0c60c80f961f0e71f3a9b524af6012062fe037a6"
        );
        assert_eq!(
            hex(&Hash::Sha1.hi(b"password", b"salt", 2)),
            "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"
        );
    }

    #[test]
    fn saslnames() {
        assert_eq!(escape_saslname("a,b=c"), "a=2Cb=3Dc");
        assert_eq!(unescape_saslname("a=2Cb=3Dc").unwrap(), "a,b=c");
        assert_eq!(unescape_saslname("a=2cb"), Err(ScramError::Escape));
        assert_eq!(unescape_saslname("a="), Err(ScramError::Escape));
        let cf = ClientFirst::new("a,b=c", "xyz");
        assert_eq!(cf.message(), "n,,n=a=2Cb=3Dc,r=xyz");
        assert_eq!(ClientFirst::parse(cf.message().as_bytes()).unwrap(), cf);
    }

    #[test]
    fn client_first_grammar() {
        let y = ClientFirst::parse(b"y,,n=user,r=abc").unwrap();
        assert_eq!(y.cbind, ChannelBinding::SupportedNotUsed);
        assert_eq!(y.gs2_header, "y,,");
        let p = ClientFirst::parse(b"p=tls-exporter,a=admin,n=user,r=abc").unwrap();
        assert_eq!(p.cbind, ChannelBinding::Required("tls-exporter".into()));
        assert_eq!(p.authzid.as_deref(), Some("admin"));
        assert_eq!(p.bare, "n=user,r=abc");
        for bad in [
            &b"x,,n=user,r=abc"[..],
            b"n,n=user,r=abc",
            b"n,,r=abc",
            b"n,,n=user",
            b"n,,n=,r=abc",
            b"n,,m=ext,n=user,r=abc",
            b"n,,n=us=er,r=abc",
        ] {
            assert!(ClientFirst::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn client_checks_the_server() {
        let client = Client::new(Mechanism::SHA256, "user", "abc");
        assert_eq!(
            client.finish("p", b"r=xyz123,s=QSXCR+Q6sek8bf92,i=4096", MAX_ITERATIONS),
            Err(ScramError::NonceMismatch)
        );
        assert_eq!(
            client.finish(
                "p",
                b"r=abc123,s=QSXCR+Q6sek8bf92,i=4000000000",
                MAX_ITERATIONS
            ),
            Err(ScramError::Iterations(4_000_000_000))
        );
        assert_eq!(
            client.finish("p", b"e=unknown-user", MAX_ITERATIONS),
            Err(ScramError::ServerError("unknown-user".into()))
        );
        for bad in [
            &b"r=abc123,s=!!,i=4096"[..],
            b"r=abc123,s=QSXCR+Q6sek8bf92",
            b"r=abc123,s=QSXCR+Q6sek8bf92,i=0",
            b"r=abc123,s=QSXCR+Q6sek8bf92,i=x",
            b"s=QSXCR+Q6sek8bf92,i=4096",
        ] {
            assert!(client.finish("p", bad, MAX_ITERATIONS).is_err(), "{bad:?}");
        }
        assert_eq!(
            verify_server_final(b"e=invalid-proof", "x"),
            Err(ScramError::ServerError("invalid-proof".into()))
        );
    }

    #[test]
    fn server_checks_binding_and_nonce() {
        let mech = Mechanism::SHA1;
        let salt = b"salt".to_vec();
        let creds = Keys::derive(mech.hash, "pencil", &salt, 4096).credentials(&salt, 4096);
        let cf = ClientFirst::parse(SHA1_CLIENT_FIRST.as_bytes()).unwrap();
        let server = Server::new(mech, cf, creds, "SERVER");
        assert!(server
            .server_first
            .nonce
            .starts_with("fyko+d2lbbFgONRv9qkxdawL"));
        let client = Client::new(mech, "user", "fyko+d2lbbFgONRv9qkxdawL");
        let fin = client.final_message("pencil", &server.server_first);
        let v = server.finish(fin.message.as_bytes()).unwrap();
        verify_server_final(v.as_bytes(), &fin.server_signature).unwrap();
        // c= of another header
        let other = fin.message.replacen("c=biws", "c=eSws", 1);
        assert_eq!(
            server.finish(other.as_bytes()),
            Err(Refusal::ChannelBindingsDontMatch)
        );
        let nonce = fin.message.replacen("SERVER", "SERVEX", 1);
        assert_eq!(server.finish(nonce.as_bytes()), Err(Refusal::NonceMismatch));
        assert_eq!(server.finish(b"garbage"), Err(Refusal::InvalidEncoding));
    }

    #[test]
    fn mechanism_names() {
        assert_eq!(
            Mechanism::from_name("scram-sha-256-plus"),
            Some(Mechanism {
                hash: Hash::Sha256,
                plus: true
            })
        );
        assert_eq!(Mechanism::from_name("SCRAM-SHA-1"), Some(Mechanism::SHA1));
        assert_eq!(Mechanism::from_name("SCRAM-MD5"), None);
        let nonce = fresh_nonce();
        assert!(valid_nonce(&nonce) && nonce != fresh_nonce());
    }

    /// SCRAM-SHA-256-PLUS (RFC 5802 §6): `p=tls-exporter` in the GS2 header, `c=` the base64
    /// of the header followed by the binding data; the server refuses other data.
    #[test]
    fn channel_binding_in_c() {
        let data = vec![7u8; 32];
        let client = Client::with_channel_binding(
            Mechanism::from_name("SCRAM-SHA-256-PLUS").unwrap(),
            "user",
            "abc",
            "tls-exporter",
            data.clone(),
        );
        assert_eq!(client.first_message(), "p=tls-exporter,,n=user,r=abc");
        let first = ClientFirst::parse(client.first_message().as_bytes()).unwrap();
        assert_eq!(first.cbind, ChannelBinding::Required("tls-exporter".into()));
        let salt = b"salt".to_vec();
        let creds = Keys::derive(Hash::Sha256, "pencil", &salt, 4096).credentials(&salt, 4096);
        let mut server = Server::new(client.mechanism, first, creds, "srv");
        let fin = client
            .finish("pencil", server.server_first.text.as_bytes(), 4096)
            .unwrap();
        // c= is base64("p=tls-exporter,," + data)
        let mut cbind = b"p=tls-exporter,,".to_vec();
        cbind.extend_from_slice(&data);
        let c = format!("c={},", super::super::encode_base64(&cbind));
        assert!(fin.message.starts_with(&c), "{}", fin.message);
        server.cbind_data = vec![8u8; 32];
        assert_eq!(
            server.finish(fin.message.as_bytes()),
            Err(Refusal::ChannelBindingsDontMatch)
        );
        server.cbind_data = data;
        assert_eq!(
            server.finish(fin.message.as_bytes()),
            Ok(format!("v={}", fin.server_signature))
        );
    }
}
