//! `assert` conditions: `A == B`, `A != B`, `unique(NAME)`, `not_reused(NEW, OLD)`.

use super::*;
use crate::diagnostic::{Sink, WithExpected};

const ASSERT_EXPECTED: &str = "`A == B`, `A != B`, `unique(NAME)` or `not_reused(NEW, OLD)`";

/// Parses the text after `assert`.
pub(crate) fn parse_assert(f: Frag<'_>, sink: &mut Sink) -> Option<AssertSyn> {
    let mut p = Parser::new(f, 0, sink, None);
    p.skip_ws();
    if p.at_end() {
        p.fail("expected a condition after `assert`", ASSERT_EXPECTED);
        return None;
    }
    let result = (|| {
        let first = operand(&mut p)?;
        p.skip_ws();
        if let Operand::Unique(name) = first {
            if !p.at_end() {
                p.fail(
                    "unexpected text after `unique(...)` (it is a condition, not a value)",
                    "end of line",
                );
                return Err(());
            }
            return Ok(AssertSyn::Unique(name));
        }
        if let Operand::NotReused(new, old) = first {
            if !p.at_end() {
                p.fail(
                    "unexpected text after `not_reused(...)` (it is a condition, not a value)",
                    "end of line",
                );
                return Err(());
            }
            return Ok(AssertSyn::NotReused(new, old));
        }
        let Operand::Value(a) = first else {
            return Err(());
        };
        let rest = p.rest();
        let eq = if rest.starts_with("==") {
            true
        } else if rest.starts_with("!=") {
            false
        } else {
            p.fail_expected("`==` or `!=`");
            return Err(());
        };
        p.i += 2;
        p.skip_ws();
        let b = match operand(&mut p)? {
            Operand::Value(b) => b,
            Operand::Unique(id) | Operand::NotReused(id, _) => {
                p.sink
                    .error(
                        id.pos,
                        "`unique(...)` and `not_reused(...)` are conditions on their own, not values",
                    )
                    .with_expected("`sum(NAME)`, `count(NAME)` or an expression");
                return Err(());
            }
        };
        p.skip_ws();
        if !p.at_end() {
            p.fail("unexpected text after the assertion", "end of line");
            return Err(());
        }
        Ok(if eq {
            AssertSyn::Eq(a, b)
        } else {
            AssertSyn::Ne(a, b)
        })
    })();
    result.ok()
}

enum Operand {
    Value(AOperandSyn),
    Unique(Ident),
    NotReused(Ident, Ident),
}

fn operand(p: &mut Parser<'_, '_>) -> PResult<Operand> {
    p.skip_ws();
    let save = p.i;
    if let Some((w, _)) = p.word() {
        if w == "not_reused" {
            p.skip_ws();
            if p.peek() == Some('(') {
                p.i += 1;
                p.skip_ws();
                let new = p.ident("a list name inside `not_reused(...)`")?;
                p.skip_ws();
                p.expect_char(',', "`,`")?;
                p.skip_ws();
                let old = p.ident("a second list name inside `not_reused(...)`")?;
                p.skip_ws();
                p.expect_char(')', "`)`")?;
                return Ok(Operand::NotReused(new, old));
            }
        }
        if matches!(w, "sum" | "count" | "unique") {
            p.skip_ws();
            if p.peek() == Some('(') {
                p.i += 1;
                p.skip_ws();
                let name = p.ident(&format!("a list name inside `{w}(...)`"))?;
                p.skip_ws();
                p.expect_char(')', "`)`")?;
                return Ok(match w {
                    "sum" => Operand::Value(AOperandSyn::Sum(name)),
                    "count" => Operand::Value(AOperandSyn::Count(name)),
                    _ => Operand::Unique(name),
                });
            }
        }
        p.i = save;
    }
    p.expr(0).map(|e| Operand::Value(AOperandSyn::Expr(e)))
}
