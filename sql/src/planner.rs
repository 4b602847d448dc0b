//! The planner: a catalog of relations and the translation of each statement into a
//! definition the engine can run.
//!
//! Every relation (source, table, view, the `<name>_errors` companion of sources and views)
//! is registered in a DataFusion `SessionContext` as an empty table with its schema, so DataFusion
//! resolves names and types. A view's query is planned and optimised by DataFusion and then
//! lowered to the plan IR; a view over a view reads the upstream view by name (shared, not inlined).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::datasource::empty::EmptyTable;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{CreateTableOptions, SetExpr, Statement as SqlStatement};
use illunare_plan::{Expr, Plan};
use illunare_types::{error_schema, errors_name, late_name};

use crate::error::{Location, SqlError, locate_word};
use crate::lower::{LowerError, Lowerer, arrow_schema};
use crate::parser::{ParsedStatement, StatementAst, normalize_ident};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelationKind {
    Source,
    Table,
    View,
    MaterializedView,
    /// `<owner>_errors`.
    Errors,
    /// `<source>_late`: rows of an event-time source that arrived behind its frontier.
    Late,
    Sink,
}

impl RelationKind {
    /// The SQL words that create or drop this kind (`MATERIALIZED VIEW`); a companion
    /// relation (`_errors`, `_late`) reads as a view.
    pub fn keyword(self) -> &'static str {
        match self {
            RelationKind::Source => "SOURCE",
            RelationKind::Table => "TABLE",
            RelationKind::View | RelationKind::Errors | RelationKind::Late => "VIEW",
            RelationKind::MaterializedView => "MATERIALIZED VIEW",
            RelationKind::Sink => "SINK",
        }
    }
}

#[derive(Clone, Debug)]
pub struct CatalogEntry {
    pub kind: RelationKind,
    pub schema: SchemaRef,
    /// The relations a view reads, the relation a sink reads (what DROP must not orphan).
    pub depends_on: Vec<String>,
}

/// `WATERMARK FOR column AS expr`.
#[derive(Clone, Debug)]
pub struct WatermarkDef {
    pub column: usize,
    pub expr: Expr,
}

#[derive(Clone, Debug)]
pub struct SourceDef {
    pub name: String,
    pub schema: SchemaRef,
    pub options: Vec<(String, String)>,
    pub watermark: Option<WatermarkDef>,
    pub location: Location,
}

impl SourceDef {
    pub fn connector(&self) -> Option<&str> {
        self.options.iter().find(|(k, _)| k == "connector").map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug)]
pub struct TableDef {
    pub name: String,
    pub schema: SchemaRef,
    /// Column indices of the primary key (empty: none).
    pub primary_key: Vec<usize>,
    /// `DEFAULT` expressions by column name.
    pub column_defaults: Vec<(String, datafusion::logical_expr::Expr)>,
}

#[derive(Clone, Debug)]
pub struct ViewDef {
    pub name: String,
    pub plan: Plan,
    pub materialized: bool,
    /// The view's query as the engine planned it (TUMBLE/HOP rewritten to plain SQL, SESSION to
    /// the engine's marker table function).
    pub query: String,
    /// The view's query for the batch oracle: `query`, except that SESSION windows are an
    /// independent window-function formulation DataFusion executes (`session.rs`).
    pub oracle_query: String,
}

#[derive(Clone, Debug)]
pub struct SinkDef {
    pub name: String,
    pub from: String,
    pub schema: SchemaRef,
    pub options: Vec<(String, String)>,
    pub location: Location,
}

