//! Values crossing the API: query-string filter values parsed to a column's type, and rows as
//! JSON objects keyed by column name.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Schema};
use illunare_types::{Datum, Row, array_to_datums, row_to_json};
use serde_json::Value;

use crate::error::ApiError;

/// `text` as a value of `column` (type `dt`), parsed the way SQL casts a string. `null`
/// (any case) is NULL, which an equality filter never matches.
pub fn parse_value(column: &str, text: &str, dt: &DataType) -> Result<Datum, ApiError> {
    if text.eq_ignore_ascii_case("null") {
        return Ok(Datum::Null);
    }
    let array: ArrayRef = Arc::new(StringArray::from(vec![text]));
    let options = CastOptions { safe: false, ..CastOptions::default() };
    let cast = cast_with_options(&array, dt, &options)
        .map_err(|e| ApiError::bad_request("bad_filter", format!("filter {column}={text:?}: not a {dt}: {e}")))?;
    let mut datums = array_to_datums(cast.as_ref()).map_err(|e| ApiError::bad_request("bad_filter", format!("filter {column}: {e}")))?;
    datums.pop().ok_or_else(|| ApiError::internal("cast produced no value"))
}

/// A row as a JSON object.
pub fn row_json(row: &Row, schema: &Schema) -> Value {
    Value::Object(row_to_json(row, schema))
}

/// A frontier as JSON: milliseconds, or `null` once the relation is complete.
pub fn frontier_json(frontier: Option<u64>) -> Value {
    frontier.map(Value::from).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_take_the_column_type() {
        assert_eq!(parse_value("k", "42", &DataType::Int64).expect("int"), Datum::Int(42));
        assert_eq!(parse_value("k", "c1", &DataType::Utf8).expect("str"), Datum::Str("c1".into()));
        assert_eq!(parse_value("k", "NULL", &DataType::Int64).expect("null"), Datum::Null);
        assert!(matches!(parse_value("k", "1.5", &DataType::Float64).expect("float"), Datum::Float(_)));
        let e = parse_value("k", "x1", &DataType::Int64).expect_err("not an int");
        assert!(e.message.contains("filter k=\"x1\": not a Int64"), "{}", e.message);
    }
}
