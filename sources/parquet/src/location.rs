//! Where the files are: a local file, directory or glob, or an `s3://bucket/prefix` URL, and
//! how they are listed — sorted, so every process derives the same split list.
//!
//! The `path` option is parsed by `illunare_object_store` (as the Parquet sink parses its
//! own). Both kinds are read through `object_store` (a `LocalFileSystem` or an `AmazonS3` built
//! from the `AWS_*` environment), so there is one reading code path. Local listing uses the file
//! system and the `glob` crate (the same glob rules as the `file` source); S3 listing lists the
//! prefix before the first glob character and matches keys against the pattern.
//!
//! A directory (local or S3) means every `*.parquet` below it, recursively, so Hive-partitioned
//! trees (`date=2024-01-01/…`) are read whole. Names starting with `.` or `_` (`_SUCCESS`,
//! `_manifest.json`, `.tmp` files, `_temporary/`) are skipped, as Spark and Hive do.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use illunare_connector::ConnectorError;
use illunare_object_store::{StoreUrl, s3_store};
use object_store::ObjectStore;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjPath;

use crate::error::ParquetSourceError;

/// The `path` option, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Local { pattern: String },
    S3 { bucket: String, key: String },
}

/// One file to read: how to name it, where it is in its store, its size.
#[derive(Clone, Debug)]
pub struct ListedFile {
    /// The local path (as listed, relative when the pattern was) or `s3://bucket/key`.
    pub display: String,
    pub path: ObjPath,
    pub size: u64,
}

fn is_glob(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

fn hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

fn is_parquet(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".parquet")
}

impl Location {
    pub fn parse(path: &str) -> Result<Location, ConnectorError> {
        match StoreUrl::parse(path).map_err(|e| ConnectorError::option("path", e.to_string()))? {
            StoreUrl::Local(pattern) => Ok(Location::Local { pattern }),
            StoreUrl::S3 { bucket, key } => Ok(Location::S3 { bucket, key }),
        }
    }

    /// The part of the path every listed file's name starts with: up to the last `/` before
    /// the first glob character, or the whole path without globs (used to tell Hive partition
    /// directories below it from directories above).
    pub fn fixed_prefix(&self) -> String {
        let full = match self {
            Location::Local { pattern } => pattern.clone(),
            Location::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
        };
        match full.find(['*', '?', '[']) {
            Some(at) => full[..at].rsplit_once('/').map(|(dir, _)| format!("{dir}/")).unwrap_or_default(),
            None => full,
        }
    }

    pub fn is_local(&self) -> bool {
        matches!(self, Location::Local { .. })
    }

    /// A fresh store for this location. Cheap and without network I/O; built per use so that a
    /// store's connection pool never outlives the tokio runtime it was used on.
    pub fn store(&self) -> Result<Arc<dyn ObjectStore>, ParquetSourceError> {
        match self {
            Location::Local { .. } => Ok(Arc::new(object_store::local::LocalFileSystem::new())),
            Location::S3 { bucket, .. } => {
                s3_store(bucket).map_err(|source| ParquetSourceError::Store { file: format!("s3://{bucket}"), source })
            }
        }
    }

    /// The files to read, sorted by name. Fails when nothing matches.
    pub async fn list(&self, store: &dyn ObjectStore) -> Result<Vec<ListedFile>, ParquetSourceError> {
        let mut files = match self {
            Location::Local { pattern } => list_local(pattern)?,
            Location::S3 { bucket, key } => list_s3(store, bucket, key).await?,
        };
        files.sort_by(|a, b| a.display.cmp(&b.display));
        files.dedup_by(|a, b| a.display == b.display);
        if files.is_empty() {
            let (pattern, hint) = match self {
                Location::Local { pattern } => {
                    let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_else(|_| "?".into());
                    (pattern.clone(), format!(" (relative to {cwd})"))
                }
                Location::S3 { bucket, key } => (format!("s3://{bucket}/{key}"), String::new()),
            };
            return Err(ParquetSourceError::NoFiles { pattern, hint });
        }
        Ok(files)
    }
}

fn local_file(path: &Path) -> Result<ListedFile, ParquetSourceError> {
    let err = |message: String| ParquetSourceError::Listing { path: path.display().to_string(), message };
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    let absolute = std::fs::canonicalize(path).map_err(|e| err(e.to_string()))?;
    let object = ObjPath::from_absolute_path(&absolute).map_err(|e| err(e.to_string()))?;
    Ok(ListedFile { display: path.to_string_lossy().into_owned(), path: object, size: meta.len() })
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ParquetSourceError> {
    let err = |e: std::io::Error| ParquetSourceError::Listing { path: dir.display().to_string(), message: e.to_string() };
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if hidden(&name) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if is_parquet(&name) {
            out.push(path);
        }
    }
    Ok(())
}

