//! `bench backfill`: a group-by over historical Parquet files, illunare's `parquet` source
//! (a bounded pipeline, startup included) against DataFusion running the same query on the same
//! files, in the same run. Both must give the same answer. Target: within 1.5× of DataFusion.
//!
//! The files are the `transactions` generator's rows, split over `files` files of row groups of
//! 128k rows, written once before anything is timed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use illunare_coord::oracle::{canonical, same_answer};
use illunare_types::batch_to_rows;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

const QUERY: &str = "SELECT merchant, count(*) AS n, sum(amount) AS total, max(amount) AS largest FROM tx WHERE amount > 20 GROUP BY merchant";

fn write_files(dir: &std::path::Path, rows: u64, files: u64) -> Result<()> {
    let per_file = rows.div_ceil(files);
    let mut batches = illunare_source_generator::generate_batches("transactions", rows, 1, 8192).map_err(|e| anyhow!("{e}"))?;
    let props = WriterProperties::builder().set_max_row_group_row_count(Some(128 * 1024)).build();
    for f in 0..files {
        let mut written = 0u64;
        let mut writer: Option<ArrowWriter<std::fs::File>> = None;
        while written < per_file {
            let Some(batch) = batches.next() else { break };
            let batch = batch.map_err(|e| anyhow!("{e}"))?;
            if writer.is_none() {
                let file = std::fs::File::create(dir.join(format!("part-{f:03}.parquet")))?;
                writer = Some(ArrowWriter::try_new(file, batch.schema(), Some(props.clone()))?);
            }
            written += batch.num_rows() as u64;
            writer.as_mut().map(|w| w.write(&batch)).transpose()?;
        }
        if let Some(w) = writer {
            w.close()?;
        }
    }
    Ok(())
}

fn datafusion(dir: &std::path::Path) -> Result<(f64, Vec<String>, arrow::datatypes::SchemaRef)> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let started = Instant::now();
        let ctx = SessionContext::new();
        ctx.register_parquet("tx", dir.to_string_lossy().as_ref(), ParquetReadOptions::default()).await?;
        let df = ctx.sql(QUERY).await?;
        let schema: arrow::datatypes::SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        let seconds = started.elapsed().as_secs_f64();
        let rows: Vec<_> = batches.iter().map(batch_to_rows).collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect();
        Ok((seconds, canonical(&rows, &schema), schema))
    })
}

fn illunare(dir: &std::path::Path, workers: usize, schema: &arrow::datatypes::SchemaRef) -> Result<(f64, Vec<String>)> {
    let text = format!(
        "CREATE SOURCE tx (tx_id BIGINT, card_id VARCHAR, merchant VARCHAR, amount DOUBLE, ts TIMESTAMP)
           WITH (connector = 'parquet', path = '{}');
         CREATE MATERIALIZED VIEW v AS {QUERY};",
        dir.display()
    );
    let (seconds, rows) = crate::run_bounded(&text, workers, Duration::from_millis(100), Some("v"))?;
    Ok((seconds, canonical(&rows, schema)))
}

pub fn run(rows: u64, files: u64, workers: usize, rounds: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    eprintln!("writing {rows} rows into {files} Parquet files…");
    write_files(dir.path(), rows, files)?;
    let (mut best_df, mut best_ill) = (f64::MAX, f64::MAX);
    for round in 1..=rounds {
        let (t, expected, schema) = datafusion(dir.path())?;
        let (t2, got) = illunare(dir.path(), workers, &schema)?;
        if !same_answer(&got, &expected) {
            bail!("illunare's answer differs from DataFusion's ({} vs {} rows)", got.len(), expected.len());
        }
        best_df = best_df.min(t);
        best_ill = best_ill.min(t2);
        println!("round {round}: DataFusion {:.0} rows/s, illunare ({workers} workers) {:.0} rows/s", rows as f64 / t, rows as f64 / t2);
    }
    println!(
        "best: DataFusion {:.0} rows/s ({best_df:.2} s); illunare parquet backfill {:.0} rows/s ({best_ill:.2} s); illunare/DataFusion time {:.2}×",
        rows as f64 / best_df,
        rows as f64 / best_ill,
        best_ill / best_df
    );
    Ok(())
}
