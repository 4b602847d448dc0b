//! Backfill = streaming: one pipeline over the same events, once read from Kafka and once from
//! Parquet files archived from that topic (`illunare backfill --source tx=parquet:…`), writes
//! the same Postgres table and the same Parquet output; and a hybrid backfill (`--then-stream`)
//! that reads the history, then the topic from the offsets after it, gives the same again.

mod common;

use std::path::Path;
use std::process::Command;

use common::kafka::{Broker, transactions};
use common::postgres::pg_url;

/// `sql`'s rows, sorted.
fn query(url: &str, sql: &str) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    let mut rows = common::postgres::query(&runtime, url, sql);
    rows.sort();
    rows
}

/// The pipeline under test (exact integer sums: float sums depend on the order rows meet), writing to table `{schema}.windows_{tag}` and `{out}/{tag}/`.
fn pipeline(brokers: &str, url: &str, schema: &str, out: &Path, tag: &str) -> String {
    format!(
        "CREATE SOURCE tx (card BIGINT NOT NULL, amount DOUBLE, ts TIMESTAMP, _partition INT, _offset BIGINT,
                           WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
           WITH (connector = 'kafka', brokers = '{brokers}', topic = 'tx', bounded = 'true');
         CREATE VIEW windows AS
           SELECT card, window_start, count(*) AS n, sum(CAST(round(amount * 10) AS BIGINT)) AS total
           FROM TUMBLE(tx, ts, INTERVAL '5' SECOND) GROUP BY card, window_start;
         CREATE SINK windows_pg_{tag} FROM windows WITH (connector = 'postgres', url = '{url}', table = '{schema}.windows_{tag}',
           primary_key = 'card, window_start', create_table = 'true');
         CREATE SINK windows_lake_{tag} FROM windows WITH (connector = 'parquet', path = '{}/{tag}', mode = 'changelog');",
        out.display()
    )
}

fn run_backfill(sql: &str, dir: &Path, extra: &[&str]) {
    let file = dir.join("pipeline.sql");
    std::fs::write(&file, sql).expect("write pipeline");
    let out = Command::new(env!("CARGO_BIN_EXE_illunare"))
        .arg("backfill")
        .arg(&file)
        .args(extra)
        // The streaming runs' settings (common::options): the same times, so the same changelog.
        .args(["--workers", "2", "--tick", "1ms", "--commit-interval", "0s"])
        .output()
        .expect("run illunare backfill");
    assert!(out.status.success(), "illunare backfill failed: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_backfill_from_parquet_writes_what_the_stream_wrote() {
    let url = pg_url();
    let schema = format!("illunare_backfill_{}", std::process::id());
    query(&url, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"));
    let broker = Broker::start();
    broker.create_topic("tx", 3);
    let (records, _) = transactions(3000);
    let (first, rest) = records.split_at(2000);
    broker.produce("tx", first);
    let dir = tempfile::tempdir().expect("tempdir");
    let history = dir.path().join("history");

    // The archive: the topic as Parquet, with the Kafka position of every event.
    let archive = format!(
        "CREATE SOURCE tx (card BIGINT NOT NULL, amount DOUBLE, ts TIMESTAMP, _partition INT, _offset BIGINT)
           WITH (connector = 'kafka', brokers = '{}', topic = 'tx', bounded = 'true');
         CREATE VIEW all_tx AS SELECT * FROM tx;
         CREATE SINK archive FROM all_tx WITH (connector = 'parquet', path = '{}', mode = 'append', rollover_rows = '700');",
        broker.brokers(),
        history.display()
    );
    let mut archiving = common::start(&archive, &common::options(2));
    common::wait_finished(&archiving);
    archiving.join().expect("archive");

    // Streaming and backfill over the first 2000 events.
    let mut stream = common::start(&pipeline(&broker.brokers(), &url, &schema, dir.path(), "stream"), &common::options(2));
    common::wait_finished(&stream);
    stream.join().expect("stream");
    let history_glob = format!("{}/*.parquet", history.display());
    run_backfill(&pipeline(&broker.brokers(), &url, &schema, dir.path(), "backfill"), dir.path(), &["--source", &format!("tx=parquet:{history_glob}")]);
    let table = |tag: &str| query(&url, &format!("SELECT card, window_start, n, total FROM {schema}.windows_{tag}"));
    let streamed = table("stream");
    assert!(streamed.len() > 100, "{}", streamed.len());
    assert_eq!(table("backfill"), streamed, "the Postgres tables differ");
    let lake = |tag: &str| common::parquet_rows(&dir.path().join(tag), "SELECT card, window_start, n, total, _diff, _time FROM t");
    assert_eq!(lake("backfill"), lake("stream"), "the Parquet outputs differ");

    // Hybrid: the same history, then the 1000 events produced since, from Kafka.
    broker.produce("tx", rest);
    let mut all = common::start(&pipeline(&broker.brokers(), &url, &schema, dir.path(), "stream_all"), &common::options(2));
    common::wait_finished(&all);
    all.join().expect("stream all");
    run_backfill(
        &pipeline(&broker.brokers(), &url, &schema, dir.path(), "hybrid"),
        dir.path(),
        &["--source", &format!("tx=parquet:{history_glob}"), "--then-stream"],
    );
    let all_rows = table("stream_all");
    assert!(all_rows.len() > streamed.len());
    let hybrid = table("hybrid");
    let missing: Vec<&String> = all_rows.iter().filter(|r| !hybrid.contains(r)).take(5).collect();
    let extra: Vec<&String> = hybrid.iter().filter(|r| !all_rows.contains(r)).take(5).collect();
    assert!(missing.is_empty() && extra.is_empty(), "history + stream ({} rows) differs from the stream alone ({} rows): missing {missing:?}, extra {extra:?}", hybrid.len(), all_rows.len());
}
