//! Serving from the command line: the HTTP API and the Postgres wire protocol next to a
//! running pipeline (`run`, `serve`).
//!
//! Each server runs on a tokio runtime of its own, on a thread of its own, so request handling
//! never competes with the timely workers' threads for a scheduler.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use illunare_coord::Pipeline;
use illunare_serve::{AppState, ServeConfig, Tokens};

const DEFAULT_PG: &str = "127.0.0.1:6875";

/// Where and how to serve (`run`, `serve`).
#[derive(clap::Args, Clone)]
pub struct HttpArgs {
    /// Address of the HTTP API and dashboard; `off` disables it.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: String,
    /// Address of the Postgres wire protocol (psql, drivers, Grafana); `off` disables it.
    #[arg(long, default_value = DEFAULT_PG)]
    pub pg: String,
    /// Allow binding a non-loopback address without ILLUNARE_ADMIN_TOKEN/ILLUNARE_READ_TOKEN.
    #[arg(long)]
    pub insecure: bool,
    /// Origin allowed to call the API from a browser (repeatable; `*` for any).
    #[arg(long = "cors-origin")]
    pub cors_origins: Vec<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub body_limit: usize,
}

impl HttpArgs {
    /// No HTTP or Postgres server (backfills run to the end and exit).
    pub fn off() -> HttpArgs {
        HttpArgs { http: "off".into(), pg: "off".into(), insecure: false, cors_origins: Vec::new(), body_limit: 1 << 20 }
    }

    /// Whether `--http` was left at its default (a busy default port is a warning, not an error).
    fn is_default(&self) -> bool {
        self.http == "127.0.0.1:8080"
    }
}

/// Starts the HTTP server for `pipeline` unless `--http off`, and the Postgres protocol unless
/// `--pg off`; returns where HTTP listens.
pub fn start(pipeline: Arc<Mutex<Pipeline>>, args: &HttpArgs) -> Result<Option<SocketAddr>> {
    start_pg(pipeline.clone(), args)?;
    if args.http.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let addr: SocketAddr = args.http.parse().with_context(|| format!("--http {}: not an address like 127.0.0.1:8080", args.http))?;
    let config = ServeConfig { tokens: Tokens::from_env(), cors_origins: args.cors_origins.clone(), body_limit: args.body_limit, insecure: args.insecure };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("illunare-http").enable_all().build()?;
    let state = AppState::new(pipeline, config);
    let bound = runtime.block_on(illunare_serve::bind(addr, state));
    let (local, server) = match bound {
        Ok(bound) => bound,
        Err(e @ illunare_serve::ServeError::Bind(..)) if args.is_default() => {
            tracing::warn!("{e}; continuing without the HTTP API (pass --http to choose another address)");
            eprintln!("warning: {e}; continuing without the HTTP API");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    std::thread::Builder::new().name("illunare-http".into()).spawn(move || {
        if let Err(e) = runtime.block_on(server) {
            tracing::error!("HTTP server stopped: {e}");
        }
    })?;
    eprintln!("serving http://{local}/ (API under /api/v1, metrics at /metrics)");
    Ok(Some(local))
}

/// Starts the Postgres wire protocol server unless `--pg off`.
fn start_pg(pipeline: Arc<Mutex<Pipeline>>, args: &HttpArgs) -> Result<()> {
    if args.pg.eq_ignore_ascii_case("off") {
        return Ok(());
    }
    let addr: SocketAddr = args.pg.parse().with_context(|| format!("--pg {}: not an address like {DEFAULT_PG}", args.pg))?;
    let config = illunare_pgwire::PgConfig { tokens: Tokens::from_env(), insecure: args.insecure };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("illunare-pg").enable_all().build()?;
    let (local, server) = match runtime.block_on(illunare_pgwire::bind(addr, pipeline, config)) {
        Ok(bound) => bound,
        Err(e @ illunare_pgwire::PgServeError::Bind(..)) if args.pg == DEFAULT_PG => {
            tracing::warn!("{e}; continuing without the Postgres protocol (pass --pg to choose another address)");
            eprintln!("warning: {e}; continuing without the Postgres protocol");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    std::thread::Builder::new().name("illunare-pg".into()).spawn(move || {
        if let Err(e) = runtime.block_on(server) {
            tracing::error!("Postgres protocol server stopped: {e}");
        }
    })?;
    eprintln!("serving postgres://{local}/ (psql -h {} -p {})", local.ip(), local.port());
    Ok(())
}
