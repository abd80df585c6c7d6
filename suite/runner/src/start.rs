//! Before the cases: discovering the target, and the case a run that cannot start reports.

use std::path::PathBuf;
use std::sync::Arc;

use scenario::plan::{Case, Fixture, Level, RfcRef, Span};

use crate::*;

/// Discovers the target: capabilities, login, maildrop, and the vendor's declarations.
pub(crate) async fn discover_target(
    env: &mut CaseEnv,
    config: &RunConfig,
    cases: &[Case],
) -> Result<Discovered, RunError> {
    let (caps, first_listing) = client::probe::capabilities(&env.endpoint, config.login)
        .await
        .map_err(|e| {
            let mut reason = e.to_string();
            if matches!(
                e,
                client::probe::ProbeError::Wire(client::transport::WireError::Certificate(_))
            ) {
                // one setup error before any case, not one error per case
                reason.push_str(
                    " (give --ca FILE with the server's CA, or --insecure for a test server)",
                );
            }
            RunError::Unreachable {
                target: env.endpoint.target.to_string(),
                reason,
            }
        })?;
    env.login = caps.login;
    let inspection = if cases.iter().any(|c| c.fixture == Fixture::Standard) {
        Some(discover::inspect(env, &caps, first_listing).await)
    } else {
        None
    };
    Ok(Discovered {
        capabilities: caps,
        inspection,
        declared: config
            .expect
            .iter()
            .filter_map(|e| declared::normalise(e))
            .collect(),
    })
}

/// The case of a run that could not start ([`SETUP_CASE`]).
pub(crate) fn setup_case() -> Case {
    Case {
        id: SETUP_CASE.into(),
        title: "the target can be reached (and its TLS set up) before the cases".into(),
        rfc: RfcRef {
            number: 1939,
            section: "3".into(),
        },
        level: Level::Must,
        requirement: "When the connection is established, the POP3 server sends a greeting.".into(),
        requires: Vec::new(),
        tags: vec!["setup".into()],
        fixture: Fixture::Any,
        mutates: false,
        after: Vec::new(),
        holds_maildrop: false,
        logs_in_with_step: false,
        span: Span {
            file: Arc::new(PathBuf::from("--target")),
            line: 1,
            col: 1,
        },
        steps: Vec::new(),
    }
}
