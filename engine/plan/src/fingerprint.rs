//! Structural fingerprints of plans, to render a repeated subplan once.
//!
//! SQL repeats itself: Nexmark q5 computes the same hopping-window count twice (once to keep
//! every auction's count, once to take the maximum per window), and DataFusion plans both
//! copies. Rendering both doubles the work and the state. Two subplans with the same
//! fingerprint compute the same rows, so the dataflow renders the first and reuses its
//! collection for the second (`engine/dataflow/src/render.rs`).
//!
//! The fingerprint says what is computed, not how it is named: column references are by
//! position (DataFusion's optimizer gives the two copies different aliases, `__common_expr_1`
//! and `__common_expr_6`), and output names are left out; output *types* are included. Every
//! field of every node takes part, so different computations never share a fingerprint: when in
//! doubt, a detail is included (a missed reuse costs speed, a false one would cost
//! correctness). Expressions are rendered by DataFusion's `Display` after renaming every column
//! to its position.

use std::fmt::Write;
use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_physical_expr::PhysicalExpr;
use datafusion_physical_expr::expressions::Column;

use crate::{Aggregate, Expr, Node, Plan, WindowCall, WindowFunc};

/// Whether a node is worth sharing: it holds state or does real work. Maps and filters are
/// cheap, and fingerprinting every one would cost more than sharing saves.
pub fn is_shareable(node: &Node) -> bool {
    matches!(
        node,
        Node::Reduce { .. } | Node::Join { .. } | Node::TopK { .. } | Node::Distinct { .. } | Node::Session { .. } | Node::OrderedWindow { .. }
    )
}

/// The fingerprint of `plan` (see the module doc).
pub fn fingerprint(plan: &Plan) -> String {
    let mut out = String::new();
    write_plan(plan, &mut out);
    out
}

fn write_plan(plan: &Plan, out: &mut String) {
    let types: Vec<String> = plan.schema.fields().iter().map(|f| format!("{}{}", f.data_type(), if f.is_nullable() { "?" } else { "" })).collect();
    let _ = write!(out, "[{}]", types.join(","));
    match &plan.node {
        Node::Get { name } => {
            let _ = write!(out, "Get({name:?})");
        }
        Node::Constant { rows } => {
            let _ = write!(out, "Constant({rows:?})");
        }
        Node::Map { input, exprs } => {
            let _ = write!(out, "Map({};", exprs_text(exprs));
            write_plan(input, out);
            out.push(')');
        }
        Node::Filter { input, predicate } => {
            let _ = write!(out, "Filter({};", expr_text(predicate));
            write_plan(input, out);
            out.push(')');
        }
        Node::Join { left, right, kind, left_keys, right_keys, residual, nulls_equal, interval } => {
            let residual = residual.as_ref().map(expr_text).unwrap_or_default();
            let _ = write!(out, "Join({kind:?};{};{};{residual};{nulls_equal};{interval:?};", exprs_text(left_keys), exprs_text(right_keys));
            write_plan(left, out);
            out.push(';');
            write_plan(right, out);
            out.push(')');
        }
        Node::Reduce { input, group_keys, aggregates, on_window_close } => {
            let aggregates: Vec<String> = aggregates.iter().map(aggregate_text).collect();
            let _ = write!(out, "Reduce({};{};{on_window_close};", exprs_text(group_keys), aggregates.join(","));
            write_plan(input, out);
            out.push(')');
        }
        Node::Distinct { input } => {
            out.push_str("Distinct(");
            write_plan(input, out);
            out.push(')');
        }
        Node::Union { inputs } => {
            out.push_str("Union(");
            for input in inputs {
                write_plan(input, out);
                out.push(';');
            }
            out.push(')');
        }
        Node::Temporal { input, until } => {
            let _ = write!(out, "Temporal({};", expr_text(until));
            write_plan(input, out);
            out.push(')');
        }
        Node::TopK { input, partition, order, offset, limit, numbering } => {
            let _ = write!(out, "TopK({partition:?};{order:?};{offset};{limit:?};{numbering:?};");
            write_plan(input, out);
            out.push(')');
        }
        Node::Session { input, partition, time, gap_ms } => {
            let _ = write!(out, "Session({partition:?};{time};{gap_ms};");
            write_plan(input, out);
            out.push(')');
        }
        Node::OrderedWindow { input, partition, order, functions } => {
            let functions: Vec<String> = functions.iter().map(window_call_text).collect();
            let _ = write!(out, "OrderedWindow({partition:?};{order:?};{};", functions.join(","));
            write_plan(input, out);
            out.push(')');
        }
    }
}

