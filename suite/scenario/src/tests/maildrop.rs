//! What a case holds, computed by the compiler (`Case::holds_maildrop`,
//! `Case::logs_in_with_step`): one test per rule.

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
fn a_sent_login_command_holds() {
    assert!(holds("C: PASS secret\n"));
    assert!(holds("C: APOP u 0123\n"));
    assert!(holds("C: AUTH PLAIN\n"));
    // any case, after leading blanks
    assert!(holds("C:   pass secret\n"));
    assert!(holds("C: Auth\n"));
    // not elsewhere in the line, and not other commands
    assert!(!holds("C: NOOP PASS\n"));
    assert!(!holds("C: USER u\n"));
    assert!(!holds("C: CAPA\n"));
}

#[test]
fn a_login_inside_a_pipelined_batch_holds() {
    assert!(holds("C!: NOOP{crlf()}PASS x{crlf()}\n"));
    assert!(holds("C!: STAT{lf()}  apop u d{crlf()}\n"));
    assert!(!holds("C!: NOOP{crlf()}STAT{crlf()}\n"));
    // a string expression is no literal line: only the password in it would count
    assert!(!holds("C!: {\"NOOP\\r\\nPASS x\\r\\n\"}\n"));
}

#[test]
fn an_expression_with_the_password_holds() {
    assert!(holds("C: X {password}\n"));
    assert!(holds("C: X {base64(plain(\"\", user, password))}\n"));
    assert!(!holds("C: X {base64(user)}\n"));
}
