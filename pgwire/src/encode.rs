//! Arrow results as Postgres rows: each Arrow type's Postgres type (only built-in types, so
//! drivers never have to look one up in `pg_type`), and each value in the text or binary form
//! the client asked for.
//!
//! | Arrow                                  | Postgres                       |
//! |----------------------------------------|--------------------------------|
//! | Boolean                                | bool                           |
//! | Int8, Int16, UInt8 / Int32, UInt16      | int2 / int4                    |
//! | Int64, UInt32                          | int8                           |
//! | Float16, Float32 / Float64             | float4 / float8                |
//! | Utf8, LargeUtf8, Utf8View              | text                           |
//! | Binary, LargeBinary, …                 | bytea                          |
//! | Timestamp (without / with time zone)   | timestamp / timestamptz        |
//! | Date32, Date64 / Time32, Time64        | date / time                    |
//! | Decimal*, UInt64                       | numeric                        |
//! | anything else (intervals, lists, …)    | text, as Arrow displays it     |

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Date32Type, Field, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Schema, SchemaRef, Time64MicrosecondType, TimeUnit, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytes::BytesMut;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use futures::Stream;
use pgwire::api::Type;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::types::ToSqlText;
use pgwire::types::format::FormatOptions as PgFormatOptions;
use postgres_types::{IsNull, ToSql, to_sql_checked};

/// The Postgres type of an Arrow type.
pub(crate) fn pg_type(data_type: &DataType) -> Type {
    match data_type {
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
        DataType::Int32 | DataType::UInt16 => Type::INT4,
        DataType::Int64 | DataType::UInt32 => Type::INT8,
        DataType::Float16 | DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Type::TEXT,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => Type::BYTEA,
        DataType::Timestamp(_, None) => Type::TIMESTAMP,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Date32 | DataType::Date64 => Type::DATE,
        DataType::Time32(_) | DataType::Time64(_) => Type::TIME,
        DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..) | DataType::UInt64 => Type::NUMERIC,
        DataType::Dictionary(_, value) => pg_type(value),
        _ => Type::TEXT,
    }
}

/// The Arrow type a value of Postgres type `ty` is read from (`None`: displayed as text).
fn canonical(ty: &Type, data_type: &DataType) -> Option<DataType> {
    Some(match *ty {
        Type::BOOL => DataType::Boolean,
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 => DataType::Int64,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 => DataType::Float64,
        Type::BYTEA => DataType::Binary,
        Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        Type::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        Type::DATE => DataType::Date32,
        Type::TIME => DataType::Time64(TimeUnit::Microsecond),
        Type::TEXT if matches!(data_type, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..)) => DataType::Utf8,
        _ => return None,
    })
}

/// The RowDescription of `schema`, each column in the format `format(i)` says.
pub(crate) fn fields(schema: &Schema, format: impl Fn(usize) -> FieldFormat) -> Vec<FieldInfo> {
    schema.fields().iter().enumerate().map(|(i, f)| FieldInfo::new(f.name().clone(), None, None, pg_type(f.data_type()), format(i))).collect()
}

/// One value, typed as its column's Postgres type.
#[derive(Debug)]
enum Cell {
    Null,
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Text(String),
    Bytes(Vec<u8>),
    Timestamp(NaiveDateTime),
    TimestampTz(DateTime<Utc>),
    Date(NaiveDate),
    Time(NaiveTime),
    Numeric(String),
}

/// `12:00:00.500000` → `12:00:00.5`, as Postgres prints fractions.
fn trim_fraction(text: String) -> String {
    match text.rfind('.') {
        Some(dot) if text[dot + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            let trimmed = text.trim_end_matches('0');
            trimmed.strip_suffix('.').unwrap_or(trimmed).to_string()
        }
        _ => text,
    }
}

fn float_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity".into() } else { "-Infinity".into() }
    } else {
        v.to_string()
    }
}

impl Cell {
    /// The Postgres text form (`None`: NULL).
    fn text(&self) -> Option<String> {
        Some(match self {
            Cell::Null => return None,
            Cell::Bool(v) => (if *v { "t" } else { "f" }).into(),
            Cell::I16(v) => v.to_string(),
            Cell::I32(v) => v.to_string(),
            Cell::I64(v) => v.to_string(),
            Cell::F32(v) => if v.is_finite() { v.to_string() } else { float_text(*v as f64) },
            Cell::F64(v) => float_text(*v),
            Cell::Text(v) | Cell::Numeric(v) => v.clone(),
            Cell::Bytes(v) => format!("\\x{}", v.iter().map(|b| format!("{b:02x}")).collect::<String>()),
            Cell::Timestamp(v) => trim_fraction(v.format("%Y-%m-%d %H:%M:%S%.6f").to_string()),
            Cell::TimestampTz(v) => trim_fraction(v.format("%Y-%m-%d %H:%M:%S%.6f").to_string()) + "+00",
            Cell::Date(v) => v.format("%Y-%m-%d").to_string(),
            Cell::Time(v) => trim_fraction(v.format("%H:%M:%S%.6f").to_string()),
        })
    }
}

