//! GROUP BY with aggregates.
//!
//! Aggregates are split by how they can be maintained, each part keyed by group, and the parts
//! joined back per group in the query's column order:
//! - **accumulable** (`count`, `sum`, `avg` of numbers; `accum.rs`): diffs summed into one
//!   running value per group (`accumulate.rs`), O(1) per change;
//! - **min / max**: over append-only input one current value per group (`minmax_append.rs`);
//!   otherwise a hierarchical reduction (`minmax.rs`), O(group/64 + 64) per change;
//! - **everything else** (DISTINCT, FILTER, string_agg, array_agg, stddev, …): differential's
//!   `reduce` hands each changed group's multiset to fresh DataFusion accumulators
//!   (`illunare_eval::aggregate`), so they behave exactly as in DataFusion; retractions are
//!   handled by recomputation.
//!
//! A global aggregate (no GROUP BY) yields its one row even over empty input: the constant
//! "empty input" row is added and cancelled by the computed row whenever there is input.

use arrow::datatypes::SchemaRef;
use differential_dataflow::AsCollection;
use illunare_eval::aggregate;
use illunare_plan::{Aggregate, Expr};
use illunare_types::{Datum, Diff, Row, Time};
use timely::dataflow::operators::core::OkErr;

use crate::accum::{Accum, FastKind, SLOTS, accum_of, fast_kind, finish};
use crate::keyed::{EmptyCollection, KeyedColl, key_by};
use crate::minmax::{Extreme, extreme_of, render_minmax};
use crate::preagg::{Merge, PreAggregate};
use crate::window_agg::{AFTER_CLOSE, WindowClose, retract_at_close};
use crate::{Coll, Failure, Rendered, constant, error_row};

/// What changes a reduce's input can carry: the cheaper methods need fewer kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputChanges {
    /// Insertions only (sources through maps, filters, inner joins).
    AppendOnly,
    /// Anything.
    Any,
}

enum Method {
    Accumulable(FastKind),
    /// A float sum/avg over input that retracts: summed natively from the group's values in
    /// sorted order (exact for the current multiset, independent of history and workers).
    FloatSum(FastKind),
    Extreme(Extreme),
    /// `count(DISTINCT x)`: distinct `(group, x)` pairs, then counted as diffs.
    CountDistinct,
    Recompute,
}

/// Whether `agg` is a plain `count(DISTINCT x)` (FILTER folds into the argument).
fn is_count_distinct(agg: &Aggregate) -> bool {
    let f = &agg.function;
    f.is_distinct() && f.expressions().len() == 1 && f.order_bys().is_empty() && f.fun().name().eq_ignore_ascii_case("count")
}

/// Evaluates `group_keys ++ args` per row and splits into `(key, args)`.
fn keyed_args<'s>(input: Coll<'s>, group_keys: &[Expr], args: Vec<Expr>, schema: &SchemaRef, relation: &str) -> (KeyedColl<'s>, Coll<'s>) {
    let nkeys = group_keys.len();
    let mut exprs = group_keys.to_vec();
    exprs.extend(args);
    let (keyed, errors) = key_by(input, exprs, schema.clone(), false, relation);
    (keyed.map(move |(ext, _row)| (Row(ext.0[..nkeys].to_vec()), Row(ext.0[nkeys..].to_vec()))), errors)
}

/// The value an aggregate folds per row: its argument, or with `FILTER (WHERE p)`,
/// `CASE WHEN p THEN arg END` — count/sum/avg/min/max skip NULLs, so filtered-out rows count
/// for nothing, exactly as the filter says, and the aggregate keeps its incremental method.
fn argument(agg: &Aggregate) -> Expr {
    let arg = agg.function.expressions()[0].clone();
    match &agg.filter {
        None => Expr::new(arg, agg.text.clone()),
        Some(filter) => match datafusion_physical_expr::expressions::CaseExpr::try_new(None, vec![(filter.physical.clone(), arg.clone())], None) {
            Ok(case) => Expr::new(std::sync::Arc::new(case), agg.text.clone()),
            // Not expected (both sides are valid expressions); the filter is then re-applied
            // by recomputation, see `fast_kind`.
            Err(_) => Expr::new(arg, agg.text.clone()),
        },
    }
}