fn list_local(pattern: &str) -> Result<Vec<ListedFile>, ParquetSourceError> {
    let mut paths = Vec::new();
    if is_glob(pattern) {
        let entries = glob::glob(pattern).map_err(|e| ParquetSourceError::Listing { path: pattern.to_string(), message: format!("not a valid glob: {e}") })?;
        for entry in entries {
            let path = entry.map_err(|e| ParquetSourceError::Listing { path: e.path().display().to_string(), message: e.error().to_string() })?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if path.is_file() && !hidden(&name) {
                paths.push(path);
            }
        }
    } else {
        let path = PathBuf::from(pattern);
        if path.is_dir() {
            walk(&path, &mut paths)?;
        } else if path.is_file() {
            paths.push(path);
        }
    }
    paths.iter().map(|p| local_file(p)).collect()
}

async fn list_s3(store: &dyn ObjectStore, bucket: &str, key: &str) -> Result<Vec<ListedFile>, ParquetSourceError> {
    let url = |k: &str| format!("s3://{bucket}/{k}");
    let store_err = |k: &str| {
        let file = url(k);
        move |source| ParquetSourceError::Store { file, source }
    };
    if is_glob(key) {
        let literal = &key[..key.find(['*', '?', '[']).unwrap_or(key.len())];
        let prefix = literal.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        let matcher = glob::Pattern::new(key).map_err(|e| ParquetSourceError::Listing { path: url(key), message: format!("not a valid glob: {e}") })?;
        let options = glob::MatchOptions { require_literal_separator: true, ..Default::default() };
        let prefix_path = (!prefix.is_empty()).then(|| ObjPath::from(prefix));
        let objects: Vec<_> = store.list(prefix_path.as_ref()).try_collect().await.map_err(store_err(prefix))?;
        return Ok(objects
            .into_iter()
            .filter(|o| matcher.matches_with(o.location.as_ref(), options) && !o.location.filename().is_some_and(hidden))
            .map(|o| ListedFile { display: url(o.location.as_ref()), path: o.location, size: o.size })
            .collect());
    }
    if !key.is_empty() {
        // A single object?
        let path = ObjPath::from(key);
        if let Ok(meta) = store.head(&path).await {
            return Ok(vec![ListedFile { display: url(key), path: meta.location, size: meta.size }]);
        }
    }
    let prefix_path = (!key.is_empty()).then(|| ObjPath::from(key));
    let objects: Vec<_> = store.list(prefix_path.as_ref()).try_collect().await.map_err(store_err(key))?;
    let skip = prefix_path.as_ref().map_or(0, |p| p.parts().count());
    Ok(objects
        .into_iter()
        .filter(|o| {
            let parts: Vec<String> = o.location.parts().skip(skip).map(|p| p.as_ref().to_string()).collect();
            parts.last().is_some_and(|n| is_parquet(n)) && !parts.iter().any(|p| hidden(p))
        })
        .map(|o| ListedFile { display: url(o.location.as_ref()), path: o.location, size: o.size })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_urls_parse() {
        assert_eq!(Location::parse("data/*.parquet").unwrap(), Location::Local { pattern: "data/*.parquet".into() });
        assert_eq!(Location::parse("s3://lake/tx/*.parquet").unwrap(), Location::S3 { bucket: "lake".into(), key: "tx/*.parquet".into() });
        assert_eq!(Location::parse("data/d=*/x.parquet").unwrap().fixed_prefix(), "data/");
        assert_eq!(Location::parse("s3://lake/tx/").unwrap().fixed_prefix(), "s3://lake/tx");
        assert_eq!(Location::parse("*.parquet").unwrap().fixed_prefix(), "");
        let err = Location::parse("gs://b/x").unwrap_err().to_string();
        assert!(err.contains("path") && err.contains("not supported"), "{err}");
        assert!(Location::parse("s3://lake/x").unwrap().store().is_ok());
    }

    #[test]
    fn s3_listing_matches_globs_and_directories() {
        let store = object_store::memory::InMemory::new();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            for key in ["tx/a.parquet", "tx/b.parquet", "tx/_SUCCESS", "tx/d=1/c.parquet", "tx/.x.parquet", "txt/e.parquet", "tx/notes.txt"] {
                store.put(&ObjPath::from(key), bytes::Bytes::from_static(b"x").into()).await.unwrap();
            }
            let names = |files: Vec<ListedFile>| files.into_iter().map(|f| f.display).collect::<Vec<_>>();
            let dir = Location::S3 { bucket: "b".into(), key: "tx".into() };
            assert_eq!(names(dir.list(&store).await.unwrap()), ["s3://b/tx/a.parquet", "s3://b/tx/b.parquet", "s3://b/tx/d=1/c.parquet"]);
            let glob = Location::S3 { bucket: "b".into(), key: "tx/*.parquet".into() };
            assert_eq!(names(glob.list(&store).await.unwrap()), ["s3://b/tx/a.parquet", "s3://b/tx/b.parquet"]);
            let one = Location::S3 { bucket: "b".into(), key: "tx/b.parquet".into() };
            assert_eq!(names(one.list(&store).await.unwrap()), ["s3://b/tx/b.parquet"]);
            let none = Location::S3 { bucket: "b".into(), key: "nothing".into() };
            assert!(none.list(&store).await.unwrap_err().to_string().contains("matches no Parquet file"));
        });
    }
}
