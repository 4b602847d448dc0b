//! The sink's errors, each naming the sink and saying what to do.
//!
//! Why typed: the sink decides per error whether its session is still usable (a lost
//! connection means reconnect, a duplicate key does not), and tests match on kinds. At the
//! engine boundary every error becomes `ConnectorError::Other` with its message passed through
//! `connection::clean`, so no password survives in any text.

use crate::connection::describe;

#[derive(Debug, thiserror::Error)]
pub enum PgSinkError {
    #[error("sink '{sink}': cannot connect to {url}: {message}")]
    Connect { sink: String, url: String, message: String },
    #[error("sink '{sink}': not connected to {url}; next attempt in {wait_ms} ms (last error: {last})")]
    Backoff { sink: String, url: String, wait_ms: u64, last: String },
    #[error("sink '{sink}': {context}: {message}")]
    Postgres { sink: String, context: String, message: String },
    #[error("sink '{sink}': schema \"{schema}\" does not exist (create it, or set create_table = 'true')")]
    MissingSchema { sink: String, schema: String },
    #[error("sink '{sink}': table {table} does not exist (create it, or set create_table = 'true')")]
    MissingTable { sink: String, table: String },
    #[error("sink '{sink}': table {table} lacks column(s) {missing} of the view (it has {present}); the sink never alters tables, add them or recreate the table")]
    MissingColumns { sink: String, table: String, missing: String, present: String },
    #[error("sink '{sink}': table {table} has no primary key or unique index on exactly ({key}), which the upsert (ON CONFLICT) needs")]
    NoUniqueKey { sink: String, table: String, key: String },
    /// `key` reads `(col, …) = (value, …)`; `rows` says how many live rows and shows some.
    #[error("sink '{sink}': {rows} for primary key {key} in one commit: the declared primary_key is not a key of '{from}'")]
    DuplicateKey { sink: String, from: String, key: String, rows: String },
    #[error("sink '{sink}': primary key column \"{column}\" is NULL in row {row}")]
    NullKey { sink: String, column: String, row: String },
    #[error(
        "sink '{sink}': '{from}' is not append-only: it retracted row {row} at time {time}; use mode = 'upsert' with a primary_key, or ignore_retractions = 'true'"
    )]
    NotAppendOnly { sink: String, from: String, row: String, time: u64 },
    #[error("sink '{sink}': column \"{column}\": {message}")]
    Encode { sink: String, column: String, message: String },
    #[error("sink '{sink}': commit did not finish within {seconds} s (commit_timeout); the connection is dropped and the commit retried")]
    Timeout { sink: String, seconds: u64 },
    #[error("sink '{sink}': {message}")]
    Runtime { sink: String, message: String },
}

impl PgSinkError {
    pub fn postgres(sink: &str, context: impl Into<String>, e: &tokio_postgres::Error) -> PgSinkError {
        PgSinkError::Postgres { sink: sink.to_string(), context: context.into(), message: describe(e) }
    }

    /// Whether the session must be dropped. Conservatively yes for anything that happened on
    /// the wire (a lost connection, a server error, an aborted COPY, a timeout): reconnecting
    /// is cheap and leaves no doubt about the session's state. No for errors in the data
    /// itself (found before anything was sent but `BEGIN` and the progress read).
    pub fn drops_connection(&self) -> bool {
        !matches!(self, PgSinkError::DuplicateKey { .. } | PgSinkError::NullKey { .. } | PgSinkError::NotAppendOnly { .. })
    }
}
