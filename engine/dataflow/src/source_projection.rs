//! Projecting a source that several views read down to the columns they use.
//!
//! `fuse.rs` runs a source's only reader inside the source operator, so columns nobody reads are
//! never turned into rows. A source read more than once (Nexmark q5 reads `bid` once per HOP
//! branch, q7 twice) was not fused: the source converted every column of every row (the long
//! `extra` and `url` strings included) and timely cloned those rows once per reader. Here, when
//! every reader of a source is a projection (`Map`) over it, as DataFusion's projection pushdown
//! leaves it, the source emits only the union of the columns the readers use: a column
//! projection of the Arrow batch before rows are made (a fused chain of one `Map`), and each
//! reader's expressions are renumbered onto the narrower rows.
//!
//! A source read any other way (directly by a filter, a join, a sink or a capture) keeps its
//! full rows. Sources already fused keep their fusion.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_physical_expr::PhysicalExpr;
use datafusion_physical_expr::expressions::Column;
use illunare_plan::{Expr, Node, Plan};

use crate::fuse::fused_name;
use crate::mfp::Step;
use crate::source::Fused;

/// How a source is read across the views.
#[derive(Default)]
struct Readers {
    /// Projections directly over the source.
    projections: usize,
    /// The source's columns those projections use.
    columns: BTreeSet<usize>,
    /// Read some other way: every column is needed.
    whole: bool,
    /// The first view reading it (a fused chain is attributed to one view).
    first_view: Option<String>,
}

fn columns_of(expr: &Arc<dyn PhysicalExpr>, out: &mut BTreeSet<usize>) {
    let _ = expr.apply(|e| {
        if let Some(c) = e.downcast_ref::<Column>() {
            out.insert(c.index());
        }
        Ok(datafusion_common::tree_node::TreeNodeRecursion::Continue)
    });
}

fn survey(plan: &Plan, source: &str, view: &str, readers: &mut Readers) {
    if let Node::Map { input, exprs } = &plan.node
        && matches!(&input.node, Node::Get { name } if name == source)
    {
        readers.projections += 1;
        readers.first_view.get_or_insert_with(|| view.to_string());
        exprs.iter().for_each(|e| columns_of(&e.physical, &mut readers.columns));
        return;
    }
    if matches!(&plan.node, Node::Get { name } if name == source) {
        readers.whole = true;
        return;
    }
    for input in plan.inputs() {
        survey(input, source, view, readers);
    }
}

/// `expr` with every column `i` renumbered to `position[i]`.
fn renumber(expr: &Expr, position: &HashMap<usize, usize>) -> Expr {
    let physical = Arc::clone(&expr.physical).transform(|e| {
        Ok(match e.downcast_ref::<Column>() {
            Some(c) => Transformed::yes(Arc::new(Column::new(c.name(), position[&c.index()])) as Arc<dyn PhysicalExpr>),
            None => Transformed::no(e),
        })
    });
    match physical {
        Ok(t) => Expr::new(t.data, expr.text.clone()),
        // The closure never fails.
        Err(_) => expr.clone(),
    }
}

fn rewrite(plan: &mut Plan, source: &str, projected: &SchemaRef, position: &HashMap<usize, usize>) {
    if let Node::Map { input, exprs } = &mut plan.node
        && matches!(&input.node, Node::Get { name } if name == source)
    {
        *exprs = exprs.iter().map(|e| renumber(e, position)).collect();
        **input = Plan::new(Node::Get { name: fused_name(source) }, projected.clone());
        return;
    }
    for input in plan.inputs_mut() {
        rewrite(input, source, projected, position);
    }
}

