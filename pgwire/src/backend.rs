//! Running one statement against the engine, whichever protocol it came by: reads through
//! `adhoc::query` (or the system catalog), changes through `Pipeline::execute`, session
//! statements answered here.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, MutexGuard};

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::sql::sqlparser::ast::{Statement as Sql, visit_relations};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use illunare_coord::{Executed, Pipeline, adhoc};
use illunare_serve::Access;
use illunare_sql::RelationKind;
use pgwire::api::results::{Response, Tag};

use crate::catalog::{self, Relation};
use crate::error::Failure;
use crate::names;
use crate::extended::Prepare;
use crate::session::Session;
use crate::statement::{Action, Change, Statement};

/// The running engine, shared by every connection.
#[derive(Clone)]
pub(crate) struct Engine(Arc<Mutex<Pipeline>>);

/// Where a read runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Over the engine's relations (`adhoc::query`).
    Engine,
    /// Over the system catalog, or over nothing (`SELECT 1`, `SELECT version()`).
    Catalog,
}

/// What a statement produced.
pub(crate) enum Outcome {
    Rows(SchemaRef, Vec<RecordBatch>),
    Done(Tag),
    Begin,
    End(&'static str),
}

impl Outcome {
    /// The protocol response; rows are encoded with `rows` (which picks the formats).
    pub(crate) fn into_response(self, rows: impl FnOnce(SchemaRef, Vec<RecordBatch>) -> Response) -> Response {
        match self {
            Outcome::Rows(schema, batches) => rows(schema, batches),
            Outcome::Done(tag) => Response::Execution(tag),
            Outcome::Begin => Response::TransactionStart(Tag::new("BEGIN")),
            Outcome::End(tag) => Response::TransactionEnd(Tag::new(tag)),
        }
    }
}

/// The command tag of a change. Row counts are the engine's net row changes: an UPDATE of n
/// rows is n retractions and n insertions, reported as n.
fn change_tag(change: Change, executed: &Executed) -> Tag {
    match (change, executed) {
        (Change::Insert, Executed::Changed { rows, .. }) => Tag::new("INSERT").with_oid(0).with_rows(*rows),
        (Change::Update, Executed::Changed { rows, .. }) => Tag::new("UPDATE").with_rows(rows.div_ceil(2)),
        (Change::Delete, Executed::Changed { rows, .. }) => Tag::new("DELETE").with_rows(*rows),
        (Change::Drop(kind), _) => Tag::new(&format!("DROP {}", kind.keyword())),
        (_, Executed::Created { kind, .. }) => Tag::new(&format!("CREATE {}", kind.keyword())),
        (_, Executed::Dropped { dropped }) => Tag::new(&format!("DROP {}", dropped.first().map_or("TABLE", |(_, k)| k.keyword()))),
        (_, Executed::Changed { rows, .. }) => Tag::new("UPDATE").with_rows(*rows),
    }
}

/// One text column per name, one row.
fn text_rows(columns: &[&str], rows: Vec<Vec<String>>) -> Result<Outcome, Failure> {
    let schema = Arc::new(Schema::new(columns.iter().map(|c| Field::new(*c, DataType::Utf8, true)).collect::<Vec<_>>()));
    let arrays = (0..columns.len()).map(|i| Arc::new(rows.iter().map(|r| Some(r[i].clone())).collect::<StringArray>()) as _).collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| Failure::new("XX000", e.to_string()))?;
    Ok(Outcome::Rows(schema, vec![batch]))
}

/// The columns `SHOW name` answers with.
pub(crate) fn show_columns(name: &str) -> Vec<String> {
    if name.eq_ignore_ascii_case("all") { vec!["name".into(), "setting".into()] } else { vec![name.to_lowercase()] }
}

impl Engine {
    pub(crate) fn new(pipeline: Arc<Mutex<Pipeline>>) -> Engine {
        Engine(pipeline)
    }

    /// The engine; a panic elsewhere while holding it does not take the server down.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Pipeline> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The relations the catalog lists: sources, tables and views. Sinks cannot be read; a
    /// view's `_errors` and `_late` relations can (when it is materialized) but are not listed,
    /// so pickers show what users created.
    pub(crate) fn relations(&self) -> Vec<Relation> {
        let pipeline = self.lock();
        pipeline
            .planner
            .catalog()
            .iter()
            .filter(|(_, e)| matches!(e.kind, RelationKind::Source | RelationKind::Table | RelationKind::View | RelationKind::MaterializedView))
            .map(|(name, e)| Relation { name: name.clone(), kind: e.kind, schema: e.schema.clone() })
            .collect()
    }

