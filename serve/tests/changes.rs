//! Change streams over a real socket: a view rebuilt from its snapshot and changes equals the
//! view read over HTTP at the same frontier; `Last-Event-ID` resumes; thousands of streams
//! opened and dropped leave no subscriber behind.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use illunare_coord::{Pipeline, RunOptions};
use illunare_serve::{AppState, ServeConfig};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

async fn start() -> (SocketAddr, Arc<Mutex<Pipeline>>) {
    let text = "CREATE TABLE t (k BIGINT PRIMARY KEY, v BIGINT);
        CREATE MATERIALIZED VIEW m AS SELECT k % 10 AS bucket, sum(v) AS total, count(*) AS n FROM t GROUP BY k % 10;";
    let mut pipeline = Pipeline::load(text, &illunare_connector::Registry::default()).expect("loads");
    let options = RunOptions { commit_interval: Duration::ZERO, tick: Duration::from_millis(5), ..RunOptions::default() };
    pipeline.start(&options).expect("starts");
    let shared = Arc::new(Mutex::new(pipeline));
    let state = AppState::new(shared.clone(), ServeConfig::default());
    let (addr, server) = illunare_serve::bind("127.0.0.1:0".parse().expect("addr"), state).await.expect("binds");
    tokio::spawn(server);
    (addr, shared)
}

/// One HTTP/1.0 exchange (no chunking: the body runs to the end of the connection).
async fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> Value {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let head = format!("{method} {path} HTTP/1.0\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    stream.write_all(head.as_bytes()).await.expect("writes");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("reads");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

struct Sse {
    lines: BufReader<TcpStream>,
}

#[derive(Debug)]
struct Event {
    kind: String,
    id: u64,
    data: Value,
}

impl Sse {
    async fn open(addr: SocketAddr, path: &str, last_event_id: Option<u64>) -> Sse {
        let mut stream = TcpStream::connect(addr).await.expect("connects");
        let resume = last_event_id.map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default();
        stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\nAccept: text/event-stream\r\n{resume}\r\n").as_bytes()).await.expect("writes");
        let mut lines = BufReader::new(stream);
        let mut line = String::new();
        // Status line and headers.
        loop {
            line.clear();
            lines.read_line(&mut line).await.expect("header");
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        Sse { lines }
    }

    async fn next(&mut self) -> Event {
        let (mut kind, mut id, mut data) = (String::new(), 0, String::new());
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(30), self.lines.read_line(&mut line)).await.expect("an event in time").expect("reads");
            assert!(n > 0, "the stream ended");
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if !kind.is_empty() {
                    return Event { kind, id, data: serde_json::from_str(&data).expect("JSON data") };
                }
                continue;
            }
            if let Some(v) = line.strip_prefix("event:") {
                kind = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().parse().expect("numeric id");
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
    }
}

type View = BTreeMap<String, i64>;

fn apply(view: &mut View, event: &Event) {
    match event.kind.as_str() {
        "snapshot" => {
            view.clear();
            for row in event.data["rows"].as_array().expect("rows") {
                *view.entry(row.to_string()).or_default() += 1;
            }
        }
        "change" => {
            for change in event.data["changes"].as_array().expect("changes") {
                let entry = view.entry(change["row"].to_string()).or_default();
                *entry += change["diff"].as_i64().expect("diff");
                if *entry == 0 {
                    view.remove(&change["row"].to_string());
                }
            }
        }
        _ => {}
    }
}

fn as_view(rows: &Value) -> View {
    let mut view = View::new();
    for row in rows.as_array().expect("rows") {
        *view.entry(row.to_string()).or_default() += 1;
    }
    view
}

async fn subscribers(addr: SocketAddr) -> u64 {
    let catalog = request(addr, "GET", "/api/v1/catalog", "").await;
    catalog["views"][0]["status"]["subscribers"].as_u64().expect("subscribers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_rebuilt_from_its_change_stream_equals_the_view_read_over_http() {
    let (addr, engine) = start().await;
    request(addr, "POST", "/api/v1/sql", "INSERT INTO t VALUES (1, 10), (2, 20), (11, 5)").await;
    let mut stream = Sse::open(addr, "/api/v1/views/m/changes", None).await;
    let first = stream.next().await;
    assert_eq!(first.kind, "snapshot");
    let mut rebuilt = View::new();
    apply(&mut rebuilt, &first);
    let mut last_time = 0;
    for i in 0..20 {
        let sql = format!("INSERT INTO t VALUES ({}, {i}); UPDATE t SET v = v + 1 WHERE k % 3 = {}; DELETE FROM t WHERE k = {}", 100 + i, i % 3, 90 + i);
        let reply = request(addr, "POST", "/api/v1/sql", &sql).await;
        last_time = reply["results"][0]["changed"]["time"].as_u64().expect("time").max(last_time);
        last_time = reply["results"][2]["changed"]["time"].as_u64().unwrap_or(last_time).max(last_time);
    }
    let mut seen = Vec::new();
    loop {
        let event = stream.next().await;
        apply(&mut rebuilt, &event);
        let frontier = event.data["frontier"].as_u64();
        seen.push(event);
        if frontier.is_none_or(|f| f > last_time) {
            break;
        }
    }
    let read = request(addr, "GET", "/api/v1/views/m?limit=100000", "").await;
    assert!(read["frontier"].as_u64().is_none_or(|f| f > last_time));
    assert_eq!(rebuilt, as_view(&read["rows"]), "the stream and the read disagree");
    assert!(seen.iter().any(|e| e.kind == "change"));
    assert!(seen.windows(2).all(|w| w[0].id < w[1].id), "ids grow");

    // Resuming after an event replays exactly the events after it.
    let middle = &seen[seen.len() / 2];
    let mut resumed = Sse::open(addr, "/api/v1/views/m/changes", Some(middle.id)).await;
    let next = resumed.next().await;
    let expected = seen.iter().find(|e| e.id > middle.id).expect("a later event");
    assert_eq!((next.kind.as_str(), next.id, &next.data), (expected.kind.as_str(), expected.id, &expected.data));
    // An id this stream never issued gets a fresh snapshot.
    let mut unknown = Sse::open(addr, "/api/v1/views/m/changes", Some(u64::MAX / 2)).await;
    assert_eq!(unknown.next().await.kind, "snapshot");
    drop((stream, resumed, unknown));
    engine.lock().expect("lock").stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_streams_opened_and_dropped_leave_nothing_behind() {
    let (addr, engine) = start().await;
    request(addr, "POST", "/api/v1/sql", "INSERT INTO t VALUES (1, 1)").await;
    for round in 0..4 {
        let mut open = Vec::new();
        for _ in 0..500 {
            open.push(Sse::open(addr, "/api/v1/views/m/changes", None).await);
        }
        for s in open.iter_mut().step_by(50) {
            assert_eq!(s.next().await.kind, "snapshot");
        }
        assert!(subscribers(addr).await >= 500, "round {round}");
        drop(open);
        // A change makes the server write to every stream and notice the closed ones.
        request(addr, "POST", "/api/v1/sql", &format!("INSERT INTO t VALUES ({}, 1)", 1000 + round)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while subscribers(addr).await > 0 {
        assert!(Instant::now() < deadline, "subscribers left behind: {}", subscribers(addr).await);
        request(addr, "POST", "/api/v1/sql", "UPDATE t SET v = v + 1 WHERE k = 1").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let health = request(addr, "GET", "/health", "").await;
    assert_eq!(health["status"], "ok");
    engine.lock().expect("lock").stop();
}
