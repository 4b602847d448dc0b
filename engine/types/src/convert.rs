//! Conversion between Arrow columns and engine rows.
//!
//! Sources hand the engine Arrow `RecordBatch`es, scalar expressions are evaluated by DataFusion
//! on Arrow arrays, and sinks write Arrow again; arrangements hold `Row`s. Conversion is done
//! column by column (one type dispatch per column, not per value).

use std::sync::Arc;

use arrow::array::*;
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::*;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::{Datum, F64, Row, TypeError};

/// All rows of `batch`.
pub fn batch_to_rows(batch: &RecordBatch) -> Result<Vec<Row>, TypeError> {
    let columns = batch.columns().iter().map(|c| array_to_datums(c.as_ref())).collect::<Result<Vec<_>, _>>()?;
    Ok(transpose(columns, batch.num_rows()))
}

/// Turns column vectors into rows.
pub fn transpose(columns: Vec<Vec<Datum>>, num_rows: usize) -> Vec<Row> {
    let width = columns.len();
    let mut rows: Vec<Vec<Datum>> = (0..num_rows).map(|_| Vec::with_capacity(width)).collect();
    for column in columns {
        for (row, datum) in rows.iter_mut().zip(column) {
            row.push(datum);
        }
    }
    rows.into_iter().map(Row).collect()
}