impl SinkDef {
    pub fn connector(&self) -> Option<&str> {
        self.options.iter().find(|(k, _)| k == "connector").map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmlKind {
    Insert,
    Update,
    Delete,
}

#[derive(Clone, Debug)]
pub struct DmlDef {
    pub table: String,
    pub kind: DmlKind,
    pub statement: SqlStatement,
    pub location: Location,
    pub text: String,
}

#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Statement {
    CreateSource(SourceDef),
    CreateTable(TableDef),
    CreateView(ViewDef),
    CreateSink(SinkDef),
    Dml(DmlDef),
    /// Only on a running engine (the API), never in a pipeline file.
    Drop(crate::drop::DropDef),
}

/// A DataFusion context configured the way illunare plans and the oracle executes.
pub fn session_context() -> SessionContext {
    let mut config = SessionConfig::new();
    let options = config.options_mut();
    options.sql_parser.map_string_types_to_utf8view = false;
    options.sql_parser.collect_spans = true;
    options.execution.target_partitions = 1;
    let ctx = SessionContext::new_with_config(config);
    crate::temporal::register(&ctx);
    crate::proctime::register(&ctx);
    crate::session::register(&ctx);
    ctx
}

pub struct Planner {
    ctx: SessionContext,
    catalog: BTreeMap<String, CatalogEntry>,
    lowerer: Lowerer,
    /// Supplies the columns of sources declared without them.
    schemas: Option<SchemaResolver>,
}

/// The columns of a source declared without a column list, from its `WITH` options (the
/// connector reads them from the data: Parquet footers). `Ok(None)`: this connector cannot.
pub type SchemaResolver = Arc<dyn Fn(&[(String, String)]) -> Result<Option<SchemaRef>, String> + Send + Sync>;

impl Default for Planner {
    fn default() -> Self {
        Self::new()
    }
}

/// Turns a DataFusion error into a positioned error: its own span if it has one, else the
/// first identifier it quotes found in the statement, else the statement start.
pub(crate) fn df_error(e: DataFusionError, stmt_text: &str, at: Location) -> SqlError {
    let location = e
        .diagnostic()
        .and_then(|d| d.span)
        .map(|s| Location { line: s.start.line, column: s.start.column })
        .or_else(|| quoted_word(&e.to_string()).and_then(|w| locate_word(stmt_text, at, &w)))
        .unwrap_or(at);
    // Wrappers such as "Optimizer rule 'simplify_expressions' failed" hide the cause.
    let message = e.find_root().strip_backtrace();
    let message = message.lines().next().unwrap_or(&message).replace("Error during planning: ", "").replace("Schema error: ", "");
    SqlError::new(location, message)
}

fn quoted_word(message: &str) -> Option<String> {
    let start = message.find(['\'', '"'])?;
    let quote = message.as_bytes()[start] as char;
    let rest = &message[start + 1..];
    let end = rest.find(quote)?;
    let word = &rest[..end];
    Some(word.rsplit('.').next().unwrap_or(word).to_string())
}

fn lower_error(e: LowerError, stmt: &ParsedStatement) -> SqlError {
    let location = e.near.as_deref().and_then(|w| locate_word(&stmt.text, stmt.location, w)).unwrap_or(stmt.location);
    let error = SqlError::new(location, e.message);
    match e.hint {
        Some(h) => error.with_hint(h),
        None => error,
    }
}

impl Planner {
    pub fn new() -> Self {
        Planner { ctx: session_context(), catalog: BTreeMap::new(), lowerer: Lowerer::new(), schemas: None }
    }

    /// A planner that asks `schemas` for the columns of sources declared without them.
    pub fn with_schema_resolver(schemas: SchemaResolver) -> Self {
        Planner { schemas: Some(schemas), ..Planner::new() }
    }

    pub fn catalog(&self) -> &BTreeMap<String, CatalogEntry> {
        &self.catalog
    }

    fn register(&mut self, name: &str, kind: RelationKind, schema: SchemaRef, at: Location) -> Result<(), SqlError> {
        if let Some(existing) = self.catalog.get(name) {
            return Err(SqlError::new(at, format!("relation '{name}' already exists (a {:?})", existing.kind))
                .with_hint("pick another name, or DROP the existing one first (on a running engine)"));
        }
        if kind != RelationKind::Sink {
            let table: Arc<dyn TableProvider> = Arc::new(EmptyTable::new(schema.clone()));
            self.ctx.register_table(name, table).map_err(|e| SqlError::new(at, e.strip_backtrace()))?;
        }
        self.catalog.insert(name.to_string(), CatalogEntry { kind, schema, depends_on: Vec::new() });
        Ok(())
    }

    fn df_plan(&self, stmt: SqlStatement, parsed: &ParsedStatement) -> Result<LogicalPlan, SqlError> {
        let state = self.ctx.state();
        futures::executor::block_on(state.statement_to_plan(DfStatement::Statement(Box::new(stmt))))
            .map_err(|e| df_error(e, &parsed.text, parsed.location))
    }

