//! One commit = one PostgreSQL transaction: read the progress row, apply the commit's net
//! change, write the progress row, `COMMIT`.
//!
//! ```text
//!   BEGIN
//!   SELECT table_name, frontier FROM illunare_sink_progress WHERE sink = $1 FOR UPDATE
//!   -- updates with time < stored frontier were applied by an earlier commit: skipped
//!   upsert: SAVEPOINT; COPY t (cols…) FROM STDIN; RELEASE     -- keys new to the view (copy_fresh)
//!           COPY pg_temp.illunare_staging (cols…, __illunare_upsert) FROM STDIN   (text format)
//!           DELETE FROM t USING staging s WHERE NOT s.__illunare_upsert AND t.k = s.k …
//!           INSERT INTO t (cols…) SELECT cols… FROM staging WHERE __illunare_upsert
//!             ON CONFLICT (key…) DO UPDATE SET c = EXCLUDED.c …   (DO NOTHING: all-key tables)
//!   append: COPY t (cols…) FROM STDIN
//!   INSERT INTO illunare_sink_progress … ON CONFLICT (sink) DO UPDATE …   (the new frontier)
//!   COMMIT                        -- the staging table empties itself (ON COMMIT DELETE ROWS)
//! ```
//!
//! Why the progress row is read inside the transaction (and locked), not only at start: the
//! table and the frontier then always agree, whatever happened before — a commit whose `COMMIT`
//! reply was lost with the connection (applied or not, the next attempt reads which), or a
//! second instance of the same sink (it waits for the row lock, then skips what the first
//! applied). It costs one round trip per commit.

use bytes::Bytes;
use futures_util::{SinkExt, pin_mut};
use illunare_types::{Diff, Row, Time, datum_to_text};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Statement, Transaction};

use crate::PgSinkDef;
use crate::binary::{self, Wire};
use illunare_connector::changes::{ReduceError, append, reduce};
use crate::connection::{connect, describe};
use crate::ddl::prepare;
use crate::error::PgSinkError;
use crate::options::Mode;
use crate::types::{COPY_NULL, Column, copy_escape, write_text};

/// COPY data is sent in chunks of about this many bytes.
const CHUNK_BYTES: usize = 1 << 20;

/// An open, prepared session.
pub struct Session {
    pub client: Client,
    read_progress: Statement,
    write_progress: Statement,
    /// Whether keys new to the view are COPYed straight into the table (see `copy_fresh`);
    /// cleared for the session once the table turns out to hold other rows.
    fresh_copy: bool,
    /// How COPY data is encoded for this table (see [`binary`]).
    format: CopyFormat,
}

/// The encoding of a session's COPY data: binary when every column of the table takes the
/// view column's binary form (always for tables the sink created), text otherwise.
#[derive(Debug, Clone, PartialEq)]
pub enum CopyFormat {
    Text,
    /// The binary type of each view column, in the view's order.
    Binary(Vec<Wire>),
}

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The progress row's frontier after the commit.
    pub frontier: i64,
    /// Rows copied to PostgreSQL (upserts, deletes, appended rows).
    pub rows: usize,
    /// Updates skipped because an earlier commit applied them.
    pub skipped: usize,
}

/// A time as stored in the progress row's `BIGINT`.
pub fn time_i64(t: Time) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// Connects and prepares a session (tables checked or created, staging table, statements).
pub async fn open(def: &PgSinkDef) -> Result<Session, PgSinkError> {
    let o = &def.options;
    let tls = crate::tls::connector(o.ssl_root_cert.as_deref())
        .map_err(|message| PgSinkError::Connect { sink: def.name.clone(), url: o.shown_url(), message })?;
    let client = connect(&o.config, &tls, &def.name, &o.url)
        .await
        .map_err(|e| PgSinkError::Connect { sink: def.name.clone(), url: o.shown_url(), message: describe(&e) })?;
    let table = prepare(&client, &def.name, o, &def.sql).await?;
    let format = match binary::plan(&o.columns, &table) {
        Some(wires) => CopyFormat::Binary(wires),
        None => {
            tracing::info!(sink = %def.name, table = %o.table_label(), "the table has column types the sink writes only as text: COPY uses the text format");
            CopyFormat::Text
        }
    };
    let statement = |e: tokio_postgres::Error| PgSinkError::postgres(&def.name, "preparing the progress statements", &e);
    let read_progress = client.prepare(&def.sql.read_progress).await.map_err(statement)?;
    let write_progress = client.prepare(&def.sql.write_progress).await.map_err(statement)?;
    Ok(Session { client, read_progress, write_progress, fresh_copy: true, format })
}

