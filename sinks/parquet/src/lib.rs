//! The `parquet` sink: a relation written to a local directory or an S3 prefix as rolling
//! Parquet files, committed atomically and listed in a manifest, exactly once across restarts.
//!
//! ```sql
//! CREATE SINK lake FROM alerts WITH (connector = 'parquet', path = 'out/alerts/', partition_by = 'date',
//!         rollover_rows = '1000000');
//! ```
//!
//! Options: `path` (required; a local directory, created at the first commit, or
//! `s3://bucket/prefix` with credentials and endpoint from the `AWS_*` environment; other URLs
//! are refused), `rollover_rows` (default 1000000),
//! `rollover_interval` (default `60s`), `partition_by` (`'col[, col…]'`), `compression`
//! (`zstd`, the default, `snappy` or `none`), `mode` (`changelog`, the default, or `append`),
//! `row_group_size` (rows per Parquet row group; default the `parquet` crate's, 1 Mi rows),
//! `timestamp_unit` (by default nanosecond timestamps — SQL `TIMESTAMP` here — are written as
//! microseconds, because Spark 3 cannot read Parquet `TIMESTAMP(NANOS)`, and coarser units as
//! they are; `us`, `ms` or `ns` for every timestamp column; `keep`; a finer part is truncated,
//! as by `CAST`).
//! Unknown options are rejected by name. `emit = 'on_window_close'` is taken out by the engine
//! before the sink sees the options (the sink then only receives final insertions).
//!
//! Layout of `path`:
//!
//! ```text
//! out/alerts/_manifest.json
//! out/alerts/date=2024-01-02/part-0000000000-1704153600000-1704157199000.parquet
//! out/alerts/date=2024-01-02/part-0000000003-1704157200000-1704160799000.parquet
//! ```
//!
//! # Design decisions (and the alternatives rejected)
//!
//! - **`create` writes nothing** ([`ParquetSinkConnector::create`]): it validates the options
//!   ([`options`]) and checks that every column can be turned into Arrow and written as
//!   Parquet (an empty batch through an Arrow writer into `io::sink()`), because
//!   `illunare check` calls it. The directory is created, the manifest read and stray files
//!   deleted on the first commit (for S3, that is also the first network call).
//! - **Rolling files, closed on rows, age, or end** ([`writer`]): rows are buffered per
//!   partition; a file is cut when it reaches `rollover_rows`, when its oldest row has waited
//!   `rollover_interval` (checked at each commit: the sink runs only when the engine commits,
//!   so a file closes at the first commit after its interval has passed), and when the input
//!   ends (`frontier = None`). Buffered rows are lost on a crash by design and re-derived by
//!   the replay. Rejected: streaming rows into an open `.tmp` writer (a failed commit could
//!   not be undone, see [`writer`]).
//! - **Atomic files, one commit point** ([`manifest`], [`storage`]): each file is put in
//!   place atomically (locally `<name>.parquet.tmp`, synced and renamed; on S3 one PUT), then
//!   `_manifest.json` is replaced the same way. Readers that honour the manifest never see
//!   partial data. A commit that fails removes the files it wrote and leaves the sink's state as it
//!   was, so the engine's retry (same updates) gives the same files. At start, files named like
//!   the sink's data files but not in the manifest, and `.tmp` files, are deleted; files with
//!   other names are left alone (Spark's `part-00000-<uuid>…` names do not match). Rejected: a
//!   `_SUCCESS` marker per directory (says nothing about which files are complete), and
//!   listing the directory as the truth (a crash leaves unlisted files behind). The same
//!   protocol holds on S3 because S3 PUTs are atomic and S3 is strongly consistent; it assumes
//!   one writer per prefix, as it does locally.
//! - **Exactly once** ([`sink`]): the manifest records a global `frontier` (every update
//!   before it is in committed files) and, per file, its partition, time range and how many of
//!   its rows are at its last time. On the first commit after a start the sink skips updates
//!   before the frontier, and per partition those its committed files already hold (updates
//!   are ordered by time, then row, so "the first k at time t" is well defined even when
//!   `rollover_rows` cut a file in the middle of a time). This assumes, as the engine
//!   guarantees for a replay, that the same updates arrive at the same times. At the end of
//!   the input the frontier moves just past the last time received: a re-run of a finished
//!   bounded pipeline writes nothing, and a pipeline that continues with later times appends.
//! - **Changelog by default** ([`rows`]): every update is written once with `_diff` (Int64,
//!   `+n`/`-n`) and `_time` (Timestamp(ms, UTC), the update's time); summing `_diff` per row
//!   gives the relation. With `emit = 'on_window_close'` the engine sends only final
//!   insertions, so `_diff` is then always positive; the columns stay for a uniform schema.
//!   `mode = 'append'` writes only the relation's columns (a row with multiplicity `n` is
//!   written `n` times) and fails a commit that retracts a row, saying the relation is not
//!   append-only. Rejected: a `snapshot` mode (rewriting Parquet files on every change defeats
//!   rolling files; snapshot readers can sum `_diff`).
//! - **Partitions** ([`partition`]): Hive-style `col=value/` directories; the partition
//!   columns are dropped from the files (Hive convention, as the `file` sink does; readers
//!   recover them from the path or from the manifest's `partition` values). NULL is
//!   `__HIVE_DEFAULT_PARTITION__`. `partition_time` (the `file` sink's `_SUCCESS` timing) is not
//!   offered: the manifest is the commit signal.
//! - **Standard Parquet**: the `parquet` crate's Arrow writer with the Arrow schema embedded;
//!   strings are UTF8, timestamps Parquet TIMESTAMP in their own unit, decimals DECIMAL,
//!   unsigned integers INT with the unsigned annotation, lists LIST. DataFusion, DuckDB and
//!   Spark read these files.

