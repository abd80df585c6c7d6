//! `parse_str` never panics, whatever the input (the fuzz target relies on it).

use proptest::prelude::*;

use super::HEADER;
use crate::parse_str;

/// Fragments that exercise the grammar, glued together at random.
const ATOMS: &[&str] = &[
    "id: ",
    "title: ",
    "rfc: ",
    "level: ",
    "requirement: ",
    "requires: ",
    "tags: ",
    "fixture: ",
    "mutates: ",
    "---",
    "===",
    "\n",
    "\r\n",
    "  ",
    "\t",
    "#",
    "C: ",
    "C!: ",
    "S: ",
    "S|: ",
    "S~: ",
    "S*: ",
    "S!: ",
    "B: ",
    "open ",
    "use ",
    "starttls",
    "drop",
    "eof",
    "assert ",
    "{",
    "}",
    "{{",
    "}}",
    "{*}",
    "{/",
    "/}",
    "{x}",
    "{n:",
    "[0-9]+",
    "\\",
    "\"",
    "(",
    ")",
    ",",
    "apop(",
    "repeat(",
    "sum(",
    "count(",
    "unique(",
    "==",
    "!=",
    "octets=",
    "fixture=",
    "top=1,",
    "capture=",
    "user",
    "password",
    "1939 §",
    "MUST",
    "x",
    "é",
    "§",
    "\u{0}",
    "\u{feff}",
    "99999999999999999999999",
    "\\x",
    "[",
    "]",
    "^",
];

/// A valid file using most features, to mutate.
const RICH: &str = r#"id: rfc1939/7/apop
title: T
rfc: RFC 1939 §7
level: MUST
requirement: "a \"quoted\" text
  folded"
requires: APOP, SASL PLAIN
tags: a, b
fixture: standard
mutates: no
---
S: +OK {*} <{stamp}>
C: APOP {user} {apop(stamp, password)}
S|: +OK {a:[0-9]+} {*}
S|: -ERR {a} {/x{2}/}
S~: {b}
S~: B
C!: {repeat("a\x41", 3)}{crlf()}
S*: {n:\d+} {s}
B: octets=s lines=3 top=1,2 capture=body fixture=7
assert sum(s) == count(n)
assert unique(body)
open s2
S!: {{x}} {b}
use main
starttls
drop
eof
===
id: x
title: x
rfc: 2449
level: may
requirement: "r"
---
C:
"#;

fn atoms() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ATOMS), 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_str("f.pop3", &bytes);
    }

    #[test]
    fn arbitrary_text(text in "\\PC{0,300}") {
        let _ = parse_str("f.pop3", &text);
    }

    #[test]
    fn grammar_fragments(text in atoms()) {
        let _ = parse_str("f.pop3", &text);
        let _ = parse_str("f.pop3", format!("{HEADER}{text}"));
    }

    #[test]
    fn valid_file_with_insertions(
        edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(ATOMS)), 1..6)
    ) {
        let mut text = RICH.to_string();
        for (at, atom) in edits {
            let mut i = at.index(text.len() + 1);
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            text.insert_str(i, atom);
        }
        let _ = parse_str("f.pop3", &text);
    }

    #[test]
    fn one_step_line(line in atoms()) {
        let line = line.replace(['\n', '\r'], " ");
        for prefix in ["C: ", "S: ", "B: ", "assert ", "S!: ", "S*: "] {
            let _ = parse_str("f.pop3", format!("{HEADER}S: {{a}} {{b:x}}\n{prefix}{line}\n"));
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!(
        "{HEADER}C: {{{}user{}}}\n",
        "base64(".repeat(100_000),
        ")".repeat(100_000)
    );
    let err = parse_str("f.pop3", deep).unwrap_err();
    assert!(err.to_string().contains("nested more than"), "{err}");
}

#[test]
fn valid_files_survive_truncation_and_byte_flips() {
    let text = format!(
        "{HEADER}S: +OK {{*}} <{{stamp}}>\nC: APOP {{user}} {{apop(stamp, password)}}\nS*: {{n:[0-9]+}} {{s}}\nB: octets=s lines=3 top=1,2\nassert sum(s) == 4\n"
    );
    let bytes = text.as_bytes();
    for cut in 0..=bytes.len() {
        let _ = parse_str("f.pop3", &bytes[..cut]);
    }
    for i in 0..bytes.len() {
        for b in [b'{', b'}', b'\n', b'"', b'\\', 0xff, b' ', b':', b'('] {
            let mut m = bytes.to_vec();
            m[i] = b;
            let _ = parse_str("f.pop3", &m);
        }
    }
}

#[test]
fn rich_file_is_valid() {
    let cases = parse_str("f.pop3", RICH).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(cases.len(), 2);
}

#[test]
fn regressions() {
    // Found by the property tests: slicing inside a multi-byte character.
    for text in ["rfc: {{é", "rfc: é", "id: t\nrfc: RFé"] {
        let _ = parse_str("f.pop3", text);
    }
}