/// Applies `updates` (those not yet applied) and records `frontier`, atomically.
pub async fn commit(session: &mut Session, def: &PgSinkDef, updates: &[(Row, Time, Diff)], frontier: i64) -> Result<Outcome, PgSinkError> {
    let sink = def.name.as_str();
    let pg = |context: &'static str| move |e: tokio_postgres::Error| PgSinkError::postgres(sink, context, &e);
    let label = def.options.table_label();
    let tx = session.client.transaction().await.map_err(pg("beginning the transaction"))?;
    let stored = match tx.query_opt(&session.read_progress, &[&sink]).await.map_err(pg("reading the progress row"))? {
        None => 0,
        Some(row) => {
            let table: Option<String> = row.try_get(0).map_err(pg("reading the progress row"))?;
            let stored: Option<i64> = row.try_get(1).map_err(pg("reading the progress row"))?;
            if table.as_deref() == Some(label.as_str()) {
                stored.unwrap_or(0)
            } else {
                tracing::warn!(sink, "progress row names table {:?}, the sink now writes {label}: starting from the beginning", table.unwrap_or_default());
                0
            }
        }
    };
    if frontier <= stored {
        tx.rollback().await.map_err(pg("ending the transaction"))?;
        return Ok(Outcome { frontier: stored, rows: 0, skipped: updates.len() });
    }
    let live: Vec<&(Row, Time, Diff)> = updates.iter().filter(|(_, t, _)| time_i64(*t) >= stored).collect();
    let skipped = updates.len() - live.len();
    let mut rows = 0;
    match &def.options.mode {
        Mode::Upsert { key } => {
            // A commit of insertions only, into a table that holds only the view's rows, is
            // COPYed as it is: the table's primary key rejects a key twice (see `copy_fresh`;
            // the reduction below then explains what is wrong, or stages the rows).
            let mut copied = None;
            if session.fresh_copy && inserts_only(&live, key) {
                let mut fresh: Vec<(&Row, usize)> = live.iter().map(|(row, _, diff)| (row, diff.unsigned_abs())).collect();
                fresh.sort_unstable_by(|a, b| key_order(a.0, b.0, key));
                copied = copy_fresh(&tx, def, &session.format, &fresh).await?;
                if copied.is_none() {
                    session.fresh_copy = false;
                }
            }
            match copied {
                Some(n) => rows += n,
                None => rows += upsert_reduced(&tx, &mut session.fresh_copy, &session.format, def, &live, key).await?,
            }
        }
        Mode::Append { ignore_retractions } => {
            let inserts = append(live.iter().copied(), *ignore_retractions).map_err(|e| reduce_error(def, e))?;
            if !inserts.is_empty() {
                rows = copy(&tx, def, &session.format, &def.sql.copy_target, inserts.into_iter().map(|(row, n)| (row, n, None)), None).await.map_err(|e| e.into_sink(sink))?;
            }
        }
    }
    tx.execute(&session.write_progress, &[&sink, &label, &frontier]).await.map_err(pg("writing the progress row"))?;
    tx.commit().await.map_err(pg("committing"))?;
    Ok(Outcome { frontier, rows, skipped })
}

/// Whether every update is an insertion of a row with a complete key.
fn inserts_only(live: &[&(Row, Time, Diff)], key: &[usize]) -> bool {
    live.iter().all(|(row, _, diff)| *diff > 0 && key.iter().all(|&i| !row.get(i).is_null()))
}

