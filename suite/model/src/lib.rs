//! A reference model of a POP3 session over a maildrop, driven by proptest against any
//! target (RFC 1939 §3-§7, RFC 5034 AUTH PLAIN).
//!
//! proptest generates sequences of commands on one or two interleaved clients
//! ([`ops`]); each sequence runs against the real target from a restored, inspected maildrop
//! ([`check::inspect`]); the model predicts every reply and judges it with the set of answers
//! the RFC allows ([`exec`]), where the RFC leaves a choice accepting every one of them, so
//! a compliant server is never failed. A divergence is shrunk by proptest to a minimal
//! sequence, run once more, and written as a scenario file ([`replay`]) that
//! `conform run` replays.
//!
//! The model's state is the maildrop that persists across sessions and, per client, the RFC
//! 1939 state (the diagram is on [`pop3_proto::State`]): AUTHORIZATION (with a pending USER),
//! TRANSACTION (a [`maildrop::View`]: numbers fixed at login, marks until UPDATE, and the
//! sizes and octets the session has given, which must not change within it but may between
//! sessions, RFC 1939 §4), and the UPDATE a QUIT from TRANSACTION runs.

// every dependency is used (unit-test builds also see the dev-dependencies of other targets)
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod check;
pub mod exec;
pub mod fuzz;
pub mod hostile;
pub mod jobs;
pub mod maildrop;
pub mod ops;
pub mod replay;
pub mod rules;
pub mod transcript;

pub use check::{check, Exploration, ModelError, Report, Shrunk};
pub use exec::{Caps, Divergence, Env, Outcome};
pub use jobs::Account;
