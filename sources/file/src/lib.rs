//! The `file` source connector: bounded CSV / JSON-lines files, one split per file.
//!
//! ```sql
//! CREATE SOURCE merchants (merchant VARCHAR, risk VARCHAR)
//!   WITH (connector = 'file', path = 'data/merchants.csv', format = 'csv');
//! ```
//!
//! Why it is built this way:
//! - **Columns by name.** The declared columns are looked up by name in the CSV header or the
//!   JSON keys, so a file may carry extra columns or another column order.
//! - **Bad input loses nothing.** Records are framed into a buffer (one record = one line, or
//!   several physical lines for a quoted CSV field holding newlines) and decoded by
//!   [`illunare_format`] — one batch at once, or record by record when that fails: the good ones
//!   still go through, each bad one becomes an [`ErrorRecord`] carrying the raw text and
//!   `path:line`, so it lands in the `<source>_errors` relation instead of vanishing.
//! - **Resumable.** The position of a chunk is the number of the next physical line to read,
//!   so `open(split, Some(pos))` skips straight to it (after re-reading the CSV header).
//!
//! How each format frames its records lives in [`csv`] and [`jsonl`] (decoding is
//! [`illunare_format`]'s, shared with Kafka); this module holds options, file listing and line
//! reading.

mod csv;
mod jsonl;

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use illunare_connector::{
    ConnectorError, ErrorRecord, Options, Position, Source, SourceChunk, SourceConnector, SourceSpec, Split, SplitReader,
};
use illunare_format::{JsonDecoder, RecordBuf, RecordDecoder, decode_records};

/// `connector = 'file'`: reads local CSV or JSON-lines files (a path or a glob).
pub struct FileSourceConnector;

const DEFAULT_BATCH_SIZE: usize = 8192;

/// The file formats this connector decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Csv,
    Jsonl,
}

