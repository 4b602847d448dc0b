//! Counters of one sink, read by `/metrics`: what it committed, how long commits took (a
//! Prometheus histogram), how many failed, and how far its committed frontier is.
//!
//! The sink operator records a commit when its outcome arrives, timed from when the commit was
//! started: for a sink with a commit thread that is the connector's round trip plus the
//! consolidation before it, which is what a user waiting for rows in Postgres experiences.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use illunare_types::Time;

/// Upper bounds of the commit-latency histogram's buckets, in seconds (`le` labels).
pub const COMMIT_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Debug, Default)]
pub struct SinkMetrics {
    /// Updates committed (an insertion or a retraction each).
    pub updates: AtomicU64,
    /// Commits acknowledged by the connector, including progress-only ones.
    pub commits: AtomicU64,
    /// Commits that failed (each is retried with its updates).
    pub failures: AtomicU64,
    /// Sum of commit latencies, in microseconds.
    pub commit_micros: AtomicU64,
    /// Commits per latency bucket (not cumulative; the last slot counts the slower ones).
    buckets: [AtomicU64; COMMIT_BUCKETS.len() + 1],
    /// The frontier committed through (ms since the epoch); `u64::MAX` once complete.
    pub frontier: AtomicU64,
}

impl SinkMetrics {
    /// A commit of `updates` updates through `upper` that took `took`.
    pub fn committed(&self, updates: usize, upper: Option<Time>, took: Duration) {
        self.updates.fetch_add(updates as u64, Ordering::Relaxed);
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.commit_micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        let seconds = took.as_secs_f64();
        let bucket = COMMIT_BUCKETS.iter().position(|le| seconds <= *le).unwrap_or(COMMIT_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.frontier.store(upper.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Cumulative counts per bucket bound, as Prometheus wants them (the last is `+Inf`).
    pub fn cumulative_buckets(&self) -> Vec<u64> {
        self.buckets
            .iter()
            .scan(0, |total, b| {
                *total += b.load(Ordering::Relaxed);
                Some(*total)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_fall_into_cumulative_buckets() {
        let m = SinkMetrics::default();
        m.committed(3, Some(10), Duration::from_micros(500));
        m.committed(2, Some(20), Duration::from_millis(30));
        m.committed(0, None, Duration::from_secs(9));
        assert_eq!(m.cumulative_buckets(), vec![1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3]);
        assert_eq!(m.updates.load(Ordering::Relaxed), 5);
        assert_eq!(m.commits.load(Ordering::Relaxed), 3);
        assert_eq!(m.frontier.load(Ordering::Relaxed), u64::MAX);
        assert_eq!(m.commit_micros.load(Ordering::Relaxed), 500 + 30_000 + 9_000_000);
    }
}
