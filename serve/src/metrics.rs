//! `GET /health` and `GET /metrics` (Prometheus text format, every name prefixed `illunare_`).
//!
//! Per source: rows and bytes read, errors, retries, late rows, lag (now minus its frontier),
//! whether it failed. Per served view: rows, estimated state bytes, frontier lag, change-stream
//! subscribers, log position. Per sink: updates committed, commits, failed commits, commit
//! latency (histogram), frontier lag. For the engine: updates held in arrangements and waiting
//! for their time, uptime.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;

use crate::AppState;

pub async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let pipeline = state.pipeline();
    let failed: Vec<String> = pipeline.source_metrics().iter().filter_map(|(n, m)| m.fatal.get().map(|e| format!("{n}: {e}"))).collect();
    let status = if pipeline.runtime().is_none() {
        "stopped"
    } else if !failed.is_empty() {
        "degraded"
    } else {
        "ok"
    };
    let code = if status == "ok" { axum::http::StatusCode::OK } else { axum::http::StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(json!({"status": status, "uptime_seconds": state.uptime().as_secs(), "failed_sources": failed})))
}

/// Prometheus label value escaping.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP illunare_{name} {help}\n# TYPE illunare_{name} {kind}");
}

pub async fn prometheus(State(state): State<AppState>) -> impl IntoResponse {
    let (sources, sinks, views, state_size) = {
        let pipeline = state.pipeline();
        let mut sources = pipeline.source_metrics();
        sources.sort_by(|a, b| a.0.cmp(&b.0));
        let mut sinks = pipeline.sink_metrics();
        sinks.sort_by(|a, b| a.0.cmp(&b.0));
        let mut views = pipeline.snapshots();
        views.sort_by(|a, b| a.0.cmp(&b.0));
        (sources, sinks, views, pipeline.state_size())
    };
    let now = illunare_dataflow::now_ms();
    // Wall clock minus a frontier, in seconds; 0 once complete or before it started.
    let lag = |frontier: u64| if frontier == u64::MAX || frontier == 0 { 0.0 } else { now.saturating_sub(frontier) as f64 / 1000.0 };
    let mut out = String::new();
    let counters: [(&str, &str, fn(&illunare_dataflow::SourceMetrics) -> u64); 6] = [
        ("source_rows_total", "Rows read from the source.", |m| m.rows.load(Ordering::Relaxed)),
        ("source_bytes_total", "Bytes of the rows read, as decoded columns.", |m| m.bytes.load(Ordering::Relaxed)),
        ("source_errors_total", "Malformed records and failed reads, sent to <source>_errors.", |m| m.errors.load(Ordering::Relaxed)),
        ("source_retries_total", "Reconnects after a failure.", |m| m.retries.load(Ordering::Relaxed)),
        ("source_late_rows_total", "Rows behind the watermark, sent to <source>_late.", |m| m.late.load(Ordering::Relaxed)),
        ("source_dropped_total", "Bad records dropped as configured.", |m| m.dropped.load(Ordering::Relaxed)),
    ];
    for (name, help, read) in counters {
        family(&mut out, name, "counter", help);
        for (source, m) in &sources {
            let _ = writeln!(out, "illunare_{name}{{source=\"{}\"}} {}", label(source), read(m));
        }
    }
    family(&mut out, "source_failed", "gauge", "1 when the source stopped on a fatal error.");
    for (source, m) in &sources {
        let _ = writeln!(out, "illunare_source_failed{{source=\"{}\"}} {}", label(source), u8::from(m.fatal.get().is_some()));
    }
    family(&mut out, "source_lag_seconds", "gauge", "Wall-clock time minus the source's frontier (its watermark for event time; 0 once done).");
    for (source, m) in &sources {
        let _ = writeln!(out, "illunare_source_lag_seconds{{source=\"{}\"}} {}", label(source), lag(m.frontier.load(Ordering::Relaxed)));
    }
    sink_families(&mut out, &sinks, &lag);
    let view_stats: Vec<(String, u64, Option<u64>, usize, u64, u64)> = views
        .iter()
        .filter_map(|(name, h)| h.lock().ok().map(|s| (name.clone(), s.row_count, s.frontier, s.subscribers(), s.seq, s.state_bytes)))
        .collect();
    family(&mut out, "view_state_bytes", "gauge", "Estimated memory of the served view's rows.");
    for (name, .., bytes) in &view_stats {
        let _ = writeln!(out, "illunare_view_state_bytes{{view=\"{}\"}} {bytes}", label(name));
    }
    family(&mut out, "view_rows", "gauge", "Rows in the served view.");
    for (name, rows, ..) in &view_stats {
        let _ = writeln!(out, "illunare_view_rows{{view=\"{}\"}} {rows}", label(name));
    }
    family(&mut out, "view_frontier_lag_seconds", "gauge", "Wall-clock time minus the view's frontier (0 once complete).");
    for (name, _, frontier, ..) in &view_stats {
        let _ = writeln!(out, "illunare_view_frontier_lag_seconds{{view=\"{}\"}} {}", label(name), lag(frontier.unwrap_or(u64::MAX)));
    }
    family(&mut out, "view_subscribers", "gauge", "Open change streams on the view.");
    for (name, _, _, subscribers, ..) in &view_stats {
        let _ = writeln!(out, "illunare_view_subscribers{{view=\"{}\"}} {subscribers}", label(name));
    }
    family(&mut out, "view_commits_total", "counter", "Commits applied to the served view.");
    for (name, _, _, _, seq, _) in &view_stats {
        let _ = writeln!(out, "illunare_view_commits_total{{view=\"{}\"}} {seq}", label(name));
    }
    family(&mut out, "arranged_updates", "gauge", "Updates held in arrangements (operator state).");
    let _ = writeln!(out, "illunare_arranged_updates {}", state_size.0);
    family(&mut out, "pending_updates", "gauge", "Updates waiting for their time.");
    let _ = writeln!(out, "illunare_pending_updates {}", state_size.1);
    family(&mut out, "uptime_seconds", "gauge", "Seconds since the server started.");
    let _ = writeln!(out, "illunare_uptime_seconds {}", state.uptime().as_secs());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out)
}