    /// Plans a query (the body of a view) to the IR.
    pub fn plan_query(&self, query: &datafusion::sql::sqlparser::ast::Query, parsed: &ParsedStatement) -> Result<Plan, SqlError> {
        refuse_set_all(&query.body, parsed)?;
        let logical = self.df_plan(SqlStatement::Query(Box::new(query.clone())), parsed)?;
        crate::lower::refuse_nondeterministic(&logical).map_err(|e| lower_error(e, parsed))?;
        let is_source = |name: &str| self.catalog.get(name).is_some_and(|e| e.kind == RelationKind::Source);
        crate::proctime::check(&logical, &is_source).map_err(|e| lower_error(e, parsed))?;
        let optimized = self.ctx.state().optimize(&logical).map_err(|e| df_error(e, &parsed.text, parsed.location))?;
        let optimized = crate::subquery::rewrite_scalar_subqueries(optimized)
            .and_then(|p| self.ctx.state().optimize(&p))
            .map_err(|e| df_error(e, &parsed.text, locate_word(&parsed.text, parsed.location, "select").unwrap_or(parsed.location)))?;
        self.lowerer.lower(&optimized).map_err(|e| lower_error(e, parsed))
    }

    /// Defines a view named `name` over `query` (SQL text): used by tests and the API.
    pub fn create_view(&mut self, name: &str, query: &str, materialized: bool) -> Result<ViewDef, SqlError> {
        let text = format!("CREATE {}VIEW {name} AS {query}", if materialized { "MATERIALIZED " } else { "" });
        let parsed = crate::parser::parse_pipeline(&text)?;
        match parsed.into_iter().next() {
            Some(stmt) => match self.plan(&stmt)? {
                Statement::CreateView(v) => Ok(v),
                _ => Err(SqlError::new(Location::default(), "not a view")),
            },
            None => Err(SqlError::new(Location::default(), "empty query")),
        }
    }

    /// Plans one statement and records what it defines in the catalog.
    pub fn plan(&mut self, stmt: &ParsedStatement) -> Result<Statement, SqlError> {
        match &stmt.ast {
            StatementAst::CreateSource { name, columns, watermark, options } => {
                let schema = if columns.is_empty() { self.inferred_schema(name, options, stmt)? } else { self.columns_schema(name, columns, stmt)? };
                let watermark = match watermark {
                    None => None,
                    Some((column, expr)) => {
                        let col_name = normalize_ident(column);
                        let index = schema.index_of(&col_name).map_err(|_| {
                            SqlError::new(
                                locate_word(&stmt.text, stmt.location, &column.value).unwrap_or(stmt.location),
                                format!("WATERMARK column '{col_name}' is not a column of {name}"),
                            )
                        })?;
                        let at = locate_word(&stmt.text, stmt.location, "watermark").unwrap_or(stmt.location);
                        if !matches!(schema.field(index).data_type(), arrow::datatypes::DataType::Timestamp(..)) {
                            return Err(SqlError::new(
                                at,
                                format!("WATERMARK column '{col_name}' is {}, not a TIMESTAMP", schema.field(index).data_type()),
                            ));
                        }
                        let df = datafusion::common::DFSchema::try_from(schema.as_ref().clone())
                            .map_err(|e| SqlError::new(stmt.location, e.strip_backtrace()))?;
                        let logical = self.ctx.parse_sql_expr(&expr.to_string(), &df).map_err(|e| df_error(e, &stmt.text, at))?;
                        let physical = self.ctx.state().create_physical_expr(logical, &df).map_err(|e| df_error(e, &stmt.text, at))?;
                        match physical.data_type(&schema) {
                            Ok(arrow::datatypes::DataType::Timestamp(..)) => {}
                            Ok(other) => {
                                return Err(SqlError::new(at, format!("WATERMARK expression '{expr}' is {other}, not a TIMESTAMP"))
                                    .with_hint("write e.g. WATERMARK FOR ts AS ts - INTERVAL '5' SECOND"));
                            }
                            Err(e) => return Err(SqlError::new(at, e.strip_backtrace())),
                        }
                        Some(WatermarkDef { column: index, expr: Expr::new(physical, expr.to_string()) })
                    }
                };
                if !options.iter().any(|(k, _)| k == "connector") {
                    return Err(SqlError::new(stmt.location, format!("source '{name}' has no connector option"))
                        .with_hint("add WITH (connector = 'generator' | 'file' | …)"));
                }
                self.register(name, RelationKind::Source, schema.clone(), stmt.location)?;
                self.register(&errors_name(name), RelationKind::Errors, error_schema(), stmt.location)?;
                if watermark.is_some() {
                    self.register(&late_name(name), RelationKind::Late, schema.clone(), stmt.location)?;
                }
                Ok(Statement::CreateSource(SourceDef {
                    name: name.clone(),
                    schema,
                    options: options.clone(),
                    watermark,
                    location: stmt.location,
                }))
            }
            StatementAst::CreateSink { name, from, options } => {
                let Some(entry) = self.catalog.get(from) else {
                    return Err(SqlError::new(
                        locate_word(&stmt.text, stmt.location, from).unwrap_or(stmt.location),
                        format!("sink '{name}' reads '{from}', which does not exist"),
                    ));
                };
                if !options.iter().any(|(k, _)| k == "connector") {
                    return Err(SqlError::new(stmt.location, format!("sink '{name}' has no connector option"))
                        .with_hint("add WITH (connector = 'file' | 'stdout' | …)"));
                }
                let schema = entry.schema.clone();
                self.register(name, RelationKind::Sink, schema.clone(), stmt.location)?;
                self.set_dependencies(name, vec![from.clone()]);
                Ok(Statement::CreateSink(SinkDef {
                    name: name.clone(),
                    from: from.clone(),
                    schema,
                    options: options.clone(),
                    location: stmt.location,
                }))
            }
            StatementAst::Drop { kind, names, if_exists } => self.plan_drop(*kind, names, *if_exists, stmt).map(Statement::Drop),
            StatementAst::Sql(sql) => self.plan_sql(sql, stmt),
        }
    }