mod error;
mod manifest;
mod options;
mod partition;
mod rows;
mod sink;
mod storage;
mod writer;

use illunare_connector::{ConnectorError, Sink, SinkConnector, SinkSpec};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

pub use error::ParquetSinkError;
pub use manifest::{FileEntry, Layout, MANIFEST_FILE, Manifest, PartitionValue};
pub use options::{DEFAULT_ROLLOVER_INTERVAL, DEFAULT_ROLLOVER_ROWS};
pub use partition::DEFAULT_PARTITION;
pub use rows::{DIFF_COLUMN, TIME_COLUMN};

use crate::options::{Mode, SinkOptions};
use crate::rows::Encoder;
use crate::sink::ParquetSink;

/// `connector = 'parquet'`.
pub struct ParquetSinkConnector;

impl SinkConnector for ParquetSinkConnector {
    fn name(&self) -> &'static str {
        "parquet"
    }

    fn create(&self, spec: &SinkSpec) -> Result<Box<dyn Sink>, ConnectorError> {
        let options = SinkOptions::from_options(&spec.options, &spec.schema)?;
        let encoder = Encoder::new(&spec.schema, &options.partitioning, options.mode, options.timestamp_unit);
        let schema = encoder.file_schema().clone();
        // Every column must convert to Arrow (the engine's conversion) and to Parquet.
        let (empty, _) = encoder.encode(&[]).map_err(|e| ConnectorError::Schema(format!("sink '{}': {e}", spec.name)))?;
        let mut properties = WriterProperties::builder().set_compression(options.codec.parquet());
        if let Some(rows) = options.row_group_size {
            properties = properties.set_max_row_group_row_count(Some(rows));
        }
        let properties = properties.build();
        let mut probe = ArrowWriter::try_new(std::io::sink(), schema.clone(), Some(properties.clone()))
            .map_err(|e| ConnectorError::Schema(format!("sink '{}': these columns cannot be written as Parquet: {e}", spec.name)))?;
        probe
            .write(&empty)
            .and_then(|()| probe.close().map(|_| ()))
            .map_err(|e| ConnectorError::Schema(format!("sink '{}': these columns cannot be written as Parquet: {e}", spec.name)))?;
        let layout = Layout {
            mode: match options.mode {
                Mode::Changelog => "changelog".to_string(),
                Mode::Append => "append".to_string(),
            },
            partition_by: options.partitioning.names().to_vec(),
            columns: schema.fields().iter().map(|f| format!("{}: {}", f.name(), f.data_type())).collect(),
        };
        Ok(Box::new(ParquetSink::new(&spec.name, &spec.from, options, encoder, properties, layout)))
    }
}
