//! The vendor's declared profile (`--expect APOP,TOP,UIDL,STLS,SASL=CRAM-MD5`): what the
//! server is said to implement. Each declared capability becomes a case of its own,
//! `expect/<tag>`, that fails when the capability is missing — no timestamp for APOP, not
//! announced by a server that implements CAPA, or not working — and the cases that need a
//! declared capability that is missing are blocked by it rather than "not applicable".

use std::path::PathBuf;
use std::sync::Arc;

use scenario::plan::{Case, Fixture, Level, RfcRef, Span};

use crate::judge::{Failure, Verdict};
use client::capability::Capabilities;

/// Normalises one `--expect` item: upper case, `SASL=MECH` and `SASL:MECH` as `SASL MECH`.
pub fn normalise(item: &str) -> Option<String> {
    let item = item.trim().to_ascii_uppercase().replace(['=', ':'], " ");
    let item = item.split_whitespace().collect::<Vec<_>>().join(" ");
    (!item.is_empty()).then_some(item)
}

/// The id of the case for a declared capability: `expect/sasl-cram-md5`.
pub fn case_id(tag: &str) -> String {
    format!("expect/{}", tag.to_ascii_lowercase().replace(' ', "-"))
}

/// Where the requirement for `tag` is.
fn citation(tag: &str) -> (RfcRef, &'static str) {
    let rfc = |number, section: &str| RfcRef {
        number,
        section: section.to_owned(),
    };
    match tag {
        "APOP" => (rfc(1939, "7"), "a POP3 server which implements the APOP command will include a timestamp in its banner greeting"),
        "STLS" => (rfc(2595, "4"), "The STLS capability indicates this command is present and permitted in the current state."),
        t if t.starts_with("SASL") => (rfc(5034, "3"), "The SASL capability indicates that the AUTH command is available and that it supports an optional base64 encoded second argument for an initial client response"),
        _ => (rfc(2449, "5"), "The POP3 server responds with a list of capabilities ... Capabilities available in both states"),
    }
}

/// The synthetic case for one declared capability.
pub fn case(tag: &str) -> Case {
    let (rfc, requirement) = citation(tag);
    Case {
        id: case_id(tag),
        title: format!("the server implements {tag}, as its vendor declares (--expect)"),
        rfc,
        level: Level::Must,
        requirement: requirement.to_owned(),
        requires: Vec::new(),
        tags: vec!["expect".to_owned()],
        fixture: Fixture::Any,
        mutates: false,
        after: Vec::new(),
        holds_maildrop: false,
        logs_in_with_step: false,
        span: Span {
            file: Arc::new(PathBuf::from("--expect")),
            line: 1,
            col: 1,
        },
        steps: Vec::new(),
    }
}

/// The verdict on a declared capability: missing, or (on a server that implements CAPA) not
/// announced, is a failure.
pub fn verdict(case: &Case, tag: &str, caps: &Capabilities) -> Verdict {
    let fail = |message: String, actual: String| {
        Verdict::Fail(Failure {
            message,
            expected: format!("{tag} implemented"),
            actual,
            span: case.span.clone(),
        })
    };
    if tag == "APOP" {
        return if caps.has("APOP") {
            Verdict::Pass
        } else {
            fail(
                "APOP is declared, but the greeting carries no timestamp".into(),
                "a greeting without <timestamp>".into(),
            )
        };
    }
    if !caps.has(tag) {
        let why = caps
            .missing
            .get(tag)
            .cloned()
            .unwrap_or_else(|| "not announced and not found by a probe".into());
        return fail(format!("{tag} is declared, but the target lacks it"), why);
    }
    if caps.capa && !caps.announced.contains(tag) {
        return fail(
            format!("{tag} is declared and works, but CAPA does not announce it"),
            "CAPA without it".into(),
        );
    }
    Verdict::Pass
}

#[cfg(test)]
mod tests {
    use super::*;
    use client::capability::{add_capa_line, Discovery};

    #[test]
    fn declared_capabilities() {
        assert_eq!(
            normalise(" sasl=cram-md5 ").as_deref(),
            Some("SASL CRAM-MD5")
        );
        assert_eq!(case_id("SASL CRAM-MD5"), "expect/sasl-cram-md5");
        let mut caps = Capabilities {
            capa: true,
            ..Capabilities::default()
        };
        add_capa_line(&mut caps, b"UIDL");
        caps.add("TOP", Discovery::Probed("TOP 1 0 answered +OK".into()));
        let v = |t: &str| verdict(&case(t), t, &caps);
        assert_eq!(v("UIDL"), Verdict::Pass);
        assert!(
            matches!(v("TOP"), Verdict::Fail(f) if f.message.contains("CAPA does not announce"))
        );
        assert!(matches!(v("APOP"), Verdict::Fail(f) if f.message.contains("no timestamp")));
        assert!(matches!(v("STLS"), Verdict::Fail(f) if f.message.contains("lacks")));
        caps.capa = false;
        assert_eq!(verdict(&case("TOP"), "TOP", &caps), Verdict::Pass);
    }
}
