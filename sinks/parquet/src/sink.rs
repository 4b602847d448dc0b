//! The sink itself: what one `commit` does, and how a restarted sink resumes exactly once.
//!
//! A commit: (1) on the first commit only, create the directory (locally), read the manifest
//! and delete stray files; (2) group the updates by partition in a deterministic order (time, then row)
//! and drop those the manifest says are already committed; (3) turn them into Arrow batches;
//! (4) on a *copy* of the buffers, append them and cut every file that is due; (5) write those
//! files (each atomically, see [`crate::storage`]); (6) rewrite the manifest; (7) only then
//! make the copy the sink's state.
//! Any error before (7) deletes the files this attempt wrote and leaves the sink exactly as it
//! was, so the engine's retry with the same updates produces the same files (same names).
//!
//! Why the skip rule is per partition (see [`crate::manifest`]): files of different partitions
//! are cut independently, so at a given time one partition's rows may be committed while
//! another's are still buffered, and `rollover_rows` can cut in the middle of one time's
//! updates. The global `frontier` (min of the commit frontier and the oldest buffered row) is
//! still recorded for readers and also used for skipping; it is sound, just coarser.

use std::collections::BTreeMap;
use std::time::Instant;

use illunare_connector::{ConnectorError, Diff, Row, Sink, Time};
use parquet::file::properties::WriterProperties;

use crate::error::ParquetSinkError;
use crate::manifest::{self, FileEntry, Layout, Manifest, PartitionValue, Position};
use crate::options::{Mode, SinkOptions};
use crate::partition::PartitionKey;
use crate::rows::{Encoder, TimeRuns};
use crate::storage::Storage;
use crate::writer::{Pending, Rollover, encode_file, file_name, next_cut};

/// Updates of one commit for one partition (rows without partition columns).
type Updates = Vec<(Row, Time, Diff)>;

pub struct ParquetSink {
    name: String,
    from: String,
    options: SinkOptions,
    encoder: Encoder,
    properties: WriterProperties,
    layout: Layout,
    /// Where the files go (`options.path`).
    storage: Storage,
    /// Set by the first successful start (commit).
    state: Option<State>,
}

/// What a started sink knows.
#[derive(Clone)]
struct State {
    /// The manifest as last written (or read).
    manifest: Manifest,
    /// From the manifest read at start: updates before this were committed by an earlier run.
    resume_frontier: Option<Time>,
    /// From the manifest read at start: per partition, how far its committed files reach.
    resume: BTreeMap<PartitionKey, Position>,
    /// Rows not yet in a committed file, per partition.
    pending: BTreeMap<PartitionKey, Pending>,
    /// The latest time received (skipped or not).
    max_time: Option<Time>,
}

impl ParquetSink {
    pub(crate) fn new(name: &str, from: &str, options: SinkOptions, encoder: Encoder, properties: WriterProperties, layout: Layout) -> ParquetSink {
        let storage = Storage::new(&options.path);
        ParquetSink { name: name.to_string(), from: from.to_string(), options, encoder, properties, layout, storage, state: None }
    }

    /// Reads the manifest (checking it describes these files), and deletes what an
    /// interrupted run left.
    fn start(&mut self) -> Result<State, ParquetSinkError> {
        self.storage.prepare(&self.name)?;
        let manifest = match manifest::read(&self.name, &mut self.storage)? {
            None => Manifest::new(&self.name, self.layout.clone()),
            Some(m) if m.layout != self.layout => {
                return Err(ParquetSinkError::ManifestMismatch {
                    sink: self.name.clone(),
                    location: self.storage.describe(manifest::MANIFEST_FILE),
                    found: m.layout.to_string(),
                    expected: self.layout.to_string(),
                });
            }
            Some(m) => m,
        };
        let removed = manifest::cleanup(&self.name, &mut self.storage, &manifest)?;
        tracing::info!(
            sink = %self.name,
            path = %self.options.path,
            files = manifest.files.len(),
            frontier = ?manifest.frontier,
            removed = removed.len(),
            "parquet sink started"
        );
        Ok(State {
            resume_frontier: manifest.frontier,
            resume: manifest.positions(),
            manifest,
            pending: BTreeMap::new(),
            max_time: None,
        })
    }

    /// The updates to write, by partition, in (time, row) order, without those an earlier run
    /// committed. In append mode a retraction is an error.
    fn group(&self, state: &State, updates: &[(Row, Time, Diff)]) -> Result<BTreeMap<PartitionKey, Updates>, ParquetSinkError> {
        let mut groups: BTreeMap<PartitionKey, Updates> = BTreeMap::new();
        for (row, time, diff) in updates {
            if *diff == 0 {
                continue;
            }
            if self.options.mode == Mode::Append && *diff < 0 {
                return Err(ParquetSinkError::NotAppendOnly { sink: self.name.clone(), from: self.from.clone(), row: format!("{:?}", row.0), time: *time });
            }
            if state.resume_frontier.is_some_and(|f| *time < f) {
                continue;
            }
            let (key, rest) = self.options.partitioning.split(row);
            groups.entry(key).or_default().push((rest, *time, *diff));
        }
        for (key, group) in groups.iter_mut() {
            group.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
            if let Some(position) = state.resume.get(key) {
                *group = self.skip_committed(std::mem::take(group), *position);
            }
        }
        groups.retain(|_, g| !g.is_empty());
        Ok(groups)
    }

