//! Plan IR → collections. Walks the plan tree and calls one operator file per node kind.

use std::collections::HashMap;

use illunare_plan::{Node, Plan};
use illunare_types::Time;

use crate::join::{JoinSpec, render_join};
use crate::keyed::EmptyCollection;
use crate::mfp::{chain_steps, render_chain};
use crate::ordered_window::{OrderedWindowSpec, render_ordered_window};
use crate::reduce::{InputChanges, render_reduce};
use crate::window_agg::{freeze, window_close_key};
use crate::topk::{TopKSpec, render_topk};
use crate::{Rendered, constant};

/// The relations rendered so far in a dataflow, by catalog name.
pub type Context<'s> = HashMap<String, Rendered<'s>>;

/// Whether `plan` only ever inserts (never retracts): true over sources, which are
/// append-only, through maps, filters, inner joins and unions. Enables cheaper operators.
pub fn is_monotonic(plan: &Plan) -> bool {
    match &plan.node {
        // A fused GROUP BY (`__fusedagg_`) updates its groups, so it is not monotonic, unless
        // it emits each window once (`INSERT_ONLY`).
        Node::Get { name } => {
            name.starts_with("__fused_") || SOURCES.with(|s| s.borrow().contains(name)) || INSERT_ONLY.with(|s| s.borrow().contains(name))
        }
        // A window aggregate that emits on close inserts each window's rows once.
        Node::Reduce { .. } => emits_on_close(plan).is_some(),
        Node::Constant { .. } => true,
        Node::Map { input, .. } | Node::Filter { input, .. } => is_monotonic(input),
        Node::Join { left, right, kind: illunare_plan::JoinKind::Inner, .. } => is_monotonic(left) && is_monotonic(right),
        Node::Union { inputs } => inputs.iter().all(is_monotonic),
        // Closed sessions are emitted once and never retracted.
        Node::Session { .. } => session_on_event_time(plan),
        _ => false,
    }
}

/// The hold of a window aggregate's input by the input column that group key `key` reads.
fn close_column(key: &illunare_plan::Expr, input: &arrow::datatypes::Schema, tick: Time) -> Option<crate::window_hold::HoldSpec> {
    let column = key.physical.downcast_ref::<datafusion_physical_expr::expressions::Column>()?.index();
    crate::window_hold::HoldSpec::new(column, input.fields().get(column)?.data_type(), tick)
}

/// Whether a `Node::Session` takes the event-time rendering (`session.rs`): its input is
/// append-only, stamped by the session's time column, and the gap is at least a tick.
pub fn session_on_event_time(plan: &Plan) -> bool {
    let Node::Session { input, time, gap_ms, .. } = &plan.node else { return false };
    let tick = TICK_MS.with(|t| t.get()).max(1);
    u64::try_from(*gap_ms).is_ok_and(|g| g >= tick) && is_monotonic(input) && event_time_column(input) == Some(*time)
}

/// Whether every relation `plan` reads is an event-time source (so its times are event times).
pub fn is_event_time(plan: &Plan) -> bool {
    match &plan.node {
        // Sources and their fused chains (registered under `fuse::fused_name` by the runtime).
        Node::Get { name } => EVENT_COLUMNS.with(|s| s.borrow().contains_key(name)),
        Node::Constant { .. } => false,
        _ => plan.inputs().iter().all(|i| is_event_time(i)),
    }
}

/// The output column of `plan` that carries, unchanged, the event time its rows are stamped
/// with: a row whose column holds `ts` ms has the time `ts` rounded up to the tick. Known through
/// an event-time source and the maps (plain column references) and filters over it; `None`
/// elsewhere (after a join or a GROUP BY, a row's time is no longer its column's).
/// Operators that release state as the frontier passes a time column rely on this.
pub fn event_time_column(plan: &Plan) -> Option<usize> {
    use datafusion_physical_expr::expressions::Column;
    match &plan.node {
        Node::Get { name } => EVENT_COLUMNS.with(|s| s.borrow().get(name).copied().flatten()),
        Node::Filter { input, .. } => event_time_column(input),
        // Each window's rows are emitted at the stamp of their `window_end` (`window_hold.rs`).
        Node::Reduce { .. } => emits_on_close(plan),
        Node::Map { input, exprs } => {
            let column = event_time_column(input)?;
            exprs.iter().position(|e| e.physical.downcast_ref::<Column>().is_some_and(|c| c.index() == column))
        }
        _ => None,
    }
}

