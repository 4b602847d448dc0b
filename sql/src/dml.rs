//! Executing INSERT / UPDATE / DELETE against a table's current contents.
//!
//! A DML statement becomes a set of row changes (`+1` inserted, `-1` removed) that the
//! coordinator feeds into the table's dataflow input at one timestamp. DataFusion evaluates the
//! statement over in-memory snapshots of the tables, so VALUES coercion, defaults, WHERE clauses
//! and expressions in SET behave as in any SQL database.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{LogicalPlan, WriteOp};
use datafusion::sql::parser::Statement as DfStatement;
use illunare_types::{Row, batch_to_rows, rows_to_batch};

use crate::error::SqlError;
use crate::planner::{DmlDef, df_error, session_context};

/// The current contents of one table, with what DML needs to know about it.
pub struct TableSnapshot {
    pub schema: SchemaRef,
    pub rows: Vec<Row>,
    /// `DEFAULT` expressions by column name, used by INSERTs that omit the column.
    pub defaults: Vec<(String, datafusion::logical_expr::Expr)>,
}

/// Current contents of every table, by name.
pub type TableSnapshots = BTreeMap<String, TableSnapshot>;

/// The changes `dml` makes to its table, given the current `tables`.
pub async fn execute_dml(dml: &DmlDef, tables: &TableSnapshots) -> Result<Vec<(Row, isize)>, SqlError> {
    let err = |e: datafusion::error::DataFusionError| df_error(e, &dml.text, dml.location);
    let ctx = session_context();
    for (name, t) in tables {
        let batch = rows_to_batch(&t.schema, &t.rows).map_err(|e| SqlError::new(dml.location, e.to_string()))?;
        let table = MemTable::try_new(t.schema.clone(), vec![vec![batch]])
            .map_err(err)?
            .with_column_defaults(t.defaults.iter().cloned().collect());
        ctx.register_table(name.as_str(), Arc::new(table)).map_err(err)?;
    }
    let plan = ctx
        .state()
        .statement_to_plan(DfStatement::Statement(Box::new(dml.statement.clone())))
        .await
        .map_err(err)?;
    let LogicalPlan::Dml(statement) = plan else {
        return Err(SqlError::new(dml.location, "not a DML statement"));
    };
    let run = |plan: LogicalPlan| {
        let ctx = ctx.clone();
        async move {
            let batches = ctx.execute_logical_plan(plan).await?.collect().await?;
            let mut rows = Vec::new();
            for b in &batches {
                rows.extend(batch_to_rows(b).map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?);
            }
            Ok::<_, datafusion::error::DataFusionError>(rows)
        }
    };
    let input = statement.input.as_ref().clone();
    let changes = match statement.op {
        WriteOp::Insert(_) => run(input).await.map_err(err)?.into_iter().map(|r| (r, 1)).collect(),
        WriteOp::Delete => run(input).await.map_err(err)?.into_iter().map(|r| (r, -1)).collect(),
        WriteOp::Update => {
            // The input is a projection of the new values over the rows that match WHERE.
            let LogicalPlan::Projection(projection) = &input else {
                return Err(SqlError::new(dml.location, format!("unexpected UPDATE plan: {}", input.display())));
            };
            let old = run(projection.input.as_ref().clone()).await.map_err(err)?;
            let new = run(input.clone()).await.map_err(err)?;
            let width = tables.get(&dml.table).map(|t| t.schema.fields().len()).unwrap_or(0);
            let mut changes: Vec<(Row, isize)> = old.into_iter().map(|r| (Row(r.0.into_iter().take(width).collect()), -1)).collect();
            changes.extend(new.into_iter().map(|r| (r, 1)));
            changes
        }
        other => return Err(SqlError::new(dml.location, format!("{other} is not supported"))),
    };
    Ok(changes)
}