/// Rows in key order: PostgreSQL then inserts into the key's B-tree index page after page
/// instead of all over it (measured: a million rows in arrival order took twice as long).
fn key_order(a: &Row, b: &Row, key: &[usize]) -> std::cmp::Ordering {
    key.iter().map(|&i| a.get(i).cmp(b.get(i))).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal)
}

/// The general upsert: the net change per key, keys new to the view COPYed into the table
/// when it holds only the view's rows, the rest staged and merged. Returns the rows copied.
async fn upsert_reduced(tx: &Transaction<'_>, fresh_copy: &mut bool, format: &CopyFormat, def: &PgSinkDef, live: &[&(Row, Time, Diff)], key: &[usize]) -> Result<usize, PgSinkError> {
    let sink = def.name.as_str();
    let pg = |context: &'static str| move |e: tokio_postgres::Error| PgSinkError::postgres(sink, context, &e);
    let reduction = reduce(live.iter().copied(), key).map_err(|e| reduce_error(def, e))?;
    let mut rows = 0;
    let mut staged_upserts: Vec<&Row> = Vec::with_capacity(reduction.upserts.len());
    let mut fresh: Vec<(&Row, usize)> = Vec::new();
    for (row, replaced) in reduction.upserts.iter().zip(&reduction.replaced) {
        if replaced.is_none() && *fresh_copy {
            fresh.push((row, 1));
        } else {
            staged_upserts.push(row);
        }
    }
    if !fresh.is_empty() {
        fresh.sort_unstable_by(|a, b| key_order(a.0, b.0, key));
        match copy_fresh(tx, def, format, &fresh).await? {
            Some(copied) => rows += copied,
            None => {
                *fresh_copy = false;
                staged_upserts.extend(fresh.iter().map(|(row, _)| *row));
            }
        }
    }
    if !staged_upserts.is_empty() || !reduction.deletes.is_empty() {
        staged_upserts.sort_unstable_by(|a, b| key_order(a, b, key));
        let staged = staged_upserts.iter().map(|r| (*r, true)).chain(reduction.deletes.iter().map(|r| (*r, false)));
        rows += copy(tx, def, format, &def.sql.copy_staging, staged.map(|(row, upsert)| (row, 1, Some(upsert))), Some(key)).await.map_err(|e| e.into_sink(sink))?;
        if !reduction.deletes.is_empty() {
            tx.batch_execute(&def.sql.merge_delete).await.map_err(pg("deleting the staged keys from the table"))?;
        }
        if !staged_upserts.is_empty() {
            tx.batch_execute(&def.sql.merge_insert).await.map_err(pg("upserting the staged rows into the table"))?;
        }
    }
    Ok(rows)
}

/// COPYs rows of keys new to the view straight into the table, under a savepoint: `Some(n)`
/// when that worked, `None` when a row's key was already in the table (the savepoint is rolled
/// back; the caller stages the rows instead and stops trying for this session).
///
/// Why this is the common case and still always correct: the table equals the view as of the
/// progress row's frontier (each commit is one transaction), so a key the view did not hold
/// before this commit (no retraction of it in the commit) is not in the table — unless
/// something else wrote the table, or it held rows before the sink first ran. Then PostgreSQL
/// refuses the COPY with a unique violation and the commit falls back to the staged
/// `INSERT … ON CONFLICT`, which is right in every case. The fast path spares the staging COPY
/// and PostgreSQL's speculative insertion for every new key: an insert-mostly view (events
/// keyed by id, windows keyed by window) is written at about the speed of a plain COPY into
/// the keyed table.
async fn copy_fresh(tx: &Transaction<'_>, def: &PgSinkDef, format: &CopyFormat, fresh: &[(&Row, usize)]) -> Result<Option<usize>, PgSinkError> {
    let sink = def.name.as_str();
    let pg = |context: &'static str| move |e: tokio_postgres::Error| PgSinkError::postgres(sink, context, &e);
    tx.batch_execute("SAVEPOINT illunare_fresh_keys").await.map_err(pg("setting a savepoint"))?;
    match copy(tx, def, format, &def.sql.copy_target, fresh.iter().map(|(row, times)| (*row, *times, None)), None).await {
        Ok(copied) => {
            tx.batch_execute("RELEASE SAVEPOINT illunare_fresh_keys").await.map_err(pg("releasing a savepoint"))?;
            Ok(Some(copied))
        }
        Err(CopyError::Server(e)) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            tx.batch_execute("ROLLBACK TO SAVEPOINT illunare_fresh_keys").await.map_err(pg("rolling back to a savepoint"))?;
            tracing::info!(
                sink,
                table = %def.options.table_label(),
                "the table holds rows the view did not write (e.g. from before the sink's first run): \
                 every commit now goes through the staged INSERT … ON CONFLICT ({})",
                describe(&e)
            );
            Ok(None)
        }
        Err(e) => Err(e.into_sink(sink)),
    }
}

