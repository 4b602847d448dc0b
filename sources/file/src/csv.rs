//! CSV framing and decoding for the `file` source.
//!
//! Why a small state machine of our own next to arrow-csv: a quoted field may hold newlines, so
//! a record can span several physical lines, and we must know where each record starts (its
//! line number for `path:line` and resume positions) and which bytes it is (the `raw` of an
//! error record) before arrow-csv ever sees it. The same machine splits a bad record into fields
//! to say precisely what is wrong with it. The values themselves are parsed by arrow-csv, using
//! a file schema built from the header so that declared columns are found by name.

use std::io;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow_csv::ReaderBuilder;
use illunare_connector::ConnectorError;

use crate::{Config, Lines, RecordBuf, RecordFormat, RecordRef, is_blank, trim_newline, type_name};

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

/// Rejects declared column types that cannot be read from CSV text.
pub(crate) fn check_schema(schema: &SchemaRef) -> Result<(), ConnectorError> {
    for field in schema.fields() {
        let dt = field.data_type();
        if !native(dt) && !arrow::compute::can_cast_types(&DataType::Utf8, dt) {
            return Err(ConnectorError::Schema(format!("column '{}': type {dt} cannot be read from CSV", field.name())));
        }
    }
    Ok(())
}

/// Where the scanner is inside a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: the field's end, or the first of an escaped `""`.
    QuoteInQuoted,
}

impl State {
    /// Follows RFC 4180 as csv-core (under arrow-csv) does: a quote opens a quoted field only
    /// at the field's start, `""` inside one is a literal quote.
    fn step(self, byte: u8, delimiter: u8) -> State {
        match (self, byte) {
            (State::Quoted, b'"') => State::QuoteInQuoted,
            (State::Quoted, _) => State::Quoted,
            (State::FieldStart, b'"') => State::Quoted,
            (State::QuoteInQuoted, b'"') => State::Quoted,
            (_, b'\n') => State::FieldStart,
            (_, b) if b == delimiter => State::FieldStart,
            _ => State::Unquoted,
        }
    }
}

/// The fields of one record (without its line terminator), unquoted and unescaped, and
/// whether every quoted field was closed.
pub(crate) fn split_fields(record: &[u8], delimiter: u8) -> (Vec<String>, bool) {
    let mut fields = Vec::new();
    let mut field = Vec::new();
    let mut state = State::FieldStart;
    for &b in record {
        state = match state {
            State::FieldStart | State::Unquoted if b == delimiter => {
                fields.push(String::from_utf8_lossy(&field).into_owned());
                field.clear();
                State::FieldStart
            }
            State::FieldStart if b == b'"' => State::Quoted,
            State::FieldStart | State::Unquoted => {
                field.push(b);
                State::Unquoted
            }
            State::Quoted if b == b'"' => State::QuoteInQuoted,
            State::Quoted => {
                field.push(b);
                State::Quoted
            }
            State::QuoteInQuoted if b == b'"' => {
                field.push(b'"');
                State::Quoted
            }
            State::QuoteInQuoted if b == delimiter => {
                fields.push(String::from_utf8_lossy(&field).into_owned());
                field.clear();
                State::FieldStart
            }
            State::QuoteInQuoted => {
                field.push(b);
                State::Unquoted
            }
        };
    }
    fields.push(String::from_utf8_lossy(&field).into_owned());
    (fields, state != State::Quoted)
}

/// Reads and decodes CSV records of one file.
pub(crate) struct CsvFormat {
    delimiter: u8,
    /// One field per column of the file (declared columns get their decode type).
    file_schema: SchemaRef,
    /// For each declared column, its index in the file.
    projection: Vec<usize>,
    /// The declared columns (all nullable).
    declared: Vec<Field>,
}

