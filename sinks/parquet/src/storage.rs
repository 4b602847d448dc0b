//! Where the sink's files go: a local directory or an S3 prefix, behind four operations
//! (read, atomic put, delete, list) so that the commit protocol ([`crate::sink`],
//! [`crate::manifest`]) is written once.
//!
//! Why "put whole objects" is the one write primitive: it is what both kinds of storage can do
//! atomically. Locally a put writes `<name>.tmp`, syncs it, renames it into place and syncs
//! the directory: a reader sees the old file or the new one, never a partial one, and the
//! rename survives a crash. On S3 a PUT is atomic by itself (an object is visible whole or not
//! at all) and S3 is strongly consistent (a list or read after a PUT sees it), so no temporary
//! names are needed, and none could help: S3 has no rename. The protocol on top is the same for
//! both: data files first, then the manifest, whose put is the commit point; files named like
//! ours but not in the manifest are deleted when the sink starts.
//!
//! Why the whole file is encoded in memory before the put: an S3 object is uploaded in one
//! request and a local file must be complete before it is renamed anyway; the Parquet writer
//! holds a row group (up to 1 Mi rows) in memory regardless, and compressed output is smaller
//! than the Arrow batches the sink buffers. Rejected: multipart uploads streamed from the
//! writer (more requests and a cleanup problem for aborted uploads, for files that
//! `rollover_rows` keeps moderate).
//!
//! Why the sink owns a tokio runtime for S3: `Sink::commit` is synchronous and runs on the
//! engine's sink thread; one current-thread runtime, created at the first S3 call and kept,
//! keeps the store's HTTP connections alive across commits (a runtime per commit would open a
//! new connection, and a TLS handshake, every time). When `commit` is called from inside a
//! runtime (tests, the oracle), the call runs on a helper thread.

use std::fs::{self, File};
use std::future::Future;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use illunare_object_store::{StoreUrl, s3_store};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::error::ParquetSinkError;

/// A local directory or an S3 prefix holding the sink's files.
pub enum Storage {
    Local { root: PathBuf },
    S3 { bucket: String, prefix: String, io: Option<S3Io> },
}

/// What S3 calls need, created at the first call.
pub struct S3Io {
    runtime: tokio::runtime::Runtime,
    store: Arc<dyn ObjectStore>,
}

impl Storage {
    pub fn new(url: &StoreUrl) -> Storage {
        match url {
            StoreUrl::Local(path) => Storage::Local { root: PathBuf::from(path) },
            StoreUrl::S3 { bucket, key } => Storage::S3 { bucket: bucket.clone(), prefix: key.clone(), io: None },
        }
    }

    /// The full name of `relative` (a `/`-separated path below the root), for messages.
    pub fn describe(&self, relative: &str) -> String {
        match self {
            Storage::Local { root } => root.join(relative).display().to_string(),
            Storage::S3 { bucket, prefix, .. } => match (prefix.is_empty(), relative.is_empty()) {
                (true, _) => format!("s3://{bucket}/{relative}"),
                (false, true) => format!("s3://{bucket}/{prefix}"),
                (false, false) => format!("s3://{bucket}/{prefix}/{relative}"),
            },
        }
    }

    /// Makes sure the root exists (a local directory is created; an S3 prefix needs nothing),
    /// so that a directory that cannot be created is reported at the first commit.
    pub fn prepare(&mut self, sink: &str) -> Result<(), ParquetSinkError> {
        match self {
            Storage::Local { root } => fs::create_dir_all(&*root).map_err(|e| ParquetSinkError::io(sink, "creating directory", root, e)),
            Storage::S3 { .. } => Ok(()),
        }
    }