/// A physical expression with every column renamed to its position.
fn physical_text(expr: &Arc<dyn PhysicalExpr>) -> String {
    let positional = Arc::clone(expr).transform(|e| {
        Ok(match e.downcast_ref::<Column>() {
            Some(c) => Transformed::yes(Arc::new(Column::new("", c.index())) as Arc<dyn PhysicalExpr>),
            None => Transformed::no(e),
        })
    });
    match positional {
        Ok(t) => format!("{}", t.data),
        // Cannot happen (the closure never fails); keep the names rather than guess.
        Err(_) => format!("{expr}"),
    }
}

fn expr_text(e: &Expr) -> String {
    physical_text(&e.physical)
}

fn exprs_text(exprs: &[Expr]) -> String {
    exprs.iter().map(expr_text).collect::<Vec<_>>().join(",")
}

fn aggregate_text(a: &Aggregate) -> String {
    let f = &a.function;
    let args: Vec<String> = f.expressions().iter().map(physical_text).collect();
    let order: Vec<String> =
        f.order_bys().iter().map(|s| format!("{} {:?}", physical_text(&s.expr), s.options)).collect();
    let filter = a.filter.as_ref().map(expr_text).unwrap_or_default();
    format!(
        "{}({};distinct={};ignore_nulls={};reversed={};order=[{}];filter={filter};type={})",
        f.fun().name(),
        args.join(","),
        f.is_distinct(),
        f.ignore_nulls(),
        f.is_reversed(),
        order.join(","),
        f.field().data_type()
    )
}

fn window_call_text(call: &WindowCall) -> String {
    match &call.func {
        WindowFunc::Shift { arg, offset, default } => format!("shift({};{offset};{default:?})", expr_text(arg)),
        WindowFunc::FrameValue { arg, last, frame } => format!("frame_value({};{last};{frame:?})", expr_text(arg)),
        WindowFunc::Aggregate { aggregate, frame } => format!("aggregate({};{frame:?})", aggregate_text(aggregate)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
    use datafusion_expr::Operator;
    use datafusion_physical_expr::expressions::{BinaryExpr, Column, lit};

    use super::*;

    fn schema(names: &[&str]) -> SchemaRef {
        Arc::new(Schema::new(names.iter().map(|n| Field::new(*n, DataType::Int64, true)).collect::<Vec<_>>()))
    }

    fn column(name: &str, index: usize) -> Expr {
        Expr::new(Arc::new(Column::new(name, index)), name)
    }

    fn plus_one(name: &str, index: usize) -> Expr {
        let e = BinaryExpr::new(Arc::new(Column::new(name, index)), Operator::Plus, lit(1i64));
        Expr::new(Arc::new(e), format!("{name} + 1"))
    }

    fn map(exprs: Vec<Expr>, out: &[&str]) -> Plan {
        let get = Plan::new(Node::Get { name: "bid".into() }, schema(&["auction", "price"]));
        Plan::new(Node::Map { input: Box::new(get), exprs }, schema(out))
    }

    #[test]
    fn names_do_not_matter_positions_do() {
        let a = map(vec![plus_one("__common_expr_1", 1), column("auction", 0)], &["x", "auction"]);
        let b = map(vec![plus_one("__common_expr_6", 1), column("a", 0)], &["y", "a"]);
        assert_eq!(fingerprint(&a), fingerprint(&b));
        let other_column = map(vec![plus_one("__common_expr_1", 0), column("auction", 0)], &["x", "auction"]);
        assert_ne!(fingerprint(&a), fingerprint(&other_column));
        let other_order = map(vec![column("auction", 0), plus_one("__common_expr_1", 1)], &["auction", "x"]);
        assert_ne!(fingerprint(&a), fingerprint(&other_order));
    }

    #[test]
    fn relations_node_fields_and_types_matter() {
        let get = |name: &str| Plan::new(Node::Get { name: name.into() }, schema(&["a"]));
        assert_ne!(fingerprint(&get("bid")), fingerprint(&get("auction")));
        let typed = Plan::new(Node::Get { name: "bid".into() }, Arc::new(Schema::new(vec![Field::new("a", DataType::Utf8, true)])));
        assert_ne!(fingerprint(&get("bid")), fingerprint(&typed));
        let topk = |limit| {
            let node = Node::TopK { input: Box::new(get("bid")), partition: vec![0], order: vec![], offset: 0, limit, numbering: None };
            Plan::new(node, schema(&["a"]))
        };
        assert_eq!(fingerprint(&topk(Some(3))), fingerprint(&topk(Some(3))));
        assert_ne!(fingerprint(&topk(Some(3))), fingerprint(&topk(Some(4))));
        let filter = |v: i64| {
            let p = BinaryExpr::new(Arc::new(Column::new("a", 0)), Operator::Gt, lit(v));
            Plan::new(Node::Filter { input: Box::new(get("bid")), predicate: Expr::new(Arc::new(p), "a > v") }, schema(&["a"]))
        };
        assert_ne!(fingerprint(&filter(1)), fingerprint(&filter(2)));
    }
}
