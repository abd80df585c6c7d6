//! Every feature of the language compiles to the expected plan.

use super::{only_action, parse, show, steps, HEADER};
use crate::plan::{
    AExpr, Action, Assertion, BodyCheck, Condition, ConnectionMode, Expr, Fixture, Func, Level,
    Piece, RfcRef, TemplatePiece,
};

/// The illustrative example of the language, verbatim (the first example of LANGUAGE.md).
const DESIGN_EXAMPLE: &str = r#"id: rfc1939/7/apop-digest
title: APOP with the digest of the greeting's timestamp
rfc: 1939 §7
level: MUST
requires: APOP
requirement: "the server MUST ... compute the digest and compare it"
---
S: +OK {*} <{stamp}>
C: APOP {user} {apop(stamp, password)}
S: +OK {*}
C: QUIT
S: +OK {*}
"#;

#[test]
fn design_example() {
    let cases = parse(DESIGN_EXAMPLE);
    assert_eq!(cases.len(), 1);
    let c = &cases[0];
    assert_eq!(c.id, "rfc1939/7/apop-digest");
    assert_eq!(c.title, "APOP with the digest of the greeting's timestamp");
    assert_eq!(
        c.rfc,
        RfcRef {
            number: 1939,
            section: "7".into()
        }
    );
    assert_eq!(c.level, Level::Must);
    assert_eq!(c.requires, vec![Condition::Capability("APOP".into())]);
    assert_eq!(
        c.requirement,
        "the server MUST ... compute the digest and compare it"
    );
    assert!(c.tags.is_empty());
    assert_eq!(c.fixture, Fixture::Any);
    assert!(!c.mutates);
    assert_eq!((c.span.line, c.span.col), (1, 1));
    assert_eq!(c.span.file.to_str(), Some("t.pop3"));
    assert_eq!(c.steps.len(), 5);
    assert!(c.steps.iter().all(|s| s.session == 0));
    let lines: Vec<u32> = c.steps.iter().map(|s| s.span.line).collect();
    assert_eq!(lines, vec![8, 9, 10, 11, 12]);

    // S: +OK {*} <{stamp}>
    let Action::Expect(p) = &c.steps[0].action else {
        panic!("{:?}", c.steps[0].action)
    };
    assert_eq!(p.source, "+OK {*} <{stamp}>");
    assert!(matches!(
        p.pieces.as_slice(),
        [
            Piece::Literal(a),
            Piece::Wildcard { trailing: false },
            Piece::Literal(b),
            Piece::Capture { name, regex },
            Piece::Literal(c),
        ] if a == "+OK " && b == " <" && name == "stamp" && regex == ".*?" && c == ">"
    ));

    // C: APOP {user} {apop(stamp, password)}
    let Action::Send { template, crlf } = &c.steps[1].action else {
        panic!("{:?}", c.steps[1].action)
    };
    assert!(*crlf);
    assert_eq!(template.source, "APOP {user} {apop(stamp, password)}");
    assert!(matches!(
        template.pieces.as_slice(),
        [
            TemplatePiece::Literal(a),
            TemplatePiece::Expr(Expr::Var(u)),
            TemplatePiece::Literal(b),
            TemplatePiece::Expr(Expr::Call(Func::Apop, args)),
        ] if a == b"APOP " && u == "user" && b == b" "
            && matches!(args.as_slice(), [Expr::Var(s), Expr::Var(p)] if s == "stamp" && p == "password")
    ));

    // S: +OK {*}  — the trailing wildcard takes its space.
    let Action::Expect(p) = &c.steps[2].action else {
        panic!()
    };
    assert!(matches!(
        p.pieces.as_slice(),
        [Piece::Literal(a), Piece::Wildcard { trailing: true }] if a == "+OK"
    ));
    let Action::Send { template, .. } = &c.steps[3].action else {
        panic!()
    };
    assert!(matches!(template.pieces.as_slice(), [TemplatePiece::Literal(q)] if q == b"QUIT"));
}