/// Per sink: updates, commits, failures, the commit-latency histogram and the frontier lag.
fn sink_families(out: &mut String, sinks: &[(String, std::sync::Arc<illunare_dataflow::SinkMetrics>)], lag: &dyn Fn(u64) -> f64) {
    let counters: [(&str, &str, fn(&illunare_dataflow::SinkMetrics) -> u64); 3] = [
        ("sink_updates_total", "Updates (insertions and retractions) committed to the sink.", |m| m.updates.load(Ordering::Relaxed)),
        ("sink_commits_total", "Commits the sink acknowledged.", |m| m.commits.load(Ordering::Relaxed)),
        ("sink_commit_failures_total", "Commits that failed (each is retried).", |m| m.failures.load(Ordering::Relaxed)),
    ];
    for (name, help, read) in counters {
        family(out, name, "counter", help);
        for (sink, m) in sinks {
            let _ = writeln!(out, "illunare_{name}{{sink=\"{}\"}} {}", label(sink), read(m));
        }
    }
    family(out, "sink_commit_seconds", "histogram", "Time from starting a commit to the sink acknowledging it.");
    for (sink, m) in sinks {
        let sink = label(sink);
        let counts = m.cumulative_buckets();
        let bounds = illunare_dataflow::sink_metrics::COMMIT_BUCKETS.iter().map(|b| b.to_string()).chain(["+Inf".to_string()]);
        for (le, count) in bounds.zip(&counts) {
            let _ = writeln!(out, "illunare_sink_commit_seconds_bucket{{sink=\"{sink}\",le=\"{le}\"}} {count}");
        }
        let _ = writeln!(out, "illunare_sink_commit_seconds_sum{{sink=\"{sink}\"}} {}", m.commit_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "illunare_sink_commit_seconds_count{{sink=\"{sink}\"}} {}", counts.last().copied().unwrap_or(0));
    }
    family(out, "sink_frontier_lag_seconds", "gauge", "Wall-clock time minus the frontier the sink has committed through (0 once complete).");
    for (sink, m) in sinks {
        let _ = writeln!(out, "illunare_sink_frontier_lag_seconds{{sink=\"{}\"}} {}", label(sink), lag(m.frontier.load(Ordering::Relaxed)));
    }
}
