//! Avro: each record is one binary-encoded datum of the writer's schema (given as a `.avsc`
//! file), bare or behind Confluent's 5-byte header (magic byte 0, schema id).
//!
//! Why a schema file rather than a registry: a datum carries no field names or types, so it can
//! only be read with the schema it was written with; the file is that schema, checked against
//! the declared columns when the source is created (every column must be a field of the record
//! with a compatible type), so a mismatch is a clear error before any record is read. Records
//! written with another schema fail to decode (or leave bytes over) and are set aside as bad
//! records like any other. A Confluent header's schema id is skipped, not looked up.
//!
//! Decoding goes through `apache-avro` (values) and the engine's Row → Arrow conversion
//! (`rows_to_batch`), so every declared type is built the one way the engine builds it.

use std::ops::Range;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::Schema as AvroSchema;
use apache_avro::schema::RecordSchema;
use apache_avro::types::Value;
use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use illunare_types::{Datum, Row, rows_to_batch};

use crate::{FormatError, RecordDecoder, nullable, type_name};

/// How each Avro record is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AvroFraming {
    /// The datum alone.
    Bare,
    /// Confluent's wire format: byte 0, a 4-byte schema id, the datum.
    Confluent,
}

/// Where a declared column comes from: its field's position in the record, and the field's
/// decimal scale when it is an Avro decimal.
#[derive(Clone, Debug)]
struct FieldPlan {
    position: usize,
    decimal_scale: Option<i8>,
}

/// Decodes Avro datums of one writer schema into the declared columns.
pub struct AvroDecoder {
    writer: AvroSchema,
    framing: AvroFraming,
    schema: SchemaRef,
    fields: Vec<FieldPlan>,
}

/// The schema inside `[null, T]` (or any union: its first non-null branch).
fn unwrap_union(schema: &AvroSchema) -> &AvroSchema {
    match schema {
        AvroSchema::Union(union) => union.variants().iter().find(|s| !matches!(s, AvroSchema::Null)).unwrap_or(schema),
        other => other,
    }
}

/// Whether values of Avro type `avro` can be read into a column of `dt`.
fn compatible(avro: &AvroSchema, dt: &DataType) -> bool {
    use DataType as D;
    let integer = matches!(dt, D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64);
    let float = matches!(dt, D::Float32 | D::Float64);
    match avro {
        AvroSchema::Boolean => matches!(dt, D::Boolean),
        AvroSchema::Int | AvroSchema::Long => integer || float || matches!(dt, D::Decimal128(..)),
        AvroSchema::Float | AvroSchema::Double => float,
        AvroSchema::String | AvroSchema::Enum(_) | AvroSchema::Uuid(_) => matches!(dt, D::Utf8 | D::LargeUtf8 | D::Utf8View),
        AvroSchema::Bytes | AvroSchema::Fixed(_) => matches!(dt, D::Binary | D::LargeBinary | D::BinaryView),
        AvroSchema::Decimal(_) => matches!(dt, D::Decimal128(..)) || float,
        AvroSchema::Date => matches!(dt, D::Date32),
        AvroSchema::TimeMillis | AvroSchema::TimeMicros => matches!(dt, D::Time32(_) | D::Time64(_)),
        AvroSchema::TimestampMillis
        | AvroSchema::TimestampMicros
        | AvroSchema::TimestampNanos
        | AvroSchema::LocalTimestampMillis
        | AvroSchema::LocalTimestampMicros
        | AvroSchema::LocalTimestampNanos => matches!(dt, D::Timestamp(..)),
        AvroSchema::Null => true,
        _ => false,
    }
}

fn avro_type_name(schema: &AvroSchema) -> String {
    serde_json::to_string(schema).unwrap_or_else(|_| format!("{schema:?}"))
}

