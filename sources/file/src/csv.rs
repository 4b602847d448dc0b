//! CSV framing for the `file` source.
//!
//! Why framing of our own next to arrow-csv: a quoted field may hold newlines, so a record can
//! span several physical lines, and we must know where each record starts (its line number for
//! `path:line` and resume positions) and which bytes it is (the `raw` of an error record) before
//! the decoder ever sees it. [`illunare_format::CsvState`] follows the quoting rules; the
//! header row names the columns [`illunare_format::CsvDecoder`] looks the declared ones up in.

use std::io;

use illunare_connector::ConnectorError;
use illunare_format::{CsvDecoder, CsvState, FormatError, RecordDecoder, is_blank, split_fields, trim_newline};

use crate::{Config, Framed, Framing, Lines};

/// Frames the records of one CSV file.
pub(crate) struct CsvFraming {
    delimiter: u8,
}

/// Reads the header (when there is one) and builds the decoder that maps the declared columns
/// onto the file's.
pub(crate) fn open(config: &Config, path: &str, lines: &mut Lines) -> Result<(CsvFraming, Box<dyn RecordDecoder>), ConnectorError> {
    let mut framing = CsvFraming { delimiter: config.delimiter };
    let schema_error = |e: FormatError| match e {
        FormatError::MissingColumn { .. } => ConnectorError::Schema(format!("source '{}': file '{path}' has {e}", config.name)),
        other => crate::schema_error(other),
    };
    if !config.header {
        let decoder = CsvDecoder::by_position(&config.schema, config.delimiter).map_err(schema_error)?;
        return Ok((framing, Box::new(decoder)));
    }
    let mut header = Framed::default();
    let found = framing
        .read_record(lines, &mut header)
        .map_err(|e| ConnectorError::io(format!("source '{}': reading the header of '{path}'", config.name), e))?;
    let decoder = if found {
        let (names, _) = split_fields(trim_newline(&header.buf.data), config.delimiter);
        CsvDecoder::with_header(&config.schema, config.delimiter, &names).map_err(schema_error)?
    } else {
        // An empty file: no header, no rows. Nothing will be decoded.
        CsvDecoder::by_position(&config.schema, config.delimiter).map_err(schema_error)?
    };
    Ok((framing, Box::new(decoder)))
}

impl Framing for CsvFraming {
    fn read_record(&mut self, lines: &mut Lines, framed: &mut Framed) -> io::Result<bool> {
        loop {
            let start = framed.buf.data.len();
            let line = lines.next_line();
            if !lines.read_line(&mut framed.buf.data)? {
                return Ok(false);
            }
            if is_blank(&framed.buf.data[start..]) {
                framed.buf.data.truncate(start);
                continue;
            }
            // Most lines hold no quote at all: then the line is the whole record, and the
            // byte-by-byte quoting state machine below is not needed (memchr scans in SIMD).
            if memchr::memchr(b'"', &framed.buf.data[start..]).is_none() {
                framed.close_record(start, line);
                return Ok(true);
            }
            let mut state = CsvState::FieldStart;
            let mut scanned = start;
            loop {
                for &b in &framed.buf.data[scanned..] {
                    state = state.step(b, self.delimiter);
                }
                scanned = framed.buf.data.len();
                // A quoted field still open at the end of the line continues on the next one.
                if state != CsvState::Quoted || !lines.read_line(&mut framed.buf.data)? {
                    break;
                }
            }
            framed.close_record(start, line);
            return Ok(true);
        }
    }
}
