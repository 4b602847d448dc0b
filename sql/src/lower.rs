//! Lowering: DataFusion's optimised `LogicalPlan` → the engine's plan IR.
//!
//! DataFusion has already resolved names, coerced types, decorrelated subqueries (IN / EXISTS
//! become semi/anti joins, scalar subqueries become joins with aggregates), inlined CTEs and
//! subqueries in FROM, and pushed filters and projections down. What is left maps onto a small
//! set of incremental operators. Anything without an incremental meaning we implement is refused
//! with a message (never lowered to something that would give a different answer).

mod ordered;

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{DFSchema, NullEquality, ScalarValue};
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::expr::{WindowFunction, WindowFunctionParams};
use datafusion::logical_expr::{
    Distinct, Expr as DfExpr, FetchType, JoinType, LogicalPlan, Operator, SkipType, SortExpr, WindowFunctionDefinition,
};
use datafusion::logical_expr::ExprSchemable;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::physical_expr::create_physical_expr;
#[allow(deprecated)]
use datafusion::physical_planner::create_aggregate_expr_and_maybe_filter;
use illunare_plan::{Aggregate, Expr, JoinKind, Node, Numbering, Plan, SortKey};
use illunare_types::{Datum, Row, array_to_datums};

/// A lowering failure; `near` names a SQL word to point the error at.
#[derive(Debug)]
pub struct LowerError {
    pub message: String,
    pub near: Option<String>,
    pub hint: Option<String>,
}

impl LowerError {
    pub(crate) fn new(message: impl Into<String>, near: Option<&str>) -> Self {
        LowerError { message: message.into(), near: near.map(str::to_string), hint: None }
    }

    pub(crate) fn hint(mut self, hint: &str) -> Self {
        self.hint = Some(hint.to_string());
        self
    }
}

impl From<datafusion::error::DataFusionError> for LowerError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        LowerError::new(e.strip_backtrace(), None)
    }
}

type Result<T> = std::result::Result<T, LowerError>;

pub struct Lowerer {
    props: ExecutionProps,
}

impl Default for Lowerer {
    fn default() -> Self {
        Self::new()
    }
}

/// Arrow schema of a DataFusion schema, with unqualified names.
pub fn arrow_schema(df: &DFSchema) -> SchemaRef {
    Arc::new(Schema::new(df.fields().iter().map(|f| f.as_ref().clone()).collect::<Vec<Field>>()))
}

impl Lowerer {
    pub fn new() -> Self {
        Lowerer { props: ExecutionProps::new() }
    }

    fn expr(&self, e: &DfExpr, schema: &DFSchema) -> Result<Expr> {
        check_no_subquery(e)?;
        if crate::temporal::uses_watermark(e) {
            return Err(LowerError::new("WATERMARK(src) can only be used in a WHERE condition", Some("watermark"))
                .hint("write e.g. WHERE ts > WATERMARK(src) - INTERVAL '10' MINUTE"));
        }
        let physical = create_physical_expr(e, schema, &self.props, &PhysicalPlanningContext::default())?;
        Ok(Expr::new(physical, e.human_display().to_string()))
    }

    /// `input` filtered by `predicate`; retention conditions on `WATERMARK(src)` become
    /// temporal filters (`temporal.rs`).
    fn filter(&self, input: Plan, predicate: &DfExpr, schema: &DFSchema) -> Result<Plan> {
        let (untils, rest) = crate::temporal::split_temporal(predicate)
            .map_err(|m| LowerError::new(m, Some("watermark")).hint("write e.g. WHERE ts > WATERMARK(src) - INTERVAL '10' MINUTE"))?;
        let out_schema = input.schema.clone();
        let mut out = input;
        if let Some(rest) = rest {
            let predicate = self.expr(&rest, schema)?;
            out = Plan::new(Node::Filter { input: Box::new(out), predicate }, out_schema.clone());
        }
        for until in untils {
            let until = self.expr(&until, schema)?;
            out = Plan::new(Node::Temporal { input: Box::new(out), until }, out_schema.clone());
        }
        Ok(out)
    }

