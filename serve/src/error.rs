//! API errors: a stable machine-readable code, a message for people, the HTTP status, and for
//! SQL errors the line:column they point at.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use illunare_coord::CoordError;
use illunare_sql::SqlError;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, e.g. `sql_error`, `not_found`, `unauthorized`.
    pub code: &'static str,
    pub message: String,
    /// Where in the submitted SQL (1-based line and column).
    pub location: Option<(u64, u64)>,
    pub hint: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), location: None, hint: None }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(what: &str, name: &str) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("{what} '{name}' does not exist"))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<SqlError> for ApiError {
    fn from(e: SqlError) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "sql_error",
            message: e.message,
            location: Some((e.location.line, e.location.column)),
            hint: e.hint,
        }
    }
}

impl From<CoordError> for ApiError {
    fn from(e: CoordError) -> Self {
        match e {
            CoordError::Sql(e) => e.into(),
            CoordError::Runtime(m) => ApiError::new(StatusCode::CONFLICT, "engine_error", m),
        }
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(e: axum::extract::rejection::BytesRejection) -> Self {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "body_too_large" } else { "bad_body" };
        ApiError::new(status, code, e.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        if let Some((line, column)) = self.location {
            body["error"]["line"] = json!(line);
            body["error"]["column"] = json!(column);
        }
        if let Some(hint) = self.hint {
            body["error"]["hint"] = json!(hint);
        }
        (self.status, Json(body)).into_response()
    }
}
