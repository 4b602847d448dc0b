//! `PROCTIME()`: the wall-clock time a row is processed, for processing-time windows (Nexmark
//! q12, Flink's `PROCTIME()` attribute).
//!
//! ```sql
//! CREATE VIEW b AS SELECT *, PROCTIME() AS p_time FROM bid;
//! SELECT bidder, count(*), window_start FROM TUMBLE(b, p_time, INTERVAL '10' SECOND)
//! GROUP BY bidder, window_start, window_end;
//! ```
//!
//! - A volatile DataFusion function returning `TIMESTAMP(3)` (UTC): the engine evaluates it
//!   when the row passes the projection, once per row, so every row gets the time it was
//!   processed. DataFusion never folds it into a constant (unlike `now()`, refused in views).
//! - Only in the `SELECT` list of a query reading a **source** directly (through filters and
//!   projections). A row's projection is evaluated again when the row is retracted; source
//!   rows never are, but table rows can be deleted or updated, and the retraction would then
//!   carry another time than the insertion and never cancel it. Anywhere else (`WHERE`, over a
//!   table, a join, an aggregate or a view) it is refused with a message.
//! - Results depend on when rows arrive, so views using it are not compared with the batch
//!   oracle (which would read its own clock).
//!
//! Rejected: the row's dataflow timestamp as its processing time. It is the processing time
//! for sources without a WATERMARK, but the event time for the others, and a per-row value
//! would need a new expression kind evaluated with the update's time; the wall clock at the
//! projection is what Flink's PROCTIME() means.

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, Expr as DfExpr, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::lower::LowerError;

/// The function's name as DataFusion knows it.
pub const PROCTIME: &str = "proctime";

#[derive(Debug, PartialEq, Eq, Hash)]
struct ProcTime {
    signature: Signature,
}

impl ScalarUDFImpl for ProcTime {
    fn name(&self) -> &str {
        PROCTIME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Millisecond, None))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        Ok(ColumnarValue::Scalar(ScalarValue::TimestampMillisecond(Some(now), None)))
    }
}

/// `proctime()`: see the module doc.
pub fn proctime_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(ProcTime { signature: Signature::exact(vec![], Volatility::Volatile) })
}

/// Registers the function with a DataFusion context (planner and oracle).
pub fn register(ctx: &datafusion::prelude::SessionContext) {
    ctx.register_udf(proctime_udf());
}

/// Whether `e` calls `proctime` anywhere.
pub fn uses_proctime(e: &DfExpr) -> bool {
    let mut found = false;
    let _ = e.apply(|x| {
        if matches!(x, DfExpr::ScalarFunction(f) if f.func.name() == PROCTIME) {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// Whether a (not yet optimised) `plan` calls `proctime` anywhere.
pub fn plan_uses_proctime(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            found |= uses_proctime(e);
            Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
        })?;
        Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    found
}

/// Refuses `PROCTIME()` anywhere but in a projection over a source read directly (see the module
/// doc); `is_source` tells whether a scanned relation is a source.
pub fn check(plan: &LogicalPlan, is_source: &dyn Fn(&str) -> bool) -> Result<(), LowerError> {
    let mut problem: Option<&'static str> = None;
    let _ = plan.apply_with_subqueries(|node| {
        let mut here = false;
        node.apply_expressions(|e| {
            here |= uses_proctime(e);
            Ok(if here { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
        })?;
        if here {
            problem = match node {
                LogicalPlan::Projection(p) if reads_a_source(&p.input, is_source) => None,
                LogicalPlan::Projection(_) => Some("PROCTIME() can only be computed over a source read directly (not a table, view, join or aggregate)"),
                _ => Some("PROCTIME() can only be used in the SELECT list"),
            };
        }
        Ok(if problem.is_some() { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    match problem {
        None => Ok(()),
        Some(message) => Err(LowerError::new(message, Some(PROCTIME))
            .hint("add it to a view over the source, e.g. CREATE VIEW b AS SELECT *, PROCTIME() AS p_time FROM bid")),
    }
}

/// Whether `plan` is a scan of a source under filters, projections and aliases only (so its rows
/// are only ever inserted).
fn reads_a_source(plan: &LogicalPlan, is_source: &dyn Fn(&str) -> bool) -> bool {
    match plan {
        LogicalPlan::TableScan(scan) => is_source(scan.table_name.table()),
        LogicalPlan::Filter(f) => reads_a_source(&f.input, is_source),
        LogicalPlan::Projection(p) => reads_a_source(&p.input, is_source),
        LogicalPlan::SubqueryAlias(a) => reads_a_source(&a.input, is_source),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::plan_pipeline;

    const SOURCES: &str = "CREATE SOURCE bid (bidder BIGINT, price BIGINT) WITH (connector = 'generator', kind = 'nexmark', table = 'bid');
        CREATE TABLE t (k BIGINT);\n";

    fn error(view: &str) -> String {
        let text = format!("{SOURCES}{view}");
        match plan_pipeline(&text) {
            Ok(_) => panic!("accepted: {view}"),
            Err(e) => e.render("p.sql", &text),
        }
    }

    #[test]
    fn allowed_in_the_select_list_over_a_source() {
        for view in [
            "CREATE VIEW b AS SELECT *, PROCTIME() AS p_time FROM bid;",
            "CREATE VIEW b AS SELECT bidder, PROCTIME() AS p FROM bid WHERE price > 10;",
            "CREATE VIEW b AS SELECT x.bidder, PROCTIME() AS p FROM (SELECT bidder FROM bid) AS x;",
        ] {
            let text = format!("{SOURCES}{view}");
            if let Err(e) = plan_pipeline(&text) {
                panic!("{view}: {}", e.render("p.sql", &text));
            }
        }
    }

    #[test]
    fn refused_elsewhere_at_the_call() {
        let e = error("CREATE VIEW v AS SELECT k, PROCTIME() AS p FROM t;");
        assert!(e.contains("p.sql:3:28: error: PROCTIME() can only be computed over a source read directly"), "{e}");
        let e = error("CREATE VIEW v AS SELECT bidder FROM bid WHERE PROCTIME() > TIMESTAMP '2024-01-01 00:00:00';");
        assert!(e.contains("PROCTIME() can only be used in the SELECT list"), "{e}");
        let e = error("CREATE VIEW v AS SELECT bidder, count(*), max(PROCTIME()) FROM bid GROUP BY bidder;");
        assert!(e.contains("PROCTIME() can only"), "{e}");
        let e = error("CREATE VIEW v AS SELECT b.bidder, PROCTIME() FROM bid b JOIN t ON b.bidder = t.k;");
        assert!(e.contains("over a source read directly"), "{e}");
        let e = error("CREATE VIEW v AS SELECT bidder, now() AS n FROM bid;");
        assert!(e.contains("now() is not supported in a view") && e.contains("PROCTIME()"), "{e}");
    }
}
