//! JSON-lines framing for the `file` source: one JSON object per line, blank lines skipped.
//! Decoding is [`illunare_format::JsonDecoder`]'s.

use std::io;

use illunare_format::is_blank;

use crate::{Framed, Framing, Lines};

/// Frames the lines of one JSON-lines file.
pub(crate) struct JsonlFraming;

impl Framing for JsonlFraming {
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
            framed.close_record(start, line);
            return Ok(true);
        }
    }
}
