//! A case's `requires:` ([`Condition`]s, checked by the compiler) against the run: its
//! connection mode (else the case is skipped, it is for another setup) and what the target
//! implements (else the case is not applicable: RFC 2449 §5 lets a server leave out an
//! optional command or extension; it is no failure).

use scenario::plan::{Condition, ConnectionMode};

use client::capability::Capabilities;
use client::target::TlsMode;

/// Whether the run's connections are of `mode`: `@TLS` is implicit TLS (RFC 8314 §3) or STLS
/// done by the runner first (RFC 2595 §4).
fn mode_fits(mode: ConnectionMode, tls: TlsMode) -> bool {
    match mode {
        ConnectionMode::Plaintext => tls == TlsMode::None,
        ConnectionMode::Tls => tls != TlsMode::None,
        ConnectionMode::ImplicitTls => tls == TlsMode::Implicit,
    }
}

/// Why `requires` is not met by the run's TLS mode, if it is not: the case is for another
/// setup (skipped). Only the [`Condition::Mode`] items count here.
pub fn unmet_mode(requires: &[Condition], tls: TlsMode) -> Option<String> {
    let unmet: Vec<&'static str> = requires
        .iter()
        .filter_map(|r| match r {
            Condition::Mode(mode) if !mode_fits(*mode, tls) => Some(mode.name()),
            _ => None,
        })
        .collect();
    let run = match tls {
        TlsMode::None => "plaintext",
        TlsMode::Implicit => "implicit TLS",
        TlsMode::StartTls => "STLS",
    };
    (!unmet.is_empty()).then(|| format!("needs {} (this run is {run})", unmet.join(", ")))
}

/// Why `requires` is not met by the target's capabilities, if it is not: the case is not
/// applicable. A [`Condition::Capability`] must be available (announced, or found by a
/// probe), a [`Condition::NotAnnounced`] tag must not be in CAPA; the modes are
/// [`unmet_mode`]'s.
pub fn unmet_capability(requires: &[Condition], caps: &Capabilities) -> Option<String> {
    let mut missing = Vec::new();
    let mut present = Vec::new();
    for r in requires {
        match r {
            Condition::Capability(tag) => missing.extend(caps.lacks(tag)),
            Condition::NotAnnounced(tag) if caps.announced.contains(tag) => {
                present.push(tag.as_str());
            }
            Condition::NotAnnounced(_) | Condition::Mode(_) => {}
        }
    }
    let mut why = Vec::new();
    if !missing.is_empty() {
        why.push(format!("target does not implement {}", missing.join(", ")));
    }
    if !present.is_empty() {
        why.push(format!("target announces {} in CAPA", present.join(", ")));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use client::capability::Discovery;

    fn caps(tags: &[&str]) -> Capabilities {
        Capabilities::from_capa_lines(tags)
    }

    fn cap(tag: &str) -> Condition {
        Condition::Capability(tag.to_owned())
    }

    const TLS: Condition = Condition::Mode(ConnectionMode::Tls);

    #[test]
    fn requirements_against_available_capabilities() {
        let c = caps(&["USER", "SASL PLAIN LOGIN"]);
        let req = |r: &[Condition]| unmet_capability(r, &c);
        assert_eq!(
            req(&[cap("USER"), cap("SASL LOGIN"), cap("CAPA"), TLS]),
            None
        );
        assert_eq!(
            req(&[cap("TOP")]).as_deref(),
            Some("target does not implement TOP (not in CAPA)")
        );
        assert_eq!(
            req(&[Condition::NotAnnounced("USER".into())]).as_deref(),
            Some("target announces USER in CAPA")
        );
        assert_eq!(
            req(&[cap("TOP"), Condition::NotAnnounced("USER".into())]).as_deref(),
            Some("target does not implement TOP (not in CAPA); target announces USER in CAPA")
        );
        let mut probed = Capabilities::default();
        probed.add("TOP", Discovery::Probed("TOP 1 0 answered +OK".into()));
        probed
            .missing
            .insert("UIDL".into(), "UIDL answered -ERR".into());
        let r = |t: &str| unmet_capability(&[cap(t)], &probed);
        assert_eq!(r("TOP"), None);
        assert_eq!(
            r("UIDL").as_deref(),
            Some("target does not implement UIDL (UIDL answered -ERR)")
        );
        assert_eq!(
            r("CAPA").as_deref(),
            Some("target does not implement CAPA (it answered -ERR)")
        );
    }

    #[test]
    fn requirements_against_the_connection_mode() {
        const PLAIN: Condition = Condition::Mode(ConnectionMode::Plaintext);
        const IMPLICIT: Condition = Condition::Mode(ConnectionMode::ImplicitTls);
        assert_eq!(
            unmet_mode(&[TLS], TlsMode::None).as_deref(),
            Some("needs @TLS (this run is plaintext)")
        );
        assert_eq!(unmet_mode(&[TLS, cap("TOP")], TlsMode::StartTls), None);
        assert_eq!(unmet_mode(&[TLS], TlsMode::Implicit), None);
        assert_eq!(
            unmet_mode(&[IMPLICIT], TlsMode::StartTls).as_deref(),
            Some("needs @IMPLICIT-TLS (this run is STLS)")
        );
        assert_eq!(unmet_mode(&[IMPLICIT], TlsMode::Implicit), None);
        assert_eq!(
            unmet_mode(&[PLAIN], TlsMode::Implicit).as_deref(),
            Some("needs @PLAINTEXT (this run is implicit TLS)")
        );
        assert_eq!(unmet_mode(&[PLAIN], TlsMode::None), None);
    }
}
