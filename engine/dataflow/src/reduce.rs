//! GROUP BY with aggregates.
//!
//! Two paths, combined per group by key:
//! - **accumulable** aggregates (`count`, `sum`, `avg` of numbers; see `accum.rs`) travel as
//!   differential diffs and cost O(1) per change;
//! - **everything else** (min/max, DISTINCT, FILTER, string_agg, array_agg, stddev, …): rows are
//!   keyed by group and differential's `reduce` hands each changed group's multiset to fresh
//!   DataFusion accumulators (`illunare_eval::aggregate`), so they behave exactly as in
//!   DataFusion and retractions are handled by recomputation.
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
use crate::keyed::key_by;
use crate::{Coll, Failure, Rendered, constant, error_row};

pub fn render_reduce<'s>(
    input: Coll<'s>,
    group_keys: Vec<Expr>,
    aggregates: Vec<Aggregate>,
    input_schema: SchemaRef,
    relation: &str,
) -> Rendered<'s> {
    let global = group_keys.is_empty();
    let nkeys = group_keys.len();
    let kinds: Vec<Option<FastKind>> = aggregates.iter().map(fast_kind).collect();
    let fast_count = kinds.iter().filter(|k| k.is_some()).count();
    // Too many accumulable aggregates for one diff: recompute them all.
    let kinds: Vec<Option<FastKind>> = if fast_count > SLOTS { vec![None; kinds.len()] } else { kinds };
    let fast: Vec<(usize, FastKind)> = kinds.iter().enumerate().filter_map(|(i, k)| k.map(|k| (i, k))).collect();
    let slow: Vec<usize> = kinds.iter().enumerate().filter(|(_, k)| k.is_none()).map(|(i, _)| i).collect();
    let mut errors = input.scope().empty_collection_rows();

    // Fast path: (key, accumulated diff) per group.
    let fast_part = if fast.is_empty() && !slow.is_empty() {
        None
    } else {
        let mut exprs = group_keys.clone();
        exprs.extend(fast.iter().map(|(i, _)| {
            let arg = aggregates[*i].function.expressions()[0].clone();
            Expr::new(arg, aggregates[*i].text.clone())
        }));
        let (keyed, key_errors) = key_by(input.clone(), exprs, input_schema.clone(), false, relation);
        errors = errors.concat(key_errors);
        let fast_kinds: Vec<FastKind> = fast.iter().map(|(_, k)| *k).collect();
        let counted = keyed
            .explode(move |(ext, _row)| {
                let key = Row(ext.0[..nkeys].to_vec());
                let acc = accum_of(&fast_kinds, &ext.0[nkeys..]);
                std::iter::once((key, acc))
            })
            .count_core::<Diff>();
        let fast_kinds: Vec<FastKind> = fast.iter().map(|(_, k)| *k).collect();
        Some(counted.flat_map(move |(key, acc): (Row, Accum)| {
            if acc.rows == 0 { None } else { Some((key, Row(finish(&fast_kinds, &acc)))) }
        }))
    };

    // Recomputation path: (key, values of the other aggregates) per group.
    let slow_part = if slow.is_empty() {
        None
    } else {
        let (keyed, key_errors) = key_by(input.clone(), group_keys.clone(), input_schema.clone(), false, relation);
        errors = errors.concat(key_errors);
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
        Some(ok.as_collection())
    };

    // Reassemble `key ++ aggregates` in the query's order.
    let order: Vec<(bool, usize)> = {
        let mut fi = 0;
        let mut si = 0;
        kinds
            .iter()
            .map(|k| {
                if k.is_some() {
                    fi += 1;
                    (true, fi - 1)
                } else {
                    si += 1;
                    (false, si - 1)
                }
            })
            .collect()
    };
    let assemble = move |key: &Row, f: Option<&Row>, s: Option<&Row>| -> Row {
        let mut out = key.0.clone();
        for (is_fast, i) in &order {
            let source = if *is_fast { f } else { s };
            out.push(source.map(|r| r.0[*i].clone()).unwrap_or(Datum::Null));
        }
        Row(out)
    };
    let mut ok: Coll<'s> = match (fast_part, slow_part) {
        (Some(f), None) => f.map(move |(k, v)| assemble(&k, Some(&v), None)),
        (None, Some(s)) => s.map(move |(k, v)| assemble(&k, None, Some(&v))),
        (Some(f), Some(s)) => f.join_map(s, move |k, fv, sv| assemble(k, Some(fv), Some(sv))),
        (None, None) => unreachable!("a reduce has a fast or a slow part"),
    };
    if global {
        match aggregate(&aggregates, &input_schema, &[]) {
            Ok(defaults) => {
                let default_row = Row(defaults);
                let d2 = default_row.clone();
                let present = ok.clone().map(move |_| d2.clone());
                ok = ok.concat(constant(input.scope(), vec![default_row])).concat(present.negate());
            }
            Err(e) => tracing::warn!("aggregate over empty input failed: {e}"),
        }
    }
    Rendered { ok, err: errors }
}

trait EmptyRows<'s> {
    fn empty_collection_rows(&self) -> Coll<'s>;
}

impl<'s> EmptyRows<'s> for timely::dataflow::Scope<'s, Time> {
    fn empty_collection_rows(&self) -> Coll<'s> {
        crate::keyed::EmptyCollection::empty_collection(self)
    }
}