/// A record batch with `schema` holding `rows` (each row must have the schema's width).
pub fn rows_to_batch<'a>(schema: &SchemaRef, rows: impl IntoIterator<Item = &'a Row>) -> Result<RecordBatch, TypeError> {
    let rows: Vec<&Row> = rows.into_iter().collect();
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (i, field) in schema.fields().iter().enumerate() {
        let datums: Vec<&Datum> = rows
            .iter()
            .map(|r| r.0.get(i).ok_or_else(|| TypeError::Width { expected: schema.fields().len(), got: r.len() }))
            .collect::<Result<_, _>>()?;
        columns.push(datums_to_array(field.data_type(), &datums)?);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    Ok(RecordBatch::try_new_with_options(schema.clone(), columns, &options)?)
}

macro_rules! prim_out {
    ($array:expr, $ty:ty, $f:expr) => {{
        let a = $array.as_primitive::<$ty>();
        (0..a.len()).map(|i| if a.is_null(i) { Datum::Null } else { $f(a.value(i)) }).collect()
    }};
}

/// The values of one Arrow column as datums.
pub fn array_to_datums(array: &dyn Array) -> Result<Vec<Datum>, TypeError> {
    use DataType as D;
    let out: Vec<Datum> = match array.data_type() {
        D::Null => vec![Datum::Null; array.len()],
        D::Boolean => {
            let a = array.as_boolean();
            (0..a.len()).map(|i| if a.is_null(i) { Datum::Null } else { Datum::Bool(a.value(i)) }).collect()
        }
        D::Int8 => prim_out!(array, Int8Type, |v: i8| Datum::Int(v as i64)),
        D::Int16 => prim_out!(array, Int16Type, |v: i16| Datum::Int(v as i64)),
        D::Int32 => prim_out!(array, Int32Type, |v: i32| Datum::Int(v as i64)),
        D::Int64 => prim_out!(array, Int64Type, Datum::Int),
        D::UInt8 => prim_out!(array, UInt8Type, |v: u8| Datum::UInt(v as u64)),
        D::UInt16 => prim_out!(array, UInt16Type, |v: u16| Datum::UInt(v as u64)),
        D::UInt32 => prim_out!(array, UInt32Type, |v: u32| Datum::UInt(v as u64)),
        D::UInt64 => prim_out!(array, UInt64Type, Datum::UInt),
        D::Float16 => prim_out!(array, Float16Type, |v: half::f16| Datum::Float(F64(v.to_f64()))),
        D::Float32 => prim_out!(array, Float32Type, |v: f32| Datum::Float(F64(v as f64))),
        D::Float64 => prim_out!(array, Float64Type, |v: f64| Datum::Float(F64(v))),
        D::Decimal128(_, _) => prim_out!(array, Decimal128Type, Datum::Decimal),
        D::Date32 => prim_out!(array, Date32Type, Datum::Date),
        D::Date64 => prim_out!(array, Date64Type, Datum::Timestamp),
        D::Time32(TimeUnit::Second) => prim_out!(array, Time32SecondType, |v: i32| Datum::Time(v as i64)),
        D::Time32(_) => prim_out!(array, Time32MillisecondType, |v: i32| Datum::Time(v as i64)),
        D::Time64(TimeUnit::Microsecond) => prim_out!(array, Time64MicrosecondType, Datum::Time),
        D::Time64(_) => prim_out!(array, Time64NanosecondType, Datum::Time),
        D::Timestamp(TimeUnit::Second, _) => prim_out!(array, TimestampSecondType, Datum::Timestamp),
        D::Timestamp(TimeUnit::Millisecond, _) => prim_out!(array, TimestampMillisecondType, Datum::Timestamp),
        D::Timestamp(TimeUnit::Microsecond, _) => prim_out!(array, TimestampMicrosecondType, Datum::Timestamp),
        D::Timestamp(TimeUnit::Nanosecond, _) => prim_out!(array, TimestampNanosecondType, Datum::Timestamp),
        D::Duration(TimeUnit::Second) => prim_out!(array, DurationSecondType, Datum::Duration),
        D::Duration(TimeUnit::Millisecond) => prim_out!(array, DurationMillisecondType, Datum::Duration),
        D::Duration(TimeUnit::Microsecond) => prim_out!(array, DurationMicrosecondType, Datum::Duration),
        D::Duration(TimeUnit::Nanosecond) => prim_out!(array, DurationNanosecondType, Datum::Duration),
        D::Interval(IntervalUnit::MonthDayNano) => prim_out!(array, IntervalMonthDayNanoType, |v: IntervalMonthDayNano| {
            Datum::Interval { months: v.months, days: v.days, nanos: v.nanoseconds }
        }),
        D::Interval(IntervalUnit::DayTime) => prim_out!(array, IntervalDayTimeType, |v: IntervalDayTime| {
            Datum::Interval { months: 0, days: v.days, nanos: v.milliseconds as i64 * 1_000_000 }
        }),
        D::Interval(IntervalUnit::YearMonth) => {
            prim_out!(array, IntervalYearMonthType, |v: i32| Datum::Interval { months: v, days: 0, nanos: 0 })
        }
        D::Utf8 => strings(array.as_string::<i32>()),
        D::LargeUtf8 => strings(array.as_string::<i64>()),
        D::Utf8View => {
            let a = array.as_string_view();
            (0..a.len()).map(|i| if a.is_null(i) { Datum::Null } else { Datum::str(a.value(i)) }).collect()
        }
        D::Binary => binaries(array.as_binary::<i32>()),
        D::LargeBinary => binaries(array.as_binary::<i64>()),
        D::BinaryView => {
            let a = array.as_binary_view();
            (0..a.len()).map(|i| if a.is_null(i) { Datum::Null } else { Datum::Bytes(a.value(i).into()) }).collect()
        }
        D::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary();
            (0..a.len()).map(|i| if a.is_null(i) { Datum::Null } else { Datum::Bytes(a.value(i).into()) }).collect()
        }
        D::List(_) => lists(array.as_list::<i32>())?,
        D::LargeList(_) => lists(array.as_list::<i64>())?,
        D::FixedSizeList(_, n) => {
            let a = array.as_fixed_size_list();
            let values = array_to_datums(a.values().as_ref())?;
            let n = *n as usize;
            (0..a.len())
                .map(|i| if a.is_null(i) { Datum::Null } else { Datum::List(values[i * n..(i + 1) * n].into()) })
                .collect()
        }
        D::Struct(_) => {
            let a = array.as_struct();
            let cols = a.columns().iter().map(|c| array_to_datums(c.as_ref())).collect::<Result<Vec<_>, _>>()?;
            (0..a.len())
                .map(|i| if a.is_null(i) { Datum::Null } else { Datum::List(cols.iter().map(|c| c[i].clone()).collect()) })
                .collect()
        }
        D::Dictionary(_, value_type) => {
            let plain = arrow::compute::cast(array, value_type)?;
            array_to_datums(plain.as_ref())?
        }
        other => return Err(TypeError::Unsupported(other.clone())),
    };
    Ok(out)
}

