//! Async I/O from synchronous trait methods, and counting the bytes a reader fetches.
//!
//! `create` and `splits` are synchronous but the stores are async, and they are called both from
//! plain threads (timely workers) and from inside tokio runtimes (the oracle, tests). A
//! `block_on` on the caller's thread would panic in the latter case, so [`block_on`] runs the
//! future on a scoped thread with its own current-thread runtime: any caller works, and stores
//! are built inside that runtime (see `Location::store`).

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, ParquetObjectReader};
use parquet::file::metadata::ParquetMetaData;

use crate::error::ParquetSourceError;

/// Runs the future `make` builds to completion on a helper thread with its own runtime.
pub fn block_on<T, F>(make: impl FnOnce() -> F + Send) -> Result<T, ParquetSourceError>
where
    T: Send,
    F: Future<Output = T>,
{
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| ParquetSourceError::Thread(format!("cannot start a runtime: {e}")))?;
                Ok(runtime.block_on(make()))
            })
            .join()
            .unwrap_or_else(|_| Err(ParquetSourceError::Thread("the I/O thread panicked".into())))
    })
}

/// A Parquet object reader that adds every byte it fetches to a counter (the source's
/// `bytes_read`, which shows projection pushdown at work).
pub struct CountingReader {
    inner: ParquetObjectReader,
    bytes: Arc<AtomicU64>,
}

impl CountingReader {
    pub fn new(inner: ParquetObjectReader, bytes: Arc<AtomicU64>) -> Self {
        CountingReader { inner, bytes }
    }
}

impl AsyncFileReader for CountingReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        let counter = self.bytes.clone();
        self.inner
            .get_bytes(range)
            .map(move |r| {
                if let Ok(b) = &r {
                    counter.fetch_add(b.len() as u64, Ordering::Relaxed);
                }
                r
            })
            .boxed()
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        let counter = self.bytes.clone();
        self.inner
            .get_byte_ranges(ranges)
            .map(move |r| {
                if let Ok(parts) = &r {
                    counter.fetch_add(parts.iter().map(|b| b.len() as u64).sum(), Ordering::Relaxed);
                }
                r
            })
            .boxed()
    }

    fn get_metadata<'a>(&'a mut self, options: Option<&'a ArrowReaderOptions>) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        self.inner.get_metadata(options)
    }
}
