//! The sink's errors, each naming the sink and the file it concerns.
//!
//! Why typed: tests and callers can tell a data problem (a retraction in append mode, a
//! manifest written for another relation) from an I/O or object-store failure that a retry
//! may cure. At the engine boundary they become `ConnectorError` (`Io` keeps the
//! `std::io::Error`).

use std::path::{Path, PathBuf};

use illunare_connector::ConnectorError;

#[derive(Debug, thiserror::Error)]
pub enum ParquetSinkError {
    #[error("sink '{sink}': {action} '{}': {source}", path.display())]
    Io { sink: String, action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("sink '{sink}': {action} '{location}': {source}")]
    Store { sink: String, action: &'static str, location: String, source: Box<object_store::Error> },
    #[error("sink '{sink}': writing Parquet file '{location}': {source}")]
    Parquet { sink: String, location: String, source: parquet::errors::ParquetError },
    #[error("sink '{sink}': manifest '{location}' cannot be read: {message}; nothing was deleted (fix or remove the directory)")]
    BadManifest { sink: String, location: String, message: String },
    #[error("sink '{sink}': the manifest '{location}' was written for {found}, this sink writes {expected}; use another path or remove the directory")]
    ManifestMismatch { sink: String, location: String, found: String, expected: String },
    #[error(
        "sink '{sink}': '{from}' is not append-only: it retracted row {row} at time {time}; mode = 'append' cannot write retractions (use mode = 'changelog', which writes them with _diff < 0)"
    )]
    NotAppendOnly { sink: String, from: String, row: String, time: u64 },
    #[error("sink '{sink}': {message}")]
    Data { sink: String, message: String },
}

impl ParquetSinkError {
    pub fn io(sink: &str, action: &'static str, path: &Path, source: std::io::Error) -> ParquetSinkError {
        ParquetSinkError::Io { sink: sink.to_string(), action, path: path.to_path_buf(), source }
    }

    pub fn store(sink: &str, action: &'static str, location: String, source: object_store::Error) -> ParquetSinkError {
        ParquetSinkError::Store { sink: sink.to_string(), action, location, source: Box::new(source) }
    }
}

impl From<ParquetSinkError> for ConnectorError {
    fn from(e: ParquetSinkError) -> ConnectorError {
        match e {
            ParquetSinkError::Io { sink, action, path, source } => ConnectorError::io(format!("sink '{sink}': {action} '{}'", path.display()), source),
            other => ConnectorError::Other(other.to_string()),
        }
    }
}
