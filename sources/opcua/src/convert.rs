//! OPC UA values → the declared SQL type of the `value` column.
//!
//! A [`Variant`] first becomes a [`Scalar`] (a small, library-independent value: bool, signed,
//! unsigned, float, text, bytes, instant, list), then [`coerce`] checks it fits the declared
//! Arrow type and normalizes it, and [`build_array`] makes the column. Splitting it this way
//! keeps each decision in one place: which OPC UA type reads as what (here), which conversions
//! are allowed (lossless numeric casts, floats, anything to text, …), and how Arrow arrays are
//! laid out (lists included). A value that does not fit is an error string, never a panic; the
//! caller turns it into a NULL plus an [`illunare_connector::ErrorRecord`].

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Int64Array,
    LargeBinaryArray, LargeListArray, LargeStringArray, ListArray, StringArray, StringViewArray,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray, UInt8Array,
    UInt16Array, UInt32Array, UInt64Array, new_null_array,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, FieldRef, TimeUnit};
use arrow::error::ArrowError;
use opcua::types::{DateTime, Variant};

/// A value read from the server, independent of the OPC UA library.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Scalar {
    Bool(bool),
    Int(i64),
    UInt(u64),
    F32(f32),
    F64(f64),
    Text(String),
    Bytes(Vec<u8>),
    /// Nanoseconds since the Unix epoch (UTC).
    Time(i64),
    List(Vec<Option<Scalar>>),
}

/// Nanoseconds since the Unix epoch, `None` for the OPC UA null date (or one out of range).
pub(crate) fn datetime_nanos(dt: &DateTime) -> Option<i64> {
    if dt.is_null() {
        return None;
    }
    dt.as_chrono().timestamp_nanos_opt()
}

/// The scalar a variant reads as; `None` for an empty variant.
pub(crate) fn variant_to_scalar(v: &Variant) -> Option<Scalar> {
    Some(match v {
        Variant::Empty => return None,
        Variant::Boolean(b) => Scalar::Bool(*b),
        Variant::SByte(x) => Scalar::Int(i64::from(*x)),
        Variant::Int16(x) => Scalar::Int(i64::from(*x)),
        Variant::Int32(x) => Scalar::Int(i64::from(*x)),
        Variant::Int64(x) => Scalar::Int(*x),
        Variant::Byte(x) => Scalar::UInt(u64::from(*x)),
        Variant::UInt16(x) => Scalar::UInt(u64::from(*x)),
        Variant::UInt32(x) => Scalar::UInt(u64::from(*x)),
        Variant::UInt64(x) => Scalar::UInt(*x),
        Variant::Float(x) => Scalar::F32(*x),
        Variant::Double(x) => Scalar::F64(*x),
        Variant::String(s) => Scalar::Text(s.value().clone()?),
        Variant::DateTime(dt) => match datetime_nanos(dt) {
            Some(n) => Scalar::Time(n),
            None => return None,
        },
        Variant::Guid(g) => Scalar::Text(g.to_string()),
        Variant::StatusCode(s) => Scalar::Text(status_name(*s)),
        Variant::ByteString(b) => Scalar::Bytes(b.value.clone()?),
        Variant::XmlElement(x) => Scalar::Text(x.to_string()),
        Variant::QualifiedName(q) => Scalar::Text(q.to_string()),
        Variant::LocalizedText(t) => Scalar::Text(t.text.value().clone()?),
        Variant::NodeId(n) => Scalar::Text(n.to_string()),
        Variant::ExpandedNodeId(n) => Scalar::Text(n.to_string()),
        Variant::Variant(inner) => return variant_to_scalar(inner),
        Variant::DataValue(dv) => return dv.value.as_ref().and_then(variant_to_scalar),
        Variant::ExtensionObject(_) | Variant::DiagnosticInfo(_) => Scalar::Text(format!("{v:?}")),
        Variant::Array(a) => Scalar::List(a.values.iter().map(variant_to_scalar).collect()),
    })
}

/// The name of a status code: `Good`, `BadNodeIdUnknown`, `UncertainLastUsableValue`, …
pub(crate) fn status_name(code: opcua::types::StatusCode) -> String {
    if code.is_good() && code.sub_code().name() == "Good" {
        return "Good".to_string();
    }
    code.sub_code().name().to_string()
}