#[test]
fn header_fields() {
    let text = r#"
# a comment before the case
id: rfc2449/5/capa-top.1_x
title:   Spaces around the title are trimmed   
rfc: RFC 2449 §5.1
level: should
requirement: "the server \"SHOULD\" say so, \\ and
    continue on indented lines,
	even with a tab"
requires: stls, top,  sasl   plain
tags: capa, smoke
fixture: standard
mutates: yes
---
S: +OK {*}
"#;
    let c = &parse(text)[0];
    assert_eq!(c.id, "rfc2449/5/capa-top.1_x");
    assert_eq!(c.title, "Spaces around the title are trimmed");
    assert_eq!(
        c.rfc,
        RfcRef {
            number: 2449,
            section: "5.1".into()
        }
    );
    assert_eq!(c.level, Level::Should);
    assert_eq!(
        c.requirement,
        r#"the server "SHOULD" say so, \ and continue on indented lines, even with a tab"#
    );
    let shown: Vec<String> = c.requires.iter().map(ToString::to_string).collect();
    assert_eq!(shown, vec!["STLS", "TOP", "SASL PLAIN"]);
    assert_eq!(c.tags, vec!["capa", "smoke"]);
    assert_eq!(c.fixture, Fixture::Standard);
    assert!(c.mutates);
    assert_eq!((c.span.line, c.span.col), (3, 1));
}

#[test]
fn rfc_and_level_forms() {
    let rfc = |v: &str| {
        let text = HEADER.replace("rfc: 1939 §7", &format!("rfc: {v}"));
        parse(&format!("{text}drop\n"))[0].rfc.clone()
    };
    assert_eq!(rfc("2449").to_string(), "RFC 2449");
    assert_eq!(rfc("1939 §7.1").to_string(), "RFC 1939 §7.1");
    assert_eq!(rfc("RFC 1939 §7").to_string(), "RFC 1939 §7");
    assert_eq!(rfc("rfc1939§4").to_string(), "RFC 1939 §4");
    let level = |v: &str| {
        let text = HEADER.replace("level: MUST", &format!("level: {v}"));
        parse(&format!("{text}drop\n"))[0].level
    };
    assert_eq!(level("must"), Level::Must);
    assert_eq!(level("MUST NOT"), Level::Must);
    assert_eq!(level("Should"), Level::Should);
    assert_eq!(level("MAY"), Level::May);
    assert_eq!(level("optional"), Level::May);
}

#[test]
fn several_cases_and_crlf() {
    let text =
        format!("{HEADER}drop\n===\n{}eof\n", HEADER.replace("t/1", "t/2")).replace('\n', "\r\n");
    let cases = parse(&text);
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[1].id, "t/2");
    assert_eq!(cases[1].span.line, 9);
    assert!(matches!(cases[1].steps[0].action, Action::ExpectClose));
    // Trailing separator and leading BOM are fine.
    let cases = parse(&format!("\u{feff}{HEADER}drop\n===\n"));
    assert_eq!(cases.len(), 1);
}

#[test]
fn send_forms() {
    let a = only_action("C: USER {user}\n");
    assert_eq!(
        format!("{a:?}"),
        r#"Send { template: Template { source: "USER {user}", pieces: [Literal([85, 83, 69, 82, 32]), Expr(Var("user"))] }, crlf: true }"#
    );
    let Action::Send { template, crlf } = only_action("C!: NOOP{crlf()}\n") else {
        panic!()
    };
    assert!(!crlf);
    assert!(matches!(template.pieces.as_slice(),
        [TemplatePiece::Literal(l), TemplatePiece::Expr(Expr::Call(Func::Crlf, a))] if l == b"NOOP" && a.is_empty()));
    // `C:` alone sends an empty line; exactly one space separates; the rest is literal.
    let Action::Send { template, .. } = only_action("C:\n") else {
        panic!()
    };
    assert!(template.pieces.is_empty());
    let Action::Send { template, .. } = only_action("  C:   two spaces   # not a comment\n") else {
        panic!()
    };
    assert!(matches!(template.pieces.as_slice(),
        [TemplatePiece::Literal(l)] if l == b"  two spaces   # not a comment"));
}

