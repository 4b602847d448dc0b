//! What a prepared statement takes and returns, known before it runs: drivers (tokio-postgres,
//! pgx) encode parameters and decode rows by the types Describe reports.
//!
//! A read is planned by DataFusion without data: each relation it names is registered as an
//! empty table of the relation's columns. Parameter types come from the client when it gave
//! them, else from DataFusion's inference (`k = $1` takes `k`'s type), else text. The result
//! columns are those of the statement planned with each parameter a typed NULL — the same
//! shape execution substitutes values into, so what runs is what was described.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::config::Dialect;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use pgwire::api::Type;

use crate::backend::{Engine, Route, show_columns};
use crate::catalog;
use crate::encode::pg_type;
use crate::error::Failure;
use crate::names;
use crate::params;
use crate::session::Session;
use crate::statement::{Action, Statement};

/// A statement's parameters and result columns (`None`: it returns no rows).
#[derive(Clone, Debug)]
pub(crate) struct Description {
    pub params: Vec<Type>,
    pub columns: Option<SchemaRef>,
}

async fn plan(ctx: &SessionContext, sql: &str, text: &str) -> Result<LogicalPlan, Failure> {
    let state = ctx.state();
    let statement = state.sql_to_statement(sql, &Dialect::PostgreSQL).map_err(|e| Failure::datafusion(e, text))?;
    state.statement_to_plan(statement).await.map_err(|e| Failure::datafusion(e, text))
}

/// The types DataFusion infers for `$1`, `$2`, … (by position, 0-based).
fn inferred(plan: &LogicalPlan) -> HashMap<usize, DataType> {
    plan.get_parameter_types()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(id, ty)| Some((id.strip_prefix('$')?.parse::<usize>().ok()?.checked_sub(1)?, ty?)))
        .collect()
}

impl Engine {
    /// A context where the relations `sql` names are empty tables of their columns.
    async fn shape_context(&self, sql: &str, text: &str) -> Result<SessionContext, Failure> {
        let ctx = illunare_sql::session_context();
        let state = ctx.state();
        let statement = state.sql_to_statement(sql, &Dialect::PostgreSQL).map_err(|e| Failure::datafusion(e, text))?;
        let references = state.resolve_table_references(&statement).map_err(|e| Failure::datafusion(e, text))?;
        let schemas: Vec<(String, SchemaRef)> = {
            let pipeline = self.lock();
            references
                .iter()
                .map(|r| {
                    let name = r.table().to_string();
                    match pipeline.planner.catalog().get(&name) {
                        Some(entry) => Ok((name, entry.schema.clone())),
                        None => Err(Failure::from_message(format!("relation '{name}' does not exist"), text)),
                    }
                })
                .collect::<Result<_, _>>()?
        };
        for (name, schema) in schemas {
            let table = MemTable::try_new(schema, vec![vec![]]).map_err(|e| Failure::datafusion(e, text))?;
            ctx.register_table(name.as_str(), Arc::new(table)).map_err(|e| Failure::datafusion(e, text))?;
        }
        Ok(ctx)
    }

    /// Describes `statement`; `given` are the parameter types the client named (if any).
    pub(crate) async fn describe(&self, session: &Session, statement: &Statement, given: &[Option<Type>]) -> Result<Description, Failure> {
        let text = &statement.text;
        let count = params::count(text)?.max(given.len());
        let choose = |inferred: &HashMap<usize, DataType>| -> Vec<Type> {
            (0..count)
                .map(|i| match given.get(i) {
                    Some(Some(ty)) if *ty != Type::UNKNOWN => ty.clone(),
                    _ => inferred.get(&i).map(pg_type).unwrap_or(Type::TEXT),
                })
                .collect()
        };
        match &statement.action {
            Action::Query(ast) => {
                let (ctx, sql) = match self.route(ast)? {
                    Route::Engine => (self.shape_context(text, text).await?, text.clone()),
                    Route::Catalog => (catalog::context(&self.relations(), session)?, Engine::catalog_sql(text, text)?),
                };
                let params = match plan(&ctx, &sql, text).await {
                    Ok(raw) => choose(&inferred(&raw)),
                    Err(_) => choose(&HashMap::new()),
                };
                let nulls: Vec<String> = params.iter().map(|ty| params::literal(None, ty)).collect();
                let typed = params::substitute(&sql, &nulls)?;
                let planned = plan(&ctx, &typed, text).await?;
                Ok(Description { params, columns: Some(names::rename(&Arc::new(planned.schema().as_arrow().clone()), ast)) })
            }
            Action::Show(name) => {
                let fields: Vec<Field> = show_columns(name).into_iter().map(|c| Field::new(c, DataType::Utf8, true)).collect();
                Ok(Description { params: choose(&HashMap::new()), columns: Some(Arc::new(Schema::new(fields))) })
            }
            Action::Change(_) if count > 0 => {
                // DML parameters take the types of what they are compared with or stored in.
                let inferred = match self.shape_context(text, text).await {
                    Ok(ctx) => plan(&ctx, text, text).await.map(|p| inferred(&p)).unwrap_or_default(),
                    Err(_) => HashMap::new(),
                };
                Ok(Description { params: choose(&inferred), columns: None })
            }
            _ => Ok(Description { params: choose(&HashMap::new()), columns: None }),
        }
    }
}