/// The single arguments of the aggregates at `indices`.
fn arguments(aggregates: &[Aggregate], indices: impl Iterator<Item = usize>) -> Vec<Expr> {
    indices.map(|i| argument(&aggregates[i])).collect()
}

pub fn render_reduce<'s>(
    input: Coll<'s>,
    group_keys: Vec<Expr>,
    aggregates: Vec<Aggregate>,
    input_schema: SchemaRef,
    relation: &str,
    changes: InputChanges,
    closing: Option<WindowClose>,
) -> Rendered<'s> {
    let scope = input.scope();
    let late = late_row(relation);
    let mut methods: Vec<Method> = aggregates
        .iter()
        .map(|a| match (fast_kind(a), extreme_of(a, &input_schema)) {
            // Float sums are not invertible ((1e20 + 1.5) - 1e20 = 0): accumulate them as diffs
            // only when nothing is ever retracted; otherwise recompute from the group.
            (Some(k @ (FastKind::SumFloat | FastKind::AvgFloat)), _) if changes == InputChanges::Any => Method::FloatSum(k),
            (Some(k), _) => Method::Accumulable(k),
            (None, Some(e)) => Method::Extreme(e),
            _ if is_count_distinct(a) => Method::CountDistinct,
            _ => Method::Recompute,
        })
        .collect();
    if methods.iter().filter(|m| matches!(m, Method::Accumulable(_))).count() > SLOTS {
        for m in methods.iter_mut() {
            if matches!(m, Method::Accumulable(_)) {
                *m = Method::Recompute;
            }
        }
    }
    let mut errors: Coll<'s> = scope.empty_collection();
    // Each part: (key, its aggregates' values), and which aggregates it holds, in order.
    let mut parts: Vec<(KeyedColl<'s>, Vec<usize>)> = Vec::new();

    let fast: Vec<(usize, FastKind)> =
        methods.iter().enumerate().filter_map(|(i, m)| if let Method::Accumulable(k) = m { Some((i, *k)) } else { None }).collect();
    let extremes: Vec<(usize, Extreme)> =
        methods.iter().enumerate().filter_map(|(i, m)| if let Method::Extreme(e) = m { Some((i, *e)) } else { None }).collect();
    let slow: Vec<usize> = methods.iter().enumerate().filter(|(_, m)| matches!(m, Method::Recompute)).map(|(i, _)| i).collect();
    let float_sums: Vec<(usize, FastKind)> =
        methods.iter().enumerate().filter_map(|(i, m)| if let Method::FloatSum(k) = m { Some((i, *k)) } else { None }).collect();

    if !fast.is_empty() || aggregates.is_empty() {
        let mut exprs = group_keys.clone();
        exprs.extend(fast.iter().map(|(i, _)| argument(&aggregates[*i])));
        let kinds: Vec<FastKind> = fast.iter().map(|(_, k)| *k).collect();
        let k2 = kinds.clone();
        let (partial, errs) = partial_accumulate(input.clone(), exprs, group_keys.len(), kinds, input_schema.clone(), relation);
        errors = errors.concat(errs);
        let partial = close_windows(partial, &closing, |k: &Row| k, &late, &mut errors);
        let values = crate::accumulate::render_accumulate(partial, k2);
        parts.push((values, fast.iter().map(|(i, _)| *i).collect()));
    }
    if !float_sums.is_empty() {
        let (keyed, errs) = keyed_args(input.clone(), &group_keys, arguments(&aggregates, float_sums.iter().map(|(i, _)| *i)), &input_schema, relation);
        errors = errors.concat(errs);
        let kinds: Vec<FastKind> = float_sums.iter().map(|(_, k)| *k).collect();
        let values = keyed.reduce_named("FloatSum", move |_key: &Row, values: &[(&Row, Diff)], out: &mut Vec<(Row, Diff)>| {
            let mut acc = Accum::default();
            for (row, count) in values {
                let one = accum_of(&kinds, &row.0);
                differential_dataflow::difference::Semigroup::plus_equals(&mut acc, &differential_dataflow::difference::Multiply::multiply(one, count));
            }
            out.push((Row(finish(&kinds, &acc)), 1));
        });
        parts.push((values, float_sums.iter().map(|(i, _)| *i).collect()));
    }
    if !extremes.is_empty() {
        let (keyed, errs) = keyed_args(input.clone(), &group_keys, arguments(&aggregates, extremes.iter().map(|(i, _)| *i)), &input_schema, relation);
        errors = errors.concat(errs);
        let kinds: Vec<Extreme> = extremes.iter().map(|(_, e)| *e).collect();
        // Append-only input: each container can be folded to one row per key and time first.
        let values = if changes == InputChanges::AppendOnly {
            let folded = crate::minmax::prefold(keyed, kinds.clone());
            let (values, late_rows) = crate::minmax_append::render_append_minmax(folded, kinds, closing.clone(), late.clone());
            errors = errors.concat(late_rows);
            values
        } else {
            render_minmax(keyed, kinds)
        };
        parts.push((values, extremes.iter().map(|(i, _)| *i).collect()));
    }
    for (i, _) in methods.iter().enumerate().filter(|(_, m)| matches!(m, Method::CountDistinct)) {
        let (keyed, errs) = keyed_args(input.clone(), &group_keys, vec![argument(&aggregates[i])], &input_schema, relation);
        errors = errors.concat(errs);
        let keyed = close_windows(keyed, &closing, |(k, _): &(Row, Row)| k, &late, &mut errors);
        // One update per distinct (group, x); NULL x keeps the group alive but is not counted.
        let pairs = keyed.distinct();
        use timely::dataflow::operators::vec::Map;
        let counted = pairs
            .inner
            .map(|((key, x), t, d): ((Row, Row), Time, Diff)| {
                let mut one = Accum { rows: 1, ..Accum::default() };
                one.nonnull[0] = i64::from(!x.0[0].is_null());
                (key, t, differential_dataflow::difference::Multiply::multiply(one, &d))
            })
            .as_collection()
            .count_core::<Diff>();
        let values = counted.flat_map(|(key, acc): (Row, Accum)| if acc.rows == 0 { None } else { Some((key, Row(vec![Datum::Int(acc.nonnull[0])]))) });
        parts.push((values, vec![i]));
    }
    if !slow.is_empty() {
        let (keyed, key_errors) = key_by(input.clone(), group_keys.clone(), input_schema.clone(), false, relation);
        errors = errors.concat(key_errors);
        let keyed = close_windows(keyed, &closing, |(k, _): &(Row, Row)| k, &late, &mut errors);
        let rel = relation.to_string();
        let aggs: Vec<Aggregate> = slow.iter().map(|&i| aggregates[i].clone()).collect();
        let schema = input_schema.clone();
        let reduced = keyed.reduce_named("Aggregate", move |key: &Row, values: &[(&Row, Diff)], out: &mut Vec<(Result<Row, Row>, Diff)>| {
            match aggregate(&aggs, &schema, values) {
                Ok(datums) => out.push((Ok(Row(datums)), 1)),
                Err(e) => out.push((Err(error_row(&rel, Failure { message: e.0, raw: format!("group {}", crate::mfp::describe(key)) })), 1)),
            }
        });
        let (ok, err) = reduced.inner.ok_err(|((k, r), t, d): ((Row, Result<Row, Row>), Time, Diff)| match r {
            Ok(row) => Ok(((k, row), t, d)),
            Err(row) => Err((row, t, d)),
        });
        errors = errors.concat(err.as_collection());
        parts.push((ok.as_collection(), slow));
    }

    let ok = assemble(scope, parts, &aggregates, group_keys.is_empty(), &input_schema);
    Rendered { ok, err: errors }
}

