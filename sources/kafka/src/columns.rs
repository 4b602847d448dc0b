//! The declared columns of a Kafka source: payload columns, decoded by the payload format, and
//! metadata columns filled from the Kafka record itself.
//!
//! | column       | type                      | from                               |
//! |--------------|---------------------------|------------------------------------|
//! | `_key`       | VARCHAR or BYTEA          | the record key (NULL when none)    |
//! | `_topic`     | VARCHAR                   | the topic                          |
//! | `_partition` | INT or BIGINT             | the partition                      |
//! | `_offset`    | BIGINT                    | the offset                         |
//! | `_timestamp` | TIMESTAMP                 | the record timestamp (NULL if none) |
//!
//! Why names rather than new syntax (`METADATA FROM` in Flink): they work in the SQL we already
//! parse, read naturally in queries, and a payload field of the same name is rare (a leading
//! underscore); the table above is the whole list.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryBuilder, Int32Array, Int64Array, StringBuilder, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use illunare_connector::ConnectorError;
use illunare_format::{AvroDecoder, CsvDecoder, Decoded, JsonDecoder, RawDecoder, RecordDecoder, type_name};

use crate::PayloadFormat;

/// A metadata column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Meta {
    Key { binary: bool },
    Topic,
    Partition,
    Offset,
    Timestamp,
}

/// Where a declared column's values come from.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Payload(usize),
    Meta(Meta),
}

/// What is kept of a record besides its payload, for the metadata columns and error records.
#[derive(Clone, Debug)]
pub(crate) struct RecordMeta {
    pub key: Option<Vec<u8>>,
    pub offset: i64,
    pub timestamp: Option<i64>,
}

/// The declared columns split into payload and metadata, with the payload's decoder.
pub(crate) struct Columns {
    schema: SchemaRef,
    /// The payload columns as declared (nullability kept: decode_records checks NOT NULL).
    pub payload: SchemaRef,
    pub decoder: Box<dyn RecordDecoder>,
    slots: Vec<Slot>,
}

fn meta_of(field: &Field) -> Result<Option<Meta>, ConnectorError> {
    let dt = field.data_type();
    let bad = |expected: &str| {
        Err(ConnectorError::Schema(format!("column '{}' is Kafka metadata and must be {expected}, not {}", field.name(), type_name(dt))))
    };
    let meta = match field.name().as_str() {
        "_key" => match dt {
            DataType::Utf8 => Meta::Key { binary: false },
            DataType::Binary => Meta::Key { binary: true },
            _ => return bad("VARCHAR or BYTEA"),
        },
        "_topic" if *dt == DataType::Utf8 => Meta::Topic,
        "_topic" => return bad("VARCHAR"),
        "_partition" if matches!(dt, DataType::Int32 | DataType::Int64) => Meta::Partition,
        "_partition" => return bad("INT or BIGINT"),
        "_offset" if *dt == DataType::Int64 => Meta::Offset,
        "_offset" => return bad("BIGINT"),
        "_timestamp" if matches!(dt, DataType::Timestamp(_, None)) => Meta::Timestamp,
        "_timestamp" => return bad("TIMESTAMP"),
        _ => return Ok(None),
    };
    if !field.is_nullable() && matches!(meta, Meta::Key { .. } | Meta::Timestamp) {
        return Err(ConnectorError::Schema(format!("column '{}' cannot be NOT NULL: a Kafka record may have none", field.name())));
    }
    Ok(Some(meta))
}

impl Columns {
    pub fn new(schema: &SchemaRef, format: PayloadFormat) -> Result<Columns, ConnectorError> {
        let mut slots = Vec::new();
        let mut payload_fields = Vec::new();
        for field in schema.fields() {
            match meta_of(field)? {
                Some(meta) => slots.push(Slot::Meta(meta)),
                None => {
                    slots.push(Slot::Payload(payload_fields.len()));
                    payload_fields.push(field.as_ref().clone());
                }
            }
        }
        let payload: SchemaRef = Arc::new(Schema::new(payload_fields));
        let schema_error = |e: illunare_format::FormatError| ConnectorError::Schema(e.to_string());
        let decoder: Box<dyn RecordDecoder> = match format {
            PayloadFormat::Json => Box::new(JsonDecoder::new(&payload).map_err(schema_error)?),
            PayloadFormat::Csv { delimiter } => Box::new(CsvDecoder::by_position(&payload, delimiter).map_err(schema_error)?),
            PayloadFormat::Raw => Box::new(RawDecoder::new(&payload).map_err(schema_error)?),
            PayloadFormat::Avro { schema, framing } => Box::new(AvroDecoder::new(&payload, &schema, framing).map_err(schema_error)?),
        };
        Ok(Columns { schema: schema.clone(), payload, decoder, slots })
    }

    /// The declared batch: decoded payload columns plus metadata columns of the kept records
    /// (`metas[decoded.rows_of[i]]` describes row `i`).
    pub fn assemble(&self, decoded: &Decoded, metas: &[RecordMeta], topic: &str, partition: i32) -> Result<RecordBatch, ConnectorError> {
        let rows: Vec<&RecordMeta> = decoded.rows_of.iter().map(|&i| &metas[i]).collect();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.slots.len());
        for (slot, field) in self.slots.iter().zip(self.schema.fields()) {
            let array: ArrayRef = match slot {
                Slot::Payload(i) => decoded.batch.column(*i).clone(),
                Slot::Meta(Meta::Key { binary: true }) => {
                    let mut b = BinaryBuilder::new();
                    rows.iter().for_each(|m| b.append_option(m.key.as_deref()));
                    Arc::new(b.finish())
                }
                Slot::Meta(Meta::Key { binary: false }) => {
                    let mut b = StringBuilder::new();
                    rows.iter().for_each(|m| b.append_option(m.key.as_deref().map(String::from_utf8_lossy)));
                    Arc::new(b.finish())
                }
                Slot::Meta(Meta::Topic) => {
                    let mut b = StringBuilder::new();
                    rows.iter().for_each(|_| b.append_value(topic));
                    Arc::new(b.finish())
                }
                Slot::Meta(Meta::Partition) => match field.data_type() {
                    DataType::Int32 => Arc::new(Int32Array::from(vec![partition; rows.len()])),
                    _ => Arc::new(Int64Array::from(vec![i64::from(partition); rows.len()])),
                },
                Slot::Meta(Meta::Offset) => Arc::new(Int64Array::from(rows.iter().map(|m| m.offset).collect::<Vec<_>>())),
                Slot::Meta(Meta::Timestamp) => {
                    let ms: ArrayRef = Arc::new(TimestampMillisecondArray::from(rows.iter().map(|m| m.timestamp).collect::<Vec<_>>()));
                    if field.data_type() == &DataType::Timestamp(TimeUnit::Millisecond, None) {
                        ms
                    } else {
                        arrow::compute::cast(&ms, field.data_type())?
                    }
                }
            };
            columns.push(array);
        }
        let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows.len()));
        Ok(RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)?)
    }
}
