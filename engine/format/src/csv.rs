//! CSV: one record per message or per (possibly multi-line) file record.
//!
//! The values are parsed by arrow-csv, using a "file schema" with one field per CSV column so
//! that declared columns can be found by name (a header) or by position (no header). Types
//! arrow-csv cannot parse are read as text and cast. [`split_fields`] (the same RFC 4180 rules
//! as csv-core) takes a bad record apart to say precisely what is wrong with it, and
//! [`CsvState`] lets a framer find where a record with quoted newlines ends.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow_csv::ReaderBuilder;

use crate::{FormatError, RecordDecoder, trim_newline, type_name};

/// Types arrow-csv parses itself; the others are read as text and cast.
fn native(dt: &DataType) -> bool {
    use DataType as D;
    matches!(
        dt,
        D::Boolean
            | D::Int8
            | D::Int16
            | D::Int32
            | D::Int64
            | D::UInt8
            | D::UInt16
            | D::UInt32
            | D::UInt64
            | D::Float16
            | D::Float32
            | D::Float64
            | D::Decimal32(_, _)
            | D::Decimal64(_, _)
            | D::Decimal128(_, _)
            | D::Decimal256(_, _)
            | D::Date32
            | D::Date64
            | D::Time32(TimeUnit::Second | TimeUnit::Millisecond)
            | D::Time64(TimeUnit::Microsecond | TimeUnit::Nanosecond)
            | D::Timestamp(_, _)
            | D::Null
            | D::Utf8
    )
}

