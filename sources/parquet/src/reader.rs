//! Reading one split: one row group of one file (or a whole file whose footer could not be
//! read at listing), decoded in batches into the declared columns.
//!
//! `open` does no I/O; the first `next()` opens the object, resolves the declared columns
//! against the file's (`columns.rs`) and starts a Parquet stream restricted to the row group, the
//! columns read (projection mask) and the resume offset. Each chunk's position is the number of
//! rows of the row group delivered so far, so `open(split, Some(position))` resumes after them.
//! Every chunk carries `remaining_from` = the row group's minimum event time (statistics): rows
//! inside a row group may come in any order, so the split's watermark may not pass that minimum
//! until the split ends (which releases it).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, DictionaryArray, Int32Array, UInt32Array, new_null_array};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use futures::StreamExt;
use illunare_connector::{ConnectorError, ErrorRecord, Position, SourceChunk, SplitReader};
use illunare_types::{Time, array_to_datums, datum_to_text};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::ParquetRecordBatchStream;
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};

use crate::columns::{ColumnSource, FilePlan, cast_to, resolve};
use crate::dictionary::{dictionary_type, plan_split};
use crate::error::ParquetSourceError;
use crate::io::StoreReader;
use crate::listing::FileEntry;
use crate::source::Shared;
use crate::stats::{column_stats, millis};

struct Opened {
    stream: ParquetRecordBatchStream<StoreReader>,
    plan: FilePlan,
    /// The file columns decoded, ascending: batch column `i` is file column `roots[i]`.
    roots: Vec<usize>,
    /// Which declared columns this split delivers dictionary-encoded (`dictionary.rs`).
    dictionary: Vec<bool>,
    remaining_from: Option<Time>,
    schema: SchemaRef,
    /// An all-NULL array per unread column, as long as the longest batch so far: batches
    /// take zero-copy slices of it instead of allocating their own.
    unread: std::cell::RefCell<Vec<Option<ArrayRef>>>,
}

impl Opened {
    /// `rows` NULLs of `data_type` for unread declared column `column`.
    fn nulls(&self, column: usize, data_type: &arrow::datatypes::DataType, rows: usize) -> ArrayRef {
        let mut unread = self.unread.borrow_mut();
        match unread.get_mut(column) {
            Some(Some(array)) if array.len() >= rows => array.slice(0, rows),
            Some(slot) => {
                let array = new_null_array(data_type, rows);
                *slot = Some(array.clone());
                array
            }
            None => new_null_array(data_type, rows),
        }
    }
}

/// What a split reads: the row group of a file and how its columns are delivered.
#[derive(Clone)]
pub struct SplitParts {
    pub shared: Arc<Shared>,
    pub entry: Arc<FileEntry>,
    /// `None`: every row group of the file (its footer was unreadable at listing).
    pub row_group: Option<usize>,
    /// Which declared columns are read.
    pub read: Arc<Vec<bool>>,
    /// The declared columns the engine takes dictionary-encoded.
    pub dictionary: Arc<Vec<bool>>,
}

pub struct RowGroupReader {
    split: SplitParts,
    /// Rows of the split delivered so far.
    offset: u64,
    opened: Option<Opened>,
}

impl RowGroupReader {
    pub fn new(split: SplitParts, offset: u64) -> Self {
        RowGroupReader { split, offset, opened: None }
    }

    /// `path#rg`, how errors and positions name this split.
    fn name(&self) -> String {
        match self.split.row_group {
            Some(rg) => format!("{}#{rg}", self.split.entry.listed.display),
            None => format!("{}#*", self.split.entry.listed.display),
        }
    }

    /// The declared columns of a decoded batch, rows with NULL in a NOT NULL column set aside.
    fn convert(&self, opened: &Opened, batch: &RecordBatch) -> Result<(RecordBatch, Vec<ErrorRecord>), ParquetSourceError> {
        let n = batch.num_rows();
        let declared = &self.split.shared.config.schema;
        let arrow_err = |source| ParquetSourceError::Arrow { file: self.name(), source };
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(declared.fields().len());
        for (declared_index, ((field, source), dictionary)) in declared.fields().iter().zip(&opened.plan.columns).zip(&opened.dictionary).enumerate() {
            let column = match source {
                ColumnSource::File { index, .. } => {
                    let position = opened
                        .roots
                        .binary_search(index)
                        .map_err(|_| ParquetSourceError::Thread(format!("{}: column '{}' was not decoded", self.name(), field.name())))?;
                    let to = if *dictionary { dictionary_type(field.data_type()) } else { field.data_type().clone() };
                    cast_to(batch.column(position), &to)
                        .map_err(|source| ParquetSourceError::Arrow { file: format!("{} column '{}'", self.name(), field.name()), source })?
                }
                ColumnSource::Partition(value) if *dictionary => Arc::new(DictionaryArray::new(Int32Array::from(vec![0i32; n]), value.clone())),
                ColumnSource::Partition(value) => arrow::compute::take(value.as_ref(), &UInt32Array::from(vec![0u32; n]), None).map_err(arrow_err)?,
                ColumnSource::Unread => opened.nulls(declared_index, field.data_type(), n),
            };
            columns.push(column);
        }
        let mut missing: Vec<Option<&str>> = vec![None; n];
        for ((field, source), column) in declared.fields().iter().zip(&opened.plan.columns).zip(&columns) {
            if field.is_nullable() || matches!(source, ColumnSource::Unread) || column.logical_null_count() == 0 {
                continue;
            }
            let Some(nulls) = column.logical_nulls() else {
                continue;
            };
            for (row, slot) in missing.iter_mut().enumerate() {
                if slot.is_none() && nulls.is_null(row) {
                    *slot = Some(field.name());
                }
            }
        }
        let mut errors = Vec::new();
        if missing.iter().any(Option::is_some) {
            for (row, name) in missing.iter().enumerate() {
                if let Some(name) = name {
                    let raw = render_row(&columns, declared, row);
                    let position = format!("{}:{}", self.name(), self.offset + row as u64);
                    errors.push(ErrorRecord::new(format!("column '{name}' is NOT NULL but the value is null"), Some(raw), Some(position)));
                }
            }
            let keep = BooleanArray::from(missing.iter().map(Option::is_none).collect::<Vec<_>>());
            columns = columns.iter().map(|c| arrow::compute::filter(c.as_ref(), &keep)).collect::<Result<_, _>>().map_err(arrow_err)?;
        }
        let rows = n - errors.len();
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        let out = RecordBatch::try_new_with_options(opened.schema.clone(), columns, &options).map_err(arrow_err)?;
        Ok((out, errors))
    }
}

