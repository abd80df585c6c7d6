//! What a case does with the maildrop, decided once from its steps for the runner's
//! scheduling ([`crate::plan::Case::holds_maildrop`], [`crate::plan::Case::logs_in_with_step`],
//! [`crate::plan::Case::failed_logins`]).
//!
//! RFC 1939 §4: the server acquires the maildrop's lock only "once the POP3 client has
//! successfully identified itself", and §7 (PASS, APOP) and RFC 5034 §4 (AUTH) make that
//! success depend on the account's secret. In a case the secret appears only as the
//! expression `password` (the compiler's [`Expr::Var`]; `password` is always bound, so no
//! capture can take its name): a literal cannot hold it, and a value captured from the
//! server cannot either unless the case sent the password before. So a case that never
//! sends an expression using `password` cannot log in on a server that checks credentials,
//! and cannot hold the lock, whatever PASS, APOP or AUTH lines it sends.

use crate::plan::{Action, Expr, Pattern, Piece, Step, TemplatePiece};

/// The commands that log in (RFC 1939 §7 PASS and APOP, RFC 5034 §4 AUTH).
const LOGIN_COMMANDS: [&[u8]; 3] = [b"PASS", b"APOP", b"AUTH"];

/// Whether a case holds the maildrop while it runs: it could log in to the account (RFC
/// 1939 §4: the lock comes with a successful login) or it changes the maildrop. That is: it
/// mutates, has a `login` or `reseed` step, or sends an expression that uses `password`
/// (directly or inside a function: `apop`, `cram_md5`, `plain`, `base64`, ...), in a PASS,
/// APOP or AUTH line, a SASL answer or anywhere else. A PASS, APOP or AUTH with literal
/// credentials, a wrong secret (`cram_md5(c, user, "wrong")`) or a cancelled exchange (`*`)
/// does not hold it: a server that checks credentials refuses it before any lock.
pub(crate) fn holds_maildrop(mutates: bool, steps: &[Step]) -> bool {
    mutates || steps.iter().any(may_log_in)
}

/// Whether a step may log in or restore the maildrop: `login`, `reseed`, or a line sent with
/// an expression that uses `password`.
pub(crate) fn may_log_in(step: &Step) -> bool {
    match &step.action {
        Action::Login | Action::Reseed => true,
        Action::Send { template, .. } => template.pieces.iter().any(|p| match p {
            TemplatePiece::Literal(_) => false,
            TemplatePiece::Expr(e) => mentions_password(e),
        }),
        _ => false,
    }
}

/// Whether a step tries to log in, with whatever credentials: [`may_log_in`], or a line
/// that starts with PASS, APOP or AUTH. A holding case takes its account from its first
/// such step: on a server that wrongly accepts a wrong secret, even a login meant to fail
/// takes the maildrop's lock, and must not meet another case's session there.
pub(crate) fn tries_login(step: &Step) -> bool {
    may_log_in(step)
        || match &step.action {
            Action::Send { template, .. } => template.pieces.iter().any(|p| match p {
                TemplatePiece::Literal(bytes) => bytes.split(|&c| c == b'\n').any(starts_login),
                TemplatePiece::Expr(_) => false,
            }),
            _ => false,
        }
}

/// The first step from which a holding case needs its account to itself: a `login` or
/// `reseed` step, or a login attempt after which the case admits a positive answer (`+OK`, or
/// a SASL challenge whose exchange may end in `+OK`; RFC 1939 §4: the lock comes with a
/// successful login); from the start when it mutates. A login the case expects to be refused
/// comes before it and runs beside other cases; the runner judges such a refusal afterwards:
/// another session's lock (a case that had the account meanwhile) may have made it, where a
/// run one case at a time sees the login accepted, so one without the RFC 3206 `[AUTH]` code
/// in such company is judged again where no case has the account.
pub(crate) fn hold_point(mutates: bool, steps: &[Step]) -> Option<usize> {
    if mutates {
        return Some(0);
    }
    steps
        .iter()
        .enumerate()
        .position(|(i, step)| match &step.action {
            Action::Login | Action::Reseed => true,
            Action::Send { .. } if tries_login(step) => may_succeed(steps, i),
            _ => false,
        })
}

/// Whether the login sent at step `i` may succeed as the case expects it: an answer that
/// admits `+OK`, or a SASL challenge (`+ `) after which the exchange (the client's next
/// line on the session and its answer, and so on) may still end in `+OK` (RFC 5034 §4).
/// A pipelined batch answers several commands, any of which may be the login's: it may.
fn may_succeed(steps: &[Step], mut i: usize) -> bool {
    loop {
        if let Action::Send { template, .. } = &steps[i].action {
            let pipelined = template.pieces.iter().any(|p| match p {
                TemplatePiece::Literal(bytes) => bytes.contains(&b'\n'),
                TemplatePiece::Expr(_) => false,
            });
            if pipelined {
                return true;
            }
        }
        let session = steps[i].session;
        let Some(at) = (i + 1..steps.len()).find(|&k| steps[k].session == session) else {
            // nothing read after it: as if the answer were not judged
            return true;
        };
        let answer = admits(&steps[at]);
        if answer.ok {
            return true;
        }
        if !answer.challenge {
            return false;
        }
        // the exchange goes on with the client's next line on the session (checks of what
        // the challenge carried come between)
        let next = (at + 1..steps.len()).find(|&k| {
            steps[k].session == session && !matches!(steps[k].action, Action::Assert(_))
        });
        match next {
            Some(next) if matches!(steps[next].action, Action::Send { .. }) => i = next,
            _ => return false,
        }
    }
}

