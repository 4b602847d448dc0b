//! The live dashboard at `/`: a single page plus its scripts, styles and the charting library,
//! compiled into the binary so nothing is fetched from elsewhere at run time.
//!
//! The page talks only to the public API (`/api/v1/catalog`, `/api/v1/views/{name}/changes`,
//! `/api/v1/query`), with the token from its URL (`/?token=…`) when tokens are set.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// The files under `serve/assets/`, by name, with their content type.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.js", "text/javascript; charset=utf-8", include_str!("../assets/app.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("../assets/style.css")),
    ("uPlot.iife.min.js", "text/javascript; charset=utf-8", include_str!("../assets/vendor/uPlot.iife.min.js")),
    ("uPlot.min.css", "text/css; charset=utf-8", include_str!("../assets/vendor/uPlot.min.css")),
];

pub async fn index() -> Html<&'static str> {
    Html(include_str!("../assets/index.html"))
}

pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, ..)| *name == file) {
        Some((_, content_type, body)) => ([(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "public, max-age=3600")], *body).into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
