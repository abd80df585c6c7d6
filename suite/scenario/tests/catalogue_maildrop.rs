//! Which cases of the catalogue hold the maildrop (`Case::holds_maildrop`). A case that
//! holds nothing runs beside the others on the same account, so it must be one that cannot
//! log in: RFC 1939 §4 has the server take the maildrop's lock only after a successful
//! login, and no login succeeds without the password (or the bearer token).

use std::path::PathBuf;

use scenario::plan::{Action, Case, Expr, TemplatePiece};

fn catalogue() -> Vec<Case> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    scenario::load_paths(&[root]).expect("the catalogue compiles")
}

fn uses_password(e: &Expr) -> bool {
    match e {
        // the bearer token logs in as the password does (RFC 7628)
        Expr::Var(n) => n == "password" || n == "token",
        Expr::Call(_, args) => args.iter().any(uses_password),
        Expr::Str(_) | Expr::Int(_) => false,
    }
}

/// Whether a case gives the server anything that could log it in: the password (alone or
/// in a digest), a `login` step, or a `reseed` (which needs the maildrop to itself).
fn can_log_in(case: &Case) -> bool {
    case.steps.iter().any(|s| match &s.action {
        Action::Login | Action::Reseed => true,
        Action::Send { template, .. } => template.pieces.iter().any(|p| match p {
            TemplatePiece::Expr(e) => uses_password(e),
            TemplatePiece::Literal(_) => false,
        }),
        _ => false,
    })
}

#[test]
fn every_case_that_holds_nothing_cannot_log_in() {
    let cases = catalogue();
    for c in &cases {
        assert_eq!(
            c.holds_maildrop,
            c.mutates || can_log_in(c),
            "{}: holds_maildrop {}",
            c.id,
            c.holds_maildrop
        );
        if !c.holds_maildrop {
            assert!(!c.mutates && !c.logs_in_with_step, "{}", c.id);
        }
    }
    let free: Vec<&Case> = cases.iter().filter(|c| !c.holds_maildrop).collect();
    // the catalogue of 508 cases: 394 may log in, 114 cannot (43 of them attempt a login
    // with wrong credentials, the ones a server may delay); update with the catalogue
    assert_eq!(
        (cases.len(), free.len()),
        (508, 114),
        "cases, cases that hold nothing"
    );
    assert_eq!(free.iter().filter(|c| c.failed_logins() > 0).count(), 43);
}

#[test]
fn known_cases_hold_or_not() {
    let cases = catalogue();
    let holds = |id: &str| {
        cases
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no case {id}"))
            .holds_maildrop
    };
    // wrong credentials: a literal digest, a wrong secret, a cancelled exchange
    for id in [
        "rfc1939/7/apop-wrong-digest",
        "rfc2195/2/wrong-secret",
        "rfc4616/2/wrong-password",
        "rfc5034/4/login-cancel-at-password",
        "rfc3206/6/auth-code-apop-wrong-digest",
    ] {
        assert!(!holds(id), "{id} cannot log in");
    }
    // a wrong login first, then the right one; a `login` step; a deletion
    for id in [
        "rfc5034/4/failed-auth-then-auth",
        "rfc5034/4/failed-auth-then-apop",
        "rfc1939/5/dele-leaves-gaps",
    ] {
        assert!(holds(id), "{id} logs in");
    }
}

/// Where a holding case takes its account: at the first login that may succeed. Logins the
/// case expects to be refused come before it, beside other cases (a server may delay each
/// by seconds, and on a compliant one they lock nothing).
#[test]
fn holding_cases_take_their_account_at_the_first_login_that_may_succeed() {
    let cases = catalogue();
    let case = |id: &str| {
        cases
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no case {id}"))
    };
    // the password with something added, expected to be refused: no hold point (the runner
    // judges the refusal afterwards: [AUTH], or no case that had the account meanwhile)
    for id in [
        "rfc1939/7/pass-wrong",
        "rfc3206/5/wrong-password-is-not-sys-or-in-use",
        "rfc1939/7/pass-after-stls-needs-user",
    ] {
        let c = case(id);
        assert!(c.holds_maildrop, "{id}");
        assert_eq!(c.hold_point(), None, "{id}");
        assert!(
            c.steps.iter().any(|s| s.may_log_in() && s.tries_login()),
            "{id}"
        );
    }
    // a refused login with literal credentials, then one that may succeed: at the second
    let c = case("rfc5034/4/failed-auth-then-user-pass");
    let at = c.hold_point().expect("the USER/PASS login");
    let first_login = c
        .steps
        .iter()
        .position(|s| s.tries_login())
        .expect("a login");
    assert!(at > first_login, "{at} > {first_login}");
    // a SASL exchange whose end may be positive: at its AUTH, challenges and all
    let c = case("rfc5034/4/scram-sha-256");
    let auth = c.hold_point().expect("the AUTH");
    assert!(c.steps[auth].tries_login(), "{:?}", c.steps[auth]);
    // a login step: there; a case that mutates: from the start
    let c = case("rfc1939/5/stat-fixture");
    assert!(matches!(
        c.steps[c.hold_point().expect("login")].action,
        Action::Login
    ));
    let c = cases.iter().find(|c| c.mutates).expect("a mutating case");
    assert_eq!(c.hold_point(), Some(0), "{}", c.id);
    // every case that holds nothing has no hold point unless it mutates
    for c in cases.iter().filter(|c| !c.holds_maildrop) {
        assert_eq!(c.hold_point(), None, "{}", c.id);
    }
}
