//! The `stdout` sink: a relation printed to the terminal, for trying pipelines out.
//!
//! Why changelog is its default (unlike `file`): on a terminal, seeing each change as it happens
//! (`_diff` +1 / -1) is the point; `mode = 'snapshot'` instead reprints the whole relation after
//! each commit, under a `-- <sink> @ <frontier>` line. Output goes through one locked, buffered
//! handle per commit so lines of concurrent sinks do not interleave mid-commit.

use std::io::{BufWriter, Write};

use illunare_connector::{ConnectorError, Diff, Row, Sink, SinkConnector, SinkSpec, Time};

use crate::encode::{Encoder, Format, Mode};
use crate::{Multiset, SinkWriteError, write_changes, write_snapshot};

/// `connector = 'stdout'`: prints the relation as JSON lines or CSV.
pub struct StdoutSinkConnector;

impl SinkConnector for StdoutSinkConnector {
    fn name(&self) -> &'static str {
        "stdout"
    }

    fn create(&self, spec: &SinkSpec) -> Result<Box<dyn Sink>, ConnectorError> {
        let options = &spec.options;
        let format = Format::from_options(options, Format::Jsonl)?;
        let mode = Mode::from_options(options, Mode::Changelog)?;
        options.finish("stdout")?;
        Ok(Box::new(StdoutSink::new(spec, format, mode)))
    }
}

struct StdoutSink {
    name: String,
    encoder: Encoder,
    mode: Mode,
    contents: Multiset,
    /// Whether anything was printed yet (changelog: the CSV header; snapshot: a first table).
    started: bool,
}

impl StdoutSink {
    fn new(spec: &SinkSpec, format: Format, mode: Mode) -> Self {
        StdoutSink { name: spec.name.clone(), encoder: Encoder::new(spec.schema.clone(), format), mode, contents: Multiset::default(), started: false }
    }

    /// Writes what this commit shows to `out`.
    fn write_commit(&mut self, out: &mut dyn Write, updates: &[(Row, Time, Diff)], frontier: Option<Time>) -> Result<(), ConnectorError> {
        let context = format!("sink '{}': writing to stdout", self.name);
        let result: Result<(), SinkWriteError> = (|| {
            match self.mode {
                Mode::Changelog => {
                    if !self.started {
                        if let Some(header) = self.encoder.header(true) {
                            out.write_all(header.as_bytes())?;
                        }
                        self.started = true;
                    }
                    write_changes(out, &self.encoder, updates)?;
                }
                Mode::Snapshot => {
                    self.contents.apply(&self.name, updates)?;
                    // Reprint when something changed, the first time, and at the end.
                    if updates.is_empty() && self.started && frontier.is_some() {
                        return Ok(());
                    }
                    let at = frontier.map(|t| t.to_string()).unwrap_or_else(|| "end".into());
                    writeln!(out, "-- {} @ {at}", self.name)?;
                    write_snapshot(out, &self.encoder, &self.contents)?;
                    self.started = true;
                }
            }
            out.flush()?;
            Ok(())
        })();
        result.map_err(|e| e.context(context))
    }
}

impl Sink for StdoutSink {
    fn commit(&mut self, updates: &[(Row, Time, Diff)], frontier: Option<Time>) -> Result<(), ConnectorError> {
        let stdout = std::io::stdout();
        let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
        self.write_commit(&mut out, updates, frontier)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field, Schema};
    use illunare_connector::Options;
    use illunare_types::row;

    use super::*;

    fn spec() -> SinkSpec {
        SinkSpec {
            name: "totals".into(),
            from: "rel".into(),
            schema: Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true), Field::new("n", DataType::Int64, true)])),
            options: Options::default(),
        }
    }

    type Commit<'a> = (&'a [(Row, Time, Diff)], Option<Time>);

    fn run(format: Format, mode: Mode, commits: &[Commit<'_>]) -> String {
        let mut sink = StdoutSink::new(&spec(), format, mode);
        let mut out = Vec::new();
        for (updates, frontier) in commits {
            sink.write_commit(&mut out, updates, *frontier).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn changelog_lines() {
        let c1 = [(row!["a", 1i64], 1, 1)];
        let c2 = [(row!["a", 1i64], 2, -1)];
        assert_eq!(run(Format::Csv, Mode::Changelog, &[(&c1, Some(2)), (&c2, None)]), "k,n,_diff\na,1,1\na,1,-1\n");
        assert_eq!(run(Format::Jsonl, Mode::Changelog, &[(&c1, Some(2))]), "{\"k\":\"a\",\"n\":1,\"_diff\":1}\n");
    }

    #[test]
    fn snapshots_are_reprinted() {
        let c1 = [(row!["b", 2i64], 1, 1), (row!["a", 1i64], 1, 2)];
        let c2 = [(row!["a", 1i64], 5, -2)];
        let out = run(Format::Csv, Mode::Snapshot, &[(&c1, Some(2)), (&[], Some(3)), (&c2, Some(6)), (&[], None)]);
        assert_eq!(out, "-- totals @ 2\nk,n\na,1\na,1\nb,2\n-- totals @ 6\nk,n\nb,2\n-- totals @ end\nk,n\nb,2\n");
    }

    #[test]
    fn options() {
        let mut s = spec();
        s.options = Options::new([("format".to_string(), "csv".to_string()), ("mode".to_string(), "snapshot".to_string())]);
        assert!(StdoutSinkConnector.create(&s).is_ok());
        s.options = Options::new([("path".to_string(), "x".to_string())]);
        assert!(StdoutSinkConnector.create(&s).err().unwrap().to_string().contains("path"));
    }
}
