//! Checks the authentication vector catalogue, `scenarios/vectors/catalogue.toml`, with
//! pop3-proto's own authentication functions.
//!
//! For every checkable vector the value is computed from the catalogued inputs and compared
//! with what the source printed: equal when `verifies = true`, different when
//! `verifies = false`, so a wrong value in a source is proven wrong, not just claimed to be.
//! Where an entry says why a printed value is wrong, the test checks that too: `computed`
//! is what the inputs really give, each `explained_by` input set reproduces the printed value
//! and each `tried` input set does not. Entries with `checkable = false` must say why; they
//! are counted in the summary, never skipped silently.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::path::PathBuf;

use hmac::{Hmac, Mac};
use md5::Md5;
use pop3_proto::auth::plain::Plain;
use pop3_proto::auth::{self, apop, cram_md5, login, scram};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalogue {
    vector: Vec<Vector>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Kind {
    Apop,
    CramMd5,
    Plain,
    Login,
    Base64,
    HmacMd5,
    Scram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Apop => "apop",
            Kind::CramMd5 => "cram-md5",
            Kind::Plain => "plain",
            Kind::Login => "login",
            Kind::Base64 => "base64",
            Kind::HmacMd5 => "hmac-md5",
            Kind::Scram => "scram",
        }
    }
}

/// The inputs a vector is computed from; also the shape of `tried` and `explained_by`
/// entries, whose fields replace the vector's own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Inputs {
    timestamp: Option<String>,
    secret: Option<String>,
    challenge_base64: Option<String>,
    challenge: Option<String>,
    user: Option<String>,
    authzid: Option<String>,
    authcid: Option<String>,
    passwd: Option<String>,
    text: Option<String>,
    bytes_hex: Option<String>,
    key: Option<String>,
    key_hex: Option<String>,
    data_hex: Option<String>,
    mechanism: Option<String>,
    client_nonce: Option<String>,
    server_first: Option<String>,
}

