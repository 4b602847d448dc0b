//! Core value types shared by every illunare crate: [`Datum`], [`Row`], the dataflow
//! timestamp, the error-record shape, and conversion between rows and Arrow.
//!
//! Nothing here knows about timely, DataFusion or connectors; everything else depends on it.

mod convert;
mod datum;
mod format;
mod row;

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

pub use convert::{array_to_datums, batch_to_rows, datums_to_array, rows_to_batch, transpose};
pub use datum::{Datum, F64};
pub use format::{datum_to_json, datum_to_text, format_float, row_to_json, timestamp_to_rfc3339};
pub use row::Row;

/// The dataflow timestamp: milliseconds of (event or processing) time. See `docs/design/time.md`.
pub type Time = u64;

/// The multiplicity change of an update.
pub type Diff = isize;

/// Errors converting between Arrow and rows.
#[derive(Debug, thiserror::Error)]
pub enum TypeError {
    #[error("unsupported data type {0}")]
    Unsupported(DataType),
    #[error("value {got} does not fit a column of type {expected}")]
    Mismatch { expected: DataType, got: String },
    #[error("row has {got} columns, schema has {expected}")]
    Width { expected: usize, got: usize },
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
}

/// Columns of every `<relation>_errors` companion relation.
pub fn error_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("error", DataType::Utf8, false),
        Field::new("raw", DataType::Utf8, true),
        Field::new("position", DataType::Utf8, true),
    ]))
}

/// The name of the companion error relation of `relation`.
pub fn errors_name(relation: &str) -> String {
    format!("{relation}_errors")
}

/// The name of the companion relation of event-time source `source` holding its late rows
/// (rows whose event time was already behind the source's frontier when they arrived).
pub fn late_name(source: &str) -> String {
    format!("{source}_late")
}

/// One record that failed to decode or evaluate: why, what it was, where it came from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct ErrorRecord {
    pub error: String,
    pub raw: Option<String>,
    pub position: Option<String>,
}

impl ErrorRecord {
    pub fn new(error: impl Into<String>, raw: Option<String>, position: Option<String>) -> Self {
        ErrorRecord { error: error.into(), raw, position }
    }

    /// The record as a row of [`error_schema`].
    pub fn to_row(&self) -> Row {
        Row(vec![
            Datum::str(&self.error),
            self.raw.as_deref().map(Datum::str).unwrap_or(Datum::Null),
            self.position.as_deref().map(Datum::str).unwrap_or(Datum::Null),
        ])
    }
}
