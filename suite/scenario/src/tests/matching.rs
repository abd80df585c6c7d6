//! Known answers of line matching (LANGUAGE.md §3.2): the regex each pattern compiles to,
//! and what it matches and captures. They pin the semantics the runner relies on.

use super::{only_action, steps};
use crate::plan::{Action, Pattern};

/// The pattern of a single `S:` line.
fn pattern(text: &str) -> Pattern {
    match only_action(&format!("S: {text}\n")) {
        Action::Expect(p) => p,
        other => panic!("{other:?}"),
    }
}

/// The pattern of an `S:` line after one that captures `name`, so `{name}` is a
/// back-reference.
fn after_capture(name: &str, text: &str) -> Pattern {
    let s = steps(&format!("S: {{{name}}}\nS: {text}\n"));
    match &s[1].action {
        Action::Expect(p) => p.clone(),
        other => panic!("{other:?}"),
    }
}

/// The captures of `line`, as text; `None` when it does not match. `bound` gives the
/// back-references' values.
fn captures(p: &Pattern, line: &[u8], bound: &[(&str, &[u8])]) -> Option<Vec<(String, String)>> {
    let caps = p.match_line(line, |name| {
        bound.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    })?;
    Some(
        caps.into_iter()
            .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
            .collect(),
    )
}

fn hits(p: &Pattern, line: &str) -> bool {
    captures(p, line.as_bytes(), &[]).is_some()
}

fn pair(n: &str, v: &str) -> (String, String) {
    (n.to_owned(), v.to_owned())
}

#[test]
fn fixed_patterns_carry_their_compiled_regex() {
    let p = pattern("+OK {n:\\d+} {*}");
    let re = p.regex.as_ref().map(|r| r.0.as_str());
    assert_eq!(re, Some(r"(?s-u)^\+OK ((?u:\d+))(?: .*)?$"));
    let p = pattern("{*} x {/[a-z]+/} {w}.");
    let re = p.regex.as_ref().map(|r| r.0.as_str());
    assert_eq!(re, Some(r"(?s-u)^.*? x (?u:[a-z]+) ((?u:.*?))\.$"));
    // a back-reference depends on the value bound at run time: built then
    let p = after_capture("count", "+OK {count} {*}");
    assert!(p.regex.is_none());
    assert_eq!(
        p.regex_text(|_| Some(&b"1.5"[..])).as_deref(),
        Some(r"(?s-u)^\+OK 1\.5(?: .*)?$")
    );
}

#[test]
fn trailing_wildcard_is_optional_with_its_space() {
    let p = pattern("+OK {*}");
    assert!(hits(&p, "+OK"));
    assert!(hits(&p, "+OK "));
    assert!(hits(&p, "+OK 2 messages (320 octets)"));
    assert!(!hits(&p, "+OKAY"));
    assert!(!hits(&p, "-ERR"));
    // only at the very end: in the middle the space is literal, the wildcard may be empty
    let p = pattern("+OK {*} messages");
    assert!(hits(&p, "+OK  messages"));
    assert!(hits(&p, "+OK 2 messages"));
    assert!(!hits(&p, "+OK messages"));
    // alone, it matches every line, the empty one too
    let p = pattern("{*}");
    assert!(hits(&p, ""));
    assert!(hits(&p, "anything"));
}

#[test]
fn the_whole_line_is_matched() {
    let p = pattern("+OK");
    assert!(hits(&p, "+OK"));
    assert!(!hits(&p, "+OK x"));
    assert!(!hits(&p, "x+OK"));
    // literal text is literal: no regex syntax in it
    let p = pattern("a.b (c)");
    assert!(hits(&p, "a.b (c)"));
    assert!(!hits(&p, "axb (c)"));
    let p = pattern("{{x}}");
    assert!(hits(&p, "{x}"));
}

#[test]
fn wildcards_and_captures_take_the_shortest_match() {
    let p = pattern("{a} {b}");
    assert_eq!(
        captures(&p, b"x y z", &[]),
        Some(vec![pair("a", "x"), pair("b", "y z")])
    );
    let p = pattern("{a}{*}");
    assert_eq!(captures(&p, b"abc", &[]), Some(vec![pair("a", "")]));
    let p = pattern("{*} {last}");
    assert_eq!(captures(&p, b"1 2 3", &[]), Some(vec![pair("last", "2 3")]));
    let p = pattern("+OK {count:[0-9]+} {total:[0-9]+}");
    assert_eq!(
        captures(&p, b"+OK 2 320", &[]),
        Some(vec![pair("count", "2"), pair("total", "320")])
    );
}

#[test]
fn lines_are_bytes_and_dot_matches_every_byte() {
    // (?s-u): `{*}` takes any octet, invalid UTF-8 and LF included
    let p = pattern("a{*}b");
    assert!(p.match_line(b"a\nb", |_| None).is_some());
    assert!(p.match_line(b"a\x00\xffb", |_| None).is_some());
}

#[test]
fn regexes_in_pieces_are_unicode() {
    // (?u:...): `\w` takes the non-ASCII letter (a bytes `\w` would stop at `h`)
    let p = pattern(r"+OK {w:\w+}");
    assert_eq!(
        captures(&p, "+OK héllo".as_bytes(), &[]),
        Some(vec![pair("w", "héllo")])
    );
    let p = pattern(r"+OK {/\w+/}");
    assert!(hits(&p, "+OK héllo"));
    // `.` in a piece's regex is one character, not one byte
    let p = pattern("{c:.}");
    assert!(hits(&p, "é"));
    // so a capture, `{name}` too, takes UTF-8 text only: invalid UTF-8 is no match
    let p = pattern("+OK {x}");
    assert_eq!(p.match_line(b"+OK \xff\xfe", |_| None), None);
    let caps = p.match_line("+OK é\n".as_bytes(), |_| None);
    assert_eq!(
        caps,
        Some(vec![("x".to_owned(), "é\n".as_bytes().to_vec())])
    );
    // literal non-ASCII text is its UTF-8 bytes
    let p = pattern("é {*}");
    assert!(hits(&p, "é ok"));
}

#[test]
fn back_references_match_the_bound_value_literally() {
    let p = after_capture("count", "+OK {count} {*}");
    let bound: &[(&str, &[u8])] = &[("count", b"1.5")];
    assert_eq!(captures(&p, b"+OK 1.5 x", bound), Some(Vec::new()));
    assert_eq!(captures(&p, b"+OK 105 x", bound), None);
    // unbound (an alternative that did not match): no line matches
    assert_eq!(captures(&p, b"+OK 1.5", &[]), None);
    // the value is read as UTF-8: an invalid byte stands for U+FFFD (today's behaviour)
    let bound: &[(&str, &[u8])] = &[("count", b"\xff")];
    assert_eq!(captures(&p, b"+OK \xff", bound), None);
    assert_eq!(
        captures(&p, "+OK \u{fffd}".as_bytes(), bound),
        Some(Vec::new())
    );
}

#[test]
fn eof_matches_no_line() {
    let s = steps("S|: +OK {*}\nS|: {eof}\n");
    let Action::ExpectAnyOf(ps) = &s[0].action else {
        panic!("{:?}", s[0].action)
    };
    assert!(ps[1].is_eof() && ps[1].regex.is_none());
    assert_eq!(ps[1].match_line(b"", |_| None), None);
    assert!(ps[0].regex.is_some());
}
