//! `B:` bodies (octets, lines, fixture messages, TOP) and `assert`.

use super::*;

impl Run<'_> {
    pub(super) async fn body(
        &mut self,
        session: usize,
        checks: &[BodyCheck],
    ) -> Result<(), StepError> {
        let mut lines: Vec<Vec<u8>> = Vec::new();
        loop {
            let line = self
                .read_judged(session, "a multi-line body ending with \".\"")
                .await?;
            match line.bytes.as_slice() {
                [b'.'] => break,
                [b'.', b'.', rest @ ..] => lines.push([&b"."[..], rest].concat()),
                [b'.', ..] => {
                    return fail(
                        "line starts with an un-stuffed \".\" (RFC 1939 §3 byte-stuffing)",
                        format!(".{}", printable(&line.bytes)),
                        printable(&line.bytes),
                    )
                }
                _ => lines.push(line.bytes),
            }
        }
        let octets: u64 = lines.iter().map(|l| l.len() as u64 + 2).sum();
        let joined = || {
            let mut v = Vec::with_capacity(octets as usize);
            for l in &lines {
                v.extend_from_slice(l);
                v.extend_from_slice(b"\r\n");
            }
            v
        };
        for check in checks {
            match check {
                BodyCheck::Octets(e) => {
                    let want = self.number(e)?;
                    if want != octets {
                        return fail(
                            "body size differs",
                            format!("{want} octets"),
                            format!("{octets} octets"),
                        );
                    }
                }
                BodyCheck::Lines(e) => {
                    let want = self.number(e)?;
                    if want != lines.len() as u64 {
                        return fail(
                            "body line count differs",
                            format!("{want} lines"),
                            format!("{} lines", lines.len()),
                        );
                    }
                }
                BodyCheck::Fixture(n) => self.fixture_body(*n, None, &joined())?,
                BodyCheck::Top(n, k) => self.fixture_body(*n, Some(*k), &joined())?,
                BodyCheck::Capture(name) => {
                    self.vars.ensure_list(name);
                    for l in &lines {
                        self.vars.push(name, l.clone());
                    }
                }
            }
        }
        Ok(())
    }

    /// `fixture=N` (`top` is `None`) or `top=N,K`: `got` is standard-fixture message N, or
    /// what TOP N K sends of it, the header compared tolerating added fields
    /// ([`pop3_proto::message::same_message`]).
    pub(super) fn fixture_body(
        &self,
        n: u32,
        top: Option<u32>,
        got: &[u8],
    ) -> Result<(), StepError> {
        let Some(m) = self.env.fixture.get(n as usize - 1) else {
            return fail(
                "no such fixture message",
                format!("fixture message {n}"),
                "none",
            );
        };
        let (want, what) = match top {
            Some(k) => {
                let cut = pop3_proto::message::top_cut(m, k);
                (
                    pop3_proto::message::to_crlf(&m[..cut]),
                    format!("TOP {n} {k} of the fixture"),
                )
            }
            None => (
                pop3_proto::message::to_crlf(m),
                format!("fixture message {n}"),
            ),
        };
        if pop3_proto::message::same_message(got, &want) {
            return Ok(());
        }
        let at = got
            .iter()
            .zip(&want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        fail(
            format!("body differs from {what} at octet {at}"),
            format!(
                "{} octets: {}",
                want.len(),
                printable(&want[at..want.len().min(at + 60)])
            ),
            format!(
                "{} octets: {}",
                got.len(),
                printable(&got[at..got.len().min(at + 60)])
            ),
        )
    }

    pub(super) fn number(&self, e: &scenario::plan::Expr) -> Result<u64, StepError> {
        let v = eval(e, &self.vars)
            .map_err(|err| StepError::Fail(err.to_string(), "a number".into(), String::new()))?;
        String::from_utf8_lossy(&v)
            .parse()
            .map_err(|_| StepError::Fail("not a number".into(), "a number".into(), printable(&v)))
    }

    pub(super) fn operand(&self, a: &AExpr) -> Result<Vec<u8>, StepError> {
        let nums = |name: &str| -> Result<u64, StepError> {
            let mut sum = 0u64;
            for v in self.vars.list(name) {
                let n: u64 = String::from_utf8_lossy(&v).parse().map_err(|_| {
                    StepError::Fail(
                        format!("sum({name}): not a number"),
                        "numbers".into(),
                        printable(&v),
                    )
                })?;
                sum = sum.saturating_add(n);
            }
            Ok(sum)
        };
        Ok(match a {
            AExpr::Value(e) => eval(e, &self.vars)
                .map_err(|err| StepError::Fail(err.to_string(), String::new(), String::new()))?,
            AExpr::Sum(name) => nums(name)?.to_string().into_bytes(),
            AExpr::Count(name) => self.vars.list(name).len().to_string().into_bytes(),
        })
    }

    pub(super) fn assertion(&self, a: &Assertion) -> Result<(), StepError> {
        let same = |x: &[u8], y: &[u8]| {
            let n = |b: &[u8]| String::from_utf8_lossy(b).parse::<u64>().ok();
            match (n(x), n(y)) {
                (Some(a), Some(b)) => a == b,
                _ => x == y,
            }
        };
        match a {
            Assertion::Eq(l, r) | Assertion::Ne(l, r) => {
                let (x, y) = (self.operand(l)?, self.operand(r)?);
                let eq = same(&x, &y);
                let want_eq = matches!(a, Assertion::Eq(..));
                if eq != want_eq {
                    let op = if want_eq { "==" } else { "!=" };
                    return fail(
                        format!("assertion failed: {} {op} {}", describe(l), describe(r)),
                        format!("{} {op} {}", printable(&x), printable(&y)),
                        format!("{} vs {}", printable(&x), printable(&y)),
                    );
                }
            }
            Assertion::NotReused(new, old) => {
                let (new_values, old_values) = (self.vars.list(new), self.vars.list(old));
                for (i, v) in new_values.iter().enumerate() {
                    let moved = old_values
                        .iter()
                        .enumerate()
                        .find(|(j, o)| *j != i && *o == v);
                    if let Some((j, _)) = moved {
                        return fail(
                            format!(
                                "{new}: the value at place {} was {old}'s value at place {}",
                                i + 1,
                                j + 1
                            ),
                            format!("the same value as before, or a new one, at place {}", i + 1),
                            printable(v),
                        );
                    }
                }
            }
            Assertion::Unique(name) => {
                let list = self.vars.list(name);
                let mut seen = std::collections::HashSet::new();
                if let Some(dup) = list.iter().find(|v| !seen.insert(v.as_slice())) {
                    return fail(
                        format!("{name} repeats a value"),
                        "unique values",
                        printable(dup),
                    );
                }
            }
        }
        Ok(())
    }
}

fn describe(a: &AExpr) -> String {
    match a {
        AExpr::Sum(n) => format!("sum({n})"),
        AExpr::Count(n) => format!("count({n})"),
        AExpr::Value(scenario::plan::Expr::Var(n)) => n.clone(),
        AExpr::Value(_) => "value".into(),
    }
}