    /// The contents of `relative`, `None` when it does not exist.
    pub fn read(&mut self, sink: &str, relative: &str) -> Result<Option<Vec<u8>>, ParquetSinkError> {
        match self {
            Storage::Local { root } => {
                let path = root.join(relative);
                match fs::read(&path) {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(ParquetSinkError::io(sink, "reading", &path, e)),
                }
            }
            Storage::S3 { .. } => self.s3_at(sink, "reading", relative, |store, key| async move {
                match store.get(&key).await {
                    Ok(result) => result.bytes().await.map(|b| Some(b.to_vec())),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            }),
        }
    }

    /// Stores `bytes` as `relative`, atomically: afterwards it holds exactly `bytes`, and a
    /// failure leaves either the old contents or nothing (never a partial file).
    pub fn put(&mut self, sink: &str, relative: &str, bytes: Vec<u8>) -> Result<(), ParquetSinkError> {
        match self {
            Storage::Local { root } => put_local(sink, &root.join(relative), &bytes),
            Storage::S3 { .. } => {
                self.s3_at(sink, "writing", relative, |store, key| async move { store.put(&key, PutPayload::from(bytes)).await.map(|_| ()) })
            }
        }
    }

    /// Deletes `relative`; deleting what does not exist succeeds.
    pub fn delete(&mut self, sink: &str, relative: &str) -> Result<(), ParquetSinkError> {
        match self {
            Storage::Local { root } => {
                let path = root.join(relative);
                match fs::remove_file(&path) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(ParquetSinkError::io(sink, "removing", &path, e)),
                }
            }
            Storage::S3 { .. } => self.s3_at(sink, "deleting", relative, |store, key| async move {
                match store.delete(&key).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }),
        }
    }

    /// Every file below the root, as `/`-separated relative paths (an absent root is empty).
    pub fn list(&mut self, sink: &str) -> Result<Vec<String>, ParquetSinkError> {
        match self {
            Storage::Local { root } => list_local(sink, root),
            Storage::S3 { prefix, .. } => {
                let base = (!prefix.is_empty()).then(|| ObjPath::from(prefix.as_str()));
                let skip = base.as_ref().map_or(0, |p| p.parts().count());
                let location = self.describe("");
                self.s3(sink, move |store| async move {
                    let objects: Vec<_> = store.list(base.as_ref()).try_collect().await?;
                    Ok(objects.into_iter().map(|o| o.location.parts().skip(skip).map(|p| p.as_ref().to_string()).collect::<Vec<_>>().join("/")).collect())
                })?
                .map_err(|source| ParquetSinkError::store(sink, "listing", location, source))
            }
        }
    }

    /// The object key of `relative`.
    fn key(&self, relative: &str) -> ObjPath {
        match self {
            Storage::S3 { prefix, .. } if !prefix.is_empty() => ObjPath::from(format!("{prefix}/{relative}")),
            _ => ObjPath::from(relative),
        }
    }

    /// Runs an S3 call on the object of `relative` (given its key), naming it and `action` in
    /// the error.
    fn s3_at<T, F>(
        &mut self,
        sink: &str,
        action: &'static str,
        relative: &str,
        call: impl FnOnce(Arc<dyn ObjectStore>, ObjPath) -> F + Send,
    ) -> Result<T, ParquetSinkError>
    where
        T: Send,
        F: Future<Output = Result<T, object_store::Error>> + Send,
    {
        let key = self.key(relative);
        let location = self.describe(relative);
        self.s3(sink, move |store| call(store, key))?.map_err(|source| ParquetSinkError::store(sink, action, location, source))
    }

    /// Runs an S3 call on the sink's runtime (created, with the store, at the first call).
    fn s3<T, F>(&mut self, sink: &str, call: impl FnOnce(Arc<dyn ObjectStore>) -> F + Send) -> Result<T, ParquetSinkError>
    where
        T: Send,
        F: Future<Output = T> + Send,
    {
        let Storage::S3 { bucket, io, .. } = self else {
            unreachable!("S3 calls are only made for S3 storage");
        };
        let S3Io { runtime, store } = match io {
            Some(io) => io,
            None => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| ParquetSinkError::Data { sink: sink.to_string(), message: format!("cannot start its I/O runtime: {e}") })?;
                let store = {
                    let _entered = runtime.enter();
                    s3_store(bucket).map_err(|source| ParquetSinkError::store(sink, "configuring", format!("s3://{bucket}"), source))?
                };
                io.insert(S3Io { runtime, store })
            }
        };
        let future = call(Arc::clone(store));
        if tokio::runtime::Handle::try_current().is_err() {
            return Ok(runtime.block_on(future));
        }
        std::thread::scope(|scope| scope.spawn(|| runtime.block_on(future)).join())
            .map_err(|_| ParquetSinkError::Data { sink: sink.to_string(), message: "its I/O thread panicked".into() })
    }
}

