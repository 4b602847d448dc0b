//! Rendering datums for people and files: JSON values (JSONL sinks, HTTP), and text (CSV
//! sinks, stdout, sqllogictest). Timestamps are RFC 3339 in UTC.

use arrow::datatypes::{DataType, TimeUnit};
use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat};
use serde_json::{Map, Value, json};

use crate::{Datum, Row};

fn unit_nanos(unit: &TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    }
}

/// A timestamp value of the given unit as RFC 3339 (UTC, `Z`).
pub fn timestamp_to_rfc3339(value: i64, unit: &TimeUnit) -> String {
    let per = unit_nanos(unit);
    let secs = value.div_euclid(1_000_000_000 / per);
    let sub = value.rem_euclid(1_000_000_000 / per) * per;
    match DateTime::from_timestamp(secs, sub as u32) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => value.to_string(),
    }
}

/// Formats a float the way SQL tools print it: integral values without a fraction, others
/// rounded to 12 significant decimals so summation order does not show.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if f == f.trunc() && f.abs() < 1e15 {
        return format!("{}", f as i64);
    }
    let digits = 12 - (f.abs().log10().floor() as i32) - 1;
    let rounded = if (0..=17).contains(&digits) { format!("{:.*}", digits as usize, f) } else { format!("{f:e}") };
    if rounded.contains('.') && !rounded.contains('e') {
        rounded.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        rounded
    }
}

fn decimal_to_string(v: i128, scale: i8) -> String {
    if scale <= 0 {
        return (v * 10i128.pow((-scale) as u32)).to_string();
    }
    let s = v.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = if s.len() <= scale { format!("{}{}", "0".repeat(scale - s.len() + 1), s) } else { s };
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{}{}.{}", if v < 0 { "-" } else { "" }, int, frac)
}

/// A datum of column type `dt` as text (CSV cells, terminal output, sqllogictest).
pub fn datum_to_text(d: &Datum, dt: &DataType) -> String {
    match (d, dt) {
        (Datum::Null, _) => "NULL".into(),
        (Datum::Bool(b), _) => b.to_string(),
        (Datum::Int(i), _) => i.to_string(),
        (Datum::UInt(u), _) => u.to_string(),
        (Datum::Float(f), _) => format_float(f.0),
        (Datum::Decimal(v), DataType::Decimal128(_, s)) => decimal_to_string(*v, *s),
        (Datum::Str(s), _) => s.to_string(),
        (Datum::Bytes(b), _) => b.iter().map(|x| format!("{x:02x}")).collect(),
        (Datum::Date(days), _) => NaiveDate::from_num_days_from_ce_opt(*days + 719_163)
            .map(|d| d.to_string())
            .unwrap_or_else(|| days.to_string()),
        (Datum::Timestamp(v), DataType::Timestamp(unit, _)) => timestamp_to_rfc3339(*v, unit),
        (Datum::Timestamp(v), DataType::Date64) => timestamp_to_rfc3339(*v, &TimeUnit::Millisecond),
        (Datum::Time(v), DataType::Time32(u) | DataType::Time64(u)) => {
            let nanos = v * unit_nanos(u);
            NaiveTime::from_num_seconds_from_midnight_opt((nanos / 1_000_000_000) as u32, (nanos % 1_000_000_000) as u32)
                .map(|t| t.to_string())
                .unwrap_or_else(|| v.to_string())
        }
        (Datum::Duration(v), _) => v.to_string(),
        (Datum::Interval { months, days, nanos }, _) => format!("{months} mons {days} days {nanos} ns"),
        (Datum::List(items), dt) => {
            let parts: Vec<String> = match dt {
                DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                    items.iter().map(|x| datum_to_text(x, f.data_type())).collect()
                }
                DataType::Struct(fs) => items.iter().zip(fs.iter()).map(|(x, f)| format!("{}: {}", f.name(), datum_to_text(x, f.data_type()))).collect(),
                _ => items.iter().map(|x| format!("{x:?}")).collect(),
            };
            if matches!(dt, DataType::Struct(_)) { format!("{{{}}}", parts.join(", ")) } else { format!("[{}]", parts.join(", ")) }
        }
        (other, _) => format!("{other:?}"),
    }
}

/// A datum of column type `dt` as a JSON value: numbers stay numbers, times become RFC 3339
/// strings, decimals become strings (no precision loss), lists become arrays.
pub fn datum_to_json(d: &Datum, dt: &DataType) -> Value {
    match (d, dt) {
        (Datum::Null, _) => Value::Null,
        (Datum::Bool(b), _) => json!(b),
        (Datum::Int(i), _) => json!(i),
        (Datum::UInt(u), _) => json!(u),
        (Datum::Float(f), _) => serde_json::Number::from_f64(f.0).map(Value::Number).unwrap_or_else(|| json!(format_float(f.0))),
        (Datum::List(items), DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)) => {
            Value::Array(items.iter().map(|x| datum_to_json(x, f.data_type())).collect())
        }
        (Datum::List(items), DataType::Struct(fs)) => {
            Value::Object(items.iter().zip(fs.iter()).map(|(x, f)| (f.name().clone(), datum_to_json(x, f.data_type()))).collect())
        }
        (other, dt) => Value::String(datum_to_text(other, dt)),
    }
}

/// A row as a JSON object keyed by column name.
pub fn row_to_json(row: &Row, schema: &arrow::datatypes::Schema) -> Map<String, Value> {
    schema.fields().iter().zip(row.iter()).map(|(f, d)| (f.name().clone(), datum_to_json(d, f.data_type()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(format_float(3.0), "3");
        assert_eq!(format_float(0.1 + 0.2), "0.3");
        assert_eq!(format_float(-2.5), "-2.5");
        assert_eq!(decimal_to_string(-12345, 2), "-123.45");
        assert_eq!(decimal_to_string(5, 3), "0.005");
        assert_eq!(timestamp_to_rfc3339(1_500, &TimeUnit::Millisecond), "1970-01-01T00:00:01.500Z");
        assert_eq!(datum_to_text(&Datum::Date(0), &DataType::Date32), "1970-01-01");
    }
}
