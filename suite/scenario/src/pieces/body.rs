//! `B:` checks: `octets=`, `lines=`, `fixture=`, `top=`, `capture=`.

use super::*;
use crate::diagnostic::{Sink, WithExpected};

const BODY_EXPECTED: &str = "`octets=EXPR`, `lines=EXPR`, `fixture=N`, `top=N,K` or `capture=NAME`";

/// Parses the text of a `B:` line (space-separated checks).
pub(crate) fn parse_body(f: Frag<'_>, sink: &mut Sink) -> Vec<BodyCheckSyn> {
    let mut checks = Vec::new();
    let mut p = Parser::new(f, 0, sink, None);
    loop {
        p.skip_ws();
        if p.at_end() {
            break;
        }
        let start = p.i;
        let at_gap = |p: &Parser<'_, '_>| p.at_end() || matches!(p.peek(), Some(' ' | '\t'));
        match body_check(&mut p) {
            Ok(check) if at_gap(&p) => {
                checks.push(check);
                continue;
            }
            Ok(_) => p.fail("expected a space between body checks", BODY_EXPECTED),
            Err(()) => {}
        }
        if !at_gap(&p) || p.i <= start {
            // Skip the rest of this check: on to the next space, at least one char on.
            let from = floor_boundary(f.text, p.i.max(start + 1));
            p.i = f.text[from..]
                .find([' ', '\t'])
                .map_or(f.text.len(), |off| from + off);
        }
    }
    checks
}

fn body_check(p: &mut Parser<'_, '_>) -> PResult<BodyCheckSyn> {
    let key_pos = p.here();
    let Some((key, _)) = p.word() else {
        p.fail("expected a body check", BODY_EXPECTED);
        return Err(());
    };
    if !matches!(key, "octets" | "lines" | "fixture" | "top" | "capture") {
        p.sink
            .error(key_pos, format!("unknown body check `{key}`"))
            .with_expected(BODY_EXPECTED);
        return Err(());
    }
    p.expect_char('=', &format!("`=` after `{key}`"))?;
    match key {
        "octets" => p.expr(0).map(BodyCheckSyn::Octets),
        "lines" => p.expr(0).map(BodyCheckSyn::Lines),
        "fixture" => {
            let pos = p.here();
            number(p, "a fixture message number").map(|n| BodyCheckSyn::Fixture(n, pos))
        }
        "top" => {
            let pos = p.here();
            let n = number(p, "a fixture message number")?;
            p.expect_char(',', "`,` between the message number and the line count")?;
            let k = number(p, "a line count")?;
            Ok(BodyCheckSyn::Top(n, k, pos))
        }
        _ => p
            .ident("a name after `capture=`")
            .map(BodyCheckSyn::Capture),
    }
}

fn number(p: &mut Parser<'_, '_>, what: &str) -> PResult<u64> {
    if p.peek().is_some_and(|c| c.is_ascii_digit()) {
        p.int()
    } else {
        p.fail(&format!("expected {what}"), "a decimal number");
        Err(())
    }
}