/// Why a COPY failed: a row that cannot be encoded, or an error from the server.
enum CopyError {
    Encode(PgSinkError),
    Server(tokio_postgres::Error),
}

impl CopyError {
    fn into_sink(self, sink: &str) -> PgSinkError {
        match self {
            CopyError::Encode(e) => e,
            CopyError::Server(e) => PgSinkError::postgres(sink, "copying rows", &e),
        }
    }
}

/// Streams rows through `COPY … FROM STDIN` in `format`. Each item is a row, how many times
/// to write it, and for the staging table whether it is an upsert (a delete writes only the
/// key columns of `key`).
async fn copy<'a>(
    tx: &Transaction<'_>,
    def: &PgSinkDef,
    format: &CopyFormat,
    statement: &str,
    rows: impl Iterator<Item = (&'a Row, usize, Option<bool>)>,
    key: Option<&[usize]>,
) -> Result<usize, CopyError> {
    let sink = def.name.as_str();
    let pg = CopyError::Server;
    let columns = &def.options.columns;
    let encode_error = |(column, message)| CopyError::Encode(PgSinkError::Encode { sink: sink.to_string(), column, message });
    let statement = match format {
        CopyFormat::Text => statement.to_string(),
        CopyFormat::Binary(_) => format!("{statement} (FORMAT binary)"),
    };
    let writer = tx.copy_in::<_, Bytes>(statement.as_str()).await.map_err(pg)?;
    pin_mut!(writer);
    let mut buffer: Vec<u8> = Vec::with_capacity(CHUNK_BYTES + 4096);
    if let CopyFormat::Binary(_) = format {
        buffer.extend_from_slice(binary::HEADER);
    }
    let mut line = String::new();
    let mut scratch = String::new();
    let mut count = 0;
    for (row, times, upsert) in rows {
        if times == 0 {
            continue;
        }
        let only_key = if upsert == Some(false) { key } else { None };
        // Each row is encoded once, into the chunk itself (binary) or through one line (text),
        // and repeated in place when it is written more than once.
        let start = buffer.len();
        match format {
            CopyFormat::Text => {
                line.clear();
                encode_row(&mut line, &mut scratch, row, columns, only_key).map_err(encode_error)?;
                if let Some(upsert) = upsert {
                    line.push('\t');
                    line.push(if upsert { 't' } else { 'f' });
                }
                line.push('\n');
                buffer.extend_from_slice(line.as_bytes());
            }
            CopyFormat::Binary(wires) => binary::encode_row(&mut buffer, row, columns, wires, only_key, upsert).map_err(encode_error)?,
        }
        for _ in 1..times {
            buffer.extend_from_within(start..);
        }
        count += times;
        if buffer.len() >= CHUNK_BYTES {
            let chunk = std::mem::replace(&mut buffer, Vec::with_capacity(CHUNK_BYTES + 4096));
            writer.send(Bytes::from(chunk)).await.map_err(pg)?;
        }
    }
    if let CopyFormat::Binary(_) = format {
        buffer.extend_from_slice(&binary::TRAILER);
    }
    writer.send(Bytes::from(buffer)).await.map_err(pg)?;
    writer.as_mut().finish().await.map_err(pg)?;
    Ok(count)
}