#[test]
fn template_expressions() {
    let Action::Send { template, .. } = only_action(
        r#"C: {{x}} {base64(plain("", user, password))} {repeat("A\x42\"\\", 1000)}{cr()}{lf()}{nul()} {cram_md5( "Y2g=" , user,password )} {42}
"#,
    ) else {
        panic!()
    };
    let dbg = format!("{:?}", template.pieces);
    assert_eq!(
        dbg,
        r#"[Literal([123, 120, 125, 32]), Expr(Call(Base64, [Call(Plain, [Str([]), Var("user"), Var("password")])])), Literal([32]), Expr(Call(Repeat, [Str([65, 66, 34, 92]), Int(1000)])), Expr(Call(Cr, [])), Expr(Call(Lf, [])), Expr(Call(Nul, [])), Literal([32]), Expr(Call(CramMd5, [Str([89, 50, 103, 61]), Var("user"), Var("password")])), Literal([32]), Expr(Int(42))]"#
    );
    // Strings: the remaining escapes, and a `}` inside a string.
    let Action::Send { template, .. } = only_action(r#"C: {"}\r\n\t\0é"}"#) else {
        panic!()
    };
    assert!(matches!(template.pieces.as_slice(),
        [TemplatePiece::Expr(Expr::Str(s))] if s == &b"}\r\n\t\0\xc3\xa9".to_vec()));
}

#[test]
fn pattern_pieces() {
    let Action::Expect(p) = only_action(r"S: {{lit}} {*}x{/[0-9]+/} {n:\d{1,3}} {m:[}x]+} {user}")
    else {
        panic!()
    };
    assert_eq!(
        format!("{:?}", p.pieces),
        r#"[Literal("{lit} "), Wildcard { trailing: false }, Literal("x"), Regex("[0-9]+"), Literal(" "), Capture { name: "n", regex: "\\d{1,3}" }, Literal(" "), Capture { name: "m", regex: "[}x]+" }, Literal(" "), Var("user")]"#
    );
    // A bare `{*}` is not the trailing form (no space before it); `S:` alone is an empty line.
    let Action::Expect(p) = only_action("S: {*}") else {
        panic!()
    };
    assert!(matches!(
        p.pieces.as_slice(),
        [Piece::Wildcard { trailing: false }]
    ));
    let Action::Expect(p) = only_action("S:") else {
        panic!()
    };
    assert!(p.pieces.is_empty());
    // ` {*}` after a capture: the literal space is dropped whole.
    let Action::Expect(p) = only_action("S: {a} {*}") else {
        panic!()
    };
    assert_eq!(
        format!("{:?}", p.pieces),
        r#"[Capture { name: "a", regex: ".*?" }, Wildcard { trailing: true }]"#
    );
}

#[test]
fn back_references_and_bindings() {
    let s = steps(
        "C: STAT
S: +OK {count:[0-9]+} {size:[0-9]+}
C: LIST
S: +OK {count} {*}
C: RETR {count}
S: +OK {*}
B: octets=size lines=count
",
    );
    let a = show(&s);
    assert_eq!(
        a[3],
        r#"0: Expect(Pattern { source: "+OK {count} {*}", pieces: [Literal("+OK "), Var("count"), Wildcard { trailing: true }], regex: None })"#
    );
    assert_eq!(
        a[6],
        r#"0: Body([Octets(Var("size")), Lines(Var("count"))])"#
    );
}

#[test]
fn any_of_and_unordered_groups() {
    let s = steps(
        "C: CAPA
S|: +OK {*}
S|: -ERR {*}
S~: TOP
S~: USER
  S~: UIDL {*}
S: .
S|: +OK {x}
S|: -ERR {x} {y}
C: {x}
",
    );
    let a = show(&s);
    assert_eq!(a.len(), 6);
    assert!(a[1].starts_with("0: ExpectAnyOf([Pattern { source: \"+OK {*}\""));
    assert!(matches!(&s[1].action, Action::ExpectAnyOf(v) if v.len() == 2));
    assert!(matches!(&s[2].action, Action::ExpectUnordered(v) if v.len() == 3));
    assert_eq!(s[2].span.line, 10);
    assert!(matches!(&s[3].action, Action::Expect(_)));
    assert!(matches!(&s[4].action, Action::ExpectAnyOf(v) if v.len() == 2));
}