impl AvroDecoder {
    /// Parses the writer's schema (JSON text of a record schema) and matches the declared
    /// columns to its fields by name.
    pub fn new(declared: &SchemaRef, writer_schema: &str, framing: AvroFraming) -> Result<AvroDecoder, FormatError> {
        let writer = AvroSchema::parse_str(writer_schema).map_err(|e| FormatError::Schema(format!("the Avro schema is not valid: {e}")))?;
        let AvroSchema::Record(RecordSchema { fields: record, .. }) = &writer else {
            return Err(FormatError::Schema(format!("the Avro schema must be a record, not {}", avro_type_name(&writer))));
        };
        let mut fields = Vec::with_capacity(declared.fields().len());
        for column in declared.fields() {
            let Some(position) = record.iter().position(|f| f.name == *column.name()) else {
                return Err(FormatError::MissingColumn { column: column.name().clone(), available: record.iter().map(|f| f.name.clone()).collect() });
            };
            let field_schema = unwrap_union(&record[position].schema);
            if !compatible(field_schema, column.data_type()) {
                return Err(FormatError::UnsupportedType {
                    column: column.name().clone(),
                    ty: type_name(column.data_type()),
                    format: "Avro",
                    detail: format!(" (the record's field is {})", avro_type_name(&record[position].schema)),
                });
            }
            let decimal_scale = match field_schema {
                AvroSchema::Decimal(d) => Some(i8::try_from(d.scale).map_err(|_| FormatError::Schema(format!("field '{}': decimal scale {} is too large", column.name(), d.scale)))?),
                _ => None,
            };
            fields.push(FieldPlan { position, decimal_scale });
        }
        Ok(AvroDecoder { writer, framing, schema: nullable(declared), fields })
    }

    /// A datum reader for the writer's schema (it borrows the schema: built per batch).
    fn reader(&self) -> Result<GenericDatumReader<'_>, String> {
        GenericDatumReader::builder(&self.writer).build().map_err(|e| e.to_string())
    }

    /// One record's datum as a row of the declared columns.
    fn row(&self, datums: &GenericDatumReader<'_>, record: &[u8]) -> Result<Row, String> {
        let datum = match self.framing {
            AvroFraming::Bare => record,
            AvroFraming::Confluent => match record {
                [0, _, _, _, _, rest @ ..] => rest,
                [first, ..] => return Err(format!("not in Confluent's wire format (first byte {first}, expected 0)")),
                [] => return Err("empty record".into()),
            },
        };
        let mut reader = datum;
        let value = datums.read_value(&mut reader).map_err(|e| e.to_string())?;
        if !reader.is_empty() {
            return Err(format!("{} bytes left over after the record (written with another schema?)", reader.len()));
        }
        let Value::Record(values) = value else { return Err("the datum is not a record".into()) };
        let mut row = Vec::with_capacity(self.fields.len());
        for (plan, column) in self.fields.iter().zip(self.schema.fields()) {
            let value = values.get(plan.position).map(|(_, v)| v).unwrap_or(&Value::Null);
            row.push(datum_of(value, column.data_type(), plan.decimal_scale).map_err(|e| format!("column '{}': {e}", column.name()))?);
        }
        Ok(Row(row))
    }
}

fn unit_per_second(unit: &TimeUnit) -> i128 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

/// `v` counted in units of `from_per_second` per second, in the column's unit (rounded down).
fn rescale_time(v: i64, from_per_second: i128, to: &TimeUnit) -> Result<i64, String> {
    let scaled = (i128::from(v) * unit_per_second(to)).div_euclid(from_per_second);
    i64::try_from(scaled).map_err(|_| format!("{v} is out of range"))
}

/// A big-endian two's-complement unscaled decimal.
fn decimal_value(bytes: &[u8]) -> Result<i128, String> {
    if bytes.len() > 16 {
        return Err("decimal wider than 128 bits".into());
    }
    let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) { 0xff } else { 0 };
    let mut wide = [fill; 16];
    wide[16 - bytes.len()..].copy_from_slice(bytes);
    Ok(i128::from_be_bytes(wide))
}

