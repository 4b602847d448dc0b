//! `bench modbus`: many simulated Modbus units polled at 10 Hz, illunare's `modbus` source
//! against a bare tokio-modbus polling loop, in the same run on the same simulated devices.
//!
//! The devices run in a child process (`bench modbus --serve PORT`, tokio-modbus's server), one
//! TCP endpoint per device, so the CPU figures are the client's alone. Each device's holding
//! registers 0..4 hold the time (µs, u64) its value last changed — it changes every 100 ms, at
//! a phase of its own. Latency is "register change → row visible": for illunare the time a
//! sink commit delivers a row with a new change time, for the bare loop the time its read
//! returns it; both include the wait for the next poll (≤ one poll interval), which is the
//! part polling cannot avoid. Figures: polls/s (target: illunare ≥ 80% of the bare loop), latency
//! p50/p99 and CPU (cores) of each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use illunare_connector::{ConnectorError, Diff, Row, Sink, SinkConnector, SinkSpec, Time};
use illunare_coord::{Pipeline, RunOptions};
use illunare_dataflow::ClusterConfig;
use illunare_types::Datum;
use tokio_modbus::client::Reader;
use tokio_modbus::{ExceptionCode, Request, Response};

const CHANGE_EVERY_US: u64 = 100_000;

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// CPU time (user + system) this process has used, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

/// A simulated device: its value changes every 100 ms at its own phase.
struct Device {
    phase_us: u64,
}

impl tokio_modbus::server::Service for Device {
    type Request = Request<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = std::future::Ready<Result<Response, ExceptionCode>>;

    fn call(&self, req: Request<'static>) -> Self::Future {
        std::future::ready(match req {
            Request::ReadHoldingRegisters(0, n) if n <= 4 => {
                let now = now_us().saturating_sub(self.phase_us);
                let changed = now - now % CHANGE_EVERY_US + self.phase_us;
                let b = changed.to_be_bytes();
                let words: Vec<u16> = b.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).take(usize::from(n)).collect();
                Ok(Response::ReadHoldingRegisters(words))
            }
            _ => Err(ExceptionCode::IllegalDataAddress),
        })
    }
}

/// Serves `devices` simulated devices on consecutive ports from `base`; prints READY.
pub fn serve(base: u16, devices: u16) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    runtime.block_on(async move {
        let mut tasks = Vec::new();
        for i in 0..devices {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", base + i)).await.with_context(|| format!("bind port {}", base + i))?;
            let phase_us = u64::from(i) * 7_919 % CHANGE_EVERY_US;
            tasks.push(tokio::spawn(async move {
                let server = tokio_modbus::server::tcp::Server::new(listener);
                let on_connected = move |stream, addr| async move {
                    tokio_modbus::server::tcp::accept_tcp_connection(stream, addr, move |_| Ok(Some(Device { phase_us })))
                };
                let _ = server.serve(&on_connected, |_| {}).await;
            }));
        }
        println!("READY");
        for t in tasks {
            let _ = t.await;
        }
        Ok::<_, anyhow::Error>(())
    })
}

/// Latency samples (µs) and poll counts shared by a run.
#[derive(Default)]
struct Samples {
    latencies: Vec<u64>,
    seen: HashMap<String, u64>,
}