/// `coll` with each update's retraction scheduled at its window's close, when the reduce
/// closes windows (`window_agg.rs`); updates already past the close become `errors`.
fn close_windows<'s, D, R>(
    coll: differential_dataflow::VecCollection<'s, Time, D, R>,
    closing: &Option<WindowClose>,
    key_of: impl Fn(&D) -> &Row + 'static,
    late: &(impl Fn(&Row) -> Row + Clone + 'static),
    errors: &mut Coll<'s>,
) -> differential_dataflow::VecCollection<'s, Time, D, R>
where
    D: Clone + 'static,
    R: differential_dataflow::difference::Abelian + Clone + 'static,
{
    match closing {
        Some(close) => {
            let (open, late_rows) = retract_at_close(coll, close.clone(), key_of, late.clone());
            *errors = errors.clone().concat(late_rows);
            open
        }
        None => coll,
    }
}

/// The error row of a group (by key) that received rows after its window closed.
fn late_row(relation: &str) -> impl Fn(&Row) -> Row + Clone + 'static {
    let relation = relation.to_string();
    move |key: &Row| error_row(&relation, Failure { message: AFTER_CLOSE.into(), raw: format!("group {}", crate::mfp::describe(key)) })
}

/// Joins the parts (each `(key, values of the aggregates it holds)`) per group and puts the
/// aggregates back in the query's order; a global aggregate also gets its empty-input row.
fn assemble<'s>(
    scope: timely::dataflow::Scope<'s, Time>,
    parts: Vec<(KeyedColl<'s>, Vec<usize>)>,
    aggregates: &[Aggregate],
    global: bool,
    input_schema: &SchemaRef,
) -> Coll<'s> {
    let mut parts = parts.into_iter();
    let (mut joined, mut held) = parts.next().expect("a reduce has at least one part");
    for (part, indices) in parts {
        joined = joined.join_map(part, |k, a, b| (k.clone(), a.concat(b)));
        held.extend(indices);
    }
    let mut position = vec![0usize; aggregates.len()];
    for (slot, &agg) in held.iter().enumerate() {
        position[agg] = slot;
    }
    let mut ok: Coll<'s> = joined.map(move |(key, values)| {
        let mut out = key.0;
        out.extend(position.iter().map(|&p| values.0.get(p).cloned().unwrap_or(Datum::Null)));
        Row(out)
    });
    if global {
        match aggregate(aggregates, input_schema, &[]) {
            Ok(defaults) => {
                let default_row = Row(defaults);
                let d2 = default_row.clone();
                let present = ok.clone().map(move |_| d2.clone());
                ok = ok.concat(constant(scope, vec![default_row])).concat(present.negate());
            }
            Err(e) => tracing::warn!("aggregate over empty input failed: {e}"),
        }
    }
    ok
}

