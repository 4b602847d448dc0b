//! Fusing a source with the map/filter chain that reads it.
//!
//! When a source has exactly one consumer and that consumer is a chain of `Map`/`Filter` over
//! it, the chain runs inside the source operator on the connector's Arrow batches: filtered-out
//! rows and projected-away columns are never turned into rows. The view's plan then reads the
//! fused output under a synthetic name.
//!
//! When that consumer is a GROUP BY whose aggregates can be split (`preagg.rs`), the GROUP BY
//! is fused too: the source pre-aggregates its batches and the view reads the merged result.
//!
//! A GROUP BY over a UNION ALL of chains that all read one source is fused the same way: that
//! is how HOP windows are planned (one branch per window offset, `sql/src/windows.rs`), so each
//! bid would otherwise become one row per window it falls in before being counted. Fused, the
//! source runs every branch on the Arrow batch and pre-aggregates their rows per tick, and
//! only partial aggregates (one per group and tick) leave it. The same GROUP BY may occur more
//! than once (Nexmark q5 plans it twice, see `illunare_plan::fingerprint`): every copy reads
//! the fused result.

use std::collections::HashMap;

use illunare_plan::{Node, Plan};

use crate::mfp::{Step, chain_steps};
use crate::preagg::PreAggregate;
use crate::source::Fused;

/// The name the fused (map/filter) output of `source` is registered under: append-only rows.
pub fn fused_name(source: &str) -> String {
    format!("__fused_{source}")
}

/// The name the fused GROUP BY over `source` is registered under: the view's aggregated rows.
pub fn fused_aggregate_name(source: &str) -> String {
    format!("__fusedagg_{source}")
}

/// Whether `name` is one of the synthetic names above.
pub fn is_fused(name: &str) -> bool {
    name.starts_with("__fused_") || name.starts_with("__fusedagg_")
}

fn count_gets(plan: &Plan, counts: &mut HashMap<String, usize>) {
    if let Node::Get { name } = &plan.node {
        *counts.entry(name.clone()).or_default() += 1;
    }
    for input in plan.inputs() {
        count_gets(input, counts);
    }
}

/// The source and chain (possibly empty) if `plan` is a Map/Filter chain over `Get{source}`.
fn chain_over(plan: &Plan) -> Option<(String, Vec<Step>)> {
    match chain_steps(plan) {
        (steps, Plan { node: Node::Get { name }, .. }) => Some((name.clone(), steps)),
        _ => None,
    }
}

/// What `plan` fuses into a candidate source: a GROUP BY over a chain over it (split in two
/// phases), or a non-empty chain over it.
fn fusable(plan: &Plan, candidates: &[String]) -> Option<(String, Vec<Step>, Option<PreAggregate>)> {
    if let Node::Reduce { input, group_keys, aggregates, on_window_close } = &plan.node
        && let Some((source, steps)) = chain_over(input)
        && candidates.contains(&source)
        && let Some(split) = PreAggregate::plan(group_keys, aggregates, &input.schema)
    {
        return Some((source, steps, Some(PreAggregate { on_window_close: *on_window_close, ..split })));
    }
    match chain_over(plan) {
        Some((source, steps)) if !steps.is_empty() && candidates.contains(&source) => Some((source, steps, None)),
        _ => None,
    }
}

fn detach(plan: &mut Plan, candidates: &[String], relation: &str, out: &mut HashMap<String, Fused>) {
    if let Some((source, steps, preagg)) = fusable(plan, candidates)
        && !out.contains_key(&source)
    {
        let name = if preagg.is_some() { fused_aggregate_name(&source) } else { fused_name(&source) };
        let event_column = crate::render::event_time_column(plan);
        plan.node = Node::Get { name };
        out.insert(source, Fused { steps, union: Vec::new(), relation: relation.to_string(), preagg: preagg.map(std::sync::Arc::new), event_column });
        return;
    }
    for input in plan.inputs_mut() {
        detach(input, candidates, relation, out);
    }
}

