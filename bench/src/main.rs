//! `bench`: throughput of illunare against DataFusion batch on the same rows, same run.
//!
//! `bench throughput --rows 10000000` runs generator → filter → group-by as a pipeline with 1
//! and 2 workers, and DataFusion's batch query over the same rows twice: over rows generated into
//! memory first (generation not timed: the strictest reference) and reading the very same
//! generator source as a 2-partition stream (the same work illunare does). It prints rows/s
//! for each and the ratios, and checks that all give the same answer. Absolute times on shared
//! machines are noise; the ratios are the figures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::StreamExt;
use illunare_coord::oracle::{canonical, same_answer};
use illunare_coord::{Pipeline, RunOptions};
use illunare_dataflow::ClusterConfig;
use illunare_types::batch_to_rows;

/// mimalloc instead of glibc's malloc: rows are small vectors allocated and freed by the
/// million, and glibc's allocator spent ~40% of Nexmark q5's time (and its arena locks
/// contended between workers); see bench/RESULTS.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod backfill;
mod kafka;
mod modbus;
mod nexmark;
mod pgsink;
mod serve;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// generator → filter → group-by vs DataFusion batch.
    Throughput {
        #[arg(long, default_value_t = 10_000_000)]
        rows: u64,
        #[arg(long, default_value = "1,2")]
        workers: String,
        /// The view's query over `tx` (tx_id, card_id, merchant, amount, ts).
        #[arg(long, default_value = QUERY)]
        query: String,
    },
    /// State of a sliding-window aggregate over time: resident memory as the run progresses,
    /// with windows closing on the watermark (event time) and without (processing time).
    Windows {
        #[arg(long, default_value_t = 2_000_000)]
        events: u64,
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// Run one mode in this process (`event` | `processing`); both, in child processes, when absent.
        #[arg(long)]
        only: Option<String>,
    },
    /// Nexmark: each `pipelines/nexmark/qN.sql` over N events, one child process per query:
    /// events/s, peak resident memory, largest state (arranged + pending updates).
    Nexmark {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Comma-separated query numbers (default: every file present).
        #[arg(long)]
        queries: Option<String>,
        /// Run this one query in this process.
        #[arg(long)]
        only: Option<String>,
        /// Read the events from the CSV files `illunare generate nexmark --format csv` wrote to
        /// this directory (person.csv, auction.csv, bid.csv) instead of the generator.
        #[arg(long)]
        data: Option<std::path::PathBuf>,
        /// With `--only`: write the view's final rows to this file as JSON lines (bench/flink.sh).
        #[arg(long)]
        dump: Option<std::path::PathBuf>,
        /// Send the query's result to a `blackhole` sink instead of keeping it in a
        /// materialized view (what Flink's blackhole sink does in bench/flink.sh).
        #[arg(long)]
        blackhole: bool,
        /// Run the windowed queries as always-current views: drop their `EMIT ON WINDOW CLOSE`,
        /// so every open window is updated at each tick instead of emitted once when it closes.
        #[arg(long)]
        always_current: bool,
    },
    /// Modbus: simulated units polled by illunare's source and by a bare tokio-modbus loop:
    /// polls/s, register-change-to-row latency p50/p99, CPU.
    /// Kafka source (JSON) vs a bare rdkafka consume + arrow-json decode loop, same topic.
    Kafka {
        #[arg(long, default_value_t = 1_000_000)]
        records: u64,
        #[arg(long, default_value_t = 2)]
        partitions: i32,
        #[arg(long, default_value_t = 2)]
        workers: usize,
        #[arg(long, default_value_t = 2)]
        rounds: usize,
    },
    /// Postgres sink (append and upsert) vs COPY of the same rows into the same table shape.
    Pgsink {
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        #[arg(long, default_value_t = 2)]
        workers: usize,
    },
    /// A group-by over Parquet files: illunare's parquet source vs DataFusion on the same files.
    Backfill {
        #[arg(long, default_value_t = 10_000_000)]
        rows: u64,
        #[arg(long, default_value_t = 8)]
        files: u64,
        #[arg(long, default_value_t = 2)]
        workers: usize,
        #[arg(long, default_value_t = 2)]
        rounds: usize,
    },
    /// HTTP point lookups on a materialized view under open-loop load (vs GET /health).
    Lookups {
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        #[arg(long, default_value_t = 10_000.0)]
        rate: f64,
        #[arg(long, default_value_t = 32)]
        connections: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// Change-stream fan-out: SSE clients on one view while a generator changes it.
    Fanout {
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Generator rows/s (each changes one group: a retraction and an insertion).
        #[arg(long, default_value_t = 5000)]
        rate: u64,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long, default_value_t = 10)]
        tick_ms: u64,
    },
    Modbus {
        #[arg(long, default_value_t = 200)]
        devices: u16,
        /// Poll interval in ms (100 = 10 Hz).
        #[arg(long, default_value_t = 100)]
        interval_ms: u64,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// The pipeline's timestamp granularity (its latency floor).
        #[arg(long, default_value_t = 10)]
        tick_ms: u64,
        /// Internal: serve the simulated devices from this port on.
        #[arg(long)]
        serve: Option<u16>,
    },
}

