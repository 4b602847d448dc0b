//! Sinks that write a relation as text: `file` (a JSON-lines or CSV file) and `stdout`; and
//! `blackhole`, which discards it (for benchmarks).
//!
//! ```sql
//! CREATE SINK spend_out FROM spend
//!   WITH (connector = 'file', path = 'out/spend.jsonl', format = 'jsonl', mode = 'snapshot');
//! ```
//!
//! Two modes, because a relation maintained incrementally can be shown two ways:
//! - `snapshot`: the output is the relation's current contents. The sink keeps the multiset
//!   (`row → multiplicity`) and rewrites the whole output at each commit (atomically, for files),
//!   so a reader never sees a half-applied commit.
//! - `changelog`: every update is appended as a line with its `_diff` (+n inserted, -n retracted),
//!   the raw differential stream.
//!
//! The `file` sink can also write Hive-style partitions (`partition_by = 'dt, hm'`): `path` is
//! then a directory with one file per partition, `path/dt=…/hm=…/part.csv`, holding the other
//! columns; snapshot mode rewrites only the partitions a commit changed, and a partition is
//! committed (an empty `_SUCCESS` written into it) once the frontier passes its
//! `partition_time` plus `partition_commit_delay`, or when the input ends:
//!
//! ```sql
//! CREATE SINK q10 FROM nexmark_q10 WITH (connector = 'file', path = 'out/q10', format = 'csv',
//!   partition_by = 'dt, hm', partition_time = '$dt $hm:00', partition_commit_delay = '1 min');
//! ```
//!
//! Encoding of rows is shared in [`encode`]; the file and stdout specifics are in [`file`] and
//! [`stdout`], partitions in [`partition`] (columns, directory names, commit times) and
//! [`partitioned`] (the writer). `create` only validates options: files are created (or
//! truncated) at the first commit, so `check` never touches the filesystem.

mod blackhole;
mod encode;
mod file;
mod partition;
mod partitioned;
mod stdout;

use std::collections::BTreeMap;
use std::io::Write;

use illunare_connector::{ConnectorError, Diff, Row, Time};

pub use blackhole::BlackholeSinkConnector;
pub use file::FileSinkConnector;
pub use stdout::StdoutSinkConnector;

use encode::Encoder;

/// The current contents of a relation: each row with its (positive) multiplicity.
#[derive(Default, Debug)]
pub(crate) struct Multiset {
    rows: BTreeMap<Row, Diff>,
}

impl Multiset {
    /// Applies `updates`; fails when a row ends up with a negative multiplicity, which means a
    /// retraction of a row that is not there (a bug upstream, reported rather than hidden).
    pub(crate) fn apply(&mut self, sink: &str, updates: &[(Row, Time, Diff)]) -> Result<(), ConnectorError> {
        // Rows that went negative at some point; checked once all updates are applied (only
        // these, so a commit costs O(updates), not O(contents)).
        let mut suspects: Vec<&Row> = Vec::new();
        for (row, _, diff) in updates {
            if *diff == 0 {
                continue;
            }
            let n = match self.rows.get_mut(row) {
                Some(n) => {
                    *n += diff;
                    *n
                }
                None => {
                    self.rows.insert(row.clone(), *diff);
                    *diff
                }
            };
            if n == 0 {
                self.rows.remove(row);
            } else if n < 0 {
                suspects.push(row);
            }
        }
        for row in suspects {
            if let Some(&n) = self.rows.get(row).filter(|n| **n < 0) {
                return Err(ConnectorError::Other(format!(
                    "sink '{sink}': row {:?} has multiplicity {n} (more retractions than insertions); this is a bug upstream of the sink",
                    row.0
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Row, Diff)> {
        self.rows.iter().map(|(r, n)| (r, *n))
    }
}

/// Writes the whole multiset (each row as many times as its multiplicity), header first.
pub(crate) fn write_snapshot(out: &mut dyn Write, encoder: &Encoder, rows: &Multiset) -> Result<(), SinkWriteError> {
    if let Some(header) = encoder.header(false) {
        out.write_all(header.as_bytes())?;
    }
    let mut line = String::new();
    for (row, n) in rows.iter() {
        line.clear();
        encoder.encode(row, None, &mut line)?;
        for _ in 0..n {
            out.write_all(line.as_bytes())?;
        }
    }
    Ok(())
}

/// Writes one line per update, with its `_diff`.
pub(crate) fn write_changes(out: &mut dyn Write, encoder: &Encoder, updates: &[(Row, Time, Diff)]) -> Result<(), SinkWriteError> {
    let mut line = String::new();
    for (row, _, diff) in updates {
        line.clear();
        encoder.encode(row, Some(*diff), &mut line)?;
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// Either an I/O failure (to be given a context) or an encoding error.
pub(crate) enum SinkWriteError {
    Io(std::io::Error),
    Connector(ConnectorError),
}

impl From<std::io::Error> for SinkWriteError {
    fn from(e: std::io::Error) -> Self {
        SinkWriteError::Io(e)
    }
}

impl From<ConnectorError> for SinkWriteError {
    fn from(e: ConnectorError) -> Self {
        SinkWriteError::Connector(e)
    }
}

impl SinkWriteError {
    pub(crate) fn context(self, context: impl Into<String>) -> ConnectorError {
        match self {
            SinkWriteError::Io(e) => ConnectorError::io(context, e),
            SinkWriteError::Connector(e) => e,
        }
    }
}