/// How a GROUP BY over `input` closes its groups, if it can: by its `window_end` key, or (when
/// it emits on window close) by a key that is the input's event-time column. Only over
/// append-only event-time input, where the frontier says when a group is complete.
pub fn reduce_closing(group_keys: &[illunare_plan::Expr], input: &Plan, on_window_close: bool) -> Option<crate::window_agg::WindowClose> {
    if !(is_monotonic(input) && is_event_time(input)) {
        return None;
    }
    window_close_key(group_keys, &input.schema).or_else(|| on_window_close.then(|| crate::window_agg::event_time_close_key(group_keys, input)).flatten())
}

/// For a GROUP BY that emits on window close and can (it closes its groups, or its output has
/// a `window_end` to hold its changes by): the output column each row is stamped by.
pub fn emits_on_close(plan: &Plan) -> Option<usize> {
    let Node::Reduce { input, group_keys, on_window_close: true, .. } = &plan.node else { return None };
    reduce_closing(group_keys, input, true).or_else(|| window_close_key(group_keys, &input.schema)).map(|close| close.key)
}

thread_local! {
    /// Fused GROUP BYs (`__fusedagg_…`) of the dataflow being built that emit each window once.
    pub static INSERT_ONLY: std::cell::RefCell<std::collections::HashSet<String>> = Default::default();
    /// Names of the append-only relations (sources) of the dataflow being built on this worker.
    pub static SOURCES: std::cell::RefCell<std::collections::HashSet<String>> = Default::default();
    /// Its event-time sources (and their fused map/filter chains, `fuse.rs`), with the column
    /// that carries the event time, when the relation still has it.
    pub static EVENT_COLUMNS: std::cell::RefCell<HashMap<String, Option<usize>>> = Default::default();
    /// The sources' tick in ms (`DataflowSpec::tick_ms`).
    pub static TICK_MS: std::cell::Cell<Time> = const { std::cell::Cell::new(1) };
    /// The process's state counters, for operators that hold state outside arrangements.
    pub static STATE: std::cell::RefCell<Option<std::sync::Arc<crate::state_metrics::StateMetrics>>> = Default::default();
}

/// Subplans rendered so far in one view, by fingerprint (`illunare_plan::fingerprint`).
type Shared<'s> = std::cell::RefCell<HashMap<String, Rendered<'s>>>;

/// Renders `plan` for relation `relation` (the name errors are attributed to). A subplan that
/// occurs twice (same fingerprint) is rendered once and its collections are reused.
pub fn render_plan<'s>(scope: timely::dataflow::Scope<'s, Time>, plan: &Plan, ctx: &Context<'s>, relation: &str) -> Result<Rendered<'s>, String> {
    render_shared(scope, plan, ctx, relation, &Shared::default())
}

/// Renders `plan`, or reuses the rendering of an equal subplan of the same view (only for
/// nodes worth it, `fingerprint::is_shareable`; EXPLAIN marks the reuses).
fn render_shared<'s>(scope: timely::dataflow::Scope<'s, Time>, plan: &Plan, ctx: &Context<'s>, relation: &str, shared: &Shared<'s>) -> Result<Rendered<'s>, String> {
    if !illunare_plan::fingerprint::is_shareable(&plan.node) {
        return render_node(scope, plan, ctx, relation, shared);
    }
    let key = illunare_plan::fingerprint::fingerprint(plan);
    if let Some(done) = shared.borrow().get(&key) {
        // The errors were reported by the first use; reporting them again would duplicate them.
        return Ok(Rendered { ok: done.ok.clone(), err: scope.empty_collection() });
    }
    let rendered = render_node(scope, plan, ctx, relation, shared)?;
    shared.borrow_mut().insert(key, rendered.clone());
    Ok(rendered)
}

