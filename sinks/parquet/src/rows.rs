//! Updates → Arrow batches in the files' schema: the relation's columns (without partition
//! columns) and, in changelog mode, `_diff` and `_time`.
//!
//! Why `_diff` as Int64 and `_time` as `Timestamp(Millisecond, "UTC")`: a reader gets the
//! relation at any time by summing `_diff` per row over the rows with `_time <= t`; engine times
//! are milliseconds since the epoch, so `_time` is an instant and is written as Parquet
//! `TIMESTAMP(MILLIS, isAdjustedToUTC = true)`, which DuckDB, Spark and DataFusion read as a
//! UTC timestamp. A row with multiplicity `n` is one line with `_diff = n` (not `n` lines).
//! In append mode a row with multiplicity `n` is written `n` times (there is no `_diff`).
//!
//! The relation's columns go through `illunare_types::rows_to_batch`, the engine's single
//! Row → Arrow conversion, so every type the engine has is written as its declared Arrow type;
//! the two extra columns are built directly (no copy of the rows).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, TimestampMillisecondArray, make_array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use illunare_connector::{ConnectorError, Diff, Row, Time};
use illunare_types::rows_to_batch;

use crate::options::{Mode, TimestampUnit};
use crate::partition::Partitioning;

/// The multiplicity column of changelog files.
pub const DIFF_COLUMN: &str = "_diff";
/// The time column of changelog files.
pub const TIME_COLUMN: &str = "_time";
/// The time zone of `_time`.
const UTC: &str = "UTC";

/// Builds the batches written to the files.
#[derive(Debug, Clone)]
pub struct Encoder {
    /// The relation's columns the files hold, with time zones removed from timestamps (see
    /// [`Encoder::data_columns`]).
    plain: SchemaRef,
    /// `data` plus, in changelog mode, `_diff` and `_time`.
    file: SchemaRef,
    mode: Mode,
}

/// Times of consecutive written rows, run-length encoded: `(time, rows)`.
pub type TimeRuns = Vec<(Time, usize)>;

impl Encoder {
    /// With `timestamp_unit`, timestamp columns are written in that unit (see [`Encoder::data_columns`]).
    pub fn new(relation: &SchemaRef, partitioning: &Partitioning, mode: Mode, timestamp_unit: TimestampUnit) -> Encoder {
        let relation_data: Vec<Field> = partitioning.kept().iter().map(|&c| relation.field(c).clone()).collect();
        let data: Vec<Field> = relation_data
            .iter()
            .map(|f| match f.data_type() {
                DataType::Timestamp(unit, zone) => f.clone().with_data_type(DataType::Timestamp(timestamp_unit.of(*unit), zone.clone())),
                _ => f.clone(),
            })
            .collect();
        let mut file = data.clone();
        if mode == Mode::Changelog {
            file.push(Field::new(DIFF_COLUMN, DataType::Int64, false));
            file.push(Field::new(TIME_COLUMN, DataType::Timestamp(TimeUnit::Millisecond, Some(UTC.into())), false));
        }
        let plain: Vec<Field> = relation_data
            .iter()
            .map(|f| match f.data_type() {
                DataType::Timestamp(unit, Some(_)) => f.clone().with_data_type(DataType::Timestamp(*unit, None)),
                _ => f.clone(),
            })
            .collect();
        Encoder { plain: Arc::new(Schema::new(plain)), file: Arc::new(Schema::new(file)), mode }
    }

    /// The schema of every file.
    pub fn file_schema(&self) -> &SchemaRef {
        &self.file
    }

    /// One batch for `updates` (rows without their partition columns, in time order) and the
    /// times of its rows. Append mode expects no retractions (checked by the caller).
    pub fn encode(&self, updates: &[(Row, Time, Diff)]) -> Result<(RecordBatch, TimeRuns), ConnectorError> {
        let mut runs: TimeRuns = Vec::new();
        let mut push = |time: Time, n: usize| match runs.last_mut() {
            Some((t, count)) if *t == time => *count += n,
            _ => runs.push((time, n)),
        };
        let mut rows: Vec<&Row> = Vec::with_capacity(updates.len());
        match self.mode {
            Mode::Changelog => {
                for (row, t, _) in updates {
                    rows.push(row);
                    push(*t, 1);
                }
            }
            Mode::Append => {
                for (row, t, d) in updates {
                    let n = usize::try_from(*d).unwrap_or(0);
                    rows.extend(std::iter::repeat_n(row, n));
                    if n > 0 {
                        push(*t, n);
                    }
                }
            }
        }
        let mut columns = self.data_columns(&rows)?;
        if self.mode == Mode::Changelog {
            let diffs: Int64Array = updates.iter().map(|(_, _, d)| Some(*d as i64)).collect();
            let times = updates.iter().map(|(_, t, _)| Some(i64::try_from(*t).unwrap_or(i64::MAX))).collect::<TimestampMillisecondArray>().with_timezone(UTC);
            columns.push(Arc::new(diffs));
            columns.push(Arc::new(times));
        }
        let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
        Ok((RecordBatch::try_new_with_options(self.file.clone(), columns, &options)?, runs))
    }