impl Samples {
    fn observe(&mut self, device: &str, changed: u64, at: u64) {
        let last = self.seen.entry(device.to_string()).or_insert(0);
        if changed > *last {
            // The first time a device's new value is seen (the first poll sees an old change).
            if *last != 0 {
                self.latencies.push(at.saturating_sub(changed));
            }
            *last = changed;
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0
}

struct Figures {
    polls_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    cores: f64,
}

fn figures(polls: u64, wall: Duration, cpu: f64, mut latencies: Vec<u64>) -> Figures {
    latencies.sort_unstable();
    Figures {
        polls_per_s: polls as f64 / wall.as_secs_f64(),
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        cores: cpu / wall.as_secs_f64(),
    }
}

/// The reference: one tokio task per device, an interval and a read, nothing else.
fn bare_loop(base: u16, devices: u16, interval: Duration, run_for: Duration) -> Result<Figures> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let samples = Arc::new(Mutex::new(Samples::default()));
    let polls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..devices {
            let (samples, polls) = (samples.clone(), polls.clone());
            tasks.push(tokio::spawn(async move {
                let addr = std::net::SocketAddr::from(([127, 0, 0, 1], base + i));
                let Ok(mut ctx) = tokio_modbus::client::tcp::connect(addr).await else { return };
                let mut ticker = tokio::time::interval(interval);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                let device = addr.to_string();
                while start.elapsed() < run_for {
                    ticker.tick().await;
                    if let Ok(Ok(words)) = ctx.read_holding_registers(0, 4).await {
                        let changed = words.iter().fold(0u64, |acc, w| (acc << 16) | u64::from(*w));
                        polls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if let Ok(mut s) = samples.lock() {
                            s.observe(&device, changed, now_us());
                        }
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let wall = start.elapsed();
    let cpu = cpu_seconds() - cpu0;
    let latencies = std::mem::take(&mut samples.lock().map_err(|_| anyhow!("poisoned"))?.latencies);
    Ok(figures(polls.load(std::sync::atomic::Ordering::Relaxed), wall, cpu, latencies))
}

/// A sink that timestamps every row it receives (the bench's view of "visible").
struct LatencySinkConnector(Arc<Mutex<Samples>>);

impl SinkConnector for LatencySinkConnector {
    fn name(&self) -> &'static str {
        "latency"
    }

    fn create(&self, spec: &SinkSpec) -> Result<Box<dyn Sink>, ConnectorError> {
        spec.options.finish("latency")?;
        Ok(Box::new(LatencySink(self.0.clone())))
    }
}

struct LatencySink(Arc<Mutex<Samples>>);

impl Sink for LatencySink {
    fn commit(&mut self, updates: &[(Row, Time, Diff)], _frontier: Option<Time>) -> Result<(), ConnectorError> {
        let at = now_us();
        let mut samples = self.0.lock().map_err(|_| ConnectorError::Other("poisoned".into()))?;
        for (row, _, diff) in updates {
            if let (true, Datum::Str(device), Datum::Int(changed)) = (*diff > 0, row.get(0), row.get(1)) {
                samples.observe(device, *changed as u64, at);
            }
        }
        Ok(())
    }
}

fn illunare_run(base: u16, devices: u16, interval: Duration, run_for: Duration, workers: usize, tick: Duration) -> Result<Figures> {
    let list: Vec<String> = (0..devices).map(|i| format!("127.0.0.1:{}/1", base + i)).collect();
    let text = format!(
        "CREATE SOURCE plc (device VARCHAR, changed_at BIGINT, quality VARCHAR)
           WITH (connector = 'modbus', devices = '{}', poll_interval = '{}ms', timeout = '1s',
                 fields = '{{ name = \"changed_at\", register = \"holding\", address = 0, type = \"uint64\" }}');
         CREATE VIEW fresh AS SELECT device, changed_at FROM plc WHERE quality = 'good';
         CREATE SINK watch FROM fresh WITH (connector = 'latency');",
        list.join(", "),
        interval.as_millis()
    );
    let samples = Arc::new(Mutex::new(Samples::default()));
    let mut registry = crate::registry();
    registry.add_source(Arc::new(illunare_source_modbus::ModbusConnector)).add_sink(Arc::new(LatencySinkConnector(samples.clone())));
    let mut pipeline = Pipeline::load(&text, &registry).map_err(|e| anyhow!("{}", e.render("bench.sql", &text)))?;
    let options = RunOptions { cluster: ClusterConfig { workers, ..Default::default() }, capture_all: false, commit_interval: Duration::ZERO, tick };
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    pipeline.start(&options).map_err(|e| anyhow!("{e}"))?;
    pipeline.close_tables();
    std::thread::sleep(run_for);
    let wall = start.elapsed();
    let cpu = cpu_seconds() - cpu0;
    let polls: u64 = pipeline.source_metrics().iter().map(|(_, m)| m.rows.load(std::sync::atomic::Ordering::Relaxed)).sum();
    pipeline.stop();
    pipeline.join().map_err(|e| anyhow!("{e}"))?;
    let latencies = std::mem::take(&mut samples.lock().map_err(|_| anyhow!("poisoned"))?.latencies);
    Ok(figures(polls, wall, cpu, latencies))
}

pub fn run(devices: u16, interval_ms: u64, seconds: u64, workers: usize, tick_ms: u64) -> Result<()> {
    // Below Linux's ephemeral range (32768–60999), so no client socket holds one of the ports.
    let base = 20_000 + (std::process::id() % 12_000) as u16;
    let mut server = std::process::Command::new(std::env::current_exe()?)
        .args(["modbus", "--serve", &base.to_string(), "--devices", &devices.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut ready = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(server.stdout.take().context("server stdout")?), &mut ready)?;
    if ready.trim() != "READY" {
        let _ = server.kill();
        return Err(anyhow!("simulated devices did not start (ports {base}..{})", base + devices));
    }
    let interval = Duration::from_millis(interval_ms);
    let run_for = Duration::from_secs(seconds);
    let result = (|| {
        let bare = bare_loop(base, devices, interval, run_for)?;
        let ours = illunare_run(base, devices, interval, run_for, workers, Duration::from_millis(tick_ms))?;
        Ok::<_, anyhow::Error>((bare, ours))
    })();
    let _ = server.kill();
    let _ = server.wait();
    let (bare, ours) = result?;
    let target = f64::from(devices) * 1000.0 / interval_ms as f64;
    println!("{devices} simulated units at {:.0} Hz ({target:.0} polls/s asked), {seconds} s each, illunare with {workers} worker(s), tick {tick_ms} ms", 1000.0 / interval_ms as f64);
    println!("{:<22} {:>10} {:>14} {:>14} {:>12}", "", "polls/s", "latency p50", "latency p99", "CPU (cores)");
    for (name, f) in [("bare tokio-modbus loop", &bare), ("illunare modbus source", &ours)] {
        println!("{name:<22} {:>10.0} {:>11.1} ms {:>11.1} ms {:>12.2}", f.polls_per_s, f.p50_ms, f.p99_ms, f.cores);
    }
    println!("illunare / bare: {:.2} of the polling rate (target ≥ 0.80)", ours.polls_per_s / bare.polls_per_s);
    Ok(())
}