/// Phase 2 of a split GROUP BY (`preagg.rs`): merges the partial rows `(keys…, rows, state…)`
/// a source's partial aggregator emits into the view's rows.
pub fn render_merge<'s>(partials: Coll<'s>, spec: &PreAggregate, closing: Option<WindowClose>, relation: &str) -> Rendered<'s> {
    let scope = partials.scope();
    let late = late_row(relation);
    let mut errors: Coll<'s> = scope.empty_collection();
    let nkeys = spec.group_keys.len();
    let positions = spec.state_positions();
    let mut parts: Vec<(KeyedColl<'s>, Vec<usize>)> = Vec::new();
    let fast: Vec<(usize, FastKind)> =
        spec.merges.iter().enumerate().filter_map(|(i, m)| if let Merge::Accumulable(k) = m { Some((i, *k)) } else { None }).collect();
    let extremes: Vec<(usize, Extreme)> =
        spec.merges.iter().enumerate().filter_map(|(i, m)| if let Merge::Extreme(e) = m { Some((i, *e)) } else { None }).collect();
    if !fast.is_empty() || spec.aggregates.is_empty() {
        use timely::dataflow::operators::vec::Map;
        let kinds: Vec<FastKind> = fast.iter().map(|(_, k)| *k).collect();
        let (spec2, fast2, positions2) = (spec.clone(), fast.clone(), positions.clone());
        let accumulated = partials
            .inner
            .clone()
            .map(move |(row, t, d): (Row, Time, Diff)| {
                let acc = differential_dataflow::difference::Multiply::multiply(spec2.accum_of_partial(&row, &fast2, &positions2), &d);
                (Row(row.0[..nkeys].to_vec()), t, acc)
            })
            .as_collection();
        let accumulated = close_windows(accumulated, &closing, |k: &Row| k, &late, &mut errors);
        let values = crate::accumulate::render_accumulate(accumulated, kinds);
        parts.push((values, fast.iter().map(|(i, _)| *i).collect()));
    }
    if !extremes.is_empty() {
        let kinds: Vec<Extreme> = extremes.iter().map(|(_, e)| *e).collect();
        let columns: Vec<usize> = extremes.iter().map(|(i, _)| positions[*i]).collect();
        let keyed = partials.map(move |row| (Row(row.0[..nkeys].to_vec()), Row(columns.iter().map(|&c| row.0[c].clone()).collect())));
        let folded = crate::minmax::prefold(keyed, kinds.clone());
        let (values, late_rows) = crate::minmax_append::render_append_minmax(folded, kinds, closing.clone(), late.clone());
        errors = errors.concat(late_rows);
        parts.push((values, extremes.iter().map(|(i, _)| *i).collect()));
    }
    let ok = assemble(scope, parts, &spec.aggregates, nkeys == 0, &spec.input_schema);
    let ok = match closing {
        Some(close) => crate::window_agg::freeze(ok, close),
        None => ok,
    };
    Rendered { ok, err: errors }
}