fn render_node<'s>(scope: timely::dataflow::Scope<'s, Time>, plan: &Plan, ctx: &Context<'s>, relation: &str, shared: &Shared<'s>) -> Result<Rendered<'s>, String> {
    let empty = || scope.empty_collection();
    Ok(match &plan.node {
        Node::Get { name } => {
            let input = ctx.get(name).ok_or_else(|| format!("relation '{name}' is not rendered in this dataflow"))?;
            // A fused source chain's evaluation errors belong to the view that reads it.
            let err = if crate::fuse::is_fused(name) { input.err.clone() } else { empty() };
            Rendered { ok: input.ok.clone(), err }
        }
        Node::Constant { rows } => Rendered { ok: constant(scope, rows.clone()), err: empty() },
        Node::Map { .. } | Node::Filter { .. } => {
            // Fuse the whole chain of maps and filters into one vectorised operator.
            let (steps, current) = chain_steps(plan);
            let base = render_shared(scope, current, ctx, relation, shared)?;
            let chained = render_chain(base.ok, steps, relation);
            Rendered { ok: chained.ok, err: base.err.concat(chained.err) }
        }
        Node::Join { left, right, kind, left_keys, right_keys, residual, nulls_equal, interval } => {
            let l = render_shared(scope, left, ctx, relation, shared)?;
            let r = render_shared(scope, right, ctx, relation, shared)?;
            let mut pair_fields: Vec<_> = left.schema.fields().iter().cloned().collect();
            pair_fields.extend(right.schema.fields().iter().cloned());
            let spec = JoinSpec {
                kind: *kind,
                left_keys: left_keys.clone(),
                right_keys: right_keys.clone(),
                residual: residual.clone(),
                nulls_equal: *nulls_equal,
                left_schema: left.schema.clone(),
                right_schema: right.schema.clone(),
                pair_schema: std::sync::Arc::new(arrow::datatypes::Schema::new(pair_fields)),
            };
            let windows = crate::window_join::window_join_expiries(left, right, *kind, *nulls_equal, left_keys, right_keys);
            let expiries = interval
                .as_ref()
                .filter(|_| *kind == illunare_plan::JoinKind::Inner)
                .and_then(|bounds| crate::interval_join::interval_expiries(left, right, bounds, TICK_MS.with(|t| t.get())));
            let joined = match (expiries, windows) {
                // Both sides expire once no partner can come any more (`interval_join.rs`).
                (Some((le, re)), _) => crate::expiring_hash_join::render_hash_expiring_join(l.ok, r.ok, spec, le, re, relation),
                // Closed windows leave the join (`window_join.rs`).
                (_, Some((le, re))) => crate::expiring_hash_join::render_hash_expiring_join(l.ok, r.ok, spec, le, re, relation),
                _ => render_join(l.ok, r.ok, spec, relation),
            };
            Rendered { ok: joined.ok, err: l.err.concat(r.err).concat(joined.err) }
        }
        Node::Reduce { input, group_keys, aggregates, on_window_close } => {
            let i = render_shared(scope, input, ctx, relation, shared)?;
            let monotonic = is_monotonic(input);
            let tick = TICK_MS.with(|t| t.get());
            let metrics = STATE.with(|s| s.borrow().clone());
            match reduce_closing(group_keys, input, *on_window_close) {
                // A window aggregate over event time: state is released as windows close.
                Some(close) => {
                    let (rows, mut err) = (i.ok, i.err);
                    // Emitting on close: each window's rows reach the reduce at once, at its end.
                    let held = on_window_close.then(|| close_column(&group_keys[close.key], &input.schema, tick)).flatten();
                    let rows = match held {
                        Some(spec) => {
                            let (held, late) = crate::window_hold::hold_until_close(rows, spec, relation, metrics);
                            err = err.concat(late);
                            held
                        }
                        None => rows,
                    };
                    let reduced = render_reduce(rows, group_keys.clone(), aggregates.clone(), input.schema.clone(), relation, InputChanges::AppendOnly, Some(close.clone()));
                    Rendered { ok: freeze(reduced.ok, close), err: err.concat(reduced.err) }
                }
                None => {
                    let changes = if monotonic { InputChanges::AppendOnly } else { InputChanges::Any };
                    let reduced = render_reduce(i.ok, group_keys.clone(), aggregates.clone(), input.schema.clone(), relation, changes, None);
                    let mut err = i.err.concat(reduced.err);
                    // Emitting on close over input that cannot close windows itself (a table):
                    // each window's consolidated rows are emitted once its end has passed.
                    let held = emits_on_close(plan).and_then(|key| crate::window_hold::HoldSpec::new(key, plan.schema.field(key).data_type(), tick));
                    let ok = match held {
                        Some(spec) => {
                            let (held, late) = crate::window_hold::hold_until_close(reduced.ok, spec, relation, metrics);
                            err = err.concat(late);
                            held
                        }
                        None => reduced.ok,
                    };
                    Rendered { ok, err }
                }
            }
        }
        Node::Distinct { input } => {
            let i = render_shared(scope, input, ctx, relation, shared)?;
            Rendered { ok: i.ok.distinct(), err: i.err }
        }
        Node::Union { inputs } => {
            let mut ok = empty();
            let mut err = empty();
            for input in inputs {
                let i = render_shared(scope, input, ctx, relation, shared)?;
                ok = ok.concat(i.ok);
                err = err.concat(i.err);
            }
            Rendered { ok, err }
        }
        Node::Temporal { input, until } => {
            let i = render_shared(scope, input, ctx, relation, shared)?;
            let t = crate::temporal::render_temporal(i.ok, until.clone(), input.schema.clone(), relation);
            Rendered { ok: t.ok, err: i.err.concat(t.err) }
        }
        Node::Session { input, partition, time, gap_ms } => {
            let i = render_shared(scope, input, ctx, relation, shared)?;
            let time_type = input.schema.fields().get(*time).map(|f| f.data_type().clone()).unwrap_or(arrow::datatypes::DataType::Null);
            let spec = crate::session::SessionSpec::new(partition.clone(), *time, *gap_ms, time_type)
                .ok_or_else(|| format!("SESSION over column #{time}: not a TIMESTAMP, or a gap of {gap_ms} ms that its unit cannot hold"))?;
            let ok = if session_on_event_time(plan) {
                let tick = TICK_MS.with(|t| t.get());
                let metrics = STATE.with(|s| s.borrow().clone());
                crate::session::render_session_event_time(i.ok, spec, tick, metrics)
            } else {
                crate::session::render_session(i.ok, spec)
            };
            Rendered { ok, err: i.err }
        }
        Node::TopK { input, partition, order, offset, limit, numbering } => {
            let i = render_shared(scope, input, ctx, relation, shared)?;
            let spec = TopKSpec { partition: partition.clone(), order: order.clone(), offset: *offset, limit: *limit, numbering: *numbering };
            // Over append-only input a partition only needs its first rows (`topk_append.rs`).
            let ok = if is_monotonic(input) && crate::topk_append::applies(&spec) {
                crate::topk_append::render_append_topk(i.ok, spec)
            } else {
                render_topk(i.ok, spec)
            };
            Rendered { ok, err: i.err }
        }
        Node::OrderedWindow { input, partition, order, functions } => {
            let i = render_shared(scope, input, ctx, relation, shared)?;
            let release = crate::ordered_window::release_for(input, order, functions);
            let spec = OrderedWindowSpec { partition: partition.clone(), order: order.clone(), functions: functions.clone(), schema: input.schema.clone(), release };
            let w = render_ordered_window(i.ok, spec, relation);
            Rendered { ok: w.ok, err: i.err.concat(w.err) }
        }
    })
}
