//! Arrow column types → PostgreSQL column types (for `create_table`) and datum → COPY text.
//!
//! Why one file for both: the DDL type chosen for a column and the text written for its values
//! must agree (an Arrow `UInt64` becomes `NUMERIC(20, 0)` *and* is written as a plain decimal;
//! a list of structs becomes `JSONB` *and* is written as JSON). Values are written in
//! PostgreSQL's text input syntax (the `COPY … FROM STDIN` text format), which the server
//! parses with each column's own input function: so the same encoding also works for an
//! existing table whose columns have compatible but different types (`VARCHAR(40)` for a
//! string, `NUMERIC` for a float, a domain), which the binary format (`binary`, used when
//! the table's types allow it) would reject. Values never become SQL text: they travel as COPY
//! data only.

use std::fmt::Write as _;

use arrow::datatypes::{DataType, TimeUnit};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike};
use illunare_types::{Datum, datum_to_json};

/// A PostgreSQL column type the sink creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PgType {
    Bool,
    Int2,
    Int4,
    Int8,
    /// `NUMERIC(precision, scale)`.
    Numeric(u8, i8),
    Float4,
    Float8,
    Text,
    Bytea,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    Interval,
    /// A one-dimensional array of a scalar type.
    Array(Box<PgType>),
    Jsonb,
}

impl PgType {
    /// The type as written in `CREATE TABLE`.
    pub fn ddl(&self) -> String {
        match self {
            PgType::Bool => "BOOLEAN".into(),
            PgType::Int2 => "SMALLINT".into(),
            PgType::Int4 => "INTEGER".into(),
            PgType::Int8 => "BIGINT".into(),
            PgType::Numeric(p, s) => format!("NUMERIC({p}, {s})"),
            PgType::Float4 => "REAL".into(),
            PgType::Float8 => "DOUBLE PRECISION".into(),
            PgType::Text => "TEXT".into(),
            PgType::Bytea => "BYTEA".into(),
            PgType::Date => "DATE".into(),
            PgType::Time => "TIME".into(),
            PgType::Timestamp => "TIMESTAMP".into(),
            PgType::Timestamptz => "TIMESTAMPTZ".into(),
            PgType::Interval => "INTERVAL".into(),
            PgType::Array(element) => format!("{}[]", element.ddl()),
            PgType::Jsonb => "JSONB".into(),
        }
    }
}

/// The PostgreSQL type for an Arrow type, or why there is none.
pub fn pg_type(dt: &DataType) -> Result<PgType, String> {
    use DataType as D;
    Ok(match dt {
        D::Boolean => PgType::Bool,
        D::Int8 | D::Int16 | D::UInt8 => PgType::Int2,
        D::Int32 | D::UInt16 => PgType::Int4,
        D::Int64 | D::UInt32 => PgType::Int8,
        D::UInt64 => PgType::Numeric(20, 0),
        D::Float16 | D::Float32 => PgType::Float4,
        D::Float64 => PgType::Float8,
        D::Decimal128(p, s) => PgType::Numeric(*p, *s),
        D::Null | D::Utf8 | D::LargeUtf8 | D::Utf8View => PgType::Text,
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => PgType::Bytea,
        D::Date32 => PgType::Date,
        // Arrow's Date64 holds milliseconds (the engine keeps them as a timestamp).
        D::Date64 => PgType::Timestamp,
        D::Time32(_) | D::Time64(_) => PgType::Time,
        D::Timestamp(_, None) => PgType::Timestamp,
        D::Timestamp(_, Some(_)) => PgType::Timestamptz,
        D::Duration(_) | D::Interval(_) => PgType::Interval,
        D::List(f) | D::LargeList(f) | D::FixedSizeList(f, _) => match pg_type(f.data_type())? {
            PgType::Array(_) | PgType::Jsonb => PgType::Jsonb,
            element => PgType::Array(Box::new(element)),
        },
        D::Struct(_) => PgType::Jsonb,
        D::Dictionary(_, value) => pg_type(value)?,
        other => return Err(format!("type {other} has no PostgreSQL mapping in the postgres sink")),
    })
}

/// One column of the sink's relation: its name, Arrow type and PostgreSQL type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub data_type: DataType,
    pub pg: PgType,
}

