//! The Postgres protocol as clients we did not write see it: psql (Debian's, PostgreSQL 15),
//! psycopg 3 with server-side binding, the `illunare serve` binary; and a view read over HTTP
//! and over pgwire at one frontier being the same rows.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use illunare_coord::{Pipeline, RunOptions};
use illunare_pgwire::PgConfig;
use illunare_serve::{AppState, ServeConfig, Tokens};
use serde_json::Value;

/// An engine with the Postgres protocol (and, on request, HTTP) on free loopback ports.
struct Server {
    runtime: tokio::runtime::Runtime,
    pg: SocketAddr,
    engine: Arc<Mutex<Pipeline>>,
}

impl Server {
    fn start(text: &str, tokens: Tokens) -> Server {
        let mut pipeline = Pipeline::load(text, &common::registry()).unwrap_or_else(|e| panic!("{}", e.render("test.sql", text)));
        let options = RunOptions { commit_interval: Duration::ZERO, tick: Duration::from_millis(5), ..RunOptions::default() };
        pipeline.start(&options).expect("starts");
        let engine = Arc::new(Mutex::new(pipeline));
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let (pg, server) = runtime.block_on(illunare_pgwire::bind(addr, engine.clone(), PgConfig { tokens, insecure: false })).expect("binds pgwire");
        runtime.spawn(server);
        Server { runtime, pg, engine }
    }

    /// Serves the HTTP API for the same engine; where it listens.
    fn http(&self) -> SocketAddr {
        let state = AppState::new(self.engine.clone(), ServeConfig::default());
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let (http, server) = self.runtime.block_on(illunare_serve::bind(addr, state)).expect("binds http");
        self.runtime.spawn(server);
        http
    }
}

/// Runs psql against `port` with `commands` (each a `-c`), unaligned, tuples only.
fn psql(port: u16, password: Option<&str>, commands: &[&str]) -> Output {
    let mut command = Command::new("psql");
    command.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "someone", "-d", "anything", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"]);
    for c in commands {
        command.args(["-c", c]);
    }
    match password {
        Some(p) => command.env("PGPASSWORD", p),
        None => command.env_remove("PGPASSWORD"),
    };
    command.env("PGCONNECT_TIMEOUT", "10").stdin(Stdio::null()).output().expect("psql runs (Debian's postgresql-client)")
}

fn lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_string).collect()
}

