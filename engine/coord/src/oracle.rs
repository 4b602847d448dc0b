//! The batch oracle: the same views computed by DataFusion over the same data, in one shot.
//!
//! For a pipeline over bounded inputs, every view's contents must equal DataFusion executing
//! the view's query over all source rows and the tables' current contents (DESIGN.md §4.1).
//! Rows are compared as canonical text (floats rounded to 12 significant digits, so
//! summation order does not matter), sorted, so the comparison is by multiset.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use illunare_connector::{ConnectorError, ErrorRecord, Source};
use illunare_sql::Statement;
use illunare_types::{Row, batch_to_rows, datum_to_text, error_schema, errors_name, rows_to_batch};

use crate::Pipeline;

/// Every record of a bounded source, read split by split to the end.
pub async fn read_all(source: &dyn Source) -> Result<(Vec<RecordBatch>, Vec<ErrorRecord>), ConnectorError> {
    let mut batches = Vec::new();
    let mut errors = Vec::new();
    for split in source.splits()? {
        let mut reader = source.open(&split, None)?;
        while let Some(chunk) = reader.next().await? {
            batches.push(chunk.batch);
            errors.extend(chunk.errors);
        }
    }
    Ok((batches, errors))
}

/// Rows as sorted canonical text lines.
pub fn canonical(rows: &[Row], schema: &SchemaRef) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| r.iter().zip(schema.fields()).map(|(d, f)| datum_to_text(d, f.data_type())).collect::<Vec<_>>().join(" | "))
        .collect();
    out.sort();
    out
}

/// Whether two canonical answers are the same up to float rounding: same lines in the same
/// order, and fields that differ are both numbers within a relative 1e-9. A float sum's last
/// digits depend on the order it was added in (per worker, per tick, per partition), in every
/// engine; whatever else differs is a real difference.
pub fn same_answer(a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x == y || {
                let (xs, ys): (Vec<&str>, Vec<&str>) = (x.split(" | ").collect(), y.split(" | ").collect());
                xs.len() == ys.len() && xs.iter().zip(&ys).all(|(u, v)| u == v || close(u, v))
            }
        })
}

fn close(u: &str, v: &str) -> bool {
    match (u.parse::<f64>(), v.parse::<f64>()) {
        (Ok(p), Ok(q)) => (p - q).abs() <= 1e-9 * p.abs().max(q.abs()),
        _ => false,
    }
}

pub struct Oracle {
    ctx: SessionContext,
    schemas: BTreeMap<String, SchemaRef>,
}

fn df(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn register(ctx: &SessionContext, name: &str, schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<(), String> {
    let table = MemTable::try_new(schema, vec![batches]).map_err(df)?;
    ctx.register_table(name, Arc::new(table)).map_err(df)?;
    Ok(())
}

impl Oracle {
    /// A DataFusion context holding the pipeline's sources (read fully), the tables' current
    /// contents, and every view defined as a DataFusion view.
    pub async fn new(pipeline: &Pipeline) -> Result<Oracle, String> {
        let ctx = illunare_sql::session_context();
        let mut schemas = BTreeMap::new();
        for stmt in &pipeline.statements {
            match stmt {
                Statement::CreateSource(def) => {
                    let source = pipeline.sources.get(&def.name).ok_or("source missing")?;
                    let (batches, errors) = read_all(source.as_ref()).await.map_err(df)?;
                    register(&ctx, &def.name, def.schema.clone(), batches)?;
                    let error_rows: Vec<Row> = errors.iter().map(ErrorRecord::to_row).collect();
                    let batch = rows_to_batch(&error_schema(), &error_rows).map_err(df)?;
                    register(&ctx, &errors_name(&def.name), error_schema(), vec![batch])?;
                    // The batch answer has no notion of lateness: every row counts.
                    if def.watermark.is_some() {
                        register(&ctx, &illunare_types::late_name(&def.name), def.schema.clone(), vec![])?;
                    }
                }
                Statement::CreateTable(def) => {
                    let batch = rows_to_batch(&def.schema, &pipeline.tables.rows(&def.name)).map_err(df)?;
                    register(&ctx, &def.name, def.schema.clone(), vec![batch])?;
                }
                Statement::CreateView(def) => {
                    ctx.sql(&format!("CREATE VIEW \"{}\" AS {}", def.name, def.oracle_query)).await.map_err(df)?;
                    schemas.insert(def.name.clone(), def.plan.schema.clone());
                    register(&ctx, &errors_name(&def.name), error_schema(), vec![])?;
                }
                _ => {}
            }
        }
        Ok(Oracle { ctx, schemas })
    }

    /// DataFusion's answer for view `name`, canonicalised.
    pub async fn view(&self, name: &str) -> Result<Vec<String>, String> {
        let schema = self.schemas.get(name).ok_or_else(|| format!("no view {name}"))?;
        let batches = self.ctx.sql(&format!("SELECT * FROM \"{name}\"")).await.map_err(df)?.collect().await.map_err(df)?;
        let mut rows = Vec::new();
        for b in &batches {
            rows.extend(batch_to_rows(b).map_err(df)?);
        }
        Ok(canonical(&rows, schema))
    }
}