    fn column(&self, index: usize, schema: &DFSchema) -> Result<Expr> {
        let (q, f) = schema.qualified_field(index);
        let col = DfExpr::Column(datafusion::common::Column::new(q.cloned(), f.name()));
        self.expr(&col, schema)
    }

    pub fn lower(&self, plan: &LogicalPlan) -> Result<Plan> {
        let schema = arrow_schema(plan.schema());
        let node = match plan {
            LogicalPlan::TableScan(scan) => {
                let name = scan.table_name.table().to_string();
                let source_schema = scan.source.schema();
                let full = DFSchema::try_from_qualified_schema(scan.table_name.clone(), &source_schema)?;
                // SESSION(…) windows scan a marker table function (`session.rs`).
                let mut out = crate::session::lower_scan(scan).unwrap_or_else(|| Plan::new(Node::Get { name }, source_schema.clone()));
                if let Some(projection) = &scan.projection {
                    let exprs = projection.iter().map(|&i| self.column(i, &full)).collect::<Result<Vec<_>>>()?;
                    let projected = arrow_schema(&scan.projected_schema);
                    out = Plan::new(Node::Map { input: Box::new(out), exprs }, projected);
                }
                for filter in &scan.filters {
                    out = self.filter(out, filter, &scan.projected_schema)?;
                }
                if let Some(fetch) = scan.fetch {
                    out = self.top_k_all_columns(out, 0, Some(fetch));
                }
                return Ok(out);
            }
            LogicalPlan::Projection(p) => {
                let input = self.lower(&p.input)?;
                let exprs = p.expr.iter().map(|e| self.expr(e, p.input.schema())).collect::<Result<Vec<_>>>()?;
                Node::Map { input: Box::new(input), exprs }
            }
            LogicalPlan::Filter(f) => {
                let limit = window_limit(&f.predicate, &f.input);
                let input = match (&*f.input, limit) {
                    (LogicalPlan::Window(w), Some(limit)) => self.lower_window(w, Some(limit))?,
                    _ => self.lower(&f.input)?,
                };
                return self.filter(input, &f.predicate, f.input.schema());
            }
            LogicalPlan::SubqueryAlias(a) => return self.lower(&a.input),
            LogicalPlan::Aggregate(a) => {
                if a.group_expr.iter().any(|e| matches!(e, DfExpr::GroupingSet(_))) {
                    return Err(LowerError::new("GROUPING SETS / ROLLUP / CUBE are not supported", Some("group")));
                }
                let input = self.lower(&a.input)?;
                let group_keys = a.group_expr.iter().map(|e| self.expr(e, a.input.schema())).collect::<Result<Vec<_>>>()?;
                let input_arrow = arrow_schema(a.input.schema());
                let mut aggregates = Vec::new();
                for e in &a.aggr_expr {
                    check_no_subquery(e)?;
                    #[allow(deprecated)]
                    let (function, filter, _) = create_aggregate_expr_and_maybe_filter(e, a.input.schema(), &input_arrow, &self.props)?;
                    let filter = filter.map(|f| Expr::new(f, "FILTER"));
                    aggregates.push(Aggregate { function, filter, text: e.human_display().to_string() });
                }
                Node::Reduce { input: Box::new(input), group_keys, aggregates, on_window_close: false }
            }
            LogicalPlan::Join(j) => {
                let null_aware = j.null_aware;
                let (kind, swap) = match j.join_type {
                    JoinType::Inner => (JoinKind::Inner, false),
                    JoinType::Left => (JoinKind::LeftOuter, false),
                    JoinType::Right => (JoinKind::RightOuter, false),
                    JoinType::Full => (JoinKind::FullOuter, false),
                    JoinType::LeftSemi => (JoinKind::LeftSemi, false),
                    JoinType::LeftAnti => (JoinKind::LeftAnti { null_aware }, false),
                    JoinType::RightSemi => (JoinKind::LeftSemi, true),
                    JoinType::RightAnti => (JoinKind::LeftAnti { null_aware }, true),
                    JoinType::LeftMark | JoinType::RightMark => {
                        return Err(LowerError::new(
                            "this combination of a subquery with OR is not supported; rewrite it as a join or UNION",
                            Some("exists"),
                        ));
                    }
                };
                if null_aware && (j.on.len() != 1 || j.filter.is_some()) {
                    return Err(LowerError::new(
                        "NOT IN over a correlated subquery is not supported (its NULL rules apply per outer row)",
                        Some("not"),
                    )
                    .hint("rewrite it as NOT EXISTS (SELECT 1 FROM … WHERE … AND inner.col = outer.col)"));
                }
                let (l, r) = if swap { (&j.right, &j.left) } else { (&j.left, &j.right) };
                let left = self.lower(l)?;
                let right = self.lower(r)?;
                let mut left_keys = Vec::new();
                let mut right_keys = Vec::new();
                for (a, b) in &j.on {
                    let (a, b) = if swap { (b, a) } else { (a, b) };
                    left_keys.push(self.expr(a, l.schema())?);
                    right_keys.push(self.expr(b, r.schema())?);
                }
                let both = l.schema().join(r.schema())?;
                let residual = j.filter.as_ref().map(|f| self.expr(f, &both)).transpose()?;
                let nulls_equal = j.null_equality == NullEquality::NullEqualsNull;
                let interval = (kind == JoinKind::Inner)
                    .then(|| crate::interval_join::interval_bounds(j.filter.as_ref(), l.schema(), r.schema()))
                    .flatten();
                Node::Join { left: Box::new(left), right: Box::new(right), kind, left_keys, right_keys, residual, nulls_equal, interval }
            }
            LogicalPlan::Union(u) => {
                let inputs = u.inputs.iter().map(|i| self.lower(i)).collect::<Result<Vec<_>>>()?;
                Node::Union { inputs }
            }
            LogicalPlan::Distinct(Distinct::All(input)) => Node::Distinct { input: Box::new(self.lower(input)?) },
            LogicalPlan::Distinct(Distinct::On(_)) => return Err(LowerError::new("DISTINCT ON is not supported", Some("distinct"))),
            LogicalPlan::Sort(s) => match s.fetch {
                None => return self.lower(&s.input),
                Some(fetch) => return self.lower_sort(&s.expr, &s.input, 0, Some(fetch)),
            },
            LogicalPlan::Limit(l) => {
                let skip = match l.get_skip_type()? {
                    SkipType::Literal(n) => n,
                    SkipType::UnsupportedExpr => return Err(LowerError::new("OFFSET must be a constant", Some("offset"))),
                };
                let fetch = match l.get_fetch_type()? {
                    FetchType::Literal(n) => n,
                    FetchType::UnsupportedExpr => return Err(LowerError::new("LIMIT must be a constant", Some("limit"))),
                };
                return match &*l.input {
                    LogicalPlan::Sort(s) => {
                        let fetch = match (fetch, s.fetch) {
                            (Some(a), Some(b)) => Some(a.min(b.saturating_sub(skip))),
                            (a, b) => a.or(b.map(|b| b.saturating_sub(skip))),
                        };
                        self.lower_sort(&s.expr, &s.input, skip, fetch)
                    }
                    other => {
                        let input = self.lower(other)?;
                        Ok(self.top_k_all_columns(input, skip, fetch))
                    }
                };
            }
            LogicalPlan::Window(w) => return self.lower_window(w, None),
            LogicalPlan::Values(v) => {
                let empty = DFSchema::empty();
                let one_row = RecordBatch::try_new_with_options(
                    Arc::new(Schema::empty()),
                    vec![],
                    &RecordBatchOptions::new().with_row_count(Some(1)),
                )
                .map_err(|e| LowerError::new(e.to_string(), None))?;
                let mut rows = Vec::new();
                for values in &v.values {
                    let mut row = Vec::new();
                    for (e, field) in values.iter().zip(schema.fields()) {
                        let physical = create_physical_expr(e, &empty, &self.props, &PhysicalPlanningContext::default())?;
                        let array = physical.evaluate(&one_row)?.into_array(1)?;
                        let array = if array.data_type() != field.data_type() {
                            arrow::compute::cast(&array, field.data_type()).map_err(|e| LowerError::new(e.to_string(), Some("values")))?
                        } else {
                            array
                        };
                        let datum = array_to_datums(array.as_ref()).map_err(|e| LowerError::new(e.to_string(), Some("values")))?;
                        row.push(datum.into_iter().next().unwrap_or(Datum::Null));
                    }
                    rows.push(Row(row));
                }
                Node::Constant { rows }
            }
            LogicalPlan::EmptyRelation(e) => Node::Constant { rows: if e.produce_one_row { vec![Row::empty()] } else { vec![] } },
            LogicalPlan::Unnest(_) => return Err(LowerError::new("UNNEST is not supported in a view", Some("unnest"))),
            LogicalPlan::RecursiveQuery(_) => {
                return Err(LowerError::new("recursive CTEs (WITH RECURSIVE) are not supported in a view", Some("recursive")));
            }
            other => {
                let name = other.display().to_string();
                let word = name.split([':', ' ']).next().unwrap_or("").to_lowercase();
                return Err(LowerError::new(format!("{word} is not supported in a view"), Some(&word)));
            }
        };
        Ok(Plan::new(node, schema))
    }

