//! The partitioned `file` sink (`partition_by`): `path` is a directory, each row goes to
//! `path/<col1>=<v1>/<col2>=<v2>/part.<ext>` and the files hold the other columns.
//!
//! Why this layout: it is Hive's, which Flink's filesystem sink writes and Spark, Trino,
//! DuckDB and Flink read back, taking the partition columns from the directory names (so they
//! are not repeated in the files). Values are escaped as Hive does (see [`crate::partition`]).
//!
//! Why snapshot mode rewrites each changed partition through a temporary file and a rename:
//! as with the single-file sink, a reader must see a partition's rows as of some committed
//! frontier, never a half-written file; rewriting only the partitions a commit changed keeps
//! the cost of a commit proportional to what changed, not to the whole relation. A partition
//! left with no rows loses its file, its `_SUCCESS` and its directories that became empty.
//! Changelog mode appends each partition's updates (with `_diff`) to its file, which is
//! created (truncated) the first time this run touches the partition.
//!
//! Why `_SUCCESS` files: they are the commit signal of Flink's success-file policy, which a
//! downstream job waits for before it reads a partition. A partition is committed once the
//! frontier (event time) reaches its `partition_time` plus `partition_commit_delay`, and in
//! any case when the input ends. A row that still arrives for a committed partition is
//! written (the data stays correct) and reported once with `tracing::warn!`; the `_SUCCESS`
//! stays.
//!
//! Failures: a failed commit is retried by the engine with the same updates (and later ones).
//! Snapshot mode therefore undoes a failed commit's updates in memory before returning the
//! error; changelog mode, like the single-file changelog, may repeat a failed commit's lines.
//! Partitions of an earlier run that this run never writes are left as they are; one it does
//! write loses the earlier `_SUCCESS` until this run commits it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};

use illunare_connector::{ConnectorError, Diff, Row, Sink, Time};

use crate::encode::{Encoder, Format, Mode};
use crate::file::replace_atomically;
use crate::partition::{CommitAt, PartitionKey, Partitioning};
use crate::{Multiset, write_changes, write_snapshot};

/// The name of the file that marks a partition as committed.
pub(crate) const SUCCESS_FILE: &str = "_SUCCESS";

/// Updates of one commit, by partition (rows without their partition columns, in time order).
type Groups = BTreeMap<PartitionKey, Vec<(Row, Time, Diff)>>;

pub(crate) struct PartitionedSink {
    name: String,
    root: PathBuf,
    /// `part.jsonl` or `part.csv`.
    file_name: String,
    mode: Mode,
    /// Encodes the rows without their partition columns.
    encoder: Encoder,
    partitioning: Partitioning,
    partitions: BTreeMap<PartitionKey, Partition>,
    /// Snapshot mode: partitions whose file may differ from their rows.
    dirty: BTreeSet<PartitionKey>,
    /// Partitions with a data file and no `_SUCCESS` yet.
    uncommitted: BTreeSet<PartitionKey>,
    /// Whether `root` has been created (at the first commit, not by `create`).
    started: bool,
}

/// What the sink knows of one partition.
struct Partition {
    /// `root/col1=v1/…`.
    dir: PathBuf,
    commit_at: CommitAt,
    /// Snapshot mode: the partition's current rows.
    rows: Multiset,
    /// Its data file exists (written by this run).
    on_disk: bool,
    /// Its `_SUCCESS` exists.
    success: bool,
    /// It has been committed at some point (rows arriving after that are reported).
    committed: bool,
    /// Such a row has been reported.
    warned: bool,
}

impl PartitionedSink {
    pub(crate) fn new(name: &str, root: PathBuf, partitioning: Partitioning, format: Format, mode: Mode) -> Self {
        let ext = match format {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        };
        PartitionedSink {
            name: name.to_string(),
            root,
            file_name: format!("part.{ext}"),
            mode,
            encoder: Encoder::new(partitioning.file_schema(), format),
            partitioning,
            partitions: BTreeMap::new(),
            dirty: BTreeSet::new(),
            uncommitted: BTreeSet::new(),
            started: false,
        }
    }

    fn context(&self, what: &str, path: &Path) -> String {
        format!("sink '{}': {what} '{}'", self.name, path.display())
    }

