//! Ad-hoc queries: a read-only SELECT through DataFusion over the engine's current state, for
//! the HTTP API (`/api/v1/query`) and the Postgres wire protocol.
//!
//! Only the relations the query names are registered, each as it is right now:
//! - a served (materialized) view: its snapshot, copied under its lock — consistent as of the
//!   view's frontier; the answer's frontier is the oldest among the views read;
//! - a table: its current contents;
//! - a view that is only a definition: its query, over the same kinds of relations;
//! - a Parquet source on a local path: DataFusion reads the files directly.
//!
//! Streams (Kafka, devices, generators) have no state to query: naming one is a clear error.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use illunare_sql::{RelationKind, Statement};
use illunare_types::{Row, Time, rows_to_batch};

use crate::Pipeline;

#[derive(Debug, thiserror::Error)]
pub enum AdhocError {
    /// Not a SELECT (DDL and DML go through `Pipeline::execute`).
    #[error("only SELECT queries run here")]
    NotAQuery,
    /// A relation that has no state to query, or does not exist.
    #[error("{0}")]
    NotQueryable(String),
    /// DataFusion refused or failed the query.
    #[error("{0}")]
    Query(String),
}

/// An ad-hoc answer.
pub struct Answer {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// The oldest frontier among the views read (`None`: no view, or all complete).
    pub frontier: Option<Time>,
}

fn df_error(e: impl std::fmt::Display) -> AdhocError {
    let text = e.to_string().replace("Error during planning: ", "");
    AdhocError::Query(text.lines().next().unwrap_or(&text).to_string())
}

/// How a relation the query names is registered.
enum Registration {
    Rows { schema: SchemaRef, rows: Vec<Row>, frontier: Option<Option<Time>> },
    View { query: String },
    Parquet { path: String, schema: SchemaRef },
}

/// Whether `sql` is one read-only query (what [`query`] runs).
pub fn is_query(sql: &str) -> bool {
    let ctx = illunare_sql::session_context();
    matches!(ctx.state().sql_to_statement(sql, &datafusion::config::Dialect::PostgreSQL), Ok(DfStatement::Statement(s)) if matches!(*s, datafusion::sql::sqlparser::ast::Statement::Query(_)))
}

/// Runs SELECT `sql` over the engine's current state; at most `max_rows` rows are returned.
pub async fn query(engine: &Mutex<Pipeline>, sql: &str, max_rows: Option<usize>) -> Result<Answer, AdhocError> {
    let ctx = illunare_sql::session_context();
    let statement = ctx.state().sql_to_statement(sql, &datafusion::config::Dialect::PostgreSQL).map_err(df_error)?;
    if !matches!(&statement, DfStatement::Statement(s) if matches!(**s, datafusion::sql::sqlparser::ast::Statement::Query(_))) {
        return Err(AdhocError::NotAQuery);
    }
    let references = ctx.state().resolve_table_references(&statement).map_err(df_error)?;
    let names: Vec<String> = references.iter().map(|r| r.table().to_string()).collect();
    let registrations = {
        let pipeline = engine.lock().unwrap_or_else(|p| p.into_inner());
        plan_registrations(&pipeline, names)?
    };
    let mut frontier: Option<Time> = None;
    // Views last, innermost first: their definitions need the relations they read.
    let (views, others): (Vec<_>, Vec<_>) = registrations.into_iter().partition(|(_, r)| matches!(r, Registration::View { .. }));
    for (name, registration) in others.into_iter().chain(views.into_iter().rev()) {
        register(&ctx, &name, registration, &mut frontier).await?;
    }
    let frame = ctx.sql(sql).await.map_err(df_error)?;
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let frame = match max_rows {
        Some(n) => frame.limit(0, Some(n)).map_err(df_error)?,
        None => frame,
    };
    let batches = frame.collect().await.map_err(df_error)?;
    Ok(Answer { schema, batches, frontier })
}

/// Decides, under the engine's lock, how each relation `names` reaches (views through their
/// definitions) is registered.
fn plan_registrations(pipeline: &Pipeline, names: Vec<String>) -> Result<Vec<(String, Registration)>, AdhocError> {
    let snapshots: std::collections::HashMap<_, _> = pipeline.snapshots().into_iter().collect();
    let mut todo = names;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(entry) = pipeline.planner.catalog().get(&name) else {
            return Err(AdhocError::NotQueryable(format!("relation '{name}' does not exist")));
        };
        if let Some(handle) = snapshots.get(&name) {
            let snapshot = handle.lock().map_err(|_| AdhocError::Query("snapshot lock poisoned".into()))?;
            out.push((name, Registration::Rows { schema: entry.schema.clone(), rows: snapshot.rows(), frontier: Some(snapshot.frontier) }));
            continue;
        }
        let registration = match entry.kind {
            RelationKind::Table => Registration::Rows { schema: entry.schema.clone(), rows: pipeline.tables.rows(&name), frontier: None },
            RelationKind::View | RelationKind::MaterializedView => {
                let query = pipeline.statements.iter().find_map(|s| match s {
                    Statement::CreateView(v) if v.name == name => Some(v.oracle_query.clone()),
                    _ => None,
                });
                todo.extend(entry.depends_on.iter().cloned());
                Registration::View { query: query.ok_or_else(|| AdhocError::NotQueryable(format!("view '{name}' has no definition")))? }
            }
            RelationKind::Source => match local_parquet_path(pipeline, &name) {
                Some(path) => Registration::Parquet { path, schema: entry.schema.clone() },
                None => {
                    return Err(AdhocError::NotQueryable(format!(
                        "source '{name}' is a stream with no stored state to query; query a materialized view over it, or a Parquet source on a local path"
                    )));
                }
            },
            other => return Err(AdhocError::NotQueryable(format!("'{name}' ({other:?}) cannot be queried ad hoc"))),
        };
        out.push((name, registration));
    }
    Ok(out)
}

/// The local path of Parquet source `name`, if it is one.
fn local_parquet_path(pipeline: &Pipeline, name: &str) -> Option<String> {
    let def = pipeline.statements.iter().find_map(|s| match s {
        Statement::CreateSource(d) if d.name == name && d.connector() == Some("parquet") => Some(d),
        _ => None,
    })?;
    let path = def.options.iter().find(|(k, _)| k == "path").map(|(_, v)| v.clone())?;
    if path.contains("://") && !path.starts_with("file://") {
        return None;
    }
    Some(path.trim_start_matches("file://").to_string())
}

async fn register(ctx: &SessionContext, name: &str, registration: Registration, frontier: &mut Option<Time>) -> Result<(), AdhocError> {
    match registration {
        Registration::Rows { schema, rows, frontier: view_frontier } => {
            if let Some(Some(f)) = view_frontier {
                *frontier = Some(frontier.map_or(f, |g| g.min(f)));
            }
            let batch = rows_to_batch(&schema, &rows).map_err(df_error)?;
            let table = MemTable::try_new(schema, vec![vec![batch]]).map_err(df_error)?;
            ctx.register_table(name, Arc::new(table)).map_err(df_error)?;
        }
        Registration::View { query } => {
            ctx.sql(&format!("CREATE VIEW \"{}\" AS {query}", name.replace('"', "\"\""))).await.map_err(df_error)?;
        }
        Registration::Parquet { path, schema } => {
            let options = ParquetReadOptions::default().schema(&schema);
            ctx.register_parquet(name, &path, options).await.map_err(df_error)?;
        }
    }
    Ok(())
}
