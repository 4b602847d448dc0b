//! Async I/O from synchronous trait methods, and the Parquet reader over an object store.
//!
//! `create` and `splits` are synchronous but the stores are async, and they are called both from
//! plain threads (timely workers) and from inside tokio runtimes (the oracle, tests), so
//! [`block_on`] runs the future on a helper thread with its own runtime
//! (`illunare_object_store::block_on`), and stores are built inside that runtime (see
//! `Location::store`).

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use crate::error::ParquetSourceError;

/// Runs the future `make` builds to completion on a helper thread with its own runtime.
pub fn block_on<T, F>(make: impl FnOnce() -> F + Send) -> Result<T, ParquetSourceError>
where
    T: Send,
    F: Future<Output = T>,
{
    illunare_object_store::block_on(make).map_err(|e| ParquetSourceError::Thread(e.to_string()))
}

/// A Parquet file in an object store, read by range, adding every byte it fetches to a
/// counter (the source's `bytes_read`, which shows projection pushdown at work). The file size
/// comes from the listing, so the footer is fetched with bounded range requests.
pub struct StoreReader {
    store: Arc<dyn ObjectStore>,
    path: ObjPath,
    size: u64,
    bytes: Arc<AtomicU64>,
}

impl StoreReader {
    pub fn new(store: Arc<dyn ObjectStore>, path: ObjPath, size: u64, bytes: Arc<AtomicU64>) -> Self {
        StoreReader { store, path, size, bytes }
    }
}

impl AsyncFileReader for StoreReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            let bytes = self.store.get_range(&self.path, range).await?;
            self.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            Ok(bytes)
        }
        .boxed()
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            let parts = self.store.get_ranges(&self.path, &ranges).await?;
            self.bytes.fetch_add(parts.iter().map(|b| b.len() as u64).sum(), Ordering::Relaxed);
            Ok(parts)
        }
        .boxed()
    }

    fn get_metadata<'a>(&'a mut self, _options: Option<&'a ArrowReaderOptions>) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new().load_and_finish(self, size).await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}