    /// `ORDER BY exprs [OFFSET skip] LIMIT fetch` over `input`: TopK, computing non-column sort
    /// expressions in an extra Map that is projected away afterwards.
    fn lower_sort(&self, sort: &[SortExpr], input: &LogicalPlan, skip: usize, fetch: Option<usize>) -> Result<Plan> {
        let lowered = self.lower(input)?;
        let df = input.schema();
        let width = df.fields().len();
        let (with_keys, order) = self.sort_keys(lowered, df, sort)?;
        let extended = with_keys.schema.clone();
        let top = Plan::new(
            Node::TopK { input: Box::new(with_keys), partition: vec![], order, offset: skip, limit: fetch, numbering: None },
            extended.clone(),
        );
        Ok(self.project_prefix(top, width))
    }

    /// Resolves sort expressions to column indices, appending computed ones as extra columns.
    /// A window's PARTITION BY and ORDER BY as columns of `input` (computed ones appended, as
    /// for ORDER BY keys): (the input with them, partition columns, order keys).
    fn window_keys(&self, input: Plan, df: &DFSchema, partition_by: &[DfExpr], order_by: &[SortExpr]) -> Result<(Plan, Vec<usize>, Vec<SortKey>)> {
        let mut all: Vec<SortExpr> = partition_by.iter().map(|e| SortExpr::new(e.clone(), true, true)).collect();
        all.extend(order_by.iter().cloned());
        let (with_keys, keys) = self.sort_keys(input, df, &all)?;
        let partition = keys[..partition_by.len()].iter().map(|k| k.column).collect();
        Ok((with_keys, partition, keys[partition_by.len()..].to_vec()))
    }