fn strings<O: OffsetSizeTrait>(a: &GenericStringArray<O>) -> Vec<Datum> {
    (0..a.len()).map(|i| if a.is_null(i) { Datum::Null } else { Datum::str(a.value(i)) }).collect()
}

fn binaries<O: OffsetSizeTrait>(a: &GenericBinaryArray<O>) -> Vec<Datum> {
    (0..a.len()).map(|i| if a.is_null(i) { Datum::Null } else { Datum::Bytes(a.value(i).into()) }).collect()
}

fn lists<O: OffsetSizeTrait>(a: &GenericListArray<O>) -> Result<Vec<Datum>, TypeError> {
    let values = array_to_datums(a.values().as_ref())?;
    let offsets = a.value_offsets();
    Ok((0..a.len())
        .map(|i| {
            if a.is_null(i) {
                Datum::Null
            } else {
                let (s, e) = (offsets[i].as_usize(), offsets[i + 1].as_usize());
                Datum::List(values[s..e].into())
            }
        })
        .collect())
}

fn mismatch(dt: &DataType, d: &Datum) -> TypeError {
    TypeError::Mismatch { expected: dt.clone(), got: format!("{d:?}") }
}

macro_rules! prim_in {
    ($datums:expr, $dt:expr, $arr:ty, $pat:pat => $val:expr) => {{
        let mut v = Vec::with_capacity($datums.len());
        for d in $datums {
            v.push(match d {
                Datum::Null => None,
                $pat => Some($val),
                other => return Err(mismatch($dt, other)),
            });
        }
        Arc::new(<$arr>::from(v)) as ArrayRef
    }};
}