/// An unscaled `v` at scale `from` as an unscaled value at scale `to`, when no digit is lost.
fn rescale_decimal(v: i128, from: i8, to: i8) -> Result<i128, String> {
    let shift = i32::from(to) - i32::from(from);
    let factor = 10i128.checked_pow(shift.unsigned_abs()).ok_or("decimal scale out of range")?;
    if shift >= 0 {
        v.checked_mul(factor).ok_or_else(|| "decimal out of range".to_string())
    } else if v % factor == 0 {
        Ok(v / factor)
    } else {
        Err(format!("decimal with scale {from} does not fit scale {to} without losing digits"))
    }
}

fn datum_of(value: &Value, dt: &DataType, decimal_scale: Option<i8>) -> Result<Datum, String> {
    use DataType as D;
    let integer = |v: i64| -> Result<Datum, String> {
        Ok(match dt {
            D::Float32 | D::Float64 => Datum::float(v as f64),
            D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64 => Datum::UInt(u64::try_from(v).map_err(|_| format!("{v} is negative"))?),
            D::Decimal128(_, s) => Datum::Decimal(rescale_decimal(i128::from(v), 0, *s)?),
            _ => Datum::Int(v),
        })
    };
    Ok(match value {
        Value::Union(_, inner) => return datum_of(inner, dt, decimal_scale),
        Value::Null => Datum::Null,
        Value::Boolean(b) => Datum::Bool(*b),
        Value::Int(v) => integer(i64::from(*v))?,
        Value::Long(v) => integer(*v)?,
        Value::Float(f) => Datum::float(f64::from(*f)),
        Value::Double(f) => Datum::float(*f),
        Value::String(s) | Value::Enum(_, s) => Datum::str(s),
        Value::Uuid(u) => Datum::str(&u.to_string()),
        Value::Bytes(b) | Value::Fixed(_, b) => Datum::Bytes(b.as_slice().into()),
        Value::Date(days) => Datum::Date(*days),
        Value::TimeMillis(ms) => match dt {
            D::Time32(u) | D::Time64(u) => Datum::Time(rescale_time(i64::from(*ms), 1_000, u)?),
            _ => return Err("not a time column".into()),
        },
        Value::TimeMicros(us) => match dt {
            D::Time32(u) | D::Time64(u) => Datum::Time(rescale_time(*us, 1_000_000, u)?),
            _ => return Err("not a time column".into()),
        },
        Value::TimestampMillis(v) | Value::LocalTimestampMillis(v) | Value::TimestampMicros(v) | Value::LocalTimestampMicros(v) | Value::TimestampNanos(v) | Value::LocalTimestampNanos(v) => {
            let per_second = match value {
                Value::TimestampMillis(_) | Value::LocalTimestampMillis(_) => 1_000,
                Value::TimestampMicros(_) | Value::LocalTimestampMicros(_) => 1_000_000,
                _ => 1_000_000_000,
            };
            match dt {
                D::Timestamp(u, _) => Datum::Timestamp(rescale_time(*v, per_second, u)?),
                _ => return Err("not a timestamp column".into()),
            }
        }
        Value::Decimal(d) => {
            let bytes: Vec<u8> = d.try_into().map_err(|e: apache_avro::Error| e.to_string())?;
            let unscaled = decimal_value(&bytes)?;
            let from = decimal_scale.unwrap_or(0);
            match dt {
                D::Decimal128(_, to) => Datum::Decimal(rescale_decimal(unscaled, from, *to)?),
                _ => Datum::float(unscaled as f64 / 10f64.powi(i32::from(from))),
            }
        }
        other => return Err(format!("Avro value {other:?} is not supported")),
    })
}

impl RecordDecoder for AvroDecoder {
    fn decode(&self, data: &[u8], records: &[Range<usize>]) -> Result<Vec<ArrayRef>, ArrowError> {
        let datums = self.reader().map_err(ArrowError::ParseError)?;
        let rows = records.iter().map(|r| self.row(&datums, &data[r.clone()])).collect::<Result<Vec<Row>, String>>().map_err(ArrowError::ParseError)?;
        let batch = rows_to_batch(&self.schema, &rows).map_err(|e| ArrowError::ParseError(e.to_string()))?;
        Ok(batch.columns().to_vec())
    }

