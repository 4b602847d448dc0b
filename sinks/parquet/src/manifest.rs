//! `path/_manifest.json`: the list of committed files and the frontier through which every
//! update is in them. It is the sink's only commit point.
//!
//! Why a manifest rather than "every `*.parquet` in the directory": a file is renamed into
//! place before the manifest names it, and a crash can leave it there unlisted; a reader (or a
//! restarted sink) that honours the manifest never sees such a file, and the restarted sink
//! deletes it ([`cleanup`]). The manifest itself is replaced atomically after the data files
//! are durable (locally through `_manifest.json.tmp`, a sync and a rename; on S3 by one PUT;
//! see [`crate::storage`]).
//!
//! Why per-file `max_time_rows`: a file can end in the middle of the updates of one time (a
//! `rollover_rows` boundary). For exactly-once after a restart the sink must know, per
//! partition, how far its committed files reach: all updates before the last file's
//! `max_time`, plus the first `max_time_rows` (summed over the partition's files ending at that
//! time) of the updates at `max_time`, in the sink's deterministic order (time, then row).
//! [`Manifest::positions`] derives that; the global `frontier` alone could not express it.

use std::collections::{BTreeMap, BTreeSet};

use illunare_connector::Time;
use serde::{Deserialize, Serialize};

use crate::error::ParquetSinkError;
use crate::partition::PartitionKey;
use crate::storage::Storage;
use crate::writer::is_part_file;

/// The manifest's file name inside the sink's directory.
pub const MANIFEST_FILE: &str = "_manifest.json";
/// Its temporary name while it is rewritten.
pub const MANIFEST_TMP: &str = "_manifest.json.tmp";
/// The manifest format version written (and the only one read).
pub const VERSION: u32 = 1;

/// The manifest's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    /// The sink that writes the directory.
    pub sink: String,
    /// What the files hold (checked at restart): mode, partition columns, file columns.
    pub layout: Layout,
    /// Every update with a time before this is in the listed files (`None`: no commit yet).
    pub frontier: Option<Time>,
    /// Whether the input had ended at the last commit.
    pub ended: bool,
    /// The sequence number of the next file.
    pub next_sequence: u64,
    /// The committed files, in commit order.
    pub files: Vec<FileEntry>,
}

/// What the files of a directory hold; a restarted sink must write the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// `changelog` or `append`.
    pub mode: String,
    pub partition_by: Vec<String>,
    /// Each file column as `name: type`.
    pub columns: Vec<String>,
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mode {}, partition_by [{}], columns [{}]", self.mode, self.partition_by.join(", "), self.columns.join(", "))
    }
}

/// One committed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the sink's directory, `/`-separated: `date=2024-01-02/part-….parquet`.
    pub path: String,
    pub rows: u64,
    pub min_time: Time,
    pub max_time: Time,
    /// How many of its rows have time `max_time`.
    pub max_time_rows: u64,
    /// The partition values, in `partition_by` order (empty when unpartitioned).
    pub partition: Vec<PartitionValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionValue {
    pub column: String,
    /// The value as text (as in the directory name, unescaped); `null` for NULL.
    pub value: Option<String>,
}

/// How far a partition's committed files reach: every update before `time`, and the first
/// `rows` updates at `time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub time: Time,
    pub rows: u64,
}

impl Manifest {
    pub fn new(sink: &str, layout: Layout) -> Manifest {
        Manifest { version: VERSION, sink: sink.to_string(), layout, frontier: None, ended: false, next_sequence: 0, files: Vec::new() }
    }

    /// Per partition, how far its committed files reach.
    pub fn positions(&self) -> BTreeMap<PartitionKey, Position> {
        let mut out: BTreeMap<PartitionKey, Position> = BTreeMap::new();
        for file in &self.files {
            let key: PartitionKey = file.partition.iter().map(|p| p.value.clone()).collect();
            let here = Position { time: file.max_time, rows: file.max_time_rows };
            out.entry(key)
                .and_modify(|p| {
                    if here.time > p.time {
                        *p = here;
                    } else if here.time == p.time {
                        p.rows += here.rows;
                    }
                })
                .or_insert(here);
        }
        out
    }

    /// The listed files' paths.
    pub fn listed(&self) -> BTreeSet<&str> {
        self.files.iter().map(|f| f.path.as_str()).collect()
    }
}

/// The manifest in `storage`, `None` when there is none.
pub fn read(sink: &str, storage: &mut Storage) -> Result<Option<Manifest>, ParquetSinkError> {
    let Some(bytes) = storage.read(sink, MANIFEST_FILE)? else {
        return Ok(None);
    };
    let bad = |message: String| ParquetSinkError::BadManifest { sink: sink.to_string(), location: storage.describe(MANIFEST_FILE), message };
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    if manifest.version != VERSION {
        return Err(bad(format!("version {} is not supported (this sink reads version {VERSION})", manifest.version)));
    }
    Ok(Some(manifest))
}

