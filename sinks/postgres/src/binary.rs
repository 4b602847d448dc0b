//! COPY's binary format: rows written as PostgreSQL's own binary values
//! (`COPY … FROM STDIN (FORMAT binary)`), used whenever every column of the table has a type
//! whose binary form the sink writes for the view column's Arrow type.
//!
//! Why binary when it can be used: the text format makes the client print every number,
//! timestamp and interval and the server parse it back (`timestamp_in`, `float8in` and
//! `numeric_in` are a large share of a COPY's server time); in binary both sides copy fixed-width
//! big-endian values. It is the same transaction, the same rows and the same staging/merge
//! protocol (`write`), only a cheaper encoding.
//!
//! Why not always: the binary form of a value is only accepted by a column of exactly its type
//! (an `int8` value cannot go into an `int4` column, a `numeric` needs `numeric`), and an existing
//! table may have compatible but different types (`VARCHAR(40)`, `NUMERIC` for a float, a
//! domain). [`plan`] therefore matches each column's type OID (read from the catalog when the
//! session opens) against what the view column can be written as; one column it cannot match
//! makes the whole COPY text (the format is per statement). Tables created by the sink always
//! match. Where binary accepts a narrower column (a `BIGINT` view column into an `INTEGER`
//! table column), values are range-checked here, as the server's text input would.
//!
//! Values keep the text path's meaning exactly: timestamps without a time zone go to
//! `timestamp` columns and with one to `timestamptz` (a zone-less value into `timestamptz` is
//! read in the session's `TimeZone` by the text path, so that pair stays text); sub-microsecond
//! times are rounded to the nearest microsecond, as the server rounds text input (ties go to the
//! even microsecond here; the server's text parsing goes through a float, which can take an
//! exact half-microsecond tie either way).

use arrow::datatypes::{DataType, TimeUnit};
use illunare_types::{Datum, Row, datum_to_json};

use crate::types::{Column, EncodeError, unit_nanos};

/// The 11-byte signature, flags and header-extension length that start a binary COPY.
pub const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The field count `-1` that ends a binary COPY.
pub const TRAILER: [u8; 2] = (-1i16).to_be_bytes();

/// Days and microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const PG_EPOCH_DAYS: i64 = 10_957;
const PG_EPOCH_MICROS: i128 = 946_684_800_000_000;

/// A PostgreSQL column type the sink writes in binary, by the table column's type OID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wire {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    /// `text`, `varchar(n)` and `char(n)`: the same binary form (the server applies the length).
    Text,
    Bytea,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    Interval,
    Json,
    Jsonb,
    /// A one-dimensional array; the element type's OID goes into every value.
    Array { element: Box<Wire>, element_oid: u32 },
}

impl Wire {
    /// The type for a scalar type OID, when the sink writes it.
    pub fn scalar(oid: u32) -> Option<Wire> {
        Some(match oid {
            16 => Wire::Bool,
            17 => Wire::Bytea,
            20 => Wire::Int8,
            21 => Wire::Int2,
            23 => Wire::Int4,
            25 | 1042 | 1043 => Wire::Text,
            114 => Wire::Json,
            700 => Wire::Float4,
            701 => Wire::Float8,
            1082 => Wire::Date,
            1083 => Wire::Time,
            1114 => Wire::Timestamp,
            1184 => Wire::Timestamptz,
            1186 => Wire::Interval,
            1700 => Wire::Numeric,
            3802 => Wire::Jsonb,
            _ => return None,
        })
    }

    /// The type of a table column: `oid` its type, `element_oid` the element type of an array
    /// type (0 otherwise).
    pub fn of_column(oid: u32, element_oid: u32) -> Option<Wire> {
        if element_oid == 0 {
            return Wire::scalar(oid);
        }
        let element = Wire::scalar(element_oid)?;
        // Arrays of JSON would need the view's nested values as JSON per element: text does it.
        if matches!(element, Wire::Json | Wire::Jsonb) {
            return None;
        }
        Some(Wire::Array { element: Box::new(element), element_oid })
    }

