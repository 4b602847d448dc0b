//! In-memory snapshots of relations, and the change log that feeds change streams.
//!
//! A captured relation (a materialized view, or every relation in tests) is kept on worker 0 as
//! its consolidated rows plus the frontier they are complete through. Serving reads it: a point
//! in time is exactly "the rows under this lock", so a read is consistent as of one frontier.
//!
//! Every commit is also appended to a bounded log of [`ChangeBatch`]es, numbered by a sequence
//! that only grows, and broadcast to subscribers. A change stream takes the rows and subscribes
//! under the same lock, so nothing falls between the snapshot and the first change; a client
//! that reconnects with the last sequence it saw gets the batches after it from the log, or the
//! whole snapshot again when the log no longer reaches back that far.
//!
//! Why a broadcast channel and not a per-subscriber queue: a thousand clients on one view would
//! each copy every change; the broadcast shares one `Arc` per batch, and a subscriber that falls
//! behind its capacity learns it (`Lagged`) and resynchronises from a snapshot instead of
//! holding memory for everyone.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use illunare_connector::{ConnectorError, Sink};

use crate::snapshot_index::{ColumnIndex, MAX_INDEXES};
use illunare_types::{Datum, Diff, Row, Time};

/// Batches kept for resuming change streams; older ones are answered with a fresh snapshot.
const LOG_BATCHES: usize = 4096;
/// Updates kept in the log across its batches.
const LOG_UPDATES: usize = 200_000;
/// Batches a slow subscriber may fall behind before it must resynchronise.
const BROADCAST_CAPACITY: usize = 1024;

/// One commit of a relation: its updates (time order) and the frontier it completes.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeBatch {
    /// Position in the relation's change log, starting at 1.
    pub seq: u64,
    pub updates: Vec<(Row, Time, Diff)>,
    /// Everything before this time is in; `None`: the relation is complete.
    pub frontier: Option<Time>,
}

/// The consolidated contents of a relation as of a frontier, kept in memory.
#[derive(Debug, Clone)]
pub struct SnapshotState {
    pub rows: BTreeMap<Row, Diff>,
    /// Everything before this time is included; `None` once the relation is complete.
    pub frontier: Option<Time>,
    /// Whether at least one commit happened.
    pub started: bool,
    pub closed: bool,
    /// Sequence of the last commit (0: none yet).
    pub seq: u64,
    /// Rows with a multiplicity (the sum of positive counts).
    pub row_count: u64,
    /// Estimated memory held by `rows`, in bytes (`illunare_view_state_bytes`).
    pub state_bytes: u64,
    /// Indexes by other columns than the leading ones, built on demand (`snapshot_index.rs`).
    indexes: Vec<ColumnIndex>,
    log: VecDeque<Arc<ChangeBatch>>,
    logged_updates: usize,
    changes: tokio::sync::broadcast::Sender<Arc<ChangeBatch>>,
}

impl Default for SnapshotState {
    fn default() -> Self {
        SnapshotState {
            rows: BTreeMap::new(),
            frontier: Some(0),
            started: false,
            closed: false,
            seq: 0,
            row_count: 0,
            state_bytes: 0,
            indexes: Vec::new(),
            log: VecDeque::new(),
            logged_updates: 0,
            changes: tokio::sync::broadcast::channel(BROADCAST_CAPACITY).0,
        }
    }
}

/// What a change stream resuming after a sequence number gets.
pub enum Resume {
    /// The batches after it, still in the log.
    Batches(Vec<Arc<ChangeBatch>>),
    /// The log no longer reaches back there: start again from the snapshot.
    Snapshot,
}

impl SnapshotState {
    /// The rows, each repeated by its multiplicity.
    pub fn rows(&self) -> Vec<Row> {
        self.rows.iter().flat_map(|(r, &n)| std::iter::repeat_n(r.clone(), n.max(0) as usize)).collect()
    }

    /// Whether every update before `time` is reflected.
    pub fn complete_through(&self, time: Time) -> bool {
        self.closed || self.frontier.is_some_and(|f| f > time)
    }

