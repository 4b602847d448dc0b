//! Pushing what the engine knows about a source's reader into the connector: the columns it
//! uses ([`Source::narrow`]) and the simple conjuncts of a filter directly over it
//! ([`Source::prune`]).
//!
//! Both are derived from the chain that runs inside the source operator (`fuse.rs`, and the
//! one-`Map` chains of `source_projection.rs`), the only place where every reader of the
//! source's rows is known:
//! - **Columns.** Before its first `Map`, a chain only reads source columns in its filters and in
//!   that `Map`; nothing after it sees the source's row. A chain without a `Map` passes whole
//!   rows on, so nothing is narrowed. The event-time column and the columns of the watermark
//!   expression are always read (the source operator stamps rows with them), and a source whose
//!   `<source>_late` relation is read by anything is not narrowed (late rows are whole rows).
//! - **Predicates.** The conjuncts `column <op> literal` (`=`, `<`, `<=`, `>`, `>=`, either
//!   side) and `column IS NOT NULL` of the chain's filters, on columns that are source columns
//!   (directly, or through maps' plain column references: a scan's projection is a `Map` below
//!   the `WHERE`), when the literal has exactly the column's type; `BETWEEN` arrives as its two
//!   comparisons. Only with a single
//!   chain (a UNION ALL of chains reads a row that any one branch accepts). The filter still
//!   runs: pruning only skips data that no row of could pass it.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion_expr::Operator;
use datafusion_physical_expr::PhysicalExpr;
use datafusion_physical_expr::expressions::{BinaryExpr, Column, IsNotNullExpr, Literal};
use illunare_connector::{ColumnPredicate, CompareOp, Source};
use illunare_plan::{Node, Plan};
use illunare_types::{Datum, array_to_datums};

use crate::mfp::Step;
use crate::source::Fused;
use crate::source_clock::EventTime;

fn columns_of(expr: &Arc<dyn PhysicalExpr>, out: &mut BTreeSet<usize>) {
    let _ = datafusion_common::tree_node::TreeNode::apply(expr, |e| {
        if let Some(c) = e.downcast_ref::<Column>() {
            out.insert(c.index());
        }
        Ok(datafusion_common::tree_node::TreeNodeRecursion::Continue)
    });
}

/// The source columns the chain (and its union branches) reads, `None` when it passes whole
/// rows on.
pub fn columns_read(chain: &Fused, event_time: Option<&EventTime>) -> Option<BTreeSet<usize>> {
    let mut columns = BTreeSet::new();
    for steps in std::iter::once(&chain.steps).chain(&chain.union) {
        let mut mapped = false;
        for step in steps {
            match step {
                Step::Filter { predicate, .. } => columns_of(&predicate.physical, &mut columns),
                Step::Map { exprs, .. } => {
                    exprs.iter().for_each(|e| columns_of(&e.physical, &mut columns));
                    mapped = true;
                    break;
                }
            }
        }
        if !mapped {
            return None;
        }
    }
    if let Some(et) = event_time {
        columns.insert(et.column);
        columns_of(&et.watermark.physical, &mut columns);
    }
    Some(columns)
}

/// The source's string columns that the fused GROUP BY reads only as whole keys (see
/// [`Source::with_dictionary_columns`]): each is a group key through plain column references
/// in every branch, and no filter, computed column, aggregate argument or event-time
/// expression reads it. Empty without a fused GROUP BY (rows leaving the source are decoded).
pub fn dictionary_columns(chain: &Fused, source: &arrow::datatypes::Schema, event_time: Option<&EventTime>) -> Vec<usize> {
    let Some(preagg) = &chain.preagg else {
        return Vec::new();
    };
    let mut other_uses = BTreeSet::new();
    let mut keys = BTreeSet::new();
    if let Some(et) = event_time {
        other_uses.insert(et.column);
        columns_of(&et.watermark.physical, &mut other_uses);
    }
    // Records the source columns `expr` reads (positions of a step's input, given `origin`).
    let read_by = |expr: &Arc<dyn PhysicalExpr>, origin: &[Option<usize>], out: &mut BTreeSet<usize>| {
        let mut read = BTreeSet::new();
        columns_of(expr, &mut read);
        out.extend(read.into_iter().filter_map(|c| origin.get(c).copied().flatten()));
    };
    for steps in std::iter::once(&chain.steps).chain(&chain.union) {
        let mut origin: Vec<Option<usize>> = (0..source.fields().len()).map(Some).collect();
        for step in steps {
            match step {
                Step::Filter { predicate, .. } => read_by(&predicate.physical, &origin, &mut other_uses),
                Step::Map { exprs, .. } => {
                    let mut next = Vec::with_capacity(exprs.len());
                    for e in exprs {
                        match e.physical.downcast_ref::<Column>() {
                            Some(c) => next.push(origin.get(c.index()).copied().flatten()),
                            None => {
                                read_by(&e.physical, &origin, &mut other_uses);
                                next.push(None);
                            }
                        }
                    }
                    origin = next;
                }
            }
        }
        for key in &preagg.group_keys {
            match key.physical.downcast_ref::<Column>() {
                Some(c) => keys.extend(origin.get(c.index()).copied().flatten()),
                None => read_by(&key.physical, &origin, &mut other_uses),
            }
        }
        for agg in &preagg.aggregates {
            for arg in agg.function.expressions() {
                read_by(&arg, &origin, &mut other_uses);
            }
        }
    }
    keys.difference(&other_uses).copied().collect()
}

