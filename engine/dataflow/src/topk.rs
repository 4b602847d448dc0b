//! Top-k per partition: `ORDER BY … LIMIT`, `OFFSET`, and `ROW_NUMBER()/RANK()/DENSE_RANK()
//! OVER (PARTITION BY … ORDER BY …)`.
//!
//! Rows are grouped by the partition columns; each changed partition is re-sorted and its
//! first rows (after `offset`, at most `limit`) are emitted, optionally numbered. Ties in the
//! ORDER BY are broken by the whole row so the answer is deterministic.

use std::cmp::Ordering;

use illunare_plan::{Numbering, SortKey};
use illunare_types::{Datum, Diff, Row};

use crate::Coll;

pub struct TopKSpec {
    pub partition: Vec<usize>,
    pub order: Vec<SortKey>,
    pub offset: usize,
    pub limit: Option<usize>,
    pub numbering: Option<Numbering>,
}

/// Compares two rows by the ORDER BY keys only.
pub fn compare_keys(order: &[SortKey], a: &Row, b: &Row) -> Ordering {
    for key in order {
        let (x, y) = (&a[key.column], &b[key.column]);
        let ord = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => if key.nulls_first { Ordering::Less } else { Ordering::Greater },
            (false, true) => if key.nulls_first { Ordering::Greater } else { Ordering::Less },
            (false, false) => {
                let o = x.cmp(y);
                if key.descending { o.reverse() } else { o }
            }
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// The emitted rows of one partition.
pub fn top_rows(spec: &TopKSpec, values: &[(&Row, Diff)]) -> Vec<(Row, Diff)> {
    let mut sorted: Vec<(&Row, Diff)> = values.iter().filter(|(_, d)| *d > 0).map(|(r, d)| (*r, *d)).collect();
    sorted.sort_by(|a, b| compare_keys(&spec.order, a.0, b.0).then_with(|| a.0.cmp(b.0)));
    // For RANK/DENSE_RANK, `limit` bounds the rank (ties all pass), not the row count.
    let rank_bound = matches!(spec.numbering, Some(Numbering::Rank | Numbering::DenseRank)).then_some(spec.limit).flatten();
    let end = if rank_bound.is_some() { usize::MAX } else { spec.limit.map(|l| spec.offset.saturating_add(l)).unwrap_or(usize::MAX) };
    let mut out = Vec::new();
    let mut position = 0usize; // 0-based index among all copies
    let mut rank = 0usize;
    let mut dense = 0usize;
    let mut previous: Option<&Row> = None;
    for (row, count) in sorted {
        if position >= end {
            break;
        }
        let tie = previous.is_some_and(|p| compare_keys(&spec.order, p, row) == Ordering::Equal);
        if !tie {
            rank = position + 1;
            dense += 1;
        }
        previous = Some(row);
        if let Some(bound) = rank_bound {
            let value = if spec.numbering == Some(Numbering::Rank) { rank } else { dense };
            if value > bound {
                break;
            }
        }
        let count = count as usize;
        let first = position.max(spec.offset);
        let last = (position + count).min(end);
        if first < last {
            match spec.numbering {
                None => out.push((row.clone(), (last - first) as Diff)),
                Some(Numbering::RowNumber) => {
                    for n in first..last {
                        let mut r = row.clone();
                        r.0.push(Datum::UInt(n as u64 + 1));
                        out.push((r, 1));
                    }
                }
                Some(n) => {
                    let mut r = row.clone();
                    r.0.push(Datum::UInt(if n == Numbering::Rank { rank } else { dense } as u64));
                    out.push((r, (last - first) as Diff));
                }
            }
        }
        position += count;
    }
    out
}

pub fn render_topk<'s>(input: Coll<'s>, spec: TopKSpec) -> Coll<'s> {
    let partition = spec.partition.clone();
    input
        .map(move |row| (row.project(&partition), row))
        .reduce_named("TopK", move |_key: &Row, values: &[(&Row, Diff)], out: &mut Vec<(Row, Diff)>| {
            out.extend(top_rows(&spec, values));
        })
        .map(|(_, row)| row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use illunare_types::row;

    fn spec(limit: Option<usize>, offset: usize, numbering: Option<Numbering>) -> TopKSpec {
        TopKSpec { partition: vec![], order: vec![SortKey { column: 0, descending: true, nulls_first: false }], offset, limit, numbering }
    }

    #[test]
    fn limit_counts_duplicates_and_orders_nulls() {
        let (a, b, n) = (row![3i64], row![2i64], Row(vec![Datum::Null]));
        let values = vec![(&n, 1), (&b, 1), (&a, 2)];
        assert_eq!(top_rows(&spec(Some(3), 0, None), &values), vec![(a.clone(), 2), (b.clone(), 1)]);
        assert_eq!(top_rows(&spec(Some(2), 1, None), &values), vec![(a.clone(), 1), (b.clone(), 1)]);
        assert_eq!(top_rows(&spec(None, 3, None), &values), vec![(n.clone(), 1)]);
    }

    #[test]
    fn rank_limits_keep_ties() {
        let (a, b, c) = (row![3i64], row![2i64], row![1i64]);
        let values = vec![(&c, 1), (&b, 2), (&a, 1)];
        let out = top_rows(&spec(Some(2), 0, Some(Numbering::Rank)), &values);
        assert_eq!(out, vec![(row![3i64, Datum::UInt(1)], 1), (row![2i64, Datum::UInt(2)], 2)]);
        let out = top_rows(&spec(Some(1), 0, Some(Numbering::Rank)), &[(&b, 2), (&c, 1)]);
        assert_eq!(out, vec![(row![2i64, Datum::UInt(1)], 2)]);
    }

    #[test]
    fn numbering() {
        let (a, b) = (row![3i64], row![2i64]);
        let values = vec![(&b, 1), (&a, 2)];
        let rn: Vec<_> = top_rows(&spec(None, 0, Some(Numbering::RowNumber)), &values).into_iter().map(|(r, _)| r[1].clone()).collect();
        assert_eq!(rn, vec![Datum::UInt(1), Datum::UInt(2), Datum::UInt(3)]);
        let rank = top_rows(&spec(None, 0, Some(Numbering::Rank)), &values);
        assert_eq!(rank, vec![(row![3i64, Datum::UInt(1)], 2), (row![2i64, Datum::UInt(3)], 1)]);
        let dense = top_rows(&spec(None, 0, Some(Numbering::DenseRank)), &values);
        assert_eq!(dense[1].0[1], Datum::UInt(2));
    }
}