/// What an expectation admits as the answer to a login.
struct Admits {
    /// A positive status line (`+OK`).
    ok: bool,
    /// A SASL challenge (`+ ...`).
    challenge: bool,
}

/// What the step that reads a login's answer admits; anything but a status expectation (a
/// body, a send) is taken to admit both.
fn admits(step: &Step) -> Admits {
    let pattern = |p: &Pattern| match (&p.regex, p.pieces.as_slice()) {
        (_, [Piece::Eof]) => Admits {
            ok: false,
            challenge: false,
        },
        (Some(r), _) => Admits {
            ok: [&b"+OK"[..], b"+OK logged in"]
                .iter()
                .any(|l| r.0.is_match(l)),
            challenge: [&b"+"[..], b"+ ", b"+ AAAA"]
                .iter()
                .any(|l| r.0.is_match(l)),
        },
        // a back-reference: judged only when the line comes
        (None, _) => Admits {
            ok: true,
            challenge: true,
        },
    };
    let any = |ps: &[Pattern]| {
        ps.iter().map(pattern).fold(
            Admits {
                ok: false,
                challenge: false,
            },
            |a, b| Admits {
                ok: a.ok || b.ok,
                challenge: a.challenge || b.challenge,
            },
        )
    };
    match &step.action {
        Action::Expect(p) | Action::ExpectRepeated(p) => pattern(p),
        Action::ExpectAnyOf(ps) | Action::ExpectUnordered(ps) => any(ps),
        Action::ExpectClose => Admits {
            ok: false,
            challenge: false,
        },
        _ => Admits {
            ok: true,
            challenge: true,
        },
    }
}

/// Whether a line the case sends uses the variable `name`, alone or inside a function.
pub(crate) fn uses_var(steps: &[Step], name: &str) -> bool {
    fn mentions(e: &Expr, name: &str) -> bool {
        match e {
            Expr::Var(v) => v == name,
            Expr::Call(_, args) => args.iter().any(|a| mentions(a, name)),
            Expr::Str(_) | Expr::Int(_) => false,
        }
    }
    steps.iter().any(|s| match &s.action {
        Action::Send { template, .. } => template.pieces.iter().any(|p| match p {
            TemplatePiece::Expr(e) => mentions(e, name),
            TemplatePiece::Literal(_) => false,
        }),
        _ => false,
    })
}

/// Whether a case has a `login` step.
pub(crate) fn logs_in_with_step(steps: &[Step]) -> bool {
    steps.iter().any(|s| matches!(s.action, Action::Login))
}

/// The failed logins a case makes, estimated from its text: its login attempts whose answer
/// it expects to be a refusal (`-ERR` or a close, after any SASL challenges; each line of a
/// pipelined batch that starts with PASS, APOP or AUTH counts). A server may make each refused
/// login wait (Dovecot's `auth_failure_delay`, 2 s), so this is the case's cost for the
/// scheduler, which starts the costly cases first (the refusals that share an account then
/// wait together). An estimate only: it orders the run, never decides a verdict.
pub(crate) fn failed_logins(steps: &[Step]) -> usize {
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| match &s.action {
            Action::Send { template, .. } if tries_login(s) && !may_succeed(steps, i) => template
                .pieces
                .iter()
                .map(|p| match p {
                    TemplatePiece::Literal(bytes) => bytes
                        .split(|&c| c == b'\n')
                        .filter(|line| starts_login(line))
                        .count(),
                    TemplatePiece::Expr(_) => 0,
                })
                .sum::<usize>()
                .max(1),
            _ => 0,
        })
        .sum()
}

/// Whether a case may leave the maildrop changed on some server: it says it mutates, has a
/// `reseed` step (new mail), or sends DELE (a line starting with it, as for logins). A case
/// that marks a message and then RSETs, drops the connection or quits from AUTHORIZATION
/// leaves the maildrop as it was on a compliant server (RFC 1939 §5 RSET, §6: deletions only
/// in UPDATE) but not on a faulty one, whose damage would then reach every later case on
/// the account: the runner restores the maildrop after each such case, so that a fault's
/// verdicts do not depend on the order the cases ran in.
pub(crate) fn may_change_maildrop(mutates: bool, steps: &[Step]) -> bool {
    // a case that cannot log in cannot change the maildrop either
    mutates
        || holds_maildrop(false, steps)
            && steps.iter().any(|s| match &s.action {
                Action::Reseed => true,
                Action::Send { template, .. } => template.pieces.iter().any(|p| match p {
                    TemplatePiece::Literal(bytes) => bytes.split(|&c| c == b'\n').any(|line| {
                        line.trim_ascii_start()
                            .to_ascii_uppercase()
                            .starts_with(b"DELE")
                    }),
                    TemplatePiece::Expr(_) => false,
                }),
                _ => false,
            })
}

/// Whether a sent line (its literal text) starts with a login command, in any case, after
/// leading blanks.
fn starts_login(line: &[u8]) -> bool {
    let upper = line.trim_ascii_start().to_ascii_uppercase();
    LOGIN_COMMANDS.iter().any(|k| upper.starts_with(k))
}

/// Whether an expression uses the password or the bearer token (a login in a computed
/// line).
fn mentions_password(e: &Expr) -> bool {
    match e {
        Expr::Var(name) => name == "password" || name == "token",
        Expr::Call(_, args) => args.iter().any(mentions_password),
        Expr::Str(_) | Expr::Int(_) => false,
    }
}
