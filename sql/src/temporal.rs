//! `WATERMARK(src)`: the time the dataflow has reached, for retention and sliding views.
//!
//! ```sql
//! SELECT * FROM bid WHERE date_time > WATERMARK(bid) - INTERVAL '10' MINUTE
//! ```
//! keeps each bid while the watermark is less than ten minutes past it. Event time is the
//! dataflow timestamp, so such a condition is lowered to a temporal filter (`Node::Temporal`):
//! the row is retracted at `date_time + 10 min`, and the view's state stays bounded.
//!
//! - `WATERMARK(src)` names a relation for readability (Flink/RisingWave habit); it is the
//!   dataflow's time, i.e. the watermark of the event-time sources. The parser sees `src` as a
//!   column, so the query is rewritten first: `WATERMARK(src)` → `watermark('src')`.
//! - As a DataFusion function (`watermark`), it is volatile (never constant-folded) and NULL:
//!   a batch query runs "after the end of time", where every retention condition is false.
//!   This is exactly the final state of a bounded pipeline (its frontier ends empty, so every
//!   row has been retracted), so the batch oracle agrees.
//! - Allowed forms (one per conjunct of a WHERE): `e > WATERMARK(s) [- interval]`,
//!   `e >= …`, and the mirrored `WATERMARK(s) [- interval] < e` / `<= e`. Anything else using
//!   WATERMARK is refused with a clear error.


use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr as DfExpr, Operator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, lit,
};
use datafusion::sql::sqlparser::ast::{self, VisitMut, VisitorMut};

/// The function's name as DataFusion knows it.
pub const WATERMARK: &str = "watermark";

#[derive(Debug, PartialEq, Eq, Hash)]
struct Watermark {
    signature: Signature,
}

impl ScalarUDFImpl for Watermark {
    fn name(&self) -> &str {
        WATERMARK
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Millisecond, None))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::TimestampMillisecond(None, None)))
    }
}

/// `watermark(relation_name)`: see the module doc.
pub fn watermark_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(Watermark { signature: Signature::exact(vec![DataType::Utf8], Volatility::Volatile) })
}

