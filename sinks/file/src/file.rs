//! The `file` sink: a relation written to a local JSON-lines or CSV file.
//!
//! Why snapshot mode rewrites the file through `path.tmp` + rename at every commit: whoever
//! reads the file (a person, a test, another tool) must always see exactly the relation's
//! contents as of some committed frontier, never a partially written one. Rename within one
//! directory is atomic on POSIX file systems. Changelog mode only appends, so it just flushes.
//!
//! With `partition_by`, `path` is a directory of Hive-style partitions instead; `create` hands
//! the work to [`crate::partitioned`], which shares [`replace_atomically`] with this file.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use illunare_connector::{ConnectorError, Diff, Row, Sink, SinkConnector, SinkSpec, Time};

use crate::encode::{Encoder, Format, Mode};
use crate::partition::Partitioning;
use crate::partitioned::PartitionedSink;
use crate::{Multiset, SinkWriteError, write_changes, write_snapshot};

/// `connector = 'file'`: writes the relation to `path` as JSON lines or CSV.
pub struct FileSinkConnector;

impl SinkConnector for FileSinkConnector {
    fn name(&self) -> &'static str {
        "file"
    }

    fn create(&self, spec: &SinkSpec) -> Result<Box<dyn Sink>, ConnectorError> {
        let options = &spec.options;
        let path = options.require("path")?;
        if let Some(partitioning) = Partitioning::from_options(options, &spec.schema)? {
            if path.trim().is_empty() {
                return Err(ConnectorError::option("path", "must name a directory (with partition_by)"));
            }
            let format = Format::from_options(options, Format::Jsonl)?;
            let mode = Mode::from_options(options, Mode::Snapshot)?;
            options.finish("file")?;
            return Ok(Box::new(PartitionedSink::new(&spec.name, PathBuf::from(path), partitioning, format, mode)));
        }
        if path.trim().is_empty() || path.ends_with('/') {
            return Err(ConnectorError::option("path", format!("'{path}' must name a file")));
        }
        let by_extension = match Path::new(&path).extension().and_then(|e| e.to_str()).map(str::to_lowercase).as_deref() {
            Some("csv") => Format::Csv,
            _ => Format::Jsonl,
        };
        let format = Format::from_options(options, by_extension)?;
        let mode = Mode::from_options(options, Mode::Snapshot)?;
        options.finish("file")?;
        Ok(Box::new(FileSink {
            name: spec.name.clone(),
            path: PathBuf::from(path),
            encoder: Encoder::new(spec.schema.clone(), format),
            mode,
            contents: Multiset::default(),
            written: false,
            changelog: None,
        }))
    }
}

/// Replaces `path` by what `write` produces, through `tmp` (in the same directory, so the
/// rename is atomic): a reader sees the old contents or the new ones, never a mix. The data is
/// synced before the rename. `context("writing")` names the sink and file in errors.
pub(crate) fn replace_atomically(
    path: &Path,
    tmp: &Path,
    context: &dyn Fn(&str) -> String,
    write: impl FnOnce(&mut dyn Write) -> Result<(), SinkWriteError>,
) -> Result<(), ConnectorError> {
    let result = (|| {
        let file = File::create(tmp).map_err(|e| ConnectorError::io(context("creating a temporary file for"), e))?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        write(&mut out).map_err(|e| e.context(context("writing")))?;
        let file = out.into_inner().map_err(|e| ConnectorError::io(context("writing"), e.into_error()))?;
        file.sync_all().map_err(|e| ConnectorError::io(context("syncing"), e))?;
        fs::rename(tmp, path).map_err(|e| ConnectorError::io(context("replacing"), e))
    })();
    if result.is_err() {
        // Best effort: the error being returned is the one that matters.
        let _ = fs::remove_file(tmp);
    }
    result
}

struct FileSink {
    name: String,
    path: PathBuf,
    encoder: Encoder,
    mode: Mode,
    /// Snapshot mode: the relation's current rows.
    contents: Multiset,
    /// Snapshot mode: whether the file has been written once.
    written: bool,
    /// Changelog mode: the open file (created, truncated, at the first commit).
    changelog: Option<BufWriter<File>>,
}

impl FileSink {
    fn context(&self, what: &str) -> String {
        format!("sink '{}': {what} '{}'", self.name, self.path.display())
    }

    fn create_parent(&self) -> Result<(), ConnectorError> {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => {
                fs::create_dir_all(dir).map_err(|e| ConnectorError::io(format!("sink '{}': creating directory '{}'", self.name, dir.display()), e))
            }
            _ => Ok(()),
        }
    }

    /// `path` with `.tmp` appended, in the same directory (so the rename is atomic).
    fn tmp_path(&self) -> PathBuf {
        let mut name = self.path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".tmp");
        self.path.with_file_name(name)
    }

    fn rewrite(&mut self) -> Result<(), ConnectorError> {
        self.create_parent()?;
        let context = |what: &str| self.context(what);
        replace_atomically(&self.path, &self.tmp_path(), &context, |out| write_snapshot(out, &self.encoder, &self.contents))
    }

    fn append(&mut self, updates: &[(Row, Time, Diff)]) -> Result<(), ConnectorError> {
        if self.changelog.is_none() {
            self.create_parent()?;
            let file = File::create(&self.path).map_err(|e| ConnectorError::io(self.context("creating"), e))?;
            let mut out = BufWriter::with_capacity(1 << 16, file);
            if let Some(header) = self.encoder.header(true) {
                out.write_all(header.as_bytes()).map_err(|e| ConnectorError::io(self.context("writing"), e))?;
            }
            self.changelog = Some(out);
        }
        let context = self.context("writing");
        let Some(out) = self.changelog.as_mut() else {
            return Ok(());
        };
        write_changes(out, &self.encoder, updates).map_err(|e| e.context(context.clone()))?;
        out.flush().map_err(|e| ConnectorError::io(context, e))
    }
}

