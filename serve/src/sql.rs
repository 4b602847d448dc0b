//! `POST /api/v1/sql` (DDL and DML on the running engine) and `GET /api/v1/catalog`.

use std::sync::atomic::Ordering;

use arrow::datatypes::Schema;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use illunare_coord::Executed;
use illunare_sql::{RelationKind, Statement};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::values::frontier_json;

/// The SQL text of a request: `{"sql": "…"}` as JSON, or the body itself as `text/plain`.
pub(crate) fn sql_text(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<String, ApiError> {
    let body = body?;
    let json = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("application/json"));
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("bad_body", "the body is not UTF-8"))?;
    if !json {
        return Ok(text.to_string());
    }
    let value: Value = serde_json::from_str(text).map_err(|e| ApiError::bad_request("bad_json", format!("the body is not valid JSON: {e}")))?;
    match value.get("sql") {
        Some(Value::String(sql)) => Ok(sql.clone()),
        _ => Err(ApiError::bad_request("bad_json", "expected {\"sql\": \"…\"}")),
    }
}

pub(crate) fn kind_name(kind: RelationKind) -> &'static str {
    match kind {
        RelationKind::Source => "source",
        RelationKind::Table => "table",
        RelationKind::View => "view",
        RelationKind::MaterializedView => "materialized_view",
        RelationKind::Sink => "sink",
        RelationKind::Errors => "errors",
        RelationKind::Late => "late",
    }
}

fn executed_json(e: &Executed) -> Value {
    match e {
        Executed::Created { kind, name } => json!({"created": {"kind": kind_name(*kind), "name": name}}),
        Executed::Dropped { dropped } => json!({"dropped": dropped.iter().map(|(n, k)| json!({"kind": kind_name(*k), "name": n})).collect::<Vec<_>>()}),
        Executed::Changed { table, rows, time } => json!({"changed": {"table": table, "rows": rows, "time": time}}),
    }
}

pub async fn execute(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Json<Value>, ApiError> {
    let sql = sql_text(&headers, body)?;
    if sql.trim().is_empty() {
        return Err(ApiError::bad_request("empty_sql", "no SQL statement given"));
    }
    let pipeline = state.shared_pipeline();
    // Planning runs DataFusion's planner synchronously; keep it off the request threads.
    let done = tokio::task::spawn_blocking(move || {
        let mut pipeline = pipeline.lock().unwrap_or_else(|p| p.into_inner());
        pipeline.execute(&sql)
    })
    .await
    .map_err(|e| ApiError::internal(format!("statement task failed: {e}")))??;
    Ok(Json(json!({"results": done.iter().map(executed_json).collect::<Vec<_>>()})))
}

pub(crate) fn columns_json(schema: &Schema) -> Value {
    Value::Array(schema.fields().iter().map(|f| json!({"name": f.name(), "type": f.data_type().to_string(), "nullable": f.is_nullable()})).collect())
}

pub async fn catalog(State(state): State<AppState>) -> Json<Value> {
    let pipeline = state.pipeline();
    let metrics: std::collections::HashMap<_, _> = pipeline.source_metrics().into_iter().collect();
    let snapshots: std::collections::HashMap<_, _> = pipeline.snapshots().into_iter().collect();
    let (mut sources, mut tables, mut views, mut sinks) = (vec![], vec![], vec![], vec![]);
    for stmt in &pipeline.statements {
        match stmt {
            Statement::CreateSource(def) => {
                let status = match metrics.get(&def.name) {
                    None => json!({"state": "idle"}),
                    Some(m) => json!({
                        "state": if m.fatal.get().is_some() { "failed" } else { "running" },
                        "rows": m.rows.load(Ordering::Relaxed),
                        "errors": m.errors.load(Ordering::Relaxed),
                        "retries": m.retries.load(Ordering::Relaxed),
                        "late": m.late.load(Ordering::Relaxed),
                        "error": m.fatal.get(),
                    }),
                };
                sources.push(json!({"name": def.name, "connector": def.connector(), "columns": columns_json(&def.schema), "status": status}));
            }
            Statement::CreateTable(def) => {
                tables.push(json!({"name": def.name, "columns": columns_json(&def.schema), "rows": pipeline.tables.rows(&def.name).len()}));
            }
            Statement::CreateView(def) => {
                let status = match snapshots.get(&def.name).and_then(|h| h.lock().ok().map(|s| (s.row_count, s.frontier, s.subscribers(), s.closed))) {
                    Some((rows, frontier, subscribers, closed)) => json!({
                        "state": if closed { "complete" } else { "running" },
                        "rows": rows, "frontier": frontier_json(frontier), "subscribers": subscribers,
                    }),
                    None => json!({"state": if def.materialized { "not_served" } else { "definition" }}),
                };
                views.push(json!({"name": def.name, "materialized": def.materialized, "columns": columns_json(&def.plan.schema), "status": status}));
            }
            Statement::CreateSink(def) => {
                let state = if pipeline.dataflow_of(&def.name).is_some() { "running" } else { "stopped" };
                sinks.push(json!({"name": def.name, "from": def.from, "connector": def.connector(), "status": {"state": state}}));
            }
            Statement::Dml(_) | Statement::Drop(_) => {}
        }
    }
    Json(json!({"sources": sources, "tables": tables, "views": views, "sinks": sinks}))
}
