//! POP3 wire types, codec and authentication math, with no I/O.
//!
//! This crate is shared by everything in `conform` that touches the wire: the bundled
//! reference server, the scenario runner, the proptest model and the fuzz targets. It turns
//! bytes into typed values ([`Command`], [`StatusLine`], [`ServerLine`], [`BodyLine`]) or reports
//! [`Decoded::Incomplete`] when more bytes are needed, and turns typed values back into bytes.
//! Nothing here reads a socket or a file.
//!
//! | module | RFC | what |
//! |---|---|---|
//! | [`command`] | 1939 §3-§9, 2449 §3-§5, 2595 §4, 5034 §4, 6856 §3 | client commands |
//! | [`response`] | 1939 §3, 2449 §3 §8, 3206, 5034 §4 | status lines, response codes, SASL continuations |
//! | [`multiline`] | 1939 §3 | multi-line bodies and byte-stuffing, incremental |
//! | [`capa`] | 2449 §5-§6, 2595 §4, 5034 §3, 6856 §2 | capability lines |
//! | [`auth`] | 1939 §7, 2195, 4616, 5034, draft-murchison-sasl-login | APOP, CRAM-MD5, PLAIN, LOGIN |
//! | [`message`] | 1939 §7, 5322 §2.1 | header/body split for TOP, CRLF form |
//! | [`state`] | 1939 §3 | the session states |

// every dependency is used (unit-test builds also see the dev-dependencies of other targets)
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod auth;
pub mod capa;
pub mod command;
pub mod line;
pub mod message;
pub mod multiline;
pub mod response;
pub mod state;

pub use capa::Capability;
pub use command::{Command, CommandError, Limits};
pub use line::LineError;
pub use multiline::{BodyLine, Stuffer};
pub use response::{ResponseCode, ResponseError, ServerLine, Status, StatusLine};
pub use state::State;

/// The result of decoding from a buffer that may not yet hold a whole item.
///
/// `Complete(value, consumed)` carries how many bytes of the input the item took, so the caller
/// can drop them from its buffer; `Incomplete` means "read more and call again".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<T> {
    /// A whole item, and the number of input bytes it used (line ending included).
    Complete(T, usize),
    /// The buffer ends before the item does.
    Incomplete,
}

impl<T> Decoded<T> {
    /// Maps the decoded value, keeping the consumed count.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Decoded<U> {
        match self {
            Decoded::Complete(v, n) => Decoded::Complete(f(v), n),
            Decoded::Incomplete => Decoded::Incomplete,
        }
    }
}

/// The line terminator POP3 uses everywhere (RFC 1939 §3).
pub const CRLF: &[u8] = b"\r\n";