const WINDOW_QUERY: &str = "SELECT auction, window_end, count(*) AS bids, max(price) AS top FROM HOP(bid, date_time, INTERVAL '5' SECOND, INTERVAL '10' SECOND) GROUP BY auction, window_end";

/// A memory figure of this process from /proc/self/status (`VmRSS`, `VmHWM`…) in MiB.
pub(crate) fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// One run of the window pipeline; prints RSS at every tenth of the input.
fn windows_run(events: u64, workers: usize, mode: &str) -> Result<()> {
    let watermark = if mode == "event" { ", WATERMARK FOR date_time AS date_time - INTERVAL '1' SECOND" } else { "" };
    let text = format!(
        "CREATE SOURCE bid (auction BIGINT, price BIGINT, date_time TIMESTAMP{watermark}) \
         WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '{events}', seed = '1');\n\
         CREATE VIEW v AS {WINDOW_QUERY};"
    );
    let mut pipeline = Pipeline::load(&text, &registry()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let tick = std::env::var("ILLUNARE_TICK_MS").ok().and_then(|t| t.parse().ok()).unwrap_or(100);
    let options = RunOptions { cluster: ClusterConfig { workers, ..Default::default() }, capture_all: false, tick: Duration::from_millis(tick), ..RunOptions::default() };
    let start = Instant::now();
    pipeline.start(&options).map_err(|e| anyhow::anyhow!("{e}"))?;
    pipeline.close_tables();
    let bids = events * 46 / 50;
    let metrics = pipeline.source_metrics();
    let mut next = 1;
    let mut samples = Vec::new();
    while !pipeline.is_finished() {
        let read: u64 = metrics.iter().map(|(_, m)| m.rows.load(std::sync::atomic::Ordering::Relaxed)).sum();
        if next <= 10 && read * 10 >= bids * next {
            let (arranged, pending) = pipeline.state_size();
            samples.push(format!("{}%: {arranged} arranged + {pending} pending updates, {:.0} MiB", next * 10, status_mib("VmRSS:")));
            next += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    pipeline.join().map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{mode} time: {bids} bids in {:.2}s; state as the input is read: {}", start.elapsed().as_secs_f64(), samples.join("; "));
    Ok(())
}

const QUERY: &str = "SELECT merchant, count(*) AS n, sum(amount) AS total, max(amount) AS largest FROM tx WHERE amount > 20 GROUP BY merchant";

pub(crate) fn registry() -> illunare_connector::Registry {
    let mut r = illunare_connector::Registry::default();
    r.add_source(Arc::new(illunare_source_generator::GeneratorConnector))
        .add_source(Arc::new(illunare_source_file::FileSourceConnector))
        .add_source(Arc::new(illunare_source_kafka::KafkaSourceConnector))
        .add_source(Arc::new(illunare_source_parquet::ParquetSourceConnector));
    r.add_sink(Arc::new(illunare_sink_file::BlackholeSinkConnector)).add_sink(Arc::new(illunare_sink_postgres::PostgresSinkConnector));
    r
}

/// Runs a pipeline over bounded sources to its end (startup included in the time): the
/// seconds it took and the final rows of `view` (if any).
pub(crate) fn run_bounded(text: &str, workers: usize, commit_interval: Duration, view: Option<&str>) -> Result<(f64, Vec<illunare_types::Row>)> {
    let started = Instant::now();
    let mut pipeline = Pipeline::load(text, &registry()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let options = RunOptions {
        cluster: ClusterConfig { workers, ..Default::default() },
        capture_all: false,
        commit_interval,
        tick: Duration::from_millis(100),
    };
    pipeline.start(&options).map_err(|e| anyhow::anyhow!("{e}"))?;
    pipeline.close_tables();
    while !pipeline.is_finished() {
        std::thread::sleep(Duration::from_millis(2));
    }
    let seconds = started.elapsed().as_secs_f64();
    let rows = view.and_then(|v| pipeline.final_rows(v)).unwrap_or_default();
    pipeline.join().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((seconds, rows))
}

fn pipeline_text(rows: u64, query: &str) -> String {
    format!(
        "CREATE SOURCE tx (tx_id BIGINT, card_id VARCHAR, merchant VARCHAR, amount DOUBLE, ts TIMESTAMP) \
         WITH (connector = 'generator', kind = 'transactions', rows = '{rows}', seed = '1');\n\
         CREATE MATERIALIZED VIEW v AS {query};"
    )
}

/// One DataFusion partition reading some of a source's splits, one after the other.
#[derive(Debug)]
struct SplitsPartition {
    schema: arrow::datatypes::SchemaRef,
    splits: Vec<illunare_connector::Split>,
    source: SourceHandle,
}

struct SourceHandle(Arc<dyn illunare_connector::Source>);

impl std::fmt::Debug for SourceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("source")
    }
}

impl PartitionStream for SplitsPartition {
    fn schema(&self) -> &arrow::datatypes::SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<datafusion::execution::TaskContext>) -> datafusion::execution::SendableRecordBatchStream {
        let source = self.source.0.clone();
        let splits = self.splits.clone();
        let batches = futures::stream::iter(splits)
            .then(move |split| {
                let source = source.clone();
                async move {
                    let mut reader = source.open(&split, None).map_err(|e| DataFusionError::External(Box::new(e)))?;
                    let mut out = Vec::new();
                    // A generator split is read to its end before the next one starts.
                    while let Some(chunk) = reader.next().await.map_err(|e| DataFusionError::External(Box::new(e)))? {
                        out.push(Ok(chunk.batch));
                    }
                    Ok::<_, DataFusionError>(futures::stream::iter(out))
                }
            })
            .map(|r| match r {
                Ok(s) => s.left_stream(),
                Err(e) => futures::stream::iter(vec![Err(e)]).right_stream(),
            })
            .flatten();
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), batches))
    }
}

