//! The Postgres wire protocol, so psql, drivers (tokio-postgres, psycopg, pgx) and tools built
//! on them (Grafana) use a running engine as they would use Postgres.
//!
//! ```text
//!  socket ─► pgwire (framing, startup, portals) ─► auth.rs (token as cleartext password)
//!    Query ─────► simple.rs ──┐                     statement.rs: split, classify
//!    Parse/Bind/Execute ─► extended.rs ─► describe.rs (schema + parameter types, not run)
//!                             ▼
//!                        backend.rs ─┬─ SELECT over the engine ─► illunare_coord::adhoc
//!                                    ├─ SELECT over pg_catalog / information_schema ─► catalog.rs
//!                                    ├─ DDL / DML ─► Pipeline::execute (spawn_blocking)
//!                                    └─ SET / SHOW / BEGIN … ─► session.rs
//!                             ▼
//!                        encode.rs: Arrow batches ─► RowDescription + DataRows (text/binary)
//! ```
//! Reads go through the same code as `POST /api/v1/query`, so a view read over pgwire and over
//! HTTP at one frontier are the same rows. Parameters (`$1`…) are bound by substituting typed
//! literals into the statement text (`params.rs`): the engine's entry points take SQL text.

mod auth;
mod backend;
mod catalog;
mod describe;
mod encode;
mod error;
mod extended;
mod functions;
mod names;
mod numeric;
mod params;
mod server;
mod session;
mod simple;
mod statement;

pub use server::{PgConfig, PgServeError, bind, check_bind};
