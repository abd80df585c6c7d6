//! Malformed inputs: every error at its file:line:col, rendered, snapshotted.

use insta::assert_snapshot;

use super::{errors, step_errors, HEADER};

#[test]
fn unknown_key() {
    assert_snapshot!(errors(
        "id: t/1\ntitle: T\nrfc: 1939\nlevel: MUST\nrequirement: \"r\"\n  author: me\nauthor: me\n---\ndrop\n"
    ));
}

#[test]
fn missing_id_and_title() {
    assert_snapshot!(errors(
        "\n# comment\n  rfc: 1939\nlevel: MUST\nrequirement: \"r\"\n---\ndrop\n"
    ));
}

#[test]
fn bad_header_values() {
    assert_snapshot!(errors(
        "id: Bad Id\ntitle:\nrfc: 1939 section 7\nlevel: MUSTN'T\nrequirement: not quoted\nfixture: full\nmutates: maybe\nrequires: TOP,,UIDL\n---\ndrop\n"
    ));
}

#[test]
fn bad_level() {
    assert_snapshot!(errors(
        HEADER.replace("level: MUST", "level: MOST") + "drop\n"
    ));
}

#[test]
fn duplicate_key() {
    assert_snapshot!(errors(
        HEADER.replace("title: T\n", "title: T\ntitle: U\n") + "drop\n"
    ));
}

#[test]
fn requirement_errors() {
    assert_snapshot!(errors(
        "id: t/1\ntitle: T\nrfc: 1939\nlevel: MUST\nrequirement: \"the server\n   MUST \\n reply\"\n---\ndrop\n===\nid: t/2\ntitle: T\nrfc: 1939\nlevel: MUST\nrequirement: \"never closed\n---\ndrop\n===\nid: t/3\ntitle: T\nrfc: 1939\nlevel: MUST\nrequirement: \"quoted\" and more\n---\ndrop\n"
    ));
}

#[test]
fn unterminated_brace() {
    assert_snapshot!(step_errors(
        "C: USER {user\nS: +OK {stamp\nS: +OK {n:[0-9]+\nS: {/abc\nC: {apop(stamp,\n"
    ));
}

#[test]
fn unknown_function_and_arity() {
    assert_snapshot!(step_errors(
        "C: X {md5(user)} {apop(user)} {base64()} {crlf(user)} {repeat(\"a\", 2, 3)}\n"
    ));
}

#[test]
fn unbound_variable() {
    assert_snapshot!(step_errors(
        "C: APOP {user} {apop(stamp, password)}\nC: {stamp}\nS: +OK {*}\nB: octets=size\nassert n == 1\n"
    ));
}

#[test]
fn bad_regex() {
    assert_snapshot!(step_errors(
        "S: +OK {/[0-9/}\nS: +OK {n:(a)}\nS: {x:a{2,1}} {//}\n"
    ));
}

#[test]
fn duplicate_id_across_files() {
    let err = crate::load_paths(&["testdata/dup".into()]).unwrap_err();
    assert_snapshot!(err.to_string());
}

#[test]
fn duplicate_id_in_one_file() {
    assert_snapshot!(errors(format!("{HEADER}drop\n===\n{HEADER}drop\n")));
}

#[test]
fn step_before_separator() {
    assert_snapshot!(errors(
        "id: t/1\ntitle: T\nrfc: 1939\nlevel: MUST\nrequirement: \"r\"\nS: +OK {*}\nC: QUIT {x}\n"
    ));
}

#[test]
fn header_after_separator() {
    assert_snapshot!(step_errors("drop\ntags: late\n---\n"));
}

#[test]
fn empty_case() {
    assert_snapshot!(errors(format!(
        "{HEADER}\n# nothing\n===\n{}use main\n===\nid: t/3\ntitle: T\nrfc: 1939\nlevel: MUST\nrequirement: \"r\"\n",
        HEADER.replace("t/1", "t/2")
    )));
}

#[test]
fn empty_file() {
    assert_snapshot!(errors("# only a comment\n\n===\n"));
}

#[test]
fn sessions_errors() {
    assert_snapshot!(step_errors(
        "use other\nopen main\nopen s2\nopen s2\nopen\nopen 2x\nopen a b\nuse\n"
    ));
}

#[test]
fn capture_in_absent() {
    assert_snapshot!(step_errors(
        "S!: {x}\nS!: {y:[0-9]+}\nS!: {user} {*} {/x/}\n"
    ));
}

#[test]
fn bad_body_checks() {
    assert_snapshot!(step_errors(
        "B: fixture=9\nB: top=0,1 lines=x octets=\"a\"x size=3 capture=Body\nB: fixture= top=1 capture=user\n"
    ));
}

#[test]
fn not_utf8() {
    assert_snapshot!(errors(b"id: t/1\ntitle: caf\xe9\n".as_slice()));
    assert_snapshot!("not_utf8_first_byte", errors(b"\xff".as_slice()));
}

#[test]
fn already_bound() {
    assert_snapshot!(step_errors(
        "S: +OK {n} {n}\nS: {n:[0-9]+}\nS: {user:.*}\nS*: {m}\nB: capture=m capture=z capture=z\n"
    ));
}

#[test]
fn lists_and_scalars() {
    assert_snapshot!(step_errors(
        "S: +OK {n} {size}\nassert sum(size) == n\nassert unique(user)\nassert count(n) == unique(n)\nassert n\nassert\nassert 1 = 2\n"
    ));
}

#[test]
fn partial_alternatives() {
    assert_snapshot!(step_errors(
        "S|: +OK {a} {b}\nS|: -ERR {a}\nC: {a} {b} {b}\nS~: {c}\nS~: {c}\n"
    ));
}

#[test]
fn braces_and_spacing() {
    assert_snapshot!(step_errors(
        "C:USER x\nS:+OK\nC: a } b {}\nS: a } {Foo} {a-b} {*\nC: {USER}\nC: {\"a\\q\"} {\"\\x4\"} {99999999999999999999}\n"
    ));
}

#[test]
fn not_a_step() {
    assert_snapshot!(step_errors(
        "c: lower case\nSEND hello\nS1: x\ndrop now\n---\n"
    ));
}

#[test]
fn control_characters() {
    assert_snapshot!(step_errors("C: NOOP\u{7}\nS: +OK\u{0}\n"));
}

#[test]
fn many_errors_collected() {
    // Errors of several cases of one file are all reported, in line order.
    assert_snapshot!(errors(
        "id: a\ntitle: A\nrfc: x\nlevel: MUST\nrequirement: \"r\"\n---\nC: {f()}\n===\nid: b\ntitle: B\nrfc: 1939\nlevel: MUST\nrequirement: \"r\"\n---\nuse nowhere\nC: {zz}\n"
    ));
}
