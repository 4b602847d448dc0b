//! The `postgres` sink: keeps a PostgreSQL table equal to a view (upsert by primary key), or
//! appends a relation's inserts to a table (event logs), exactly once across restarts.
//!
//! ```sql
//! CREATE SINK alerts_pg FROM alerts WITH (connector = 'postgres', url = '${env:PG_URL}',
//!         table = 'fraud_alerts', primary_key = 'card_id, window_start', create_table = 'true');
//! CREATE SINK audit_pg FROM audit_events WITH (connector = 'postgres', url = '${env:PG_URL}',
//!         table = 'analytics.Audit Log', mode = 'append');
//! ```
//!
//! Options: `url` (required; `${env:NAME}` allowed, the password is never shown), `table`
//! (required; `schema.table` or a bare name), `schema` (default: from `table`, else `public`;
//! when given, `table` is taken literally), `primary_key` (comma-separated column names),
//! `mode` (`upsert`, the default, needs `primary_key`; or `append`), `create_table` (default
//! `false`), `ignore_retractions` (append mode only, default `false`), `commit_timeout`
//! (default `5m`). Unknown options are rejected.
//!
//! # Design decisions (and the alternatives rejected)
//!
//! - **`create` never connects.** It validates options, column types and the key (see
//!   [`options`]), because `illunare check` calls it too. The connection, the table checks and
//!   `create_table` happen on the first commit ([`ddl::prepare`]).
//! - **One transaction per commit with a progress row** ([`write`]): the commit's data changes
//!   and the upsert of `illunare_sink_progress(sink, table_name, frontier, updated_at)` (in the
//!   target's schema) commit together. The row is read under `FOR UPDATE` at the start of
//!   *every* commit; updates with `time < frontier` are skipped. So a restarted pipeline that
//!   replays its input from the beginning, a retried commit whose `COMMIT` reply was lost with
//!   the connection, and a second instance of the same sink all neither lose nor repeat changes.
//!   Rejected: reading the row only after (re)connecting (correct too, but a lost `COMMIT` reply
//!   or a zombie instance would need special cases), and storing progress outside the database
//!   (two commits, no atomicity). A frontier of `None` (input ended) is stored as `i64::MAX`.
//!   The progress row is keyed by the sink name: re-running a finished bounded pipeline under
//!   the same sink name writes nothing (delete the row, or rename the sink, to rewrite).
//! - **Upsert = net change per key** ([`illunare_connector::changes`]): per commit, diffs are summed per full row and
//!   grouped by key; a key ends with one live row (upsert), only retractions (delete), or
//!   nothing. Two live rows for a key fail the commit naming the sink, key columns and value:
//!   the declared key is not a key of the view. A view row that replaces a key's row *from an
//!   earlier commit* without retracting it cannot be detected without reading the table; it is
//!   applied as an update (documented limitation).
//! - **All-key tables** use `ON CONFLICT … DO NOTHING` (a present row is already right).
//! - **Without `primary_key`** the sink refuses to start in upsert mode (full-row upserts would
//!   need a unique index on every column and cannot represent duplicates): the error suggests
//!   `primary_key` or `mode = 'append'`. Append mode inserts every inserted row (as often as its
//!   multiplicity); a retraction fails the commit (the relation is not append-only) unless
//!   `ignore_retractions = 'true'`.
//! - **Batching: COPY into a temporary staging table, then one `DELETE … USING`
//!   and one `INSERT … SELECT … ON CONFLICT`** per commit (append mode: COPY straight into the
//!   table). COPY streams tens of thousands of rows in one round trip per megabyte, with no
//!   parameter limit (multi-row `INSERT … VALUES` with bind parameters is capped at 65535
//!   parameters per statement, so it needs chunking and per-chunk planning). COPY data is
//!   **binary** ([`binary`]) when every column of the table has the type whose binary form the
//!   sink writes for its view column — always so for tables the sink creates — so neither side
//!   prints and parses numbers and timestamps; otherwise **text**, which the server parses with
//!   each column's own input function, so an existing table with compatible but different types
//!   (`VARCHAR(40)`, `NUMERIC` for a float, a domain) still works. Either way values never
//!   become SQL text, so injection through values is impossible. The staging table is
//!   created per session `AS SELECT <columns> FROM <target> WITH NO DATA` (the target's exact
//!   types) with `ON COMMIT DELETE ROWS`, plus a boolean upsert/delete column.
//! - **Types** ([`types`]): BOOLEAN; SMALLINT/INTEGER/BIGINT; unsigned → the next wider signed
//!   type, `UInt64` → NUMERIC(20, 0); REAL/DOUBLE PRECISION; NUMERIC(p, s); TEXT; BYTEA; DATE;
//!   TIME; TIMESTAMP, or TIMESTAMPTZ for Arrow timestamps with a time zone; INTERVAL (durations
//!   and intervals); lists of scalars → arrays; nested lists, lists of structs and structs →
//!   JSONB. PostgreSQL keeps microseconds: nanosecond times are rounded by the server. Text
//!   containing NUL cannot be stored and fails the commit naming the column.
//! - **Identifiers** are always double-quoted and taken as written (no case folding); catalog
//!   lookups pass names as parameters ([`ddl`]). Names longer than 63 bytes are rejected at
//!   `create` (PostgreSQL would truncate them silently). User tables are never dropped or
//!   altered; an existing table is checked for every column and for a unique index on the key.
//! - **Sync commit over async tokio-postgres**: the sink owns a tokio runtime with one worker
//!   thread, created on the first commit; the commit runs in `block_on` on the caller's thread
//!   (the engine's sink thread) while the worker runs the connection task, so COPY encoding
//!   overlaps with sending. Rejected: a current-thread runtime (encoding and sending took
//!   turns), and the blocking `postgres` crate (it hides the same runtime).
//! - **Connection loss** ([`connection`]): any error on the wire drops the session; the next
//!   commit reconnects (sessions named `illunare-sink-<name>` in `pg_stat_activity`), with
//!   exponential backoff between failed attempts (100 ms doubling to 30 s, `tracing::warn!`);
//!   a commit during the wait fails at once rather than blocking the worker. The engine retries
//!   the same updates; the progress row makes the retry exact. A commit (with connecting) that
//!   exceeds `commit_timeout` is abandoned the same way.
//! - **Progress-only commits** (nothing new to write, frontier advanced) are written at most once
//!   per second; the final one (`frontier = None`) always is. A commit whose frontier is not
//!   beyond the stored one is a no-op without contacting the server.
//! - **Secrets**: every error and log line passes through [`connection::clean`], which removes
//!   the password in any form (URL, `password=` pairs, the decoded password).
//! - **No `batch_size` option**: COPY streams the commit in 1 MiB chunks, so a commit's size
//!   is bounded by the engine's commit interval, not by statement limits.
//!
//! # Limitations (known, not yet handled)
//!
//! - **TLS** ([`tls`]): `sslmode` from the URL (`prefer` by default), the server's certificate
//!   verified against `ssl_root_cert` when given.
//! - The staging table is a session temporary table: a pooler in *transaction* mode
//!   (pgbouncer `pool_mode = transaction`) between the sink and the server breaks it; connect
//!   directly or through session pooling.
//! - Two instances of one sink that both commit for the very first time (no progress row yet)
//!   at the same moment both apply their data (the row lock needs a row). Afterwards the row
//!   lock serialises them and each skips what the other applied.
//! - A replacement of a key's row from an earlier commit that the view does not retract
//!   (declared key not a key of the view, across commits) is applied as an update, not
//!   reported: detecting it would need a read of the table per commit.
//! - Column presence is checked on an existing table, not column types: an incompatible type
//!   fails the first commit with PostgreSQL's own error (named in the message).
//! - Timestamps and times are rounded to microseconds by PostgreSQL.

