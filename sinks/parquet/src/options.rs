//! The `WITH (…)` options of the `parquet` sink, validated once in `create`.
//!
//! Why a separate, pure step: `illunare check` calls `create`, so every mistake a pipeline
//! author can make in the options (a typo, a `gs://` URL, a zero rollover, an unknown compression, a
//! relation that already has a `_diff` column) must be reported there, naming the option,
//! before any file is touched. Nothing in here reads or writes the file system.

use std::time::Duration;

use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use illunare_connector::{ConnectorError, Options};
use illunare_object_store::{StoreUrl, UrlError};
use parquet::basic::{Compression, ZstdLevel};

use crate::partition::Partitioning;
use crate::rows::{DIFF_COLUMN, TIME_COLUMN};

/// Default `rollover_rows`: a file is closed once it holds this many rows.
pub const DEFAULT_ROLLOVER_ROWS: u64 = 1_000_000;
/// Default `rollover_interval`: a file is closed this long after its first row was buffered.
pub const DEFAULT_ROLLOVER_INTERVAL: Duration = Duration::from_secs(60);

/// What each written row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every update, once, with `_diff` (its multiplicity, negative for a retraction) and
    /// `_time` (when it happened). The default: it can represent any relation.
    Changelog,
    /// Only the relation's columns; a row inserted `n` times is written `n` times and a
    /// retraction fails the commit (the relation must be append-only).
    Append,
}

/// The output compression (`compression`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Zstd,
    Snappy,
    None,
}

impl Codec {
    pub fn parquet(self) -> Compression {
        match self {
            Codec::Zstd => Compression::ZSTD(ZstdLevel::default()),
            Codec::Snappy => Compression::SNAPPY,
            Codec::None => Compression::UNCOMPRESSED,
        }
    }
}

/// The validated options.
#[derive(Debug)]
pub struct SinkOptions {
    /// The output directory (created at the first commit if missing).
    pub path: StoreUrl,
    pub rollover_rows: u64,
    pub rollover_interval: Duration,
    pub mode: Mode,
    pub codec: Codec,
    /// Rows per Parquet row group (`None`: the `parquet` crate's default, 1 Mi rows).
    pub row_group_size: Option<usize>,
    /// `partition_by`, resolved against the relation's columns.
    pub partitioning: Partitioning,
    /// `timestamp_unit`: the unit timestamp columns are written in.
    pub timestamp_unit: TimestampUnit,
}

/// The unit timestamp columns are written in (`timestamp_unit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampUnit {
    /// The default: nanoseconds as microseconds (Parquet `TIMESTAMP(NANOS)` is what Spark 3
    /// and older readers refuse), coarser units as they are.
    Portable,
    /// The relation's own unit.
    Keep,
    /// This unit for every timestamp column.
    Exactly(TimeUnit),
}

impl TimestampUnit {
    /// The unit a column of `unit` is written in.
    pub fn of(self, unit: TimeUnit) -> TimeUnit {
        match self {
            TimestampUnit::Portable if unit == TimeUnit::Nanosecond => TimeUnit::Microsecond,
            TimestampUnit::Portable | TimestampUnit::Keep => unit,
            TimestampUnit::Exactly(to) => to,
        }
    }
}

impl SinkOptions {
    /// Reads and checks every option; rejects unknown ones (`Options::finish`).
    pub fn from_options(options: &Options, schema: &SchemaRef) -> Result<SinkOptions, ConnectorError> {
        let path = parse_path(&options.require("path")?)?;
        let rollover_rows = match options.parse::<u64>("rollover_rows")? {
            None => DEFAULT_ROLLOVER_ROWS,
            Some(0) => return Err(ConnectorError::option("rollover_rows", "must be at least 1")),
            Some(n) => n,
        };
        let rollover_interval = match options.duration("rollover_interval")? {
            None => DEFAULT_ROLLOVER_INTERVAL,
            Some(d) if d.is_zero() => return Err(ConnectorError::option("rollover_interval", "must be more than 0 (e.g. '10s', '5m')")),
            Some(d) => d,
        };
        let mode = parse_mode(options.get("mode")?.as_deref())?;
        let codec = parse_codec(options.get("compression")?.as_deref())?;
        let row_group_size = match options.parse::<usize>("row_group_size")? {
            Some(0) => return Err(ConnectorError::option("row_group_size", "must be at least 1")),
            other => other,
        };
        let partitioning = Partitioning::from_option(options.get("partition_by")?.as_deref(), schema)?;
        let timestamp_unit = parse_timestamp_unit(options.get("timestamp_unit")?.as_deref())?;
        options.finish("parquet")?;
        check_columns(schema, mode)?;
        Ok(SinkOptions { path, rollover_rows, rollover_interval, mode, codec, row_group_size, partitioning, timestamp_unit })
    }
}

/// A local directory or an `s3://bucket/prefix` URL; other URLs are refused.
pub fn parse_path(path: &str) -> Result<StoreUrl, ConnectorError> {
    match StoreUrl::parse(path) {
        Err(UrlError::Empty) => Err(ConnectorError::option("path", "is empty: name the output directory or s3:// prefix")),
        Err(e) => Err(ConnectorError::option("path", e.to_string())),
        Ok(url) => Ok(url),
    }
}