    /// The relation's columns of `rows`, through the engine's conversion. Timestamps with a
    /// time zone are converted without it and then labelled with it (same values: UTC
    /// instants), because the engine's conversion casts to the zone, which fails for named
    /// zones such as `UTC` (arrow is built without `chrono-tz`). Timestamps in another unit than
    /// the files' are cast to it first (as SQL's CAST does: a finer part is truncated).
    fn data_columns(&self, rows: &[&Row]) -> Result<Vec<ArrayRef>, ConnectorError> {
        let batch = rows_to_batch(&self.plain, rows.iter().copied())?;
        let mut columns = Vec::with_capacity(batch.num_columns());
        for (column, field) in batch.columns().iter().zip(self.file.fields()) {
            let column = match (column.data_type(), field.data_type()) {
                (DataType::Timestamp(from, _), DataType::Timestamp(to, _)) if from != to => arrow::compute::cast(column, &DataType::Timestamp(*to, None))?,
                _ => column.clone(),
            };
            if column.data_type() == field.data_type() {
                columns.push(column);
            } else {
                let data = column.to_data().into_builder().data_type(field.data_type().clone()).build()?;
                columns.push(make_array(data));
            }
        }
        Ok(columns)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int64Type, TimestampMillisecondType};
    use illunare_types::Datum;

    use super::*;

    fn relation() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true), Field::new("v", DataType::Int32, true)]))
    }

    fn updates() -> Vec<(Row, Time, Diff)> {
        vec![
            (Row(vec![Datum::str("a"), Datum::Int(1)]), 5, 2),
            (Row(vec![Datum::str("b"), Datum::Int(2)]), 5, -1),
            (Row(vec![Datum::str("c"), Datum::Null]), 7, 1),
        ]
    }

    #[test]
    fn changelog_rows_carry_diff_and_time() {
        let p = Partitioning::from_option(None, &relation()).unwrap();
        let e = Encoder::new(&relation(), &p, Mode::Changelog, TimestampUnit::Portable);
        let (batch, runs) = e.encode(&updates()).unwrap();
        assert_eq!(batch.num_rows(), 3);
        assert_eq!(runs, vec![(5, 2), (7, 1)]);
        let diffs = batch.column(2).as_primitive::<Int64Type>();
        assert_eq!(diffs.values().to_vec(), vec![2, -1, 1]);
        let times = batch.column(3).as_primitive::<TimestampMillisecondType>();
        assert_eq!(times.values().to_vec(), vec![5, 5, 7]);
        assert_eq!(times.data_type(), &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())));
    }

    #[test]
    fn append_repeats_multiplicities_and_drops_partition_columns() {
        let p = Partitioning::from_option(Some("k"), &relation()).unwrap();
        let e = Encoder::new(&relation(), &p, Mode::Append, TimestampUnit::Portable);
        assert_eq!(e.file_schema().fields().len(), 1);
        let rows = vec![(Row(vec![Datum::Int(1)]), 5, 2), (Row(vec![Datum::Int(3)]), 6, 1)];
        let (batch, runs) = e.encode(&rows).unwrap();
        assert_eq!(batch.num_rows(), 3);
        assert_eq!(runs, vec![(5, 2), (6, 1)]);
    }

    #[test]
    fn timestamps_are_written_in_the_chosen_unit() {
        use arrow::datatypes::{TimestampMicrosecondType, TimestampNanosecondType};
        let relation = Arc::new(Schema::new(vec![
            Field::new("at", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
            Field::new("utc", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), true),
        ]));
        let p = Partitioning::from_option(None, &relation).unwrap();
        let rows = vec![(Row(vec![Datum::Timestamp(1_500_001_999), Datum::Timestamp(-1_999)]), 1, 1)];
        let e = Encoder::new(&relation, &p, Mode::Append, TimestampUnit::Portable);
        let (batch, _) = e.encode(&rows).unwrap();
        assert_eq!(batch.column(0).as_primitive::<TimestampMicrosecondType>().value(0), 1_500_001);
        assert_eq!(batch.column(1).data_type(), &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())));
        assert_eq!(batch.column(1).as_primitive::<TimestampMicrosecondType>().value(0), -1);
        let kept = Encoder::new(&relation, &p, Mode::Append, TimestampUnit::Keep);
        let (batch, _) = kept.encode(&rows).unwrap();
        assert_eq!(batch.column(0).as_primitive::<TimestampNanosecondType>().value(0), 1_500_001_999);
    }
}
