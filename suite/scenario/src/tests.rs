//! Tests of the whole front end: text in, plan (or diagnostics) out.

mod errors;
mod features;
mod maildrop;
mod matching;
mod never_panics;

use crate::parse_str;
use crate::plan::{Action, Case, Step};

/// A header that is valid, for tests that are about steps.
pub(crate) const HEADER: &str = "id: t/1
title: T
rfc: 1939 §7
level: MUST
requirement: \"r\"
---
";

/// The cases of a text that must compile.
pub(crate) fn parse(text: &str) -> Vec<Case> {
    parse_str("t.pop3", text).unwrap_or_else(|d| panic!("unexpected errors:\n{d}"))
}

/// The steps of a single case made of [`HEADER`] and `body`.
pub(crate) fn steps(body: &str) -> Vec<Step> {
    let cases = parse(&format!("{HEADER}{body}"));
    assert_eq!(cases.len(), 1);
    cases
        .into_iter()
        .next()
        .map(|c| c.steps)
        .unwrap_or_default()
}

/// The steps as `session: action` lines (spans left out), for exact comparison.
pub(crate) fn show(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .map(|s| format!("{}: {:?}", s.session, s.action))
        .collect()
}

/// The rendered diagnostics of a text that must not compile.
pub(crate) fn errors(text: impl AsRef<[u8]>) -> String {
    match parse_str("t.pop3", text) {
        Ok(cases) => panic!("expected errors, got {} cases", cases.len()),
        Err(d) => d.to_string(),
    }
}

/// Errors for a case made of [`HEADER`] and `body`.
pub(crate) fn step_errors(body: &str) -> String {
    errors(format!("{HEADER}{body}"))
}

/// The action of the only step of `body`.
pub(crate) fn only_action(body: &str) -> Action {
    let mut s = steps(body);
    assert_eq!(s.len(), 1, "{:?}", show(&s));
    s.remove(0).action
}