    fn sort_keys(&self, input: Plan, df: &DFSchema, sort: &[SortExpr]) -> Result<(Plan, Vec<SortKey>)> {
        let width = df.fields().len();
        let mut extra: Vec<Expr> = Vec::new();
        let mut extra_fields: Vec<Field> = Vec::new();
        let mut order = Vec::new();
        for s in sort {
            let column = match &s.expr {
                DfExpr::Column(c) => df.index_of_column(c).ok(),
                _ => None,
            };
            let column = match column {
                Some(i) => i,
                None => {
                    let e = self.expr(&s.expr, df)?;
                    let (_, field) = s.expr.to_field(df)?;
                    let (dt, nullable) = (field.data_type().clone(), field.is_nullable());
                    extra_fields.push(Field::new(format!("__sort_{}", extra.len()), dt, nullable));
                    extra.push(e);
                    width + extra.len() - 1
                }
            };
            order.push(SortKey { column, descending: !s.asc, nulls_first: s.nulls_first });
        }
        if extra.is_empty() {
            return Ok((input, order));
        }
        let mut exprs = (0..width).map(|i| self.column(i, df)).collect::<Result<Vec<_>>>()?;
        exprs.extend(extra);
        let mut fields: Vec<Field> = input.schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.extend(extra_fields);
        Ok((Plan::new(Node::Map { input: Box::new(input), exprs }, Arc::new(Schema::new(fields))), order))
    }

