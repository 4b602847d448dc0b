//! The listed files with their footers, read once per process and shared by every copy of the
//! source (its workers, and the narrowed and pruned copies).
//!
//! Splits are row groups, so listing must read every footer; the footers are kept and handed to
//! the readers, which then fetch only column chunks. A footer that cannot be read does not fail
//! the listing (one corrupt file must not stop the others): the file becomes one split `path#*`
//! whose reader tries the footer again and reports the error, which the engine retries and then
//! puts in `<source>_errors`.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use object_store::ObjectStore;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};

use crate::error::ParquetSourceError;
use crate::io::StoreReader;
use crate::location::{ListedFile, Location};

/// One file and its footer (or why it could not be read).
pub struct FileEntry {
    pub listed: ListedFile,
    pub footer: Result<ArrowReaderMetadata, String>,
}

/// The files of a source, sorted by name.
pub struct Listing {
    pub files: Vec<Arc<FileEntry>>,
    by_name: HashMap<String, usize>,
}

impl Listing {
    pub fn get(&self, display: &str) -> Option<&Arc<FileEntry>> {
        self.by_name.get(display).and_then(|&i| self.files.get(i))
    }
}

/// Reads the footer of `file`.
pub async fn footer(store: Arc<dyn ObjectStore>, file: &ListedFile) -> Result<ArrowReaderMetadata, ParquetSourceError> {
    // Footer bytes are not counted as data read.
    let mut reader = StoreReader::new(store, file.path.clone(), file.size, Arc::default());
    ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new())
        .await
        .map_err(|source| ParquetSourceError::Parquet { file: file.display.clone(), source })
}

/// Lists `location` and reads every footer (a few at a time).
pub async fn load(location: &Location) -> Result<Listing, ParquetSourceError> {
    let store = location.store()?;
    let listed = location.list(store.as_ref()).await?;
    let files: Vec<Arc<FileEntry>> = futures::stream::iter(listed)
        .map(|listed| {
            let store = store.clone();
            async move {
                let footer = footer(store, &listed).await.map_err(|e| e.to_string());
                if let Err(e) = &footer {
                    tracing::warn!("parquet source: {e}");
                }
                Arc::new(FileEntry { listed, footer })
            }
        })
        .buffered(16)
        .collect()
        .await;
    let by_name = files.iter().enumerate().map(|(i, f)| (f.listed.display.clone(), i)).collect();
    Ok(Listing { files, by_name })
}