/// Why a value could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("text value contains a NUL character, which PostgreSQL cannot store")]
    Nul,
    #[error("{0} is outside the range PostgreSQL can store")]
    OutOfRange(String),
    #[error("value {value} does not fit a column of type {data_type}")]
    Mismatch { value: String, data_type: String },
}

/// Nanoseconds per `unit`.
pub fn unit_nanos(unit: &TimeUnit) -> i128 {
    match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    }
}

/// Appends one non-NULL value of a column in PostgreSQL's text input syntax (unescaped: the
/// caller escapes it for COPY).
pub fn write_text(out: &mut String, d: &Datum, dt: &DataType, pg: &PgType) -> Result<(), EncodeError> {
    if let DataType::Dictionary(_, value) = dt {
        return write_text(out, d, value, pg);
    }
    let mismatch = || EncodeError::Mismatch { value: format!("{d:?}"), data_type: dt.to_string() };
    match (d, pg) {
        (Datum::Null, _) => out.push_str("NULL"),
        (_, PgType::Jsonb) => {
            let json = datum_to_json(d, dt);
            out.push_str(&json.to_string());
        }
        (Datum::Bool(b), _) => out.push_str(if *b { "t" } else { "f" }),
        (Datum::Int(i), _) => {
            let _ = write!(out, "{i}");
        }
        (Datum::UInt(u), _) => {
            let _ = write!(out, "{u}");
        }
        (Datum::Float(f), pg) => write_float(out, f.0, *pg == PgType::Float4),
        (Datum::Decimal(v), _) => match dt {
            DataType::Decimal128(_, s) => out.push_str(&decimal_text(*v, *s)),
            _ => return Err(mismatch()),
        },
        (Datum::Str(s), _) => {
            if s.contains('\0') {
                return Err(EncodeError::Nul);
            }
            out.push_str(s);
        }
        (Datum::Bytes(b), _) => {
            out.push_str("\\x");
            for byte in b.iter() {
                let _ = write!(out, "{byte:02x}");
            }
        }
        (Datum::Date(days), _) => {
            let date = NaiveDate::from_num_days_from_ce_opt(days.saturating_add(719_163))
                .ok_or_else(|| EncodeError::OutOfRange(format!("date {days} days after 1970-01-01")))?;
            write_date(out, date.year(), date.month(), date.day());
            if date.year() <= 0 {
                out.push_str(" BC");
            }
        }
        (Datum::Time(v), _) => {
            let unit = match dt {
                DataType::Time32(u) | DataType::Time64(u) => u,
                _ => return Err(mismatch()),
            };
            let nanos = i128::from(*v) * unit_nanos(unit);
            if !(0..=86_400_000_000_000).contains(&nanos) {
                return Err(EncodeError::OutOfRange(format!("time of day {v} ({unit:?})")));
            }
            let secs = nanos / 1_000_000_000;
            let _ = write!(out, "{:02}:{:02}:{:02}.{:09}", secs / 3600, secs / 60 % 60, secs % 60, nanos % 1_000_000_000);
        }
        (Datum::Timestamp(v), _) => {
            let unit = match dt {
                DataType::Timestamp(u, _) => *u,
                DataType::Date64 => TimeUnit::Millisecond,
                _ => return Err(mismatch()),
            };
            let t = timestamp(*v, &unit).ok_or_else(|| EncodeError::OutOfRange(format!("timestamp {v} ({unit:?})")))?;
            write_date(out, t.year(), t.month(), t.day());
            let _ = write!(out, " {:02}:{:02}:{:02}.{:09}", t.hour(), t.minute(), t.second(), t.nanosecond());
            if *pg == PgType::Timestamptz {
                out.push_str("+00");
            }
            if t.year() <= 0 {
                out.push_str(" BC");
            }
        }
        (Datum::Duration(v), _) => {
            let DataType::Duration(unit) = dt else { return Err(mismatch()) };
            write_seconds(out, i128::from(*v) * unit_nanos(unit));
        }
        (Datum::Interval { months, days, nanos }, _) => {
            let _ = write!(out, "{months} months {days} days ");
            write_seconds(out, i128::from(*nanos));
        }
        (Datum::List(items), PgType::Array(element)) => {
            let element_dt = match dt {
                DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => f.data_type(),
                _ => return Err(mismatch()),
            };
            out.push('{');
            let mut item_text = String::new();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if item.is_null() {
                    out.push_str("NULL");
                    continue;
                }
                item_text.clear();
                write_text(&mut item_text, item, element_dt, element)?;
                out.push('"');
                for c in item_text.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
            out.push('}');
        }
        (Datum::List(_), _) => return Err(mismatch()),
    }
    Ok(())
}