    /// Where read `ast` runs: the catalog when it names catalog relations or none at all.
    pub(crate) fn route(&self, ast: &Sql) -> Result<Route, Failure> {
        let mut system = false;
        let mut names = Vec::new();
        let _ = visit_relations(ast, |name| {
            if catalog::is_system(name) {
                system = true;
            } else if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
                names.push(if last.quote_style.is_some() { last.value.clone() } else { last.value.to_lowercase() });
            }
            ControlFlow::<()>::Continue(())
        });
        if !system {
            return Ok(if names.is_empty() { Route::Catalog } else { Route::Engine });
        }
        let pipeline = self.lock();
        if let Some(name) = names.iter().find(|n| pipeline.planner.catalog().contains_key(*n)) {
            return Err(Failure::new("0A000", format!("a query cannot read both the system catalog and '{name}'")));
        }
        Ok(Route::Catalog)
    }

    /// Runs `statement`, whose text with parameters bound is `sql`.
    pub(crate) async fn run(&self, session: &Session, statement: &Statement, sql: &str) -> Result<Outcome, Failure> {
        match &statement.action {
            Action::Query(ast) => {
                let (schema, batches) = match self.route(ast)? {
                    Route::Engine => {
                        let answer = adhoc::query(&self.0, sql, None).await.map_err(|e| Failure::adhoc(e, &statement.text))?;
                        (answer.schema, answer.batches)
                    }
                    Route::Catalog => self.catalog_query(session, sql, &statement.text).await?,
                };
                Ok(Outcome::Rows(names::rename(&schema, ast), batches))
            }
            Action::Show(name) => self.show(session, name),
            Action::Accept(tag) => Ok(Outcome::Done(Tag::new(tag))),
            Action::Begin => Ok(Outcome::Begin),
            Action::End(tag) => Ok(Outcome::End(tag)),
            Action::Change(change) => {
                if session.access < Access::Admin {
                    return Err(Failure::new("42501", "permission denied: this token may query, not change the engine")
                        .with_hint("connect with ILLUNARE_ADMIN_TOKEN as the password"));
                }
                let pipeline = self.0.clone();
                let text = sql.to_string();
                // Planning runs DataFusion synchronously and DML starts a runtime of its own.
                let done = tokio::task::spawn_blocking(move || pipeline.lock().unwrap_or_else(|p| p.into_inner()).execute(&text))
                    .await
                    .map_err(|e| Failure::new("XX000", format!("statement task failed: {e}")))?
                    .map_err(Failure::coord)?;
                let executed = done.last().ok_or_else(|| Failure::new("XX000", "the engine executed nothing"))?;
                Ok(Outcome::Done(change_tag(*change, executed)))
            }
        }
    }

    /// `sql` with the catalog spellings DataFusion does not plan rewritten.
    pub(crate) fn catalog_sql(sql: &str, text: &str) -> Result<String, Failure> {
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| Failure::from_message(format!("syntax error: {e}"), text))?;
        let mut statement = statements.pop().ok_or_else(|| Failure::new("42601", "no statement"))?;
        catalog::rewrite(&mut statement);
        Ok(statement.to_string())
    }

    async fn catalog_query(&self, session: &Session, sql: &str, text: &str) -> Result<(SchemaRef, Vec<RecordBatch>), Failure> {
        let ctx = catalog::context(&self.relations(), session)?;
        let sql = Engine::catalog_sql(sql, text)?;
        let frame = ctx.sql(&sql).await.map_err(|e| Failure::datafusion(e, text))?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.collect().await.map_err(|e| Failure::datafusion(e, text))?;
        Ok((schema, batches))
    }

    fn show(&self, session: &Session, name: &str) -> Result<Outcome, Failure> {
        let columns = show_columns(name);
        let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
        if name.eq_ignore_ascii_case("all") {
            let rows = crate::session::all_settings().map(|(k, _)| vec![k.to_string(), session.setting(k).unwrap_or_default()]).collect();
            return text_rows(&columns, rows);
        }
        match session.setting(name) {
            Some(value) => text_rows(&columns, vec![vec![value]]),
            None => Err(Failure::new("42704", format!("unrecognized configuration parameter \"{name}\""))),
        }
    }
}

/// What every connection's handlers share.
pub(crate) struct Backend {
    pub engine: Engine,
    pub parser: Arc<Prepare>,
}

impl Backend {
    pub(crate) fn new(pipeline: Arc<Mutex<Pipeline>>) -> Backend {
        let engine = Engine::new(pipeline);
        Backend { parser: Arc::new(Prepare::new(engine.clone())), engine }
    }
}
