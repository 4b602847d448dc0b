//! Shared helpers for integration tests: the connector registry and running a pipeline to
//! completion against the batch oracle.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use illunare_coord::oracle::{Oracle, canonical};
use illunare_coord::{Pipeline, RunOptions};
use illunare_dataflow::ClusterConfig;
use illunare_types::errors_name;

pub mod kafka;
pub mod peers;
pub mod postgres;

pub fn registry() -> illunare_connector::Registry {
    let mut r = illunare_connector::Registry::default();
    r.add_source(Arc::new(illunare_source_generator::GeneratorConnector))
        .add_source(Arc::new(illunare_source_file::FileSourceConnector))
        .add_source(Arc::new(illunare_source_modbus::ModbusConnector))
        .add_source(Arc::new(illunare_source_opcua::OpcUaConnector))
        .add_source(Arc::new(illunare_source_kafka::KafkaSourceConnector))
        .add_source(Arc::new(illunare_source_parquet::ParquetSourceConnector))
        .add_sink(Arc::new(illunare_sink_file::FileSinkConnector))
        .add_sink(Arc::new(illunare_sink_file::StdoutSinkConnector))
        .add_sink(Arc::new(illunare_sink_postgres::PostgresSinkConnector))
        .add_sink(Arc::new(illunare_sink_parquet::ParquetSinkConnector))
        .add_sink(Arc::new(illunare_sink_kafka::KafkaSinkConnector))
        .add_sink(Arc::new(illunare_sink_file::BlackholeSinkConnector));
    let parts = r.clone();
    r.add_source(Arc::new(illunare_connector::chain::HybridConnector { registry: parts }));
    r
}

pub fn options(workers: usize) -> RunOptions {
    RunOptions { cluster: ClusterConfig { workers, ..Default::default() }, capture_all: true, commit_interval: Duration::ZERO, tick: Duration::from_millis(1) }
}

/// Loads and starts `text` (its tables closed): errors are rendered with their position.
#[allow(dead_code)]
pub fn start(text: &str, options: &RunOptions) -> Pipeline {
    let mut pipeline = Pipeline::load(text, &registry()).unwrap_or_else(|e| panic!("{}", e.render("test.sql", text)));
    pipeline.start(options).unwrap_or_else(|e| panic!("{e}"));
    pipeline.close_tables();
    pipeline
}

/// Waits (at most two minutes) until a bounded pipeline has processed all its input.
#[allow(dead_code)]
pub fn wait_finished(pipeline: &Pipeline) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !pipeline.is_finished() {
        assert!(std::time::Instant::now() < deadline, "pipeline did not finish");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs a bounded pipeline to its end; returns every view's rows and its error rows, canonicalised.
pub fn run_collect(text: &str, workers: usize) -> (BTreeMap<String, Vec<String>>, BTreeMap<String, Vec<String>>) {
    let mut pipeline = start(text, &options(workers));
    wait_finished(&pipeline);
    let mut views = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for name in pipeline.views() {
        let schema = pipeline.planner.catalog()[&name].schema.clone();
        let rows = pipeline.final_rows(&name).unwrap_or_default();
        views.insert(name.clone(), canonical(&rows, &schema));
        let err_rows = pipeline.final_rows(&errors_name(&name)).unwrap_or_default();
        errors.insert(name.clone(), canonical(&err_rows, &illunare_types::error_schema()));
    }
    pipeline.join().unwrap_or_else(|e| panic!("{e}"));
    (views, errors)
}

/// Runs the pipeline and asserts every view equals the DataFusion oracle; returns the views.
pub fn run_and_compare(text: &str, workers: usize) -> BTreeMap<String, Vec<String>> {
    let (views, _) = run_collect(text, workers);
    assert_matches_oracle(text, &views, workers);
    views
}

/// Asserts that every view in `views` (as `run_collect` returns them) equals DataFusion
/// running the view's SELECT over the pipeline's source data and final table contents.
pub fn assert_matches_oracle(text: &str, views: &BTreeMap<String, Vec<String>>, workers: usize) {
    let pipeline = Pipeline::load(text, &registry()).unwrap_or_else(|e| panic!("{e}"));
    // The oracle needs the tables' final contents: replay the DML without a dataflow.
    let mut pipeline = pipeline;
    let dml: Vec<_> = pipeline
        .statements
        .iter()
        .filter_map(|s| match s {
            illunare_sql::Statement::Dml(d) => Some(d.clone()),
            _ => None,
        })
        .collect();
    for d in &dml {
        pipeline.tables.apply(d).unwrap_or_else(|e| panic!("{e}"));
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let oracle = rt.block_on(Oracle::new(&pipeline)).unwrap_or_else(|e| panic!("oracle: {e}"));
    for (name, rows) in views {
        let expected = rt.block_on(oracle.view(name)).unwrap_or_else(|e| panic!("oracle {name}: {e}"));
        if !illunare_coord::oracle::same_answer(rows, &expected) {
            assert_eq!(rows, &expected, "view {name} with {workers} worker(s) differs from DataFusion");
        }
    }
}

/// The files `_manifest.json` lists, queried with `sql` over a table `t`.
pub fn parquet_rows(dir: &std::path::Path, sql: &str) -> Vec<String> {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("_manifest.json")).expect("a manifest")).expect("manifest JSON");
    let files: Vec<String> = manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| dir.join(f["path"].as_str().expect("a file path")).to_string_lossy().to_string())
        .collect();
    assert!(!files.is_empty(), "{manifest}");
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    runtime.block_on(async {
        let ctx = datafusion::prelude::SessionContext::new();
        let listed = ctx.read_parquet(files, datafusion::prelude::ParquetReadOptions::default()).await.expect("read the listed files");
        ctx.register_table("t", listed.into_view()).expect("register");
        let batches = ctx.sql(sql).await.expect("plan").collect().await.expect("run");
        let mut out: Vec<String> = batches
            .iter()
            .flat_map(|b| illunare_types::batch_to_rows(b).expect("rows"))
            .map(|r| r.iter().map(|d| format!("{d:?}")).collect::<Vec<_>>().join(" | "))
            .collect();
        out.sort();
        out
    })
}
