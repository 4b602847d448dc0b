//! Top-k over append-only input: each partition keeps only its first `offset + limit` rows.
//!
//! Over input that is never retracted, a row that is not among a partition's first
//! `offset + limit` rows when it arrives can never enter them later (rows only arrive, and each
//! one can only push it further down). So a partition needs no more state than those rows,
//! where differential's `reduce` (`topk.rs`) keeps every row of the partition in an arrangement
//! and re-sorts them all whenever the partition changes — Nexmark q6's winning bid per auction
//! kept all 1.8 M bids and re-sorted each auction's bids at every tick it received one.
//!
//! ```text
//!  rows ─exchange by partition─► per completed time, in time order, per touched partition:
//!      merge the new rows into the kept ones, cut to offset + limit,
//!      emit −(old top rows) +(new top rows)   (`topk::top_rows`, numbering included)
//! ```
//! Only for `LIMIT`s without ties allowed past the limit: no numbering or ROW_NUMBER. RANK and
//! DENSE_RANK keep every row tied with the last one, which no fixed count bounds.

use std::cmp::Ordering;
use std::collections::HashMap;

use differential_dataflow::AsCollection;
use differential_dataflow::consolidation::consolidate;
use illunare_plan::Numbering;
use illunare_types::{Diff, Row, Time};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use crate::Coll;
use crate::time_order::ByTime;
use crate::topk::{TopKSpec, compare_keys, top_rows};

/// Whether `spec` can run append-only: a finite `LIMIT`, no numbering or ROW_NUMBER.
pub fn applies(spec: &TopKSpec) -> bool {
    spec.limit.is_some() && matches!(spec.numbering, None | Some(Numbering::RowNumber))
}


/// The order `top_rows` emits rows in: the ORDER BY keys, ties broken by the whole row.
fn order(spec: &TopKSpec, a: &Row, b: &Row) -> Ordering {
    compare_keys(&spec.order, a, b).then_with(|| a.cmp(b))
}

/// Merges `new` rows into a partition's `kept` rows (sorted) and keeps the first `keep` copies.
fn merge(spec: &TopKSpec, kept: &mut Vec<(Row, Diff)>, new: Vec<Row>, keep: usize) {
    kept.extend(new.into_iter().map(|r| (r, 1)));
    kept.sort_by(|a, b| order(spec, &a.0, &b.0));
    consolidate(kept);
    kept.sort_by(|a, b| order(spec, &a.0, &b.0));
    let mut copies = 0usize;
    let mut cut = kept.len();
    for (i, (_, d)) in kept.iter_mut().enumerate() {
        if copies >= keep {
            cut = i;
            break;
        }
        let room = (keep - copies) as Diff;
        if *d > room {
            *d = room;
        }
        copies += *d as usize;
    }
    kept.truncate(cut);
}

/// Renders the top-k of append-only `input` (see the module doc); `applies(&spec)` must hold.
pub fn render_append_topk<'s>(input: Coll<'s>, spec: TopKSpec) -> Coll<'s> {
    let partition = spec.partition.clone();
    let keep = spec.offset.saturating_add(spec.limit.unwrap_or(usize::MAX));
    let exchange = Exchange::new(move |(row, _, _): &(Row, Time, Diff)| crate::key_hash(&row.project(&partition)));
    input
        .inner
        .unary_frontier::<timely::container::CapacityContainerBuilder<Vec<_>>, _, _, _>(exchange, "TopK(append-only)", move |_, _| {
            let mut pending: ByTime<Vec<Row>> = ByTime::default();
            let mut partitions: HashMap<Row, Vec<(Row, Diff)>> = HashMap::new();
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    for (row, t, d) in data.drain(..) {
                        let slot = pending.at(t, || cap.delayed(&t, 0));
                        for _ in 0..d.max(0) {
                            slot.push(row.clone());
                        }
                    }
                });
                while let Some((t, cap, rows)) = pending.pop_complete(frontier.frontier()) {
                    let mut by_partition: HashMap<Row, Vec<Row>> = HashMap::new();
                    for row in rows {
                        by_partition.entry(row.project(&spec.partition)).or_default().push(row);
                    }
                    let mut changes: Vec<(Row, Diff)> = Vec::new();
                    for (key, new) in by_partition {
                        let kept = partitions.entry(key).or_default();
                        let view = |kept: &Vec<(Row, Diff)>| {
                            let refs: Vec<(&Row, Diff)> = kept.iter().map(|(r, d)| (r, *d)).collect();
                            top_rows(&spec, &refs)
                        };
                        let before = view(kept);
                        merge(&spec, kept, new, keep);
                        changes.extend(before.into_iter().map(|(r, d)| (r, -d)));
                        changes.extend(view(kept));
                    }
                    consolidate(&mut changes);
                    output.session(&cap).give_iterator(changes.into_iter().map(|(r, d)| (r, t, d)));
                }
            }
        })
        .as_collection()
}

#[cfg(test)]
mod tests {
    use illunare_plan::SortKey;
    use illunare_types::row;

    use super::*;

    fn spec(limit: usize, offset: usize) -> TopKSpec {
        TopKSpec { partition: vec![], order: vec![SortKey { column: 0, descending: true, nulls_first: false }], offset, limit: Some(limit), numbering: None }
    }

    /// Keeping only the first rows gives the same top rows as sorting all of them.
    #[test]
    fn kept_rows_give_the_top_of_all_rows() {
        let rows: Vec<Row> = [5i64, 1, 9, 9, 3, 7, 9, 2].iter().map(|v| row![*v]).collect();
        for (limit, offset) in [(1, 0), (2, 0), (2, 1), (3, 2)] {
            let s = spec(limit, offset);
            let mut kept = Vec::new();
            for chunk in rows.chunks(3) {
                merge(&s, &mut kept, chunk.to_vec(), limit + offset);
            }
            let all: Vec<(&Row, Diff)> = rows.iter().map(|r| (r, 1)).collect();
            let refs: Vec<(&Row, Diff)> = kept.iter().map(|(r, d)| (r, *d)).collect();
            let (mut got, mut want) = (top_rows(&s, &refs), top_rows(&s, &all));
            consolidate(&mut got);
            consolidate(&mut want);
            assert_eq!(got, want, "limit {limit} offset {offset}");
        }
        assert!(applies(&spec(1, 0)));
        assert!(!applies(&TopKSpec { numbering: Some(Numbering::Rank), ..spec(1, 0) }));
        assert!(!applies(&TopKSpec { limit: None, ..spec(1, 0) }));
    }
}
