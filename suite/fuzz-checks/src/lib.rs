//! The properties the fuzz targets check, one `pub fn(&[u8])` per target.
//!
//! Each function takes any bytes and panics when a property is violated; it never panics
//! otherwise. The cargo-fuzz targets in `fuzz/fuzz_targets/` are one-line wrappers around
//! them, and `tests/replay.rs` runs every file of `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` through the same functions on stable Rust, so CI checks the
//! corpus and every past crash input without nightly. [`TARGETS`] is the list both use.
//!
//! | target | what | RFC |
//! |---|---|---|
//! | [`command_decode`] | command lines from raw bytes | 1939 §3, 2449 §3-§4 |
//! | [`command_roundtrip`] | generated commands: encode, decode, equal | 1939 §3-§7, 5034 §4 |
//! | [`response_decode`] | status lines, `+ ` continuations, multi-line bodies, CAPA lines | 1939 §3, 2449 §5-§8 |
//! | [`response_roundtrip`] | generated status lines, capabilities and bodies: encode, decode, equal | 1939 §3, 2449 §3 §8 |
//! | [`chunked_decode`] | the `Decoded` decoders fed the same bytes in any chunks | 1939 §3 |
//! | [`sasl`] | base64, PLAIN, LOGIN, CRAM-MD5, APOP | 5034 §4, 4616 §2, 2195 §2, 1939 §7 |
//! | [`scenario_file`] | the scenario parser and compiler | `scenarios/LANGUAGE.md` |
//! | [`session`] | the reference server's whole session from bytes | 1939, 2449, 2595, 5034 |

// every dependency is used (unit-test builds also see the dev-dependencies of other targets)
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod command;
mod gen;
mod response;
mod sasl;
mod scenario_file;
mod session;
mod stream;

pub use command::{command_decode, command_roundtrip};
pub use response::{response_decode, response_roundtrip};
pub use sasl::sasl;
pub use scenario_file::scenario_file;
pub use session::{session, TIMESTAMP};
pub use stream::chunked_decode;

/// A check: any bytes in, a panic only when a property is violated.
pub type Check = fn(&[u8]);

/// Every target: its name (the file `fuzz/fuzz_targets/<name>.rs`, the folders
/// `fuzz/corpus/<name>/` and `fuzz/regressions/<name>/`) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("command_decode", command_decode),
    ("command_roundtrip", command_roundtrip),
    ("response_decode", response_decode),
    ("response_roundtrip", response_roundtrip),
    ("chunked_decode", chunked_decode),
    ("sasl", sasl),
    ("scenario_file", scenario_file),
    ("session", session),
];
