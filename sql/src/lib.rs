//! The SQL front end: pipeline text → statements → catalog definitions with plan IR.
//!
//! ```text
//!  pipeline.sql ─► parser (sqlparser + CREATE SOURCE/SINK) ─► Planner ─► DataFusion plan+optimise
//!                                                                  └─► lower ─► illunare_plan::Plan
//! ```
//! This crate never depends on the dataflow: it hands over definitions (sources, tables,
//! views with their IR, sinks, DML) and the engine runs them.

mod dml;
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
pub use error::{Location, SqlError};
pub use parser::{ParsedStatement, StatementAst, parse_pipeline};
pub use planner::{
    CatalogEntry, DmlDef, DmlKind, Planner, RelationKind, SinkDef, SourceDef, Statement, TableDef, ViewDef, WatermarkDef,
    session_context,
};

/// Parses and plans a whole pipeline file.
pub fn plan_pipeline(text: &str) -> Result<(Planner, Vec<Statement>), SqlError> {
    let mut planner = Planner::new();
    let mut out = Vec::new();
    for stmt in parse_pipeline(text)? {
        out.push(planner.plan(&stmt)?);
    }
    Ok((planner, out))
}