/// A literal's value as a datum, when its type is `data_type`.
fn literal(expr: &Arc<dyn PhysicalExpr>, data_type: &arrow::datatypes::DataType) -> Option<Datum> {
    let value = expr.downcast_ref::<Literal>()?.value();
    if &value.data_type() != data_type || value.is_null() {
        return None;
    }
    let array = value.to_array().ok()?;
    array_to_datums(array.as_ref()).ok()?.into_iter().next()
}

fn conjuncts(expr: &Arc<dyn PhysicalExpr>, schema: &arrow::datatypes::Schema, out: &mut Vec<ColumnPredicate>) {
    if let Some(not_null) = expr.downcast_ref::<IsNotNullExpr>() {
        if let Some(c) = not_null.arg().downcast_ref::<Column>() {
            out.push(ColumnPredicate::IsNotNull { column: c.index() });
        }
        return;
    }
    let Some(binary) = expr.downcast_ref::<BinaryExpr>() else {
        return;
    };
    let op = match binary.op() {
        Operator::And => {
            conjuncts(binary.left(), schema, out);
            conjuncts(binary.right(), schema, out);
            return;
        }
        Operator::Eq => CompareOp::Eq,
        Operator::Lt => CompareOp::Lt,
        Operator::LtEq => CompareOp::LtEq,
        Operator::Gt => CompareOp::Gt,
        Operator::GtEq => CompareOp::GtEq,
        _ => return,
    };
    let column_type = |e: &Arc<dyn PhysicalExpr>| {
        let c = e.downcast_ref::<Column>()?;
        Some((c.index(), schema.fields().get(c.index())?.data_type().clone()))
    };
    if let Some((column, data_type)) = column_type(binary.left())
        && let Some(value) = literal(binary.right(), &data_type)
    {
        out.push(ColumnPredicate::Compare { column, op, value });
    } else if let Some((column, data_type)) = column_type(binary.right())
        && let Some(value) = literal(binary.left(), &data_type)
    {
        out.push(ColumnPredicate::Compare { column, op: op.flip(), value });
    }
}

/// `predicate` about column `column` instead.
fn on_column(predicate: ColumnPredicate, column: usize) -> ColumnPredicate {
    match predicate {
        ColumnPredicate::Compare { op, value, .. } => ColumnPredicate::Compare { column, op, value },
        ColumnPredicate::Between { low, high, .. } => ColumnPredicate::Between { column, low, high },
        ColumnPredicate::IsNotNull { .. } => ColumnPredicate::IsNotNull { column },
    }
}

/// The prunable conjuncts of the chain's filters, on source columns (see the module doc).
/// Filters above maps count too, through the maps' plain column references (a scan's
/// projection is lowered to a `Map` below the `WHERE`).
pub fn predicates(chain: &Fused) -> Vec<ColumnPredicate> {
    let mut out = Vec::new();
    if !chain.union.is_empty() {
        return out;
    }
    // The source column behind each column of the current step's input (`None`: identity).
    let mut origin: Option<Vec<Option<usize>>> = None;
    let source_column = |origin: &Option<Vec<Option<usize>>>, c: usize| match origin {
        None => Some(c),
        Some(o) => o.get(c).copied().flatten(),
    };
    for step in &chain.steps {
        match step {
            Step::Filter { predicate, input } => {
                let mut found = Vec::new();
                conjuncts(&predicate.physical, input, &mut found);
                out.extend(found.into_iter().filter_map(|p| source_column(&origin, p.column()).map(|c| on_column(p, c))));
            }
            Step::Map { exprs, .. } => {
                let next = exprs.iter().map(|e| e.physical.downcast_ref::<Column>().and_then(|c| source_column(&origin, c.index()))).collect();
                origin = Some(next);
            }
        }
    }
    out
}

