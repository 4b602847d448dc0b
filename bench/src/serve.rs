//! `bench serve`: the HTTP API under load, in one process on loopback.
//!
//! - **Point lookups.** A materialized view keyed by card (`SELECT card_id, count(*), sum(amount)
//!   … GROUP BY card_id`, from a bounded generator) is read with `?card_id=<random key>` over
//!   keep-alive HTTP/1.1 connections. Open loop: each connection sends on a fixed schedule; a
//!   request held back by the previous response counts from when it was *due*, so a stall is not
//!   hidden by the client waiting (no coordinated omission), while the client's own timer waking
//!   late is not counted against the server. Reported: p50/p99/p99.9 at the target rate, and the rate
//!   a closed loop sustains. The reference is the same load on `GET /health` in the same run: the
//!   HTTP stack's own floor on this machine.
//! - **Change-stream fan-out.** Many SSE clients on one view while a generator changes it;
//!   each `change` event's delivery lag is the client's clock minus the change's timestamp (the
//!   source's processing time, so the lag includes the tick and the commit). The reference, in
//!   the same run: a bare TCP server that broadcasts frames of the same shape (as many changes
//!   per tick, rendered once, stamped with the time they are sent) to the same number of the
//!   same clients — what these two cores deliver with no engine, no HTTP stack and no view.
//!
//! Load and server share the machine's two cores; the ratios and the lag are the figures.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use illunare_coord::{Pipeline, RunOptions};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn registry() -> illunare_connector::Registry {
    let mut r = illunare_connector::Registry::default();
    r.add_source(Arc::new(illunare_source_generator::GeneratorConnector));
    r
}

async fn start(text: &str, tick: Duration) -> Result<(std::net::SocketAddr, Arc<Mutex<Pipeline>>)> {
    let mut pipeline = Pipeline::load(text, &registry()).map_err(|e| anyhow::anyhow!("{}", e.render("bench.sql", text)))?;
    pipeline.start(&RunOptions { commit_interval: Duration::ZERO, tick, ..RunOptions::default() }).map_err(|e| anyhow::anyhow!("{e}"))?;
    let engine = Arc::new(Mutex::new(pipeline));
    let state = illunare_serve::AppState::new(engine.clone(), illunare_serve::ServeConfig::default());
    let (addr, server) = illunare_serve::bind("127.0.0.1:0".parse()?, state).await?;
    tokio::spawn(server);
    Ok((addr, engine))
}

/// A keep-alive HTTP/1.1 connection sending GETs.
struct Connection {
    stream: BufReader<TcpStream>,
    line: String,
    body: Vec<u8>,
}

impl Connection {
    async fn open(addr: std::net::SocketAddr) -> Result<Connection> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Connection { stream: BufReader::new(stream), line: String::new(), body: Vec::new() })
    }

    /// Sends GET `path` and reads the whole response; returns the status.
    async fn get(&mut self, path: &str) -> Result<u16> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        self.line.clear();
        self.stream.read_line(&mut self.line).await?;
        let status: u16 = self.line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("bad status line")?;
        let mut length = 0usize;
        loop {
            self.line.clear();
            self.stream.read_line(&mut self.line).await?;
            if self.line == "\r\n" || self.line.is_empty() {
                break;
            }
            if let Some(v) = self.line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse()?;
            }
        }
        self.body.resize(length, 0);
        self.stream.read_exact(&mut self.body).await?;
        Ok(status)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Open loop: `rate` requests/s over `connections` for `seconds`; latencies from due time.
async fn open_loop(addr: std::net::SocketAddr, paths: Arc<Vec<String>>, rate: f64, connections: usize, seconds: f64) -> Result<(Vec<Duration>, usize)> {
    let interval = Duration::from_secs_f64(connections as f64 / rate);
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let end = start + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let paths = paths.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::open(addr).await?;
            let mut latencies = Vec::new();
            let mut errors = 0;
            // Spread the connections' schedules over one interval.
            let mut due = start + interval.mul_f64(c as f64 / connections as f64);
            let mut i = c;
            let mut previous_end = start;
            while due < end {
                tokio::time::sleep_until(due).await;
                // From when it was due if the previous response made it late; from when it was
                // sent if only the client's timer woke late (that is not the server's time).
                let sent = tokio::time::Instant::now();
                let origin = if previous_end > due { due } else { sent };
                let status = conn.get(&paths[i % paths.len()]).await?;
                if status != 200 {
                    errors += 1;
                }
                previous_end = tokio::time::Instant::now();
                latencies.push(previous_end - origin);
                due += interval;
                i += connections;
            }
            anyhow::Ok((latencies, errors))
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await??;
        all.extend(l);
        errors += e;
    }
    all.sort();
    Ok((all, errors))
}