mod binary;
mod connection;
mod ddl;
mod error;
mod options;
mod tls;
mod types;
mod write;

use std::time::{Duration, Instant};

use illunare_connector::{ConnectorError, Diff, Row, Sink, SinkConnector, SinkSpec, Time};

pub use connection::application_name;
pub use ddl::PROGRESS_TABLE;
use connection::{Backoff, clean};
use ddl::Statements;
pub use error::PgSinkError;
use options::SinkOptions;
use write::{Session, time_i64};

/// Progress-only commits are written at most this often.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// The `postgres` sink connector.
#[derive(Debug, Default, Clone, Copy)]
pub struct PostgresSinkConnector;

impl SinkConnector for PostgresSinkConnector {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn create(&self, spec: &SinkSpec) -> Result<Box<dyn Sink>, ConnectorError> {
        let options = SinkOptions::parse(spec)?;
        let sql = Statements::new(&options);
        let def = PgSinkDef { name: spec.name.clone(), from: spec.from.clone(), options, sql };
        Ok(Box::new(PostgresSink {
            def,
            runtime: None,
            session: None,
            backoff: Backoff::default(),
            last_connect_error: None,
            stored: None,
            last_progress: None,
        }))
    }
}

/// Everything fixed at `create`: names, options, SQL text.
#[derive(Debug)]
pub(crate) struct PgSinkDef {
    pub name: String,
    pub from: String,
    pub options: SinkOptions,
    pub sql: Statements,
}

/// A running postgres sink.
pub struct PostgresSink {
    def: PgSinkDef,
    runtime: Option<tokio::runtime::Runtime>,
    session: Option<Session>,
    backoff: Backoff,
    last_connect_error: Option<String>,
    /// The progress row's frontier as last read or written: a lower bound of the real one.
    stored: Option<i64>,
    last_progress: Option<Instant>,
}

