//! Row → text line encoding shared by the `file` and `stdout` sinks (JSON lines and CSV).
//!
//! Why one place: both sinks must print the same value the same way (timestamps as RFC 3339,
//! NULL as JSON `null` / an empty CSV field), and the changelog `_diff` column must look the same
//! in both. JSON objects are written field by field in declared column order (rather than
//! through a `serde_json::Map`, whose key order depends on crate features), CSV fields are
//! quoted only when they must be.

use std::fmt::Write as _;

use arrow::datatypes::{DataType, SchemaRef};
use illunare_connector::{ConnectorError, Diff, Options, Row};
use illunare_types::{Datum, datum_to_json, datum_to_text};

/// The name of the multiplicity column of changelog output.
pub(crate) const DIFF_COLUMN: &str = "_diff";

/// Line format of a sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Jsonl,
    Csv,
}

impl Format {
    /// The `format` option, or `default` when absent.
    pub(crate) fn from_options(options: &Options, default: Format) -> Result<Format, ConnectorError> {
        match options.get("format")?.map(|f| f.trim().to_lowercase()) {
            None => Ok(default),
            Some(f) if f == "jsonl" || f == "json" || f == "ndjson" => Ok(Format::Jsonl),
            Some(f) if f == "csv" => Ok(Format::Csv),
            Some(f) => Err(ConnectorError::option("format", format!("'{f}' is not a sink format (jsonl, csv)"))),
        }
    }
}

/// What a sink writes: the relation's current contents, or every change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Snapshot,
    Changelog,
}

impl Mode {
    /// The `mode` option, or `default` when absent.
    pub(crate) fn from_options(options: &Options, default: Mode) -> Result<Mode, ConnectorError> {
        match options.get("mode")?.map(|m| m.trim().to_lowercase()) {
            None => Ok(default),
            Some(m) if m == "snapshot" => Ok(Mode::Snapshot),
            Some(m) if m == "changelog" => Ok(Mode::Changelog),
            Some(m) => Err(ConnectorError::option("mode", format!("'{m}' is not a sink mode (snapshot, changelog)"))),
        }
    }
}

/// Encodes rows of one schema as lines of one format.
#[derive(Clone, Debug)]
pub(crate) struct Encoder {
    schema: SchemaRef,
    format: Format,
}

impl Encoder {
    pub(crate) fn new(schema: SchemaRef, format: Format) -> Self {
        Encoder { schema, format }
    }

    /// The header line (CSV only), with a trailing `_diff` column for changelogs.
    pub(crate) fn header(&self, with_diff: bool) -> Option<String> {
        if self.format != Format::Csv {
            return None;
        }
        let mut line = String::new();
        for (i, field) in self.schema.fields().iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            push_csv_field(&mut line, field.name());
        }
        if with_diff {
            if !self.schema.fields().is_empty() {
                line.push(',');
            }
            line.push_str(DIFF_COLUMN);
        }
        line.push('\n');
        Some(line)
    }

    /// Appends `row` as one line (ending in `\n`) to `out`, with a `_diff` field when given.
    pub(crate) fn encode(&self, row: &Row, diff: Option<Diff>, out: &mut String) -> Result<(), ConnectorError> {
        let fields = self.schema.fields();
        if row.len() != fields.len() {
            return Err(ConnectorError::Other(format!(
                "sink received a row of {} columns, its relation has {} ({:?})",
                row.len(),
                fields.len(),
                fields.iter().map(|f| f.name().as_str()).collect::<Vec<_>>()
            )));
        }
        match self.format {
            Format::Jsonl => {
                out.push('{');
                for (i, (field, datum)) in fields.iter().zip(row.iter()).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{}:{}", serde_json::Value::from(field.name().as_str()), datum_to_json(datum, field.data_type()));
                }
                if let Some(diff) = diff {
                    if !fields.is_empty() {
                        out.push(',');
                    }
                    let _ = write!(out, "\"{DIFF_COLUMN}\":{diff}");
                }
                out.push_str("}\n");
            }
            Format::Csv => {
                for (i, (field, datum)) in fields.iter().zip(row.iter()).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_csv_datum(out, datum, field.data_type());
                }
                if let Some(diff) = diff {
                    if !fields.is_empty() {
                        out.push(',');
                    }
                    let _ = write!(out, "{diff}");
                }
                out.push('\n');
            }
        }
        Ok(())
    }
}

/// A CSV cell: NULL is an empty field, the empty string is `""` so the two stay apart.
fn push_csv_datum(out: &mut String, datum: &Datum, dt: &DataType) {
    match datum {
        Datum::Null => {}
        Datum::Str(s) if s.is_empty() => out.push_str("\"\""),
        other => push_csv_field(out, &datum_to_text(other, dt)),
    }
}

/// `text` as a CSV field, quoted (with `"` doubled) when it holds a delimiter, quote or newline.
fn push_csv_field(out: &mut String, text: &str) {
    if text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{Field, Schema, TimeUnit};

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            Field::new("x", DataType::Float64, true),
            Field::new("at", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ]))
    }

    fn line(format: Format, row: &Row, diff: Option<Diff>) -> String {
        let mut out = String::new();
        Encoder::new(schema(), format).encode(row, diff, &mut out).unwrap();
        out
    }

    #[test]
    fn csv_quoting_and_nulls() {
        let enc = Encoder::new(schema(), Format::Csv);
        assert_eq!(enc.header(false).unwrap(), "name,n,x,at\n");
        assert_eq!(enc.header(true).unwrap(), "name,n,x,at,_diff\n");
        let row = Row(vec![Datum::str("a, \"b\"\nc"), Datum::Int(3), Datum::Null, Datum::Timestamp(1_500)]);
        assert_eq!(line(Format::Csv, &row, None), "\"a, \"\"b\"\"\nc\",3,,1970-01-01T00:00:01.500Z\n");
        let row = Row(vec![Datum::str(""), Datum::Null, Datum::float(2.5), Datum::Null]);
        assert_eq!(line(Format::Csv, &row, Some(-2)), "\"\",,2.5,,-2\n");
    }

    #[test]
    fn json_lines_in_column_order() {
        let row = Row(vec![Datum::str("q\""), Datum::Int(3), Datum::Null, Datum::Timestamp(0)]);
        assert_eq!(
            line(Format::Jsonl, &row, Some(1)),
            "{\"name\":\"q\\\"\",\"n\":3,\"x\":null,\"at\":\"1970-01-01T00:00:00Z\",\"_diff\":1}\n"
        );
        assert!(Encoder::new(schema(), Format::Jsonl).header(true).is_none());
        let mut out = String::new();
        assert!(Encoder::new(schema(), Format::Jsonl).encode(&Row(vec![Datum::Int(1)]), None, &mut out).is_err());
    }
}
