//! `SESSION(relation, time_column, gap [, partition_column …])` in `FROM`: session windows.
//!
//! ```sql
//! SELECT auction, window_start, window_end, count(*) FROM SESSION(bid, date_time, INTERVAL '5' SECOND, auction)
//! GROUP BY auction, window_start, window_end;
//! ```
//! Per partition, rows sorted by time; a row starts a new session when there is no earlier row
//! or its time is at least the previous row's time + gap, else it joins that session. Every row
//! gets `window_start` (its session's first time) and `window_end` (its last time + gap), of the
//! time column's type; a row whose time is NULL gets NULL ones (as TUMBLE gives).
//!
//! Unlike TUMBLE/HOP, a session depends on neighbouring rows, so there is no per-row rewrite.
//! The call is rewritten twice (`windows.rs` drives both):
//! - **engine text** (`ViewDef.query`): `__illunare_session('bid', 'date_time', 5000, 'auction')`,
//!   a table function registered in [`crate::session_context`] whose marker [`SessionTable`]
//!   gives DataFusion the output schema (the relation's columns + the window columns). The
//!   lowering (`lower_scan`) turns its scan into `Node::Session` over the relation; the marker
//!   itself cannot be executed.
//! - **oracle text** (`ViewDef.oracle_query`): an independent plain-SQL formulation with window
//!   functions (`oracle_sql`) that the batch oracle runs in DataFusion. The engine never runs it.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::catalog::{CatalogProviderList, Session, TableFunctionImpl, TableProvider};
use datafusion::common::{ScalarValue, TableReference, plan_err};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr as DfExpr, TableScan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use futures::FutureExt;
use illunare_plan::{Node, Plan};

/// The name of the engine's table function.
pub const FUNCTION: &str = "__illunare_session";

/// What one `SESSION(…)` call asks for, with names as in the catalog.
#[derive(Clone, Debug)]
pub(crate) struct SessionCall {
    pub relation: String,
    pub time: String,
    pub gap_ms: i64,
    pub partition: Vec<String>,
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn quote_relation(name: &str) -> String {
    name.split('.').map(quote_ident).collect::<Vec<_>>().join(".")
}

impl SessionCall {
    /// The engine's call: `__illunare_session('bid', 'date_time', 5000, 'auction')`.
    pub fn engine_sql(&self) -> String {
        let mut args = vec![quote_literal(&self.relation), quote_literal(&self.time), self.gap_ms.to_string()];
        args.extend(self.partition.iter().map(|p| quote_literal(p)));
        format!("{FUNCTION}({})", args.join(", "))
    }

    /// The oracle's query: lag → new-session flag → running sum as session id → min/max per
    /// session. The running sum uses a RANGE frame so rows with equal times (peers, in any
    /// order) get the same id; rows with a NULL time are kept apart (`ts IS NULL` in the
    /// partition) and get NULL windows. `columns` are the relation's columns.
    pub fn oracle_sql(&self, columns: &[String], gap: &str) -> String {
        let ts = quote_ident(&self.time);
        let mut keys: Vec<String> = self.partition.iter().map(|p| quote_ident(p)).collect();
        let mut by_time = keys.clone();
        by_time.push(format!("{ts} IS NULL"));
        let by_time = by_time.join(", ");
        keys.push("__illunare_sid".to_string());
        let by_session = keys.join(", ");
        let ordered = format!("(PARTITION BY {by_time} ORDER BY {ts})");
        let cols = columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ");
        format!(
            "SELECT {cols}, \
             CASE WHEN {ts} IS NOT NULL THEN min({ts}) OVER (PARTITION BY {by_session}) END AS window_start, \
             CASE WHEN {ts} IS NOT NULL THEN max({ts}) OVER (PARTITION BY {by_session}) + {gap} END AS window_end \
             FROM (SELECT *, sum(__illunare_new) OVER (PARTITION BY {by_time} ORDER BY {ts} RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS __illunare_sid \
             FROM (SELECT *, CASE WHEN lag({ts}) OVER {ordered} IS NULL OR {ts} >= lag({ts}) OVER {ordered} + {gap} THEN 1 ELSE 0 END AS __illunare_new \
             FROM {}) AS __illunare_flags) AS __illunare_ids",
            quote_relation(&self.relation)
        )
    }
}

/// The output schema of a session over `input`: its columns, then `window_start` and
/// `window_end` of the time column's type.
pub(crate) fn output_schema(input: &Schema, time: usize) -> SchemaRef {
    let dt = input.field(time).data_type().clone();
    let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("window_start", dt.clone(), true));
    fields.push(Field::new("window_end", dt, true));
    Arc::new(Schema::new(fields))
}

/// The marker provider: the schema of a session window over a catalog relation.
#[derive(Debug)]
pub struct SessionTable {
    relation: String,
    input_schema: SchemaRef,
    schema: SchemaRef,
    time: usize,
    partition: Vec<usize>,
    gap_ms: i64,
}

#[async_trait]
impl TableProvider for SessionTable {

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[DfExpr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        plan_err!("{FUNCTION} is the engine's SESSION marker and cannot be executed in batch; the oracle runs its own SQL")
    }
}