impl Format {
    fn parse(text: &str) -> Result<Format, ConnectorError> {
        match text.trim().to_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "jsonl" | "json" | "ndjson" => Ok(Format::Jsonl),
            other => Err(ConnectorError::option("format", format!("'{other}' is not a file format (csv, jsonl)"))),
        }
    }

    fn from_extension(path: &str) -> Option<Format> {
        let ext = Path::new(path).extension()?.to_str()?.to_lowercase();
        match ext.as_str() {
            "csv" | "tsv" => Some(Format::Csv),
            "jsonl" | "json" | "ndjson" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

/// Everything `create` validated, shared by `splits` and `open`.
#[derive(Clone, Debug)]
struct Config {
    name: String,
    schema: SchemaRef,
    path: String,
    format: Format,
    header: bool,
    delimiter: u8,
    batch_size: usize,
}

impl SourceConnector for FileSourceConnector {
    fn name(&self) -> &'static str {
        "file"
    }

    fn create(&self, spec: &SourceSpec) -> Result<Arc<dyn Source>, ConnectorError> {
        let options: &Options = &spec.options;
        let path = options.require("path")?;
        if path.trim().is_empty() {
            return Err(ConnectorError::option("path", "must not be empty"));
        }
        let format = match options.get("format")? {
            Some(f) => Format::parse(&f)?,
            None => Format::from_extension(&path).ok_or_else(|| {
                ConnectorError::option("format", format!("is required: cannot tell the format of '{path}' from its extension (csv, jsonl)"))
            })?,
        };
        let header_given = options.get("header")?.is_some();
        let header = options.bool("header", true)?;
        let delimiter_given = options.get("delimiter")?;
        let batch_size = options.parse::<usize>("batch_size")?.unwrap_or(DEFAULT_BATCH_SIZE);
        if batch_size == 0 {
            return Err(ConnectorError::option("batch_size", "must be at least 1"));
        }
        options.finish("file")?;

        let default_delimiter = if path.to_lowercase().ends_with(".tsv") { b'\t' } else { b',' };
        let delimiter = match &delimiter_given {
            Some(d) => illunare_format::parse_delimiter(d).map_err(|e| ConnectorError::option("delimiter", e))?,
            None => default_delimiter,
        };
        if format == Format::Jsonl {
            if header_given {
                return Err(ConnectorError::option("header", "only applies to format = 'csv'"));
            }
            if delimiter_given.is_some() {
                return Err(ConnectorError::option("delimiter", "only applies to format = 'csv'"));
            }
        }

        let config = Config { name: spec.name.clone(), schema: spec.schema.clone(), path, format, header, delimiter, batch_size };
        match format {
            Format::Csv => {
                illunare_format::CsvDecoder::by_position(&config.schema, config.delimiter).map_err(schema_error)?;
            }
            Format::Jsonl => {
                illunare_format::JsonDecoder::new(&config.schema).map_err(schema_error)?;
            }
        }
        // Stat only: fails early (at `check`) when nothing matches.
        list_files(&config.path)?;
        Ok(Arc::new(FileSource { config }))
    }
}

/// The files `pattern` names, sorted by path: the file itself, or the matches of a glob.
fn list_files(pattern: &str) -> Result<Vec<PathBuf>, ConnectorError> {
    let is_glob = pattern.contains(['*', '?', '[']);
    let mut files = Vec::new();
    if is_glob {
        let entries = glob::glob(pattern).map_err(|e| ConnectorError::option("path", format!("'{pattern}' is not a valid glob: {e}")))?;
        for entry in entries {
            let path = entry.map_err(|e| {
                let context = format!("listing '{}'", e.path().display());
                ConnectorError::io(context, e.into())
            })?;
            if path.is_file() {
                files.push(path);
            }
        }
    } else {
        let path = PathBuf::from(pattern);
        if path.is_dir() {
            return Err(ConnectorError::option(
                "path",
                format!("'{pattern}' is a directory; name a file or a glob such as '{}/*.csv'", pattern.trim_end_matches('/')),
            ));
        }
        if path.is_file() {
            files.push(path);
        }
    }
    if files.is_empty() {
        let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_else(|_| "?".into());
        return Err(ConnectorError::option("path", format!("'{pattern}' matches no file (relative to {cwd})")));
    }
    files.sort();
    files.dedup();
    Ok(files)
}

struct FileSource {
    config: Config,
}

impl Source for FileSource {
    fn schema(&self) -> SchemaRef {
        self.config.schema.clone()
    }

    fn bounded(&self) -> bool {
        true
    }

    fn splits(&self) -> Result<Vec<Split>, ConnectorError> {
        Ok(list_files(&self.config.path)?.into_iter().map(|p| Split { id: p.to_string_lossy().into_owned() }).collect())
    }

    fn open(&self, split: &Split, resume: Option<&Position>) -> Result<Box<dyn SplitReader>, ConnectorError> {
        let resume_line = match resume {
            None => None,
            Some(p) => Some(p.0.trim().parse::<u64>().map_err(|_| {
                ConnectorError::Other(format!("source '{}': position '{}' of split '{}' is not a line number", self.config.name, p.0, split.id))
            })?),
        };
        let path = split.id.clone();
        let file = File::open(&path).map_err(|e| ConnectorError::io(format!("source '{}': opening '{path}'", self.config.name), e))?;
        let mut lines = Lines::new(file);
        let io_err = |e| ConnectorError::io(format!("source '{}': reading '{path}'", self.config.name), e);
        let (framing, decoder): (Box<dyn Framing>, Box<dyn RecordDecoder>) = match self.config.format {
            Format::Csv => {
                let (framing, decoder) = csv::open(&self.config, &path, &mut lines)?;
                (Box::new(framing), decoder)
            }
            Format::Jsonl => (Box::new(jsonl::JsonlFraming), Box::new(JsonDecoder::new(&self.config.schema).map_err(schema_error)?)),
        };
        if let Some(line) = resume_line {
            lines.skip_to(line).map_err(io_err)?;
        }
        Ok(Box::new(FileReader {
            name: self.config.name.clone(),
            path,
            schema: self.config.schema.clone(),
            batch_size: self.config.batch_size,
            lines,
            framing,
            decoder,
            framed: Framed::default(),
        }))
    }
}

/// A format's complaint about the declared columns, as a connector error.
pub(crate) fn schema_error(e: illunare_format::FormatError) -> ConnectorError {
    ConnectorError::Schema(e.to_string())
}

/// Reads physical lines, counting them (1-based) so positions and error records can name them.
pub(crate) struct Lines {
    reader: BufReader<File>,
    /// The number of the next line to read.
    next_line: u64,
}

impl Lines {
    fn new(file: File) -> Self {
        Lines { reader: BufReader::with_capacity(1 << 16, file), next_line: 1 }
    }

    pub(crate) fn next_line(&self) -> u64 {
        self.next_line
    }

    /// Appends the next line to `out`, always ending it with `\n` (also the last line of a
    /// file without a final newline). Returns `false` at end of file.
    pub(crate) fn read_line(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        let start = out.len();
        let n = self.reader.read_until(b'\n', out)?;
        if n == 0 {
            return Ok(false);
        }
        if self.next_line == 1 && out[start..].starts_with(b"\xEF\xBB\xBF") {
            out.drain(start..start + 3); // UTF-8 byte order mark
        }
        if out.last() != Some(&b'\n') {
            out.push(b'\n');
        }
        self.next_line += 1;
        Ok(true)
    }

    /// Skips lines until `line` is the next one to read.
    fn skip_to(&mut self, line: u64) -> io::Result<()> {
        let mut scratch = Vec::new();
        while self.next_line < line {
            scratch.clear();
            if !self.read_line(&mut scratch)? {
                break;
            }
        }
        Ok(())
    }
}

/// The records of one batch and the line each starts on.
#[derive(Default)]
pub(crate) struct Framed {
    pub buf: RecordBuf,
    pub lines: Vec<u64>,
}

impl Framed {
    fn clear(&mut self) {
        self.buf.clear();
        self.lines.clear();
    }

    /// Marks `buf.data[start..]`, which began on `line`, as one record.
    pub(crate) fn close_record(&mut self, start: usize, line: u64) {
        self.buf.close_record(start);
        self.lines.push(line);
    }
}

/// What distinguishes the formats when reading a file: how records are framed.
pub(crate) trait Framing: Send {
    /// Appends the next record (skipping blank lines) to `framed`; `false` at end of file.
    fn read_record(&mut self, lines: &mut Lines, framed: &mut Framed) -> io::Result<bool>;
}

struct FileReader {
    name: String,
    path: String,
    schema: SchemaRef,
    batch_size: usize,
    lines: Lines,
    framing: Box<dyn Framing>,
    decoder: Box<dyn RecordDecoder>,
    framed: Framed,
}

impl FileReader {
    fn position(&self, line: u64) -> String {
        format!("{}:{line}", self.path)
    }

    /// Decodes the buffered records, setting the bad ones aside as error records.
    fn decode_buffered(&self) -> Result<(RecordBatch, Vec<ErrorRecord>), ConnectorError> {
        let decoded = decode_records(self.decoder.as_ref(), &self.schema, &self.framed.buf)?;
        let batch = decoded.batch;
        let errors = decoded
            .errors
            .into_iter()
            .map(|(i, message)| ErrorRecord::new(message, Some(self.framed.buf.raw(i)), Some(self.position(self.framed.lines[i]))))
            .collect();
        Ok((batch, errors))
    }
}

#[async_trait::async_trait]
impl SplitReader for FileReader {
    async fn next(&mut self) -> Result<Option<SourceChunk>, ConnectorError> {
        self.framed.clear();
        while self.framed.buf.len() < self.batch_size {
            let more = self
                .framing
                .read_record(&mut self.lines, &mut self.framed)
                .map_err(|e| ConnectorError::io(format!("source '{}': reading '{}'", self.name, self.path), e))?;
            if !more {
                break;
            }
        }
        if self.framed.buf.is_empty() {
            return Ok(None);
        }
        let (batch, errors) = self.decode_buffered()?;
        Ok(Some(SourceChunk::new(batch, errors, Position(self.lines.next_line().to_string()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Field, Float64Type, Schema, TimeUnit, TimestampMillisecondType};
    use illunare_types::{Datum, Row, batch_to_rows};
    use std::io::Write;

    fn spec(fields: Vec<Field>, options: &[(&str, &str)]) -> SourceSpec {
        SourceSpec {
            name: "s".into(),
            schema: Arc::new(Schema::new(fields)),
            event_time: None,
            options: Options::new(options.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
        }
    }

    fn write(dir: &Path, name: &str, text: &str) -> String {
        let path = dir.join(name);
        std::fs::File::create(&path).unwrap().write_all(text.as_bytes()).unwrap();
        path.to_string_lossy().into_owned()
    }

    /// Reads a split to the end: rows, errors, last position.
    fn read_all(source: &Arc<dyn Source>, split: &Split, resume: Option<&Position>) -> (Vec<Row>, Vec<ErrorRecord>, Option<Position>) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut reader = source.open(split, resume).unwrap();
        let (mut rows, mut errors, mut position) = (Vec::new(), Vec::new(), None);
        while let Some(chunk) = rt.block_on(reader.next()).unwrap() {
            illunare_connector::check_batch_schema(&source.schema(), &chunk.batch).unwrap();
            rows.extend(batch_to_rows(&chunk.batch).unwrap());
            errors.extend(chunk.errors);
            position = Some(chunk.position);
        }
        (rows, errors, position)
    }

    fn only_split(source: &Arc<dyn Source>) -> Split {
        let splits = source.splits().unwrap();
        assert_eq!(splits.len(), 1);
        splits[0].clone()
    }

    fn ts_ms() -> DataType {
        DataType::Timestamp(TimeUnit::Millisecond, None)
    }

    const JAN1_MS: i64 = 1_704_067_200_000;

    #[test]
    fn csv_types_nulls_and_timestamps() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "t.csv",
            "id,name,amount,ok,at\n1,alice,2.5,true,2024-01-01T00:00:00Z\n2,,,false,2024-01-01 00:00:01\n3,\"b, \"\"q\"\"\",-1,,\n",
        );
        let fields = vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("amount", DataType::Float64, true),
            Field::new("ok", DataType::Boolean, true),
            Field::new("at", ts_ms(), true),
        ];
        let source = FileSourceConnector.create(&spec(fields, &[("path", &path)])).unwrap();
        assert!(source.bounded());
        let (rows, errors, position) = read_all(&source, &only_split(&source), None);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(position, Some(Position("5".into())));
        assert_eq!(
            rows,
            vec![
                Row(vec![Datum::Int(1), Datum::str("alice"), Datum::float(2.5), Datum::Bool(true), Datum::Timestamp(JAN1_MS)]),
                Row(vec![Datum::Int(2), Datum::str(""), Datum::Null, Datum::Bool(false), Datum::Timestamp(JAN1_MS + 1000)]),
                Row(vec![Datum::Int(3), Datum::str("b, \"q\""), Datum::float(-1.0), Datum::Null, Datum::Null]),
            ]
        );
    }

    #[test]
    fn csv_columns_by_name_and_extra_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "m.csv", "extra,Risk,merchant\nx,high,m1\ny,low,m2\n");
        let fields = vec![Field::new("merchant", DataType::Utf8, true), Field::new("risk", DataType::Utf8, true)];
        let source = FileSourceConnector.create(&spec(fields, &[("path", &path), ("format", "csv")])).unwrap();
        let (rows, errors, _) = read_all(&source, &only_split(&source), None);
        assert!(errors.is_empty());
        assert_eq!(rows, vec![illunare_types::row!["m1", "high"], illunare_types::row!["m2", "low"]]);

        // A declared column missing from the header fails at open.
        let fields = vec![Field::new("merchant", DataType::Utf8, true), Field::new("score", DataType::Int64, true)];
        let source = FileSourceConnector.create(&spec(fields, &[("path", &path)])).unwrap();
        let err = source.open(&only_split(&source), None).err().unwrap().to_string();
        assert!(err.contains("no column 'score'") && err.contains("extra, Risk, merchant"), "{err}");
    }

    #[test]
    fn csv_without_header_and_custom_delimiter() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "n.txt", "1;a\r\n2;\"b\nc\"");
        let fields = vec![Field::new("n", DataType::Int32, true), Field::new("s", DataType::Utf8, true)];
        let opts = [("path", path.as_str()), ("format", "csv"), ("header", "false"), ("delimiter", ";")];
        let source = FileSourceConnector.create(&spec(fields, &opts)).unwrap();
        let (rows, errors, position) = read_all(&source, &only_split(&source), None);
        assert!(errors.is_empty());
        assert_eq!(rows, vec![illunare_types::row![1i64, "a"], illunare_types::row![2i64, "b\nc"]]);
        assert_eq!(position, Some(Position("4".into())));
    }

    #[test]
    fn csv_bad_lines_become_error_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "bad.csv", "id,amount\n1,1.5\n2,abc\n3\n\n4,\"multi\nline\"\n5,5\n6,\"open\n");
        let fields = vec![Field::new("id", DataType::Int64, true), Field::new("amount", DataType::Float64, true)];
        let source = FileSourceConnector.create(&spec(fields, &[("path", &path)])).unwrap();
        let (rows, errors, _) = read_all(&source, &only_split(&source), None);
        assert_eq!(rows, vec![Row(vec![Datum::Int(1), Datum::float(1.5)]), Row(vec![Datum::Int(5), Datum::float(5.0)])]);
        let got: Vec<(&str, Option<&str>, String)> =
            errors.iter().map(|e| (e.error.as_str(), e.raw.as_deref(), e.position.clone().unwrap())).collect();
        assert_eq!(got[0], ("column 'amount': cannot parse 'abc' as DOUBLE", Some("2,abc"), format!("{path}:3")));
        assert_eq!(got[1], ("record has 1 fields, expected 2", Some("3"), format!("{path}:4")));
        assert_eq!(got[2], ("column 'amount': cannot parse 'multi\nline' as DOUBLE", Some("4,\"multi\nline\""), format!("{path}:6")));
        assert_eq!(got[3].0, "quoted field is not closed (missing '\"')");
        assert_eq!(got[3].2, format!("{path}:9"));
        assert_eq!(errors.len(), 4);
    }

    #[test]
    fn csv_not_null_violation_is_an_error_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "nn.csv", "id,v\n1,2\n,3\n");
        let fields = vec![Field::new("id", DataType::Int64, false), Field::new("v", DataType::Int64, true)];
        let source = FileSourceConnector.create(&spec(fields, &[("path", &path)])).unwrap();
        let (rows, errors, _) = read_all(&source, &only_split(&source), None);
        assert_eq!(rows, vec![illunare_types::row![1i64, 2i64]]);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].error.contains("'id' is NOT NULL"), "{:?}", errors[0]);
        assert_eq!(errors[0].position.as_deref(), Some(format!("{path}:3").as_str()));
    }

    #[test]
    fn jsonl_types_missing_keys_and_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let text = concat!(
            "{\"id\": 1, \"name\": \"a\", \"amount\": 2.5, \"at\": \"2024-01-01T00:00:00Z\", \"other\": [1]}\n",
            "{\"name\": \"b\", \"id\": 2}\n",
            "{\"id\": 3, \"amount\": \"abc\"}\n",
            "not json\n",
            "\n",
            "[1, 2]\n",
            "{\"id\": 4, \"amount\": 1e3, \"at\": \"2024-01-01 00:00:01\"}\n",
        );
        let path = write(dir.path(), "e.jsonl", text);
        let fields = vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("amount", DataType::Float64, true),
            Field::new("at", DataType::Timestamp(TimeUnit::Second, None), true),
        ];
        let source = FileSourceConnector.create(&spec(fields, &[("path", &path)])).unwrap();
        let (rows, errors, position) = read_all(&source, &only_split(&source), None);
        assert_eq!(position, Some(Position("8".into())));
        assert_eq!(
            rows,
            vec![
                Row(vec![Datum::Int(1), Datum::str("a"), Datum::float(2.5), Datum::Timestamp(JAN1_MS / 1000)]),
                Row(vec![Datum::Int(2), Datum::str("b"), Datum::Null, Datum::Null]),
                Row(vec![Datum::Int(4), Datum::Null, Datum::float(1000.0), Datum::Timestamp(JAN1_MS / 1000 + 1)]),
            ]
        );
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].error.contains("'amount'") && errors[0].error.contains("abc"), "{:?}", errors[0]);
        assert_eq!(errors[0].raw.as_deref(), Some("{\"id\": 3, \"amount\": \"abc\"}"));
        assert_eq!(errors[0].position, Some(format!("{path}:3")));
        assert!(errors[1].error.starts_with("invalid JSON"), "{:?}", errors[1]);
        assert_eq!(errors[1].position, Some(format!("{path}:4")));
        assert!(errors[2].error.starts_with("expected a JSON object"), "{:?}", errors[2]);
        assert_eq!(errors[2].position, Some(format!("{path}:6")));
    }

    #[test]
    fn resume_from_a_position() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("n,sq\n");
        for i in 0..10 {
            text.push_str(&format!("{i},{}\n", i * i));
        }
        let path = write(dir.path(), "r.csv", &text);
        let fields = vec![Field::new("n", DataType::Int64, true)];
        let source = FileSourceConnector.create(&spec(fields, &[("path", &path), ("batch_size", "3")])).unwrap();
        let split = only_split(&source);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut reader = source.open(&split, None).unwrap();
        let first = rt.block_on(reader.next()).unwrap().unwrap();
        assert_eq!(first.batch.num_rows(), 3);
        assert_eq!(first.position, Position("5".into()));
        let (rows, _, end) = read_all(&source, &split, Some(&first.position));
        let ns: Vec<i64> = rows.iter().map(|r| if let Datum::Int(n) = r[0] { n } else { -1 }).collect();
        assert_eq!(ns, vec![3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(end, Some(Position("12".into())));
        // Resuming at the end yields nothing.
        let (rows, _, _) = read_all(&source, &split, end.as_ref());
        assert!(rows.is_empty());
        // JSONL too.
        let path = write(dir.path(), "r.jsonl", "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
        let source = FileSourceConnector.create(&spec(vec![Field::new("n", DataType::Int64, true)], &[("path", &path)])).unwrap();
        let (rows, _, _) = read_all(&source, &only_split(&source), Some(&Position("3".into())));
        assert_eq!(rows, vec![illunare_types::row![3i64]]);
    }

    #[test]
    fn glob_gives_one_split_per_file_sorted() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "b.csv", "x\n2\n");
        write(dir.path(), "a.csv", "x\n1\n");
        write(dir.path(), "c.txt", "x\n3\n");
        let pattern = format!("{}/*.csv", dir.path().display());
        let source = FileSourceConnector.create(&spec(vec![Field::new("x", DataType::Int64, true)], &[("path", &pattern)])).unwrap();
        let splits = source.splits().unwrap();
        let names: Vec<&str> = splits.iter().map(|s| s.id.rsplit('/').next().unwrap()).collect();
        assert_eq!(names, vec!["a.csv", "b.csv"]);
        let all: Vec<Row> = splits.iter().flat_map(|s| read_all(&source, s, None).0).collect();
        assert_eq!(all, vec![illunare_types::row![1i64], illunare_types::row![2i64]]);
    }

    #[test]
    fn option_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "a.csv", "x\n1\n");
        let fields = || vec![Field::new("x", DataType::Int64, true)];
        let err = |opts: &[(&str, &str)]| FileSourceConnector.create(&spec(fields(), opts)).err().unwrap().to_string();
        assert!(err(&[]).contains("'path' is required"));
        assert!(err(&[("path", &format!("{}/*.nope", dir.path().display())), ("format", "csv")]).contains("matches no file"));
        assert!(err(&[("path", &path), ("rowz", "1")]).contains("rowz"));
        assert!(err(&[("path", &path), ("format", "xml")]).contains("xml"));
        assert!(err(&[("path", &path), ("batch_size", "0")]).contains("batch_size"));
        assert!(err(&[("path", &path), ("delimiter", "ab")]).contains("delimiter"));
        assert!(err(&[("path", &path), ("format", "jsonl"), ("header", "false")]).contains("only applies"));
        let noext = write(dir.path(), "data", "x\n1\n");
        assert!(err(&[("path", &noext)]).contains("format"));
        assert!(err(&[("path", &dir.path().display().to_string()), ("format", "csv")]).contains("directory"));
    }

    #[test]
    fn large_batches_take_the_fast_path() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("v,ts\n");
        for i in 0..20_000 {
            text.push_str(&format!("{}.5,2024-01-01T00:00:{:02}Z\n", i, i % 60));
        }
        text.push_str("oops,2024-01-01T00:00:00Z\n");
        let path = write(dir.path(), "big.csv", &text);
        let fields = vec![Field::new("v", DataType::Float64, true), Field::new("ts", ts_ms(), true)];
        let source = FileSourceConnector.create(&spec(fields, &[("path", &path)])).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut reader = source.open(&only_split(&source), None).unwrap();
        let mut total = 0;
        let mut errors = Vec::new();
        let mut sum = 0.0;
        while let Some(chunk) = rt.block_on(reader.next()).unwrap() {
            assert!(chunk.batch.num_rows() <= DEFAULT_BATCH_SIZE);
            total += chunk.batch.num_rows();
            sum += chunk.batch.column(0).as_primitive::<Float64Type>().values().iter().sum::<f64>();
            let _ = chunk.batch.column(1).as_primitive::<TimestampMillisecondType>();
            errors.extend(chunk.errors);
        }
        assert_eq!(total, 20_000);
        assert_eq!(sum, (0..20_000).map(|i| i as f64 + 0.5).sum::<f64>());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].position, Some(format!("{path}:20002")));
    }
}
