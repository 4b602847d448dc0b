//! Record formats — JSON, CSV, Avro, raw text/bytes — decoded into Arrow columns, whatever carried
//! the records (lines of a file, Kafka messages).
//!
//! Why a crate of its own: the issue asks for "transport separate from format". A transport
//! frames records (a file splits lines, Kafka hands over messages) into a [`RecordBuf`]; a
//! [`RecordDecoder`] turns them into the declared columns; [`decode_records`] does the part
//! every transport needs and must get right the same way: decode the whole batch at once (the
//! fast path), and when that fails decode record by record so that only the bad records are set
//! aside, each with a message saying what is wrong with it. Rows holding NULL in a NOT NULL
//! column are set aside too. The transport turns the set-aside records into error records with
//! its own notion of position (`path:line`, `topic/partition/offset`).

mod avro;
mod csv;
mod json;
mod raw;

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, new_empty_array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

pub use avro::{AvroDecoder, AvroFraming};
pub use csv::{CsvDecoder, CsvState, parse_delimiter, split_fields};
pub use json::JsonDecoder;
pub use raw::RawDecoder;

/// Why a format cannot read the declared columns.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("column '{column}': type {ty} cannot be read from {format}{detail}")]
    UnsupportedType { column: String, ty: String, format: &'static str, detail: String },
    #[error("no column '{column}' (the header has: {})", available.join(", "))]
    MissingColumn { column: String, available: Vec<String> },
    #[error("{0}")]
    Schema(String),
    #[error(transparent)]
    Arrow(#[from] ArrowError),
}

/// Decodes complete records of one format into the declared columns.
pub trait RecordDecoder: Send + Sync {
    /// Decodes the complete records held in `data` (`records` are their byte ranges, in order
    /// and contiguous) into the declared columns (declared types, all nullable). Must fail
    /// unless it produced exactly one row per record.
    fn decode(&self, data: &[u8], records: &[Range<usize>]) -> Result<Vec<ArrayRef>, ArrowError>;
    /// A message for the pipeline author saying why `record` (which failed with `error`) is bad.
    fn diagnose(&self, record: &[u8], error: ArrowError) -> String;
}

/// The records of one batch, contiguous so the fast path hands the decoder one slice.
#[derive(Default, Debug)]
pub struct RecordBuf {
    pub data: Vec<u8>,
    /// Byte range of each record in `data`, terminator included.
    pub records: Vec<Range<usize>>,
}

impl RecordBuf {
    pub fn clear(&mut self) {
        self.data.clear();
        self.records.clear();
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Appends one whole record (a message) as it is, for [`RawDecoder`].
    pub fn push_exact(&mut self, record: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(record);
        self.records.push(start..self.data.len());
    }

    /// Appends one whole record (a message), terminating it with `\n` if it is not already
    /// (CSV and JSON records are separated by line ends).
    pub fn push(&mut self, record: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(record);
        if record.last() != Some(&b'\n') {
            self.data.push(b'\n');
        }
        self.records.push(start..self.data.len());
    }

    /// Marks `data[start..]` (already appended by a framer) as one record.
    pub fn close_record(&mut self, start: usize) {
        self.records.push(start..self.data.len());
    }

    pub fn bytes(&self, i: usize) -> &[u8] {
        &self.data[self.records[i].clone()]
    }

    /// The record as text, without its line terminator.
    pub fn raw(&self, i: usize) -> String {
        String::from_utf8_lossy(trim_newline(self.bytes(i))).into_owned()
    }
}

/// What [`decode_records`] made of a [`RecordBuf`].
#[derive(Debug)]
pub struct Decoded {
    /// The good records, in order, with the declared schema.
    pub batch: RecordBatch,
    /// For each row of `batch`, the index of its record.
    pub rows_of: Vec<usize>,
    /// The records set aside (index, message), in record order.
    pub errors: Vec<(usize, String)>,
}

fn row_count(columns: &[ArrayRef]) -> Option<usize> {
    columns.first().map(|c| c.len())
}

/// Decodes `buf` into `schema`: the whole batch at once, or record by record when that fails,
/// so that only the bad records are set aside; then sets aside rows with NULL in a NOT NULL
/// column. `decoder` must decode into `schema`'s columns (see [`nullable`]).
pub fn decode_records(decoder: &dyn RecordDecoder, schema: &SchemaRef, buf: &RecordBuf) -> Result<Decoded, ArrowError> {
    let n = buf.len();
    let mut errors: Vec<(usize, String)> = Vec::new();
    let (columns, rows_of): (Vec<ArrayRef>, Vec<usize>) = match decoder.decode(&buf.data, &buf.records) {
        Ok(columns) if row_count(&columns).is_none_or(|r| r == n) => (columns, (0..n).collect()),
        _ => {
            let mut parts: Vec<Vec<ArrayRef>> = vec![Vec::new(); schema.fields().len()];
            let mut rows_of = Vec::new();
            for i in 0..n {
                let bytes = buf.bytes(i);
                match decoder.decode(bytes, std::slice::from_ref(&(0..bytes.len()))) {
                    Ok(columns) if row_count(&columns).is_none_or(|r| r == 1) => {
                        for (part, column) in parts.iter_mut().zip(columns) {
                            part.push(column);
                        }
                        rows_of.push(i);
                    }
                    Ok(columns) => {
                        let got = row_count(&columns).unwrap_or(0);
                        errors.push((i, format!("record decoded to {got} rows, expected exactly one")));
                    }
                    Err(e) => errors.push((i, decoder.diagnose(bytes, e))),
                }
            }
            let columns = parts
                .into_iter()
                .zip(schema.fields())
                .map(|(part, field)| {
                    if part.is_empty() {
                        Ok(new_empty_array(field.data_type()))
                    } else {
                        let refs: Vec<&dyn Array> = part.iter().map(|a| a.as_ref()).collect();
                        arrow::compute::concat(&refs)
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            (columns, rows_of)
        }
    };
    let (columns, rows_of) = check_not_null(schema, columns, rows_of, &mut errors)?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows_of.len()));
    let batch = RecordBatch::try_new_with_options(schema.clone(), columns, &options)?;
    errors.sort_by_key(|(i, _)| *i);
    Ok(Decoded { batch, rows_of, errors })
}

/// Moves rows holding NULL in a NOT NULL column from the columns to the errors.
fn check_not_null(
    schema: &SchemaRef,
    columns: Vec<ArrayRef>,
    rows_of: Vec<usize>,
    errors: &mut Vec<(usize, String)>,
) -> Result<(Vec<ArrayRef>, Vec<usize>), ArrowError> {
    let violated = |(f, c): (&Arc<Field>, &ArrayRef)| !f.is_nullable() && c.null_count() > 0;
    if !schema.fields().iter().zip(&columns).any(violated) {
        return Ok((columns, rows_of));
    }
    let mut bad: Vec<Option<&str>> = vec![None; rows_of.len()];
    for (field, column) in schema.fields().iter().zip(&columns) {
        if field.is_nullable() || column.null_count() == 0 {
            continue;
        }
        for (row, slot) in bad.iter_mut().enumerate() {
            if slot.is_none() && column.is_null(row) {
                *slot = Some(field.name());
            }
        }
    }
    let keep = BooleanArray::from(bad.iter().map(Option::is_none).collect::<Vec<_>>());
    let mut kept_rows = Vec::new();
    for (row, column) in bad.iter().enumerate() {
        match column {
            None => kept_rows.push(rows_of[row]),
            Some(name) => errors.push((rows_of[row], format!("column '{name}' is NOT NULL but the value is missing or null"))),
        }
    }
    let columns = columns.iter().map(|c| arrow::compute::filter(c.as_ref(), &keep)).collect::<Result<Vec<_>, _>>()?;
    Ok((columns, kept_rows))
}

/// The declared schema with every column nullable: decoders produce this, NOT NULL is checked
/// afterwards so a missing value becomes an error record rather than a failed batch.
pub fn nullable(schema: &SchemaRef) -> SchemaRef {
    Arc::new(Schema::new(schema.fields().iter().map(|f| Field::new(f.name(), f.data_type().clone(), true)).collect::<Vec<_>>()))
}

/// `bytes` without a trailing `\n` / `\r\n`.
pub fn trim_newline(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

/// Whether a line holds only whitespace (such lines are not records).
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| b.is_ascii_whitespace())
}

/// The SQL type name a pipeline author recognises in error messages.
pub fn type_name(dt: &DataType) -> String {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "BYTEA".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Float32 => "REAL".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Timestamp(_, _) => "TIMESTAMP".into(),
        DataType::Decimal128(p, s) => format!("DECIMAL({p}, {s})"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
