//! The declared columns of a Modbus source and how a poll's values become a row of them.
//!
//! `device`, `quality` and `ts` are the connector's own columns; every other column names a
//! field of the register map. Only the declared fields are polled, so a map may describe a
//! whole device while a source reads three of its registers. Type compatibility is checked at
//! `CREATE SOURCE`; values that do not fit at run time (a uint32 of 3e9 in an INT column) become
//! NULL and an error record, never a wrapped number.

use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use illunare_types::{Datum, Row};

use crate::decode::Value;
use crate::error::ModbusError;
use crate::map::{Field, FieldType, RegisterMap};

/// What fills one declared column.
#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    Device,
    Quality,
    /// Poll time, in the column's unit.
    Ts(TimeUnit),
    /// The polled field at this index of [`Columns::fields`].
    Field(usize, DataType),
}

/// The declared schema resolved against the map.
#[derive(Clone, Debug)]
pub struct Columns {
    pub schema: SchemaRef,
    pub columns: Vec<Column>,
    /// The map fields that are declared, in declaration order: what a poll reads.
    pub fields: Vec<Field>,
}

fn is_text(dt: &DataType) -> bool {
    matches!(dt, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn is_int(dt: &DataType) -> bool {
    dt.is_signed_integer() || dt.is_unsigned_integer()
}

/// Whether values of `field` may be stored in a column of type `dt`.
fn check_type(field: &Field, dt: &DataType) -> Result<(), String> {
    let ok = match field.ty {
        FieldType::String => is_text(dt),
        FieldType::Bool => matches!(dt, DataType::Boolean) || is_int(dt) || is_text(dt),
        FieldType::Float16 | FieldType::Float32 | FieldType::Float64 => dt.is_floating() || is_text(dt),
        _ if field.is_scaled() => dt.is_floating() || is_text(dt),
        _ => is_int(dt) || dt.is_floating() || is_text(dt) || matches!(dt, DataType::Boolean),
    };
    if ok {
        return Ok(());
    }
    let why = match field.ty {
        FieldType::String => "a string field needs a VARCHAR column".to_string(),
        FieldType::Float16 | FieldType::Float32 | FieldType::Float64 => format!("{:?} values need a REAL/DOUBLE (or VARCHAR) column", field.ty),
        _ if field.is_scaled() => "scale/offset make the value fractional: declare it DOUBLE".to_string(),
        _ => format!("a {:?} field cannot be stored as {dt}", field.ty),
    };
    Err(why)
}

impl Columns {
    pub fn resolve(schema: SchemaRef, map: &RegisterMap) -> Result<Self, ModbusError> {
        let mut columns = Vec::with_capacity(schema.fields().len());
        let mut fields: Vec<Field> = Vec::new();
        for col in schema.fields() {
            let name = col.name().to_lowercase();
            let dt = col.data_type();
            let column = match name.as_str() {
                "device" | "quality" if !is_text(dt) => {
                    return Err(ModbusError::column(col.name(), format!("must be VARCHAR, not {dt}")));
                }
                "device" => Column::Device,
                "quality" => Column::Quality,
                "ts" => match dt {
                    DataType::Timestamp(unit, _) => Column::Ts(*unit),
                    _ => return Err(ModbusError::column(col.name(), format!("the poll time must be TIMESTAMP, not {dt}"))),
                },
                _ => {
                    let field = map.field(&name).ok_or_else(|| {
                        let known: Vec<&str> = map.fields.iter().map(|f| f.name.as_str()).collect();
                        ModbusError::column(
                            col.name(),
                            format!("is neither device, quality, ts nor a field of the register map (fields: {})", known.join(", ")),
                        )
                    })?;
                    check_type(field, dt).map_err(|m| ModbusError::column(col.name(), m))?;
                    fields.push(field.clone());
                    Column::Field(fields.len() - 1, dt.clone())
                }
            };
            columns.push(column);
        }
        if fields.is_empty() {
            return Err(ModbusError::column("*", "declare at least one column of the register map"));
        }
        Ok(Columns { schema, columns, fields })
    }

    /// The row of one poll of `device`: `values` indexed like [`Columns::fields`] (all `None`
    /// unless the poll was good). Values that do not fit their column are NULL and reported
    /// in the returned messages.
    pub fn row(&self, device: &str, quality: &str, poll_time_us: i64, values: &[Option<Value>]) -> (Row, Vec<String>) {
        let mut problems = Vec::new();
        let datums = self
            .columns
            .iter()
            .map(|c| match c {
                Column::Device => Datum::str(device),
                Column::Quality => Datum::str(quality),
                Column::Ts(unit) => Datum::Timestamp(match unit {
                    TimeUnit::Second => poll_time_us.div_euclid(1_000_000),
                    TimeUnit::Millisecond => poll_time_us.div_euclid(1_000),
                    TimeUnit::Microsecond => poll_time_us,
                    TimeUnit::Nanosecond => poll_time_us.saturating_mul(1_000),
                }),
                Column::Field(i, dt) => match values.get(*i).and_then(|v| v.as_ref()) {
                    None => Datum::Null,
                    Some(v) => to_datum(v, dt).unwrap_or_else(|| {
                        problems.push(format!("field '{}': value {v:?} does not fit a {dt} column", self.fields[*i].name));
                        Datum::Null
                    }),
                },
            })
            .collect();
        (Row::new(datums), problems)
    }
}

/// Casts a decoded value to a column type; `None` when it does not fit.
fn to_datum(value: &Value, dt: &DataType) -> Option<Datum> {
    if is_text(dt) {
        return Some(Datum::str(&match value {
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::UInt(u) => u.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str(s) => s.clone(),
        }));
    }
    let (int, uint): (Option<i128>, Option<i128>) = match value {
        Value::Bool(b) => (Some(i128::from(*b)), None),
        Value::Int(i) => (Some(i128::from(*i)), None),
        Value::UInt(u) => (None, Some(i128::from(*u))),
        Value::Float(f) if dt.is_floating() => return Some(Datum::float(*f)),
        Value::Float(_) | Value::Str(_) => return None,
    };
    let n = int.or(uint)?;
    if dt.is_floating() {
        return Some(Datum::float(n as f64));
    }
    if matches!(dt, DataType::Boolean) {
        return Some(Datum::Bool(n != 0));
    }
    let (min, max): (i128, i128) = match dt {
        DataType::Int8 => (i8::MIN.into(), i8::MAX.into()),
        DataType::Int16 => (i16::MIN.into(), i16::MAX.into()),
        DataType::Int32 => (i32::MIN.into(), i32::MAX.into()),
        DataType::Int64 => (i64::MIN.into(), i64::MAX.into()),
        DataType::UInt8 => (0, u8::MAX.into()),
        DataType::UInt16 => (0, u16::MAX.into()),
        DataType::UInt32 => (0, u32::MAX.into()),
        DataType::UInt64 => (0, u64::MAX.into()),
        _ => return None,
    };
    if n < min || n > max {
        return None;
    }
    Some(if dt.is_signed_integer() { Datum::Int(n as i64) } else { Datum::UInt(n as u64) })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{Field as ArrowField, Schema};

    use super::*;

    fn schema(cols: &[(&str, DataType)]) -> SchemaRef {
        Arc::new(Schema::new(cols.iter().map(|(n, t)| ArrowField::new(*n, t.clone(), true)).collect::<Vec<_>>()))
    }

    fn map() -> RegisterMap {
        RegisterMap::from_inline(
            "{name='temperature', register='holding', address=0, type='float32'}, {name='cycles', register='input', address=0, type='uint32'},
             {name='raw', register='holding', address=4, type='int16', scale=0.5}, {name='running', register='coil', address=0}",
        )
        .unwrap()
    }

    #[test]
    fn resolves_declared_columns_in_any_order() {
        let s = schema(&[
            ("ts", DataType::Timestamp(TimeUnit::Millisecond, None)),
            ("cycles", DataType::Int64),
            ("device", DataType::Utf8),
            ("running", DataType::Boolean),
            ("quality", DataType::Utf8),
        ]);
        let c = Columns::resolve(s, &map()).unwrap();
        assert_eq!(c.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), vec!["cycles", "running"]);
        let (row, problems) = c.row("h:1/1", "good", 1_500_000, &[Some(Value::UInt(7)), Some(Value::Bool(true))]);
        assert!(problems.is_empty());
        assert_eq!(
            row.iter().cloned().collect::<Vec<_>>(),
            vec![Datum::Timestamp(1500), Datum::Int(7), Datum::str("h:1/1"), Datum::Bool(true), Datum::str("good")]
        );
    }

    #[test]
    fn refuses_what_cannot_fit() {
        for (cols, want) in [
            (vec![("temperature", DataType::Int64)], "REAL/DOUBLE"),
            (vec![("raw", DataType::Int32)], "declare it DOUBLE"),
            (vec![("pressure", DataType::Float64)], "neither device"),
            (vec![("device", DataType::Int64), ("raw", DataType::Float64)], "must be VARCHAR"),
            (vec![("ts", DataType::Utf8), ("raw", DataType::Float64)], "TIMESTAMP"),
            (vec![("device", DataType::Utf8)], "at least one column"),
        ] {
            let err = Columns::resolve(schema(&cols), &map()).unwrap_err().to_string();
            assert!(err.contains(want), "{cols:?}: {err}");
        }
    }

    #[test]
    fn out_of_range_values_become_null_and_are_reported() {
        let c = Columns::resolve(schema(&[("cycles", DataType::Int32)]), &map()).unwrap();
        let (row, problems) = c.row("d", "good", 0, &[Some(Value::UInt(3_000_000_000))]);
        assert_eq!(row.get(0), &Datum::Null);
        assert!(problems[0].contains("does not fit"), "{problems:?}");
        let (row, _) = c.row("d", "good", 0, &[Some(Value::UInt(42))]);
        assert_eq!(row.get(0), &Datum::Int(42));
    }
}