impl CsvFormat {
    /// Reads the header (when there is one) and maps the declared columns onto the file's.
    pub(crate) fn open(config: &Config, path: &str, lines: &mut Lines) -> Result<CsvFormat, ConnectorError> {
        let declared: Vec<Field> =
            config.schema.fields().iter().map(|f| Field::new(f.name(), f.data_type().clone(), true)).collect();
        let delimiter = config.delimiter;
        let (file_fields, projection) = if config.header {
            let mut buf = RecordBuf::default();
            let mut probe = CsvFormat { delimiter, file_schema: Arc::new(Schema::empty()), projection: vec![], declared: vec![] };
            let found = probe
                .read_record(lines, &mut buf)
                .map_err(|e| ConnectorError::io(format!("source '{}': reading the header of '{path}'", config.name), e))?;
            if !found {
                // An empty file: no header, no rows. Nothing will be decoded.
                return Ok(CsvFormat { delimiter, file_schema: Arc::new(Schema::empty()), projection: vec![], declared });
            }
            let (names, _) = split_fields(trim_newline(&buf.data), delimiter);
            let mut projection = Vec::with_capacity(declared.len());
            for field in &declared {
                let exact = names.iter().position(|n| n == field.name());
                let folded = || {
                    let mut matches = names.iter().enumerate().filter(|(_, n)| n.trim().eq_ignore_ascii_case(field.name()));
                    match (matches.next(), matches.next()) {
                        (Some((i, _)), None) => Some(i),
                        _ => None,
                    }
                };
                match exact.or_else(folded) {
                    Some(i) => projection.push(i),
                    None => {
                        return Err(ConnectorError::Schema(format!(
                            "source '{}': file '{path}' has no column '{}' (its header has: {})",
                            config.name,
                            field.name(),
                            names.join(", ")
                        )));
                    }
                }
            }
            let file_fields: Vec<Field> = names
                .iter()
                .enumerate()
                .map(|(i, name)| match projection.iter().position(|&p| p == i) {
                    Some(d) => Field::new(declared[d].name(), decode_type(declared[d].data_type()), true),
                    None => Field::new(name, DataType::Utf8, true),
                })
                .collect();
            (file_fields, projection)
        } else {
            let fields = declared.iter().map(|f| Field::new(f.name(), decode_type(f.data_type()), true)).collect();
            (fields, (0..declared.len()).collect())
        };
        Ok(CsvFormat { delimiter, file_schema: Arc::new(Schema::new(file_fields)), projection, declared })
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

impl RecordFormat for CsvFormat {
    fn read_record(&mut self, lines: &mut Lines, buf: &mut RecordBuf) -> io::Result<bool> {
        loop {
            let start = buf.data.len();
            let line = lines.next_line();
            if !lines.read_line(&mut buf.data)? {
                return Ok(false);
            }
            if is_blank(&buf.data[start..]) {
                buf.data.truncate(start);
                continue;
            }
            let mut state = State::FieldStart;
            let mut scanned = start;
            loop {
                for &b in &buf.data[scanned..] {
                    state = state.step(b, self.delimiter);
                }
                scanned = buf.data.len();
                // A quoted field still open at the end of the line continues on the next one.
                if state != State::Quoted || !lines.read_line(&mut buf.data)? {
                    break;
                }
            }
            buf.records.push(RecordRef { line, start, end: buf.data.len() });
            return Ok(true);
        }
    }

    fn decode(&self, data: &[u8], records: usize) -> Result<Vec<ArrayRef>, ArrowError> {
        let all: Vec<usize> = (0..self.declared.len()).collect();
        self.decode_columns(data, records, &all)
    }

    fn diagnose(&self, record: &[u8], error: ArrowError) -> String {
        let Ok(text) = std::str::from_utf8(record) else {
            return "line is not valid UTF-8".into();
        };
        let (fields, closed) = split_fields(trim_newline(text.as_bytes()), self.delimiter);
        if !closed {
            return "quoted field is not closed (missing '\"')".into();
        }
        let expected = self.file_schema.fields().len();
        if fields.len() != expected {
            return format!("line has {} fields, expected {expected}", fields.len());
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