fn is_string(dt: &DataType) -> bool {
    matches!(dt, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// The type arrow-csv is asked to produce for a declared type.
fn decode_type(dt: &DataType) -> DataType {
    if native(dt) { dt.clone() } else { DataType::Utf8 }
}

/// Parses a `delimiter` option: one ASCII character other than a quote or a line end; `\t`
/// and `tab` name the tab. The error says what is accepted.
pub fn parse_delimiter(text: &str) -> Result<u8, String> {
    let d = match text {
        "\\t" | "tab" | "TAB" => "\t",
        other => other,
    };
    match d.as_bytes() {
        [b] if b.is_ascii() && *b != b'"' && *b != b'\n' && *b != b'\r' => Ok(*b),
        _ => Err(format!("'{text}' must be a single ASCII character other than a quote or newline (e.g. ',', ';', '\\t')")),
    }
}

/// Where a scanner is inside a CSV record: lets a framer tell that a quoted field still open
/// at the end of a line continues on the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvState {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: the field's end, or the first of an escaped `""`.
    QuoteInQuoted,
}

impl CsvState {
    /// Follows RFC 4180 as csv-core (under arrow-csv) does: a quote opens a quoted field only
    /// at the field's start, `""` inside one is a literal quote.
    pub fn step(self, byte: u8, delimiter: u8) -> CsvState {
        match (self, byte) {
            (CsvState::Quoted, b'"') => CsvState::QuoteInQuoted,
            (CsvState::Quoted, _) => CsvState::Quoted,
            (CsvState::FieldStart, b'"') => CsvState::Quoted,
            (CsvState::QuoteInQuoted, b'"') => CsvState::Quoted,
            (_, b'\n') => CsvState::FieldStart,
            (_, b) if b == delimiter => CsvState::FieldStart,
            _ => CsvState::Unquoted,
        }
    }
}

/// The fields of one record (without its line terminator), unquoted and unescaped, and
/// whether every quoted field was closed.
pub fn split_fields(record: &[u8], delimiter: u8) -> (Vec<String>, bool) {
    let mut fields = Vec::new();
    let mut field = Vec::new();
    let mut state = CsvState::FieldStart;
    for &b in record {
        state = match state {
            CsvState::FieldStart | CsvState::Unquoted if b == delimiter => {
                fields.push(String::from_utf8_lossy(&field).into_owned());
                field.clear();
                CsvState::FieldStart
            }
            CsvState::FieldStart if b == b'"' => CsvState::Quoted,
            CsvState::FieldStart | CsvState::Unquoted => {
                field.push(b);
                CsvState::Unquoted
            }
            CsvState::Quoted if b == b'"' => CsvState::QuoteInQuoted,
            CsvState::Quoted => {
                field.push(b);
                CsvState::Quoted
            }
            CsvState::QuoteInQuoted if b == b'"' => {
                field.push(b'"');
                CsvState::Quoted
            }
            CsvState::QuoteInQuoted if b == delimiter => {
                fields.push(String::from_utf8_lossy(&field).into_owned());
                field.clear();
                CsvState::FieldStart
            }
            CsvState::QuoteInQuoted => {
                field.push(b);
                CsvState::Unquoted
            }
        };
    }
    fields.push(String::from_utf8_lossy(&field).into_owned());
    (fields, state != CsvState::Quoted)
}

/// Decodes CSV records into the declared columns.
pub struct CsvDecoder {
    delimiter: u8,
    /// One field per CSV column (declared columns get their decode type).
    file_schema: SchemaRef,
    /// For each declared column, its index among the CSV columns.
    projection: Vec<usize>,
    /// The declared columns (all nullable).
    declared: Vec<Field>,
}

impl CsvDecoder {
    /// Declared columns in order, one per CSV column (no header).
    pub fn by_position(declared: &SchemaRef, delimiter: u8) -> Result<CsvDecoder, FormatError> {
        check_types(declared)?;
        let declared = nullable_fields(declared);
        let fields = declared.iter().map(|f| Field::new(f.name(), decode_type(f.data_type()), true)).collect::<Vec<_>>();
        let projection = (0..declared.len()).collect();
        Ok(CsvDecoder { delimiter, file_schema: Arc::new(Schema::new(fields)), projection, declared })
    }

    /// Declared columns found by name among `header` (exact, else the one case-insensitive
    /// match); the other CSV columns are ignored.
    pub fn with_header(declared: &SchemaRef, delimiter: u8, header: &[String]) -> Result<CsvDecoder, FormatError> {
        check_types(declared)?;
        let declared = nullable_fields(declared);
        let mut projection = Vec::with_capacity(declared.len());
        for field in &declared {
            let exact = header.iter().position(|n| n == field.name());
            let folded = || {
                let mut matches = header.iter().enumerate().filter(|(_, n)| n.trim().eq_ignore_ascii_case(field.name()));
                match (matches.next(), matches.next()) {
                    (Some((i, _)), None) => Some(i),
                    _ => None,
                }
            };
            match exact.or_else(folded) {
                Some(i) => projection.push(i),
                None => return Err(FormatError::MissingColumn { column: field.name().clone(), available: header.to_vec() }),
            }
        }
        let fields: Vec<Field> = header
            .iter()
            .enumerate()
            .map(|(i, name)| match projection.iter().position(|&p| p == i) {
                Some(d) => Field::new(declared[d].name(), decode_type(declared[d].data_type()), true),
                None => Field::new(name, DataType::Utf8, true),
            })
            .collect();
        Ok(CsvDecoder { delimiter, file_schema: Arc::new(Schema::new(fields)), projection, declared })
    }

    /// Decodes the declared columns `columns` (indices into the declared schema).
    fn decode_columns(&self, data: &[u8], records: usize, columns: &[usize]) -> Result<Vec<ArrayRef>, ArrowError> {
        let projection: Vec<usize> = columns.iter().map(|&c| self.projection[c]).collect();
        let mut decoder = ReaderBuilder::new(self.file_schema.clone())
            .with_header(false)
            .with_delimiter(self.delimiter)
            .with_batch_size(records.max(1))
            .with_projection(projection)
            .build_decoder();
        let mut offset = 0;
        while offset < data.len() {
            let read = decoder.decode(&data[offset..])?;
            if read == 0 {
                break;
            }
            offset += read;
        }
        if offset < data.len() {
            return Err(ArrowError::CsvError(format!("found more than the {records} records expected")));
        }
        let Some(batch) = decoder.flush()? else {
            return Err(ArrowError::CsvError("no complete record".into()));
        };
        if batch.num_rows() != records {
            return Err(ArrowError::CsvError(format!("found {} records, expected {records}", batch.num_rows())));
        }
        let options = CastOptions { safe: false, ..Default::default() };
        columns
            .iter()
            .zip(batch.columns())
            .map(|(&c, array)| {
                let target = self.declared[c].data_type();
                let mut array = array.clone();
                if is_string(target) && array.null_count() > 0 {
                    // An empty field of a string column is the empty string, not NULL.
                    if let Some(strings) = array.as_string_opt::<i32>() {
                        array = Arc::new(strings.iter().map(|v| Some(v.unwrap_or(""))).collect::<StringArray>());
                    }
                }
                if array.data_type() != target {
                    array = cast_with_options(&array, target, &options)?;
                }
                Ok(array)
            })
            .collect()
    }
}

/// Rejects declared column types that cannot be read from CSV text.
fn check_types(schema: &SchemaRef) -> Result<(), FormatError> {
    for field in schema.fields() {
        let dt = field.data_type();
        if !native(dt) && !arrow::compute::can_cast_types(&DataType::Utf8, dt) {
            return Err(FormatError::UnsupportedType { column: field.name().clone(), ty: type_name(dt), format: "CSV", detail: String::new() });
        }
    }
    Ok(())
}

fn nullable_fields(schema: &SchemaRef) -> Vec<Field> {
    schema.fields().iter().map(|f| Field::new(f.name(), f.data_type().clone(), true)).collect()
}

impl RecordDecoder for CsvDecoder {
    fn decode(&self, data: &[u8], records: &[Range<usize>]) -> Result<Vec<ArrayRef>, ArrowError> {
        let records = records.len();
        let all: Vec<usize> = (0..self.declared.len()).collect();
        self.decode_columns(data, records, &all)
    }

    fn diagnose(&self, record: &[u8], error: ArrowError) -> String {
        let Ok(text) = std::str::from_utf8(record) else {
            return "record is not valid UTF-8".into();
        };
        let (fields, closed) = split_fields(trim_newline(text.as_bytes()), self.delimiter);
        if !closed {
            return "quoted field is not closed (missing '\"')".into();
        }
        let expected = self.file_schema.fields().len();
        if fields.len() != expected {
            return format!("record has {} fields, expected {expected}", fields.len());
        }
        for (c, field) in self.declared.iter().enumerate() {
            if self.decode_columns(record, 1, &[c]).is_err() {
                let value = &fields[self.projection[c]];
                return format!("column '{}': cannot parse '{value}' as {}", field.name(), type_name(field.data_type()));
            }
        }
        error.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_fields() {
        let (f, ok) = split_fields(b"a,\"b,c\",\"\"\"", b',');
        assert!(!ok);
        assert_eq!(f, vec!["a", "b,c", "\""]);
        let (f, ok) = split_fields(br#"a,"b,c","say ""hi""",,"#, b',');
        assert!(ok);
        assert_eq!(f, vec!["a", "b,c", "say \"hi\"", "", ""]);
        let (f, ok) = split_fields(b"x;\"multi\nline\";z", b';');
        assert!(ok);
        assert_eq!(f, vec!["x", "multi\nline", "z"]);
        let (f, _) = split_fields(b"ab\"c,d", b',');
        assert_eq!(f, vec!["ab\"c", "d"]);
    }
}
