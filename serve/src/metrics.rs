//! `GET /health` and `GET /metrics` (Prometheus text format, every name prefixed `illunare_`).
//!
//! Per source: rows read, errors, retries, late rows, whether it failed. Per served view: rows,
//! frontier lag (now minus the frontier), change-stream subscribers, log position. For the
//! engine: updates held in arrangements and waiting for their time, uptime.

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
    let (sources, views, state_size) = {
        let pipeline = state.pipeline();
        let mut sources = pipeline.source_metrics();
        sources.sort_by(|a, b| a.0.cmp(&b.0));
        let mut views = pipeline.snapshots();
        views.sort_by(|a, b| a.0.cmp(&b.0));
        (sources, views, pipeline.state_size())
    };
    let mut out = String::new();
    let counters: [(&str, &str, fn(&illunare_dataflow::SourceMetrics) -> u64); 5] = [
        ("source_rows_total", "Rows read from the source.", |m| m.rows.load(Ordering::Relaxed)),
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
    let now = illunare_dataflow::now_ms();
    let view_stats: Vec<(String, u64, Option<u64>, usize, u64)> = views
        .iter()
        .filter_map(|(name, h)| h.lock().ok().map(|s| (name.clone(), s.row_count, s.frontier, s.subscribers(), s.seq)))
        .collect();
    family(&mut out, "view_rows", "gauge", "Rows in the served view.");
    for (name, rows, ..) in &view_stats {
        let _ = writeln!(out, "illunare_view_rows{{view=\"{}\"}} {rows}", label(name));
    }
    family(&mut out, "view_frontier_lag_seconds", "gauge", "Wall-clock time minus the view's frontier (0 once complete).");
    for (name, _, frontier, ..) in &view_stats {
        let lag = frontier.map(|f| now.saturating_sub(f) as f64 / 1000.0).unwrap_or(0.0);
        let _ = writeln!(out, "illunare_view_frontier_lag_seconds{{view=\"{}\"}} {lag}", label(name));
    }
    family(&mut out, "view_subscribers", "gauge", "Open change streams on the view.");
    for (name, _, _, subscribers, _) in &view_stats {
        let _ = writeln!(out, "illunare_view_subscribers{{view=\"{}\"}} {subscribers}", label(name));
    }
    family(&mut out, "view_commits_total", "counter", "Commits applied to the served view.");
    for (name, .., seq) in &view_stats {
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