/// The table function: looks the relation up in the context's catalog.
struct SessionFunction {
    catalogs: Arc<dyn CatalogProviderList>,
    default_catalog: String,
    default_schema: String,
}

impl std::fmt::Debug for SessionFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{FUNCTION} over {}.{}", self.default_catalog, self.default_schema)
    }
}

fn string_arg(e: &DfExpr, what: &str) -> DfResult<String> {
    match e {
        DfExpr::Literal(ScalarValue::Utf8(Some(s)), _) => Ok(s.clone()),
        other => plan_err!("{FUNCTION}: expected the {what} as a string literal, got {other}"),
    }
}

impl TableFunctionImpl for SessionFunction {
    fn call(&self, args: &[DfExpr]) -> DfResult<Arc<dyn TableProvider>> {
        let [relation, time, gap, partition @ ..] = args else {
            return plan_err!("{FUNCTION} takes a relation, a time column, a gap in ms and partition columns");
        };
        let relation = string_arg(relation, "relation")?;
        let time = string_arg(time, "time column")?;
        let gap_ms = match gap {
            DfExpr::Literal(ScalarValue::Int64(Some(g)), _) if *g > 0 => *g,
            other => return plan_err!("{FUNCTION}: expected a positive gap in ms, got {other}"),
        };
        let reference = TableReference::from(relation.as_str()).resolve(&self.default_catalog, &self.default_schema);
        let provider = self
            .catalogs
            .catalog(&reference.catalog)
            .and_then(|c| c.schema(&reference.schema))
            .and_then(|s| s.table(&reference.table).now_or_never())
            .transpose()?
            .flatten()
            .ok_or_else(|| DataFusionError::Plan(format!("SESSION: relation '{relation}' not found")))?;
        let input_schema = provider.schema();
        let index = |name: &str| {
            input_schema.index_of(name).map_err(|_| DataFusionError::Plan(format!("SESSION: '{relation}' has no column '{name}'")))
        };
        let time = index(&time)?;
        if !matches!(input_schema.field(time).data_type(), DataType::Timestamp(..)) {
            return plan_err!("the time column of SESSION is {}, not a TIMESTAMP", input_schema.field(time).data_type());
        }
        let partition = partition.iter().map(|p| string_arg(p, "partition column").and_then(|p| index(&p))).collect::<DfResult<Vec<_>>>()?;
        let schema = output_schema(&input_schema, time);
        Ok(Arc::new(SessionTable { relation, input_schema, schema, time, partition, gap_ms }))
    }
}

/// Registers the engine's table function in `ctx`.
pub(crate) fn register(ctx: &SessionContext) {
    let state = ctx.state();
    let options = &state.config_options().catalog;
    let function = SessionFunction {
        catalogs: state.catalog_list().clone(),
        default_catalog: options.default_catalog.clone(),
        default_schema: options.default_schema.clone(),
    };
    ctx.register_udtf(FUNCTION, Arc::new(function));
}

/// The base of a table scan of the session marker: `Node::Session` over the relation.
/// `None` for any other scan.
pub(crate) fn lower_scan(scan: &TableScan) -> Option<Plan> {
    let provider = datafusion::datasource::source_as_provider(&scan.source).ok()?;
    let table = provider.as_ref().downcast_ref::<SessionTable>()?;
    let input = Plan::new(Node::Get { name: table.relation.clone() }, table.input_schema.clone());
    let node = Node::Session { input: Box::new(input), partition: table.partition.clone(), time: table.time, gap_ms: table.gap_ms };
    Some(Plan::new(node, table.schema.clone()))
}

/// Why a gap cannot be used with a time column of `unit`, if it cannot: DataFusion adds
/// intervals to second-precision timestamps in whole seconds.
pub(crate) fn gap_fits(unit: &TimeUnit, gap_ms: i64) -> Result<(), String> {
    match unit {
        TimeUnit::Second if gap_ms % 1000 != 0 => Err(format!("a gap of {gap_ms} ms is not a whole number of seconds, the precision of the time column")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_and_oracle_texts() {
        let call = SessionCall { relation: "bid".into(), time: "date_time".into(), gap_ms: 5000, partition: vec!["auction".into()] };
        assert_eq!(call.engine_sql(), "__illunare_session('bid', 'date_time', 5000, 'auction')");
        let sql = call.oracle_sql(&["auction".into(), "date_time".into()], "INTERVAL '5' SECOND");
        assert!(sql.starts_with("SELECT \"auction\", \"date_time\", CASE WHEN"), "{sql}");
        assert!(sql.contains("PARTITION BY \"auction\", \"date_time\" IS NULL ORDER BY \"date_time\""), "{sql}");
        assert!(sql.contains("PARTITION BY \"auction\", __illunare_sid"), "{sql}");
        let quoted = SessionCall { relation: "o'k".into(), time: "t".into(), gap_ms: 1, partition: vec![] };
        assert_eq!(quoted.engine_sql(), "__illunare_session('o''k', 't', 1)");
    }

    #[test]
    fn second_precision_needs_whole_seconds() {
        assert!(gap_fits(&TimeUnit::Second, 1500).is_err());
        assert!(gap_fits(&TimeUnit::Second, 2000).is_ok());
        assert!(gap_fits(&TimeUnit::Nanosecond, 1).is_ok());
    }
}
