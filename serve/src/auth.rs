//! Bearer tokens: the admin token may do everything, the read token may read, query and
//! subscribe. With neither configured every request is allowed (the server then binds only to
//! loopback unless told `--insecure`, see `lib.rs`).
//!
//! Tokens are compared in constant time, so response timing does not reveal a prefix.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

/// What a request may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    Read,
    Admin,
}

/// The configured tokens.
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    pub admin: Option<String>,
    pub read: Option<String>,
}

impl Tokens {
    /// From `ILLUNARE_ADMIN_TOKEN` and `ILLUNARE_READ_TOKEN` (empty counts as unset).
    pub fn from_env() -> Tokens {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Tokens { admin: get("ILLUNARE_ADMIN_TOKEN"), read: get("ILLUNARE_READ_TOKEN") }
    }

    pub fn any(&self) -> bool {
        self.admin.is_some() || self.read.is_some()
    }

    /// What `presented` grants; `None`: nothing (wrong or missing token).
    pub fn access(&self, presented: Option<&str>) -> Option<Access> {
        if !self.any() {
            return Some(Access::Admin);
        }
        let presented = presented?;
        if self.admin.as_deref().is_some_and(|t| same(t, presented)) {
            return Some(Access::Admin);
        }
        if self.read.as_deref().is_some_and(|t| same(t, presented)) {
            return Some(Access::Read);
        }
        None
    }
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The bearer token of a request (`Authorization: Bearer …`, or `?token=` for EventSource
/// clients, which cannot set headers).
fn presented(request: &Request) -> Option<String> {
    if let Some(value) = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return value.strip_prefix("Bearer ").map(|t| t.trim().to_string());
    }
    request.uri().query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")).map(percent_decode))
}

/// `%XX` escapes and `+` (a space in query strings) decoded; invalid escapes stay as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%').then(|| bytes.get(i + 1..i + 3)).flatten().and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Only the admin token may change the engine (`POST /api/v1/sql`; this middleware sits inside
/// the `/api/v1` router, which sees the path without its prefix).
fn needs(request: &Request) -> Access {
    let path = request.uri().path();
    if request.method() == Method::POST && (path == "/sql" || path == "/api/v1/sql") { Access::Admin } else { Access::Read }
}

pub async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let token = presented(&request);
    match state.tokens().access(token.as_deref()) {
        None => {
            let mut response = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required").into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            response
        }
        Some(granted) if granted < needs(&request) => {
            ApiError::new(StatusCode::FORBIDDEN, "forbidden", "this token may read and query, not change the engine").into_response()
        }
        Some(_) => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_grant_what_they_should() {
        let open = Tokens::default();
        assert_eq!(open.access(None), Some(Access::Admin));
        let both = Tokens { admin: Some("adm".into()), read: Some("rd".into()) };
        assert_eq!(both.access(Some("adm")), Some(Access::Admin));
        assert_eq!(both.access(Some("rd")), Some(Access::Read));
        assert_eq!(both.access(Some("ad")), None);
        assert_eq!(both.access(None), None);
        let read_only = Tokens { admin: None, read: Some("rd".into()) };
        assert_eq!(read_only.access(Some("")), None);
    }

    #[test]
    fn query_tokens_are_percent_decoded() {
        assert_eq!(percent_decode("a%2Bb%3D%3d+c"), "a+b== c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