    /// Whether the rows of relation `name` come in event time: a source with a WATERMARK (it
    /// has a `<source>_late` companion), or a view over such relations only.
    fn has_event_time(&self, name: &str) -> bool {
        match self.catalog.get(name).map(|e| e.kind) {
            Some(RelationKind::Source) => self.catalog.get(&late_name(name)).is_some_and(|e| e.kind == RelationKind::Late),
            Some(RelationKind::View | RelationKind::MaterializedView) => {
                let deps = &self.catalog[name].depends_on;
                !deps.is_empty() && deps.iter().all(|d| self.has_event_time(d))
            }
            _ => false,
        }
    }

    fn set_dependencies(&mut self, name: &str, depends_on: Vec<String>) {
        if let Some(entry) = self.catalog.get_mut(name) {
            entry.depends_on = depends_on;
        }
    }

    /// Forgets relation `name` and its companions (a definition the engine could not run).
    pub fn forget(&mut self, name: &str) {
        for n in [name.to_string(), errors_name(name), late_name(name)] {
            self.deregister(&n);
        }
    }

    /// Forgets `name` (the catalog entry and DataFusion's table); used by DROP.
    pub(crate) fn deregister(&mut self, name: &str) {
        if self.catalog.remove(name).is_some_and(|e| e.kind != RelationKind::Sink) {
            let _ = self.ctx.deregister_table(name);
        }
    }

    /// The columns of a source declared without a column list, from its connector.
    fn inferred_schema(&self, name: &str, options: &[(String, String)], stmt: &ParsedStatement) -> Result<SchemaRef, SqlError> {
        let connector = options.iter().find(|(k, _)| k == "connector").map(|(_, v)| v.as_str()).unwrap_or("?");
        let declare = "declare the columns: CREATE SOURCE name (col TYPE, …) WITH (…)";
        let Some(resolve) = &self.schemas else {
            return Err(SqlError::new(stmt.location, format!("source '{name}' declares no columns")).with_hint(declare));
        };
        match resolve(options) {
            Ok(Some(schema)) => {
                check_unique_names(name, &schema, stmt)?;
                Ok(schema)
            }
            Ok(None) => Err(SqlError::new(stmt.location, format!("source '{name}' declares no columns, and connector '{connector}' cannot tell them from its data"))
                .with_hint(declare)),
            Err(e) => Err(SqlError::new(stmt.location, format!("source '{name}': cannot read its columns from the data: {e}"))),
        }
    }

    fn columns_schema(
        &self,
        name: &str,
        columns: &[datafusion::sql::sqlparser::ast::ColumnDef],
        stmt: &ParsedStatement,
    ) -> Result<SchemaRef, SqlError> {
        let create = datafusion::sql::sqlparser::ast::helpers::stmt_create_table::CreateTableBuilder::new(
            datafusion::sql::sqlparser::ast::ObjectName::from(vec![datafusion::sql::sqlparser::ast::Ident::new(
                "__illunare_columns",
            )]),
        )
        .columns(columns.to_vec())
        .build();
        match self.df_plan(SqlStatement::CreateTable(create), stmt)? {
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(t)) => {
                let schema = arrow_schema(t.input.schema());
                check_unique_names(name, &schema, stmt)?;
                Ok(schema)
            }
            other => Err(SqlError::new(stmt.location, format!("unexpected plan for column list: {}", other.display()))),
        }
    }

