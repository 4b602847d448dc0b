//! The rolling part: rows buffered per partition until a file is due ([`Pending`],
//! [`next_cut`]), file names ([`file_name`]), and encoding one Parquet file ([`encode_file`];
//! [`crate::storage`] puts it in place atomically).
//!
//! Why buffer Arrow batches in memory until a file is cut, rather than stream rows into an
//! open `.parquet.tmp` as they come: a commit must be all-or-nothing (the engine retries a
//! failed commit with the same updates). With an open writer, a failure in the middle of a
//! commit leaves rows of that commit in the writer's buffers with no way to take them out, so
//! the retry would write them twice, or the file would have to be abandoned with the rows of
//! earlier, already acknowledged commits. Buffered batches are immutable (cloning a buffer
//! clones `Arc`s), so the sink prepares a commit on a copy and swaps it in only once the files
//! and the manifest are durable. The cost is memory: up to `rollover_rows` rows per open
//! partition, in Arrow form; the `parquet` writer would hold a row group (by default 1 Mi rows)
//! in memory anyway.
//!
//! Why file names `part-<sequence, 10 digits>-<min time>-<max time>.parquet`: the zero-padded
//! sequence (one counter for the whole sink, kept in the manifest) makes names unique and
//! sorted in commit order, and a retried or replayed commit produces the same names; the times
//! tell a person what a file covers without opening it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use illunare_connector::Time;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use crate::error::ParquetSinkError;
use crate::rows::TimeRuns;

/// Digits of the sequence number in file names.
const SEQUENCE_DIGITS: usize = 10;

/// `part-<sequence>-<min time>-<max time>.parquet`.
pub fn file_name(sequence: u64, min_time: Time, max_time: Time) -> String {
    format!("part-{sequence:0SEQUENCE_DIGITS$}-{min_time}-{max_time}.parquet")
}