impl Sink for FileSink {
    fn commit(&mut self, updates: &[(Row, Time, Diff)], _frontier: Option<Time>) -> Result<(), ConnectorError> {
        match self.mode {
            Mode::Changelog => self.append(updates),
            Mode::Snapshot => {
                self.contents.apply(&self.name, updates)?;
                if self.written && updates.is_empty() {
                    return Ok(()); // nothing changed: the file already holds these contents
                }
                self.rewrite()?;
                self.written = true;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field, Schema};
    use illunare_connector::Options;
    use illunare_types::{Datum, row};

    use super::*;

    fn spec(options: &[(&str, &str)]) -> SinkSpec {
        SinkSpec {
            name: "out".into(),
            from: "rel".into(),
            schema: Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true), Field::new("n", DataType::Int64, true)])),
            options: Options::new(options.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
        }
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn snapshot_holds_the_multiset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/deeper/out.jsonl");
        let path_s = path.to_string_lossy().into_owned();
        let mut sink = FileSinkConnector.create(&spec(&[("path", &path_s)])).unwrap();
        assert!(!dir.path().join("nested").exists(), "create must not touch the filesystem");

        sink.commit(&[], Some(0)).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "");

        sink.commit(&[(row!["b", 2i64], 1, 1), (row!["a", 1i64], 1, 2), (row!["c", None::<i64>], 2, 1)], Some(3)).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\"k\":\"a\",\"n\":1}\n{\"k\":\"a\",\"n\":1}\n{\"k\":\"b\",\"n\":2}\n{\"k\":\"c\",\"n\":null}\n"
        );
        sink.commit(&[(row!["a", 1i64], 3, -1), (row!["b", 2i64], 4, -1), (row!["d", 4i64], 4, 1)], None).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\"k\":\"a\",\"n\":1}\n{\"k\":\"c\",\"n\":null}\n{\"k\":\"d\",\"n\":4}\n"
        );
        assert_eq!(files_in(path.parent().unwrap()), vec!["out.jsonl"], "no temporary file left behind");
    }

    #[test]
    fn snapshot_csv_and_negative_multiplicity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let mut sink = FileSinkConnector.create(&spec(&[("path", &path.to_string_lossy())])).unwrap();
        sink.commit(&[], Some(1)).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "k,n\n");
        sink.commit(&[(Row(vec![Datum::str("x, \"y\""), Datum::Null]), 1, 1), (row!["", 0i64], 1, 1)], Some(2)).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "k,n\n\"\",0\n\"x, \"\"y\"\"\",\n");
        let err = sink.commit(&[(row!["zz", 1i64], 2, -1)], Some(3)).err().unwrap().to_string();
        assert!(err.contains("bug upstream"), "{err}");
        // The file still holds the last good snapshot.
        assert_eq!(fs::read_to_string(&path).unwrap(), "k,n\n\"\",0\n\"x, \"\"y\"\"\",\n");
    }

    #[test]
    fn changelog_appends_with_diff() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.csv");
        fs::write(&path, "stale\n").unwrap();
        let opts = [("path", path.to_string_lossy().to_string()), ("mode", "changelog".to_string())];
        let opts: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut sink = FileSinkConnector.create(&spec(&opts)).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "stale\n", "create must not truncate");
        sink.commit(&[(row!["a", 1i64], 1, 1)], Some(2)).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "k,n,_diff\na,1,1\n");
        sink.commit(&[(row!["a", 1i64], 2, -1), (row!["b", 2i64], 2, 3)], None).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "k,n,_diff\na,1,1\na,1,-1\nb,2,3\n");

        let path = dir.path().join("log.out");
        let path_s = path.to_string_lossy().into_owned();
        let mut sink = FileSinkConnector.create(&spec(&[("path", &path_s), ("mode", "changelog")])).unwrap();
        sink.commit(&[(row!["a", 1i64], 1, 1), (row!["a", 1i64], 2, -1)], None).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"k\":\"a\",\"n\":1,\"_diff\":1}\n{\"k\":\"a\",\"n\":1,\"_diff\":-1}\n");
    }

    #[test]
    fn options_are_validated() {
        let err = |opts: &[(&str, &str)]| FileSinkConnector.create(&spec(opts)).err().unwrap().to_string();
        assert!(err(&[]).contains("'path' is required"));
        assert!(err(&[("path", "x.jsonl"), ("mode", "append")]).contains("mode"));
        assert!(err(&[("path", "x.jsonl"), ("format", "xml")]).contains("xml"));
        assert!(err(&[("path", "x.jsonl"), ("rowz", "1")]).contains("rowz"));
    }
}
