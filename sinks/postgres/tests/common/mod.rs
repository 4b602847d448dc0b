//! Test support: the PostgreSQL server (made available by `scripts/postgres.sh`, once per test
//! process; a test fails, never skips, when it is not there), a schema of its own per test
//! (random name, dropped at the end, so tests run in parallel), and sink construction.

#![allow(dead_code)]

use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::datatypes::SchemaRef;
use illunare_connector::{ConnectorError, Options, Sink, SinkConnector, SinkSpec};
use illunare_sink_postgres::PostgresSinkConnector;
use tokio_postgres::{NoTls, SimpleQueryMessage};

/// The URL of the test server (`ILLUNARE_TEST_PG_URL`, else what `scripts/postgres.sh` prints).
pub fn pg_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("ILLUNARE_TEST_PG_URL") {
            return url;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/postgres.sh");
        let out = Command::new("bash").arg(script).output().expect("cannot run scripts/postgres.sh");
        assert!(out.status.success(), "scripts/postgres.sh failed: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout);
        stdout.lines().last().expect("scripts/postgres.sh printed no URL").trim().to_string()
    })
}

/// A unique lowercase suffix.
pub fn unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0) as u64;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut x = nanos ^ (u64::from(std::process::id()) << 32) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    format!("{:012x}", x & 0xffff_ffff_ffff)
}

/// A test's own schema on the test server, with a client to inspect it.
pub struct TestDb {
    pub schema: String,
    /// Extra schemas to drop at the end.
    pub extra_schemas: Vec<String>,
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl TestDb {
    pub fn new(test: &str) -> TestDb {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let client = rt.block_on(async {
            let (client, connection) = tokio_postgres::connect(pg_url(), NoTls).await.expect("PostgreSQL is not reachable");
            tokio::spawn(async move {
                let _ = connection.await;
            });
            client
        });
        let schema = format!("it_{test}_{}", unique());
        let db = TestDb { schema, extra_schemas: Vec::new(), rt, client };
        db.exec("SET TIME ZONE 'UTC'");
        db.exec(&format!("CREATE SCHEMA {}", quote(&db.schema)));
        db
    }

    pub fn exec(&self, sql: &str) {
        self.rt.block_on(self.client.batch_execute(sql)).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }

    /// Rows of `sql`, each as its text columns joined by `|` (NULL as `NULL`).
    pub fn lines(&self, sql: &str) -> Vec<String> {
        let messages = self.rt.block_on(self.client.simple_query(sql)).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        messages
            .into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => {
                    Some((0..row.len()).map(|i| row.get(i).unwrap_or("NULL").to_string()).collect::<Vec<_>>().join("|"))
                }
                _ => None,
            })
            .collect()
    }

    /// The single value of `sql`.
    pub fn value(&self, sql: &str) -> String {
        let lines = self.lines(sql);
        assert_eq!(lines.len(), 1, "{sql}: {lines:?}");
        lines[0].clone()
    }

    /// `"schema"."name"`.
    pub fn table(&self, name: &str) -> String {
        format!("{}.{}", quote(&self.schema), quote(name))
    }

    /// The options every test sink has (url, table in this schema) plus `extra`.
    pub fn spec(&self, name: &str, schema: SchemaRef, table: &str, extra: &[(&str, &str)]) -> SinkSpec {
        let mut options = vec![("connector".to_string(), "postgres".to_string()), ("url".to_string(), pg_url().to_string())];
        options.push(("schema".to_string(), self.schema.clone()));
        options.push(("table".to_string(), table.to_string()));
        for (k, v) in extra {
            options.retain(|(key, _)| key != k);
            options.push((k.to_string(), v.to_string()));
        }
        SinkSpec { name: name.to_string(), from: format!("{name}_view"), schema, options: Options::new(options) }
    }

    pub fn sink(&self, name: &str, schema: SchemaRef, table: &str, extra: &[(&str, &str)]) -> Box<dyn Sink> {
        create(&self.spec(name, schema, table, extra)).unwrap_or_else(|e| panic!("create failed: {e}"))
    }

    /// The progress row of `sink`: `table_name|frontier`.
    pub fn progress(&self, sink: &str) -> Vec<String> {
        self.lines(&format!("SELECT table_name, frontier FROM {} WHERE sink = '{sink}'", self.table("illunare_sink_progress")))
    }
}

pub fn create(spec: &SinkSpec) -> Result<Box<dyn Sink>, ConnectorError> {
    PostgresSinkConnector.create(spec)
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let mut sql = format!("DROP SCHEMA IF EXISTS {} CASCADE;", quote(&self.schema));
        for s in &self.extra_schemas {
            sql.push_str(&format!("DROP SCHEMA IF EXISTS {} CASCADE;", quote(s)));
        }
        let _ = self.rt.block_on(self.client.batch_execute(&sql));
    }
}