/// Replaces the manifest in `storage` atomically (the commit point).
pub fn write(sink: &str, storage: &mut Storage, manifest: &Manifest) -> Result<(), ParquetSinkError> {
    let text = serde_json::to_vec_pretty(manifest)
        .map_err(|e| ParquetSinkError::Data { sink: sink.to_string(), message: format!("encoding the manifest: {e}") })?;
    storage.put(sink, MANIFEST_FILE, text)
}

/// Deletes what a crash may have left in `storage`: the manifest's temporary file, and every
/// file named like this sink's data files (`part-<seq>-<min>-<max>.parquet`, or with `.tmp`)
/// that the manifest does not list, at the root and in partition directories. Other files are
/// left alone. Returns the deleted files' full names.
pub fn cleanup(sink: &str, storage: &mut Storage, manifest: &Manifest) -> Result<Vec<String>, ParquetSinkError> {
    let listed = manifest.listed();
    let mut removed = Vec::new();
    for relative in storage.list(sink)? {
        let name = relative.rsplit('/').next().unwrap_or(&relative);
        let stray = match name.strip_suffix(".tmp") {
            Some(base) => is_part_file(base) || relative == MANIFEST_TMP,
            None => is_part_file(name) && !listed.contains(relative.as_str()),
        };
        if stray {
            storage.delete(sink, &relative)?;
            let location = storage.describe(&relative);
            tracing::info!(sink, file = %location, "removed a file not in the manifest (left by an interrupted run)");
            removed.push(location);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn entry(path: &str, part: Option<&str>, max_time: Time, max_time_rows: u64) -> FileEntry {
        FileEntry {
            path: path.to_string(),
            rows: 10,
            min_time: 0,
            max_time,
            max_time_rows,
            partition: vec![PartitionValue { column: "d".into(), value: part.map(str::to_string) }],
        }
    }

    fn layout() -> Layout {
        Layout { mode: "changelog".into(), partition_by: vec!["d".into()], columns: vec!["v: Int64".into()] }
    }

    fn local(dir: &std::path::Path) -> Storage {
        Storage::new(&illunare_object_store::StoreUrl::Local(dir.display().to_string()))
    }

    #[test]
    fn round_trip_and_positions() {
        let dir = tempfile::tempdir().unwrap();
        let mut storage = local(dir.path());
        assert_eq!(read("s", &mut storage).unwrap(), None);
        let mut m = Manifest::new("s", layout());
        m.frontier = Some(42);
        m.next_sequence = 3;
        m.files = vec![entry("d=a/x", Some("a"), 5, 2), entry("d=a/y", Some("a"), 5, 10), entry("d=a/z", Some("a"), 9, 1), entry("d=b/w", None, 3, 4)];
        write("s", &mut storage, &m).unwrap();
        assert!(!dir.path().join(MANIFEST_TMP).exists());
        let back = read("s", &mut storage).unwrap().unwrap();
        assert_eq!(back, m);
        let positions = back.positions();
        assert_eq!(positions[&vec![Some("a".to_string())]], Position { time: 9, rows: 1 });
        assert_eq!(positions[&vec![None]], Position { time: 3, rows: 4 });
        m.files.truncate(2);
        assert_eq!(m.positions()[&vec![Some("a".to_string())]], Position { time: 5, rows: 12 });
    }

    #[test]
    fn bad_manifest_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(MANIFEST_FILE), "{ not json").unwrap();
        let err = read("s", &mut local(dir.path())).unwrap_err();
        assert!(matches!(err, ParquetSinkError::BadManifest { .. }), "{err}");
    }

    #[test]
    fn cleanup_removes_only_strays() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("d=a");
        fs::create_dir_all(&sub).unwrap();
        let listed = "part-0000000000-1-2.parquet";
        let stray = "part-0000000001-3-4.parquet";
        for name in [listed, stray, "part-0000000002-5-5.parquet.tmp", "notes.txt", "part-00000-abc-c000.snappy.parquet"] {
            fs::write(sub.join(name), b"x").unwrap();
        }
        fs::write(dir.path().join(MANIFEST_TMP), b"{}").unwrap();
        let mut m = Manifest::new("s", layout());
        m.files = vec![entry(&format!("d=a/{listed}"), Some("a"), 2, 1)];
        let removed = cleanup("s", &mut local(dir.path()), &m).unwrap();
        assert_eq!(removed.len(), 3, "{removed:?}");
        let mut left: Vec<String> = fs::read_dir(&sub).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        assert_eq!(left, vec!["notes.txt", "part-00000-abc-c000.snappy.parquet", "part-0000000000-1-2.parquet"]);
    }
}
