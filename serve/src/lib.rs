//! Serving: how users read a running engine — an HTTP/JSON API with change streams (SSE),
//! Prometheus metrics and an OpenAPI description.
//!
//! ```text
//!  /api/v1/sql ─────────► Pipeline::execute (DDL/DML on the running engine)
//!  /api/v1/views/{v} ───► the view's in-memory snapshot (one lock = one frontier)
//!  /api/v1/views/{v}/changes ► snapshot + subscription under the same lock, then SSE
//!  /api/v1/query ───────► DataFusion over snapshots of views, tables and Parquet sources
//!  /metrics, /health ───► counters of sources, views and state
//! ```
//! Every route is built by [`app`], so tests drive it without a socket (`tower::ServiceExt`);
//! [`serve`] binds it. The engine sits behind one mutex: statements are applied one at a time,
//! and reads hold it only long enough to find a view's snapshot handle.

mod auth;
mod changes;
mod dashboard;
mod error;
mod metrics;
mod openapi;
mod query;
mod sql;
mod values;
mod views;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use illunare_coord::Pipeline;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use auth::{Access, Tokens};
pub use error::ApiError;

/// How the server behaves.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub tokens: Tokens,
    /// Origins allowed to call the API from a browser (`*`: any). Empty: same origin only.
    pub cors_origins: Vec<String>,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Bind to non-loopback addresses even without tokens.
    pub insecure: bool,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig { tokens: Tokens::default(), cors_origins: Vec::new(), body_limit: 1 << 20, insecure: false }
    }
}

/// What every handler sees.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    pipeline: Arc<Mutex<Pipeline>>,
    config: ServeConfig,
    started: Instant,
    /// Per served snapshot (by its handle's address), rendered change events.
    render_caches: Mutex<std::collections::HashMap<usize, (std::sync::Weak<Mutex<illunare_dataflow::SnapshotState>>, Arc<changes::RenderCache>)>>,
}

impl AppState {
    pub fn new(pipeline: Arc<Mutex<Pipeline>>, config: ServeConfig) -> AppState {
        AppState(Arc::new(Inner { pipeline, config, started: Instant::now(), render_caches: Mutex::default() }))
    }

    pub(crate) fn tokens(&self) -> &Tokens {
        &self.0.config.tokens
    }

    /// The engine; a panic elsewhere while holding it does not take the API down.
    pub(crate) fn pipeline(&self) -> MutexGuard<'_, Pipeline> {
        self.0.pipeline.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn shared_pipeline(&self) -> Arc<Mutex<Pipeline>> {
        self.0.pipeline.clone()
    }

    /// The render cache of a view's change events. Keyed by the snapshot itself, so a view
    /// dropped and created again under the same name starts a fresh cache.
    pub(crate) fn render_cache(&self, _name: &str, handle: &illunare_dataflow::SnapshotHandle) -> Arc<changes::RenderCache> {
        let mut caches = self.0.render_caches.lock().unwrap_or_else(|p| p.into_inner());
        caches.retain(|_, (snapshot, _)| snapshot.strong_count() > 0);
        let key = Arc::as_ptr(handle) as usize;
        caches.entry(key).or_insert_with(|| (Arc::downgrade(handle), Arc::default())).1.clone()
    }

    pub(crate) fn uptime(&self) -> std::time::Duration {
        self.0.started.elapsed()
    }
}

/// Every route of the API.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/sql", post(sql::execute))
        .route("/catalog", get(sql::catalog))
        .route("/query", post(query::query))
        .route("/views/{name}", get(views::read))
        .route("/views/{name}/changes", get(changes::subscribe))
        .route("/openapi.json", get(openapi::document))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token));
    let mut router = Router::new()
        .nest("/api/v1", api)
        .route("/", get(dashboard::index))
        .route("/assets/{file}", get(dashboard::asset))
        .route("/health", get(metrics::health))
        .route("/metrics", get(metrics::prometheus))
        .fallback(|| async { ApiError::new(axum::http::StatusCode::NOT_FOUND, "not_found", "no such route") })
        .layer(DefaultBodyLimit::max(state.0.config.body_limit));
    if let Some(cors) = cors_layer(&state.0.config.cors_origins) {
        router = router.layer(cors);
    }
    router.with_state(state)
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| o.parse().ok()))
    };
    Some(CorsLayer::new().allow_origin(allow).allow_methods(tower_http::cors::Any).allow_headers(tower_http::cors::Any))
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("refusing to listen on {0} without ILLUNARE_ADMIN_TOKEN or ILLUNARE_READ_TOKEN set (anyone could change the engine); use a loopback address, set a token, or pass --insecure")]
    Insecure(SocketAddr),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Checks that `addr` may be served with this configuration.
pub fn check_bind(addr: SocketAddr, config: &ServeConfig) -> Result<(), ServeError> {
    if !may_expose(addr, &config.tokens, config.insecure) {
        return Err(ServeError::Insecure(addr));
    }
    Ok(())
}

/// The exposure rule every server of the engine follows (HTTP, pgwire): anything but loopback
/// needs a token, unless the user insisted (`--insecure`).
pub fn may_expose(addr: SocketAddr, tokens: &Tokens, insecure: bool) -> bool {
    addr.ip().is_loopback() || tokens.any() || insecure
}

/// Binds `addr` (port 0: any free port) and returns where it listens and the server's future.
pub async fn bind(addr: SocketAddr, state: AppState) -> Result<(SocketAddr, impl std::future::Future<Output = Result<(), ServeError>>), ServeError> {
    check_bind(addr, &state.0.config)?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| ServeError::Bind(addr, e))?;
    let local = listener.local_addr()?;
    let router = app(state);
    let server = async move { axum::serve(listener, router).await.map_err(ServeError::Io) };
    Ok((local, server))
}
