//! JSON-lines framing and decoding for the `file` source: one JSON object per line.
//!
//! arrow-json decodes a batch of lines straight into the declared schema (keys matched by name,
//! missing keys are NULL, unknown keys ignored). Why serde_json too: when a line fails, it tells
//! apart "not JSON at all" (with the column of the syntax error) from "valid JSON, wrong value
//! for a column" (arrow-json's message names the field) for the error record.

use std::io;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow_json::ReaderBuilder;
use illunare_connector::ConnectorError;

use crate::{Config, Lines, RecordBuf, RecordFormat, RecordRef, is_blank, nullable, trim_newline};

/// Rejects declared column types arrow-json cannot decode.
pub(crate) fn check_schema(schema: &SchemaRef) -> Result<(), ConnectorError> {
    for field in schema.fields() {
        let one = Arc::new(Schema::new(vec![Field::new(field.name(), field.data_type().clone(), true)]));
        if let Err(e) = ReaderBuilder::new(one).build_decoder() {
            return Err(ConnectorError::Schema(format!(
                "column '{}': type {} cannot be read from JSON: {e}",
                field.name(),
                field.data_type()
            )));
        }
    }
    Ok(())
}

/// Reads and decodes the lines of one JSON-lines file.
pub(crate) struct JsonlFormat {
    schema: SchemaRef,
}

impl JsonlFormat {
    pub(crate) fn new(config: &Config) -> Result<JsonlFormat, ConnectorError> {
        Ok(JsonlFormat { schema: nullable(&config.schema) })
    }
}

impl RecordFormat for JsonlFormat {
    fn read_record(&mut self, lines: &mut Lines, buf: &mut RecordBuf) -> io::Result<bool> {
        loop {
            let start = buf.data.len();
            let line = lines.next_line();
            if !lines.read_line(&mut buf.data)? {
                return Ok(false);
            }
            if is_blank(&buf.data[start..]) {
                buf.data.truncate(start);
                continue;
            }
            buf.records.push(RecordRef { line, start, end: buf.data.len() });
            return Ok(true);
        }
    }

    fn decode(&self, data: &[u8], records: usize) -> Result<Vec<ArrayRef>, ArrowError> {
        let mut decoder = ReaderBuilder::new(self.schema.clone())
            .with_batch_size(records.max(1))
            .with_coerce_primitive(true)
            .build_decoder()?;
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
        let line = trim_newline(record);
        match serde_json::from_slice::<serde_json::Value>(line) {
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
