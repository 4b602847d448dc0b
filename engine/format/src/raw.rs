//! Raw: each record is one value of a single column, as text (VARCHAR, must be UTF-8) or as
//! bytes (BYTEA). For payloads no format fits — or to parse them later in SQL.

use std::ops::Range;

use arrow::array::{ArrayRef, BinaryBuilder, StringBuilder};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::error::ArrowError;
use std::sync::Arc;

use crate::{FormatError, RecordDecoder, type_name};

/// Decodes each record into the one declared column.
pub struct RawDecoder {
    text: bool,
}

impl RawDecoder {
    pub fn new(declared: &SchemaRef) -> Result<RawDecoder, FormatError> {
        let [field] = declared.fields().as_ref() else {
            let names: Vec<&str> = declared.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(FormatError::Schema(format!(
                "format 'raw' fills exactly one column with the whole record, but {} are declared ({})",
                names.len(),
                names.join(", ")
            )));
        };
        let text = match field.data_type() {
            DataType::Utf8 => true,
            DataType::Binary => false,
            other => {
                return Err(FormatError::UnsupportedType {
                    column: field.name().clone(),
                    ty: type_name(other),
                    format: "raw records",
                    detail: " (declare it VARCHAR or BYTEA)".into(),
                });
            }
        };
        Ok(RawDecoder { text })
    }
}

impl RecordDecoder for RawDecoder {
    fn decode(&self, data: &[u8], records: &[Range<usize>]) -> Result<Vec<ArrayRef>, ArrowError> {
        let array: ArrayRef = if self.text {
            let mut builder = StringBuilder::with_capacity(records.len(), data.len());
            for r in records {
                let text = std::str::from_utf8(&data[r.clone()]).map_err(|e| ArrowError::ParseError(format!("not valid UTF-8: {e}")))?;
                builder.append_value(text);
            }
            Arc::new(builder.finish())
        } else {
            let mut builder = BinaryBuilder::with_capacity(records.len(), data.len());
            for r in records {
                builder.append_value(&data[r.clone()]);
            }
            Arc::new(builder.finish())
        };
        Ok(vec![array])
    }

    fn diagnose(&self, _record: &[u8], error: ArrowError) -> String {
        let message = error.to_string();
        message.strip_prefix("Parser error: ").unwrap_or(&message).to_string()
    }
}
