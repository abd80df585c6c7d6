//! The bundled POP3 reference server of `conform`: RFC 1939 with CAPA (RFC 2449), STLS
//! (RFC 2595), implicit TLS (RFC 8314), SASL PLAIN, LOGIN and CRAM-MD5 (RFC 5034), response
//! codes (RFC 2449 §8, RFC 3206), over Maildir or memory.
//!
//! [`session::Session`] is the protocol, with no I/O; [`server`] puts it on sockets;
//! [`maildrop`] stores messages; [`fixture`] is the standard test maildrop.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use reference_server::{fixture, maildrop::MemoryStore, Config, RunningServer, Users};
//! let store = MemoryStore::new();
//! fixture::seed_memory(&store, "demo");
//! let mut users = Users::new();
//! users.insert("demo", "demo-password");
//! let server = RunningServer::start(Config::new(users, Arc::new(store)), Some("127.0.0.1:0".parse().unwrap()), None).await?;
//! println!("listening on {}", server.plain_addr().unwrap());
//! # Ok(()) }
//! ```

// every dependency is used (unit-test builds also see the dev-dependencies of other targets)
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod fault;
pub mod fixture;
pub mod lock;
pub mod maildrop;
pub mod server;
pub mod session;
pub mod tls;
pub mod users;
pub mod variant;

pub use fault::{Fault, Faults};
pub use server::{Config, Drained, RunningServer};
pub use users::{ScramSettings, Users};
pub use variant::{Variant, Variants};