    /// Keeps the first `width` columns of `plan`.
    fn project_prefix(&self, plan: Plan, width: usize) -> Plan {
        if plan.schema.fields().len() == width {
            return plan;
        }
        let fields: Vec<Field> = plan.schema.fields().iter().take(width).map(|f| f.as_ref().clone()).collect();
        let schema = Arc::new(Schema::new(fields));
        let exprs = (0..width)
            .map(|i| {
                let f = plan.schema.field(i);
                Expr::new(Arc::new(datafusion::physical_expr::expressions::Column::new(f.name(), i)), f.name().clone())
            })
            .collect();
        Plan::new(Node::Map { input: Box::new(plan), exprs }, schema)
    }

    /// LIMIT without ORDER BY: any rows are a correct answer; we take the first by row order so
    /// the answer is deterministic.
    fn top_k_all_columns(&self, input: Plan, offset: usize, limit: Option<usize>) -> Plan {
        let schema = input.schema.clone();
        let order = (0..schema.fields().len()).map(|column| SortKey { column, descending: false, nulls_first: true }).collect();
        Plan::new(Node::TopK { input: Box::new(input), partition: vec![], order, offset, limit, numbering: None }, schema)
    }

    fn lower_window(&self, w: &datafusion::logical_expr::Window, limit: Option<usize>) -> Result<Plan> {
        let schema = arrow_schema(&w.schema);
        let names: Vec<Option<String>> = w.window_expr.iter().map(ordered::function_name).collect();
        let numbering = |n: &Option<String>| n.as_deref().is_some_and(|n| ordered::NUMBERING.contains(&n));
        if !names.iter().any(numbering) {
            // LAG/LEAD, FIRST/LAST_VALUE and framed aggregates (`limit` is only an optimisation
            // of numberings; the filter above still applies).
            return self.lower_ordered_window(w);
        }
        if w.window_expr.len() > 1 && !names.iter().all(numbering) {
            return Err(LowerError::new(
                "ROW_NUMBER, RANK and DENSE_RANK cannot share a window with other window functions",
                Some("over"),
            )
            .hint("give the numbering its own window spec (e.g. a different ORDER BY) or compute it in a subquery"));
        }
        if w.window_expr.len() != 1 {
            return Err(LowerError::new("only one window function per SELECT is supported (ROW_NUMBER, RANK or DENSE_RANK)", Some("over")));
        }
        let (numbering, params) = match unalias(&w.window_expr[0]) {
            DfExpr::WindowFunction(wf) => {
                let WindowFunction { fun, params } = wf.as_ref();
                let name = match fun {
                    WindowFunctionDefinition::WindowUDF(udf) => udf.name().to_string(),
                    WindowFunctionDefinition::AggregateUDF(udf) => udf.name().to_string(),
                };
                let numbering = match name.as_str() {
                    "row_number" => Numbering::RowNumber,
                    "rank" => Numbering::Rank,
                    "dense_rank" => Numbering::DenseRank,
                    other => {
                        return Err(LowerError::new(
                            format!("window function {other} is not supported yet (ROW_NUMBER, RANK and DENSE_RANK are)"),
                            Some(other),
                        ));
                    }
                };
                (numbering, params)
            }
            _ => return Err(LowerError::new("unsupported window expression", Some("over"))),
        };
        let WindowFunctionParams { partition_by, order_by, .. } = params;
        let df = w.input.schema();
        let width = df.fields().len();
        let lowered = self.lower(&w.input)?;
        let (with_keys, partition, order) = self.window_keys(lowered, df, partition_by, order_by)?;
        let mut fields: Vec<Field> = with_keys.schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        let extended_width = fields.len();
        fields.push(schema.field(width).clone());
        let top = Plan::new(
            Node::TopK { input: Box::new(with_keys), partition, order, offset: 0, limit, numbering: Some(numbering) },
            Arc::new(Schema::new(fields)),
        );
        if extended_width == width {
            return Ok(top);
        }
        // Drop the computed key columns, keep input columns and the numbering.
        let mut exprs: Vec<Expr> = (0..width)
            .map(|i| {
                let f = top.schema.field(i);
                Expr::new(Arc::new(datafusion::physical_expr::expressions::Column::new(f.name(), i)), f.name().clone())
            })
            .collect();
        let f = top.schema.field(extended_width);
        exprs.push(Expr::new(Arc::new(datafusion::physical_expr::expressions::Column::new(f.name(), extended_width)), f.name().clone()));
        Ok(Plan::new(Node::Map { input: Box::new(top), exprs }, schema))
    }
}

