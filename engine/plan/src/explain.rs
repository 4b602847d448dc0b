//! The EXPLAIN printer: an indented operator tree with the output columns of each node.

use std::collections::HashSet;
use std::fmt::Write;

use crate::{JoinKind, Node, Plan};

pub(crate) fn explain(plan: &Plan) -> String {
    let mut out = String::new();
    write_node(plan, 0, &mut out, &mut HashSet::new());
    out
}

fn columns(plan: &Plan) -> String {
    plan.schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
}

fn list<T: std::fmt::Debug>(items: &[T]) -> String {
    items.iter().map(|i| format!("{i:?}")).collect::<Vec<_>>().join(", ")
}

/// `seen`: fingerprints of the shareable subplans printed so far; a repeated one is rendered
/// once by the dataflow, so it is printed once and marked where it repeats.
fn write_node(plan: &Plan, depth: usize, out: &mut String, seen: &mut HashSet<String>) {
    let pad = "  ".repeat(depth);
    let line = match &plan.node {
        Node::Get { name } => format!("Get {name}"),
        Node::Constant { rows } => format!("Constant {} row(s)", rows.len()),
        Node::Map { exprs, .. } => format!("Map {}", list(exprs)),
        Node::Filter { predicate, .. } => format!("Filter {predicate:?}"),
        Node::Join { kind, left_keys, right_keys, residual, nulls_equal, interval, .. } => {
            let kind = match kind {
                JoinKind::Inner => "Inner".to_string(),
                JoinKind::LeftOuter => "LeftOuter".into(),
                JoinKind::RightOuter => "RightOuter".into(),
                JoinKind::FullOuter => "FullOuter".into(),
                JoinKind::LeftSemi => "LeftSemi".into(),
                JoinKind::LeftAnti { null_aware: true } => "LeftAnti (null-aware, NOT IN)".into(),
                JoinKind::LeftAnti { null_aware: false } => "LeftAnti".into(),
            };
            let on = if left_keys.is_empty() {
                "cross".to_string()
            } else {
                left_keys.iter().zip(right_keys).map(|(l, r)| format!("{l:?} = {r:?}")).collect::<Vec<_>>().join(" AND ")
            };
            let residual = residual.as_ref().map(|r| format!(" residual {r:?}")).unwrap_or_default();
            let nulls = if *nulls_equal { " (NULLs equal)" } else { "" };
            let interval = interval
                .as_ref()
                .map(|i| {
                    let bounds: Vec<String> = i
                        .bounds
                        .iter()
                        .map(|b| format!("right #{} - left #{} {} {} ns", b.right, b.left, if b.upper { "<=" } else { ">=" }, b.ns))
                        .collect();
                    format!(" interval {}", bounds.join(", "))
                })
                .unwrap_or_default();
            format!("Join {kind} on {on}{residual}{nulls}{interval}")
        }
        Node::Reduce { group_keys, aggregates, on_window_close, .. } => {
            let emit = if *on_window_close { " emit on window close" } else { "" };
            format!("Reduce keys [{}] aggregates [{}]{emit}", list(group_keys), list(aggregates))
        }
        Node::Distinct { .. } => "Distinct".into(),
        Node::Union { inputs } => format!("Union all of {}", inputs.len()),
        Node::Temporal { until, .. } => format!("Temporal (retracted at {until:?})"),
        Node::TopK { partition, order, offset, limit, numbering, .. } => {
            let order = order
                .iter()
                .map(|k| format!("#{}{}", k.column, if k.descending { " desc" } else { "" }))
                .collect::<Vec<_>>()
                .join(", ");
            let limit = limit.map(|l| l.to_string()).unwrap_or_else(|| "all".into());
            let numbering = numbering.map(|n| format!(" + {n:?}")).unwrap_or_default();
            format!("TopK partition {partition:?} order [{order}] offset {offset} limit {limit}{numbering}")
        }
        Node::Session { partition, time, gap_ms, .. } => format!("Session partition {partition:?} time #{time} gap {gap_ms} ms"),
        Node::OrderedWindow { partition, order, functions, .. } => {
            let order = order
                .iter()
                .map(|k| format!("#{}{}", k.column, if k.descending { " desc" } else { "" }))
                .collect::<Vec<_>>()
                .join(", ");
            let functions = functions.iter().map(|f| f.text.as_str()).collect::<Vec<_>>().join(", ");
            format!("OrderedWindow partition {partition:?} order [{order}] functions [{functions}]")
        }
    };
    if crate::fingerprint::is_shareable(&plan.node) && !seen.insert(crate::fingerprint::fingerprint(plan)) {
        let _ = writeln!(out, "{pad}{line}  -> ({})  [same as above: rendered once, shared]", columns(plan));
        return;
    }
    let _ = writeln!(out, "{pad}{line}  -> ({})", columns(plan));
    for input in plan.inputs() {
        write_node(input, depth + 1, out, seen);
    }
}
