//! The SQL front end: pipeline text → statements → catalog definitions with plan IR.
//!
//! ```text
//!  pipeline.sql ─► parser (sqlparser + CREATE SOURCE/SINK) ─► Planner ─► DataFusion plan+optimise
//!                                                                  └─► lower ─► illunare_plan::Plan
//! ```
//! This crate never depends on the dataflow: it hands over definitions (sources, tables,
//! views with their IR, sinks, DML) and the engine runs them.

mod dml;
mod drop;
mod emit;
mod error;
mod interval_join;
mod lower;
mod parser;
mod planner;
pub mod proctime;
mod session;
mod subquery;
pub mod temporal;
mod windows;

pub use dml::{TableSnapshot, TableSnapshots, execute_dml};
pub use error::{Location, SqlError, locate_word};
pub use drop::DropDef;
pub use parser::{DropKind, ParsedStatement, StatementAst, parse_pipeline};
pub use planner::{
    CatalogEntry, DmlDef, DmlKind, Planner, RelationKind, SchemaResolver, SinkDef, SourceDef, Statement, TableDef, ViewDef, WatermarkDef,
    session_context,
};

/// Parses and plans a whole pipeline file (every source declares its columns).
pub fn plan_pipeline(text: &str) -> Result<(Planner, Vec<Statement>), SqlError> {
    plan_with(Planner::new(), text)
}

/// Parses and plans a whole pipeline file with `planner` (e.g. one that can read the columns of
/// sources declared without them, `Planner::with_schema_resolver`).
pub fn plan_with(mut planner: Planner, text: &str) -> Result<(Planner, Vec<Statement>), SqlError> {
    let mut out = Vec::new();
    for stmt in parse_pipeline(text)? {
        out.push(planner.plan(&stmt)?);
    }
    Ok((planner, out))
}