fn timestamp(v: i64, unit: &TimeUnit) -> Option<NaiveDateTime> {
    let nanos = i128::from(v) * unit_nanos(unit);
    let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).ok()?;
    let sub = u32::try_from(nanos.rem_euclid(1_000_000_000)).ok()?;
    DateTime::from_timestamp(secs, sub).map(|t| t.naive_utc())
}

/// `YYYY-MM-DD`, with years ≤ 0 written as their BC year (the caller appends ` BC`).
fn write_date(out: &mut String, year: i32, month: u32, day: u32) {
    let year = if year <= 0 { 1 - year } else { year };
    let _ = write!(out, "{year:04}-{month:02}-{day:02}");
}

/// A signed number of nanoseconds as interval text (`-1.500000000 seconds`).
fn write_seconds(out: &mut String, nanos: i128) {
    let sign = if nanos < 0 { "-" } else { "" };
    let abs = nanos.unsigned_abs();
    let _ = write!(out, "{sign}{}.{:09} seconds", abs / 1_000_000_000, abs % 1_000_000_000);
}

fn write_float(out: &mut String, f: f64, single: bool) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    } else if single {
        // The shortest text that reads back as the same f32.
        let _ = write!(out, "{:?}", f as f32);
    } else {
        let _ = write!(out, "{f:?}");
    }
}

/// An unscaled decimal with `scale` as exact decimal text.
pub fn decimal_text(v: i128, scale: i8) -> String {
    if scale <= 0 {
        let mut s = v.to_string();
        if v != 0 {
            s.push_str(&"0".repeat(usize::from(scale.unsigned_abs())));
        }
        return s;
    }
    let scale = usize::from(scale.unsigned_abs());
    let digits = v.unsigned_abs().to_string();
    let digits = if digits.len() <= scale { format!("{}{digits}", "0".repeat(scale + 1 - digits.len())) } else { digits };
    let (int, frac) = digits.split_at(digits.len() - scale);
    format!("{}{int}.{frac}", if v < 0 { "-" } else { "" })
}

/// Appends `raw` escaped for the COPY text format (backslash, tab, newline, carriage return).
pub fn copy_escape(out: &mut String, raw: &str) {
    // Runs without a special byte are copied whole (the four specials are ASCII, so slicing
    // at them is always on a char boundary).
    let mut start = 0;
    for (i, byte) in raw.bytes().enumerate() {
        let escaped = match byte {
            b'\\' => "\\\\",
            b'\t' => "\\t",
            b'\n' => "\\n",
            b'\r' => "\\r",
            _ => continue,
        };
        out.push_str(&raw[start..i]);
        out.push_str(escaped);
        start = i + 1;
    }
    out.push_str(&raw[start..]);
}