/// `name=value, …` of row `row`, for error records.
fn render_row(columns: &[ArrayRef], schema: &Schema, row: usize) -> String {
    columns
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            let value = array_to_datums(c.slice(row, 1).as_ref())
                .ok()
                .and_then(|d| d.into_iter().next())
                .map(|d| if d.is_null() { "NULL".to_string() } else { datum_to_text(&d, f.data_type()) })
                .unwrap_or_else(|| "?".into());
            format!("{}={value}", f.name())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait::async_trait]
impl SplitReader for RowGroupReader {
    async fn next(&mut self) -> Result<Option<SourceChunk>, ConnectorError> {
        if self.opened.is_none() {
            let opened = open_split(self.split.clone(), self.offset, self.name()).await?;
            self.opened = Some(opened);
        }
        let Some(opened) = self.opened.as_mut() else {
            return Ok(None);
        };
        let batch = match opened.stream.next().await {
            None => return Ok(None),
            Some(Err(source)) => {
                return Err(ParquetSourceError::Parquet { file: self.name(), source }.into());
            }
            Some(Ok(batch)) => batch,
        };
        let Some(opened) = self.opened.as_ref() else {
            return Ok(None);
        };
        let (out, errors) = self.convert(opened, &batch)?;
        let remaining_from = opened.remaining_from;
        self.offset += batch.num_rows() as u64;
        Ok(Some(SourceChunk { batch: out, errors, position: Position(self.offset.to_string()), remaining_from, dropped: 0 }))
    }
}

/// Opens the object and starts the Parquet stream of a split (see the module doc). Takes its
/// inputs by value: the reader's future must be `Send`, and the stream is not `Sync`.
async fn open_split(split: SplitParts, offset: u64, name: String) -> Result<Opened, ParquetSourceError> {
    let SplitParts { shared, entry, row_group, read, dictionary } = split;
    let config = &shared.config;
    let listed = &entry.listed;
    let mut reader = StoreReader::new(config.location.store()?, listed.path.clone(), listed.size, shared.counters.bytes_read.clone());
    let meta = match &entry.footer {
        Ok(meta) => meta.clone(),
        Err(_) => ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new())
            .await
            .map_err(|source| ParquetSourceError::Parquet { file: listed.display.clone(), source })?,
    };
    let plan = resolve(&listed.display, meta.schema(), &config.schema, &read)?;
    let dictionaries = plan_split(&meta, &plan, &config.schema, &dictionary, row_group);
    let encoded = dictionaries.columns.iter().filter(|d| **d).count() as u64;
    shared.counters.dictionary_chunks.fetch_add(encoded, std::sync::atomic::Ordering::Relaxed);
    let meta = match dictionaries.reader_schema {
        Some(schema) => ArrowReaderMetadata::try_new(meta.metadata().clone(), ArrowReaderOptions::new().with_schema(schema))
            .map_err(|source| ParquetSourceError::Parquet { file: listed.display.clone(), source })?,
        None => meta,
    };
    let remaining_from = match (config.event_time, row_group) {
        (Some(column), Some(rg)) => {
            let data_type = config.schema.field(column).data_type();
            plan.columns
                .get(column)
                .map(|source| column_stats(&meta, source, data_type))
                .and_then(|stats| stats.get(rg).and_then(|s| s.min.as_ref()).and_then(|min| millis(min, data_type)))
        }
        _ => None,
    };
    // Something must be decoded for the row count, even when no file column is read.
    let roots = if plan.roots.is_empty() && !meta.schema().fields().is_empty() { vec![0] } else { plan.roots.clone() };
    let mask = ProjectionMask::roots(meta.parquet_schema(), roots.iter().copied());
    let mut builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, meta).with_batch_size(config.batch_size).with_projection(mask);
    if let Some(rg) = row_group {
        builder = builder.with_row_groups(vec![rg]);
    }
    if offset > 0 {
        builder = builder.with_offset(usize::try_from(offset).unwrap_or(usize::MAX));
    }
    let stream = builder.build().map_err(|source| ParquetSourceError::Parquet { file: name, source })?;
    let fields: Vec<Field> = config
        .schema
        .fields()
        .iter()
        .zip(&plan.columns)
        .zip(&dictionaries.columns)
        .map(|((f, source), dictionary)| match source {
            ColumnSource::Unread => f.as_ref().clone().with_nullable(true),
            _ if *dictionary => f.as_ref().clone().with_data_type(dictionary_type(f.data_type())),
            _ => f.as_ref().clone(),
        })
        .collect();
    let unread = std::cell::RefCell::new(vec![None; plan.columns.len()]);
    Ok(Opened { stream, plan, roots, dictionary: dictionaries.columns, remaining_from, schema: Arc::new(Schema::new(fields)), unread })
}
