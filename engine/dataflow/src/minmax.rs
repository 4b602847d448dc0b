//! `min` / `max` as a two-level hierarchical reduction.
//!
//! min and max cannot be kept as diffs (a retraction of the current minimum needs the next
//! one), so a group's values must be revisited on change. Doing that over the whole group costs
//! O(group) per change; instead values are first reduced within 64 hash buckets per group and
//! then across the buckets' results, so a change costs about O(group/64 + 64).

use illunare_plan::Aggregate;
use illunare_types::{Datum, Diff, Row};

use crate::keyed::KeyedColl;

const BUCKETS: u64 = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extreme {
    Min,
    Max,
}

/// Whether `agg` is a plain min/max this path computes (DISTINCT does not change either).
pub fn extreme_of(agg: &Aggregate, input: &arrow::datatypes::Schema) -> Option<Extreme> {
    let f = &agg.function;
    // FILTER is folded into the argument (`reduce.rs`, `argument`).
    if !f.order_bys().is_empty() || f.expressions().len() != 1 {
        return None;
    }
    let arg_type = f.expressions()[0].data_type(input).ok()?;
    if f.field().data_type() != &arg_type {
        return None;
    }
    match f.fun().name().to_lowercase().as_str() {
        "min" => Some(Extreme::Min),
        "max" => Some(Extreme::Max),
        _ => None,
    }
}

pub(crate) fn fold(kinds: &[Extreme], values: &[(&Row, Diff)]) -> Row {
    let mut out: Vec<Datum> = vec![Datum::Null; kinds.len()];
    for (row, count) in values {
        if *count <= 0 {
            continue;
        }
        for (i, kind) in kinds.iter().enumerate() {
            let v = &row[i];
            if v.is_null() {
                continue;
            }
            let better = match (&out[i], kind) {
                (Datum::Null, _) => true,
                (cur, Extreme::Min) => v < cur,
                (cur, Extreme::Max) => v > cur,
            };
            if better {
                out[i] = v.clone();
            }
        }
    }
    Row(out)
}

fn bucket_of(row: &Row) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    row.hash(&mut h);
    h.finish() % BUCKETS
}

/// `(key, arguments)` → `(key, extremes)`, one row per group with input.
pub fn render_minmax<'s>(args: KeyedColl<'s>, kinds: Vec<Extreme>) -> KeyedColl<'s> {
    let k1 = kinds.clone();
    let partial = args
        .map(|(key, values)| {
            let mut bucketed = key.0.clone();
            bucketed.push(Datum::UInt(bucket_of(&values)));
            (Row(bucketed), values)
        })
        .reduce_named("MinMax(buckets)", move |_key: &Row, values: &[(&Row, Diff)], out: &mut Vec<(Row, Diff)>| {
            out.push((fold(&k1, values), 1));
        });
    partial
        .map(|(bucketed, extremes)| {
            let mut key = bucketed.0;
            key.pop();
            (Row(key), extremes)
        })
        .reduce_named("MinMax", move |_key: &Row, values: &[(&Row, Diff)], out: &mut Vec<(Row, Diff)>| {
            out.push((fold(&kinds, values), 1));
        })
}

/// For append-only input only: folds each container to one `(key, extremes)` per key and
/// time. Valid because nothing is ever retracted, so the extremes of the folded rows are the
/// extremes of all rows.
pub fn prefold<'s>(args: KeyedColl<'s>, kinds: Vec<Extreme>) -> KeyedColl<'s> {
    use differential_dataflow::AsCollection;
    use timely::dataflow::channels::pact::Pipeline;
    use timely::dataflow::operators::generic::Operator;
    args.inner
        .unary::<timely::container::CapacityContainerBuilder<Vec<_>>, _, _, _>(Pipeline, "MinMaxPrefold", move |_, _| {
            move |input, output| {
                // Fold everything delivered in this activation, per capability time: timely
                // containers are small, folding across them is what makes this worthwhile.
                let mut stash: crate::Stash<Row> = Default::default();
                input.for_each(|cap, data| {
                    let Some(&at) = cap.least() else { return };
                let entry = stash.entry(at).or_insert_with(|| (cap.delayed(&at, 0), Default::default()));
                    for ((key, values), t, d) in data.drain(..) {
                        if d <= 0 {
                            continue;
                        }
                        let slot = entry.1.entry((key, t)).or_insert_with(|| Row(vec![Datum::Null; kinds.len()]));
                        *slot = fold(&kinds, &[(&*slot, 1), (&values, 1)]);
                    }
                });
                for (_, (cap, folded)) in stash {
                    let mut session = output.session(&cap);
                    for ((key, t), extremes) in folded {
                        session.give(((key, extremes), t, 1 as Diff));
                    }
                }
            }
        })
        .as_collection()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_ignores_nulls_and_retracted_rows() {
        let kinds = [Extreme::Min, Extreme::Max];
        let (a, b, c) = (Row(vec![Datum::Int(3), Datum::Null]), Row(vec![Datum::Int(1), Datum::Int(7)]), Row(vec![Datum::Int(0), Datum::Int(9)]));
        let out = fold(&kinds, &[(&a, 1), (&b, 2), (&c, 0)]);
        assert_eq!(out, Row(vec![Datum::Int(1), Datum::Int(7)]));
        assert_eq!(fold(&kinds, &[]), Row(vec![Datum::Null, Datum::Null]));
    }
}