#[test]
fn repeated_lists_and_asserts() {
    let s = steps(
        "C: STAT
S: +OK {n:[0-9]+} {total:[0-9]+}
C: LIST
S: +OK {*}
S*: {msg:[0-9]+} {size:[0-9]+}
S: .
assert sum(size) == total
assert count(msg) == n
assert count(size) != 0
assert unique(msg)
assert n == \"7\"
C: UIDL
S: +OK {*}
S!: {/.* .*\\s.*/}
S: .
C: RETR 1
S: +OK {*}
B: capture=body octets=120 fixture=1
assert unique(body)
C: TOP 1 0
S: +OK
B: top=1,0
C: RETR {msg}
S: +OK {*}
B:
",
    );
    let a = show(&s);
    assert_eq!(
        a[4],
        r#"0: ExpectRepeated(Pattern { source: "{msg:[0-9]+} {size:[0-9]+}", pieces: [Capture { name: "msg", regex: "[0-9]+" }, Literal(" "), Capture { name: "size", regex: "[0-9]+" }], regex: Some(LineRegex("(?s-u)^((?u:[0-9]+)) ((?u:[0-9]+))$")) })"#
    );
    assert_eq!(a[6], r#"0: Assert(Eq(Sum("size"), Value(Var("total"))))"#);
    assert_eq!(a[7], r#"0: Assert(Eq(Count("msg"), Value(Var("n"))))"#);
    assert_eq!(a[8], r#"0: Assert(Ne(Count("size"), Value(Int(0))))"#);
    assert_eq!(a[9], r#"0: Assert(Unique("msg"))"#);
    assert_eq!(a[10], r#"0: Assert(Eq(Value(Var("n")), Value(Str([55]))))"#);
    assert!(a[13].starts_with("0: ExpectAbsent(Pattern"));
    assert_eq!(
        a[17],
        r#"0: Body([Capture("body"), Octets(Int(120)), Fixture(1)])"#
    );
    assert!(matches!(&s[18].action, Action::Assert(Assertion::Unique(b)) if b == "body"));
    assert!(
        matches!(&s[21].action, Action::Body(v) if matches!(v.as_slice(), [BodyCheck::Top(1, 0)]))
    );
    assert!(matches!(&s[24].action, Action::Body(v) if v.is_empty()));
    assert!(matches!(
        &s[6].action,
        Action::Assert(Assertion::Eq(AExpr::Sum(_), AExpr::Value(Expr::Var(_))))
    ));
}

#[test]
fn sessions() {
    let s = steps(
        "S: +OK {*}
C: USER {user}
S: +OK {*}
C: PASS {password}
S: +OK {stat:.*}
open second
S: +OK {*}
C: USER {user}
S: +OK {*}
C: PASS {password}
S: -ERR {*}
use main
C: QUIT
S: +OK {*}
eof
open third
S: +OK {*} <{stamp}>
use second
drop
use third
C: APOP {user} {apop(stamp, password)}
starttls
",
    );
    let sessions: Vec<usize> = s.iter().map(|s| s.session).collect();
    assert_eq!(
        sessions,
        vec![0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 2, 2, 1, 2, 2]
    );
    assert!(matches!(s[5].action, Action::Open));
    assert_eq!(s[5].span.line, 12);
    assert!(matches!(s[13].action, Action::ExpectClose));
    assert!(matches!(s[14].action, Action::Open));
    assert!(matches!(s[16].action, Action::Drop));
    assert!(matches!(s[18].action, Action::StartTls));
}

#[test]
fn comments_and_blank_lines() {
    let s = steps(
        "
# a comment
   # an indented comment

S: +OK {*}
S|: a
# comments do not break a group
S|: b
",
    );
    assert_eq!(s.len(), 2);
    assert!(matches!(&s[1].action, Action::ExpectAnyOf(v) if v.len() == 2));
}

#[test]
fn captures_bind_across_sessions() {
    let s = steps(
        "S: +OK {*} <{stamp}>
open other
C: APOP {user} {apop(stamp, password)}
",
    );
    assert_eq!(s[2].session, 1);
}

#[test]
fn load_paths_walks_sorted() {
    let cases = crate::load_paths(&["testdata/ok".into()]).unwrap_or_else(|d| panic!("{d}"));
    let ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, vec!["a/1", "a/2", "b/1", "sub/c/1"]);
    let files: Vec<String> = cases
        .iter()
        .map(|c| c.span.file.display().to_string())
        .collect();
    assert_eq!(
        files,
        vec![
            "testdata/ok/a.pop3",
            "testdata/ok/a.pop3",
            "testdata/ok/b.pop3",
            "testdata/ok/sub/c.pop3"
        ]
    );
    // The same file named twice is read once.
    let cases = crate::load_paths(&["testdata/ok/a.pop3".into(), "testdata/ok".into()])
        .unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(cases.len(), 4);
    assert_eq!(cases[0].id, "a/1");
    let one = crate::load_file("testdata/ok/b.pop3").unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(one.len(), 1);
}

#[test]
fn shipped_scenarios_compile() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    if dir.is_dir() {
        let cases = crate::load_paths(&[dir]).unwrap_or_else(|d| panic!("{d}"));
        assert!(!cases.is_empty());
    }
}

/// Every untagged code block of `scenarios/LANGUAGE.md` compiles: whole cases as they are,
/// step lists under a valid header.
#[test]
fn language_doc_examples_compile() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/LANGUAGE.md");
    let Ok(doc) = std::fs::read_to_string(&path) else {
        return;
    };
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```") => current = Some(String::new()),
            (None, l) if l.starts_with("```") => current = Some("\u{0}skip".into()),
            (Some(_), "```") => {
                let block = current.take().unwrap_or_default();
                if !block.starts_with('\u{0}') {
                    blocks.push(block);
                }
            }
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(blocks.len() >= 12, "{} blocks", blocks.len());
    for block in blocks {
        let text = if block.trim_start().starts_with("id:") || block.trim_start().starts_with('#') {
            block.clone()
        } else {
            format!("{HEADER}{block}")
        };
        if let Err(d) = crate::parse_str("LANGUAGE.md", &text) {
            panic!("example does not compile:\n{block}\n{d}");
        }
    }
}

#[test]
fn login_presence_optional_body_and_prerequisites() {
    let s = steps("S: +OK {*}\nlogin\nC: CAPA\nS: +OK {*}\nS+: TOP\nS: .\nC: TOP 7 99\nS|: -ERR {*}\nS|: +OK {*}\nB?: top=7,12\n");
    assert!(matches!(s[1].action, Action::Login));
    assert!(matches!(&s[4].action, Action::ExpectPresent(p) if p.source == "TOP"));
    assert!(
        matches!(&s[8].action, Action::BodyIfOk(v) if matches!(v.as_slice(), [BodyCheck::Top(7, 12)]))
    );
    let text = format!(
        "{HEADER}S: +OK {{*}}\n===\nid: t/2\ntitle: T\nrfc: 1939\nlevel: MAY\nrequirement: \"r\"\nafter: t/1\n---\nS: +OK {{*}}\n"
    );
    let cases = parse(&text);
    assert_eq!(cases[1].after, vec!["t/1".to_string()]);
    assert!(cases[0].after.is_empty());
}

#[test]
fn prerequisites_must_exist_and_not_loop() {
    let dir = std::env::temp_dir().join(format!("conform-after-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let case = |id: &str, after: &str| {
        format!("id: {id}\ntitle: T\nrfc: 1939\nlevel: MUST\nrequirement: \"r\"\nafter: {after}\n---\nS: +OK {{*}}\n")
    };
    std::fs::write(
        dir.join("a.pop3"),
        format!("{}===\n{}", case("t/a", "t/b"), case("t/b", "t/a")),
    )
    .unwrap();
    std::fs::write(dir.join("c.pop3"), case("t/c", "t/none")).unwrap();
    let err = crate::load_paths(std::slice::from_ref(&dir))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`after:` of `t/a` leads back to itself"),
        "{err}"
    );
    // an unknown prerequisite is no load error (a file may run on its own), but is found
    let one = crate::load_paths(&[dir.join("c.pop3")]).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let unknown = crate::unknown_prerequisites(&one);
    assert_eq!(unknown.len(), 1);
    assert!(
        unknown[0]
            .to_string()
            .contains("`after:` names `t/none`, which is no case loaded"),
        "{unknown:?}"
    );
    let own = super::errors(case("t/x", "t/x"));
    assert!(own.contains("a case cannot come after itself"), "{own}");
}

#[test]
fn reseed_step_and_not_reused_assertion() {
    let s = steps("S: +OK {*}\nC: UIDL\nS: +OK {*}\nS*: {n:[0-9]+} {old}\nS: .\nreseed\nopen b\nS: +OK {*}\nC: UIDL\nS: +OK {*}\nS*: {m:[0-9]+} {new}\nS: .\nassert not_reused(new, old)\n");
    assert!(s.iter().any(|s| matches!(s.action, Action::Reseed)));
    assert!(matches!(
        &s.last().unwrap().action,
        Action::Assert(Assertion::NotReused(a, b)) if a == "new" && b == "old"
    ));
    let e = super::step_errors("S: +OK {x}\nassert not_reused(x, x) == 1\n");
    assert!(e.contains("unexpected text after `not_reused(...)`"), "{e}");
    let e = super::step_errors("S: +OK {x}\nassert not_reused(x, x)\n");
    assert!(e.contains("`x` is a single value"), "{e}");
}

#[test]
fn requirements_are_typed() {
    let text = HEADER.replace(
        "---\n",
        "requires: @tls, !stls, sasl  plain, ! top, capa, @implicit-tls, @Plaintext\n---\n",
    ) + "S: +OK {*}\n";
    let c = &parse(&text)[0];
    assert_eq!(
        c.requires,
        vec![
            Condition::Mode(ConnectionMode::Tls),
            Condition::NotAnnounced("STLS".into()),
            Condition::Capability("SASL PLAIN".into()),
            Condition::NotAnnounced("TOP".into()),
            Condition::Capability("CAPA".into()),
            Condition::Mode(ConnectionMode::ImplicitTls),
            Condition::Mode(ConnectionMode::Plaintext),
        ]
    );
    let shown: Vec<String> = c.requires.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "@TLS",
            "!STLS",
            "SASL PLAIN",
            "!TOP",
            "CAPA",
            "@IMPLICIT-TLS",
            "@PLAINTEXT"
        ]
    );
}

