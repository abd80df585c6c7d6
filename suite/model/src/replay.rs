//! A shrunk failure as a scenario file (`scenarios/LANGUAGE.md`) that `conform run` replays.

use std::fmt::Write as _;

use crate::check::Failure;

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

/// The scenario for `failure`, found with `seed`; `None` if its rerun did not diverge.
pub fn scenario(failure: &Failure, seed: u64) -> Option<String> {
    let d = failure.outcome.divergence.as_ref()?;
    let script = &failure.outcome.script;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by `conform model` (seed {seed}): the shortest sequence found whose answers"
    );
    let _ = writeln!(
        out,
        "# leave what the RFCs allow. Replay it with `conform run THIS-FILE --target ...`."
    );
    let _ = writeln!(out, "#");
    let _ = writeln!(out, "# Sequence: {:?}", failure.ops);
    let _ = writeln!(out, "# Divergence: {}", one_line(&d.to_string()));
    let start = &failure.start;
    let sizes: Vec<String> = start.messages.iter().map(|m| m.size.to_string()).collect();
    let _ = writeln!(
        out,
        "# Maildrop at the start: {} messages, sizes {}{}",
        start.messages.len(),
        sizes.join(" "),
        if start.is_fixture {
            " (the standard fixture)"
        } else {
            " (not the standard fixture: the numbers below hold only for a maildrop like it)"
        }
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "id: model/seed-{seed}");
    let _ = writeln!(
        out,
        "title: {}",
        one_line(&format!(
            "model: after `{}` the target answered {} (expected {})",
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
    let _ = writeln!(out, "tags: model");
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
