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
    let messages = if cases.iter().any(|c| c.fixture == Fixture::Messages) {
        Some(discover::message_count(env, &caps).await)
    } else {
        None
    };
    let fixture_held = matches!(&inspection, Some(i) if i.fixture.is_ok());
    for account in &config.more_accounts {
        check_account(env, &caps, account, fixture_held).await?;
    }
    Ok(Discovered {
        capabilities: caps,
        inspection,
        messages,
        declared: config
            .expect
            .iter()
            .filter_map(|e| declared::normalise(e))
            .collect(),
    })
}

/// Checks an account of the pool after the first: it logs in the way the first did and,
/// when the first holds the standard fixture, holds it too (else a case would be judged on
/// another maildrop than the one discovery saw).
async fn check_account(
    env: &CaseEnv,
    caps: &Capabilities,
    account: &Account,
    fixture_held: bool,
) -> Result<(), RunError> {
    let Some(method) = caps.login else {
        // the first account logs in with nothing either: the cases that need it are skipped
        return Ok(());
    };
    let mut env = env.clone();
    env.endpoint.profile = account.profile.clone();
    let failed = |reason: String| RunError::Account {
        user: account.profile.user.clone(),
        reason,
    };
    if fixture_held {
        discover::fixture_present(&env, caps).await.map_err(|e| {
            failed(format!(
                "{e} (the first account holds the standard fixture; every account must)"
            ))
        })
    } else {
        let session = client::probe::open_logged_in(&env.endpoint, method)
            .await
            .map_err(|e| failed(format!("does not log in with {}: {e}", method.name())))?;
        session.quit().await;
        Ok(())
    }
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
