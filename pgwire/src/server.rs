//! The listener: binds the address, refuses an unsafe one, and serves each connection on a
//! task of its own (a slow or broken client never holds up another).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use illunare_coord::Pipeline;
use illunare_serve::Tokens;
use pgwire::api::PgWireServerHandlers;
use pgwire::api::auth::StartupHandler;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};

use crate::auth::Startup;
use crate::backend::Backend;

/// How the server behaves.
#[derive(Clone, Debug, Default)]
pub struct PgConfig {
    /// With tokens set, the password must be one of them; otherwise anyone may connect.
    pub tokens: Tokens,
    /// Bind to non-loopback addresses even without tokens.
    pub insecure: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PgServeError {
    #[error(
        "refusing to serve the Postgres protocol on {0} without ILLUNARE_ADMIN_TOKEN or ILLUNARE_READ_TOKEN set (anyone could change the engine); use a loopback address, set a token, or pass --insecure"
    )]
    Insecure(SocketAddr),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("Postgres protocol server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Checks that `addr` may be served with this configuration.
pub fn check_bind(addr: SocketAddr, config: &PgConfig) -> Result<(), PgServeError> {
    if !illunare_serve::may_expose(addr, &config.tokens, config.insecure) {
        return Err(PgServeError::Insecure(addr));
    }
    Ok(())
}

/// What pgwire asks for on each connection.
struct Handlers {
    backend: Arc<Backend>,
    startup: Arc<Startup>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.backend.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.backend.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }
}

/// Binds `addr` (port 0: any free port) and returns where it listens and the server's future,
/// which accepts connections until it is dropped.
pub async fn bind(
    addr: SocketAddr,
    engine: Arc<Mutex<Pipeline>>,
    config: PgConfig,
) -> Result<(SocketAddr, impl Future<Output = Result<(), PgServeError>>), PgServeError> {
    check_bind(addr, &config)?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| PgServeError::Bind(addr, e))?;
    let local = listener.local_addr()?;
    let handlers = Arc::new(Handlers { backend: Arc::new(Backend::new(engine)), startup: Arc::new(Startup::new(config.tokens)) });
    Ok((local, accept(listener, handlers)))
}

/// Accepts connections forever, each served on a task of its own.
async fn accept(listener: tokio::net::TcpListener, handlers: Arc<Handlers>) -> Result<(), PgServeError> {
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait, then keep serving.
                tracing::warn!("pgwire: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let handlers = handlers.clone();
        tokio::spawn(async move {
            if let Err(e) = pgwire::tokio::process_socket(socket, None, handlers).await {
                tracing::debug!("pgwire: connection from {peer} ended: {e}");
            }
        });
    }
}