/// One row as a COPY text line (without the newline); with `only`, other columns are NULL.
fn encode_row(out: &mut String, scratch: &mut String, row: &Row, columns: &[Column], only: Option<&[usize]>) -> Result<(), (String, String)> {
    if row.len() != columns.len() {
        return Err((String::new(), format!("row has {} values, the relation has {} columns", row.len(), columns.len())));
    }
    for (i, (datum, column)) in row.iter().zip(columns).enumerate() {
        if i > 0 {
            out.push('\t');
        }
        if datum.is_null() || only.is_some_and(|k| !k.contains(&i)) {
            out.push_str(COPY_NULL);
            continue;
        }
        scratch.clear();
        write_text(scratch, datum, &column.data_type, &column.pg).map_err(|e| (column.name.clone(), e.to_string()))?;
        copy_escape(out, scratch);
    }
    Ok(())
}

fn row_text(row: &Row, columns: &[Column]) -> String {
    let values: Vec<String> = row.iter().zip(columns).map(|(d, c)| datum_to_text(d, &c.data_type)).collect();
    format!("({})", values.join(", "))
}

fn reduce_error(def: &PgSinkDef, e: ReduceError<'_>) -> PgSinkError {
    let columns = &def.options.columns;
    let sink = def.name.clone();
    match e {
        ReduceError::DuplicateKey { key, count, rows } => {
            let key_columns: Vec<&Column> = def.options.key_names().iter().filter_map(|k| columns.iter().find(|c| c.name == *k)).collect();
            let value: Vec<String> = key.iter().zip(&key_columns).map(|(d, c)| datum_to_text(d, &c.data_type)).collect();
            let shown: Vec<String> = rows.iter().take(3).map(|r| row_text(r, columns)).collect();
            let names: Vec<&str> = key_columns.iter().map(|c| c.name.as_str()).collect();
            PgSinkError::DuplicateKey {
                sink,
                from: def.from.clone(),
                key: format!("({}) = ({})", names.join(", "), value.join(", ")),
                rows: format!("{count} live rows ({}{})", shown.join(", "), if rows.len() > 3 { ", …" } else { "" }),
            }
        }
        ReduceError::NullKey { column, row } => {
            PgSinkError::NullKey { sink, column: columns.get(column).map(|c| c.name.clone()).unwrap_or_default(), row: row_text(row, columns) }
        }
        ReduceError::Retraction { row, time } => PgSinkError::NotAppendOnly { sink, from: def.from.clone(), row: row_text(row, columns), time },
    }
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::DataType;
    use illunare_types::Datum;

    use super::*;
    use crate::types::PgType;

    #[test]
    fn rows_become_copy_lines() {
        let columns = vec![
            Column { name: "k".into(), data_type: DataType::Int64, pg: PgType::Int8 },
            Column { name: "v".into(), data_type: DataType::Utf8, pg: PgType::Text },
        ];
        let (mut out, mut scratch) = (String::new(), String::new());
        let row = Row(vec![Datum::Int(1), Datum::str("a\tb\\")]);
        encode_row(&mut out, &mut scratch, &row, &columns, None).unwrap();
        assert_eq!(out, "1\ta\\tb\\\\");
        out.clear();
        encode_row(&mut out, &mut scratch, &row, &columns, Some(&[0])).unwrap();
        assert_eq!(out, "1\t\\N");
        out.clear();
        encode_row(&mut out, &mut scratch, &Row(vec![Datum::Null, Datum::Null]), &columns, None).unwrap();
        assert_eq!(out, "\\N\t\\N");
        assert!(encode_row(&mut out, &mut scratch, &Row(vec![Datum::Int(1)]), &columns, None).is_err());
    }
}
