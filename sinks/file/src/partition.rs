//! What a partition of the partitioned `file` sink is: the columns that make it
//! (`partition_by`), the directory it is written to (`col=value` per column, escaped as Hive
//! does), and when it is complete (`partition_time` + `partition_commit_delay`). The writer
//! that uses this is in [`crate::partitioned`].
//!
//! Partition values are the text the encoders print for the value (`datum_to_text`: a
//! timestamp is RFC 3339), so a directory name reads like the column would in the file. NULL
//! is Hive's `__HIVE_DEFAULT_PARTITION__`; the empty string stays `col=` (a different value).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{Schema, SchemaRef};
use chrono::{NaiveDate, NaiveDateTime};
use illunare_connector::hive::{partition_columns, partition_dir, partition_value};
use illunare_connector::{ConnectorError, Options, Row, Time};


/// A row's partition: the text of each partition column's value, `None` for NULL.
pub(crate) type PartitionKey = Vec<Option<String>>;

/// When a partition is committed (its `_SUCCESS` written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CommitAt {
    /// Once the frontier reaches this time (partition time + delay), or the input ends.
    Time(Time),
    /// When the input ends.
    End,
}

impl CommitAt {
    /// Whether a partition is due at `frontier` (`None`: the input has ended).
    pub(crate) fn due(self, frontier: Option<Time>) -> bool {
        match (self, frontier) {
            (_, None) => true,
            (CommitAt::Time(at), Some(f)) => f >= at,
            (CommitAt::End, Some(_)) => false,
        }
    }
}

/// The `partition_by`, `partition_time` and `partition_commit_delay` options, resolved against
/// the relation's columns.
#[derive(Debug)]
pub(crate) struct Partitioning {
    schema: SchemaRef,
    /// The partition columns, in `partition_by` order.
    columns: Vec<usize>,
    /// The other columns, in the relation's order: what the files hold.
    kept: Vec<usize>,
    time: Option<TimePattern>,
    delay: Duration,
}

impl Partitioning {
    /// `None` without `partition_by`; an option error for a bad list, a pattern naming a
    /// column that is not a partition column, or `partition_time` / `partition_commit_delay`
    /// given without what they refine.
    pub(crate) fn from_options(options: &Options, schema: &SchemaRef) -> Result<Option<Partitioning>, ConnectorError> {
        let by = options.get("partition_by")?;
        let time = options.get("partition_time")?;
        let delay = options.duration("partition_commit_delay")?;
        let Some(by) = by else {
            for (key, given) in [("partition_time", time.is_some()), ("partition_commit_delay", delay.is_some())] {
                if given {
                    return Err(ConnectorError::option(key, "needs partition_by (it applies to partitions)"));
                }
            }
            return Ok(None);
        };
        let columns = partition_columns(&by, schema)?;
        if delay.is_some() && time.is_none() {
            return Err(ConnectorError::option(
                "partition_commit_delay",
                "needs partition_time (without it, partitions are committed when the input ends)",
            ));
        }
        let names: Vec<&str> = columns.iter().map(|&c| schema.field(c).name().as_str()).collect();
        let time = time.map(|t| TimePattern::parse(&t, &names)).transpose()?;
        let kept = (0..schema.fields().len()).filter(|c| !columns.contains(c)).collect();
        Ok(Some(Partitioning { schema: schema.clone(), columns, kept, time, delay: delay.unwrap_or_default() }))
    }

    /// The columns the files hold: the relation's without the partition columns.
    pub(crate) fn file_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(self.kept.iter().map(|&c| self.schema.field(c).clone()).collect::<Vec<_>>()))
    }

    /// A row's partition and the row without its partition columns.
    pub(crate) fn split(&self, row: &Row) -> Result<(PartitionKey, Row), ConnectorError> {
        let width = self.schema.fields().len();
        if row.len() != width {
            return Err(ConnectorError::Other(format!("sink received a row of {} columns, its relation has {width}", row.len())));
        }
        let key = self.columns.iter().map(|&c| partition_value(row.get(c), self.schema.field(c).data_type())).collect();
        Ok((key, row.project(&self.kept)))
    }

    /// The partition's directory, relative to the sink's `path`: `col1=v1/col2=v2`.
    pub(crate) fn dir(&self, key: &PartitionKey) -> PathBuf {
        partition_dir(self.columns.iter().map(|&c| self.schema.field(c).name().as_str()), key)
    }

    /// When the partition is committed; `Err` (with why) when `partition_time` does not give
    /// a time for it, in which case it is committed at the end.
    pub(crate) fn commit_at(&self, key: &PartitionKey) -> Result<CommitAt, String> {
        let Some(pattern) = &self.time else {
            return Ok(CommitAt::End);
        };
        let Some(text) = pattern.render(key) else {
            return Err(format!("partition_time '{}' uses a NULL partition value", pattern.text));
        };
        let millis = parse_partition_time(&text)
            .ok_or_else(|| format!("partition_time '{}' gives '{text}', not a 'YYYY-MM-DD HH:MM:SS' or 'YYYY-MM-DD' time", pattern.text))?;
        let at = i128::from(millis) + self.delay.as_millis() as i128;
        Ok(CommitAt::Time(at.clamp(0, i128::from(Time::MAX)) as Time))
    }
}

/// `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD` (midnight), UTC, as milliseconds since the epoch.
pub(crate) fn parse_partition_time(text: &str) -> Option<i64> {
    let text = text.trim();
    let at = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .ok()
        .or_else(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))?;
    Some(at.and_utc().timestamp_millis())
}

/// `partition_time`: text with `$column` references to partition columns.
#[derive(Debug)]
struct TimePattern {
    text: String,
    pieces: Vec<Piece>,
}

#[derive(Debug)]
enum Piece {
    Text(String),
    /// The value of the i-th partition column.
    Value(usize),
}

impl TimePattern {
    /// Splits `text` at `$name` references (a name is the longest run of letters, digits and
    /// `_`), each of which must be one of `columns`.
    fn parse(text: &str, columns: &[&str]) -> Result<TimePattern, ConnectorError> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(dollar) = rest.find('$') {
            if dollar > 0 {
                pieces.push(Piece::Text(rest[..dollar].to_string()));
            }
            let after = &rest[dollar + 1..];
            let end = after.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(after.len());
            let name = &after[..end];
            let index = columns.iter().position(|c| *c == name).or_else(|| columns.iter().position(|c| c.eq_ignore_ascii_case(name))).ok_or_else(|| {
                ConnectorError::option(
                    "partition_time",
                    format!("'{text}': '${name}' is not a partition column (partition_by: {})", columns.join(", ")),
                )
            })?;
            pieces.push(Piece::Value(index));
            rest = &after[end..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(TimePattern { text: text.to_string(), pieces })
    }

    /// The pattern with the partition's values substituted; `None` if one of them is NULL.
    fn render(&self, key: &PartitionKey) -> Option<String> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Value(i) => out.push_str(key.get(*i)?.as_deref()?),
            }
        }
        Some(out)
    }
}
