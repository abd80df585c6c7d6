//! What a case holds, computed by the compiler (`Case::holds_maildrop`,
//! `Case::logs_in_with_step`, `Case::failed_logins`): one test per rule.

use super::{parse, HEADER};
use crate::plan::Case;

fn case(body: &str) -> Case {
    parse(&format!("{HEADER}{body}")).remove(0)
}

fn holds(body: &str) -> bool {
    case(body).holds_maildrop
}

#[test]
fn a_case_without_a_login_holds_nothing() {
    let c = case("S: +OK {*}\nC: USER {user}\nS: +OK {*}\nC: NOOP\nS: -ERR {*}\n");
    assert!(!c.holds_maildrop);
    assert!(!c.logs_in_with_step);
    assert_eq!(c.failed_logins(), 0);
}

#[test]
fn mutating_holds() {
    let text = HEADER.replace("---\n", "mutates: yes\n---\n") + "S: +OK {*}\n";
    let c = parse(&text).remove(0);
    assert!(c.mutates && c.holds_maildrop && !c.logs_in_with_step);
}

#[test]
fn the_login_step_holds_and_logs_in_with_the_step() {
    let c = case("S: +OK {*}\nlogin\nC: STAT\nS: +OK {*}\n");
    assert!(c.holds_maildrop && c.logs_in_with_step);
}

#[test]
fn the_reseed_step_holds() {
    let c = case("S: +OK {*}\nC: QUIT\nS: +OK {*}\neof\nreseed\n");
    assert!(c.holds_maildrop && !c.logs_in_with_step);
}

#[test]
fn a_login_with_the_password_holds() {
    assert!(holds("C: PASS {password}\n"));
    assert!(holds(
        "C: APOP {user} {apop(stamp, password)}\n"
            .replace("stamp", "\"<1@x>\"")
            .as_str()
    ));
    assert!(holds("C: AUTH PLAIN {plain(\"\", user, password)}\n"));
    // a SASL answer on its own line
    assert!(holds(
        "C: AUTH CRAM-MD5\nS: + {c}\nC: {cram_md5(c, user, password)}\n"
    ));
    assert!(holds(
        "C: AUTH LOGIN\nS: + {*}\nC: {base64(user)}\nS: + {*}\nC: {base64(password)}\n"
    ));
    // inside a pipelined batch, or anywhere in a line: the secret is what logs in
    assert!(holds("C!: NOOP{crlf()}PASS {password}{crlf()}\n"));
    assert!(holds("C: X {password}\n"));
}

#[test]
fn a_login_without_the_password_holds_nothing() {
    // RFC 1939 §4: no lock before a successful login, and none succeeds without the secret
    assert!(!holds("C: PASS secret\n"));
    assert!(!holds("C: APOP {user} 0123456789abcdef0123456789abcdef\n"));
    assert!(!holds("C: AUTH PLAIN {plain(\"\", user, \"wrong\")}\n"));
    assert!(!holds(
        "C: AUTH CRAM-MD5\nS: + {c}\nC: {cram_md5(c, user, \"wrong secret\")}\n"
    ));
    assert!(!holds("C: AUTH PLAIN\nS: + {*}\nC: *\nS: -ERR {*}\n"));
    assert!(!holds("C:   pass secret\nC: Auth\nC: USER {user}\n"));
    assert!(!holds("C!: NOOP{crlf()}PASS x{crlf()}\n"));
    assert!(!holds("C: X {base64(user)}\n"));
}

#[test]
fn failed_logins_count_the_logins_expected_to_be_refused() {
    let n = |body: &str| case(body).failed_logins();
    assert_eq!(n("C: PASS wrong\nS: -ERR {*}\nC: PASS {password}\n"), 1);
    assert_eq!(
        n("C: APOP {user} 0123\nS: -ERR {*}\nC: auth PLAIN\nS: + \nC: *\nS: -ERR {*}\nC: AUTH LOGIN\nS|: -ERR {*}\nS|: {eof}\n"),
        3
    );
    // the password in some form, expected to be refused: a refusal the server may delay too
    assert_eq!(n("C: PASS {password}-wrong\nS: -ERR {*}\n"), 1);
    // not elsewhere in a line, not other commands, not a string expression
    assert_eq!(n("C: NOOP PASS\nC: USER u\nC: CAPA\n"), 0);
    assert_eq!(n("C!: {\"NOOP\\r\\nPASS x\\r\\n\"}\n"), 0);
    // a login whose answer may be positive (or is not read), or a pipelined batch (any of
    // its answers may be the login's): no failed one
    assert_eq!(
        n("C: PASS {password}\nS: +OK {*}\nC: AUTH PLAIN {plain(\"\", user, password)}\n"),
        0
    );
    assert_eq!(
        n("C!: NOOP{crlf()}PASS x{crlf()}\nS: +OK\nS: -ERR {*}\n"),
        0
    );
}

#[test]
fn a_case_that_may_change_the_maildrop_mutates_sends_dele_or_reseeds() {
    let may = |body: &str| case(body).may_change_maildrop();
    // marks then RSET: nothing changes on a compliant server, but a faulty one may delete
    assert!(may(
        "S: +OK {*}\nlogin\nC: DELE 1\nS: +OK {*}\nC: RSET\nS: +OK {*}\n"
    ));
    assert!(may("S: +OK {*}\nlogin\nC!:  dele 1{crlf()}\n"));
    assert!(may("S: +OK {*}\nlogin\nC: QUIT\nS: +OK {*}\neof\nreseed\n"));
    let text = HEADER.replace("---\n", "mutates: yes\n---\n") + "S: +OK {*}\n";
    assert!(parse(&text).remove(0).may_change_maildrop());
    // no login, no change: DELE before login is refused (RFC 1939 §3)
    assert!(!may("S: +OK {*}\nC: DELE 1\nS: -ERR {*}\n"));
    assert!(!may("S: +OK {*}\nlogin\nC: LIST\nS: +OK {*}\n"));
}

#[test]
fn a_login_attempt_with_any_credentials_tries_to_log_in() {
    let steps = |body: &str| case(body).steps;
    let tries: Vec<bool> =
        steps("S: +OK {*}\nC: PASS wrong\nC: APOP u 0123\nC: NOOP\nC: X {password}\nlogin\n")
            .iter()
            .map(|s| s.tries_login())
            .collect();
    assert_eq!(tries, [false, true, true, false, true, true]);
    let may: Vec<bool> = steps("C: PASS wrong\nC: X {password}\n")
        .iter()
        .map(|s| s.may_log_in())
        .collect();
    assert_eq!(may, [false, true]);
}
