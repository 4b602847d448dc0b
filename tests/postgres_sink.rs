//! A pipeline sinking a changing view into a real PostgreSQL: when the pipeline ends the table
//! equals the view (rows that left the view deleted, changed rows updated), and running the same
//! pipeline again — a restart replaying its input — changes nothing (the progress row).

mod common;

use illunare_types::Datum;

use common::postgres::{pg_url, query};

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

#[test]
fn sslmode_require_encrypts_the_sink_s_session() {
    let url = pg_url();
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    if query(&runtime, &url, "SHOW ssl") != vec!["on".to_string()] {
        panic!("the test server has ssl off: scripts/postgres.sh sets up Debian's cluster, which has it on");
    }
    let schema = format!("illunare_tls_{}", std::process::id());
    query(&runtime, &url, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"));
    let tls_url = format!("{url}?sslmode=require");
    // Unbounded and paced: the sink's session stays open while we look at it.
    let sql = format!(
        "CREATE SOURCE tx (card_id VARCHAR, amount DOUBLE, ts TIMESTAMP)
           WITH (connector = 'generator', kind = 'transactions', rate = '200', seed = '3');
         CREATE VIEW per_card AS SELECT card_id, count(*) AS n FROM tx GROUP BY card_id;
         CREATE SINK tls_pg FROM per_card WITH (connector = 'postgres', url = '{tls_url}', table = '{schema}.per_card',
           primary_key = 'card_id', create_table = 'true');"
    );
    let mut options = common::options(1);
    options.commit_interval = std::time::Duration::from_millis(100);
    let mut pipeline = common::start(&sql, &options);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let encrypted = loop {
        let rows = query(
            &runtime,
            &url,
            "SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'illunare-sink-tls_pg'",
        );
        if let Some(row) = rows.first() {
            break row.clone();
        }
        assert!(std::time::Instant::now() < deadline, "the sink never connected");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(encrypted.starts_with("t,TLS"), "the sink's session is not encrypted: {encrypted}");
    // …and its commits land (the table is created by the first commit after connecting).
    let created = format!("SELECT count(*) FROM pg_tables WHERE schemaname = '{schema}' AND tablename = 'per_card'");
    while query(&runtime, &url, &created) != vec!["1".to_string()] {
        assert!(std::time::Instant::now() < deadline, "the sink never created its table");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    while query(&runtime, &url, &format!("SELECT count(*) > 0 FROM {schema}.per_card")) != vec!["t".to_string()] {
        assert!(std::time::Instant::now() < deadline, "nothing was written over TLS");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    pipeline.stop();
    pipeline.join().expect("join");

    // A CA file that is not PEM is refused when the sink is created.
    let dir = tempfile::tempdir().expect("tempdir");
    let bogus = dir.path().join("ca.pem");
    std::fs::write(&bogus, "not a certificate").expect("write");
    let bad = format!(
        "CREATE SOURCE tx (card_id VARCHAR) WITH (connector = 'generator', kind = 'transactions', rows = '10');
         CREATE VIEW v AS SELECT card_id FROM tx;
         CREATE SINK s FROM v WITH (connector = 'postgres', url = '{tls_url}', table = 't', mode = 'append', ssl_root_cert = '{}');",
        bogus.display()
    );
    let err = illunare_coord::Pipeline::load(&bad, &common::registry()).err().map(|e| e.render("t.sql", &bad)).unwrap_or_default();
    assert!(err.contains("ssl_root_cert"), "{err}");
}
