//! Hostile steps for the network fuzzer (`conform fuzz`), generated: lines no command should be, valid
//! keywords with hostile arguments, bare LF, pipelined bursts, STLS with plaintext behind it.
//!
//! The types are [`crate::ops::Hostile`]; running them is [`crate::exec`]'s. Their answers are
//! judged for what every server owes any input: a well-formed reply (a
//! status line or a `+ ` continuation, CRLF-terminated, at most 512 octets, RFC 1939 §3 and
//! RFC 2449 §4), in time, on a connection that stays up (a close is allowed only where the
//! model allows one: after a -ERR before login, RFC 1939 §4). After a garbage line the session
//! is dropped, since what a lenient server made of it is unknown; pipelined bursts of
//! commands the model predicts keep the session going.

use proptest::prelude::*;

use crate::ops::{Burst, Hostile};

const KEYWORDS: &[&str] = &[
    "USER", "PASS", "APOP", "AUTH", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL",
    "CAPA", "UTF8", "XTND", "LAST", "",
];

fn argument() -> impl Strategy<Value = Vec<u8>> {
    let fixed = prop::sample::select(vec![
        "99999999999999999999",
        "18446744073709551616",
        "4294967296",
        "4294967295",
        "-1",
        "+1",
        "0x10",
        "1e9",
        "01",
        "1 1 1",
        "%s%s%s%s%n",
        "%x%x%x%x",
        "%99999999d",
        "%u",
        "%h",
        "%d",
        "%%",
        "${user}",
        "..",
        ".",
        "*",
        "=",
        "1\t1",
    ])
    .prop_map(|s| s.as_bytes().to_vec());
    prop_oneof![
        4 => fixed,
        2 => (b'A'..=b'z', 41usize..600).prop_map(|(c, n)| vec![c; n]),
        2 => proptest::collection::vec(any::<u8>().prop_filter("no line end", |b| *b != b'\r' && *b != b'\n'), 1..24),
        1 => Just(b"1\0".to_vec()),
    ]
}

fn line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => (prop::sample::select(KEYWORDS), argument()).prop_map(|(k, a)| {
            let mut l = k.as_bytes().to_vec();
            if !k.is_empty() {
                l.push(b' ');
            }
            l.extend(a);
            l
        }),
        1 => proptest::collection::vec(any::<u8>().prop_filter("no line end", |b| *b != b'\r' && *b != b'\n'), 0..64),
        1 => (b'A'..=b'Z', 1usize..9).prop_map(|(c, n)| vec![c; n]),
    ]
}

/// A hostile step.
pub fn hostile() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        6 => line().prop_map(Hostile::Line),
        1 => prop::sample::select(vec!["NOOP", "STAT", "LIST 1", "XYZZY"]).prop_map(|l| Hostile::BareLf(l.as_bytes().to_vec())),
        2 => (prop_oneof![Just(Burst::Noop), Just(Burst::Stat)], 2u8..6).prop_map(|(b, n)| Hostile::Pipelined(b, n)),
        1 => Just(Hostile::StlsInjection),
    ]
}
