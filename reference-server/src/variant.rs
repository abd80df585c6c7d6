//! Permitted variations: choices the RFCs leave to the server, each one a real, compliant
//! server makes (never on unless named).
//!
//! Where [`crate::fault`] is the false-negative control of the selfcheck (the catalogue must
//! catch every fault), the variants are its false-positive control: the catalogue must pass
//! against each one (or find the case not applicable), because a case that fails a server the
//! RFCs allow is a wrong case. `conform serve --variant NAME`, `conform run --variant NAME` or
//! [`crate::Config::variants`] turns one on; `conform selfcheck` runs the catalogue against
//! each in turn.
//!
//! Each variant is a small switch at the place in the server it changes; every variant names
//! the RFC text that permits it ([`Variant::permitted_by`]).
//!
//! Not a variant: a server without the maildrop lock whose sessions each work on a snapshot
//! taken at login (Dovecot's default, `pop3_lock_session = no`). RFC 1939 §4 has the server
//! lock the maildrop "as necessary to prevent messages from being modified or removed before
//! the session enters the UPDATE state"; with snapshots, a second session's UPDATE does remove
//! messages the first session still lists (a third session sees them gone, and a store that
//! cannot keep a removed message's content fails the first session's RETR). The "as
//! necessary" leaves the mechanism open, not the outcome. That server is the fault
//! [`crate::Fault::NoMaildropLock`].

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

macro_rules! variants {
    ($( $(#[doc = $extra:literal])* $variant:ident => $name:literal, $doc:literal, $rfc:literal; )*) => {
        /// One permitted variation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Variant {
            $( #[doc = $doc] #[doc = ""] #[doc = concat!("Permitted by ", $rfc)] $(#[doc = $extra])* $variant, )*
        }

        impl Variant {
            /// Every variant.
            pub const ALL: &'static [Variant] = &[$(Variant::$variant),*];

            /// The variant's name on the command line.
            pub fn name(self) -> &'static str {
                match self { $(Variant::$variant => $name,)* }
            }

            /// What the server does differently.
            pub fn describe(self) -> &'static str {
                match self { $(Variant::$variant => $doc,)* }
            }

            /// The RFC text that permits it (section and quotation).
            pub fn permitted_by(self) -> &'static str {
                match self { $(Variant::$variant => $rfc,)* }
            }
        }
    };
}

