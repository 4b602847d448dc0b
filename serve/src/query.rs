//! `POST /api/v1/query`: an ad-hoc SELECT through DataFusion over views, tables and local
//! Parquet sources (`illunare_coord::adhoc`). DDL and DML go to `/api/v1/sql`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use illunare_coord::adhoc::{self, AdhocError};
use illunare_types::batch_to_rows;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::sql::sql_text;
use crate::values::{frontier_json, row_json};

/// Rows an ad-hoc answer may hold.
const MAX_ROWS: usize = 100_000;

impl From<AdhocError> for ApiError {
    fn from(e: AdhocError) -> Self {
        match e {
            AdhocError::NotAQuery => ApiError::bad_request("not_a_query", e.to_string()).with_hint("send DDL and DML to POST /api/v1/sql"),
            AdhocError::NotQueryable(m) => ApiError::bad_request("not_queryable", m),
            AdhocError::Query(m) => ApiError::bad_request("query_error", m),
        }
    }
}

pub async fn query(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Json<Value>, ApiError> {
    let sql = sql_text(&headers, body)?;
    let answer = adhoc::query(&state.shared_pipeline(), &sql, Some(MAX_ROWS + 1)).await?;
    let mut rows = Vec::new();
    for batch in &answer.batches {
        rows.extend(batch_to_rows(batch).map_err(|e| ApiError::internal(e.to_string()))?);
    }
    let truncated = rows.len() > MAX_ROWS;
    rows.truncate(MAX_ROWS);
    let rows: Vec<Value> = rows.iter().map(|r| row_json(r, &answer.schema)).collect();
    let columns: Vec<&str> = answer.schema.fields().iter().map(|f| f.name().as_str()).collect();
    Ok(Json(json!({"frontier": frontier_json(answer.frontier), "columns": columns, "rows": rows, "truncated": truncated})))
}