    /// `updates` by partition, each row without its partition columns.
    fn group(&self, updates: &[(Row, Time, Diff)]) -> Result<Groups, ConnectorError> {
        let mut groups = Groups::new();
        for (row, time, diff) in updates {
            let (key, rest) = self.partitioning.split(row).map_err(|e| ConnectorError::Other(format!("sink '{}': {e}", self.name)))?;
            groups.entry(key).or_default().push((rest, *time, *diff));
        }
        Ok(groups)
    }

    /// Makes sure `key` is known, and reports (once) that it gets rows after its commit.
    fn touch(&mut self, key: &PartitionKey) {
        if !self.partitions.contains_key(key) {
            let dir = self.root.join(self.partitioning.dir(key));
            let commit_at = self.partitioning.commit_at(key).unwrap_or_else(|why| {
                tracing::warn!(sink = %self.name, partition = %dir.display(), "{why}; the partition will be committed when the input ends");
                CommitAt::End
            });
            let partition =
                Partition { dir, commit_at, rows: Multiset::default(), on_disk: false, success: false, committed: false, warned: false };
            self.partitions.insert(key.clone(), partition);
        }
        if let Some(p) = self.partitions.get_mut(key)
            && p.committed
            && !p.warned
        {
            tracing::warn!(sink = %self.name, partition = %p.dir.display(), "rows arrived for a partition already committed (_SUCCESS written); they are written anyway");
            p.warned = true;
        }
    }

    fn partition(&self, key: &PartitionKey) -> Result<&Partition, ConnectorError> {
        self.partitions.get(key).ok_or_else(|| ConnectorError::Other(format!("sink '{}': partition {key:?} is not known", self.name)))
    }

    fn partition_mut(&mut self, key: &PartitionKey) -> Result<&mut Partition, ConnectorError> {
        let name = &self.name;
        self.partitions.get_mut(key).ok_or_else(|| ConnectorError::Other(format!("sink '{name}': partition {key:?} is not known")))
    }

    fn commit_snapshot(&mut self, groups: &Groups, frontier: Option<Time>) -> Result<(), ConnectorError> {
        for (applied, (key, updates)) in groups.iter().enumerate() {
            self.dirty.insert(key.clone());
            let Some(p) = self.partitions.get_mut(key) else { continue };
            if let Err(e) = p.rows.apply(&self.name, updates) {
                self.revert(groups.iter().take(applied + 1));
                return Err(e);
            }
        }
        let result = self.rewrite_dirty().and_then(|()| self.commit_due(frontier));
        if result.is_err() {
            self.revert(groups.iter());
        }
        result
    }