/// The value as text (VARCHAR columns, and the `raw` of error records).
pub(crate) fn scalar_text(s: &Scalar) -> String {
    match s {
        Scalar::Bool(b) => b.to_string(),
        Scalar::Int(x) => x.to_string(),
        Scalar::UInt(x) => x.to_string(),
        Scalar::F32(x) => x.to_string(),
        Scalar::F64(x) => x.to_string(),
        Scalar::Text(t) => t.clone(),
        Scalar::Bytes(b) => {
            let mut out = String::with_capacity(2 + 2 * b.len());
            out.push_str("\\x");
            for byte in b {
                out.push_str(&format!("{byte:02x}"));
            }
            out
        }
        Scalar::Time(n) => {
            chrono::DateTime::from_timestamp_nanos(*n).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        }
        Scalar::List(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| match i {
                    None => "NULL".to_string(),
                    Some(Scalar::Text(t)) => format!("{t:?}"),
                    Some(other) => scalar_text(other),
                })
                .collect();
            format!("[{}]", parts.join(", "))
        }
    }
}

/// Whether `dt` can hold OPC UA values (checked at `CREATE SOURCE`).
pub(crate) fn check_value_type(dt: &DataType) -> Result<(), String> {
    match dt {
        DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float32
        | DataType::Float64
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::Timestamp(_, _) => Ok(()),
        DataType::List(f) | DataType::LargeList(f) => check_value_type(f.data_type()),
        other => Err(format!(
            "type {other} cannot hold OPC UA values (use BOOLEAN, an integer type, REAL/DOUBLE, VARCHAR, BYTEA, TIMESTAMP, or a list of these)"
        )),
    }
}

fn integer_bounds(dt: &DataType) -> Option<(i128, i128)> {
    Some(match dt {
        DataType::Int8 => (i128::from(i8::MIN), i128::from(i8::MAX)),
        DataType::Int16 => (i128::from(i16::MIN), i128::from(i16::MAX)),
        DataType::Int32 => (i128::from(i32::MIN), i128::from(i32::MAX)),
        DataType::Int64 => (i128::from(i64::MIN), i128::from(i64::MAX)),
        DataType::UInt8 => (0, i128::from(u8::MAX)),
        DataType::UInt16 => (0, i128::from(u16::MAX)),
        DataType::UInt32 => (0, i128::from(u32::MAX)),
        DataType::UInt64 => (0, i128::from(u64::MAX)),
        _ => return None,
    })
}

fn float_as_integer(x: f64) -> Option<i128> {
    // Exact: integral and inside i128 (the bounds check comes after).
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1.7e38 {
        // The cast is exact for integral values of this magnitude.
        #[allow(clippy::cast_possible_truncation)]
        Some(x as i128)
    } else {
        None
    }
}

fn kind(s: &Scalar) -> &'static str {
    match s {
        Scalar::Bool(_) => "boolean",
        Scalar::Int(_) | Scalar::UInt(_) => "integer",
        Scalar::F32(_) | Scalar::F64(_) => "floating point",
        Scalar::Text(_) => "text",
        Scalar::Bytes(_) => "byte string",
        Scalar::Time(_) => "date/time",
        Scalar::List(_) => "array",
    }
}