/// One Arrow column of type `dt` from datums.
pub fn datums_to_array(dt: &DataType, datums: &[&Datum]) -> Result<ArrayRef, TypeError> {
    use DataType as D;
    let array: ArrayRef = match dt {
        D::Null => Arc::new(NullArray::new(datums.len())),
        D::Boolean => prim_in!(datums, dt, BooleanArray, Datum::Bool(b) => *b),
        D::Int8 => prim_in!(datums, dt, Int8Array, Datum::Int(i) => *i as i8),
        D::Int16 => prim_in!(datums, dt, Int16Array, Datum::Int(i) => *i as i16),
        D::Int32 => prim_in!(datums, dt, Int32Array, Datum::Int(i) => *i as i32),
        D::Int64 => prim_in!(datums, dt, Int64Array, Datum::Int(i) => *i),
        D::UInt8 => prim_in!(datums, dt, UInt8Array, Datum::UInt(i) => *i as u8),
        D::UInt16 => prim_in!(datums, dt, UInt16Array, Datum::UInt(i) => *i as u16),
        D::UInt32 => prim_in!(datums, dt, UInt32Array, Datum::UInt(i) => *i as u32),
        D::UInt64 => prim_in!(datums, dt, UInt64Array, Datum::UInt(i) => *i),
        D::Float16 => prim_in!(datums, dt, Float16Array, Datum::Float(f) => half::f16::from_f64(f.0)),
        D::Float32 => prim_in!(datums, dt, Float32Array, Datum::Float(f) => f.0 as f32),
        D::Float64 => prim_in!(datums, dt, Float64Array, Datum::Float(f) => f.0),
        D::Decimal128(p, s) => {
            let a = prim_in!(datums, dt, Decimal128Array, Datum::Decimal(v) => *v);
            Arc::new(a.as_primitive::<Decimal128Type>().clone().with_precision_and_scale(*p, *s)?)
        }
        D::Date32 => prim_in!(datums, dt, Date32Array, Datum::Date(v) => *v),
        D::Date64 => prim_in!(datums, dt, Date64Array, Datum::Timestamp(v) => *v),
        D::Time32(TimeUnit::Second) => prim_in!(datums, dt, Time32SecondArray, Datum::Time(v) => *v as i32),
        D::Time32(_) => prim_in!(datums, dt, Time32MillisecondArray, Datum::Time(v) => *v as i32),
        D::Time64(TimeUnit::Microsecond) => prim_in!(datums, dt, Time64MicrosecondArray, Datum::Time(v) => *v),
        D::Time64(_) => prim_in!(datums, dt, Time64NanosecondArray, Datum::Time(v) => *v),
        D::Timestamp(unit, tz) => {
            let a = match unit {
                TimeUnit::Second => prim_in!(datums, dt, TimestampSecondArray, Datum::Timestamp(v) => *v),
                TimeUnit::Millisecond => prim_in!(datums, dt, TimestampMillisecondArray, Datum::Timestamp(v) => *v),
                TimeUnit::Microsecond => prim_in!(datums, dt, TimestampMicrosecondArray, Datum::Timestamp(v) => *v),
                TimeUnit::Nanosecond => prim_in!(datums, dt, TimestampNanosecondArray, Datum::Timestamp(v) => *v),
            };
            match tz {
                None => a,
                // The values are UTC instants either way: attach the zone, do not convert (a
                // cast would parse the zone name, which needs chrono-tz for names like "UTC").
                Some(_) => make_array(a.into_data().into_builder().data_type(dt.clone()).build()?),
            }
        }
        D::Duration(unit) => match unit {
            TimeUnit::Second => prim_in!(datums, dt, DurationSecondArray, Datum::Duration(v) => *v),
            TimeUnit::Millisecond => prim_in!(datums, dt, DurationMillisecondArray, Datum::Duration(v) => *v),
            TimeUnit::Microsecond => prim_in!(datums, dt, DurationMicrosecondArray, Datum::Duration(v) => *v),
            TimeUnit::Nanosecond => prim_in!(datums, dt, DurationNanosecondArray, Datum::Duration(v) => *v),
        },
        D::Interval(IntervalUnit::MonthDayNano) => prim_in!(datums, dt, IntervalMonthDayNanoArray,
            Datum::Interval { months, days, nanos } => IntervalMonthDayNano::new(*months, *days, *nanos)),
        D::Interval(IntervalUnit::DayTime) => prim_in!(datums, dt, IntervalDayTimeArray,
            Datum::Interval { days, nanos, .. } => IntervalDayTime::new(*days, (*nanos / 1_000_000) as i32)),
        D::Interval(IntervalUnit::YearMonth) => prim_in!(datums, dt, IntervalYearMonthArray,
            Datum::Interval { months, .. } => *months),
        D::Utf8 | D::LargeUtf8 | D::Utf8View => {
            let mut v: Vec<Option<&str>> = Vec::with_capacity(datums.len());
            for d in datums {
                v.push(match d {
                    Datum::Null => None,
                    Datum::Str(s) => Some(s.as_str()),
                    other => return Err(mismatch(dt, other)),
                });
            }
            match dt {
                D::Utf8 => Arc::new(StringArray::from(v)),
                D::LargeUtf8 => Arc::new(LargeStringArray::from(v)),
                _ => Arc::new(StringViewArray::from(v)),
            }
        }
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => {
            let mut v: Vec<Option<&[u8]>> = Vec::with_capacity(datums.len());
            for d in datums {
                v.push(match d {
                    Datum::Null => None,
                    Datum::Bytes(b) => Some(b.as_ref()),
                    other => return Err(mismatch(dt, other)),
                });
            }
            let a: ArrayRef = Arc::new(BinaryArray::from(v));
            if matches!(dt, D::Binary) { a } else { arrow::compute::cast(&a, dt)? }
        }
        D::List(field) | D::LargeList(field) | D::FixedSizeList(field, _) => {
            let mut offsets = Vec::with_capacity(datums.len() + 1);
            offsets.push(0i32);
            let mut children: Vec<&Datum> = Vec::new();
            let mut valid = Vec::with_capacity(datums.len());
            for d in datums {
                match d {
                    Datum::Null => valid.push(false),
                    Datum::List(items) => {
                        valid.push(true);
                        children.extend(items.iter());
                    }
                    other => return Err(mismatch(dt, other)),
                }
                offsets.push(children.len() as i32);
            }
            let child = datums_to_array(field.data_type(), &children)?;
            let list: ArrayRef = Arc::new(ListArray::try_new(
                Arc::new(Field::new(field.name(), field.data_type().clone(), true)),
                OffsetBuffer::new(offsets.into()),
                child,
                Some(NullBuffer::from(valid)),
            )?);
            if matches!(dt, D::List(_)) { list } else { arrow::compute::cast(&list, dt)? }
        }
        D::Struct(fields) => {
            let mut valid = Vec::with_capacity(datums.len());
            let mut columns: Vec<Vec<&Datum>> = vec![Vec::with_capacity(datums.len()); fields.len()];
            for d in datums {
                match d {
                    Datum::Null => {
                        valid.push(false);
                        columns.iter_mut().for_each(|c| c.push(&Datum::Null));
                    }
                    Datum::List(items) if items.len() == fields.len() => {
                        valid.push(true);
                        columns.iter_mut().zip(items.iter()).for_each(|(c, x)| c.push(x));
                    }
                    other => return Err(mismatch(dt, other)),
                }
            }
            let arrays = fields
                .iter()
                .zip(&columns)
                .map(|(f, c)| datums_to_array(f.data_type(), c))
                .collect::<Result<Vec<_>, _>>()?;
            Arc::new(StructArray::try_new(fields.clone(), arrays, Some(NullBuffer::from(valid)))?)
        }
        D::Dictionary(_, value_type) => {
            let plain = datums_to_array(value_type, datums)?;
            arrow::compute::cast(&plain, dt)?
        }
        other => return Err(TypeError::Unsupported(other.clone())),
    };
    Ok(array)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row;

    #[test]
    fn round_trip_through_arrow() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("b", DataType::Utf8, true),
            Field::new("c", DataType::Float64, true),
            Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("l", DataType::List(Arc::new(Field::new("item", DataType::Int64, true))), true),
        ]));
        let rows = vec![
            Row(vec![Datum::Int(1), Datum::str("x"), Datum::float(1.5), Datum::Timestamp(10), Datum::List(vec![Datum::Int(1), Datum::Null].into())]),
            Row(vec![Datum::Null, Datum::Null, Datum::Null, Datum::Null, Datum::Null]),
            row![2i64, "y", 2.5, None::<i64>, None::<i64>],
        ];
        let mut rows = rows;
        rows[2].0[3] = Datum::Timestamp(-5);
        let batch = rows_to_batch(&schema, &rows).unwrap();
        assert_eq!(batch_to_rows(&batch).unwrap(), rows);
    }

    #[test]
    fn zoned_timestamps_keep_their_instant_and_zone() {
        for tz in ["UTC", "+02:00", "America/Sao_Paulo"] {
            let dt = DataType::Timestamp(TimeUnit::Millisecond, Some(tz.into()));
            let schema = Arc::new(Schema::new(vec![Field::new("t", dt.clone(), true)]));
            let rows = vec![Row(vec![Datum::Timestamp(1_700_000_000_123)]), Row(vec![Datum::Null])];
            let batch = rows_to_batch(&schema, &rows).unwrap_or_else(|e| panic!("{tz}: {e}"));
            assert_eq!(batch.column(0).data_type(), &dt);
            assert_eq!(batch_to_rows(&batch).unwrap(), rows, "{tz}");
        }
    }

    #[test]
    fn type_mismatch_is_an_error() {
        let err = datums_to_array(&DataType::Int64, &[&Datum::str("x")]).unwrap_err();
        assert!(matches!(err, TypeError::Mismatch { .. }));
    }
}