/// Whether any plan reads relation `name`.
pub fn is_read(views: &[(String, Plan)], name: &str) -> bool {
    fn reads(plan: &Plan, name: &str) -> bool {
        matches!(&plan.node, Node::Get { name: n } if n == name) || plan.inputs().iter().any(|i| reads(i, name))
    }
    views.iter().any(|(_, p)| reads(p, name))
}

/// `source`, pruned and narrowed as far as `chain` (what runs inside its operator) allows.
/// `whole_rows`: something needs the source's complete rows besides the chain (its late rows).
pub fn push_down(source: &Arc<dyn Source>, chain: Option<&Fused>, event_time: Option<&EventTime>, whole_rows: bool) -> Arc<dyn Source> {
    let Some(chain) = chain else {
        return source.clone();
    };
    let mut current = source.clone();
    let predicates = predicates(chain);
    if !predicates.is_empty()
        && let Some(pruned) = current.prune(&predicates)
    {
        tracing::debug!("source pruned by {predicates:?}");
        current = pruned;
    }
    if !whole_rows {
        let columns = dictionary_columns(chain, &source.schema(), event_time);
        if !columns.is_empty()
            && let Some(encoded) = current.with_dictionary_columns(&columns)
        {
            tracing::debug!("source delivers columns {columns:?} dictionary-encoded");
            current = encoded;
        }
    }
    if !whole_rows
        && let Some(columns) = columns_read(chain, event_time)
        && columns.len() < source.schema().fields().len()
    {
        let columns: Vec<usize> = columns.into_iter().collect();
        if let Some(narrowed) = current.narrow(&columns) {
            tracing::debug!("source narrowed to columns {columns:?}");
            current = narrowed;
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
    use datafusion_common::ScalarValue;
    use datafusion_physical_expr::expressions::{BinaryExpr, IsNotNullExpr, Literal};
    use illunare_plan::Expr;

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true), Field::new("b", DataType::Utf8, true), Field::new("c", DataType::Int64, true)]))
    }

    fn col(name: &str, i: usize) -> Arc<dyn PhysicalExpr> {
        Arc::new(Column::new(name, i))
    }

    fn bin(l: Arc<dyn PhysicalExpr>, op: Operator, r: Arc<dyn PhysicalExpr>) -> Arc<dyn PhysicalExpr> {
        Arc::new(BinaryExpr::new(l, op, r))
    }

    fn chain(steps: Vec<Step>) -> Fused {
        Fused { steps, union: vec![], relation: "v".into(), preagg: None, event_column: None }
    }

    #[test]
    fn filters_before_the_first_map_become_predicates_and_columns() {
        let five: Arc<dyn PhysicalExpr> = Arc::new(Literal::new(ScalarValue::Int64(Some(5))));
        let int32: Arc<dyn PhysicalExpr> = Arc::new(Literal::new(ScalarValue::Int32(Some(5))));
        let predicate = bin(
            bin(bin(col("a", 0), Operator::GtEq, five.clone()), Operator::And, bin(five.clone(), Operator::Lt, col("c", 2))),
            Operator::And,
            bin(Arc::new(IsNotNullExpr::new(col("b", 1))), Operator::And, bin(col("a", 0), Operator::Eq, int32)),
        );
        let filter = Step::Filter { predicate: Expr::new(predicate, "p"), input: schema() };
        let out = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)]));
        let later = Step::Filter { predicate: Expr::new(bin(col("a", 0), Operator::Eq, five), "later"), input: out.clone() };
        let map = Step::Map { exprs: vec![Expr::new(col("c", 2), "c")], input: schema(), output: out.clone() };
        let fused = chain(vec![filter, map, later]);
        assert_eq!(
            predicates(&fused),
            vec![
                ColumnPredicate::Compare { column: 0, op: CompareOp::GtEq, value: Datum::Int(5) },
                ColumnPredicate::Compare { column: 2, op: CompareOp::Gt, value: Datum::Int(5) },
                ColumnPredicate::IsNotNull { column: 1 },
                ColumnPredicate::Compare { column: 2, op: CompareOp::Eq, value: Datum::Int(5) },
            ],
            "a literal of another type than its column is left to the filter; filters above a map go through its columns"
        );
        assert_eq!(columns_read(&fused, None), Some(BTreeSet::from([0, 1, 2])));
        let only_map = chain(vec![Step::Map { exprs: vec![Expr::new(col("c", 2), "c")], input: schema(), output: schema() }]);
        assert_eq!(columns_read(&only_map, None), Some(BTreeSet::from([2])));
        let only_filter = chain(vec![Step::Filter { predicate: Expr::new(Arc::new(IsNotNullExpr::new(col("b", 1))), "p"), input: schema() }]);
        assert_eq!(columns_read(&only_filter, None), None, "whole rows leave the chain");
    }
}