/// A GROUP BY over a UNION ALL of chains that all read one source, with aggregates that can be
/// split: (source, the branches' chains, the split).
fn union_reduce(plan: &Plan) -> Option<(String, Vec<Vec<Step>>, PreAggregate)> {
    let Node::Reduce { input, group_keys, aggregates, on_window_close } = &plan.node else { return None };
    let Node::Union { inputs } = &input.node else { return None };
    let chains = inputs.iter().map(chain_over).collect::<Option<Vec<_>>>()?;
    let source = chains.first()?.0.clone();
    if chains.iter().any(|(s, _)| *s != source) {
        return None;
    }
    let split = PreAggregate { on_window_close: *on_window_close, ..PreAggregate::plan(group_keys, aggregates, &input.schema)? };
    Some((source, chains.into_iter().map(|(_, steps)| steps).collect(), split))
}

/// The union GROUP BYs of a plan, outermost only: (source, fingerprint, reads of the source
/// inside, the node).
fn find_union_reduces(plan: &Plan, found: &mut Vec<(String, String, usize, Plan)>) {
    if let Some((source, chains, _)) = union_reduce(plan) {
        found.push((source, illunare_plan::fingerprint::fingerprint(plan), chains.len(), plan.clone()));
        return;
    }
    for input in plan.inputs() {
        find_union_reduces(input, found);
    }
}

/// Replaces every subplan whose fingerprint is `fingerprint` by a read of `name`; whether any was.
fn replace_by_fingerprint(plan: &mut Plan, fingerprint: &str, name: &str) -> bool {
    if matches!(plan.node, Node::Reduce { .. }) && illunare_plan::fingerprint::fingerprint(plan) == fingerprint {
        plan.node = Node::Get { name: name.to_string() };
        return true;
    }
    let mut replaced = false;
    for input in plan.inputs_mut() {
        replaced |= replace_by_fingerprint(input, fingerprint, name);
    }
    replaced
}

/// Fuses the union GROUP BYs (see the module doc) of sources read by nothing else.
fn fuse_union_reduces(views: &mut [(String, Plan)], sources: &[String], counts: &HashMap<String, usize>, out: &mut HashMap<String, Fused>) {
    let mut found = Vec::new();
    for (_, plan) in views.iter() {
        find_union_reduces(plan, &mut found);
    }
    for source in sources {
        let mine: Vec<_> = found.iter().filter(|(s, ..)| s == source).collect();
        let Some((_, fingerprint, _, node)) = mine.first().copied() else { continue };
        // Every read of the source must be inside copies of the same GROUP BY.
        let inside: usize = mine.iter().map(|(_, _, n, _)| n).sum();
        if mine.iter().any(|(_, f, ..)| f != fingerprint) || Some(&inside) != counts.get(source) {
            continue;
        }
        let Some((_, mut chains, split)) = union_reduce(node) else { continue };
        let first = chains.remove(0);
        let name = fused_aggregate_name(source);
        let mut relation = None;
        for (view, plan) in views.iter_mut() {
            if replace_by_fingerprint(plan, fingerprint, &name) && relation.is_none() {
                relation = Some(view.clone());
            }
        }
        let relation = relation.unwrap_or_else(|| source.clone());
        out.insert(source.clone(), Fused { steps: first, union: chains, relation, preagg: Some(std::sync::Arc::new(split)), event_column: None });
    }
}

/// Rewrites `views` so each source read by exactly one map/filter chain (and by nothing else:
/// `other_uses` lists sink inputs and captured relations) reads its fused output instead.
/// Returns, per fused source, what runs inside it and the view its errors belong to.
pub fn fuse_sources(views: &mut [(String, Plan)], sources: &[String], other_uses: &[String]) -> HashMap<String, Fused> {
    let count = |views: &[(String, Plan)]| {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for (_, plan) in views.iter() {
            count_gets(plan, &mut counts);
        }
        for name in other_uses {
            *counts.entry(name.clone()).or_default() += 1;
        }
        counts
    };
    let mut fused = HashMap::new();
    fuse_union_reduces(views, sources, &count(views), &mut fused);
    let counts = count(views);
    let candidates: Vec<String> = sources.iter().filter(|s| counts.get(*s) == Some(&1) && !fused.contains_key(*s)).cloned().collect();
    for (view, plan) in views.iter_mut() {
        detach(plan, &candidates, view, &mut fused);
    }
    fused
}