/// Writes `path` through `path.tmp`: create the directory, write, sync, rename, sync the
/// directory. On failure the temporary file is removed.
fn put_local(sink: &str, path: &Path, bytes: &[u8]) -> Result<(), ParquetSinkError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| ParquetSinkError::io(sink, "creating directory", dir, e))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut file = File::create(&tmp).map_err(|e| ParquetSinkError::io(sink, "creating", &tmp, e))?;
        file.write_all(bytes).map_err(|e| ParquetSinkError::io(sink, "writing", &tmp, e))?;
        file.sync_all().map_err(|e| ParquetSinkError::io(sink, "syncing", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| ParquetSinkError::io(sink, "renaming into place", path, e))?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| ParquetSinkError::io(sink, "syncing directory", dir, e))
    })();
    if result.is_err() {
        // Best effort: the error returned is the one that matters.
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn list_local(sink: &str, root: &Path) -> Result<Vec<String>, ParquetSinkError> {
    let mut out = Vec::new();
    if !root.exists() {
        return Ok(out);
    }
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((current, relative)) = stack.pop() {
        let entries = fs::read_dir(&current).map_err(|e| ParquetSinkError::io(sink, "listing", &current, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| ParquetSinkError::io(sink, "listing", &current, e))?;
            let file_type = entry.file_type().map_err(|e| ParquetSinkError::io(sink, "inspecting", &entry.path(), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if relative.is_empty() { name } else { format!("{relative}/{name}") };
            if file_type.is_dir() {
                stack.push((entry.path(), rel));
            } else if file_type.is_file() {
                out.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_put_read_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("out");
        let mut storage = Storage::new(&StoreUrl::Local(root.display().to_string()));
        assert_eq!(storage.list("s").unwrap(), Vec::<String>::new());
        assert_eq!(storage.read("s", "a/b.parquet").unwrap(), None);
        storage.put("s", "a/b.parquet", b"one".to_vec()).unwrap();
        storage.put("s", "a/b.parquet", b"two".to_vec()).unwrap();
        storage.put("s", "top.json", b"{}".to_vec()).unwrap();
        assert_eq!(storage.read("s", "a/b.parquet").unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(storage.list("s").unwrap(), ["a/b.parquet", "top.json"]);
        storage.delete("s", "a/b.parquet").unwrap();
        storage.delete("s", "a/b.parquet").unwrap();
        assert_eq!(storage.list("s").unwrap(), ["top.json"]);
        assert_eq!(storage.describe("x/y"), root.join("x/y").display().to_string());
    }

    /// S3 storage over an in-memory object store (the same `ObjectStore` calls as on S3).
    fn in_memory(prefix: &str) -> Storage {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        Storage::S3 { bucket: "lake".into(), prefix: prefix.into(), io: Some(S3Io { runtime, store }) }
    }

    #[test]
    fn object_store_put_read_list_delete() {
        let mut storage = in_memory("out/alerts");
        assert_eq!(storage.list("s").unwrap(), Vec::<String>::new());
        assert_eq!(storage.read("s", "_manifest.json").unwrap(), None);
        storage.put("s", "d=1/part.parquet", b"one".to_vec()).unwrap();
        storage.put("s", "_manifest.json", b"{}".to_vec()).unwrap();
        storage.put("s", "_manifest.json", b"{\"v\": 2}".to_vec()).unwrap();
        assert_eq!(storage.read("s", "_manifest.json").unwrap().as_deref(), Some(&b"{\"v\": 2}"[..]));
        let mut listed = storage.list("s").unwrap();
        listed.sort();
        assert_eq!(listed, ["_manifest.json", "d=1/part.parquet"]);
        storage.delete("s", "d=1/part.parquet").unwrap();
        storage.delete("s", "d=1/part.parquet").unwrap();
        assert_eq!(storage.list("s").unwrap(), ["_manifest.json"]);
        // Called from inside a runtime, the call moves to a helper thread instead of panicking.
        let outer = tokio::runtime::Builder::new_current_thread().build().unwrap();
        outer.block_on(async { assert_eq!(storage.list("s").unwrap(), ["_manifest.json"]) });
    }

    #[test]
    fn s3_names() {
        let storage = Storage::new(&StoreUrl::S3 { bucket: "lake".into(), key: "out/alerts".into() });
        assert_eq!(storage.describe("d=1/p.parquet"), "s3://lake/out/alerts/d=1/p.parquet");
        assert_eq!(storage.key("d=1/p.parquet").as_ref(), "out/alerts/d=1/p.parquet");
        let bare = Storage::new(&StoreUrl::S3 { bucket: "lake".into(), key: String::new() });
        assert_eq!(bare.describe("_manifest.json"), "s3://lake/_manifest.json");
        assert_eq!(bare.key("_manifest.json").as_ref(), "_manifest.json");
    }
}