/// `s` as a value of `dt`, normalized for [`build_array`]; `Err` says why it does not fit.
pub(crate) fn coerce(s: &Scalar, dt: &DataType) -> Result<Scalar, String> {
    let no = || format!("cannot convert {} value {} to {dt}", kind(s), scalar_text(s));
    if let Some((lo, hi)) = integer_bounds(dt) {
        let v: i128 = match s {
            Scalar::Int(x) => i128::from(*x),
            Scalar::UInt(x) => i128::from(*x),
            Scalar::Bool(b) => i128::from(*b),
            Scalar::F32(x) => float_as_integer(f64::from(*x)).ok_or_else(no)?,
            Scalar::F64(x) => float_as_integer(*x).ok_or_else(no)?,
            Scalar::Text(t) => t.trim().parse::<i128>().map_err(|_| no())?,
            _ => return Err(no()),
        };
        if v < lo || v > hi {
            return Err(format!("{} is out of range for {dt}", scalar_text(s)));
        }
        return Ok(if lo < 0 {
            Scalar::Int(i64::try_from(v).map_err(|_| no())?)
        } else {
            Scalar::UInt(u64::try_from(v).map_err(|_| no())?)
        });
    }
    match dt {
        DataType::Boolean => match s {
            Scalar::Bool(b) => Ok(Scalar::Bool(*b)),
            Scalar::Int(0) | Scalar::UInt(0) => Ok(Scalar::Bool(false)),
            Scalar::Int(1) | Scalar::UInt(1) => Ok(Scalar::Bool(true)),
            Scalar::Text(t) => match t.trim().to_lowercase().as_str() {
                "true" | "t" | "1" => Ok(Scalar::Bool(true)),
                "false" | "f" | "0" => Ok(Scalar::Bool(false)),
                _ => Err(no()),
            },
            _ => Err(no()),
        },
        DataType::Float32 | DataType::Float64 => {
            // Integers and doubles are accepted as floats (rounded to the nearest float).
            #[allow(clippy::cast_precision_loss)]
            let v = match s {
                Scalar::F32(x) => f64::from(*x),
                Scalar::F64(x) => *x,
                Scalar::Int(x) => *x as f64,
                Scalar::UInt(x) => *x as f64,
                Scalar::Bool(b) => f64::from(u8::from(*b)),
                Scalar::Text(t) => t.trim().parse::<f64>().map_err(|_| no())?,
                _ => return Err(no()),
            };
            Ok(Scalar::F64(v))
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(Scalar::Text(scalar_text(s))),
        DataType::Binary | DataType::LargeBinary => match s {
            Scalar::Bytes(b) => Ok(Scalar::Bytes(b.clone())),
            Scalar::Text(t) => Ok(Scalar::Bytes(t.as_bytes().to_vec())),
            _ => Err(no()),
        },
        DataType::Timestamp(_, _) => match s {
            Scalar::Time(n) => Ok(Scalar::Time(*n)),
            Scalar::Text(t) => chrono::DateTime::parse_from_rfc3339(t.trim())
                .ok()
                .and_then(|d| d.timestamp_nanos_opt())
                .map(Scalar::Time)
                .ok_or_else(no),
            _ => Err(no()),
        },
        DataType::List(f) | DataType::LargeList(f) => match s {
            Scalar::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(match item {
                        None => None,
                        Some(i) => Some(coerce(i, f.data_type()).map_err(|e| format!("array element: {e}"))?),
                    });
                }
                Ok(Scalar::List(out))
            }
            _ => Err(format!("cannot convert scalar {} value {} to the list type {dt}", kind(s), scalar_text(s))),
        },
        _ => Err(no()),
    }
}

fn ints(values: &[Option<Scalar>]) -> impl Iterator<Item = Option<i64>> + '_ {
    values.iter().map(|v| match v {
        Some(Scalar::Int(x)) => Some(*x),
        _ => None,
    })
}

fn uints(values: &[Option<Scalar>]) -> impl Iterator<Item = Option<u64>> + '_ {
    values.iter().map(|v| match v {
        Some(Scalar::UInt(x)) => Some(*x),
        _ => None,
    })
}

/// Nanoseconds to `unit` (rounding towards negative infinity).
pub(crate) fn nanos_to_unit(n: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => n.div_euclid(1_000_000_000),
        TimeUnit::Millisecond => n.div_euclid(1_000_000),
        TimeUnit::Microsecond => n.div_euclid(1_000),
        TimeUnit::Nanosecond => n,
    }
}

/// A timestamp column of `unit` / `tz` from nanoseconds.
pub(crate) fn timestamp_array(unit: TimeUnit, tz: Option<Arc<str>>, nanos: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    let vals = nanos.map(|n| n.map(|n| nanos_to_unit(n, unit)));
    match unit {
        TimeUnit::Second => Arc::new(TimestampSecondArray::from_iter(vals).with_timezone_opt(tz)),
        TimeUnit::Millisecond => Arc::new(TimestampMillisecondArray::from_iter(vals).with_timezone_opt(tz)),
        TimeUnit::Microsecond => Arc::new(TimestampMicrosecondArray::from_iter(vals).with_timezone_opt(tz)),
        TimeUnit::Nanosecond => Arc::new(TimestampNanosecondArray::from_iter(vals).with_timezone_opt(tz)),
    }
}

