//! The errors of the Parquet source, typed, each naming the file (and column) it is about so
//! the pipeline author can find the culprit; converted to [`ConnectorError`] at the boundary.

use illunare_connector::ConnectorError;

#[derive(Debug, thiserror::Error)]
pub enum ParquetSourceError {
    #[error("option 'path': '{pattern}' matches no Parquet file{hint}")]
    NoFiles { pattern: String, hint: String },
    #[error("listing '{path}': {message}")]
    Listing { path: String, message: String },
    #[error("reading '{file}': {source}")]
    Parquet { file: String, source: parquet::errors::ParquetError },
    #[error("'{file}': {source}")]
    Store { file: String, source: object_store::Error },
    #[error("'{file}': {source}")]
    Arrow { file: String, source: arrow::error::ArrowError },
    #[error("'{file}' has no column '{column}' (its columns: {available}) and no partition directory '{column}=…' names it")]
    MissingColumn { file: String, column: String, available: String },
    #[error("'{file}': column '{column}' is {found} in the file, declared {declared}: it cannot be cast safely")]
    Cast { file: String, column: String, found: String, declared: String },
    #[error("'{file}': partition directory value '{value}' of column '{column}' is not a {declared}: {message}")]
    Partition { file: String, column: String, value: String, declared: String, message: String },
    #[error("split '{0}' is not a split of this source (files changed since the listing?)")]
    UnknownSplit(String),
    #[error("position '{position}' of split '{split}' is not a row number")]
    Position { split: String, position: String },
    #[error("I/O thread: {0}")]
    Thread(String),
}

impl From<ParquetSourceError> for ConnectorError {
    fn from(e: ParquetSourceError) -> ConnectorError {
        match e {
            ParquetSourceError::NoFiles { .. } => ConnectorError::option("path", e.to_string().trim_start_matches("option 'path': ")),
            ParquetSourceError::MissingColumn { .. } | ParquetSourceError::Cast { .. } | ParquetSourceError::Partition { .. } => {
                ConnectorError::Schema(e.to_string())
            }
            other => ConnectorError::Other(other.to_string()),
        }
    }
}
