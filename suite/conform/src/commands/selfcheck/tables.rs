//! The selfcheck's tables: the console's, the README's totals, and the whole Markdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use reference_server::fault::Area;

use super::{ids, Report, Tally};

fn verdict(o: &Tally) -> &'static str {
    if o.caught() {
        "CAUGHT"
    } else {
        "MISSED"
    }
}

/// The console table: the runs with no fault, one line per fault with the first catching
/// cases, one per variant, and the scores.
pub(super) fn console(report: &Report) -> String {
    let mut out = String::new();
    for (setup, o) in &report.clean {
        let _ = writeln!(
            out,
            "no fault ({}): {} passed, {} failed, {} errors, {} skipped{}",
            setup.name(),
            o.passed,
            o.failed.len(),
            o.errors.len(),
            o.skipped,
            o.unreachable
                .as_ref()
                .map(|u| format!(" ({u})"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<36} {:<14} {:<7} caught by",
        "fault", "area", "verdict"
    );
    for (fault, o) in &report.faults {
        let _ = writeln!(
            out,
            "{:<36} {:<14} {:<7} {}",
            fault.name(),
            fault.area().name(),
            verdict(o),
            caught_by(o)
        );
    }
    if !report.variants.is_empty() {
        out.push_str(&console_variants(report));
    }
    let _ = writeln!(out);
    if !report.faults.is_empty() {
        let _ = writeln!(
            out,
            "mutation score: {}; {} cases per run; {:.1}s",
            report.score(),
            report.cases,
            report.duration.as_secs_f64()
        );
    }
    if !report.variants.is_empty() {
        let _ = writeln!(
            out,
            "variants: {}; {} cases per run; {:.1}s",
            report.variants_score(),
            report.cases,
            report.duration.as_secs_f64()
        );
    }
    out
}

/// A fault's console detail: how many cases caught it, and the first three.
fn caught_by(o: &Tally) -> String {
    let mut by: Vec<&str> = ids(&o.failed);
    by.extend(ids(&o.errors));
    let shown = by.iter().take(3).copied().collect::<Vec<_>>().join(", ");
    let more = by.len().saturating_sub(3);
    match (&o.unreachable, by.len()) {
        (Some(u), _) => format!("(run did not start: {u})"),
        (None, 0) => "no case".to_owned(),
        (None, n) => format!(
            "{n} case{} ({} failed, {} errors): {shown}{}",
            if n == 1 { "" } else { "s" },
            o.failed.len(),
            o.errors.len(),
            if more > 0 {
                format!(", +{more} more")
            } else {
                String::new()
            }
        ),
    }
}

/// The console's variant rows, after an empty line and their header.
fn console_variants(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<36} {:<7} {:>6} {:>7} {:>6}  failing cases",
        "variant", "verdict", "passed", "skipped", "failed"
    );
    for (variant, o) in &report.variants {
        let failing = o.failing();
        let detail = match &o.unreachable {
            Some(u) => format!("(run did not start: {u})"),
            None if failing.is_empty() => String::new(),
            None => failing.join(", "),
        };
        let _ = writeln!(
            out,
            "{:<36} {:<7} {:>6} {:>7} {:>6}  {detail}",
            variant.name(),
            if o.clean() { "PASS" } else { "FAIL" },
            o.passed,
            o.skipped,
            o.failed.len() + o.errors.len(),
        );
    }
    out
}

/// The totals: the README's block, stable from run to run while every fault is caught.
pub(super) fn totals_markdown(report: &Report) -> String {
    let mut out = String::new();
    let clean = if report.clean_ok() {
        "0 failures"
    } else {
        "FAILURES"
    };
    let _ = writeln!(
        out,
        "**Mutation score: {}.** `conform selfcheck` runs the whole catalogue against the \
         reference server with one deliberate defect at a time (`reference-server/src/fault.rs`); \
         a fault is caught when a case fails against it. With no fault: {clean}.",
        report.score()
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "| area | faults | caught |");
    let _ = writeln!(out, "| --- | ---: | ---: |");
    let mut areas: BTreeMap<Area, (usize, usize)> = BTreeMap::new();
    for (fault, o) in &report.faults {
        let e = areas.entry(fault.area()).or_default();
        e.0 += 1;
        e.1 += usize::from(o.caught());
    }
    for (area, (n, caught)) in &areas {
        let _ = writeln!(out, "| {} | {n} | {caught} |", area.name());
    }
    if !report.variants.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "**Variants: {}.** The false-positive control: the catalogue against the reference \
             server with one choice the RFCs permit made otherwise (`reference-server/src/variant.rs`); \
             a variant passes when no case fails or errors (skipped or not applicable is fine).",
            report.variants_score()
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| variant | passed | skipped | failed | failing cases |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | --- |");
        for (variant, o) in &report.variants {
            // the first few; the whole list is in the --markdown table
            let all = o.failing();
            let mut failing: Vec<String> = all.iter().take(4).map(|c| format!("`{c}`")).collect();
            if all.len() > 4 {
                failing.push(format!("+{} more", all.len() - 4));
            }
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                variant.name(),
                o.passed,
                o.skipped,
                o.failed.len() + o.errors.len(),
                failing.join(", ")
            );
        }
    }
    out
}

/// The whole table, with every catching case.
pub(super) fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# conform selfcheck\n");
    out.push_str(&totals_markdown(report));
    let _ = writeln!(out, "\n## Runs with no fault\n");
    let _ = writeln!(out, "| setup | passed | failed | errors | skipped |");
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: |");
    for (setup, o) in &report.clean {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            setup.name(),
            o.passed,
            o.failed.len(),
            o.errors.len(),
            o.skipped
        );
    }
    let _ = writeln!(out, "\n## Faults\n");
    let _ = writeln!(
        out,
        "| fault | area | setup | what the server does wrong | verdict | failed | errors | skipped | cases that caught it |"
    );
    let _ = writeln!(
        out,
        "| --- | --- | --- | --- | --- | ---: | ---: | ---: | --- |"
    );
    for (fault, o) in &report.faults {
        let mut by: Vec<String> = ids(&o.failed).iter().map(|i| format!("`{i}`")).collect();
        by.extend(ids(&o.errors).iter().map(|i| format!("`{i}` (error)")));
        if let Some(u) = &o.unreachable {
            by.push(format!("run did not start: {u}"));
        }
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} |",
            fault.name(),
            fault.area().name(),
            fault.setup().name(),
            fault.describe().replace('|', "\\|"),
            verdict(o),
            o.failed.len(),
            o.errors.len(),
            o.skipped,
            by.join(", ")
        );
    }
    if !report.variants.is_empty() {
        let _ = writeln!(out, "\n## Variants\n");
        let _ = writeln!(
            out,
            "| variant | what the server does | permitted by | verdict | passed | skipped | failing cases |"
        );
        let _ = writeln!(out, "| --- | --- | --- | --- | ---: | ---: | --- |");
        for (variant, o) in &report.variants {
            let mut failing: Vec<String> = o.failing().iter().map(|c| format!("`{c}`")).collect();
            if let Some(u) = &o.unreachable {
                failing.push(format!("run did not start: {u}"));
            }
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} | {} |",
                variant.name(),
                variant.describe().replace('|', "\\|"),
                variant.permitted_by().replace('|', "\\|"),
                if o.clean() { "PASS" } else { "FAIL" },
                o.passed,
                o.skipped,
                failing.join(", ")
            );
        }
    }
    out
}
