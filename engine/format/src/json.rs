//! JSON: one JSON object per record, declared columns matched to keys by name.
//!
//! arrow-json decodes a batch of records straight into the declared schema (missing keys are
//! NULL, unknown keys ignored, numbers in strings coerced). Why serde_json too: when a record
//! fails, it tells apart "not JSON at all" (with the position of the syntax error) from "valid
//! JSON, wrong value for a column" (arrow-json's message names the field) for the error record.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow_json::ReaderBuilder;

use crate::{FormatError, RecordDecoder, nullable, trim_newline, type_name};

/// Decodes JSON objects into the declared columns.
pub struct JsonDecoder {
    schema: SchemaRef,
}

impl JsonDecoder {
    /// Rejects declared column types arrow-json cannot decode.
    pub fn new(declared: &SchemaRef) -> Result<JsonDecoder, FormatError> {
        for field in declared.fields() {
            let one = Arc::new(Schema::new(vec![Field::new(field.name(), field.data_type().clone(), true)]));
            if let Err(e) = ReaderBuilder::new(one).build_decoder() {
                return Err(FormatError::UnsupportedType {
                    column: field.name().clone(),
                    ty: type_name(field.data_type()),
                    format: "JSON",
                    detail: format!(": {e}"),
                });
            }
        }
        Ok(JsonDecoder { schema: nullable(declared) })
    }
}

impl RecordDecoder for JsonDecoder {
    fn decode(&self, data: &[u8], records: &[Range<usize>]) -> Result<Vec<ArrayRef>, ArrowError> {
        let records = records.len();
        let mut decoder =
            ReaderBuilder::new(self.schema.clone()).with_batch_size(records.max(1)).with_coerce_primitive(true).build_decoder()?;
        let mut offset = 0;
        while offset < data.len() {
            let read = decoder.decode(&data[offset..])?;
            if read == 0 {
                break;
            }
            offset += read;
        }
        if offset < data.len() {
            return Err(ArrowError::JsonError(format!("found more than the {records} values expected")));
        }
        let batch = match decoder.flush()? {
            Some(batch) => batch,
            None => return Err(ArrowError::JsonError("no JSON value".into())),
        };
        if batch.num_rows() != records {
            return Err(ArrowError::JsonError(format!("found {} JSON values, expected {records}", batch.num_rows())));
        }
        Ok(batch.columns().to_vec())
    }

    fn diagnose(&self, record: &[u8], error: ArrowError) -> String {
        let text = trim_newline(record);
        match serde_json::from_slice::<serde_json::Value>(text) {
            Err(e) => format!("invalid JSON: {e}"),
            Ok(serde_json::Value::Object(_)) => {
                let message = error.to_string();
                let message = message.strip_prefix("Json error: ").unwrap_or(&message);
                match message.strip_prefix("whilst decoding field ") {
                    Some(rest) => format!("column {rest}"),
                    None => message.to_string(),
                }
            }
            Ok(other) => {
                let mut shown = other.to_string();
                if shown.len() > 40 {
                    let cut = (0..=40).rev().find(|&i| shown.is_char_boundary(i)).unwrap_or(0);
                    shown.truncate(cut);
                    shown.push('…');
                }
                format!("expected a JSON object, found {shown}")
            }
        }
    }
}