fn unalias(e: &DfExpr) -> &DfExpr {
    match e {
        DfExpr::Alias(a) => unalias(&a.expr),
        other => other,
    }
}

/// For `Filter(rn <= N)` directly over a numbering window, the largest number that survives:
/// rows numbered beyond it need not be produced at all.
fn window_limit(predicate: &DfExpr, input: &LogicalPlan) -> Option<usize> {
    let LogicalPlan::Window(w) = input else { return None };
    let name = w.schema.field(w.schema.fields().len() - 1).name().clone();
    let mut best = None;
    for conjunct in datafusion::logical_expr::utils::split_conjunction(predicate) {
        if let DfExpr::BinaryExpr(b) = conjunct {
            let (col, op, lit) = match (&*b.left, &*b.right) {
                (DfExpr::Column(c), DfExpr::Literal(v, _)) => (c, b.op, v),
                (DfExpr::Literal(v, _), DfExpr::Column(c)) => (c, b.op.swap()?, v),
                _ => continue,
            };
            if col.name != name {
                continue;
            }
            let n = match lit {
                ScalarValue::UInt64(Some(n)) => *n as i128,
                ScalarValue::Int64(Some(n)) => *n as i128,
                ScalarValue::Int32(Some(n)) => *n as i128,
                _ => continue,
            };
            let limit = match op {
                Operator::LtEq | Operator::Eq => n,
                Operator::Lt => n - 1,
                _ => continue,
            };
            let limit = limit.max(0) as usize;
            best = Some(best.map_or(limit, |b: usize| b.min(limit)));
        }
    }
    best
}

/// Refuses functions whose value is not a function of the row (`now()`, `random()`,
/// `uuid()`…): DataFusion would fix them once at planning time, so the view would silently
/// disagree with any later evaluation. `WATERMARK(src)` is the one allowed (`temporal.rs`).
pub fn refuse_nondeterministic(plan: &LogicalPlan) -> Result<()> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    use datafusion::logical_expr::Volatility;
    let mut found: Option<String> = None;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|x| {
                if let DfExpr::ScalarFunction(f) = x
                    && f.func.name() != crate::temporal::WATERMARK
                    && f.func.name() != crate::proctime::PROCTIME
                    && f.func.signature().volatility != Volatility::Immutable
                {
                    found = Some(f.func.name().to_string());
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })?;
        Ok(if found.is_some() { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    match found {
        Some(name) => Err(LowerError::new(
            format!("{name}() is not supported in a view: its value would be fixed when the pipeline is planned"),
            Some(name.as_str()),
        )
        .hint("for event time use the source's time column or WATERMARK(src); for processing time, PROCTIME(); for a constant, write a literal")),
        None => Ok(()),
    }
}

fn check_no_subquery(e: &DfExpr) -> Result<()> {
    let mut found = None;
    let _ = e.apply(|x| {
        let kind = match x {
            DfExpr::ScalarSubquery(_) => Some("scalar subquery"),
            DfExpr::Exists(_) => Some("EXISTS subquery"),
            DfExpr::InSubquery(_) => Some("IN subquery"),
            DfExpr::OuterReferenceColumn(..) => Some("correlated reference"),
            _ => None,
        };
        if let Some(kind) = kind {
            found = Some(kind);
            return Ok(datafusion::common::tree_node::TreeNodeRecursion::Stop);
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    match found {
        None => Ok(()),
        Some(kind) => Err(LowerError::new(
            format!("this {kind} could not be decorrelated into a join; rewrite it as a join"),
            Some("select"),
        )),
    }
}