/// Rewrites `WATERMARK(src)` (a bare name) into `watermark('src')` everywhere in `query`.
pub fn rewrite_watermark_calls(query: &mut ast::Query) {
    struct Rewriter;
    impl VisitorMut for Rewriter {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut ast::Expr) -> std::ops::ControlFlow<()> {
            if let ast::Expr::Function(f) = expr
                && f.name.to_string().eq_ignore_ascii_case(WATERMARK)
                && let ast::FunctionArguments::List(list) = &mut f.args
                && let [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(arg))] = list.args.as_mut_slice()
            {
                let name = match arg {
                    ast::Expr::Identifier(id) => Some(id.value.clone()),
                    ast::Expr::CompoundIdentifier(ids) => ids.last().map(|i| i.value.clone()),
                    _ => None,
                };
                if let Some(name) = name {
                    *arg = ast::Expr::Value(ast::Value::SingleQuotedString(name).into());
                }
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let _ = query.visit(&mut Rewriter);
}

/// Whether `e` calls `watermark` anywhere.
pub fn uses_watermark(e: &DfExpr) -> bool {
    let mut found = false;
    let _ = e.apply(|x| {
        if let DfExpr::ScalarFunction(f) = x
            && f.func.name() == WATERMARK
        {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

fn strip_casts(e: &DfExpr) -> &DfExpr {
    match e {
        DfExpr::Cast(c) => strip_casts(&c.expr),
        DfExpr::TryCast(c) => strip_casts(&c.expr),
        other => other,
    }
}

fn is_watermark_call(e: &DfExpr) -> bool {
    matches!(strip_casts(e), DfExpr::ScalarFunction(ScalarFunction { func, .. }) if func.name() == WATERMARK)
}

/// `WATERMARK(s)` or `WATERMARK(s) - lag`: the lag (`None` for none), or `Err` for another shape.
fn watermark_lag(e: &DfExpr) -> Result<Option<DfExpr>, ()> {
    if is_watermark_call(e) {
        return Ok(None);
    }
    match strip_casts(e) {
        DfExpr::BinaryExpr(BinaryExpr { left, op: Operator::Minus, right }) if is_watermark_call(left) && !uses_watermark(right) => {
            Ok(Some((**right).clone()))
        }
        _ => Err(()),
    }
}

/// One millisecond, as an interval.
fn one_ms() -> DfExpr {
    lit(ScalarValue::IntervalMonthDayNano(Some(arrow::datatypes::IntervalMonthDayNano::new(0, 0, 1_000_000))))
}

/// The retraction time of a retention conjunct, `None` if it does not use WATERMARK.
fn until_of(conjunct: &DfExpr) -> Result<Option<DfExpr>, String> {
    if !uses_watermark(conjunct) {
        return Ok(None);
    }
    let shape = || {
        "WATERMARK(src) can only bound a time from below in a WHERE condition, as in `ts > WATERMARK(src) - INTERVAL '10' MINUTE`"
            .to_string()
    };
    let DfExpr::BinaryExpr(BinaryExpr { left, op, right }) = conjunct else { return Err(shape()) };
    // Normalise to `row_time OP watermark - lag` with OP in {>, >=}.
    let (row_time, inclusive, bound) = match op {
        Operator::Gt => (left, false, right),
        Operator::GtEq => (left, true, right),
        Operator::Lt => (right, false, left),
        Operator::LtEq => (right, true, left),
        _ => return Err(shape()),
    };
    if uses_watermark(row_time) {
        return Err(shape());
    }
    let lag = watermark_lag(bound).map_err(|_| shape())?;
    // Visible while watermark < row_time + lag (<= when inclusive): gone at that time.
    let mut until = (**row_time).clone();
    if let Some(lag) = lag {
        until = until + lag;
    }
    if inclusive {
        until = until + one_ms();
    }
    Ok(Some(until))
}

/// Splits a WHERE predicate into its retention conditions (as retraction times) and the rest.
pub fn split_temporal(predicate: &DfExpr) -> Result<(Vec<DfExpr>, Option<DfExpr>), String> {
    if !uses_watermark(predicate) {
        return Ok((Vec::new(), Some(predicate.clone())));
    }
    let mut untils = Vec::new();
    let mut rest: Vec<DfExpr> = Vec::new();
    for conjunct in datafusion::logical_expr::utils::split_conjunction(predicate) {
        match until_of(conjunct)? {
            Some(until) => untils.push(until),
            None => rest.push(conjunct.clone()),
        }
    }
    Ok((untils, rest.into_iter().reduce(|a, b| a.and(b))))
}

/// Registers the function with a DataFusion context (planner and oracle).
pub fn register(ctx: &datafusion::prelude::SessionContext) {
    ctx.register_udf(watermark_udf());
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::logical_expr::col;

    use super::*;

    fn wm() -> DfExpr {
        DfExpr::ScalarFunction(ScalarFunction::new_udf(Arc::new(watermark_udf()), vec![lit("bid")]))
    }

    fn minutes(n: i64) -> DfExpr {
        lit(ScalarValue::IntervalMonthDayNano(Some(arrow::datatypes::IntervalMonthDayNano::new(0, 0, n * 60_000_000_000))))
    }

    #[test]
    fn retention_conditions_become_retraction_times() {
        let p = col("ts").gt(wm() - minutes(10)).and(col("k").eq(lit(1)));
        let (untils, rest) = split_temporal(&p).expect("split");
        assert_eq!(untils, vec![col("ts") + minutes(10)]);
        assert_eq!(rest, Some(col("k").eq(lit(1))));
        let (untils, rest) = split_temporal(&(wm() - minutes(1)).lt_eq(col("ts"))).expect("mirrored");
        assert_eq!(untils, vec![col("ts") + minutes(1) + one_ms()]);
        assert!(rest.is_none());
    }

    #[test]
    fn other_uses_are_refused() {
        assert!(split_temporal(&col("ts").lt(wm())).is_err(), "an upper bound");
        assert!(split_temporal(&col("ts").gt(wm()).or(col("k").eq(lit(1)))).is_err(), "under OR");
        assert!(split_temporal(&col("ts").eq(wm())).is_err());
        assert!(split_temporal(&col("k").eq(lit(1))).expect("plain").0.is_empty());
    }

    #[test]
    fn bare_names_become_string_arguments() {
        let sql = "SELECT * FROM bid WHERE date_time > WATERMARK(bid) - INTERVAL '10' MINUTE";
        let dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
        let mut statements = datafusion::sql::sqlparser::parser::Parser::parse_sql(&dialect, sql).expect("parse");
        let ast::Statement::Query(query) = &mut statements[0] else { panic!("not a query") };
        rewrite_watermark_calls(query);
        assert!(query.to_string().contains("WATERMARK('bid')"), "{query}");
    }
}
