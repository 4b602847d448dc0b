//! `Datum`: one SQL value inside the engine.
//!
//! Differential dataflow needs values that are totally ordered, hashable, cheap to clone and
//! serialisable (for exchange between workers and processes). Arrow arrays are none of those
//! per element, so rows inside arrangements are `Vec<Datum>`; Arrow is used at the edges and for
//! vectorised scalar evaluation (see `convert`). The logical type of each column lives in the
//! schema, not in the datum: `Int` carries every signed integer width, `Timestamp` carries the
//! raw value in the column's unit, `Decimal` the unscaled integer.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

/// A float with a total order (IEEE `total_cmp`, all NaNs equal), so it can live in keys.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, Default)]
pub struct F64(pub f64);

impl F64 {
    fn canonical(self) -> f64 {
        if self.0.is_nan() {
            f64::NAN
        } else if self.0 == 0.0 {
            0.0 // -0.0 == 0.0 in SQL
        } else {
            self.0
        }
    }
}

impl PartialEq for F64 {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for F64 {}
impl PartialOrd for F64 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for F64 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.canonical().total_cmp(&other.canonical())
    }
}
impl Hash for F64 {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.canonical().to_bits().hash(state)
    }
}

/// One SQL value. `Null` sorts first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub enum Datum {
    #[default]
    Null,
    Bool(bool),
    /// Any signed integer column (Int8 … Int64).
    Int(i64),
    /// Any unsigned integer column (UInt8 … UInt64).
    UInt(u64),
    /// Float16/32/64 columns (f32 values round-trip exactly).
    Float(F64),
    /// Decimal128: the unscaled value; precision and scale are in the schema.
    Decimal(i128),
    Str(SmolStr),
    Bytes(Arc<[u8]>),
    /// Days since the Unix epoch.
    Date(i32),
    /// Time of day in the column's unit.
    Time(i64),
    /// Timestamp in the column's unit since the Unix epoch (UTC).
    Timestamp(i64),
    /// Duration in the column's unit.
    Duration(i64),
    /// Month/day/nanosecond interval.
    Interval { months: i32, days: i32, nanos: i64 },
    /// List, fixed-size list or struct fields.
    List(Arc<[Datum]>),
}

impl Datum {
    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }

    pub fn str(s: &str) -> Datum {
        Datum::Str(SmolStr::new(s))
    }

    pub fn float(f: f64) -> Datum {
        Datum::Float(F64(f))
    }

    /// The value as `f64` when it is numeric (used by native aggregates).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Datum::Int(i) => Some(*i as f64),
            Datum::UInt(u) => Some(*u as f64),
            Datum::Float(f) => Some(f.0),
            _ => None,
        }
    }
}

impl From<i64> for Datum {
    fn from(v: i64) -> Self {
        Datum::Int(v)
    }
}
impl From<f64> for Datum {
    fn from(v: f64) -> Self {
        Datum::float(v)
    }
}
impl From<bool> for Datum {
    fn from(v: bool) -> Self {
        Datum::Bool(v)
    }
}
impl From<&str> for Datum {
    fn from(v: &str) -> Self {
        Datum::str(v)
    }
}
impl<T: Into<Datum>> From<Option<T>> for Datum {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Datum::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_sort_first_and_floats_are_total() {
        let mut v = [Datum::float(f64::NAN), Datum::Int(3), Datum::Null, Datum::float(-0.0), Datum::float(0.0)];
        v.sort();
        assert_eq!(v[0], Datum::Null);
        assert_eq!(Datum::float(-0.0), Datum::float(0.0));
        assert_eq!(Datum::float(f64::NAN), Datum::float(f64::NAN));
    }
}
