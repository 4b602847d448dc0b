//! `GET /api/v1/views/{name}`: a materialized view's current rows, consistent as of one
//! frontier (they are read under the snapshot's lock).
//!
//! `?col=value` filters by equality. The snapshot keeps rows ordered (a B-tree on the whole
//! row), so filters that fix the view's leading columns — the GROUP BY keys of an aggregate
//! view written key-first — are answered by a range lookup in that order. Filters on other
//! columns are answered by a secondary index of those columns, which the first such lookup
//! builds and every commit then maintains (`illunare_dataflow::snapshot_index`, a few per
//! view); only past that bound do they scan. The `illunare-access` response header says which
//! (`index`, `scan`, or `all` without filters). `limit` and `offset` page through the result
//! in row order.

use std::collections::HashMap;
use std::ops::Bound;

use arrow::datatypes::SchemaRef;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use illunare_dataflow::{SnapshotHandle, SnapshotState};
use illunare_sql::RelationKind;
use illunare_types::{Datum, Row};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::values::{frontier_json, parse_value, row_json};

const DEFAULT_LIMIT: usize = 1000;
const MAX_LIMIT: usize = 100_000;

/// A served view: its snapshot and columns.
pub(crate) struct ServedView {
    pub handle: SnapshotHandle,
    pub schema: SchemaRef,
}

/// Finds view `name`'s snapshot: 404 if there is no such relation, 400 if it is not served.
pub(crate) fn served_view(state: &AppState, name: &str) -> Result<ServedView, ApiError> {
    let pipeline = state.pipeline();
    let Some(entry) = pipeline.planner.catalog().get(name) else {
        return Err(ApiError::not_found("view", name));
    };
    let schema = entry.schema.clone();
    let kind = entry.kind;
    let handle = pipeline.runtime().and_then(|r| r.snapshots.get(name).cloned());
    match (handle, kind) {
        (Some(handle), _) => Ok(ServedView { handle, schema }),
        (None, RelationKind::View) => Err(ApiError::bad_request("not_materialized", format!("view '{name}' is not materialized, so it has no rows to serve"))
            .with_hint("CREATE MATERIALIZED VIEW, or query it through POST /api/v1/query")),
        (None, _) => Err(ApiError::bad_request("not_a_view", format!("'{name}' is a {kind:?}, not a materialized view"))),
    }
}

impl ApiError {
    pub(crate) fn with_hint(mut self, hint: &str) -> Self {
        self.hint = Some(hint.to_string());
        self
    }
}

/// Equality filters from the query string, as (column index, value).
fn filters(params: &HashMap<String, String>, schema: &SchemaRef) -> Result<Vec<(usize, Datum)>, ApiError> {
    let mut out = Vec::new();
    for (key, value) in params {
        if matches!(key.as_str(), "limit" | "offset" | "token") {
            continue;
        }
        let Ok(index) = schema.index_of(key) else {
            return Err(ApiError::bad_request("unknown_column", format!("'{key}' is not a column of this view (columns: {})",
                schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", "))));
        };
        out.push((index, parse_value(key, value, schema.field(index).data_type())?));
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out)
}

fn number(params: &HashMap<String, String>, key: &str, default: usize) -> Result<usize, ApiError> {
    match params.get(key) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| ApiError::bad_request("bad_parameter", format!("{key} must be a non-negative integer, not {v:?}"))),
    }
}

/// Rows matching `filters`, each repeated by its multiplicity, and whether an index answered
/// them rather than a scan: the row order itself when the filters fix the leading columns,
/// else a secondary index of exactly the filtered columns (built by the first such lookup).
pub(crate) fn matching(snapshot: &mut SnapshotState, filters: &[(usize, Datum)]) -> (Vec<Row>, bool) {
    let expand = |(row, n): (&Row, &illunare_types::Diff)| std::iter::repeat_n(row.clone(), (*n).max(0) as usize);
    if filters.is_empty() {
        return (snapshot.rows.iter().flat_map(expand).collect(), true);
    }
    // NULL equals nothing.
    if filters.iter().any(|(_, v)| *v == Datum::Null) {
        return (Vec::new(), true);
    }
    let leading = filters.iter().enumerate().all(|(n, (i, _))| n == *i);
    if leading {
        // Rows starting with the prefix sort right after the prefix itself.
        let prefix = Row(filters.iter().map(|(_, v)| v.clone()).collect());
        let found = snapshot
            .rows
            .range((Bound::Included(prefix.clone()), Bound::Unbounded))
            .take_while(|(r, _)| r.0.len() >= prefix.0.len() && r.0[..prefix.0.len()] == prefix.0[..])
            .flat_map(expand)
            .collect();
        return (found, true);
    }
    let columns: Vec<usize> = filters.iter().map(|(i, _)| *i).collect();
    let values = Row(filters.iter().map(|(_, v)| v.clone()).collect());
    if let Some(found) = snapshot.lookup(&columns, &values) {
        return (found.iter().flat_map(|(r, n)| expand((r, n))).collect(), true);
    }
    let matches = |row: &Row| filters.iter().all(|(i, v)| row.0.get(*i) == Some(v));
    (snapshot.rows.iter().filter(|(r, _)| matches(r)).flat_map(expand).collect(), false)
}

pub async fn read(State(state): State<AppState>, Path(name): Path<String>, Query(params): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    let view = served_view(&state, &name)?;
    let filters = filters(&params, &view.schema)?;
    let limit = number(&params, "limit", DEFAULT_LIMIT)?.min(MAX_LIMIT);
    let offset = number(&params, "offset", 0)?;
    let (frontier, page, indexed) = {
        let mut snapshot = view.handle.lock().map_err(|_| ApiError::internal("snapshot lock poisoned"))?;
        let (rows, indexed) = matching(&mut snapshot, &filters);
        let page: Vec<Row> = rows.into_iter().skip(offset).take(limit).collect();
        (snapshot.frontier, page, indexed)
    };
    let rows: Vec<Value> = page.iter().map(|r| row_json(r, &view.schema)).collect();
    let columns: Vec<&str> = view.schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut response = Json(json!({"frontier": frontier_json(frontier), "columns": columns, "rows": rows})).into_response();
    let access = if filters.is_empty() { "all" } else if indexed { "index" } else { "scan" };
    response.headers_mut().insert("illunare-access", HeaderValue::from_static(access));
    Ok(response)
}