impl Sink for PostgresSink {
    fn commit(&mut self, updates: &[(Row, Time, Diff)], frontier: Option<Time>) -> Result<(), ConnectorError> {
        self.try_commit(updates, frontier).map_err(|e| ConnectorError::Other(clean(&self.def.options.url, &e.to_string())))
    }

    /// Upserts are netted per key and appends written as counted, whatever the order (`write`).
    fn takes_unordered_insertions(&self) -> bool {
        true
    }
}

impl PostgresSink {
    fn try_commit(&mut self, updates: &[(Row, Time, Diff)], frontier: Option<Time>) -> Result<(), PgSinkError> {
        let target = frontier.map_or(i64::MAX, time_i64);
        if let Some(stored) = self.stored {
            if target <= stored {
                return Ok(()); // every update here is before the stored frontier: applied
            }
            let nothing_new = updates.iter().all(|(_, t, _)| time_i64(*t) < stored);
            if nothing_new && frontier.is_some() && self.last_progress.is_some_and(|t| t.elapsed() < PROGRESS_INTERVAL) {
                return Ok(());
            }
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(PgSinkError::Runtime { sink: self.def.name.clone(), message: "commit was called from inside an async runtime".into() });
        }
        let runtime = match self.runtime.take() {
            Some(r) => r,
            // One worker thread runs the connection task (socket writes, server replies) while
            // the commit itself (reduction, COPY encoding) runs on the sink's thread in
            // `block_on`: encoding the next chunk overlaps with sending the last one. On a
            // current-thread runtime the two took turns (`bench pgsink`: 2.9 s of COPY for
            // 1M rows against 1.5 s for a client that overlaps them).
            None => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name(format!("pg-{}", self.def.name))
                .enable_all()
                .build()
                .map_err(|e| PgSinkError::Runtime { sink: self.def.name.clone(), message: format!("cannot start its I/O runtime: {e}") })?,
        };
        let timeout = self.def.options.commit_timeout;
        let result = runtime.block_on(async { tokio::time::timeout(timeout, self.commit_async(updates, target)).await });
        self.runtime = Some(runtime);
        let result = match result {
            Ok(r) => r,
            Err(_) => Err(PgSinkError::Timeout { sink: self.def.name.clone(), seconds: timeout.as_secs() }),
        };
        if let Err(e) = &result
            && e.drops_connection()
            && self.session.take().is_some()
        {
            tracing::warn!(sink = %self.def.name, "{}; the connection is dropped, the next commit reconnects", clean(&self.def.options.url, &e.to_string()));
        }
        result
    }

    async fn commit_async(&mut self, updates: &[(Row, Time, Diff)], target: i64) -> Result<(), PgSinkError> {
        if let Some(session) = &self.session {
            // Let the connection task read what arrived since the last commit (a termination
            // notice, EOF), so a dead session is noticed before using it.
            tokio::task::yield_now().await;
            if session.client.is_closed() {
                tracing::warn!(sink = %self.def.name, "connection to PostgreSQL was lost; reconnecting");
                self.session = None;
            }
        }
        if self.session.is_none() {
            let opened = self.open().await?;
            self.session = Some(opened);
        }
        let Some(session) = self.session.as_mut() else {
            return Err(PgSinkError::Runtime { sink: self.def.name.clone(), message: "no session after connecting".into() });
        };
        let outcome = write::commit(session, &self.def, updates, target).await?;
        tracing::debug!(sink = %self.def.name, rows = outcome.rows, skipped = outcome.skipped, frontier = outcome.frontier, "committed");
        self.stored = Some(outcome.frontier);
        self.last_progress = Some(Instant::now());
        Ok(())
    }

    /// Connects (respecting the backoff) and prepares a session.
    async fn open(&mut self) -> Result<Session, PgSinkError> {
        let name = &self.def.name;
        if let Some(wait) = self.backoff.remaining() {
            return Err(PgSinkError::Backoff {
                sink: name.clone(),
                url: self.def.options.shown_url(),
                wait_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                last: self.last_connect_error.clone().unwrap_or_default(),
            });
        }
        match write::open(&self.def).await {
            Ok(session) => {
                if self.last_connect_error.take().is_some() {
                    tracing::info!(sink = %name, "connected to {}", self.def.options.shown_url());
                }
                self.backoff.succeeded();
                Ok(session)
            }
            Err(e) => {
                let delay = self.backoff.failed();
                let message = clean(&self.def.options.url, &e.to_string());
                tracing::warn!(sink = %name, "{message}; next attempt in {} ms", delay.as_millis());
                self.last_connect_error = Some(message);
                Err(e)
            }
        }
    }
}
