//! Where Parquet lives, for the connectors that read and write it: a `path` option parsed
//! into a local path or an `s3://bucket/key` URL ([`StoreUrl`]), an S3 store configured from
//! the `AWS_*` environment ([`s3_store`]), and a way to run the stores' async calls from the
//! synchronous connector traits ([`block_on`]).
//!
//! Why one crate for this: the Parquet source and the Parquet sink must accept the same paths
//! and find the same credentials, or a pipeline that reads `s3://lake/tx/` could not write
//! next to it. Kept apart from `illunare-connector` so that crates that never touch object
//! storage do not compile `object_store` and its HTTP stack.
//!
//! Why credentials only from the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, …, read by
//! `AmazonS3Builder::from_env`): secrets never appear in pipeline files, and the same
//! variables work for the AWS CLI, DuckDB and Spark, so a user sets them once. Rejected:
//! `access_key`/`secret_key` options in `WITH (…)` (they end up in version control).

use std::future::Future;
use std::sync::Arc;

use object_store::ObjectStore;

/// A `path` option: a local path (possibly a glob, for readers) or an S3 location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreUrl {
    Local(String),
    /// `s3://bucket/key` (also `s3a://`); `key` without leading or trailing `/`.
    S3 { bucket: String, key: String },
}

/// Why a `path` option cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("must not be empty")]
    Empty,
    #[error("'{0}' names no bucket (s3://bucket/prefix)")]
    NoBucket(String),
    #[error("'{scheme}://' is not supported: give a local path or an s3:// URL")]
    Scheme { scheme: String },
}

impl StoreUrl {
    pub fn parse(path: &str) -> Result<StoreUrl, UrlError> {
        let path = path.trim();
        if path.is_empty() {
            return Err(UrlError::Empty);
        }
        if let Some(rest) = path.strip_prefix("s3://").or_else(|| path.strip_prefix("s3a://")) {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(UrlError::NoBucket(path.to_string()));
            }
            return Ok(StoreUrl::S3 { bucket: bucket.to_string(), key: key.trim_matches('/').to_string() });
        }
        if let Some((scheme, _)) = path.split_once("://") {
            return Err(UrlError::Scheme { scheme: scheme.to_string() });
        }
        Ok(StoreUrl::Local(path.to_string()))
    }
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreUrl::Local(path) => f.write_str(path),
            StoreUrl::S3 { bucket, key } if key.is_empty() => write!(f, "s3://{bucket}"),
            StoreUrl::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// An S3 store for `bucket`, configured from the `AWS_*` environment. No network I/O; the
/// store's HTTP connections belong to the tokio runtime it is first used on, so build one per
/// runtime.
pub fn s3_store(bucket: &str) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    let store = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket).build()?;
    Ok(Arc::new(store))
}

/// Why [`block_on`] could not run its future.
#[derive(Debug, thiserror::Error)]
pub enum BlockOnError {
    #[error("cannot start an I/O runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the I/O thread panicked")]
    Panicked,
}

/// Runs the future `make` builds to completion on a helper thread with its own
/// current-thread runtime.
///
/// Why a helper thread: connector methods are synchronous and are called both from plain
/// threads (timely workers, the sink thread) and from inside tokio runtimes (the batch oracle,
/// tests); `Runtime::block_on` on the caller's thread would panic in the second case. Build
/// stores inside `make` so their connections live and die with that runtime.
pub fn block_on<T, F>(make: impl FnOnce() -> F + Send) -> Result<T, BlockOnError>
where
    T: Send,
    F: Future<Output = T>,
{
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(BlockOnError::Runtime)?;
                Ok(runtime.block_on(make()))
            })
            .join()
            .unwrap_or(Err(BlockOnError::Panicked))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_urls_parse() {
        assert_eq!(StoreUrl::parse(" data/*.parquet ").unwrap(), StoreUrl::Local("data/*.parquet".into()));
        let lake = StoreUrl::parse("s3://lake/tx/date=2024-01-01/").unwrap();
        assert_eq!(lake, StoreUrl::S3 { bucket: "lake".into(), key: "tx/date=2024-01-01".into() });
        assert_eq!(lake.to_string(), "s3://lake/tx/date=2024-01-01");
        let bare = StoreUrl::parse("s3a://lake").unwrap();
        assert_eq!(bare, StoreUrl::S3 { bucket: "lake".into(), key: String::new() });
        assert_eq!(bare.to_string(), "s3://lake");
        assert_eq!(StoreUrl::parse("s3:///x"), Err(UrlError::NoBucket("s3:///x".into())));
        assert!(StoreUrl::parse("gs://b/x").unwrap_err().to_string().contains("'gs://' is not supported"));
        assert_eq!(StoreUrl::parse("  "), Err(UrlError::Empty));
        // Building an S3 store reads the environment only: no network.
        assert!(s3_store("lake").is_ok());
    }

    #[test]
    fn block_on_works_inside_and_outside_a_runtime() {
        assert_eq!(block_on(|| async { 1 + 1 }).unwrap(), 2);
        let outer = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert_eq!(outer.block_on(async { block_on(|| async { 3 }).unwrap() }), 3);
    }
}