    /// Receives every commit after this moment (take it under the same lock as the rows).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<ChangeBatch>> {
        self.changes.subscribe()
    }

    /// Subscribers currently attached.
    pub fn subscribers(&self) -> usize {
        self.changes.receiver_count()
    }

    /// The logged batches after sequence `after`, if the log still holds all of them.
    pub fn resume_after(&self, after: u64) -> Resume {
        if after > self.seq {
            return Resume::Snapshot;
        }
        let oldest = self.log.front().map(|b| b.seq).unwrap_or(self.seq + 1);
        if after + 1 < oldest {
            return Resume::Snapshot;
        }
        Resume::Batches(self.log.iter().filter(|b| b.seq > after).cloned().collect())
    }

    /// The rows whose `columns` equal `values` (with their multiplicities), from an index of
    /// those columns — built now if there is none and fewer than [`MAX_INDEXES`] exist.
    /// `None`: no index may be built; the caller scans.
    pub fn lookup(&mut self, columns: &[usize], values: &Row) -> Option<Vec<(Row, Diff)>> {
        let position = match self.indexes.iter().position(|i| i.columns == columns) {
            Some(p) => p,
            None if self.indexes.len() < MAX_INDEXES => {
                let index = ColumnIndex::build(columns.to_vec(), self.rows.keys());
                self.state_bytes += self.rows.keys().map(|r| index.entry_bytes(entry_bytes(r))).sum::<u64>();
                self.indexes.push(index);
                self.indexes.len() - 1
            }
            None => return None,
        };
        let found = self.indexes[position].get(values).map(|row| (row.clone(), self.rows.get(row).copied().unwrap_or(0))).collect();
        Some(found)
    }

    /// Applies one commit: rows, frontier, log and subscribers.
    pub fn apply(&mut self, updates: &[(Row, Time, Diff)], frontier: Option<Time>) {
        for (row, _, diff) in updates {
            let entry = self.rows.entry(row.clone()).or_insert_with(|| {
                let bytes = entry_bytes(row);
                self.state_bytes += bytes;
                for index in &mut self.indexes {
                    index.insert(row);
                    self.state_bytes += index.entry_bytes(bytes);
                }
                0
            });
            let before = (*entry).max(0);
            *entry += diff;
            let after = (*entry).max(0);
            self.row_count = (self.row_count + after as u64).saturating_sub(before as u64);
            if *entry == 0 {
                self.rows.remove(row);
                let bytes = entry_bytes(row);
                self.state_bytes = self.state_bytes.saturating_sub(bytes);
                for index in &mut self.indexes {
                    index.remove(row);
                    self.state_bytes = self.state_bytes.saturating_sub(index.entry_bytes(bytes));
                }
            }
        }
        self.frontier = frontier;
        self.started = true;
        self.closed = frontier.is_none();
        self.seq += 1;
        let batch = Arc::new(ChangeBatch { seq: self.seq, updates: updates.to_vec(), frontier });
        self.logged_updates += batch.updates.len();
        self.log.push_back(batch.clone());
        while self.log.len() > LOG_BATCHES || (self.logged_updates > LOG_UPDATES && self.log.len() > 1) {
            if let Some(old) = self.log.pop_front() {
                self.logged_updates -= old.updates.len();
            }
        }
        // No subscriber is not an error.
        let _ = self.changes.send(batch);
    }
}

/// Estimated bytes one entry of `SnapshotState::rows` holds: the B-tree slot, the row's
/// values and what they point to (strings longer than fit inline, byte strings, lists).
fn entry_bytes(row: &Row) -> u64 {
    fn datum_heap(datum: &Datum) -> usize {
        match datum {
            Datum::Str(s) if s.is_heap_allocated() => s.len(),
            Datum::Bytes(b) => b.len(),
            Datum::List(items) => items.len() * std::mem::size_of::<Datum>() + items.iter().map(datum_heap).sum::<usize>(),
            _ => 0,
        }
    }
    let slot = std::mem::size_of::<Row>() + std::mem::size_of::<Diff>();
    let values = row.0.len() * std::mem::size_of::<Datum>();
    (slot + values + row.0.iter().map(datum_heap).sum::<usize>()) as u64
}

pub type SnapshotHandle = Arc<Mutex<SnapshotState>>;

/// A `Sink` that maintains a [`SnapshotState`].
pub struct SnapshotSink(pub SnapshotHandle);