/// For every source in `sources` (name, schema, event-time column) that is not `fused` already
/// and not read by a sink or capture (`other_uses`), read only through projections that leave
/// out some of its columns: rewrites those projections to read `fuse::fused_name(source)` and
/// returns the chain (one column projection) each such source runs.
pub fn project_sources(
    views: &mut [(String, Plan)],
    sources: &[(String, SchemaRef, Option<usize>)],
    fused: &HashMap<String, Fused>,
    other_uses: &[String],
) -> HashMap<String, Fused> {
    let mut out = HashMap::new();
    for (source, schema, event_column) in sources {
        if fused.contains_key(source) || other_uses.contains(source) {
            continue;
        }
        let mut readers = Readers::default();
        for (view, plan) in views.iter() {
            survey(plan, source, view, &mut readers);
        }
        let Some(view) = readers.first_view.clone() else { continue };
        if readers.whole || readers.projections == 0 || readers.columns.len() >= schema.fields().len() {
            continue;
        }
        let kept: Vec<usize> = readers.columns.iter().copied().collect();
        let position: HashMap<usize, usize> = kept.iter().enumerate().map(|(new, old)| (*old, new)).collect();
        let projected: SchemaRef = Arc::new(Schema::new(kept.iter().map(|&i| schema.field(i).clone()).collect::<Vec<_>>()));
        let exprs = kept
            .iter()
            .map(|&i| {
                let name = schema.field(i).name();
                Expr::new(Arc::new(Column::new(name, i)), name.clone())
            })
            .collect();
        for (_, plan) in views.iter_mut() {
            rewrite(plan, source, &projected, &position);
        }
        let steps = vec![Step::Map { exprs, input: schema.clone(), output: projected }];
        let event_column = event_column.and_then(|c| position.get(&c).copied());
        out.insert(source.clone(), Fused { steps, union: Vec::new(), relation: view, preagg: None, event_column });
    }
    out
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field};

    use super::*;

    fn schema(names: &[&str]) -> SchemaRef {
        Arc::new(Schema::new(names.iter().map(|n| Field::new(*n, DataType::Int64, true)).collect::<Vec<_>>()))
    }

    fn get(name: &str) -> Plan {
        Plan::new(Node::Get { name: name.into() }, schema(&["a", "b", "c", "d"]))
    }

    fn project(input: Plan, columns: &[usize]) -> Plan {
        let names = ["a", "b", "c", "d"];
        let exprs = columns.iter().map(|&i| Expr::new(Arc::new(Column::new(names[i], i)), names[i])).collect();
        let out: Vec<&str> = columns.iter().map(|&i| names[i]).collect();
        Plan::new(Node::Map { input: Box::new(input), exprs }, schema(&out))
    }

    fn columns(plan: &Plan) -> Vec<usize> {
        let Node::Map { exprs, .. } = &plan.node else { panic!("not a map") };
        exprs.iter().map(|e| e.physical.downcast_ref::<Column>().expect("column").index()).collect()
    }

    #[test]
    fn readers_of_some_columns_get_the_union_renumbered() {
        let union = Plan::new(Node::Union { inputs: vec![project(get("bid"), &[3, 1]), project(get("bid"), &[1])] }, schema(&["d", "b"]));
        let mut views = vec![("v".to_string(), union)];
        let sources = [("bid".to_string(), schema(&["a", "b", "c", "d"]), Some(3))];
        let chains = project_sources(&mut views, &sources, &HashMap::new(), &[]);
        let chain = &chains["bid"];
        assert_eq!(chain.event_column, Some(1), "d is the second kept column");
        let Step::Map { output, .. } = &chain.steps[0] else { panic!("a map") };
        assert_eq!(output.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>(), ["b", "d"]);
        let Node::Union { inputs } = &views[0].1.node else { panic!() };
        assert_eq!(columns(&inputs[0]), [1, 0]);
        assert_eq!(columns(&inputs[1]), [0]);
        assert!(matches!(&inputs[0].inputs()[0].node, Node::Get { name } if name == "__fused_bid"));
    }

    #[test]
    fn a_source_read_whole_or_by_a_sink_is_left_alone() {
        let sources = [("bid".to_string(), schema(&["a", "b", "c", "d"]), None)];
        let filter = Plan::new(Node::Distinct { input: Box::new(get("bid")) }, schema(&["a", "b", "c", "d"]));
        let mut views = vec![("v".to_string(), project(get("bid"), &[0])), ("w".to_string(), filter)];
        assert!(project_sources(&mut views, &sources, &HashMap::new(), &[]).is_empty());
        let mut views = vec![("v".to_string(), project(get("bid"), &[0]))];
        assert!(project_sources(&mut views, &sources, &HashMap::new(), &["bid".to_string()]).is_empty());
        let mut views = vec![("v".to_string(), project(get("bid"), &[0, 1, 2, 3]))];
        assert!(project_sources(&mut views, &sources, &HashMap::new(), &[]).is_empty(), "every column used");
    }
}