    /// Whether values of the view's Arrow type `dt` are written as this type (see the module
    /// doc for the pairs kept on the text path).
    pub fn accepts(&self, dt: &DataType) -> bool {
        use DataType as D;
        if let D::Dictionary(_, value) = dt {
            return self.accepts(value);
        }
        let integer = matches!(dt, D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64);
        match self {
            Wire::Bool => matches!(dt, D::Boolean | D::Null),
            Wire::Int2 | Wire::Int4 | Wire::Int8 => integer || matches!(dt, D::Null),
            Wire::Float4 | Wire::Float8 => matches!(dt, D::Float16 | D::Float32 | D::Float64 | D::Null),
            Wire::Numeric => integer || matches!(dt, D::Decimal128(..) | D::Null),
            Wire::Text => matches!(dt, D::Utf8 | D::LargeUtf8 | D::Utf8View | D::Null),
            Wire::Bytea => matches!(dt, D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) | D::Null),
            Wire::Date => matches!(dt, D::Date32 | D::Null),
            Wire::Time => matches!(dt, D::Time32(_) | D::Time64(_) | D::Null),
            Wire::Timestamp => matches!(dt, D::Timestamp(_, None) | D::Timestamp(_, Some(_)) | D::Date64 | D::Null),
            Wire::Timestamptz => matches!(dt, D::Timestamp(_, Some(_)) | D::Null),
            Wire::Interval => matches!(dt, D::Duration(_) | D::Interval(_) | D::Null),
            Wire::Json | Wire::Jsonb => matches!(crate::types::pg_type(dt), Ok(crate::types::PgType::Jsonb)) || matches!(dt, D::Null),
            Wire::Array { element, .. } => match dt {
                D::List(f) | D::LargeList(f) | D::FixedSizeList(f, _) => element.accepts(f.data_type()),
                D::Null => true,
                _ => false,
            },
        }
    }
}

/// The binary type of each view column (in the view's order), or `None` when one of them has
/// none and the COPY must be text. `table` lists the table's columns as (name, type OID,
/// array element OID or 0).
pub fn plan(columns: &[Column], table: &[(String, u32, u32)]) -> Option<Vec<Wire>> {
    columns
        .iter()
        .map(|c| {
            let (_, oid, element) = table.iter().find(|(name, _, _)| *name == c.name)?;
            let wire = Wire::of_column(*oid, *element)?;
            wire.accepts(&c.data_type).then_some(wire)
        })
        .collect()
}

/// Appends one row as a binary COPY tuple; with `only`, the other columns are NULL; `extra`
/// is one more boolean field (the staging table's upsert flag).
pub fn encode_row(out: &mut Vec<u8>, row: &Row, columns: &[Column], wires: &[Wire], only: Option<&[usize]>, extra: Option<bool>) -> Result<(), (String, String)> {
    if row.len() != columns.len() || wires.len() != columns.len() {
        return Err((String::new(), format!("row has {} values, the relation has {} columns", row.len(), columns.len())));
    }
    let fields = columns.len() + usize::from(extra.is_some());
    let fields = i16::try_from(fields).map_err(|_| (String::new(), format!("{fields} columns are more than COPY can carry")))?;
    out.extend_from_slice(&fields.to_be_bytes());
    for (i, ((datum, column), wire)) in row.iter().zip(columns).zip(wires).enumerate() {
        if datum.is_null() || only.is_some_and(|k| !k.contains(&i)) {
            out.extend_from_slice(&(-1i32).to_be_bytes());
            continue;
        }
        write_field(out, datum, &column.data_type, wire).map_err(|e| (column.name.clone(), e.to_string()))?;
    }
    if let Some(flag) = extra {
        out.extend_from_slice(&1i32.to_be_bytes());
        out.push(u8::from(flag));
    }
    Ok(())
}

