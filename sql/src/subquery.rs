//! Uncorrelated scalar subqueries → left joins.
//!
//! DataFusion decorrelates correlated scalar subqueries into joins itself, but leaves
//! uncorrelated ones (`WHERE x > (SELECT avg(x) FROM t)`) to a physical operator that runs the
//! subquery once. A view must instead follow the subquery's value as it changes, so each one
//! becomes a LEFT JOIN on `true` with the subquery (one row, or none → NULL) and the expression
//! reads the joined column. Only subqueries that can never return more than one row are
//! accepted (an aggregate without GROUP BY, or LIMIT 1): SQL makes more rows a runtime error,
//! which a join would silently turn into duplicated rows.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan, LogicalPlanBuilder, Projection, Subquery, lit};

fn at_most_one_row(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Aggregate(a) => a.group_expr.is_empty(),
        LogicalPlan::Limit(l) => l.fetch.as_deref().is_some_and(|f| matches!(f, Expr::Literal(v, _) if v.to_string() == "1" || v.to_string() == "0")),
        LogicalPlan::Projection(p) => at_most_one_row(&p.input),
        LogicalPlan::SubqueryAlias(a) => at_most_one_row(&a.input),
        LogicalPlan::Filter(f) => at_most_one_row(&f.input),
        LogicalPlan::Sort(s) => s.fetch == Some(1) || at_most_one_row(&s.input),
        _ => false,
    }
}

fn collect_uncorrelated(exprs: &[Expr]) -> Vec<Subquery> {
    let mut found = Vec::new();
    for e in exprs {
        let _ = e.apply(|x| {
            if let Expr::ScalarSubquery(sq) = x
                && sq.outer_ref_columns.is_empty()
                && !found.contains(sq)
            {
                found.push(sq.clone());
            }
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        });
    }
    found
}

/// Joins `input` with each subquery; returns the new input and the column replacing each.
fn join_subqueries(input: LogicalPlan, subqueries: &[Subquery], counter: &mut usize) -> Result<(LogicalPlan, Vec<(Subquery, Expr)>)> {
    let mut plan = input;
    let mut replacements = Vec::new();
    for sq in subqueries {
        if !at_most_one_row(&sq.subquery) {
            return Err(DataFusionError::Plan(
                "a scalar subquery must return at most one row: use an aggregate without GROUP BY, or LIMIT 1".into(),
            ));
        }
        *counter += 1;
        let alias = format!("__scalar_sq_{counter}");
        let sub = LogicalPlanBuilder::from(sq.subquery.as_ref().clone()).alias(alias.as_str())?.build()?;
        let field = sub.schema().field(0).name().clone();
        plan = LogicalPlanBuilder::from(plan).join_on(sub, JoinType::Left, vec![lit(true)])?.build()?;
        replacements.push((sq.clone(), Expr::Column(Column::new(Some(alias.as_str()), field))));
    }
    Ok((plan, replacements))
}

fn replace(e: Expr, replacements: &[(Subquery, Expr)]) -> Result<Expr> {
    e.transform_up(|x| match &x {
        Expr::ScalarSubquery(sq) => match replacements.iter().find(|(s, _)| s == sq) {
            Some((_, col)) => Ok(Transformed::yes(col.clone())),
            None => Ok(Transformed::no(x)),
        },
        _ => Ok(Transformed::no(x)),
    })
    .map(|t| t.data)
}

/// Rewrites every uncorrelated scalar subquery in filters and projections of `plan`.
pub fn rewrite_scalar_subqueries(plan: LogicalPlan) -> Result<LogicalPlan> {
    let mut counter = 0usize;
    plan.transform_up(|node| match &node {
        LogicalPlan::Filter(f) => {
            let subqueries = collect_uncorrelated(std::slice::from_ref(&f.predicate));
            if subqueries.is_empty() {
                return Ok(Transformed::no(node));
            }
            let original: Vec<Expr> = f.input.schema().columns().into_iter().map(Expr::Column).collect();
            let (joined, replacements) = join_subqueries(f.input.as_ref().clone(), &subqueries, &mut counter)?;
            let predicate = replace(f.predicate.clone(), &replacements)?;
            let filtered = LogicalPlanBuilder::from(joined).filter(predicate)?.build()?;
            let projected = LogicalPlan::Projection(Projection::try_new(original, Arc::new(filtered))?);
            Ok(Transformed::yes(projected))
        }
        LogicalPlan::Projection(p) => {
            let subqueries = collect_uncorrelated(&p.expr);
            if subqueries.is_empty() {
                return Ok(Transformed::no(node));
            }
            let (joined, replacements) = join_subqueries(p.input.as_ref().clone(), &subqueries, &mut counter)?;
            let mut exprs = Vec::new();
            for (e, field) in p.expr.iter().zip(p.schema.fields()) {
                let replaced = replace(e.clone(), &replacements)?;
                exprs.push(replaced.alias_if_changed(field.name().clone())?);
            }
            Ok(Transformed::yes(LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(joined))?)))
        }
        _ => Ok(Transformed::no(node)),
    })
    .map(|t| t.data)
}