    fn diagnose(&self, record: &[u8], error: ArrowError) -> String {
        match self.reader().and_then(|datums| self.row(&datums, record)) {
            Err(message) => format!("invalid Avro record: {message}"),
            Ok(_) => error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn decimals_from_twos_complement_and_rescaled() {
        assert_eq!(decimal_value(&[0x01, 0x00]).unwrap(), 256);
        assert_eq!(decimal_value(&[0xff, 0x38]).unwrap(), -200);
        assert_eq!(decimal_value(&[]).unwrap(), 0);
        assert_eq!(rescale_decimal(-200, 2, 4).unwrap(), -20_000);
        assert_eq!(rescale_decimal(1_200, 3, 2).unwrap(), 120);
        assert!(rescale_decimal(1_234, 3, 2).is_err());
        assert_eq!(rescale_time(1_500, 1_000, &TimeUnit::Microsecond).unwrap(), 1_500_000);
        assert_eq!(rescale_time(-1, 1_000_000, &TimeUnit::Millisecond).unwrap(), -1);
    }

    #[test]
    fn columns_are_checked_against_the_schema() {
        let schema = r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": "long"}, {"name": "s", "type": ["null", "string"]}]}"#;
        let declared = |fields: Vec<Field>| Arc::new(Schema::new(fields));
        assert!(AvroDecoder::new(&declared(vec![Field::new("a", DataType::Int64, false), Field::new("s", DataType::Utf8, true)]), schema, AvroFraming::Bare).is_ok());
        let missing = AvroDecoder::new(&declared(vec![Field::new("b", DataType::Int64, true)]), schema, AvroFraming::Bare).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(missing.contains("'b'") && missing.contains("a, s"), "{missing}");
        let wrong = AvroDecoder::new(&declared(vec![Field::new("s", DataType::Int64, true)]), schema, AvroFraming::Bare).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(wrong.contains("Avro") && wrong.contains("string"), "{wrong}");
        assert!(AvroDecoder::new(&declared(vec![]), r#""long""#, AvroFraming::Bare).is_err());
        assert!(AvroDecoder::new(&declared(vec![]), "{not json", AvroFraming::Bare).is_err());
    }

    #[test]
    fn datums_decode_and_leftovers_fail() {
        let schema = r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": "long"}, {"name": "s", "type": ["null", "string"]}]}"#;
        let declared = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true), Field::new("s", DataType::Utf8, true)]));
        let decoder = AvroDecoder::new(&declared, schema, AvroFraming::Confluent).unwrap();
        // a = 3 (zigzag 6), s = union branch 1 (zigzag 2), "hi" (length zigzag 4).
        let good = [0u8, 0, 0, 0, 1, 6, 2, 4, b'h', b'i'];
        let null_s = [0u8, 0, 0, 0, 1, 1, 0];
        let data = [&good[..], &null_s[..]].concat();
        let columns = decoder.decode(&data, &[0..good.len(), good.len()..data.len()]).unwrap();
        let rows = illunare_types::batch_to_rows(&arrow::record_batch::RecordBatch::try_new(decoder.schema.clone(), columns).unwrap()).unwrap();
        assert_eq!(rows, vec![Row(vec![Datum::Int(3), Datum::str("hi")]), Row(vec![Datum::Int(-1), Datum::Null])]);
        let extra = [&good[..], &[9u8][..]].concat();
        let error = decoder.decode(&extra, std::slice::from_ref(&(0..extra.len()))).unwrap_err();
        assert!(decoder.diagnose(&extra, error).contains("left over"));
        assert!(decoder.row(&decoder.reader().unwrap(), &good[5..]).unwrap_err().contains("Confluent"));
    }
}
