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
    if agg.filter.is_some() || !f.order_bys().is_empty() || f.expressions().len() != 1 {
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

fn fold(kinds: &[Extreme], values: &[(&Row, Diff)]) -> Row {
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
