//! Hive-style partition directories (`col=value/…`), shared by the sinks that write them
//! (`file`, `parquet`), so both name the same partition the same way and readers that take
//! values from directory names (Spark, Trino, DuckDB, DataFusion) read either.
//!
//! Values are the text the encoders print (`datum_to_text`: a timestamp is RFC 3339), escaped as
//! Hive does; NULL is Hive's `__HIVE_DEFAULT_PARTITION__`, the empty string stays `col=`.

use std::path::PathBuf;

use arrow::datatypes::{DataType, Schema};
use illunare_types::{Datum, datum_to_text};

use crate::ConnectorError;

/// The directory value of a NULL partition value (Hive's and Flink's default).
pub const DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Hive's path escaping: `%XX` (uppercase hex) for `"#%'*/:=?\{[]^`, control characters and DEL.
pub fn escape_path_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c < ' ' || c == '\u{7f}' || "\"#%'*/:=?\\{[]^".contains(c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// A partition value's text; `None` for NULL.
pub fn partition_value(datum: &Datum, data_type: &DataType) -> Option<String> {
    match datum {
        Datum::Null => None,
        other => Some(datum_to_text(other, data_type)),
    }
}

/// `name1=value1/name2=value2`, escaped, NULL as [`DEFAULT_PARTITION`].
pub fn partition_dir<'a>(names: impl IntoIterator<Item = &'a str>, values: &[Option<String>]) -> PathBuf {
    let mut dir = PathBuf::new();
    for (name, value) in names.into_iter().zip(values) {
        let value = value.as_deref().map_or_else(|| DEFAULT_PARTITION.to_string(), escape_path_value);
        dir.push(format!("{}={value}", escape_path_value(name)));
    }
    dir
}

/// The indices of the comma-separated column names of a `partition_by` option: each a column
/// of `schema` (exact name, else the one differing only in ASCII case), listed once, of a type
/// that can name a directory, and not all of them (something must remain for the files).
pub fn partition_columns(list: &str, schema: &Schema) -> Result<Vec<usize>, ConnectorError> {
    let known = || schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ");
    if list.trim().is_empty() {
        return Err(ConnectorError::option("partition_by", format!("is empty: name one or more columns (of: {})", known())));
    }
    let fields = schema.fields();
    let mut columns = Vec::new();
    for name in list.split(',').map(str::trim) {
        if name.is_empty() {
            return Err(ConnectorError::option("partition_by", format!("'{list}' has an empty column name")));
        }
        let column = fields
            .iter()
            .position(|f| f.name() == name)
            .or_else(|| fields.iter().position(|f| f.name().eq_ignore_ascii_case(name)))
            .ok_or_else(|| ConnectorError::option("partition_by", format!("'{name}' is not a column of the relation (columns: {})", known())))?;
        if columns.contains(&column) {
            return Err(ConnectorError::option("partition_by", format!("'{name}' is listed twice")));
        }
        let data_type = fields[column].data_type();
        if data_type.is_nested() || matches!(data_type, DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_)) {
            return Err(ConnectorError::option("partition_by", format!("'{name}' has type {data_type}, which cannot name a directory")));
        }
        columns.push(column);
    }
    if columns.len() == fields.len() {
        return Err(ConnectorError::option("partition_by", "names every column: at least one must remain to be written in the files"));
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::Field;

    use super::*;

    #[test]
    fn values_are_escaped_as_hive_does() {
        assert_eq!(escape_path_value("2024-01-01"), "2024-01-01");
        assert_eq!(escape_path_value("a/b:c=d"), "a%2Fb%3Ac%3Dd");
        assert_eq!(escape_path_value("\"#%'*/:=?\\{[]^"), "%22%23%25%27%2A%2F%3A%3D%3F%5C%7B%5B%5D%5E");
        assert_eq!(escape_path_value("x\ny\u{1}\u{7f}"), "x%0Ay%01%7F");
        assert_eq!(escape_path_value("é ü-_.,;~"), "é ü-_.,;~");
        let dir = partition_dir(["dt", "h:m"], &[None, Some("12:30".into())]);
        assert_eq!(dir, PathBuf::from(format!("dt={DEFAULT_PARTITION}")).join("h%3Am=12%3A30"));
    }

    #[test]
    fn partition_columns_are_checked() {
        let schema = Schema::new(vec![
            Field::new("Day", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            Field::new("blob", DataType::Binary, true),
            Field::new("l", DataType::List(Arc::new(Field::new("item", DataType::Int64, true))), true),
        ]);
        assert_eq!(partition_columns("day, n", &schema).unwrap(), vec![0, 1]);
        for (list, want) in [
            ("", "is empty"),
            ("day,", "empty column name"),
            ("nope", "not a column"),
            ("n, N", "listed twice"),
            ("blob", "cannot name a directory"),
            ("l", "cannot name a directory"),
        ] {
            let err = partition_columns(list, &schema).unwrap_err().to_string();
            assert!(err.contains(want), "{list}: {err}");
        }
        let two = Schema::new(vec![Field::new("a", DataType::Utf8, true), Field::new("b", DataType::Utf8, true)]);
        assert!(partition_columns("a, b", &two).unwrap_err().to_string().contains("names every column"));
    }
}
