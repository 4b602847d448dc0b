//! The `parquet` source connector: Parquet files on local disk or S3, one split per row group.
//!
//! ```sql
//! CREATE SOURCE history (card_id BIGINT, amount DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
//!   WITH (connector = 'parquet', path = 'data/tx/*.parquet');   -- or a directory, or s3://bucket/prefix/
//! CREATE SOURCE lake WITH (connector = 'parquet', path = 'data/tx/');   -- columns from the first file
//! ```
//!
//! Why it is built this way (see `docs/design/parquet-source.md` for the alternatives):
//! - **One split per row group** (`path#rg`): the engine spreads splits over workers, so both
//!   many small files and a few large ones are read in parallel; a position is a row offset
//!   within the row group.
//! - **Watermarks bounded by statistics**: every chunk says the least event time its row group
//!   can still deliver (`SourceChunk::remaining_from`, the row group's minimum), so a backfill
//!   over files that are not sorted by time (partitioned by card, say) makes no row late.
//! - **Pushdown is a narrowing of the source** ([`Source::narrow`], [`Source::prune`]): a copy
//!   that decodes fewer columns or lists fewer row groups; readers and positions are unchanged.
//! - **One I/O path**: local files and S3 both go through `object_store` (`location.rs`).
//! - **Columns from the files when none are declared** ([`SourceConnector::infer_schema`]):
//!   the first file's columns (string encodings as `VARCHAR`), plus Hive partition directories
//!   as `VARCHAR`. Declared columns stay the better choice for pipelines that must not change
//!   when someone writes a file with another schema.
//! - **`create` is cheap**: options, and for local paths the listing and the first file's
//!   footer, to check the declared columns early (`illunare check`); S3 is not contacted.
//!
//! Modules: [`location`] (paths, URLs, listing), [`listing`] (footers, cached),
//! [`columns`] (declared columns ↔ file columns, casts, Hive partitions), [`stats`] (row-group
//! statistics, pruning), [`source`] (splits, pushdown), [`reader`] (decoding), [`io`].

pub mod columns;
pub mod dictionary;
mod error;
pub mod io;
pub mod listing;
pub mod location;
pub mod reader;
pub mod source;
pub mod stats;

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use illunare_connector::{ConnectorError, Options, Source, SourceConnector, SourceSpec};

pub use error::ParquetSourceError;
use location::Location;
use source::{Config, ParquetSource};

/// `connector = 'parquet'`.
pub struct ParquetSourceConnector;

const DEFAULT_BATCH_SIZE: usize = 8192;

impl SourceConnector for ParquetSourceConnector {
    fn name(&self) -> &'static str {
        "parquet"
    }

    fn create(&self, spec: &SourceSpec) -> Result<Arc<dyn Source>, ConnectorError> {
        let options = &spec.options;
        let location = Location::parse(&options.require("path")?)?;
        let batch_size = options.parse::<usize>("batch_size")?.unwrap_or(DEFAULT_BATCH_SIZE);
        if batch_size == 0 {
            return Err(ConnectorError::option("batch_size", "must be at least 1"));
        }
        options.finish("parquet")?;
        let event_time = match &spec.event_time {
            None => None,
            Some(name) => Some(spec.schema.index_of(name).map_err(|_| ConnectorError::Schema(format!("event-time column '{name}' is not declared")))?),
        };
        // Building the store reads the environment only (S3 credentials, endpoint).
        location.store()?;
        if location.is_local() {
            check_first_file(&location, &spec.schema)?;
        }
        let config = Config { name: spec.name.clone(), schema: spec.schema.clone(), location, batch_size, event_time };
        Ok(Arc::new(ParquetSource::new(config)))
    }

    fn infer_schema(&self, options: &Options) -> Result<Option<SchemaRef>, ConnectorError> {
        let location = Location::parse(&options.require("path")?)?;
        infer(&location).map(Some)
    }
}

/// A file column's type as a source column: string and binary encodings (views, large,
/// dictionaries) become plain `Utf8`/`Binary`, the types SQL declarations give; the rest is
/// kept (timestamps with their unit and zone, decimals, lists, structs).
fn engine_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Dictionary(_, value) => engine_type(value),
        other => other.clone(),
    }
}

/// The columns of the first file (by name order of the listing), then one `Utf8` column per
/// Hive partition directory (`name=value`) below the path's fixed part, as Spark and DataFusion
/// read partitioned trees.
fn infer(location: &Location) -> Result<SchemaRef, ConnectorError> {
    let probe = location.clone();
    let (display, meta) = io::block_on(move || async move {
        let store = probe.store()?;
        let files = probe.list(store.as_ref()).await?;
        let first = files.into_iter().next().ok_or_else(|| ParquetSourceError::Thread("no file to read the columns from".into()))?;
        let meta = listing::footer(store, &first).await?;
        Ok::<_, ParquetSourceError>((first.display.clone(), meta))
    })??;
    let mut fields: Vec<Field> = meta.schema().fields().iter().map(|f| Field::new(f.name(), engine_type(f.data_type()), f.is_nullable())).collect();
    let relative = display.strip_prefix(&location.fixed_prefix()).unwrap_or(&display).trim_start_matches('/');
    let directories: Vec<&str> = relative.split('/').collect();
    for segment in &directories[..directories.len().saturating_sub(1)] {
        if let Some((name, _)) = segment.split_once('=')
            && !name.is_empty()
            && !fields.iter().any(|f| f.name().eq_ignore_ascii_case(name))
        {
            fields.push(Field::new(name, DataType::Utf8, true));
        }
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// Lists local files (failing when none match) and checks the declared columns against the
/// first file's footer. A footer that cannot be read is left to that split's reader to report.
fn check_first_file(location: &Location, declared: &arrow::datatypes::SchemaRef) -> Result<(), ConnectorError> {
    let location = location.clone();
    let footer = io::block_on(move || async move {
        let store = location.store()?;
        let files = location.list(store.as_ref()).await?;
        let Some(first) = files.into_iter().next() else {
            return Ok(None);
        };
        Ok::<_, ParquetSourceError>(Some((first.display.clone(), listing::footer(store, &first).await)))
    })??;
    match footer {
        Some((display, Ok(meta))) => {
            columns::resolve(&display, meta.schema(), declared, &vec![true; declared.fields().len()])?;
        }
        Some((_, Err(e))) => tracing::warn!("parquet source: {e}; its split will report it"),
        None => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests;