fn parse_mode(mode: Option<&str>) -> Result<Mode, ConnectorError> {
    match mode.map(|m| m.trim().to_lowercase()).as_deref() {
        None | Some("changelog") => Ok(Mode::Changelog),
        Some("append") => Ok(Mode::Append),
        Some("snapshot") => Err(ConnectorError::option(
            "mode",
            "'snapshot' is not supported by the parquet sink (its files are never rewritten): use 'changelog' (the default; sum _diff per row for the current contents) or 'append'",
        )),
        Some(other) => Err(ConnectorError::option("mode", format!("'{other}' is not a parquet sink mode (changelog, append)"))),
    }
}

fn parse_codec(codec: Option<&str>) -> Result<Codec, ConnectorError> {
    match codec.map(|c| c.trim().to_lowercase()).as_deref() {
        None | Some("zstd") => Ok(Codec::Zstd),
        Some("snappy") => Ok(Codec::Snappy),
        Some("none") | Some("uncompressed") => Ok(Codec::None),
        Some(other) => Err(ConnectorError::option("compression", format!("'{other}' is not a parquet sink compression (zstd, snappy, none)"))),
    }
}

/// `timestamp_unit`: by default nanoseconds are written as microseconds (see
/// [`TimestampUnit::Portable`]); `us`, `ms` or `ns` for every timestamp column; `keep`.
fn parse_timestamp_unit(unit: Option<&str>) -> Result<TimestampUnit, ConnectorError> {
    match unit.map(|u| u.trim().to_lowercase()).as_deref() {
        None | Some("portable") => Ok(TimestampUnit::Portable),
        Some("us") | Some("micros") => Ok(TimestampUnit::Exactly(TimeUnit::Microsecond)),
        Some("ms") | Some("millis") => Ok(TimestampUnit::Exactly(TimeUnit::Millisecond)),
        Some("ns") | Some("nanos") => Ok(TimestampUnit::Exactly(TimeUnit::Nanosecond)),
        Some("keep") => Ok(TimestampUnit::Keep),
        Some(other) => Err(ConnectorError::option("timestamp_unit", format!("'{other}' is not a timestamp unit (portable, the default; us; ms; ns; keep)"))),
    }
}

/// Changelog files add `_diff` and `_time`: the relation must not have columns of those names.
/// Whether every column converts to Arrow and Parquet is checked in `create` (`lib.rs`) by
/// writing an empty batch: `rows_to_batch` and the Parquet writer are the authorities on that.
fn check_columns(schema: &SchemaRef, mode: Mode) -> Result<(), ConnectorError> {
    if mode == Mode::Changelog {
        for reserved in [DIFF_COLUMN, TIME_COLUMN] {
            if schema.fields().iter().any(|f| f.name().eq_ignore_ascii_case(reserved)) {
                return Err(ConnectorError::Schema(format!(
                    "the relation has a column named '{reserved}', which the parquet sink adds in changelog mode; rename it, or use mode = 'append'"
                )));
            }
        }
    }
    for field in schema.fields() {
        if matches!(field.data_type(), DataType::Map(_, _) | DataType::Union(_, _) | DataType::RunEndEncoded(_, _)) {
            return Err(ConnectorError::Schema(format!("column '{}' has type {}, which the parquet sink cannot write", field.name(), field.data_type())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(parse_path(" out/alerts/ ").unwrap(), StoreUrl::Local("out/alerts/".into()));
        assert_eq!(parse_path("s3://lake/out/").unwrap(), StoreUrl::S3 { bucket: "lake".into(), key: "out".into() });
        let err = parse_path("gs://bucket/x").unwrap_err().to_string();
        assert!(err.contains("path") && err.contains("not supported"), "{err}");
        assert!(parse_path("  ").unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn modes_and_codecs() {
        assert_eq!(parse_mode(None).unwrap(), Mode::Changelog);
        assert_eq!(parse_mode(Some("APPEND")).unwrap(), Mode::Append);
        assert!(parse_mode(Some("snapshot")).unwrap_err().to_string().contains("changelog"));
        assert!(parse_mode(Some("upsert")).is_err());
        assert_eq!(parse_codec(None).unwrap(), Codec::Zstd);
        assert_eq!(parse_codec(Some("Snappy")).unwrap(), Codec::Snappy);
        assert_eq!(parse_codec(Some("none")).unwrap(), Codec::None);
        assert!(parse_codec(Some("lzo")).unwrap_err().to_string().contains("compression"));
        let portable = parse_timestamp_unit(None).unwrap();
        assert_eq!((portable.of(TimeUnit::Nanosecond), portable.of(TimeUnit::Second)), (TimeUnit::Microsecond, TimeUnit::Second));
        assert_eq!(parse_timestamp_unit(Some("MS")).unwrap().of(TimeUnit::Nanosecond), TimeUnit::Millisecond);
        assert_eq!(parse_timestamp_unit(Some("keep")).unwrap().of(TimeUnit::Nanosecond), TimeUnit::Nanosecond);
        assert!(parse_timestamp_unit(Some("s")).unwrap_err().to_string().contains("timestamp_unit"));
    }
}