#[test]
fn requirement_errors_are_at_the_item() {
    let text = HEADER.replace("---\n", "requires: TOP, @tlss,  !\n---\n") + "S: +OK {*}\n";
    assert_eq!(
        super::errors(text),
        "t.pop3:6:16: error: unknown pseudo-capability `@TLSS` (expected one of @PLAINTEXT, @TLS, @IMPLICIT-TLS)\n\
         t.pop3:6:24: error: `!` names no capability (expected `!TAG`, a capability the target must not announce, e.g. `!STLS`)"
    );
}

#[test]
fn conditional_ends_compile() {
    let shown = show(&steps(
        "S|: -ERR {x}\nS|: + {x}\npass if err\nnot applicable if err\n",
    ))
    .join("\n");
    assert!(shown.contains("PassIfErr"), "{shown}");
    assert!(shown.contains("NotApplicableIfErr"), "{shown}");
    let e = crate::tests::step_errors("pass now\nnot applicable\npass\n");
    assert_eq!(e.matches("error:").count(), 3, "{e}");
    assert!(
        e.contains("`pass if err` or `not applicable if err`"),
        "{e}"
    );
}

#[test]
fn oauth_functions_compile() {
    let body = "C: AUTH OAUTHBEARER {oauthbearer(user, token)}\n\
        C: {oauthbearer_kv(user, token, \"host=h\\x01\")} {xoauth2(user, \"t\")}\n\
        S: + {result}\n\
        assert oauth_status(result) != \"\"\n";
    let shown = show(&steps(body)).join("\n");
    for f in ["OAuthBearer", "OAuthBearerKv", "Xoauth2", "OAuthStatus"] {
        assert!(shown.contains(f), "{f} in {shown}");
    }
    let e = crate::tests::step_errors("C: {oauthbearer(user)} {oauth_status()}\n");
    assert_eq!(e.matches("error:").count(), 2, "{e}");
}