impl ToSql for Cell {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Cell::Null => Ok(IsNull::Yes),
            Cell::Bool(v) => v.to_sql(ty, out),
            Cell::I16(v) => v.to_sql(ty, out),
            Cell::I32(v) => v.to_sql(ty, out),
            Cell::I64(v) => v.to_sql(ty, out),
            Cell::F32(v) => v.to_sql(ty, out),
            Cell::F64(v) => v.to_sql(ty, out),
            Cell::Text(v) => v.as_str().to_sql(ty, out),
            Cell::Bytes(v) => v.as_slice().to_sql(ty, out),
            Cell::Timestamp(v) => v.to_sql(ty, out),
            Cell::TimestampTz(v) => v.to_sql(ty, out),
            Cell::Date(v) => v.to_sql(ty, out),
            Cell::Time(v) => v.to_sql(ty, out),
            Cell::Numeric(v) => {
                crate::numeric::encode(v, out)?;
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl ToSqlText for Cell {
    fn to_sql_text(&self, _: &Type, out: &mut BytesMut, _: &PgFormatOptions) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.text() {
            None => Ok(IsNull::Yes),
            Some(text) => {
                out.extend_from_slice(text.as_bytes());
                Ok(IsNull::No)
            }
        }
    }
}

/// A column ready to be read row by row.
struct Column {
    ty: Type,
    array: ArrayRef,
    /// For types shown as text: how Arrow displays them.
    display: bool,
}

fn column(array: &ArrayRef, ty: Type) -> PgWireResult<Column> {
    match canonical(&ty, array.data_type()) {
        Some(target) => {
            let array = if array.data_type() == &target { array.clone() } else { arrow::compute::cast(array, &target).map_err(api_error)? };
            Ok(Column { ty, array, display: false })
        }
        None => Ok(Column { ty, array: array.clone(), display: true }),
    }
}

fn api_error(e: impl std::error::Error + Send + Sync + 'static) -> PgWireError {
    PgWireError::ApiError(Box::new(e))
}

fn out_of_range(what: &str) -> PgWireError {
    PgWireError::ApiError(format!("{what} is out of range for Postgres").into())
}

fn cell(column: &Column, formatter: Option<&ArrayFormatter>, row: usize) -> PgWireResult<Cell> {
    let a = &column.array;
    if a.is_null(row) {
        return Ok(Cell::Null);
    }
    if let Some(formatter) = formatter {
        let text = formatter.value(row).to_string();
        return Ok(if column.ty == Type::NUMERIC { Cell::Numeric(text) } else { Cell::Text(text) });
    }
    Ok(match column.ty {
        Type::BOOL => Cell::Bool(a.as_boolean().value(row)),
        Type::INT2 => Cell::I16(a.as_primitive::<Int16Type>().value(row)),
        Type::INT4 => Cell::I32(a.as_primitive::<Int32Type>().value(row)),
        Type::INT8 => Cell::I64(a.as_primitive::<Int64Type>().value(row)),
        Type::FLOAT4 => Cell::F32(a.as_primitive::<Float32Type>().value(row)),
        Type::FLOAT8 => Cell::F64(a.as_primitive::<Float64Type>().value(row)),
        Type::BYTEA => Cell::Bytes(a.as_binary::<i32>().value(row).to_vec()),
        Type::TIMESTAMP => Cell::Timestamp(a.as_primitive::<TimestampMicrosecondType>().value_as_datetime(row).ok_or_else(|| out_of_range("a timestamp"))?),
        Type::TIMESTAMPTZ => {
            let naive = a.as_primitive::<TimestampMicrosecondType>().value_as_datetime(row).ok_or_else(|| out_of_range("a timestamp"))?;
            Cell::TimestampTz(DateTime::from_naive_utc_and_offset(naive, Utc))
        }
        Type::DATE => Cell::Date(a.as_primitive::<Date32Type>().value_as_date(row).ok_or_else(|| out_of_range("a date"))?),
        Type::TIME => Cell::Time(a.as_primitive::<Time64MicrosecondType>().value_as_time(row).ok_or_else(|| out_of_range("a time"))?),
        _ => Cell::Text(a.as_string::<i32>().value(row).to_string()),
    })
}

/// Encodes one batch's rows.
fn batch_rows(batch: &RecordBatch, fields: &Arc<Vec<FieldInfo>>) -> PgWireResult<Vec<DataRow>> {
    let columns: Vec<Column> = batch.columns().iter().zip(fields.iter()).map(|(a, f)| column(a, f.datatype().clone())).collect::<PgWireResult<_>>()?;
    let options = FormatOptions::default();
    let formatters: Vec<Option<ArrayFormatter>> = columns
        .iter()
        .map(|c| if c.display { ArrayFormatter::try_new(c.array.as_ref(), &options).map(Some).map_err(api_error) } else { Ok(None) })
        .collect::<PgWireResult<_>>()?;
    let mut encoder = DataRowEncoder::new(fields.clone());
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        for (column, formatter) in columns.iter().zip(&formatters) {
            encoder.encode_field(&cell(column, formatter.as_ref(), row)?)?;
        }
        rows.push(encoder.take_row());
    }
    Ok(rows)
}