/// Closed loop: as fast as `connections` can go for `seconds`; returns requests/s.
async fn closed_loop(addr: std::net::SocketAddr, paths: Arc<Vec<String>>, connections: usize, seconds: f64) -> Result<f64> {
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let paths = paths.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::open(addr).await?;
            let mut n = 0usize;
            while Instant::now() < end {
                conn.get(&paths[(c + n * connections) % paths.len()]).await?;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let started = Instant::now();
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

fn row(name: &str, rate: f64, lat: &[Duration], errors: usize) {
    println!(
        "| {name} | {rate:.0} | {} | {:.3} | {:.3} | {:.3} | {errors} |",
        lat.len(),
        percentile(lat, 0.5),
        percentile(lat, 0.99),
        percentile(lat, 0.999)
    );
}

pub fn lookups(rows: u64, rate: f64, connections: usize, seconds: f64) -> Result<()> {
    let io = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    io.block_on(async {
        let text = format!(
            "CREATE SOURCE tx (card_id VARCHAR, merchant VARCHAR, amount DOUBLE, ts TIMESTAMP)
               WITH (connector = 'generator', kind = 'transactions', rows = '{rows}', seed = '7');
             CREATE MATERIALIZED VIEW per_card AS SELECT card_id, count(*) AS n, sum(amount) AS total FROM tx GROUP BY card_id;"
        );
        let (addr, engine) = start(&text, Duration::from_millis(100)).await?;
        let handle = engine.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.runtime().and_then(|r| r.snapshots.get("per_card").cloned()).context("no snapshot")?;
        let loaded = Instant::now();
        loop {
            if handle.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.closed {
                break;
            }
            if loaded.elapsed() > Duration::from_secs(600) {
                bail!("the view did not complete");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let keys: Vec<String> = handle.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.rows.keys().map(|r| format!("{}", illunare_types::datum_to_text(&r.0[0], &arrow::datatypes::DataType::Utf8))).collect();
        // A fixed shuffle of the keys: every run asks the same sequence.
        let mut paths: Vec<String> = keys.iter().map(|k| format!("/api/v1/views/per_card?card_id={k}")).collect();
        let mut state = 0x9E3779B97F4A7C15u64;
        for i in (1..paths.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            paths.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let paths = Arc::new(paths);
        let health = Arc::new(vec!["/health".to_string()]);
        println!("point lookups: {} keys in per_card (from {rows} generated rows), {connections} keep-alive connections, {seconds} s per step, open loop (latency from due time when the previous response held the request back)", keys.len());
        // Warm up both paths.
        open_loop(addr, health.clone(), rate / 2.0, connections, 1.0).await?;
        open_loop(addr, paths.clone(), rate / 2.0, connections, 1.0).await?;
        println!("| endpoint | target req/s | requests | p50 ms | p99 ms | p99.9 ms | non-200 |");
        println!("| --- | --- | --- | --- | --- | --- | --- |");
        let (lat, errors) = open_loop(addr, health.clone(), rate, connections, seconds).await?;
        row("GET /health (reference)", rate, &lat, errors);
        let (lat, errors) = open_loop(addr, paths.clone(), rate, connections, seconds).await?;
        row("GET /api/v1/views/per_card?card_id=…", rate, &lat, errors);
        let health_max = closed_loop(addr, health, connections, seconds).await?;
        let lookup_max = closed_loop(addr, paths, connections, seconds).await?;
        println!("closed loop, {connections} connections: /health {health_max:.0} req/s, lookups {lookup_max:.0} req/s (ratio {:.2})", lookup_max / health_max);
        engine.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.stop();
        anyhow::Ok(())
    })
}

/// Reads one SSE stream, recording each `change` event's delivery lag (ms) until `end`.
async fn sse_client(addr: std::net::SocketAddr, end: tokio::time::Instant) -> Result<(Vec<u32>, u64)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(b"GET /api/v1/views/per_card/changes HTTP/1.0\r\nHost: bench\r\n\r\n").await?;
    let mut lines = BufReader::new(stream);
    let mut line = String::new();
    let mut lags = Vec::new();
    let mut changes = 0u64;
    let mut is_change = false;
    loop {
        line.clear();
        let read = tokio::time::timeout_at(end, lines.read_line(&mut line)).await;
        match read {
            Err(_) => break,
            Ok(r) => {
                if r? == 0 {
                    bail!("stream ended");
                }
            }
        }
        if line.starts_with("event:") {
            is_change = line.contains("change");
        } else if is_change && line.starts_with("data:") {
            changes += line.matches("\"diff\"").count() as u64;
            if let Some(at) = line.find("\"time\":") {
                let digits: String = line[at + 7..].chars().take_while(char::is_ascii_digit).collect();
                if let Ok(time) = digits.parse::<u64>() {
                    lags.push(illunare_dataflow::now_ms().saturating_sub(time) as u32);
                }
            }
        }
    }
    Ok((lags, changes))
}

/// Runs `clients` SSE readers against `addr` for `seconds`: (failed, median changes/s, lags).
async fn read_streams(addr: std::net::SocketAddr, clients: usize, seconds: f64) -> Result<(usize, f64, Vec<u32>)> {
    let end = tokio::time::Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        tasks.push(tokio::spawn(sse_client(addr, end)));
    }
    let mut lags = Vec::new();
    let mut changes = Vec::new();
    let mut failed = 0;
    for t in tasks {
        match t.await? {
            Ok((l, c)) => {
                lags.extend(l);
                changes.push(c);
            }
            Err(_) => failed += 1,
        }
    }
    lags.sort_unstable();
    changes.sort_unstable();
    let median_changes = changes.get(changes.len() / 2).copied().unwrap_or(0) as f64 / seconds;
    Ok((failed, median_changes, lags))
}

fn fanout_row(label: &str, clients: usize, (failed, median_changes, lags): &(usize, f64, Vec<u32>)) {
    let pct = |p: f64| lags.get(((lags.len().max(1) - 1) as f64 * p) as usize).copied().unwrap_or(0);
    println!("| {label} | {clients} | {failed} | {median_changes:.0} | {} | {} | {} | {} |", lags.len(), pct(0.5), pct(0.99), lags.last().copied().unwrap_or(0));
}

/// The reference: a bare TCP server broadcasting `per_tick` changes every `tick_ms`, each tick
/// one frame rendered once and shared, stamped with the time it is sent.
async fn reference_server(per_tick: usize, tick_ms: u64) -> Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (frames, _) = tokio::sync::broadcast::channel::<Arc<Vec<u8>>>(1024);
    let sender = frames.clone();
    tokio::spawn(async move {
        let mut seq = 0u64;
        let mut tick = tokio::time::interval(Duration::from_millis(tick_ms));
        loop {
            tick.tick().await;
            seq += 1;
            let now = illunare_dataflow::now_ms();
            let changes: Vec<String> = (0..per_tick)
                .map(|i| format!(r#"{{"row":{{"card_id":"card-{:05}","n":{},"total":{:.2}}},"diff":{},"time":{now}}}"#, (seq as usize * 31 + i) % 10_000, seq, seq as f64 * 1.5, if i % 2 == 0 { -1 } else { 1 }))
                .collect();
            let frame = format!("event: change\nid: {seq}\ndata: {{\"frontier\":{},\"changes\":[{}]}}\n\n", now + 1, changes.join(","));
            let _ = sender.send(Arc::new(frame.into_bytes()));
        }
    });
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut receiver = frames.subscribe();
            tokio::spawn(async move {
                let mut request = [0u8; 1024];
                let _ = socket.read(&mut request).await;
                if socket.write_all(b"HTTP/1.0 200 OK\r\ncontent-type: text/event-stream\r\n\r\n").await.is_err() {
                    return;
                }
                loop {
                    match receiver.recv().await {
                        Ok(frame) => {
                            if socket.write_all(&frame).await.is_err() {
                                return;
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => return,
                    }
                }
            });
        }
    });
    Ok(addr)
}

pub fn fanout(clients: usize, rate: u64, seconds: f64, tick_ms: u64) -> Result<()> {
    let io = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    io.block_on(async {
        let text = format!(
            "CREATE SOURCE tx (card_id VARCHAR, merchant VARCHAR, amount DOUBLE, ts TIMESTAMP)
               WITH (connector = 'generator', kind = 'transactions', rows = '1000000000', rate = '{rate}', seed = '7');
             CREATE MATERIALIZED VIEW per_card AS SELECT card_id, count(*) AS n, sum(amount) AS total FROM tx GROUP BY card_id;"
        );
        let (addr, engine) = start(&text, Duration::from_millis(tick_ms)).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let served = read_streams(addr, clients, seconds).await?;
        engine.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.stop();
        drop(engine);
        // The same clients on a bare broadcast of as many changes per tick.
        let per_tick = ((2 * rate * tick_ms) as usize / 1000).max(1);
        let reference = read_streams(reference_server(per_tick, tick_ms).await?, clients, seconds).await?;
        println!("change-stream fan-out: {clients} SSE clients on per_card, generator at {rate} rows/s, tick {tick_ms} ms, {seconds} s; reference: a bare TCP broadcast of {per_tick} changes per tick");
        println!("| server | clients | failed | changes/s per client (median) | change events | lag p50 ms | lag p99 ms | lag max ms |");
        println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
        fanout_row("illunare", clients, &served);
        fanout_row("bare TCP broadcast (reference)", clients, &reference);
        anyhow::Ok(())
    })
}