/// A text column of `dt` (Utf8, LargeUtf8 or Utf8View).
pub(crate) fn string_array<'a>(dt: &DataType, values: impl Iterator<Item = Option<&'a str>>) -> Result<ArrayRef, ArrowError> {
    Ok(match dt {
        DataType::Utf8 => Arc::new(StringArray::from_iter(values)),
        DataType::LargeUtf8 => Arc::new(LargeStringArray::from_iter(values)),
        DataType::Utf8View => Arc::new(StringViewArray::from_iter(values)),
        other => return Err(ArrowError::SchemaError(format!("{other} is not a text type"))),
    })
}

fn list_parts(field: &FieldRef, values: &[Option<Scalar>]) -> Result<(Vec<usize>, ArrayRef, Option<NullBuffer>), ArrowError> {
    let mut offsets = Vec::with_capacity(values.len() + 1);
    offsets.push(0usize);
    let mut children: Vec<Option<Scalar>> = Vec::new();
    let mut valid = Vec::with_capacity(values.len());
    for v in values {
        match v {
            Some(Scalar::List(items)) => {
                children.extend(items.iter().cloned());
                valid.push(true);
            }
            _ => valid.push(false),
        }
        offsets.push(children.len());
    }
    let child = build_array(field.data_type(), &children)?;
    let nulls = if valid.iter().all(|v| *v) { None } else { Some(NullBuffer::from(valid)) };
    Ok((offsets, child, nulls))
}