/// Evaluates keys and arguments per container and pre-aggregates: one `(key, Accum)` update
/// per distinct key and time in the container instead of one per row.
fn partial_accumulate<'s>(
    input: Coll<'s>,
    exprs: Vec<Expr>,
    nkeys: usize,
    kinds: Vec<FastKind>,
    schema: SchemaRef,
    relation: &str,
) -> (differential_dataflow::VecCollection<'s, Time, Row, Accum>, Coll<'s>) {
    use timely::dataflow::channels::pact::Pipeline;
    use timely::dataflow::operators::generic::Operator;
    let relation = relation.to_string();
    let tagged = input.inner.unary::<timely::container::CapacityContainerBuilder<Vec<_>>, _, _, _>(Pipeline, "PartialAggregate", move |_, _| {
        move |input, output| {
            // Pre-aggregate everything delivered in this activation, per capability time.
            let mut stash: crate::Stash<Accum> = Default::default();
            input.for_each(|cap, data| {
                let refs: Vec<&Row> = data.iter().map(|(r, _, _)| r).collect();
                let results = illunare_eval::map_rows(&exprs, &schema, &refs);
                let Some(&at) = cap.least() else { return };
                let entry = stash.entry(at).or_insert_with(|| (cap.delayed(&at, 0), Default::default()));
                let mut failures = Vec::new();
                for ((row, t, d), result) in data.drain(..).zip(results) {
                    match result {
                        Ok(ext) => {
                            let mut values = ext.0;
                            let args = values.split_off(nkeys);
                            let acc = differential_dataflow::difference::Multiply::multiply(accum_of(&kinds, &args), &d);
                            let slot = entry.1.entry((Row(values), t)).or_default();
                            differential_dataflow::difference::Semigroup::plus_equals(slot, &acc);
                        }
                        Err(e) => {
                            let raw = crate::mfp::describe(&row);
                            let err = Accum { rows: d as i64, ..Accum::default() };
                            failures.push((Err(error_row(&relation, Failure { message: e.0, raw })), t, err));
                        }
                    }
                }
                if !failures.is_empty() {
                    output.session(&entry.0).give_iterator(failures.into_iter());
                }
            });
            for (_, (cap, sums)) in stash {
                let mut session = output.session(&cap);
                for ((key, t), acc) in sums {
                    session.give((Ok(key), t, acc));
                }
            }
        }
    });
    let (ok, err) = tagged.ok_err(|(r, t, a): (Result<Row, Row>, Time, Accum)| match r {
        Ok(key) => Ok((key, t, a)),
        Err(row) => Err((row, t, a.rows as Diff)),
    });
    (ok.as_collection(), err.as_collection())
}