    fn plan_sql(&mut self, sql: &SqlStatement, stmt: &ParsedStatement) -> Result<Statement, SqlError> {
        match sql {
            SqlStatement::CreateTable(ct) => {
                if ct.query.is_some() {
                    return Err(SqlError::new(stmt.location, "CREATE TABLE … AS SELECT is not supported")
                        .with_hint("use CREATE MATERIALIZED VIEW for a derived relation"));
                }
                if !matches!(ct.table_options, CreateTableOptions::None) {
                    return Err(SqlError::new(stmt.location, "tables take no WITH options")
                        .with_hint("for data from outside use CREATE SOURCE … WITH (connector = …)"));
                }
                let name = ct.name.0.iter().map(|p| p.as_ident().map(normalize_ident).unwrap_or_default()).collect::<Vec<_>>().join(".");
                let LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(t)) = self.df_plan(sql.clone(), stmt)? else {
                    return Err(SqlError::new(stmt.location, "unexpected plan for CREATE TABLE"));
                };
                let schema = arrow_schema(t.input.schema());
                check_unique_names(&name, &schema, stmt)?;
                let primary_key: Vec<usize> = t
                    .constraints
                    .iter()
                    .find_map(|c| match c {
                        datafusion::common::Constraint::PrimaryKey(cols) => Some(cols.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                // A primary key implies NOT NULL (enforced on DML); the planner may rely on it.
                let schema = Arc::new(arrow::datatypes::Schema::new(
                    schema
                        .fields()
                        .iter()
                        .enumerate()
                        .map(|(i, f)| if primary_key.contains(&i) { f.as_ref().clone().with_nullable(false) } else { f.as_ref().clone() })
                        .collect::<Vec<_>>(),
                ));
                self.register(&name, RelationKind::Table, schema.clone(), stmt.location)?;
                Ok(Statement::CreateTable(TableDef { name, schema, primary_key, column_defaults: t.column_defaults.clone() }))
            }
            SqlStatement::CreateView(v) => {
                let name = v.name.0.iter().map(|p| p.as_ident().map(normalize_ident).unwrap_or_default()).collect::<Vec<_>>().join(".");
                if !v.columns.is_empty() {
                    return Err(SqlError::new(stmt.location, "a column list on CREATE VIEW is not supported")
                        .with_hint("alias the columns in the SELECT instead"));
                }
                // TUMBLE/HOP become plain SQL; the oracle re-executes the rewritten text.
                // SESSION becomes the engine's marker here and window functions for the oracle.
                let relations = |r: &str| self.catalog.get(r).map(|e| e.schema.clone());
                let mut oracle_query = v.query.as_ref().clone();
                crate::windows::rewrite_query_for(&mut oracle_query, stmt, &relations, crate::windows::Target::Batch)?;
                crate::temporal::rewrite_watermark_calls(&mut oracle_query);
                let mut query = v.query.as_ref().clone();
                crate::windows::rewrite_query(&mut query, stmt, &relations)?;
                crate::temporal::rewrite_watermark_calls(&mut query);
                let mut plan = self.plan_query(&query, stmt)?;
                if let Some(at) = stmt.emit_on_window_close {
                    crate::emit::mark_on_window_close(&mut plan, at, &|name| self.has_event_time(name))?;
                }
                check_unique_names(&name, &plan.schema, stmt)?;
                self.register(&name, if v.materialized { RelationKind::MaterializedView } else { RelationKind::View }, plan.schema.clone(), stmt.location)?;
                self.register(&errors_name(&name), RelationKind::Errors, error_schema(), stmt.location)?;
                self.set_dependencies(&name, plan.dependencies());
                let (query, oracle_query) = (query.to_string(), oracle_query.to_string());
                Ok(Statement::CreateView(ViewDef { name, plan, materialized: v.materialized, query, oracle_query }))
            }
            SqlStatement::Insert(_) | SqlStatement::Update(_) | SqlStatement::Delete(_) => {
                let kind = match sql {
                    SqlStatement::Insert(_) => DmlKind::Insert,
                    SqlStatement::Update(_) => DmlKind::Update,
                    _ => DmlKind::Delete,
                };
                let mut rewritten = sql.clone();
                crate::windows::rewrite_statement(&mut rewritten, stmt, &|r| self.catalog.get(r).map(|e| e.schema.clone()))?;
                let sql = &rewritten;
                let LogicalPlan::Dml(dml) = self.df_plan(sql.clone(), stmt)? else {
                    return Err(SqlError::new(stmt.location, "unexpected plan for DML"));
                };
                let table = dml.table_name.table().to_string();
                match self.catalog.get(&table).map(|e| e.kind) {
                    Some(RelationKind::Table) => {}
                    _ => {
                        return Err(SqlError::new(
                            locate_word(&stmt.text, stmt.location, &table).unwrap_or(stmt.location),
                            format!("'{table}' is not a table; only tables accept INSERT, UPDATE and DELETE"),
                        ));
                    }
                }
                // DML reads only tables: views and sources have no snapshot outside the dataflow.
                for dep in referenced_tables(&dml.input) {
                    if self.catalog.get(&dep).map(|e| e.kind) != Some(RelationKind::Table) {
                        return Err(SqlError::new(
                            locate_word(&stmt.text, stmt.location, &dep).unwrap_or(stmt.location),
                            format!("DML may only read tables, and '{dep}' is not a table"),
                        ));
                    }
                }
                Ok(Statement::Dml(DmlDef { table, kind, statement: sql.clone(), location: stmt.location, text: stmt.text.clone() }))
            }
            SqlStatement::Query(q) => {
                let hint = if matches!(*q.body, SetExpr::Select(_)) {
                    "wrap it: CREATE VIEW name AS SELECT …; then CREATE SINK … FROM name WITH (connector = 'stdout')"
                } else {
                    "pipelines hold DDL and DML; queries go in views"
                };
                Err(SqlError::new(stmt.location, "a bare query does nothing in a pipeline").with_hint(hint))
            }
            other => {
                let first = other.to_string().split_whitespace().take(2).collect::<Vec<_>>().join(" ");
                Err(SqlError::new(stmt.location, format!("{first} is not supported in a pipeline"))
                    .with_hint("supported: CREATE SOURCE/TABLE/VIEW/MATERIALIZED VIEW/SINK, INSERT, UPDATE, DELETE"))
            }
        }
    }
}

/// `INTERSECT ALL` / `EXCEPT ALL` keep `min(m, n)` / `m - n` copies in SQL; DataFusion plans
/// them as semi/anti joins that keep every left copy. Refused rather than answered wrongly.
fn refuse_set_all(body: &SetExpr, parsed: &ParsedStatement) -> Result<(), SqlError> {
    use datafusion::sql::sqlparser::ast::{SetOperator, SetQuantifier};
    if let SetExpr::SetOperation { op, set_quantifier, left, right } = body {
        let all = matches!(set_quantifier, SetQuantifier::All);
        let word = match op {
            SetOperator::Intersect => Some("intersect"),
            SetOperator::Except | SetOperator::Minus => Some("except"),
            _ => None,
        };
        if let (true, Some(word)) = (all, word) {
            return Err(SqlError::new(
                locate_word(&parsed.text, parsed.location, word).unwrap_or(parsed.location),
                format!("{} ALL is not supported", word.to_uppercase()),
            )
            .with_hint("use the set form without ALL, or a join with counts"));
        }
        refuse_set_all(left, parsed)?;
        refuse_set_all(right, parsed)?;
    }
    if let SetExpr::Query(q) = body {
        refuse_set_all(&q.body, parsed)?;
    }
    Ok(())
}

fn check_unique_names(name: &str, schema: &SchemaRef, stmt: &ParsedStatement) -> Result<(), SqlError> {
    let mut seen = std::collections::HashSet::new();
    for f in schema.fields() {
        if !seen.insert(f.name().as_str()) {
            return Err(SqlError::new(
                locate_word(&stmt.text, stmt.location, f.name()).unwrap_or(stmt.location),
                format!("column '{}' appears more than once in '{name}'", f.name()),
            )
            .with_hint("give the columns distinct names with AS"));
        }
    }
    Ok(())
}

fn referenced_tables(plan: &LogicalPlan) -> Vec<String> {
    let mut out = Vec::new();
    let _ = plan.apply_with_subqueries(|p| {
        if let LogicalPlan::TableScan(s) = p {
            out.push(s.table_name.table().to_string());
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    out
}

