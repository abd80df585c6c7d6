//! Deliberate defects, for proving that the scenarios catch them (never on unless named).
//!
//! Each fault is a deviation real servers have shipped. `conform serve --fault NAME` or
//! [`crate::Config::faults`] turns one on; the normal build path never does.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

macro_rules! faults {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, )*) => {
        /// One deliberate defect.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Fault {
            $( $(#[$doc])* $variant, )*
        }

        impl Fault {
            /// Every fault.
            pub const ALL: &'static [Fault] = &[$(Fault::$variant),*];

            /// The fault's name on the command line.
            pub fn name(self) -> &'static str {
                match self { $(Fault::$variant => $name,)* }
            }
        }
    };
}

faults! {
    /// LIST and STAT renumber the remaining messages after DELE, closing the gaps
    /// (RFC 1939 §5: message numbers are never reused within a session).
    ListRenumbersAfterDele => "list-renumbers-after-dele",
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A fault name that does not exist.
#[derive(Debug, thiserror::Error)]
#[error("unknown fault {0:?}; known faults: {known}", known = Fault::ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", "))]
pub struct UnknownFault(pub String);

impl FromStr for Fault {
    type Err = UnknownFault;

    fn from_str(s: &str) -> Result<Fault, UnknownFault> {
        Fault::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| UnknownFault(s.to_owned()))
    }
}

/// The faults in force; empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults(BTreeSet<Fault>);

impl Faults {
    /// No faults.
    pub fn none() -> Faults {
        Faults::default()
    }

    /// Turns `fault` on.
    pub fn with(mut self, fault: Fault) -> Faults {
        self.0.insert(fault);
        self
    }

    /// Whether `fault` is on.
    pub fn has(&self, fault: Fault) -> bool {
        self.0.contains(&fault)
    }

    /// Whether any fault is on.
    pub fn any(&self) -> bool {
        !self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Fault::ALL {
            assert_eq!(f.name().parse::<Fault>().unwrap(), *f);
        }
        assert!("nope"
            .parse::<Fault>()
            .unwrap_err()
            .to_string()
            .contains("list-renumbers-after-dele"));
    }
}