/// Appends one non-NULL value with its length prefix.
fn write_field(out: &mut Vec<u8>, d: &Datum, dt: &DataType, wire: &Wire) -> Result<(), EncodeError> {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    write_value(out, d, dt, wire)?;
    let len = i32::try_from(out.len() - at - 4).map_err(|_| EncodeError::OutOfRange("a value over 2 GiB".into()))?;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// `nanos` in microseconds, rounded to the nearest, ties to even.
fn micros(nanos: i128) -> i128 {
    let (q, r) = (nanos.div_euclid(1000), nanos.rem_euclid(1000));
    if r > 500 || (r == 500 && q % 2 != 0) { q + 1 } else { q }
}

fn put_i64(out: &mut Vec<u8>, v: i128, what: impl FnOnce() -> String) -> Result<(), EncodeError> {
    let v = i64::try_from(v).map_err(|_| EncodeError::OutOfRange(what()))?;
    out.extend_from_slice(&v.to_be_bytes());
    Ok(())
}

fn write_value(out: &mut Vec<u8>, d: &Datum, dt: &DataType, wire: &Wire) -> Result<(), EncodeError> {
    if let DataType::Dictionary(_, value) = dt {
        return write_value(out, d, value, wire);
    }
    let mismatch = || EncodeError::Mismatch { value: format!("{d:?}"), data_type: dt.to_string() };
    let integer = |d: &Datum| -> Option<i128> {
        match d {
            Datum::Int(i) => Some(i128::from(*i)),
            Datum::UInt(u) => Some(i128::from(*u)),
            _ => None,
        }
    };
    match wire {
        Wire::Bool => match d {
            Datum::Bool(b) => out.push(u8::from(*b)),
            _ => return Err(mismatch()),
        },
        Wire::Int2 | Wire::Int4 | Wire::Int8 => {
            let v = integer(d).ok_or_else(mismatch)?;
            let name = match wire {
                Wire::Int2 => "smallint",
                Wire::Int4 => "integer",
                _ => "bigint",
            };
            let range = || EncodeError::OutOfRange(format!("{v} (for a column of type {name})"));
            match wire {
                Wire::Int2 => out.extend_from_slice(&i16::try_from(v).map_err(|_| range())?.to_be_bytes()),
                Wire::Int4 => out.extend_from_slice(&i32::try_from(v).map_err(|_| range())?.to_be_bytes()),
                _ => out.extend_from_slice(&i64::try_from(v).map_err(|_| range())?.to_be_bytes()),
            }
        }
        Wire::Float4 | Wire::Float8 => {
            let Datum::Float(f) = d else { return Err(mismatch()) };
            if *wire == Wire::Float4 {
                out.extend_from_slice(&(f.0 as f32).to_bits().to_be_bytes());
            } else {
                out.extend_from_slice(&f.0.to_bits().to_be_bytes());
            }
        }
        Wire::Numeric => match (d, dt) {
            (Datum::Decimal(v), DataType::Decimal128(_, scale)) => write_numeric(out, *v, *scale),
            _ => write_numeric(out, integer(d).ok_or_else(mismatch)?, 0),
        },
        Wire::Text => {
            let Datum::Str(s) = d else { return Err(mismatch()) };
            if s.contains('\0') {
                return Err(EncodeError::Nul);
            }
            out.extend_from_slice(s.as_bytes());
        }
        Wire::Bytea => {
            let Datum::Bytes(b) = d else { return Err(mismatch()) };
            out.extend_from_slice(b);
        }
        Wire::Date => {
            let Datum::Date(days) = d else { return Err(mismatch()) };
            let v = i64::from(*days) - PG_EPOCH_DAYS;
            let v = i32::try_from(v).map_err(|_| EncodeError::OutOfRange(format!("date {days} days after 1970-01-01")))?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        Wire::Time => {
            let (Datum::Time(v), DataType::Time32(unit) | DataType::Time64(unit)) = (d, dt) else { return Err(mismatch()) };
            let us = micros(i128::from(*v) * unit_nanos(unit));
            if !(0..=86_400_000_000).contains(&us) {
                return Err(EncodeError::OutOfRange(format!("time of day {v} ({unit:?})")));
            }
            put_i64(out, us, String::new)?;
        }
        Wire::Timestamp | Wire::Timestamptz => {
            let unit = match dt {
                DataType::Timestamp(u, _) => *u,
                DataType::Date64 => TimeUnit::Millisecond,
                _ => return Err(mismatch()),
            };
            let Datum::Timestamp(v) = d else { return Err(mismatch()) };
            put_i64(out, micros(i128::from(*v) * unit_nanos(&unit)) - PG_EPOCH_MICROS, || format!("timestamp {v} ({unit:?})"))?;
        }
        Wire::Interval => {
            let (us, days, months) = match (d, dt) {
                (Datum::Duration(v), DataType::Duration(unit)) => (micros(i128::from(*v) * unit_nanos(unit)), 0, 0),
                (Datum::Interval { months, days, nanos }, _) => (micros(i128::from(*nanos)), *days, *months),
                _ => return Err(mismatch()),
            };
            put_i64(out, us, || format!("interval of {us} microseconds"))?;
            out.extend_from_slice(&days.to_be_bytes());
            out.extend_from_slice(&months.to_be_bytes());
        }
        Wire::Json | Wire::Jsonb => {
            if *wire == Wire::Jsonb {
                out.push(1); // jsonb's binary format version
            }
            let json = datum_to_json(d, dt).to_string();
            if json.contains("\\u0000") {
                return Err(EncodeError::Nul);
            }
            out.extend_from_slice(json.as_bytes());
        }
        Wire::Array { element, element_oid } => {
            let (Datum::List(items), DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)) = (d, dt) else { return Err(mismatch()) };
            let count = i32::try_from(items.len()).map_err(|_| EncodeError::OutOfRange("an array of over 2^31 elements".into()))?;
            let has_null = items.iter().any(Datum::is_null);
            out.extend_from_slice(&i32::from(count > 0).to_be_bytes()); // dimensions: an empty array has none
            out.extend_from_slice(&i32::from(has_null).to_be_bytes());
            out.extend_from_slice(&element_oid.to_be_bytes());
            if count > 0 {
                out.extend_from_slice(&count.to_be_bytes());
                out.extend_from_slice(&1i32.to_be_bytes()); // lower bound
            }
            for item in items.iter() {
                if item.is_null() {
                    out.extend_from_slice(&(-1i32).to_be_bytes());
                } else {
                    write_field(out, item, f.data_type(), element)?;
                }
            }
        }
    }
    Ok(())
}

/// `v × 10^-scale` in `numeric`'s binary form: base-10000 digits with a weight (the power of
/// 10000 of the first digit), a sign and the display scale.
fn write_numeric(out: &mut Vec<u8>, v: i128, scale: i8) {
    let mut decimal = v.unsigned_abs().to_string();
    if scale < 0 && v != 0 {
        decimal.push_str(&"0".repeat(usize::from(scale.unsigned_abs())));
    }
    let dscale = usize::from(scale.max(0).unsigned_abs());
    if decimal.len() <= dscale {
        decimal = format!("{}{decimal}", "0".repeat(dscale + 1 - decimal.len()));
    }
    let (int, frac) = decimal.split_at(decimal.len() - dscale);
    // Integer digits grouped by four from the right, fraction digits from the left.
    let int_pad = (4 - int.len() % 4) % 4;
    let frac_pad = (4 - frac.len() % 4) % 4;
    let digits: Vec<u8> = std::iter::repeat_n(b'0', int_pad).chain(int.bytes()).chain(frac.bytes()).chain(std::iter::repeat_n(b'0', frac_pad)).collect();
    let mut groups: Vec<i16> = digits.chunks(4).map(|c| c.iter().fold(0i16, |acc, b| acc * 10 + i16::from(b - b'0'))).collect();
    let mut weight = i16::try_from((int.len() + int_pad) / 4).unwrap_or(i16::MAX) - 1;
    let leading = groups.iter().take_while(|g| **g == 0).count();
    groups.drain(..leading);
    weight -= i16::try_from(leading).unwrap_or(0);
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let sign: u16 = if v < 0 && !groups.is_empty() { 0x4000 } else { 0 };
    out.extend_from_slice(&i16::try_from(groups.len()).unwrap_or(i16::MAX).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&u16::try_from(dscale).unwrap_or(0).to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::Field;

    use super::*;
    use crate::types::PgType;

    fn numeric(v: i128, scale: i8) -> (i16, i16, u16, u16, Vec<i16>) {
        let mut out = Vec::new();
        write_numeric(&mut out, v, scale);
        let word = |i: usize| [out[i], out[i + 1]];
        let n = i16::from_be_bytes(word(0));
        let digits = (0..usize::try_from(n).unwrap()).map(|k| i16::from_be_bytes(word(8 + 2 * k))).collect();
        (n, i16::from_be_bytes(word(2)), u16::from_be_bytes(word(4)), u16::from_be_bytes(word(6)), digits)
    }

    #[test]
    fn numeric_digits_weight_sign_and_scale() {
        // -1234.567 = -(1234 + 5670/10000): weight 0, dscale 3.
        assert_eq!(numeric(-1_234_567, 3), (2, 0, 0x4000, 3, vec![1234, 5670]));
        // 18446744073709551615 = 1844 6744 0737 0955 1615.
        assert_eq!(numeric(i128::from(u64::MAX), 0), (5, 4, 0, 0, vec![1844, 6744, 737, 955, 1615]));
        // 0.005 = 50/10000: weight -1.
        assert_eq!(numeric(5, 3), (1, -1, 0, 3, vec![50]));
        // 700 with scale -2 (7 × 10²); 10000 is one digit of weight 1.
        assert_eq!(numeric(7, -2), (1, 0, 0, 0, vec![700]));
        assert_eq!(numeric(10_000, 0), (1, 1, 0, 0, vec![1]));
        assert_eq!(numeric(0, 2), (0, 0, 0, 2, vec![]));
    }

    #[test]
    fn micros_round_to_nearest_ties_to_even() {
        assert_eq!(micros(1_499), 1);
        assert_eq!(micros(1_500), 2);
        assert_eq!(micros(2_500), 2);
        assert_eq!(micros(-1_500), -2);
        assert_eq!(micros(-1_501), -2);
        assert_eq!(micros(-1_499), -1);
    }

    fn column(name: &str, data_type: DataType) -> Column {
        let pg = crate::types::pg_type(&data_type).unwrap_or(PgType::Text);
        Column { name: name.into(), data_type, pg }
    }

    #[test]
    fn plan_needs_every_column_to_match() {
        let columns = vec![column("id", DataType::Int64), column("name", DataType::Utf8), column("at", DataType::Timestamp(TimeUnit::Millisecond, None))];
        let table = |types: [(u32, u32); 3]| -> Vec<(String, u32, u32)> { ["id", "name", "at"].iter().zip(types).map(|(n, (t, e))| (n.to_string(), t, e)).collect() };
        assert_eq!(plan(&columns, &table([(20, 0), (25, 0), (1114, 0)])), Some(vec![Wire::Int8, Wire::Text, Wire::Timestamp]));
        // INTEGER and VARCHAR take BIGINT and strings in binary too (range-checked).
        assert_eq!(plan(&columns, &table([(23, 0), (1043, 0), (1114, 0)])), Some(vec![Wire::Int4, Wire::Text, Wire::Timestamp]));
        // A zone-less timestamp into TIMESTAMPTZ, or a float column as NUMERIC: text.
        assert_eq!(plan(&columns, &table([(20, 0), (25, 0), (1184, 0)])), None);
        assert_eq!(plan(&[column("x", DataType::Float64)], &[("x".into(), 1700, 0)]), None);
        // An unknown type (a domain, an enum) or a missing column: text.
        assert_eq!(plan(&columns, &table([(20, 0), (99_999, 0), (1114, 0)])), None);
        assert_eq!(plan(&columns, &table([(20, 0), (25, 0), (1114, 0)])[..2]), None);
        let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
        assert_eq!(plan(&[column("l", list)], &[("l".into(), 1015, 1043)]), Some(vec![Wire::Array { element: Box::new(Wire::Text), element_oid: 1043 }]));
    }

    #[test]
    fn rows_become_tuples() {
        let columns = vec![column("k", DataType::Int32), column("v", DataType::Utf8)];
        let wires = vec![Wire::Int2, Wire::Text];
        let mut out = Vec::new();
        encode_row(&mut out, &Row(vec![Datum::Int(7), Datum::str("ab")]), &columns, &wires, None, Some(true)).unwrap();
        assert_eq!(out, [&[0, 3][..], &[0, 0, 0, 2, 0, 7], &[0, 0, 0, 2, b'a', b'b'], &[0, 0, 0, 1, 1]].concat());
        out.clear();
        encode_row(&mut out, &Row(vec![Datum::Int(7), Datum::str("ab")]), &columns, &wires, Some(&[0]), None).unwrap();
        assert_eq!(out, [&[0, 2][..], &[0, 0, 0, 2, 0, 7], &[0xff, 0xff, 0xff, 0xff]].concat());
        let err = encode_row(&mut out, &Row(vec![Datum::Int(70_000), Datum::Null]), &columns, &wires, None, None).unwrap_err();
        assert_eq!(err.0, "k");
        assert!(err.1.contains("smallint"), "{}", err.1);
        assert!(encode_row(&mut out, &Row(vec![Datum::Int(1), Datum::str("a\0")]), &columns, &wires, None, None).is_err());
    }
}
