//! A shrunk failure as a scenario file (`scenarios/LANGUAGE.md`) that `conform run` replays:
//! the run's recorded [`Script`](crate::exec::Script) becomes a [`scenario::plan::Case`], and
//! [`scenario::print`] writes it, with comments saying where it came from.

use std::path::PathBuf;
use std::sync::Arc;

use scenario::plan::{Case, Condition, Fixture, Level, RfcRef, Span};
use scenario::print::{print_commented, Unprintable};

use crate::check::Shrunk;
use crate::exec::{Divergence, Outcome};
use crate::fuzz::Finding;
use crate::maildrop::Maildrop;

/// One line of header text (no line breaks, no control characters).
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The scenario for a model failure found with `seed`; `None` if its rerun did not diverge
/// (or, which the printer's tests rule out, the recorded plan has no text).
pub fn scenario(failure: &Shrunk, seed: u64) -> Option<String> {
    model_scenario(failure, seed).ok().flatten()
}

/// The scenario for a model failure found with `seed`: `Ok(None)` if its rerun did not
/// diverge.
pub fn model_scenario(failure: &Shrunk, seed: u64) -> Result<Option<String>, Unprintable> {
    write(&Origin {
        sequence: format!("{:?}", failure.ops),
        start: &failure.start,
        outcome: &failure.outcome,
        id: format!("model/seed-{seed}"),
        by: format!("`conform model` (seed {seed})"),
    })
}

/// The scenario for fuzzing finding number `n` (from 1) of a run with `seed`.
pub fn fuzz_scenario(finding: &Finding, seed: u64, n: usize) -> Option<String> {
    write(&Origin {
        sequence: format!("{:?}", finding.steps),
        start: &finding.start,
        outcome: &finding.outcome,
        id: format!("fuzz/seed-{seed}-{n}"),
        by: format!("`conform fuzz` (seed {seed}, finding {n})"),
    })
    .ok()
    .flatten()
}

/// Where a scenario comes from.
struct Origin<'a> {
    /// The sequence, as proptest shows it.
    sequence: String,
    /// The maildrop it started from.
    start: &'a Maildrop,
    /// Its run.
    outcome: &'a Outcome,
    /// The case id.
    id: String,
    /// What wrote it.
    by: String,
}

fn write(origin: &Origin<'_>) -> Result<Option<String>, Unprintable> {
    let Some(d) = origin.outcome.divergence.as_ref() else {
        return Ok(None);
    };
    let file = Arc::new(PathBuf::from(format!("{}.pop3", origin.id)));
    let (steps, mut comments) = origin.outcome.script.steps(&file);
    comments.preamble = preamble(origin, d);
    let case = case(origin, d, steps, &file);
    print_commented(&case, &comments).map(Some)
}

/// The comment lines that say where the file comes from.
fn preamble(origin: &Origin<'_>, d: &Divergence) -> Vec<String> {
    let start = origin.start;
    let sizes: Vec<String> = start.messages.iter().map(|m| m.size.to_string()).collect();
    vec![
        format!(
            "Written by {}: the shortest sequence found whose answers leave what the",
            origin.by
        ),
        "RFCs allow. Replay it with `conform run THIS-FILE --target ...`.".to_owned(),
        String::new(),
        format!("Sequence: {}", one_line(&origin.sequence)),
        format!("Divergence: {}", one_line(&d.to_string())),
        format!(
            "Maildrop at the start: {} messages, sizes {} at inspection{}",
            start.messages.len(),
            sizes.join(" "),
            if start.is_fixture {
                " (the standard fixture)"
            } else {
                " (not the standard fixture: the message numbers below hold only for a maildrop like it)"
            }
        ),
    ]
}

/// The case: the header from the divergence's rule, the steps as recorded.
fn case(
    origin: &Origin<'_>,
    d: &Divergence,
    steps: Vec<scenario::plan::Step>,
    file: &Arc<PathBuf>,
) -> Case {
    let script = &origin.outcome.script;
    let mutates = script.mutates;
    Case {
        id: origin.id.clone(),
        title: one_line(&format!(
            "after `{}` the target answered {} (expected {})",
            d.sent, d.actual, d.expected
        ))
        .trim()
        .to_owned(),
        rfc: rfc_ref(d.rule.rfc),
        level: Level::Must,
        requirement: d.rule.quote.to_owned(),
        requires: script
            .requires
            .iter()
            .map(|r| Condition::Capability((*r).to_owned()))
            .collect(),
        tags: vec![origin.id.split('/').next().unwrap_or("model").to_owned()],
        fixture: if origin.start.is_fixture {
            Fixture::Standard
        } else {
            Fixture::Any
        },
        mutates,
        after: Vec::new(),
        // what the compiler computes; the printer does not write them
        holds_maildrop: true,
        logs_in_with_step: false,
        span: Span {
            file: file.clone(),
            line: 1,
            col: 1,
        },
        steps,
    }
}

/// `1939 §5` as a reference.
fn rfc_ref(text: &str) -> RfcRef {
    let (number, section) = text.split_once(" §").unwrap_or((text, ""));
    RfcRef {
        number: number.trim().parse().unwrap_or(1939),
        section: section.trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_references() {
        let r = rfc_ref("1939 §7");
        assert_eq!((r.number, r.section.as_str()), (1939, "7"));
        let r = rfc_ref("2595 §4");
        assert_eq!((r.number, r.section.as_str()), (2595, "4"));
    }
}