/// The DataRows of `batches`, encoded one batch at a time as the client reads them.
pub(crate) fn rows(batches: Vec<RecordBatch>, fields: Arc<Vec<FieldInfo>>) -> impl Stream<Item = PgWireResult<DataRow>> + Send + 'static {
    use futures::StreamExt;
    futures::stream::iter(batches).flat_map(move |batch| {
        let encoded = batch_rows(&batch, &fields);
        futures::stream::iter(match encoded {
            Ok(rows) => rows.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        })
    })
}

/// `batches` with each column cast to the type `schema` gives it (an answer described before
/// it ran must come back as described).
pub(crate) fn conform(batches: Vec<RecordBatch>, schema: &SchemaRef) -> Result<Vec<RecordBatch>, arrow::error::ArrowError> {
    batches
        .into_iter()
        .map(|batch| {
            if batch.schema().fields().iter().map(|f| f.data_type()).eq(schema.fields().iter().map(|f| f.data_type())) {
                return Ok(batch);
            }
            if batch.num_columns() != schema.fields().len() {
                return Err(arrow::error::ArrowError::SchemaError(format!(
                    "the answer has {} columns, its description {}",
                    batch.num_columns(),
                    schema.fields().len()
                )));
            }
            let columns = batch
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(a, f)| if a.data_type() == f.data_type() { Ok(a.clone()) } else { arrow::compute::cast(a, f.data_type()) })
                .collect::<Result<Vec<_>, _>>()?;
            let fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BooleanArray, Decimal128Array, Int64Array, StringArray, TimestampMillisecondArray};

    fn text_rows(batch: RecordBatch) -> Vec<Vec<Option<String>>> {
        let fields = Arc::new(fields(&batch.schema(), |_| FieldFormat::Text));
        let rows = batch_rows(&batch, &fields).expect("encodes");
        rows.into_iter()
            .map(|row| {
                let mut data = &row.data[..];
                (0..row.field_count)
                    .map(|_| {
                        let len = i32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                        data = &data[4..];
                        if len < 0 {
                            return None;
                        }
                        let (value, rest) = data.split_at(len as usize);
                        data = rest;
                        Some(String::from_utf8(value.to_vec()).expect("utf8"))
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn values_are_printed_as_postgres_prints_them() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("b", DataType::Boolean, true),
            Field::new("i", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("t", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            Field::new("d", DataType::Decimal128(10, 2), true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(BooleanArray::from(vec![Some(true), None])),
                Arc::new(Int64Array::from(vec![Some(-7), Some(1 << 40)])),
                Arc::new(StringArray::from(vec![Some("a'b"), None])),
                Arc::new(TimestampMillisecondArray::from(vec![Some(1_700_000_000_500), Some(0)])),
                Arc::new(Decimal128Array::from(vec![Some(1234), Some(-5)]).with_precision_and_scale(10, 2).expect("decimal")),
            ],
        )
        .expect("batch");
        let rows = text_rows(batch);
        let s = |v: &str| Some(v.to_string());
        assert_eq!(rows[0], vec![s("t"), s("-7"), s("a'b"), s("2023-11-14 22:13:20.5"), s("12.34")]);
        assert_eq!(rows[1], vec![None, s("1099511627776"), None, s("1970-01-01 00:00:00"), s("-0.05")]);
    }

    #[test]
    fn arrow_types_map_to_builtin_postgres_types() {
        assert_eq!(pg_type(&DataType::Utf8View), Type::TEXT);
        assert_eq!(pg_type(&DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))), Type::TIMESTAMPTZ);
        assert_eq!(pg_type(&DataType::Decimal128(38, 10)), Type::NUMERIC);
        assert_eq!(pg_type(&DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))), Type::TEXT);
        assert_eq!(pg_type(&DataType::new_list(DataType::Int64, true)), Type::TEXT);
    }
}
