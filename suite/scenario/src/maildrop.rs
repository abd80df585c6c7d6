//! What a case does with the maildrop, decided once from its steps for the runner's
//! scheduling ([`crate::plan::Case::holds_maildrop`], [`crate::plan::Case::logs_in_with_step`]).

use crate::plan::{Action, Expr, Step, TemplatePiece};

/// The commands that log in (RFC 1939 §7 PASS and APOP, RFC 5034 §4 AUTH).
const LOGIN_COMMANDS: [&[u8]; 3] = [b"PASS", b"APOP", b"AUTH"];

/// Whether a case holds the maildrop while it runs: it mutates, has a `login` or `reseed`
/// step, or sends a login (a line starting with PASS, APOP or AUTH, also inside a pipelined
/// `C!:` batch, or an expression that uses the password).
pub(crate) fn holds_maildrop(mutates: bool, steps: &[Step]) -> bool {
    mutates
        || steps.iter().any(|s| match &s.action {
            Action::Login | Action::Reseed => true,
            Action::Send { template, .. } => template.pieces.iter().any(|p| match p {
                TemplatePiece::Literal(bytes) => bytes.split(|&c| c == b'\n').any(starts_login),
                TemplatePiece::Expr(e) => mentions_password(e),
            }),
            _ => false,
        })
}

/// Whether a case has a `login` step.
pub(crate) fn logs_in_with_step(steps: &[Step]) -> bool {
    steps.iter().any(|s| matches!(s.action, Action::Login))
}

/// Whether a sent line (its literal text) starts with a login command, in any case, after
/// leading blanks.
fn starts_login(line: &[u8]) -> bool {
    let upper = line.trim_ascii_start().to_ascii_uppercase();
    LOGIN_COMMANDS.iter().any(|k| upper.starts_with(k))
}

/// Whether an expression uses the password (a login in a computed line).
fn mentions_password(e: &Expr) -> bool {
    match e {
        Expr::Var(name) => name == "password",
        Expr::Call(_, args) => args.iter().any(mentions_password),
        Expr::Str(_) | Expr::Int(_) => false,
    }
}
