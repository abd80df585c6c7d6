//! Exit codes (the README's table), the same for every subcommand.

/// Every required case passed (or the command did what was asked).
pub const OK: u8 = 0;
/// At least one conformance failure.
pub const FAILED: u8 = 1;
/// Usage, configuration or scenario error; zero cases selected.
pub const USAGE: u8 = 2;
/// The target was unreachable, or TLS failed, before any case ran.
pub const UNREACHABLE: u8 = 3;
