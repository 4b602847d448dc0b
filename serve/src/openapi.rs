//! `GET /api/v1/openapi.json`: the API described as OpenAPI 3.1, written by hand next to the
//! handlers (a derive-based generator would add a proc-macro dependency for eight routes).

use axum::Json;
use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn rows_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Rows"}}}})
}

fn sql_body() -> Value {
    json!({"required": true, "content": {
        "application/json": {"schema": {"type": "object", "required": ["sql"], "properties": {"sql": {"type": "string"}}}},
        "text/plain": {"schema": {"type": "string"}}
    }})
}

pub fn spec() -> Value {
    let name = json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string"}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "illunare", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Streaming SQL engine: DDL/DML, view reads, ad-hoc queries and change streams."},
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/sql": {"post": {
                "summary": "Run DDL (CREATE/DROP SOURCE, TABLE, VIEW, MATERIALIZED VIEW, SINK) and DML (INSERT, UPDATE, DELETE) on the running engine. Needs the admin token when tokens are set.",
                "requestBody": sql_body(),
                "responses": {
                    "200": {"description": "What each statement did", "content": {"application/json": {"schema": {"type": "object", "properties": {"results": {"type": "array", "items": {"type": "object"}}}}}}},
                    "400": error_response("Bad SQL (with line and column), bad body"),
                    "401": error_response("No valid token"), "403": error_response("A read token"), "413": error_response("Body over the limit")
                }}},
            "/api/v1/catalog": {"get": {"summary": "Sources, tables, views and sinks with their columns and status.",
                "responses": {"200": {"description": "The catalog", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/api/v1/views/{name}": {"get": {
                "summary": "A materialized view's rows as of one frontier. Any other query parameter is an equality filter on that column; filters on the leading columns use the view's index.",
                "parameters": [name.clone(),
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 1000, "maximum": 100000}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "default": 0}}],
                "responses": {"200": rows_response("The rows"), "400": error_response("Not materialized, unknown column, bad value"), "404": error_response("No such view")}}},
            "/api/v1/views/{name}/changes": {"get": {
                "summary": "Server-Sent Events: `snapshot` (the rows), then `change` (rows with diff and time) and `progress` (frontier) events. Resume with Last-Event-ID.",
                "parameters": [name, {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "An event stream", "content": {"text/event-stream": {}}}, "404": error_response("No such view")}}},
            "/api/v1/query": {"post": {"summary": "An ad-hoc SELECT through DataFusion over views, tables and local Parquet sources.",
                "requestBody": sql_body(),
                "responses": {"200": rows_response("The answer"), "400": error_response("Not a query, or it failed")}}},
            "/health": {"get": {"summary": "ok, degraded (a source failed) or stopped.", "security": [], "responses": {"200": {"description": "Healthy"}, "503": {"description": "Degraded or stopped"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics, prefixed illunare_.", "security": [], "responses": {"200": {"description": "Text exposition format", "content": {"text/plain": {}}}}}}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Rows": {"type": "object", "required": ["frontier", "rows"], "properties": {
                    "frontier": {"type": ["integer", "null"], "description": "Every update before this time (ms) is included; null: complete."},
                    "rows": {"type": "array", "items": {"type": "object"}}}},
                "Error": {"type": "object", "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}, "line": {"type": "integer"}, "column": {"type": "integer"}, "hint": {"type": "string"}}}}}
            }
        }
    })
}

pub async fn document() -> Json<Value> {
    Json(spec())
}
