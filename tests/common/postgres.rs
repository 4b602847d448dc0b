//! A real PostgreSQL for the sink tests (`scripts/postgres.sh` installs and starts it).

use std::process::Command;

use tokio_postgres::{NoTls, SimpleQueryMessage};

/// The test server's URL, starting (and installing) it when needed.
pub fn pg_url() -> String {
    let out = Command::new("bash").arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postgres.sh")).output().expect("run scripts/postgres.sh");
    assert!(out.status.success(), "scripts/postgres.sh failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().last().expect("a URL").trim().to_string()
}

/// The rows `sql` returns, each as its columns' text joined by `,` (NULL as `NULL`), in the
/// server's order.
pub fn query(runtime: &tokio::runtime::Runtime, url: &str, sql: &str) -> Vec<String> {
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
