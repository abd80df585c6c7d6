//! The POP3 session states (RFC 1939 §3).

/// Where a POP3 session is, per RFC 1939 §3.
///
/// ```text
///   connect + greeting
///          │
///          ▼
///   ┌───────────────┐  USER/PASS, APOP or AUTH succeeds  ┌─────────────┐
///   │ AUTHORIZATION │ ──────────────────────────────────▶ │ TRANSACTION │
///   └───────────────┘   (maildrop locked)                 └─────────────┘
///      │      ▲  STLS (RFC 2595): TLS, then back here          │
///      │      └────┘                                           │ QUIT
///      │ QUIT                                                  ▼
///      │ (no UPDATE: nothing deleted)                   ┌─────────────┐
///      ▼                                                │   UPDATE    │ deletions applied,
///   connection closed  ◀─────────────────────────────── └─────────────┘ lock released
/// ```
///
/// A connection that drops in TRANSACTION never reaches UPDATE: messages marked with DELE
/// stay in the maildrop (RFC 1939 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// After the greeting, before the client has identified itself (RFC 1939 §4).
    Authorization,
    /// The maildrop is open and locked (RFC 1939 §5).
    Transaction,
    /// After QUIT in TRANSACTION: deletions are applied and the session ends (RFC 1939 §6).
    Update,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Authorization => "AUTHORIZATION",
            State::Transaction => "TRANSACTION",
            State::Update => "UPDATE",
        })
    }
}