#[test]
fn psql_runs_ddl_dml_queries_and_backslash_commands() {
    let server = Server::start("", Tokens::default());
    let port = server.pg.port();
    let out = psql(port, None, &["CREATE TABLE kv (k BIGINT, v TEXT)", "INSERT INTO kv VALUES (1, 'one'), (2, 'two')", "SELECT k, v FROM kv ORDER BY k"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines(&out), ["CREATE TABLE", "INSERT 0 2", "1|one", "2|two"]);

    let out = psql(port, None, &["CREATE MATERIALIZED VIEW counts AS SELECT count(*) AS n FROM kv", "\\dt", "\\dm", "\\l"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed = lines(&out);
    assert!(listed.contains(&"public|kv|table|illunare".to_string()), "{listed:?}");
    assert!(listed.contains(&"public|counts|materialized view|illunare".to_string()), "{listed:?}");
    assert!(listed.iter().any(|l| l.starts_with("anything|illunare|UTF8")), "{listed:?}");

    // An error points at its position (psql draws the caret) and leaves the server serving.
    let out = psql(port, None, &["SELECT * FROM nope"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("relation 'nope' does not exist at line 1, column 15") && stderr.contains("LINE 1: SELECT * FROM nope"), "{stderr}");
    let out = psql(port, None, &["SELECT count(*) FROM kv"]);
    assert_eq!(lines(&out), ["2"]);
}

#[test]
fn psql_authenticates_with_the_token_as_password() {
    let tokens = Tokens { admin: Some("admin-secret".into()), read: Some("read-secret".into()) };
    let server = Server::start("CREATE TABLE t (k BIGINT);", tokens);
    let port = server.pg.port();
    let wrong = psql(port, Some("nope"), &["SELECT 1"]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("FATAL"), "{}", String::from_utf8_lossy(&wrong.stderr));
    let reader = psql(port, Some("read-secret"), &["INSERT INTO t VALUES (1)"]);
    assert!(String::from_utf8_lossy(&reader.stderr).contains("permission denied"), "{}", String::from_utf8_lossy(&reader.stderr));
    let admin = psql(port, Some("admin-secret"), &["INSERT INTO t VALUES (1)", "SELECT count(*) FROM t"]);
    assert_eq!(lines(&admin), ["INSERT 0 1", "1"], "{}", String::from_utf8_lossy(&admin.stderr));
}

#[test]
fn psycopg_binds_parameters_on_the_server() {
    let server = Server::start("", Tokens::default());
    let out = common::peers::run_script("pg_client.py", &[server.pg.port().to_string()]);
    let got: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(got["server_version"], 150000);
    assert_eq!(got["insert_rowcount"], 1);
    assert_eq!(
        got["by_id"],
        serde_json::json!([
            [1, "ann", "10.50", true, "2026-11-27T19:00:00.250000", "2026-11-27"],
            [2, "bob", "3.25", false, "2026-11-27T19:30:00", "2026-11-27"]
        ])
    );
    assert_eq!(got["by_customer"], serde_json::json!([1, 3]));
    assert_eq!(got["binary"], serde_json::json!([1, "10.50", "2026-11-27T19:00:00.250000", "2026-11-27", true]));
    assert_eq!(got["view"], serde_json::json!([["ann", 2, "11.50"], ["bob", 1, "3.25"]]));
    assert_eq!(got["error"], "42P01");
    assert_eq!(got["after_error"], 3);
}

/// One HTTP/1.1 request; the JSON body of the answer.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Value {
    let mut stream = TcpStream::connect(addr).expect("connect http");
    let request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (_, body) = response.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no body: {response}"));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// A view's change stream, read line by line.
struct Changes {
    lines: std::io::Lines<std::io::BufReader<TcpStream>>,
}

impl Changes {
    /// Subscribes to `view`; returns once its first event (the snapshot) is in, so every
    /// later change is on the stream.
    fn open(addr: SocketAddr, view: &str) -> (Changes, Value) {
        use std::io::BufRead;
        let mut stream = TcpStream::connect(addr).expect("connect http");
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        write!(stream, "GET /api/v1/views/{view}/changes HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("send");
        let mut changes = Changes { lines: std::io::BufReader::new(stream).lines() };
        let (kind, first) = changes.next_event();
        assert_eq!(kind, "snapshot", "{first}");
        (changes, first)
    }

    fn next_event(&mut self) -> (String, Value) {
        let mut kind = String::new();
        for line in &mut self.lines {
            let line = line.expect("reads the stream");
            if let Some(k) = line.strip_prefix("event:") {
                kind = k.trim().to_string();
            } else if let Some(data) = line.strip_prefix("data:") {
                return (kind, serde_json::from_str(data.trim()).expect("JSON data"));
            }
        }
        panic!("the change stream ended");
    }

    /// The rows rebuilt from `snapshot` and the changes after it, until an event's frontier
    /// has passed `time`; as text, each repeated by its multiplicity.
    fn rebuild(&mut self, snapshot: &Value, columns: &[String], time: u64) -> Vec<Vec<String>> {
        let text = |row: &Value| -> Vec<String> { columns.iter().map(|c| match &row[c] { Value::String(s) => s.clone(), v => v.to_string() }).collect() };
        let mut rows: Vec<Vec<String>> = snapshot["rows"].as_array().expect("rows").iter().map(text).collect();
        let mut frontier = snapshot["frontier"].as_u64();
        while frontier.is_some_and(|f| f <= time) {
            let (kind, data) = self.next_event();
            match kind.as_str() {
                "snapshot" => rows = data["rows"].as_array().expect("rows").iter().map(text).collect(),
                "change" => {
                    for change in data["changes"].as_array().expect("changes") {
                        let row = text(&change["row"]);
                        let diff = change["diff"].as_i64().expect("diff");
                        for _ in 0..diff.max(0) {
                            rows.push(row.clone());
                        }
                        for _ in 0..(-diff).max(0) {
                            let at = rows.iter().position(|r| *r == row).expect("a retracted row is held");
                            rows.remove(at);
                        }
                    }
                }
                _ => {}
            }
            frontier = data["frontier"].as_u64();
        }
        rows
    }
}

/// Rows as sorted text, for comparing multisets.
fn sorted(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.sort();
    rows
}

#[test]
fn a_view_read_over_http_over_pgwire_and_rebuilt_from_its_change_stream_is_the_same() {
    let server = Server::start(
        "CREATE TABLE tx (card VARCHAR, merchant VARCHAR, amount BIGINT);
         CREATE MATERIALIZED VIEW spend AS SELECT card, merchant, count(*) AS n, sum(amount) AS total FROM tx GROUP BY card, merchant;",
        Tokens::default(),
    );
    let http_addr = server.http();
    // Subscribed before the change: the stream carries it as changes, not in a snapshot.
    let (mut changes, snapshot) = Changes::open(http_addr, "spend");
    assert_eq!(snapshot["rows"], serde_json::json!([]));
    let changed = http(http_addr, "POST", "/api/v1/sql", "INSERT INTO tx VALUES ('c1', 'm1', 10), ('c1', 'm1', 5), ('c1', 'm2', 7), ('c2', 'm1', 1), ('c2', 'm1', 1)");
    let time = changed["results"][0]["changed"]["time"].as_u64().unwrap_or_else(|| panic!("{changed}"));

    // HTTP: the view once its frontier has passed the change.
    let deadline = Instant::now() + Duration::from_secs(30);
    let over_http = loop {
        let view = http(http_addr, "GET", "/api/v1/views/spend", "");
        if view["frontier"].as_u64().is_none_or(|f| f > time) {
            break view;
        }
        assert!(Instant::now() < deadline, "frontier did not pass {time}: {view}");
        std::thread::sleep(Duration::from_millis(5));
    };
    let columns: Vec<String> = over_http["columns"].as_array().expect("columns").iter().map(|c| c.as_str().unwrap_or_default().to_string()).collect();
    let http_rows = sorted(
        over_http["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| columns.iter().map(|c| match &r[c] { Value::String(s) => s.clone(), v => v.to_string() }).collect())
            .collect(),
    );

    // pgwire: the same view, read through tokio-postgres (text values).
    let pg_rows = server.runtime.block_on(async {
        let config = format!("host=127.0.0.1 port={} user=x dbname=x", server.pg.port());
        let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls).await.expect("connects");
        tokio::spawn(connection);
        let messages = client.simple_query("SELECT * FROM spend").await.expect("reads the view");
        messages
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).unwrap_or("NULL").to_string()).collect::<Vec<_>>()),
                _ => None,
            })
            .collect::<Vec<_>>()
    });
    assert_eq!(sorted(pg_rows), http_rows);
    assert_eq!(http_rows.len(), 3);
    // The change stream, replayed from the empty snapshot, gives the same rows at that frontier.
    assert_eq!(sorted(changes.rebuild(&snapshot, &columns, time)), http_rows);
    // Nothing changed since: HTTP still reads the same rows.
    let again = http(http_addr, "GET", "/api/v1/views/spend", "");
    assert_eq!(again["rows"].as_array().map(Vec::len), Some(3));
}

#[test]
fn illunare_serve_listens_for_postgres_clients() {
    let pg_port = common::peers::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_illunare"))
        .args(["serve", "--http", "off", "--pg", &format!("127.0.0.1:{pg_port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start illunare serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", pg_port)).is_err() {
        assert!(Instant::now() < deadline, "illunare serve did not listen on {pg_port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = psql(pg_port, None, &["CREATE TABLE t (k BIGINT)", "INSERT INTO t VALUES (7)", "SELECT k FROM t"]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(lines(&out), ["CREATE TABLE", "INSERT 0 1", "7"], "{}", String::from_utf8_lossy(&out.stderr));
}