#[test]
fn scram_functions_compile() {
    let body = "S: + {sfirst}\n\
        C: {scram_client_final(\"SCRAM-SHA-256\", scram_client_first(\"n,,\", user, \"abc\"), password, sfirst)}\n\
        S: + {sfinal}\n\
        assert scram_attr(sfinal, \"v\") == scram_server_signature(\"SCRAM-SHA-1\", scram_client_first(\"y,,\", user, \"abc\"), password, sfirst)\n\
        assert min(scram_attr(sfirst, \"i\"), 4096) == 4096\n\
        assert prefix(scram_attr(sfirst, \"r\"), 3) == \"abc\"\n";
    let shown = show(&steps(body)).join("\n");
    assert!(shown.contains("ScramClientFinal"), "{shown}");
    for f in [
        "ScramClientFirst",
        "ScramAttr",
        "ScramServerSignature",
        "Min",
        "Prefix",
    ] {
        assert!(shown.contains(f), "{f} in {shown}");
    }
    // arity is checked like every other function's
    let e = crate::tests::step_errors(
        "C: {scram_client_first(user, \"abc\")} {scram_attr(\"x\")} {min(1)}\n",
    );
    assert!(e.contains("scram_client_first"), "{e}");
    assert_eq!(e.matches("error:").count(), 3, "{e}");
}