/// Whether `name` is a data file name this sink writes (see [`file_name`]).
pub fn is_part_file(name: &str) -> bool {
    let Some(middle) = name.strip_prefix("part-").and_then(|n| n.strip_suffix(".parquet")) else {
        return false;
    };
    let parts: Vec<&str> = middle.split('-').collect();
    parts.len() == 3 && parts[0].len() >= SEQUENCE_DIGITS && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// When files are cut.
#[derive(Debug, Clone, Copy)]
pub struct Rollover {
    pub rows: u64,
    pub interval: Duration,
}

/// The size of the next file to cut from a buffer of `buffered` rows whose oldest row was
/// buffered at `opened`, or `None` when none is due: a full file of `rollover.rows`, else all
/// the rows when the input has `ended` or the oldest waited `rollover.interval`.
pub fn next_cut(buffered: usize, opened: Option<Instant>, now: Instant, rollover: Rollover, ended: bool) -> Option<usize> {
    let full = usize::try_from(rollover.rows).unwrap_or(usize::MAX);
    if buffered == 0 {
        None
    } else if buffered >= full {
        Some(full)
    } else if ended || opened.is_some_and(|at| now.saturating_duration_since(at) >= rollover.interval) {
        Some(buffered)
    } else {
        None
    }
}

/// A partition's rows not yet in a committed file, in order.
#[derive(Debug, Clone, Default)]
pub struct Pending {
    /// Each batch with when it was buffered.
    batches: VecDeque<(RecordBatch, Instant)>,
    /// The times of the buffered rows.
    runs: VecDeque<(Time, usize)>,
    rows: usize,
}

/// Rows cut from a [`Pending`] to make one file.
#[derive(Debug)]
pub struct Chunk {
    pub batches: Vec<RecordBatch>,
    pub rows: u64,
    pub min_time: Time,
    pub max_time: Time,
    pub max_time_rows: u64,
}

impl Pending {
    pub fn push(&mut self, batch: RecordBatch, runs: TimeRuns, now: Instant) {
        let rows = batch.num_rows();
        if rows == 0 {
            return;
        }
        self.rows += rows;
        self.batches.push_back((batch, now));
        for (time, n) in runs {
            match self.runs.back_mut() {
                Some((t, count)) if *t == time => *count += n,
                _ => self.runs.push_back((time, n)),
            }
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// When the oldest buffered row was buffered.
    pub fn opened(&self) -> Option<Instant> {
        self.batches.front().map(|(_, at)| *at)
    }

    /// The time of the oldest buffered row.
    pub fn first_time(&self) -> Option<Time> {
        self.runs.front().map(|(t, _)| *t)
    }

    /// Takes the first `n` rows (at most all of them).
    pub fn take(&mut self, n: usize) -> Chunk {
        let n = n.min(self.rows);
        let mut batches = Vec::new();
        let mut left = n;
        while left > 0 {
            let Some((batch, at)) = self.batches.pop_front() else { break };
            if batch.num_rows() <= left {
                left -= batch.num_rows();
                batches.push(batch);
            } else {
                batches.push(batch.slice(0, left));
                self.batches.push_front((batch.slice(left, batch.num_rows() - left), at));
                left = 0;
            }
        }
        let (mut min_time, mut max_time, mut max_time_rows) = (Time::MAX, 0, 0);
        let mut left = n;
        while left > 0 {
            let Some((time, count)) = self.runs.pop_front() else { break };
            let used = count.min(left);
            if used < count {
                self.runs.push_front((time, count - used));
            }
            left -= used;
            min_time = min_time.min(time);
            if time > max_time || max_time_rows == 0 {
                max_time = time;
                max_time_rows = used as u64;
            } else if time == max_time {
                max_time_rows += used as u64;
            }
        }
        self.rows -= n;
        Chunk { batches, rows: n as u64, min_time, max_time, max_time_rows }
    }
}

/// `batches` encoded as one Parquet file (`location` names it in errors).
pub fn encode_file(sink: &str, location: &str, schema: &SchemaRef, batches: &[RecordBatch], properties: &WriterProperties) -> Result<Vec<u8>, ParquetSinkError> {
    let parquet_error = |source| ParquetSinkError::Parquet { sink: sink.to_string(), location: location.to_string(), source };
    let mut writer = ArrowWriter::try_new(Vec::new(), Arc::clone(schema), Some(properties.clone())).map_err(parquet_error)?;
    for batch in batches {
        writer.write(batch).map_err(parquet_error)?;
    }
    writer.into_inner().map_err(parquet_error)
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    use super::*;

    #[test]
    fn names_sort_and_are_recognised() {
        let a = file_name(2, 10, 20);
        let b = file_name(10, 5, 6);
        assert_eq!(a, "part-0000000002-10-20.parquet");
        assert!(a < b);
        assert!(is_part_file(&a) && is_part_file(&b));
        for other in ["part-00000-abc-c000.snappy.parquet", "part-1-2-3.parquet", "_manifest.json", "part-0000000002-10-20.parquet.tmp"] {
            assert!(!is_part_file(other), "{other}");
        }
    }

    #[test]
    fn rollover_decisions() {
        let r = Rollover { rows: 100, interval: Duration::from_secs(60) };
        let now = Instant::now();
        assert_eq!(next_cut(0, None, now, r, true), None);
        assert_eq!(next_cut(250, Some(now), now, r, false), Some(100));
        assert_eq!(next_cut(50, Some(now), now, r, false), None);
        assert_eq!(next_cut(50, Some(now), now, r, true), Some(50));
        assert_eq!(next_cut(50, Some(now), now + Duration::from_secs(60), r, false), Some(50));
        assert_eq!(next_cut(50, Some(now), now + Duration::from_secs(59), r, false), None);
    }

    #[test]
    fn pending_cuts_across_batches_and_times() {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let batch = |values: Vec<i64>| RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(values))]).unwrap();
        let now = Instant::now();
        let mut p = Pending::default();
        p.push(batch(vec![1, 2, 3]), vec![(1, 1), (2, 2)], now);
        p.push(batch(vec![4, 5]), vec![(2, 1), (3, 1)], now);
        assert_eq!((p.len(), p.first_time()), (5, Some(1)));
        let c = p.take(2);
        assert_eq!((c.rows, c.min_time, c.max_time, c.max_time_rows), (2, 1, 2, 1));
        let c = p.take(2);
        assert_eq!((c.rows, c.min_time, c.max_time, c.max_time_rows), (2, 2, 2, 2));
        let values: Vec<i64> = c.batches.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect();
        assert_eq!(values, vec![3, 4]);
        assert_eq!(p.first_time(), Some(3));
        let c = p.take(10);
        assert_eq!((c.rows, c.min_time, c.max_time, c.max_time_rows), (1, 3, 3, 1));
        assert!(p.is_empty() && p.opened().is_none());
    }
}