impl Inputs {
    fn overridden_by(&self, o: &Inputs) -> Inputs {
        let pick = |mine: &Option<String>, theirs: &Option<String>| theirs.clone().or(mine.clone());
        Inputs {
            timestamp: pick(&self.timestamp, &o.timestamp),
            secret: pick(&self.secret, &o.secret),
            challenge_base64: pick(&self.challenge_base64, &o.challenge_base64),
            challenge: pick(&self.challenge, &o.challenge),
            user: pick(&self.user, &o.user),
            authzid: pick(&self.authzid, &o.authzid),
            authcid: pick(&self.authcid, &o.authcid),
            passwd: pick(&self.passwd, &o.passwd),
            text: pick(&self.text, &o.text),
            bytes_hex: pick(&self.bytes_hex, &o.bytes_hex),
            key: pick(&self.key, &o.key),
            key_hex: pick(&self.key_hex, &o.key_hex),
            data_hex: pick(&self.data_hex, &o.data_hex),
            mechanism: pick(&self.mechanism, &o.mechanism),
            client_nonce: pick(&self.client_nonce, &o.client_nonce),
            server_first: pick(&self.server_first, &o.server_first),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    id: String,
    kind: Kind,
    source: String,
    // inputs (see `Inputs`)
    timestamp: Option<String>,
    secret: Option<String>,
    challenge_base64: Option<String>,
    challenge: Option<String>,
    user: Option<String>,
    authzid: Option<String>,
    authcid: Option<String>,
    passwd: Option<String>,
    text: Option<String>,
    bytes_hex: Option<String>,
    key: Option<String>,
    key_hex: Option<String>,
    data_hex: Option<String>,
    mechanism: Option<String>,
    client_nonce: Option<String>,
    server_first: Option<String>,
    /// cram-md5: digest | response | response-base64; plain: base64 | nul-notation;
    /// scram: client-first | client-final | server-final.
    output: Option<String>,
    /// hmac-md5: hex (default) | 0x-hex.
    printed_format: Option<String>,
    /// The value exactly as the source prints it (lines it breaks for layout joined).
    printed: String,
    #[serde(default = "yes")]
    checkable: bool,
    verifies: Option<bool>,
    reason: Option<String>,
    #[allow(dead_code)]
    note: Option<String>,
    /// What the inputs really give, asserted.
    computed: Option<String>,
    /// Whether `printed` is strict base64 (RFC 5034 §4), asserted.
    decodes: Option<bool>,
    /// plain: the length of the message, as an ACAP literal prints it.
    octets: Option<usize>,
    /// `printed` is byte for byte that of another entry.
    copied_from: Option<String>,
    #[serde(default)]
    tried: Vec<Inputs>,
    #[serde(default)]
    explained_by: Vec<Inputs>,
}

fn yes() -> bool {
    true
}

impl Vector {
    fn inputs(&self) -> Inputs {
        Inputs {
            timestamp: self.timestamp.clone(),
            secret: self.secret.clone(),
            challenge_base64: self.challenge_base64.clone(),
            challenge: self.challenge.clone(),
            user: self.user.clone(),
            authzid: self.authzid.clone(),
            authcid: self.authcid.clone(),
            passwd: self.passwd.clone(),
            text: self.text.clone(),
            bytes_hex: self.bytes_hex.clone(),
            key: self.key.clone(),
            key_hex: self.key_hex.clone(),
            data_hex: self.data_hex.clone(),
            mechanism: self.mechanism.clone(),
            client_nonce: self.client_nonce.clone(),
            server_first: self.server_first.clone(),
        }
    }

    /// The value the vector's inputs give, rendered the way the source prints it; `None` when
    /// an input it needs is not catalogued.
    fn compute(&self, inputs: &Inputs) -> Option<String> {
        compute(
            self.kind,
            self.output.as_deref(),
            self.printed_format.as_deref(),
            inputs,
        )
    }
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn vectors_dir() -> PathBuf {
    manifest_dir().join("../../scenarios/vectors")
}

fn load() -> Vec<Vector> {
    let path = vectors_dir().join("catalogue.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let catalogue: Catalogue =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    catalogue.vector
}

fn from_hex(hex: &str) -> Vec<u8> {
    assert!(hex.len() % 2 == 0, "odd-length hex {hex:?}");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or_else(|e| panic!("{hex:?}: {e}")))
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac_md5(key: &[u8], data: &[u8]) -> String {
    let mut mac = Hmac::<Md5>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    to_hex(&mac.finalize().into_bytes())
}

/// `<NUL>` for each NUL octet, as RFC 4616 and RFC 2595 print PLAIN messages.
fn nul_notation(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec())
        .expect("PLAIN message is UTF-8")
        .replace('\0', "<NUL>")
}

fn plain_of(inputs: &Inputs) -> Option<Plain> {
    Some(Plain {
        authzid: inputs.authzid.clone()?,
        authcid: inputs.authcid.clone()?,
        passwd: inputs.passwd.clone()?,
    })
}

/// The bytes a base64 or login vector encodes.
fn message_bytes(inputs: &Inputs) -> Option<Vec<u8>> {
    match (&inputs.text, &inputs.bytes_hex) {
        (Some(_), Some(_)) => panic!("both text and bytes_hex given"),
        (Some(text), None) => Some(text.as_bytes().to_vec()),
        (None, Some(hex)) => Some(from_hex(hex)),
        (None, None) => None,
    }
}

fn challenge_bytes(inputs: &Inputs) -> Option<Vec<u8>> {
    match (&inputs.challenge_base64, &inputs.challenge) {
        (Some(_), Some(_)) => panic!("both challenge_base64 and challenge given"),
        (Some(b64), None) => Some(
            cram_md5::decode_challenge(b64)
                .unwrap_or_else(|e| panic!("challenge {b64:?} is not base64: {e}")),
        ),
        (None, Some(text)) => Some(text.as_bytes().to_vec()),
        (None, None) => None,
    }
}

fn compute(
    kind: Kind,
    output: Option<&str>,
    printed_format: Option<&str>,
    inputs: &Inputs,
) -> Option<String> {
    match kind {
        Kind::Apop => {
            let timestamp = inputs.timestamp.as_deref()?;
            let secret = inputs.secret.as_deref()?;
            let digest = apop::digest(timestamp, secret);
            assert!(apop::verify(
                timestamp,
                secret,
                &digest.to_ascii_uppercase()
            ));
            Some(digest)
        }
        Kind::CramMd5 => {
            let challenge = challenge_bytes(inputs)?;
            let secret = inputs.secret.as_deref()?;
            match output.expect("cram-md5 needs output") {
                "digest" => Some(cram_md5::digest(&challenge, secret)),
                "response" => Some(cram_md5::response(
                    inputs.user.as_deref()?,
                    &challenge,
                    secret,
                )),
                "response-base64" => Some(cram_md5::response_base64(
                    inputs.user.as_deref()?,
                    &challenge,
                    secret,
                )),
                other => panic!("unknown cram-md5 output {other:?}"),
            }
        }
        Kind::Plain => {
            let plain = plain_of(inputs)?;
            match output.expect("plain needs output") {
                "base64" => Some(plain.to_base64()),
                "nul-notation" => Some(nul_notation(&plain.to_bytes())),
                other => panic!("unknown plain output {other:?}"),
            }
        }
        Kind::Login => {
            let text = inputs.text.as_deref()?;
            let encoded = auth::encode_base64(text.as_bytes());
            if text == login::USERNAME_PROMPT {
                assert_eq!(login::username_challenge(), encoded);
            }
            if text == login::PASSWORD_PROMPT {
                assert_eq!(login::password_challenge(), encoded);
            }
            Some(encoded)
        }
        Kind::Base64 => Some(auth::encode_base64(&message_bytes(inputs)?)),
        Kind::Scram => {
            let mechanism = inputs.mechanism.as_deref()?;
            let mechanism = scram::Mechanism::from_name(mechanism)
                .unwrap_or_else(|| panic!("unknown SCRAM mechanism {mechanism:?}"));
            let client = scram::Client::new(
                mechanism,
                inputs.user.as_deref()?,
                inputs.client_nonce.as_deref()?,
            );
            match output.expect("scram needs output") {
                "client-first" => Some(client.first_message()),
                out @ ("client-final" | "server-final") => {
                    let server_first = inputs.server_first.as_deref()?;
                    let fin = client
                        .finish(
                            inputs.secret.as_deref()?,
                            server_first.as_bytes(),
                            scram::MAX_ITERATIONS,
                        )
                        .unwrap_or_else(|e| panic!("server-first {server_first:?}: {e}"));
                    Some(if out == "client-final" {
                        fin.message
                    } else {
                        format!("v={}", fin.server_signature)
                    })
                }
                other => panic!("unknown scram output {other:?}"),
            }
        }
        Kind::HmacMd5 => {
            let data = match (&inputs.text, &inputs.data_hex) {
                (Some(text), None) => text.as_bytes().to_vec(),
                (None, Some(hex)) => from_hex(hex),
                _ => panic!("hmac-md5 needs exactly one of text and data_hex"),
            };
            let digest = match (&inputs.key, &inputs.key_hex) {
                (Some(key), None) => {
                    // a text key: the crate's CRAM-MD5 digest is HMAC-MD5(key, text)
                    let digest = cram_md5::digest(&data, key);
                    assert_eq!(digest, hmac_md5(key.as_bytes(), &data));
                    digest
                }
                (None, Some(hex)) => {
                    let key = from_hex(hex);
                    let digest = hmac_md5(&key, &data);
                    if let Ok(key) = std::str::from_utf8(&key) {
                        assert_eq!(cram_md5::digest(&data, key), digest);
                    }
                    digest
                }
                _ => panic!("hmac-md5 needs exactly one of key and key_hex"),
            };
            match printed_format.unwrap_or("hex") {
                "hex" => Some(digest),
                "0x-hex" => Some(format!("0x{digest}")),
                other => panic!("unknown printed_format {other:?}"),
            }
        }
    }
}

/// Checks that hold when the printed value is right: decoding it gives back the inputs.
fn check_reverse(v: &Vector) {
    let inputs = v.inputs();
    match v.kind {
        Kind::Apop => {
            let (ts, secret) = (inputs.timestamp.unwrap(), inputs.secret.unwrap());
            assert!(apop::verify(&ts, &secret, &v.printed), "{}", v.id);
        }
        Kind::CramMd5 => {
            let challenge = challenge_bytes(&inputs).unwrap();
            let secret = inputs.secret.as_deref().unwrap();
            let response = match v.output.as_deref() {
                Some("response") => Some(v.printed.as_bytes().to_vec()),
                Some("response-base64") => Some(auth::decode_base64(&v.printed).unwrap()),
                _ => None,
            };
            if let Some(response) = response {
                let (user, digest) =
                    cram_md5::parse_response(&response).unwrap_or_else(|e| panic!("{}: {e}", v.id));
                assert_eq!(Some(user), inputs.user, "{}", v.id);
                assert_eq!(digest, cram_md5::digest(&challenge, secret), "{}", v.id);
            }
        }
        Kind::Plain => {
            let plain = plain_of(&inputs).unwrap();
            let message = match v.output.as_deref() {
                Some("base64") => auth::decode_base64(&v.printed).unwrap(),
                _ => v.printed.replace("<NUL>", "\0").into_bytes(),
            };
            assert_eq!(Plain::parse(&message), Ok(plain), "{}", v.id);
        }
        Kind::Login | Kind::Base64 => {
            let bytes = message_bytes(&inputs).unwrap();
            assert_eq!(auth::decode_base64(&v.printed), Ok(bytes), "{}", v.id);
        }
        Kind::HmacMd5 => {}
        Kind::Scram => {
            // the server side accepts what the client side computed, from the stored keys alone
            let mechanism =
                scram::Mechanism::from_name(inputs.mechanism.as_deref().unwrap()).unwrap();
            let (user, nonce) = (inputs.user.unwrap(), inputs.client_nonce.unwrap());
            let Some(server_first) = inputs.server_first else {
                return;
            };
            let sf = scram::ServerFirst::parse(server_first.as_bytes()).unwrap();
            let creds = scram::Keys::derive(
                mechanism.hash,
                &inputs.secret.unwrap(),
                &sf.salt,
                sf.iterations,
            )
            .credentials(&sf.salt, sf.iterations);
            let first = scram::ClientFirst::new(&user, &nonce);
            let server = scram::Server::new(mechanism, first, creds, &sf.nonce[nonce.len()..]);
            assert_eq!(server.server_first.text, server_first, "{}", v.id);
            if v.output.as_deref() == Some("client-final") {
                assert!(server.finish(v.printed.as_bytes()).is_ok(), "{}", v.id);
            }
        }
    }
}

#[derive(Debug, Default)]
struct Tally {
    total: usize,
    verify: usize,
    wrong: usize,
    unchecked: usize,
}

fn check(v: &Vector, by_id: &HashMap<&str, &Vector>) -> Result<(), String> {
    let id = &v.id;
    let inputs = v.inputs();
    let computed = v.compute(&inputs);
    let reason_given = v.reason.as_deref().is_some_and(|r| !r.trim().is_empty());

    if let Some(expected) = &v.computed {
        let got = computed
            .as_ref()
            .ok_or_else(|| format!("{id}: `computed` given but the inputs are incomplete"))?;
        if got != expected {
            return Err(format!(
                "{id}: inputs give {got:?}, catalogue says {expected:?}"
            ));
        }
    }

    if v.checkable {
        let verifies = v
            .verifies
            .ok_or_else(|| format!("{id}: a checkable vector needs `verifies`"))?;
        let got = computed.ok_or_else(|| format!("{id}: checkable but an input is missing"))?;
        if verifies {
            if got != v.printed {
                return Err(format!(
                    "{id}: verifies = true, but the inputs give {got:?}, not the printed {:?}",
                    v.printed
                ));
            }
            if v.reason.is_some() {
                return Err(format!("{id}: a verifying vector has no `reason`"));
            }
            check_reverse(v);
        } else {
            if got == v.printed {
                return Err(format!(
                    "{id}: verifies = false, but the inputs give the printed {got:?}"
                ));
            }
            if !reason_given {
                return Err(format!("{id}: verifies = false needs a `reason`"));
            }
            if v.computed.is_none() {
                return Err(format!("{id}: verifies = false needs `computed`"));
            }
            if v.kind == Kind::Apop {
                let (ts, secret) = (inputs.timestamp.as_deref(), inputs.secret.as_deref());
                assert!(
                    !apop::verify(ts.unwrap(), secret.unwrap(), &v.printed),
                    "{id}"
                );
            }
        }
    } else {
        if v.verifies.is_some() {
            return Err(format!("{id}: checkable = false takes no `verifies`"));
        }
        if !reason_given {
            return Err(format!("{id}: checkable = false needs a `reason`"));
        }
    }

    if let Some(decodes) = v.decodes {
        let decoded = auth::decode_base64(&v.printed);
        if decoded.is_ok() != decodes {
            return Err(format!(
                "{id}: decodes = {decodes}, but decoding gives {decoded:?}"
            ));
        }
        if let (Kind::Plain, Ok(message)) = (v.kind, &decoded) {
            let parsed = Plain::parse(message).map_err(|e| format!("{id}: {e}"))?;
            if plain_of(&inputs).is_some_and(|p| p != parsed) {
                return Err(format!(
                    "{id}: decodes to {parsed:?}, not the catalogued fields"
                ));
            }
        }
    }

    for (i, t) in v.tried.iter().enumerate() {
        let got = v
            .compute(&inputs.overridden_by(t))
            .ok_or_else(|| format!("{id}: tried[{i}] leaves an input missing"))?;
        if got == v.printed {
            return Err(format!(
                "{id}: tried[{i}] {t:?} does give the printed value"
            ));
        }
    }
    for (i, e) in v.explained_by.iter().enumerate() {
        let got = v
            .compute(&inputs.overridden_by(e))
            .ok_or_else(|| format!("{id}: explained_by[{i}] leaves an input missing"))?;
        if got != v.printed {
            return Err(format!(
                "{id}: explained_by[{i}] {e:?} gives {got:?}, not the printed value"
            ));
        }
    }
    if !v.explained_by.is_empty() && v.verifies != Some(false) {
        return Err(format!(
            "{id}: explained_by is for vectors with verifies = false"
        ));
    }

    if let Some(other) = &v.copied_from {
        let original = by_id
            .get(other.as_str())
            .ok_or_else(|| format!("{id}: copied_from names no vector {other:?}"))?;
        if original.printed != v.printed {
            return Err(format!("{id}: printed differs from that of {other}"));
        }
    }

    if let Some(octets) = v.octets {
        let plain = plain_of(&inputs).ok_or_else(|| format!("{id}: octets needs a plain"))?;
        if plain.to_bytes().len() != octets {
            return Err(format!(
                "{id}: the message is {} octets, not {octets}",
                plain.to_bytes().len()
            ));
        }
    }
    Ok(())
}

#[test]
fn catalogue_is_well_formed() {
    let vectors = load();
    let mut seen = HashSet::new();
    for v in &vectors {
        assert!(
            !v.id.is_empty() && !v.source.trim().is_empty(),
            "{v:?} needs an id and a source"
        );
        assert!(seen.insert(v.id.as_str()), "duplicate id {:?}", v.id);
    }

    let has = |kind: Kind, source: &str| {
        vectors
            .iter()
            .filter(|v| v.kind == kind && v.source.starts_with(source) && v.verifies == Some(true))
            .count()
    };
    assert!(
        has(Kind::Apop, "RFC 1939 ") >= 1,
        "the RFC 1939 APOP example"
    );
    assert!(
        has(Kind::CramMd5, "RFC 2195 ") >= 1,
        "the RFC 2195 CRAM-MD5 example"
    );
    assert!(
        has(Kind::Plain, "RFC 4616 ") >= 2,
        "the two RFC 4616 PLAIN examples"
    );
    assert!(
        has(Kind::HmacMd5, "RFC 2104 ") >= 3,
        "the RFC 2104 test vectors"
    );
    assert!(
        has(Kind::Scram, "RFC 5802 ") >= 3 && has(Kind::Scram, "RFC 7677 ") >= 3,
        "the RFC 5802 §5 (SCRAM-SHA-1) and RFC 7677 §3 (SCRAM-SHA-256) exchanges"
    );
    assert!(
        vectors.iter().any(|v| v.source.starts_with("seed ")),
        "the seed vectors"
    );
}

#[test]
fn every_vector_checks() {
    let vectors = load();
    let by_id: HashMap<&str, &Vector> = vectors.iter().map(|v| (v.id.as_str(), v)).collect();
    let mut tallies: BTreeMap<Kind, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut wrong = Vec::new();
    for v in &vectors {
        let tally = tallies.entry(v.kind).or_default();
        tally.total += 1;
        match (v.checkable, v.verifies) {
            (false, _) => tally.unchecked += 1,
            (true, Some(true)) => tally.verify += 1,
            _ => {
                tally.wrong += 1;
                wrong.push(v.id.as_str());
            }
        }
        if let Err(e) = check(v, &by_id) {
            failures.push(e);
        }
    }

    // straight to stderr, past the test harness's capture, so the summary always shows
    let mut out = std::io::stderr().lock();
    let mut all = Tally::default();
    for (kind, t) in &tallies {
        writeln!(
            out,
            "vectors: {:<9} {:>3} vectors, {:>3} verify, {:>3} wrong in the source, {:>3} not checkable",
            kind.name(),
            t.total,
            t.verify,
            t.wrong,
            t.unchecked
        )
        .unwrap();
        all.total += t.total;
        all.verify += t.verify;
        all.wrong += t.wrong;
        all.unchecked += t.unchecked;
    }
    writeln!(
        out,
        "vectors: {:<9} {:>3} vectors, {:>3} verify, {:>3} wrong in the source, {:>3} not checkable",
        "all", all.total, all.verify, all.wrong, all.unchecked
    )
    .unwrap();
    writeln!(out, "vectors: proven wrong: {}", wrong.join(", ")).unwrap();

    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// README.md has, under `## Vectors`, one table row per vector,
/// `| \`id\` | kind | source | verdict | reason |`, with verdict `yes`, `**no**` or `unchecked`.
#[test]
fn readme_lists_every_vector() {
    let vectors = load();
    let path = vectors_dir().join("README.md");
    let readme = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let rows: HashMap<String, Vec<String>> = readme
        .lines()
        .skip_while(|l| l.trim() != "## Vectors")
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_owned())
                .collect();
            (cells[0].trim_matches('`').to_owned(), cells)
        })
        .collect();
    let ids: HashSet<&str> = vectors.iter().map(|v| v.id.as_str()).collect();
    for id in rows.keys() {
        assert!(
            ids.contains(id.as_str()),
            "README lists {id:?}, the catalogue does not"
        );
    }
    for v in &vectors {
        let row = rows
            .get(&v.id)
            .unwrap_or_else(|| panic!("README.md has no row for {:?}", v.id));
        assert!(
            row.len() >= 4,
            "README row for {:?} is short: {row:?}",
            v.id
        );
        assert_eq!(row[1], v.kind.name(), "README kind of {:?}", v.id);
        let verdict = match (v.checkable, v.verifies) {
            (false, _) => "unchecked",
            (true, Some(true)) => "yes",
            _ => "**no**",
        };
        assert_eq!(row[3], verdict, "README verdict of {:?}", v.id);
    }
}