    /// Drops the updates of one partition that its committed files already hold: those before
    /// `position.time`, and the first `position.rows` written rows at that time.
    fn skip_committed(&self, group: Updates, position: Position) -> Updates {
        let mut seen: u64 = 0;
        let mut kept = Vec::with_capacity(group.len());
        for (row, time, diff) in group {
            if time < position.time {
                continue;
            }
            if time > position.time || seen >= position.rows {
                kept.push((row, time, diff));
                continue;
            }
            // Rows this update writes: one (with its `_diff`), or `diff` copies in append mode.
            let weight = match self.options.mode {
                Mode::Changelog => 1,
                Mode::Append => diff.unsigned_abs() as u64,
            };
            let left = (seen + weight).saturating_sub(position.rows);
            seen += weight;
            if left > 0 {
                // Only in append mode can an update be partly committed.
                kept.push((row, time, left as Diff));
            }
        }
        kept
    }

    fn commit_inner(&mut self, updates: &[(Row, Time, Diff)], frontier: Option<Time>) -> Result<(), ConnectorError> {
        let state = match self.state.take() {
            Some(state) => state,
            None => self.start()?,
        };
        // Keep the started state whatever happens next (the start is not repeated).
        let result = self.commit_started(&state, updates, frontier);
        match result {
            Ok(next) => {
                self.state = Some(next);
                Ok(())
            }
            Err(e) => {
                self.state = Some(state);
                Err(e)
            }
        }
    }

    /// The commit proper: returns the new state, or an error with nothing changed on disk
    /// that a reader honouring the manifest could see.
    fn commit_started(&mut self, state: &State, updates: &[(Row, Time, Diff)], frontier: Option<Time>) -> Result<State, ConnectorError> {
        let groups = self.group(state, updates)?;
        let mut encoded: Vec<(PartitionKey, arrow::record_batch::RecordBatch, TimeRuns)> = Vec::with_capacity(groups.len());
        for (key, group) in &groups {
            let (batch, runs) = self.encoder.encode(group).map_err(|e| ConnectorError::Other(format!("sink '{}': {e}", self.name)))?;
            encoded.push((key.clone(), batch, runs));
        }

        let mut next = state.clone();
        let now = Instant::now();
        if let Some(last) = updates.iter().map(|u| u.1).max() {
            next.max_time = next.max_time.max(Some(last));
        }
        for (key, batch, runs) in encoded {
            next.pending.entry(key).or_default().push(batch, runs, now);
        }
        let rollover = Rollover { rows: self.options.rollover_rows, interval: self.options.rollover_interval };
        let ended = frontier.is_none();
        let mut cuts = Vec::new();
        for (key, pending) in next.pending.iter_mut() {
            while let Some(n) = next_cut(pending.len(), pending.opened(), now, rollover, ended) {
                cuts.push((key.clone(), pending.take(n)));
            }
        }
        next.pending.retain(|_, p| !p.is_empty());

        let mut manifest = next.manifest.clone();
        manifest.frontier = self.new_frontier(&next, frontier);
        manifest.ended = ended;
        if cuts.is_empty() && (!ended || manifest == next.manifest) {
            // Nothing committed: the rows wait in the buffers (lost on a crash, by design).
            return Ok(next);
        }

        let mut written: Vec<String> = Vec::with_capacity(cuts.len());
        let result = (|| {
            for (key, chunk) in &cuts {
                let mut path: Vec<String> = self.options.partitioning.dir(key).iter().map(|c| c.to_string_lossy().into_owned()).collect();
                path.push(file_name(manifest.next_sequence, chunk.min_time, chunk.max_time));
                let path = path.join("/");
                let bytes = encode_file(&self.name, &self.storage.describe(&path), self.encoder.file_schema(), &chunk.batches, &self.properties)?;
                self.storage.put(&self.name, &path, bytes)?;
                written.push(path.clone());
                manifest.files.push(FileEntry {
                    path,
                    rows: chunk.rows,
                    min_time: chunk.min_time,
                    max_time: chunk.max_time,
                    max_time_rows: chunk.max_time_rows,
                    partition: self
                        .options
                        .partitioning
                        .names()
                        .iter()
                        .zip(key)
                        .map(|(column, value)| PartitionValue { column: column.clone(), value: value.clone() })
                        .collect(),
                });
                manifest.next_sequence += 1;
            }
            manifest::write(&self.name, &mut self.storage, &manifest)
        })();
        if let Err(e) = result {
            for path in &written {
                // Best effort: a file left here is not in the manifest and is removed at start.
                let _ = self.storage.delete(&self.name, path);
            }
            return Err(e.into());
        }
        tracing::debug!(sink = %self.name, files = cuts.len(), frontier = ?manifest.frontier, "parquet files committed");
        next.manifest = manifest;
        Ok(next)
    }

    /// The manifest frontier after a commit: every update before it is in committed files.
    /// While running, the commit frontier held back by the oldest buffered row; at the end,
    /// just past the last time received (a replay of the same history then writes nothing).
    /// Never moves back.
    fn new_frontier(&self, next: &State, frontier: Option<Time>) -> Option<Time> {
        let candidate = match frontier {
            Some(f) => Some(next.pending.values().filter_map(Pending::first_time).fold(f, Time::min)),
            None => next.max_time.map(|t| t.saturating_add(1)),
        };
        candidate.max(next.manifest.frontier)
    }
}

impl Sink for ParquetSink {
    fn commit(&mut self, updates: &[(Row, Time, Diff)], frontier: Option<Time>) -> Result<(), ConnectorError> {
        self.commit_inner(updates, frontier)
    }
}