impl Sink for SnapshotSink {
    fn commit(&mut self, updates: &[(Row, Time, Diff)], frontier: Option<Time>) -> Result<(), ConnectorError> {
        let mut state = self.0.lock().map_err(|_| ConnectorError::Other("snapshot lock poisoned".into()))?;
        state.apply(updates, frontier);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: i64) -> Row {
        Row(vec![Datum::Int(v)])
    }

    #[test]
    fn a_subscriber_sees_every_commit_after_it_subscribed_and_the_log_resumes_or_asks_for_a_snapshot() {
        let mut state = SnapshotState::default();
        state.apply(&[(row(1), 1, 1), (row(2), 1, 2)], Some(2));
        let mut rx = state.subscribe();
        state.apply(&[(row(2), 3, -1), (row(3), 3, 1)], Some(4));
        state.apply(&[], Some(9));
        assert_eq!(state.rows(), vec![row(1), row(2), row(3)]);
        assert_eq!(state.row_count, 3);
        let first = rx.try_recv().expect("first");
        assert_eq!((first.seq, first.frontier, first.updates.len()), (2, Some(4), 2));
        assert_eq!(rx.try_recv().expect("second").frontier, Some(9));
        match state.resume_after(1) {
            Resume::Batches(b) => assert_eq!(b.iter().map(|b| b.seq).collect::<Vec<_>>(), vec![2, 3]),
            Resume::Snapshot => panic!("the log holds it"),
        }
        assert!(matches!(state.resume_after(3), Resume::Batches(b) if b.is_empty()));
        // A sequence from the future (another run) gets a snapshot.
        assert!(matches!(state.resume_after(7), Resume::Snapshot));
        for i in 0..(LOG_BATCHES as i64 + 5) {
            state.apply(&[(row(100 + i), 10, 1)], Some(11));
        }
        assert!(matches!(state.resume_after(1), Resume::Snapshot));
        assert!(matches!(state.resume_after(state.seq - 2), Resume::Batches(b) if b.len() == 2));
        assert_eq!(state.row_count as usize, 3 + LOG_BATCHES + 5);
    }

    #[test]
    fn a_lookup_by_another_column_builds_an_index_that_follows_commits() {
        let pair = |k: i64, v: i64| Row(vec![Datum::Int(k), Datum::Int(v)]);
        let mut state = SnapshotState::default();
        state.apply(&[(pair(1, 7), 1, 1), (pair(2, 7), 1, 2), (pair(3, 8), 1, 1)], Some(2));
        let seven = Row(vec![Datum::Int(7)]);
        assert_eq!(state.lookup(&[1], &seven), Some(vec![(pair(1, 7), 1), (pair(2, 7), 2)]));
        state.apply(&[(pair(1, 7), 3, -1), (pair(4, 7), 3, 1)], Some(4));
        assert_eq!(state.lookup(&[1], &seven), Some(vec![(pair(2, 7), 2), (pair(4, 7), 1)]));
        // Indexes are bounded; past the bound a lookup asks the caller to scan.
        for c in [vec![0], vec![0, 1], vec![1, 0]] {
            assert!(state.lookup(&c, &Row(vec![Datum::Int(1); c.len()])).is_some());
        }
        assert_eq!(state.lookup(&[5], &seven), None);
        // Removing every row frees the indexes' share of the state too.
        let all: Vec<_> = state.rows.iter().map(|(r, n)| (r.clone(), 5, -n)).collect();
        state.apply(&all, Some(6));
        assert_eq!(state.state_bytes, 0);
    }

    #[test]
    fn state_bytes_follow_the_rows_held() {
        let mut state = SnapshotState::default();
        let long = Row(vec![Datum::Str("a string too long to be kept inline".into()), Datum::Int(1)]);
        state.apply(&[(row(1), 1, 1), (long.clone(), 1, 2)], Some(2));
        let held = state.state_bytes;
        assert!(held > entry_bytes(&row(1)) + 35, "{held}");
        // A second copy of a row already held adds nothing; removing every copy frees it.
        state.apply(&[(row(1), 2, 1)], Some(3));
        assert_eq!(state.state_bytes, held);
        state.apply(&[(row(1), 3, -2), (long, 3, -2)], Some(4));
        assert_eq!(state.state_bytes, 0);
    }
}