    /// Undoes applied updates (the engine retries a failed commit with them).
    fn revert<'a>(&mut self, groups: impl Iterator<Item = (&'a PartitionKey, &'a Vec<(Row, Time, Diff)>)>) {
        for (key, updates) in groups {
            let undo: Vec<(Row, Time, Diff)> = updates.iter().map(|(row, time, diff)| (row.clone(), *time, -diff)).collect();
            if let Some(p) = self.partitions.get_mut(key) {
                // Cannot fail: it restores the multiset to its state before the commit.
                let _ = p.rows.apply(&self.name, &undo);
                self.dirty.insert(key.clone());
            }
        }
    }

    /// Brings every dirty partition's file in line with its rows.
    fn rewrite_dirty(&mut self) -> Result<(), ConnectorError> {
        let dirty: Vec<PartitionKey> = self.dirty.iter().cloned().collect();
        for key in dirty {
            if self.partition(&key)?.rows.is_empty() {
                self.remove(&key)?;
            } else {
                self.rewrite(&key)?;
            }
            self.dirty.remove(&key);
        }
        Ok(())
    }

    /// Creates the partition's directory; before this run's first write into it, also removes
    /// a `_SUCCESS` an earlier run left there, which would mark it committed too early.
    fn prepare(&self, p: &Partition) -> Result<(), ConnectorError> {
        create_dir(&p.dir, &|what| self.context(what, &p.dir))?;
        if p.on_disk || p.success {
            return Ok(());
        }
        let success = p.dir.join(SUCCESS_FILE);
        remove_file(&success).map_err(|e| ConnectorError::io(self.context("removing", &success), e))
    }

    /// Replaces the partition's file by its rows, atomically.
    fn rewrite(&mut self, key: &PartitionKey) -> Result<(), ConnectorError> {
        let p = self.partition(key)?;
        self.prepare(p)?;
        let path = p.dir.join(&self.file_name);
        let tmp = p.dir.join(format!(".{}.tmp", self.file_name));
        let context = |what: &str| self.context(what, &path);
        replace_atomically(&path, &tmp, &context, |out| write_snapshot(out, &self.encoder, &p.rows))?;
        self.written(key)
    }

    /// Records that the partition's data file exists.
    fn written(&mut self, key: &PartitionKey) -> Result<(), ConnectorError> {
        let p = self.partition_mut(key)?;
        p.on_disk = true;
        if !p.success {
            self.uncommitted.insert(key.clone());
        }
        Ok(())
    }

    /// Removes an emptied partition: its file, its `_SUCCESS`, its directories left empty.
    fn remove(&mut self, key: &PartitionKey) -> Result<(), ConnectorError> {
        let p = self.partition(key)?;
        if p.on_disk {
            for name in [self.file_name.as_str(), SUCCESS_FILE] {
                let path = p.dir.join(name);
                remove_file(&path).map_err(|e| ConnectorError::io(self.context("removing", &path), e))?;
            }
            let mut dir = p.dir.as_path();
            while dir != self.root && dir.starts_with(&self.root) && is_empty_dir(dir) {
                fs::remove_dir(dir).map_err(|e| ConnectorError::io(self.context("removing directory", dir), e))?;
                let Some(parent) = dir.parent() else { break };
                dir = parent;
            }
        }
        let p = self.partition_mut(key)?;
        (p.on_disk, p.success) = (false, false);
        self.uncommitted.remove(key);
        Ok(())
    }

    /// Changelog mode: appends each partition's updates to its file.
    fn append(&mut self, groups: &Groups) -> Result<(), ConnectorError> {
        for (key, updates) in groups {
            let p = self.partition(key)?;
            let path = p.dir.join(&self.file_name);
            let context = |what: &str| self.context(what, &path);
            let file = if p.on_disk {
                OpenOptions::new().append(true).open(&path).map_err(|e| ConnectorError::io(context("opening"), e))?
            } else {
                self.prepare(p)?;
                File::create(&path).map_err(|e| ConnectorError::io(context("creating"), e))?
            };
            let mut out = BufWriter::with_capacity(1 << 16, file);
            if !p.on_disk
                && let Some(header) = self.encoder.header(true)
            {
                out.write_all(header.as_bytes()).map_err(|e| ConnectorError::io(context("writing"), e))?;
            }
            write_changes(&mut out, &self.encoder, updates).map_err(|e| e.context(context("writing")))?;
            out.flush().map_err(|e| ConnectorError::io(context("writing"), e))?;
            self.written(key)?;
        }
        Ok(())
    }

    /// Writes `_SUCCESS` into every written partition that is due at `frontier`.
    fn commit_due(&mut self, frontier: Option<Time>) -> Result<(), ConnectorError> {
        let due: Vec<PartitionKey> =
            self.uncommitted.iter().filter(|key| self.partitions.get(*key).is_some_and(|p| p.commit_at.due(frontier))).cloned().collect();
        for key in due {
            let path = self.partition(&key)?.dir.join(SUCCESS_FILE);
            File::create(&path).map_err(|e| ConnectorError::io(self.context("writing", &path), e))?;
            let p = self.partition_mut(&key)?;
            (p.success, p.committed) = (true, true);
            self.uncommitted.remove(&key);
        }
        Ok(())
    }
}

impl Sink for PartitionedSink {
    fn commit(&mut self, updates: &[(Row, Time, Diff)], frontier: Option<Time>) -> Result<(), ConnectorError> {
        let groups = self.group(updates)?;
        if !self.started {
            // The directory exists from the first commit on, even while the relation is empty.
            create_dir(&self.root, &|what| self.context(what, &self.root))?;
            self.started = true;
        }
        for key in groups.keys() {
            self.touch(key);
        }
        match self.mode {
            Mode::Snapshot => self.commit_snapshot(&groups, frontier),
            Mode::Changelog => {
                self.append(&groups)?;
                self.commit_due(frontier)
            }
        }
    }
}

fn create_dir(dir: &Path, context: &dyn Fn(&str) -> String) -> Result<(), ConnectorError> {
    fs::create_dir_all(dir).map_err(|e| ConnectorError::io(context("creating directory"), e))
}

/// Removes `path`; a file that is not there is fine.
fn remove_file(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn is_empty_dir(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none())
}

#[cfg(test)]
#[path = "partitioned_tests.rs"]
mod tests;