/// The COPY text representation of NULL.
pub const COPY_NULL: &str = "\\N";

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{Field, Fields};

    use super::*;

    #[test]
    fn copy_escape_keeps_text_and_escapes_specials() {
        let mut out = String::new();
        copy_escape(&mut out, "São Paulo\t→\\x\r\nend");
        assert_eq!(out, "São Paulo\\t→\\\\x\\r\\nend");
        out.clear();
        copy_escape(&mut out, "plain");
        assert_eq!(out, "plain");
    }

    fn text(d: Datum, dt: DataType) -> String {
        let pg = pg_type(&dt).unwrap();
        let mut s = String::new();
        write_text(&mut s, &d, &dt, &pg).unwrap();
        s
    }

    #[test]
    fn type_mapping() {
        let item = |dt| Arc::new(Field::new("item", dt, true));
        let cases = [
            (DataType::Boolean, "BOOLEAN"),
            (DataType::Int8, "SMALLINT"),
            (DataType::UInt8, "SMALLINT"),
            (DataType::UInt16, "INTEGER"),
            (DataType::Int32, "INTEGER"),
            (DataType::UInt32, "BIGINT"),
            (DataType::UInt64, "NUMERIC(20, 0)"),
            (DataType::Float32, "REAL"),
            (DataType::Float64, "DOUBLE PRECISION"),
            (DataType::Decimal128(12, 2), "NUMERIC(12, 2)"),
            (DataType::Utf8View, "TEXT"),
            (DataType::LargeBinary, "BYTEA"),
            (DataType::Date32, "DATE"),
            (DataType::Time64(TimeUnit::Microsecond), "TIME"),
            (DataType::Timestamp(TimeUnit::Millisecond, None), "TIMESTAMP"),
            (DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), "TIMESTAMPTZ"),
            (DataType::Duration(TimeUnit::Second), "INTERVAL"),
            (DataType::List(item(DataType::Int64)), "BIGINT[]"),
            (DataType::List(item(DataType::Utf8)), "TEXT[]"),
            (DataType::List(item(DataType::List(item(DataType::Int64)))), "JSONB"),
            (DataType::Struct(Fields::from(vec![Field::new("a", DataType::Int64, true)])), "JSONB"),
        ];
        for (dt, ddl) in cases {
            assert_eq!(pg_type(&dt).unwrap().ddl(), ddl, "{dt}");
        }
        assert!(pg_type(&DataType::Decimal256(40, 2)).is_err());
    }

    #[test]
    fn value_text() {
        assert_eq!(text(Datum::Decimal(-12345), DataType::Decimal128(10, 2)), "-123.45");
        assert_eq!(text(Datum::Decimal(5), DataType::Decimal128(10, 3)), "0.005");
        assert_eq!(text(Datum::Decimal(7), DataType::Decimal128(10, -2)), "700");
        assert_eq!(text(Datum::float(0.1), DataType::Float32), "0.1");
        assert_eq!(text(Datum::float(f64::NEG_INFINITY), DataType::Float64), "-Infinity");
        assert_eq!(text(Datum::Bytes(Arc::from(&[1u8, 0xff][..])), DataType::Binary), "\\x01ff");
        assert_eq!(text(Datum::Date(0), DataType::Date32), "1970-01-01");
        assert_eq!(text(Datum::Date(-719_528), DataType::Date32), "0001-01-01 BC");
        assert_eq!(
            text(Datum::Timestamp(1_500), DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))),
            "1970-01-01 00:00:01.500000000+00"
        );
        assert_eq!(text(Datum::Timestamp(-1), DataType::Timestamp(TimeUnit::Second, None)), "1969-12-31 23:59:59.000000000");
        assert_eq!(text(Datum::Time(3_723_000_001), DataType::Time64(TimeUnit::Microsecond)), "01:02:03.000001000");
        assert_eq!(text(Datum::Duration(-1_500), DataType::Duration(TimeUnit::Millisecond)), "-1.500000000 seconds");
        assert_eq!(
            text(Datum::Interval { months: 1, days: -2, nanos: 3 }, DataType::Interval(arrow::datatypes::IntervalUnit::MonthDayNano)),
            "1 months -2 days 0.000000003 seconds"
        );
        let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
        let items = Datum::List(Arc::from(vec![Datum::str("a \"b\"\\"), Datum::Null]));
        assert_eq!(text(items, list), r#"{"a \"b\"\\",NULL}"#);
        let nested = DataType::List(Arc::new(Field::new("item", DataType::List(Arc::new(Field::new("item", DataType::Int64, true))), true)));
        let v = Datum::List(Arc::from(vec![Datum::List(Arc::from(vec![Datum::Int(1), Datum::Int(2)]))]));
        assert_eq!(text(v, nested), "[[1,2]]");
        let mut s = String::new();
        assert_eq!(write_text(&mut s, &Datum::str("a\0b"), &DataType::Utf8, &PgType::Text), Err(EncodeError::Nul));
    }

    #[test]
    fn copy_escaping() {
        let mut s = String::new();
        copy_escape(&mut s, "a\tb\nc\\d\re");
        assert_eq!(s, "a\\tb\\nc\\\\d\\re");
    }
}