/// The column of type `dt` for values already [`coerce`]d to it (anything else is NULL).
pub(crate) fn build_array(dt: &DataType, values: &[Option<Scalar>]) -> Result<ArrayRef, ArrowError> {
    Ok(match dt {
        DataType::Boolean => Arc::new(BooleanArray::from_iter(values.iter().map(|v| match v {
            Some(Scalar::Bool(b)) => Some(*b),
            _ => None,
        }))),
        DataType::Int8 => Arc::new(Int8Array::from_iter(ints(values).map(|v| v.and_then(|x| i8::try_from(x).ok())))),
        DataType::Int16 => Arc::new(Int16Array::from_iter(ints(values).map(|v| v.and_then(|x| i16::try_from(x).ok())))),
        DataType::Int32 => Arc::new(Int32Array::from_iter(ints(values).map(|v| v.and_then(|x| i32::try_from(x).ok())))),
        DataType::Int64 => Arc::new(Int64Array::from_iter(ints(values))),
        DataType::UInt8 => Arc::new(UInt8Array::from_iter(uints(values).map(|v| v.and_then(|x| u8::try_from(x).ok())))),
        DataType::UInt16 => Arc::new(UInt16Array::from_iter(uints(values).map(|v| v.and_then(|x| u16::try_from(x).ok())))),
        DataType::UInt32 => Arc::new(UInt32Array::from_iter(uints(values).map(|v| v.and_then(|x| u32::try_from(x).ok())))),
        DataType::UInt64 => Arc::new(UInt64Array::from_iter(uints(values))),
        DataType::Float32 => {
            // Narrowing a double to REAL rounds to the nearest float, as SQL casts do.
            #[allow(clippy::cast_possible_truncation)]
            let it = values.iter().map(|v| match v {
                Some(Scalar::F64(x)) => Some(*x as f32),
                _ => None,
            });
            Arc::new(Float32Array::from_iter(it))
        }
        DataType::Float64 => Arc::new(Float64Array::from_iter(values.iter().map(|v| match v {
            Some(Scalar::F64(x)) => Some(*x),
            _ => None,
        }))),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => string_array(
            dt,
            values.iter().map(|v| match v {
                Some(Scalar::Text(t)) => Some(t.as_str()),
                _ => None,
            }),
        )?,
        DataType::Binary => Arc::new(BinaryArray::from_iter(values.iter().map(|v| match v {
            Some(Scalar::Bytes(b)) => Some(b.as_slice()),
            _ => None,
        }))),
        DataType::LargeBinary => Arc::new(LargeBinaryArray::from_iter(values.iter().map(|v| match v {
            Some(Scalar::Bytes(b)) => Some(b.as_slice()),
            _ => None,
        }))),
        DataType::Timestamp(unit, tz) => timestamp_array(
            *unit,
            tz.clone(),
            values.iter().map(|v| match v {
                Some(Scalar::Time(n)) => Some(*n),
                _ => None,
            }),
        ),
        DataType::List(field) => {
            let (offsets, child, nulls) = list_parts(field, values)?;
            let offsets: Vec<i32> = offsets
                .into_iter()
                .map(|o| i32::try_from(o).map_err(|_| ArrowError::ComputeError("list too long for LIST offsets".into())))
                .collect::<Result<_, _>>()?;
            Arc::new(ListArray::try_new(field.clone(), OffsetBuffer::new(offsets.into()), child, nulls)?)
        }
        DataType::LargeList(field) => {
            let (offsets, child, nulls) = list_parts(field, values)?;
            let offsets: Vec<i64> = offsets
                .into_iter()
                .map(|o| i64::try_from(o).map_err(|_| ArrowError::ComputeError("list too long".into())))
                .collect::<Result<_, _>>()?;
            Arc::new(LargeListArray::try_new(field.clone(), OffsetBuffer::new(offsets.into()), child, nulls)?)
        }
        other => new_null_array(other, values.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Field, Float64Type, Int32Type};
    use opcua::types::{ByteString, Guid, LocalizedText, NodeId, QualifiedName, StatusCode, UAString};

    fn one(v: &Variant, dt: &DataType) -> Result<ArrayRef, String> {
        let s = variant_to_scalar(v).ok_or("empty")?;
        let c = coerce(&s, dt)?;
        build_array(dt, &[Some(c)]).map_err(|e| e.to_string())
    }

    #[test]
    fn scalars_read_naturally() {
        assert_eq!(variant_to_scalar(&Variant::SByte(-8)), Some(Scalar::Int(-8)));
        assert_eq!(variant_to_scalar(&Variant::UInt64(u64::MAX)), Some(Scalar::UInt(u64::MAX)));
        assert_eq!(variant_to_scalar(&Variant::String(UAString::from("x"))), Some(Scalar::Text("x".into())));
        assert_eq!(variant_to_scalar(&Variant::String(UAString::null())), None);
        assert_eq!(variant_to_scalar(&Variant::Empty), None);
        let g: Guid = "12345678-1234-5678-1234-567812345678".parse().unwrap();
        assert_eq!(variant_to_scalar(&Variant::from(g)), Some(Scalar::Text("12345678-1234-5678-1234-567812345678".into())));
        assert_eq!(variant_to_scalar(&Variant::from(ByteString::from(vec![1u8, 255]))), Some(Scalar::Bytes(vec![1, 255])));
        assert_eq!(variant_to_scalar(&Variant::from(LocalizedText::new("en", "Warm"))), Some(Scalar::Text("Warm".into())));
        assert_eq!(variant_to_scalar(&Variant::from(QualifiedName::new(2, "Q"))), Some(Scalar::Text("2:Q".into())));
        assert_eq!(variant_to_scalar(&Variant::from(NodeId::new(2, "T"))), Some(Scalar::Text("ns=2;s=T".into())));
        assert_eq!(variant_to_scalar(&Variant::StatusCode(StatusCode::BadOutOfRange)), Some(Scalar::Text("BadOutOfRange".into())));
        let dt = DateTime::parse_from_rfc3339("2024-01-02T03:04:05.678Z").unwrap();
        assert_eq!(variant_to_scalar(&Variant::from(dt)), Some(Scalar::Time(1_704_164_645_678_000_000)));
    }

    #[test]
    fn numeric_conversions_are_lossless_or_errors() {
        let a = one(&Variant::Int16(-1234), &DataType::Int32).unwrap();
        assert_eq!(a.as_primitive::<Int32Type>().value(0), -1234);
        assert!(one(&Variant::Int32(300), &DataType::Int8).unwrap_err().contains("out of range"));
        assert!(one(&Variant::Int32(-1), &DataType::UInt32).unwrap_err().contains("out of range"));
        assert!(one(&Variant::Double(1.5), &DataType::Int64).unwrap_err().contains("cannot convert"));
        assert!(one(&Variant::Double(2.0), &DataType::Int64).is_ok());
        let f = one(&Variant::UInt32(3_000_000_000), &DataType::Float64).unwrap();
        assert_eq!(f.as_primitive::<Float64Type>().value(0), 3e9);
        assert!(one(&Variant::String("12".into()), &DataType::Int64).is_ok());
        assert!(one(&Variant::String("twelve".into()), &DataType::Int64).is_err());
        assert!(one(&Variant::Boolean(true), &DataType::Int32).is_ok());
        assert!(one(&Variant::Int32(2), &DataType::Boolean).is_err());
    }

    #[test]
    fn anything_to_text() {
        let a = one(&Variant::Float(1.5), &DataType::Utf8).unwrap();
        assert_eq!(a.as_string::<i32>().value(0), "1.5");
        let a = one(&Variant::from(ByteString::from(vec![1u8, 2, 255])), &DataType::Utf8).unwrap();
        assert_eq!(a.as_string::<i32>().value(0), "\\x0102ff");
        let arr = Variant::from(vec![1.0f64, 2.5]);
        let a = one(&arr, &DataType::Utf8).unwrap();
        assert_eq!(a.as_string::<i32>().value(0), "[1, 2.5]");
    }

    #[test]
    fn arrays_become_lists() {
        let dt = DataType::List(Arc::new(Field::new("item", DataType::Float64, true)));
        let arr = Variant::from(vec![1.0f64, 2.5, -3.0]);
        let a = one(&arr, &dt).unwrap();
        let list = a.as_list::<i32>();
        assert_eq!(list.len(), 1);
        let inner = list.value(0);
        assert_eq!(inner.as_primitive::<Float64Type>().values().to_vec(), vec![1.0, 2.5, -3.0]);
        // A scalar is not a list, and a list is not a scalar number.
        assert!(one(&Variant::Double(1.0), &dt).is_err());
        assert!(one(&arr, &DataType::Float64).is_err());
        // Nulls and rows mixed.
        let values = vec![Some(coerce(&variant_to_scalar(&arr).unwrap(), &dt).unwrap()), None];
        let a = build_array(&dt, &values).unwrap();
        assert_eq!(a.len(), 2);
        assert!(a.is_null(1));
    }

    #[test]
    fn timestamps_in_every_unit() {
        let dt = DateTime::parse_from_rfc3339("2024-01-02T03:04:05.678Z").unwrap();
        for (unit, expect) in [
            (TimeUnit::Second, 1_704_164_645i64),
            (TimeUnit::Millisecond, 1_704_164_645_678),
            (TimeUnit::Microsecond, 1_704_164_645_678_000),
            (TimeUnit::Nanosecond, 1_704_164_645_678_000_000),
        ] {
            let t = DataType::Timestamp(unit, Some("UTC".into()));
            let a = one(&Variant::from(dt), &t).unwrap();
            assert_eq!(a.data_type(), &t);
            let v = arrow::compute::cast(&a, &DataType::Int64).unwrap();
            assert_eq!(v.as_primitive::<arrow::datatypes::Int64Type>().value(0), expect);
        }
        assert!(one(&Variant::Double(1.0), &DataType::Timestamp(TimeUnit::Millisecond, None)).is_err());
    }

    #[test]
    fn unsupported_types_are_rejected_up_front() {
        assert!(check_value_type(&DataType::Float64).is_ok());
        assert!(check_value_type(&DataType::List(Arc::new(Field::new("item", DataType::Int32, true)))).is_ok());
        assert!(check_value_type(&DataType::Date32).is_err());
        assert!(check_value_type(&DataType::Decimal128(10, 2)).is_err());
    }

    #[test]
    fn status_names() {
        assert_eq!(status_name(StatusCode::Good), "Good");
        assert_eq!(status_name(StatusCode::BadNodeIdUnknown), "BadNodeIdUnknown");
        assert_eq!(status_name(StatusCode::UncertainLastUsableValue), "UncertainLastUsableValue");
    }
}