variants! {
    /// CAPA, AUTH, STLS and UTF8 are unknown commands; the server has no TLS at all (the
    /// bundled server then binds no implicit-TLS listener) and allows plaintext logins; no
    /// reply carries a response code.
    NoCapa => "no-capa",
        "A pure RFC 1939 server: CAPA, AUTH, STLS and UTF8 answer -ERR (unknown command), no TLS listener, no response codes; USER/PASS (plaintext allowed), APOP with the greeting timestamp, TOP and UIDL work.",
        "RFC 2449 §5: \"An -ERR response indicates the capability command is not implemented and the client will have to probe for capabilities as before.\" RFC 2449 §7: \"Clients MUST NOT require the presence of any extension for basic functionality\". RFC 1939 §4: \"there is no single authentication mechanism that is required of all POP3 servers\".";
    /// The reverse of the server's default, which is the anti-enumeration choice (USER
    /// answers +OK for any name, RFC 1939 §7: "The server may return a positive response even
    /// though no such mailbox exists", and an unknown name fails only at PASS, with the same
    /// -ERR as a wrong password): the clean runs of the selfcheck already cover that one.
    UserRejectsUnknown => "user-rejects-unknown",
        "USER of a name with no mailbox answers -ERR at once (the default answers +OK to any name and refuses only at PASS, so as not to tell which names exist).",
        "RFC 1939 §7 (USER): \"Possible Responses: +OK name is a valid mailbox -ERR never heard of mailbox name\"; the example \"C: USER frated S: -ERR sorry, no mailbox for frated here\".";
    StrictSequencing => "strict-sequencing",
        "A second USER after a successful USER (before PASS) is refused with -ERR and forgets the first name, so the PASS after it is refused too; PASS without USER is -ERR (as always).",
        "RFC 1939 §7 (USER): \"may only be given in the AUTHORIZATION state after the POP3 greeting or after an unsuccessful USER or PASS command\"; (PASS): \"may only be given in the AUTHORIZATION state immediately after a successful USER command\".";
    StlsRefusedAfterUser => "stls-refused-after-user",
        "STLS after a successful USER (before PASS) answers -ERR and the session stays in plaintext AUTHORIZATION with the name given (the default starts TLS and forgets the name).",
        "RFC 2595 §4 (STLS): \"Possible Responses: +OK -ERR\" with no condition on -ERR (\"A -ERR response MAY result if a security layer is already active\" is one reason, not the only one); RFC 1939 §3: a command the server will not execute now gets -ERR.";
    NoRespCodes => "no-resp-codes",
        "No reply carries a [...] response code, and CAPA announces neither RESP-CODES nor AUTH-RESP-CODE.",
        "RFC 2449 §8: \"If a server supports extended response codes, it indicates this by including the RESP-CODES capability in the CAPA response.\" (optional); RFC 3206 defines AUTH-RESP-CODE as one more such capability, which a server announces only if it sends the codes.";
    TopWholeMessage => "top-whole-message",
        "TOP msg n with n larger than the body, also a 20-digit n beyond any integer type, sends the entire message (the default answers -ERR to a line count beyond 2^32-1).",
        "RFC 1939 §7 (TOP): \"if the number of lines requested by the POP3 client is greater than than the number of lines in the body, then the POP3 server sends the entire message.\"";
    /// [`crate::maildrop::Maildrop::rewrite`]: in-memory maildrops only; on Maildir the
    /// switch does nothing.
    StoreRewritten => "store-rewritten",
        "Like an mbox server: when a session ends (QUIT or a dropped connection) every message left without a Status: header gains \"Status: RO\" and \"X-UID: <unique-id>\" at the top, so sizes change between sessions without any DELE; bodies and unique-ids stay; within a session sizes and contents are consistent.",
        "RFC 1939 §5: sizes are the octets of the message as the session sends it (nothing promises them across sessions); RFC 1939 §7 (UIDL): only the unique-id \"persists across sessions\"; RFC 1939 §8: servers store and rewrite maildrops as they see fit (\"outside the scope of the POP3 protocol\").";
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A variant name that does not exist.
#[derive(Debug, thiserror::Error)]
#[error("unknown variant {0:?}; known variants: {known}", known = Variant::ALL.iter().map(|v| v.name()).collect::<Vec<_>>().join(", "))]
pub struct UnknownVariant(pub String);

impl FromStr for Variant {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Variant, UnknownVariant> {
        Variant::ALL
            .iter()
            .copied()
            .find(|v| v.name() == s)
            .ok_or_else(|| UnknownVariant(s.to_owned()))
    }
}

/// The variants in force; empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variants(BTreeSet<Variant>);

impl Variants {
    /// No variant: the server's defaults.
    pub fn none() -> Variants {
        Variants::default()
    }

    /// Turns `variant` on.
    pub fn with(mut self, variant: Variant) -> Variants {
        self.0.insert(variant);
        self
    }

    /// Whether `variant` is on.
    pub fn has(&self, variant: Variant) -> bool {
        self.0.contains(&variant)
    }

    /// Whether the server offers TLS at all (not under [`Variant::NoCapa`]).
    pub fn tls(&self) -> bool {
        !self.has(Variant::NoCapa)
    }

    /// Whether replies carry RFC 2449 §8 response codes.
    pub fn resp_codes(&self) -> bool {
        !self.has(Variant::NoCapa) && !self.has(Variant::NoRespCodes)
    }
}

/// `reply` with the response code (`[...] `) cut from every status line that has one.
pub fn strip_resp_codes(reply: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(reply.len());
    for line in reply.split_inclusive(|&b| b == b'\n') {
        let status = ["+OK [", "-ERR ["]
            .iter()
            .find(|s| line.starts_with(s.as_bytes()));
        match (status, memchr::memchr(b']', line)) {
            (Some(s), Some(close)) => {
                out.extend_from_slice(&line[..s.len() - 1]);
                let rest = &line[close + 1..];
                out.extend_from_slice(rest.strip_prefix(b" ").unwrap_or(rest));
            }
            _ => out.extend_from_slice(line),
        }
    }
    out
}

/// The line count of `TOP msg n` taken as "the whole message" when `n` is a number too large
/// for the codec ([`Variant::TopWholeMessage`]): the line with `n` replaced by 2^32-1, or
/// `None` when the line is not such a TOP.
pub fn top_saturated(line: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(line).ok()?;
    let words: Vec<&str> = text.split(' ').collect();
    match words.as_slice() {
        [keyword, msg, lines]
            if keyword.eq_ignore_ascii_case("TOP")
                && !lines.is_empty()
                && lines.bytes().all(|b| b.is_ascii_digit())
                && lines.parse::<u32>().is_err() =>
        {
            Some(format!("{keyword} {msg} {}", u32::MAX).into_bytes())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_every_variant_quotes_its_rfc() {
        for v in Variant::ALL {
            assert_eq!(v.name().parse::<Variant>().unwrap(), *v);
            assert!(v.permitted_by().contains("RFC"), "{v}");
            assert!(v.permitted_by().contains('"'), "{v}: quote the RFC");
        }
        let e = "nope".parse::<Variant>().unwrap_err().to_string();
        assert!(e.contains("no-capa"), "{e}");
    }

    #[test]
    fn response_codes_are_cut() {
        assert_eq!(
            strip_resp_codes(b"-ERR [AUTH] bad\r\n-ERR [SYS/TEMP] x\r\n"),
            b"-ERR bad\r\n-ERR x\r\n"
        );
        assert_eq!(strip_resp_codes(b"+OK [x\r\n"), b"+OK [x\r\n");
        assert_eq!(
            strip_resp_codes(b"-ERR no [AUTH]\r\n"),
            b"-ERR no [AUTH]\r\n"
        );
    }

    #[test]
    fn top_line_counts_saturate() {
        assert_eq!(
            top_saturated(b"top 7 99999999999999999999").unwrap(),
            b"top 7 4294967295"
        );
        assert_eq!(top_saturated(b"TOP 7 10"), None);
        assert_eq!(top_saturated(b"TOP 7 -1"), None);
        assert_eq!(top_saturated(b"RETR 99999999999999999999"), None);
    }
}
