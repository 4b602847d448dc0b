//! Fusing a source with the map/filter chain that reads it.
//!
//! When a source has exactly one consumer and that consumer is a chain of `Map`/`Filter` over
//! it, the chain runs inside the source operator on the connector's Arrow batches: filtered-out
//! rows and projected-away columns are never turned into rows. The view's plan then reads the
//! fused output under a synthetic name.

use std::collections::HashMap;

use illunare_plan::{Node, Plan};

use crate::mfp::{Step, chain_steps};

/// The name the fused output of `source` is registered under.
pub fn fused_name(source: &str) -> String {
    format!("__fused_{source}")
}

fn count_gets(plan: &Plan, counts: &mut HashMap<String, usize>) {
    if let Node::Get { name } = &plan.node {
        *counts.entry(name.clone()).or_default() += 1;
    }
    for input in plan.inputs() {
        count_gets(input, counts);
    }
}

/// The chain's steps if `plan` is a Map/Filter chain directly over `Get{source}`.
fn chain_over(plan: &Plan) -> Option<(String, Vec<Step>)> {
    match chain_steps(plan) {
        (steps, Plan { node: Node::Get { name }, .. }) if !steps.is_empty() => Some((name.clone(), steps)),
        _ => None,
    }
}

fn detach(plan: &mut Plan, candidates: &[String], out: &mut HashMap<String, Vec<Step>>) {
    if let Some((source, steps)) = chain_over(plan)
        && candidates.contains(&source)
        && !out.contains_key(&source)
    {
        plan.node = Node::Get { name: fused_name(&source) };
        out.insert(source, steps);
        return;
    }
    match &mut plan.node {
        Node::Get { .. } | Node::Constant { .. } => {}
        Node::Map { input, .. } | Node::Filter { input, .. } | Node::Reduce { input, .. } | Node::Distinct { input } | Node::TopK { input, .. } => {
            detach(input, candidates, out)
        }
        Node::Join { left, right, .. } => {
            detach(left, candidates, out);
            detach(right, candidates, out);
        }
        Node::Union { inputs } => inputs.iter_mut().for_each(|i| detach(i, candidates, out)),
    }
}

/// Rewrites `views` so each source read by exactly one map/filter chain (and by nothing else:
/// `other_uses` lists sink inputs and captured relations) reads its fused output instead.
/// Returns, per fused source, the chain and the view its errors belong to.
pub fn fuse_sources(views: &mut [(String, Plan)], sources: &[String], other_uses: &[String]) -> HashMap<String, (Vec<Step>, String)> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (_, plan) in views.iter() {
        count_gets(plan, &mut counts);
    }
    for name in other_uses {
        *counts.entry(name.clone()).or_default() += 1;
    }
    let candidates: Vec<String> = sources.iter().filter(|s| counts.get(*s) == Some(&1)).cloned().collect();
    let mut fused = HashMap::new();
    for (view, plan) in views.iter_mut() {
        let mut found = HashMap::new();
        detach(plan, &candidates, &mut found);
        for (source, steps) in found {
            fused.insert(source, (steps, view.clone()));
        }
    }
    fused
}