/// DataFusion reading the pipeline's own generator source (2 partitions over its splits).
async fn datafusion_streaming_run(rows: u64, query: &str) -> Result<(Duration, Vec<String>)> {
    let pipeline = Pipeline::load(&pipeline_text(rows, query), &registry()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let source = pipeline.source("tx").context("source tx")?;
    let schema = source.schema();
    let splits = source.splits()?;
    let partitions: Vec<Arc<dyn PartitionStream>> = (0..2)
        .map(|p| {
            let mine = splits.iter().enumerate().filter(|(i, _)| i % 2 == p).map(|(_, s)| s.clone()).collect();
            Arc::new(SplitsPartition { schema: schema.clone(), splits: mine, source: SourceHandle(source.clone()) }) as Arc<dyn PartitionStream>
        })
        .collect();
    timed_query(Arc::new(StreamingTable::try_new(schema, partitions)?), query).await
}

/// Runs `query` over `tx` = `table` with 2 target partitions: (query time, canonical answer).
async fn timed_query(table: Arc<dyn datafusion::catalog::TableProvider>, query: &str) -> Result<(Duration, Vec<String>)> {
    let mut config = datafusion::prelude::SessionConfig::new();
    config.options_mut().execution.target_partitions = 2;
    let ctx = datafusion::prelude::SessionContext::new_with_config(config);
    ctx.register_table("tx", table)?;
    let start = Instant::now();
    let result = ctx.sql(query).await?.collect().await?;
    let elapsed = start.elapsed();
    let mut out = Vec::new();
    for b in &result {
        out.extend(batch_to_rows(b)?);
    }
    let schema = result.first().map(|b| b.schema()).context("no result")?;
    Ok((elapsed, canonical(&out, &schema)))
}

fn illunare_run(rows: u64, workers: usize, query: &str) -> Result<(Duration, Vec<String>)> {
    let text = pipeline_text(rows, query);
    let mut pipeline = Pipeline::load(&text, &registry()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let options = RunOptions { cluster: ClusterConfig { workers, ..Default::default() }, capture_all: false, commit_interval: Duration::from_secs(1), ..RunOptions::default() };
    let start = Instant::now();
    pipeline.start(&options).map_err(|e| anyhow::anyhow!("{e}"))?;
    pipeline.close_tables();
    while !pipeline.is_finished() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = start.elapsed();
    let schema = pipeline.planner.catalog()["v"].schema.clone();
    let rows = pipeline.final_rows("v").context("view v not captured")?;
    pipeline.join().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((elapsed, canonical(&rows, &schema)))
}

async fn datafusion_run(rows: u64, query: &str) -> Result<(Duration, Vec<String>)> {
    let batches: Vec<_> = illunare_source_generator::generate_batches("transactions", rows, 1, 8192)?.collect::<Result<_, _>>()?;
    let schema = batches.first().map(|b| b.schema()).context("no rows")?;
    let partitions: Vec<Vec<_>> = batches.chunks(batches.len().div_ceil(2).max(1)).map(|c| c.to_vec()).collect();
    timed_query(Arc::new(MemTable::try_new(schema, partitions)?), query).await
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Lookups { rows, rate, connections, seconds } => serve::lookups(rows, rate, connections, seconds)?,
        Command::Fanout { clients, rate, seconds, tick_ms } => serve::fanout(clients, rate, seconds, tick_ms)?,
        Command::Nexmark { events, workers, queries, only, data, dump, blackhole, always_current } => match only {
            Some(query) => nexmark::run(&query, events, workers, data.as_deref(), dump.as_deref(), blackhole, always_current)?,
            None => {
                let mut names: Vec<String> = match queries {
                    Some(list) => list.split(',').map(|q| format!("q{}", q.trim().trim_start_matches('q'))).collect(),
                    None => std::fs::read_dir("pipelines/nexmark")?
                        .filter_map(|e| e.ok()?.file_name().into_string().ok())
                        .filter_map(|n| n.strip_suffix(".sql").map(str::to_string))
                        .collect(),
                };
                names.sort_by_key(|n| n.trim_start_matches('q').parse::<u32>().unwrap_or(u32::MAX));
                println!("Nexmark, {workers} worker(s), dev/release as built; one process per query");
                println!("| query | events | seconds | events/s | peak RSS MiB | largest state (updates) |");
                println!("| --- | --- | --- | --- | --- | --- |");
                for name in names {
                    let mut child = std::process::Command::new(std::env::current_exe()?);
                    child.args(["nexmark", "--events", &events.to_string(), "--workers", &workers.to_string(), "--only", &name]);
                    if let Some(dir) = &data {
                        child.arg("--data").arg(dir);
                    }
                    if blackhole {
                        child.arg("--blackhole");
                    }
                    if always_current {
                        child.arg("--always-current");
                    }
                    let output = child.output()?;
                    if output.status.success() {
                        print!("{}", String::from_utf8_lossy(&output.stdout));
                    } else {
                        let why = String::from_utf8_lossy(&output.stderr);
                        let first = why.lines().find(|l| l.contains("error")).unwrap_or("failed").trim().to_string();
                        println!("| {name} | {events} | — | — | — | not run: {first} |");
                    }
                }
            }
        },
        Command::Kafka { records, partitions, workers, rounds } => kafka::run(records, partitions, workers, rounds)?,
        Command::Pgsink { rows, workers } => pgsink::run(rows, workers)?,
        Command::Backfill { rows, files, workers, rounds } => backfill::run(rows, files, workers, rounds)?,
        Command::Modbus { devices, interval_ms, seconds, workers, tick_ms, serve } => match serve {
            Some(base) => modbus::serve(base, devices)?,
            None => modbus::run(devices, interval_ms, seconds, workers, tick_ms)?,
        },
        Command::Windows { events, workers, only } => match only {
            Some(mode) => windows_run(events, workers, &mode)?,
            None => {
                println!("query: {WINDOW_QUERY}");
                for mode in ["event", "processing"] {
                    let status = std::process::Command::new(std::env::current_exe()?)
                        .args(["windows", "--events", &events.to_string(), "--workers", &workers.to_string(), "--only", mode])
                        .status()?;
                    anyhow::ensure!(status.success(), "{mode} run failed");
                }
            }
        },
        Command::Throughput { rows, workers, query } => {
            let rt = tokio::runtime::Runtime::new()?;
            let (df_time, df_rows) = rt.block_on(datafusion_run(rows, &query))?;
            let df_rate = rows as f64 / df_time.as_secs_f64();
            println!("query: {query}");
            println!("DataFusion batch (2 partitions, in-memory): {rows} rows in {:.3}s = {:.2} M rows/s", df_time.as_secs_f64(), df_rate / 1e6);
            let (stream_time, stream_rows) = rt.block_on(datafusion_streaming_run(rows, &query))?;
            let stream_same = if same_answer(&stream_rows, &df_rows) { "same answer" } else { "DIFFERENT ANSWER" };
            println!(
                "DataFusion reading the generator source (2 partitions): {rows} rows in {:.3}s = {:.2} M rows/s; {stream_same}",
                stream_time.as_secs_f64(),
                rows as f64 / stream_time.as_secs_f64() / 1e6
            );
            for w in workers.split(',').filter_map(|w| w.trim().parse::<usize>().ok()) {
                let (t, ours) = illunare_run(rows, w, &query)?;
                let rate = rows as f64 / t.as_secs_f64();
                let same = if same_answer(&ours, &df_rows) { "same answer" } else { "DIFFERENT ANSWER" };
                println!(
                    "illunare, {w} worker(s) (generation included): {rows} rows in {:.3}s = {:.2} M rows/s; illunare/DataFusion time: {:.2}x in-memory, {:.2}x reading the generator; {same}",
                    t.as_secs_f64(),
                    rate / 1e6,
                    t.as_secs_f64() / df_time.as_secs_f64(),
                    t.as_secs_f64() / stream_time.as_secs_f64()
                );
            }
        }
    }
    Ok(())
}
