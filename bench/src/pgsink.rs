//! `bench pgsink`: rows/s of illunare's `postgres` sink against `COPY` of the same rows into the
//! same table shape, on the same PostgreSQL (`scripts/postgres.sh`), in the same run.
//!
//! The rows are the `transactions` generator's (`tx_id, card_id, merchant, amount, ts`). The
//! reference formats them as COPY text and streams them with tokio-postgres `COPY … FROM STDIN`
//! (generation not timed, formatting timed: it is the client's work). illunare runs generator →
//! view → sink, in append mode and in upsert mode (primary key `tx_id`), startup included, and
//! each table is checked to hold every row. The upsert mode is compared with COPY into a table
//! with the same primary key (the index is part of the work). Target: the sink ≥ 70% of COPY.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMillisecondType};
use bytes::Bytes;
use futures::SinkExt;
use tokio_postgres::NoTls;

const COLUMNS: &str = "tx_id, card_id, merchant, amount, ts";

fn pg_url() -> Result<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres.sh");
    let out = Command::new("bash").arg(script).output().context("run scripts/postgres.sh")?;
    if !out.status.success() {
        bail!("scripts/postgres.sh failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().trim().to_string())
}

async fn client(url: &str) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// The generator's rows as COPY text chunks (not timed).
fn generate(rows: u64) -> Result<Vec<arrow::record_batch::RecordBatch>> {
    let batches = illunare_source_generator::generate_batches("transactions", rows, 1, 8192).map_err(|e| anyhow!("{e}"))?;
    batches.map(|b| b.map_err(|e| anyhow!("{e}"))).collect()
}

fn copy_text(batch: &arrow::record_batch::RecordBatch) -> Vec<u8> {
    let schema = batch.schema();
    let col = |name: &str, to: &arrow::datatypes::DataType| -> Result<arrow::array::ArrayRef> {
        let array = batch.column(schema.index_of(name)?);
        Ok(arrow::compute::cast(array, to)?)
    };
    use arrow::datatypes::{DataType, TimeUnit};
    let ms = DataType::Timestamp(TimeUnit::Millisecond, None);
    let (Ok(id), Ok(card), Ok(merchant), Ok(amount), Ok(ts)) =
        (col("tx_id", &DataType::Int64), col("card_id", &DataType::Utf8), col("merchant", &DataType::Utf8), col("amount", &DataType::Float64), col("ts", &ms))
    else {
        return Vec::new();
    };
    let (id, card, merchant, amount) = (id.as_primitive::<Int64Type>(), card.as_string::<i32>(), merchant.as_string::<i32>(), amount.as_primitive::<Float64Type>());
    let ts = ts.as_primitive::<TimestampMillisecondType>();
    let mut out = Vec::with_capacity(batch.num_rows() * 64);
    for i in 0..batch.num_rows() {
        let t = chrono::DateTime::from_timestamp_millis(ts.value(i)).map(|d| d.naive_utc().to_string()).unwrap_or_default();
        let amount = if amount.is_null(i) { "\\N".to_string() } else { amount.value(i).to_string() };
        out.extend_from_slice(format!("{}\t{}\t{}\t{amount}\t{t}\n", id.value(i), card.value(i), merchant.value(i)).as_bytes());
    }
    out
}

/// COPY into a fresh table, with `tx_id` as its primary key when `keyed` (the upsert mode's
/// table has that index to maintain too).
async fn reference_copy(url: &str, batches: &[arrow::record_batch::RecordBatch], keyed: bool) -> Result<f64> {
    let c = client(url).await?;
    let key = if keyed { " PRIMARY KEY" } else { "" };
    c.batch_execute(&format!(
        "DROP TABLE IF EXISTS bench_copy; CREATE TABLE bench_copy (tx_id BIGINT{key}, card_id TEXT, merchant TEXT, amount DOUBLE PRECISION, ts TIMESTAMP)"
    ))
    .await?;
    let started = Instant::now();
    let sink = c.copy_in(&format!("COPY bench_copy ({COLUMNS}) FROM STDIN")).await?;
    futures::pin_mut!(sink);
    for batch in batches {
        sink.send(Bytes::from(copy_text(batch))).await?;
    }
    sink.finish().await?;
    Ok(started.elapsed().as_secs_f64())
}

fn illunare(url: &str, rows: u64, workers: usize, table: &str, mode: &str) -> Result<f64> {
    let keyed = if mode == "upsert" { ", primary_key = 'tx_id'" } else { "" };
    // The reference connects without TLS; so does the sink here (the local server offers TLS,
    // which the sink's default `sslmode=prefer` would take).
    let url = format!("{url}{}sslmode=disable", if url.contains('?') { '&' } else { '?' });
    let text = format!(
        "CREATE SOURCE tx (tx_id BIGINT, card_id VARCHAR, merchant VARCHAR, amount DOUBLE, ts TIMESTAMP)
           WITH (connector = 'generator', kind = 'transactions', rows = '{rows}', seed = '1');
         CREATE VIEW all_tx AS SELECT {COLUMNS} FROM tx;
         CREATE SINK s FROM all_tx WITH (connector = 'postgres', url = '{url}', table = '{table}', mode = '{mode}', create_table = 'true'{keyed});"
    );
    Ok(crate::run_bounded(&text, workers, Duration::from_millis(500), None)?.0)
}

async fn count(url: &str, table: &str) -> Result<i64> {
    let c = client(url).await?;
    Ok(c.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await?.get(0))
}

pub fn run(rows: u64, workers: usize) -> Result<()> {
    let url = pg_url()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let batches = generate(rows)?;
    let mut results = Vec::new();
    for mode in ["append", "upsert"] {
        let copy_s = runtime.block_on(reference_copy(&url, &batches, mode == "upsert"))?;
        results.push((if mode == "append" { "COPY" } else { "COPY, primary key" }, copy_s, copy_s));
        let table = format!("bench_sink_{mode}");
        runtime.block_on(async { client(&url).await?.batch_execute(&format!("DROP TABLE IF EXISTS {table}")).await.map_err(anyhow::Error::from) })?;
        let seconds = illunare(&url, rows, workers, &table, mode)?;
        let n = runtime.block_on(count(&url, &table))?;
        if n != rows as i64 {
            bail!("{table} holds {n} rows, expected {rows}");
        }
        results.push((if mode == "append" { "illunare sink, append" } else { "illunare sink, upsert" }, seconds, copy_s));
    }
    for (name, seconds, reference) in &results {
        println!("{name:<24} {:>10.0} rows/s  ({seconds:.2} s)  ratio to its COPY {:.2}", rows as f64 / seconds, reference / seconds);
    }
    Ok(())
}
