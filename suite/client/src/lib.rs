//! The one POP3 client of conform, shared by the runner (scenario cases) and the model
//! (generated sequences): [`target`] says where and how to connect, [`transport`] carries
//! the bytes (plain, implicit TLS, STLS; every read and write bounded; lines split by the
//! codec, `pop3_proto::line`), [`probe`] learns what a target implements and logs in
//! ([`capability`] holds the findings), [`transcript`] makes wire logs printable.

// every dependency is used (unit-test builds also see the dev-dependencies of other targets)
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod capability;
pub mod certificate;
pub mod login;
pub mod probe;
pub mod target;
pub mod transcript;
pub mod transport;

pub use capability::{Capabilities, Discovery, LoginMethod};
pub use probe::Endpoint;
pub use target::{Profile, Target, TlsMode, Trust};
pub use transcript::{printable, Dir};
