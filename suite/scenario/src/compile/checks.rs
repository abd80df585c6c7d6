//! `B:` checks and `assert` conditions.

use super::*;

impl Compiler<'_> {
    pub(super) fn body(&mut self, checks: &[BodyCheckSyn]) -> Vec<BodyCheck> {
        let mut out = Vec::new();
        let mut binds = Vec::new();
        for check in checks {
            match check {
                BodyCheckSyn::Octets(e) => {
                    if let Some(e) = self.expr(e) {
                        out.push(BodyCheck::Octets(e));
                    }
                }
                BodyCheckSyn::Lines(e) => {
                    if let Some(e) = self.expr(e) {
                        out.push(BodyCheck::Lines(e));
                    }
                }
                BodyCheckSyn::Fixture(n, pos) => {
                    if let Some(n) = self.fixture_number(*n, *pos) {
                        out.push(BodyCheck::Fixture(n));
                    }
                }
                BodyCheckSyn::Top(n, k, pos) => {
                    let n = self.fixture_number(*n, *pos);
                    let k = u32::try_from(*k).ok();
                    if k.is_none() {
                        self.sink
                            .error(*pos, "line count too large")
                            .with_expected("at most 4294967295");
                    }
                    if let (Some(n), Some(k)) = (n, k) {
                        out.push(BodyCheck::Top(n, k));
                    }
                }
                BodyCheckSyn::Capture(id) => {
                    let already = binds.iter().any(|(n, _): &(String, Pos)| *n == id.name);
                    match self.vars.get(&id.name) {
                        Some(Bound::Poisoned) => {}
                        Some(b) if !already => {
                            let msg = match b {
                                Bound::Profile => {
                                    format!("`{}` is already bound (a profile value)", id.name)
                                }
                                Bound::Scalar(at) | Bound::List(at) | Bound::Partial(at) => {
                                    format!("`{}` is already bound at {at}", id.name)
                                }
                                Bound::Poisoned => String::new(),
                            };
                            self.sink.error(id.pos, msg).with_expected("a new name");
                        }
                        _ if already => {
                            self.sink
                                .error(
                                    id.pos,
                                    format!("`{}` is already captured on this line", id.name),
                                )
                                .with_expected("one `capture=` per name");
                        }
                        _ => {
                            binds.push((id.name.clone(), id.pos));
                            out.push(BodyCheck::Capture(id.name.clone()));
                        }
                    }
                }
            }
        }
        for (name, pos) in binds {
            self.vars.insert(name, Bound::List(pos));
        }
        out
    }

    pub(super) fn fixture_number(&mut self, n: u64, pos: Pos) -> Option<u32> {
        if usize::try_from(n).is_ok_and(|n| (1..=fixture::COUNT).contains(&n)) {
            u32::try_from(n).ok()
        } else {
            self.sink
                .error(pos, format!("no standard-fixture message {n}"))
                .with_expected(format!("a message number 1..={}", fixture::COUNT));
            None
        }
    }

    pub(super) fn operand(&mut self, a: &AOperandSyn) -> Option<AExpr> {
        match a {
            AOperandSyn::Expr(e) => self.expr(e).map(AExpr::Value),
            AOperandSyn::Sum(id) => self
                .use_list(id, "sum")
                .then(|| AExpr::Sum(id.name.clone())),
            AOperandSyn::Count(id) => self
                .use_list(id, "count")
                .then(|| AExpr::Count(id.name.clone())),
        }
    }

    pub(super) fn assert(&mut self, a: &AssertSyn) -> Option<Assertion> {
        match a {
            AssertSyn::Eq(x, y) | AssertSyn::Ne(x, y) => {
                let x = self.operand(x);
                let y = self.operand(y);
                let (x, y) = (x?, y?);
                Some(if matches!(a, AssertSyn::Eq(..)) {
                    Assertion::Eq(x, y)
                } else {
                    Assertion::Ne(x, y)
                })
            }
            AssertSyn::Unique(id) => self
                .use_list(id, "unique")
                .then(|| Assertion::Unique(id.name.clone())),
            AssertSyn::NotReused(new, old) => {
                let ok = self.use_list(new, "not_reused") & self.use_list(old, "not_reused");
                ok.then(|| Assertion::NotReused(new.name.clone(), old.name.clone()))
            }
        }
    }
}
