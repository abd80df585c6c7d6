//! What a phase counts: latencies (an HDR histogram), completed operations, octets, failures
//! by kind with the first message of each, and lock contention.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The longest latency the histogram keeps apart (longer ones count as this): one hour, in
/// microseconds.
const HIGHEST_US: u64 = 3_600_000_000;

/// Latencies in microseconds, three significant digits (0.1 % error at any magnitude).
#[derive(Debug, Clone)]
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Latencies(Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("valid histogram bounds"))
    }
}

impl Latencies {
    /// Adds one latency.
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        self.0.saturating_record(us);
    }

    /// Adds every latency of `other`.
    pub fn merge(&mut self, other: &Latencies) {
        // same bounds on both sides: adding cannot fail
        let _ = self.0.add(&other.0);
    }

    /// How many were recorded.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether none was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The percentiles, `None` when nothing was recorded.
    pub fn percentiles(&self) -> Option<Percentiles> {
        if self.0.is_empty() {
            return None;
        }
        Some(Percentiles {
            p50: self.0.value_at_quantile(0.50),
            p90: self.0.value_at_quantile(0.90),
            p99: self.0.value_at_quantile(0.99),
            max: self.0.max(),
            mean: self.0.mean().round() as u64,
        })
    }
}

/// Latency percentiles in microseconds (each within 0.1 % of the true value; `max` exact
/// to that precision too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// The slowest.
    pub max: u64,
    /// The arithmetic mean.
    pub mean: u64,
}

/// What went wrong with an operation. Lock contention (`-ERR [IN-USE]`) is no failure and
/// is counted apart ([`Tally::lock_contention`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureKind {
    /// The TCP connect failed (refused, unreachable, reset before the greeting).
    Connect,
    /// TLS failed: the handshake, the certificate, STLS refused.
    Tls,
    /// No answer (or no connection) within `--timeout`, or an answer slower than the
    /// transport's minimum rate.
    Timeout,
    /// The server closed (or reset) the connection in the middle of a session.
    Closed,
    /// The login was refused (other than `[IN-USE]`).
    Login,
    /// A negative or malformed answer where `+OK` was due (the greeting, STAT, RETR, QUIT), or
    /// an answer past the client's caps.
    Protocol,
}

impl FailureKind {
    /// Every kind, in report order.
    pub const ALL: [FailureKind; 6] = [
        FailureKind::Connect,
        FailureKind::Tls,
        FailureKind::Timeout,
        FailureKind::Closed,
        FailureKind::Login,
        FailureKind::Protocol,
    ];

    /// The name in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Connect => "connect",
            FailureKind::Tls => "tls",
            FailureKind::Timeout => "timeout",
            FailureKind::Closed => "closed",
            FailureKind::Login => "login",
            FailureKind::Protocol => "protocol",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Failures by kind, each with the first message seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Errors {
    counts: BTreeMap<FailureKind, (u64, String)>,
}

impl Errors {
    /// Counts one failure; the first message of each kind is kept.
    pub fn add(&mut self, kind: FailureKind, message: impl FnOnce() -> String) {
        self.counts
            .entry(kind)
            .and_modify(|(n, _)| *n += 1)
            .or_insert_with(|| (1, message()));
    }

    /// Adds every failure of `other` (its first messages where this has none).
    pub fn merge(&mut self, other: &Errors) {
        for (kind, (n, first)) in &other.counts {
            self.counts
                .entry(*kind)
                .and_modify(|(m, _)| *m += n)
                .or_insert_with(|| (*n, first.clone()));
        }
    }

    /// Failures of `kind`.
    pub fn count(&self, kind: FailureKind) -> u64 {
        self.counts.get(&kind).map_or(0, |(n, _)| *n)
    }

    /// All failures.
    pub fn total(&self) -> u64 {
        self.counts.values().map(|(n, _)| n).sum()
    }

    /// Each kind that occurred: its count and first message.
    pub fn iter(&self) -> impl Iterator<Item = (FailureKind, u64, &str)> {
        self.counts
            .iter()
            .map(|(k, (n, first))| (*k, *n, first.as_str()))
    }
}

/// Failures as JSON: `{"total": N, "connect": N, ..., "first": {"connect": "message"}}`
/// (every kind present, zero or not, so that a consumer never meets a missing field).
impl Serialize for Errors {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = s.serialize_map(Some(FailureKind::ALL.len() + 2))?;
        map.serialize_entry("total", &self.total())?;
        for kind in FailureKind::ALL {
            map.serialize_entry(kind.name(), &self.count(kind))?;
        }
        let first: BTreeMap<&str, &str> = self
            .counts
            .iter()
            .map(|(k, (_, m))| (k.name(), m.as_str()))
            .collect();
        map.serialize_entry("first", &first)?;
        map.end()
    }
}

/// What a worker (and then a phase) counted.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// One latency per completed operation (a session, or a RETR).
    pub latencies: Latencies,
    /// Octets of message content received (RETR).
    pub octets: u64,
    /// Failures.
    pub errors: Errors,
    /// Logins answered `-ERR [IN-USE]`: another session holds the maildrop (RFC 1939 §4,
    /// RFC 2449 §8.1.1). Not a completed operation and not a failure.
    pub lock_contention: u64,
}

impl Tally {
    /// Adds `other` to this.
    pub fn merge(&mut self, other: &Tally) {
        self.latencies.merge(&other.latencies);
        self.octets += other.octets;
        self.errors.merge(&other.errors);
        self.lock_contention += other.lock_contention;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_ordered_and_merge_adds() {
        let mut a = Latencies::default();
        assert!(a.percentiles().is_none());
        for us in 1..=1000u64 {
            a.record(Duration::from_micros(us));
        }
        let mut b = Latencies::default();
        b.record(Duration::from_secs(2));
        a.merge(&b);
        let p = a.percentiles().unwrap();
        assert_eq!(a.len(), 1001);
        assert!(p.p50 <= p.p90 && p.p90 <= p.p99 && p.p99 <= p.max, "{p:?}");
        assert!((495..=505).contains(&p.p50), "{p:?}");
        assert!((1_998_000..=2_002_000).contains(&p.max), "{p:?}");
    }

    #[test]
    fn errors_keep_counts_and_the_first_message() {
        let mut e = Errors::default();
        e.add(FailureKind::Connect, || "refused".into());
        e.add(FailureKind::Connect, || "second".into());
        let mut f = Errors::default();
        f.add(FailureKind::Timeout, || "slow".into());
        f.add(FailureKind::Connect, || "other".into());
        e.merge(&f);
        assert_eq!(e.total(), 4);
        assert_eq!(e.count(FailureKind::Connect), 3);
        let kinds: Vec<_> = e.iter().map(|(k, n, m)| (k, n, m.to_owned())).collect();
        assert_eq!(
            kinds,
            [
                (FailureKind::Connect, 3, "refused".to_owned()),
                (FailureKind::Timeout, 1, "slow".to_owned())
            ]
        );
    }
}
