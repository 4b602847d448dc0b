//! A pipeline sinking a changing view into a real PostgreSQL: when the pipeline ends the table
//! equals the view (rows that left the view deleted, changed rows updated), and running the same
//! pipeline again — a restart replaying its input — changes nothing (the progress row).

mod common;

use std::process::Command;

use illunare_types::Datum;
use tokio_postgres::{NoTls, SimpleQueryMessage};

fn pg_url() -> String {
    let out = Command::new("bash").arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postgres.sh")).output().expect("run scripts/postgres.sh");
    assert!(out.status.success(), "scripts/postgres.sh failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().last().expect("a URL").trim().to_string()
}

fn query(runtime: &tokio::runtime::Runtime, url: &str, sql: &str) -> Vec<String> {
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect to postgres");
        tokio::spawn(connection);
        let mut rows = Vec::new();
        for m in client.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")) {
            if let SimpleQueryMessage::Row(r) = m {
                rows.push((0..r.len()).map(|i| r.get(i).unwrap_or("NULL").to_string()).collect::<Vec<_>>().join(","));
            }
        }
        rows
    })
}

#[test]
fn table_equals_the_view_and_a_replay_changes_nothing() {
    let url = pg_url();
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    let schema = format!("illunare_pipeline_{}", std::process::id());
    query(&runtime, &url, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"));
    // Merchants leave the view once they pass 30 sales: their rows must be deleted.
    let sql = format!(
        "CREATE SOURCE tx (card_id VARCHAR, merchant VARCHAR, amount DOUBLE, ts TIMESTAMP)
           WITH (connector = 'generator', kind = 'transactions', rows = '40000', merchants = '2000', seed = '3', rate = '200000');
         CREATE VIEW quiet AS
           SELECT merchant, count(*) AS sales, round(sum(amount)) AS total FROM tx GROUP BY merchant HAVING count(*) <= 30;
         CREATE SINK quiet_pg FROM quiet WITH (connector = 'postgres', url = '{url}', table = '{schema}.quiet merchants',
           primary_key = 'merchant', create_table = 'true');"
    );
    let read_back = |runtime: &tokio::runtime::Runtime| {
        let mut rows = query(runtime, &url, &format!("SELECT merchant, sales, total::bigint FROM {schema}.\"quiet merchants\""));
        rows.sort();
        rows
    };
    let mut pipeline = common::start(&sql, &common::options(2));
    common::wait_finished(&pipeline);
    let view = pipeline.final_rows("quiet").unwrap_or_default();
    pipeline.join().expect("join");
    let mut expected: Vec<String> = view
        .iter()
        .map(|r| match (r.get(0), r.get(1), r.get(2)) {
            (Datum::Str(m), Datum::Int(n), Datum::Float(t)) => format!("{m},{n},{}", t.0 as i64),
            other => panic!("unexpected row {other:?}"),
        })
        .collect();
    expected.sort();
    assert!(expected.len() > 100, "the view keeps some merchants: {}", expected.len());
    let table = read_back(&runtime);
    assert_eq!(table, expected, "the table equals the view");
    let progress = query(&runtime, &url, &format!("SELECT count(*) FROM {schema}.illunare_sink_progress WHERE sink = 'quiet_pg'"));
    assert_eq!(progress, vec!["1".to_string()]);

    // The same pipeline again (a restart from scratch): every change is behind the progress row.
    let mut again = common::start(&sql, &common::options(1));
    common::wait_finished(&again);
    again.join().expect("join");
    assert_eq!(read_back(&runtime), expected, "a replay neither repeats nor loses changes");
    query(&runtime, &url, &format!("DROP SCHEMA {schema} CASCADE"));
}
