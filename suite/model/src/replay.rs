//! A shrunk failure as a scenario file (`scenarios/LANGUAGE.md`) that `conform run` replays.

use std::fmt::Write as _;

use crate::check::Failure;
use crate::exec::Outcome;
use crate::fuzz::Finding;
use crate::maildrop::Maildrop;

/// `text` inside a scenario's double-quoted string.
fn quoted(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// One line of header text (no line breaks, no control characters).
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The scenario for a model failure found with `seed`; `None` if its rerun did not diverge.
pub fn scenario(failure: &Failure, seed: u64) -> Option<String> {
    write(
        &format!("{:?}", failure.ops),
        &failure.start,
        &failure.outcome,
        &format!("model/seed-{seed}"),
        &format!("`conform model` (seed {seed})"),
    )
}

/// The scenario for fuzzing finding number `n` (from 1) of a run with `seed`.
pub fn fuzz_scenario(finding: &Finding, seed: u64, n: usize) -> Option<String> {
    write(
        &format!("{:?}", finding.steps),
        &finding.start,
        &finding.outcome,
        &format!("fuzz/seed-{seed}-{n}"),
        &format!("`conform fuzz` (seed {seed}, finding {n})"),
    )
}

fn write(
    sequence: &str,
    start: &Maildrop,
    outcome: &Outcome,
    id: &str,
    origin: &str,
) -> Option<String> {
    let d = outcome.divergence.as_ref()?;
    let script = &outcome.script;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by {origin}: the shortest sequence found whose answers leave what the"
    );
    let _ = writeln!(
        out,
        "# RFCs allow. Replay it with `conform run THIS-FILE --target ...`."
    );
    let _ = writeln!(out, "#");
    let _ = writeln!(out, "# Sequence: {}", one_line(sequence));
    let _ = writeln!(out, "# Divergence: {}", one_line(&d.to_string()));
    let sizes: Vec<String> = start.messages.iter().map(|m| m.size.to_string()).collect();
    let _ = writeln!(
        out,
        "# Maildrop at the start: {} messages, sizes {} at inspection{}",
        start.messages.len(),
        sizes.join(" "),
        if start.is_fixture {
            " (the standard fixture)"
        } else {
            " (not the standard fixture: the message numbers below hold only for a maildrop like it)"
        }
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "id: {id}");
    let _ = writeln!(
        out,
        "title: {}",
        one_line(&format!(
            "after `{}` the target answered {} (expected {})",
            d.sent, d.actual, d.expected
        ))
    );
    let _ = writeln!(out, "rfc: {}", d.rule.rfc);
    let _ = writeln!(out, "level: MUST");
    let _ = writeln!(out, "requirement: \"{}\"", quoted(d.rule.quote));
    if !script.requires.is_empty() {
        let r: Vec<&str> = script.requires.iter().copied().collect();
        let _ = writeln!(out, "requires: {}", r.join(", "));
    }
    let _ = writeln!(out, "tags: {}", id.split('/').next().unwrap_or("model"));
    let _ = writeln!(
        out,
        "fixture: {}",
        if start.is_fixture { "standard" } else { "any" }
    );
    let _ = writeln!(
        out,
        "mutates: {}",
        if script.mutates { "yes" } else { "no" }
    );
    let _ = writeln!(out, "---");
    for step in &script.steps {
        let _ = writeln!(out, "{step}");
    }
    Some(out)
}
