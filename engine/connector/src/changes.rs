//! What one sink commit amounts to: the net change per key (upsert mode: a table kept equal to
//! the view, a compacted Kafka topic) or the rows to append (append mode). Pure functions, no
//! I/O, shared by the sinks that key their output.
//!
//! Why reduce per commit: a commit may hold many updates of one key (a count that went
//! 1 → 2 → 3 within the commit interval is `+1`, `-1`, `+2`, `-2`, `+3`). Summing the diffs of
//! each full row first (across all times of the commit) and then grouping by key leaves per key
//! at most one row with a positive net count (the key's final row: upsert it) or only
//! retractions (delete the key) or nothing (the changes cancelled out). More than one live row
//! for a key means the declared key is not a key of the view: the table cannot equal the view,
//! so the commit fails (with the key and rows in the message) instead of silently picking one.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use illunare_types::{Datum, Diff, Row, Time};

/// The net effect of a commit in upsert mode.
#[derive(Debug, Default, PartialEq)]
pub struct Reduction<'a> {
    /// The final row of each key that has one.
    pub upserts: Vec<&'a Row>,
    /// For each of `upserts`, the row it replaces when the commit retracted one (a Debezium
    /// `before`); `None` for a key new in this commit.
    pub replaced: Vec<Option<&'a Row>>,
    /// A row carrying each key to delete (only its key columns are used).
    pub deletes: Vec<&'a Row>,
}

impl Reduction<'_> {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.deletes.is_empty()
    }
}

/// Why a commit cannot be applied.
#[derive(Debug, PartialEq)]
pub enum ReduceError<'a> {
    /// Several live rows (or one row more than once) for one key.
    DuplicateKey { key: Vec<&'a Datum>, count: Diff, rows: Vec<&'a Row> },
    /// A live row with NULL in key column `column` (an index into the row).
    NullKey { column: usize, row: &'a Row },
    /// A retraction in append mode.
    Retraction { row: &'a Row, time: Time },
}

/// A row's key columns, hashed and compared in place: no allocation per update.
#[derive(Clone, Copy)]
struct KeyOf<'a> {
    row: &'a Row,
    key: &'a [usize],
}

impl Hash for KeyOf<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for &i in self.key {
            self.row.get(i).hash(state);
        }
    }
}

impl PartialEq for KeyOf<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.key.iter().all(|&i| self.row.get(i) == other.row.get(i))
    }
}

impl Eq for KeyOf<'_> {}

/// Reduces `updates` to one upsert or delete per key (`key`: column indices).
///
/// One pass: updates are grouped by key (hashing only the key columns), and within a key the
/// diffs of equal rows are summed in a short list (a key's list holds the rows whose net count
/// is not zero yet: usually the row it had before the commit and its newest row).
pub fn reduce<'a>(updates: impl IntoIterator<Item = &'a (Row, Time, Diff)>, key: &'a [usize]) -> Result<Reduction<'a>, ReduceError<'a>> {
    let mut keys: HashMap<KeyOf<'a>, Vec<(&'a Row, Diff)>, ahash::RandomState> = HashMap::default();
    for (row, _, diff) in updates {
        if *diff == 0 {
            continue;
        }
        let rows = keys.entry(KeyOf { row, key }).or_default();
        match rows.iter().position(|(r, _)| *r == row) {
            Some(at) => {
                rows[at].1 += diff;
                if rows[at].1 == 0 {
                    rows.swap_remove(at);
                }
            }
            None => rows.push((row, *diff)),
        }
    }
    let mut out = Reduction::default();
    for (k, rows) in keys {
        let mut live = rows.iter().filter(|(_, n)| *n > 0);
        let retracted = rows.iter().find(|(_, n)| *n < 0).map(|(r, _)| *r);
        match (live.next(), live.next()) {
            (None, _) => {
                if let Some(row) = retracted {
                    out.deletes.push(row);
                }
            }
            (Some((row, 1)), None) => {
                if let Some(position) = key.iter().position(|&i| row.get(i).is_null()) {
                    return Err(ReduceError::NullKey { column: key[position], row });
                }
                out.upserts.push(row);
                out.replaced.push(retracted);
            }
            _ => {
                let live: Vec<&(&Row, Diff)> = rows.iter().filter(|(_, n)| *n > 0).collect();
                let mut shown: Vec<&Row> = live.iter().map(|(r, _)| *r).collect();
                shown.sort();
                return Err(ReduceError::DuplicateKey { key: key.iter().map(|&i| k.row.get(i)).collect(), count: live.iter().map(|(_, n)| n).sum(), rows: shown });
            }
        }
    }
    Ok(out)
}

/// The rows an append-mode commit inserts (each as often as its count). Retractions are an
/// error unless `ignore_retractions`.
pub fn append<'a>(updates: impl IntoIterator<Item = &'a (Row, Time, Diff)>, ignore_retractions: bool) -> Result<Vec<(&'a Row, usize)>, ReduceError<'a>> {
    let mut out = Vec::new();
    for (row, time, diff) in updates {
        if *diff > 0 {
            out.push((row, diff.unsigned_abs()));
        } else if *diff < 0 && !ignore_retractions {
            return Err(ReduceError::Retraction { row, time: *time });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(k: i64, v: &str) -> Row {
        Row(vec![Datum::Int(k), Datum::str(v)])
    }

    fn sorted(mut rows: Vec<&Row>) -> Vec<&Row> {
        rows.sort();
        rows
    }

    #[test]
    fn net_change_per_key() {
        let updates = vec![
            (r(1, "a"), 1, 1),  // insert key 1
            (r(2, "b"), 1, -1), // key 2 retracted, then re-inserted: update
            (r(2, "c"), 1, 1),
            (r(3, "x"), 1, -1), // key 3 only retracted: delete
            (r(4, "p"), 1, 1),  // key 4 inserted then retracted: nothing
            (r(4, "p"), 2, -1),
            (r(5, "s"), 1, 1), // key 5: 1 → 2 → 3 within the commit
            (r(5, "s"), 2, -1),
            (r(5, "t"), 2, 1),
            (r(5, "t"), 3, -1),
            (r(5, "u"), 3, 1),
        ];
        let red = reduce(&updates, &[0]).unwrap();
        assert_eq!(sorted(red.upserts), vec![&r(1, "a"), &r(2, "c"), &r(5, "u")]);
        assert_eq!(red.deletes, vec![&r(3, "x")]);
    }

    #[test]
    fn whole_row_keys() {
        let updates = vec![(r(1, "a"), 1, 1), (r(1, "b"), 1, 1), (r(2, "a"), 1, -1)];
        let red = reduce(&updates, &[0, 1]).unwrap();
        assert_eq!(sorted(red.upserts), vec![&r(1, "a"), &r(1, "b")]);
        assert_eq!(red.deletes, vec![&r(2, "a")]);
        // A row twice is two live rows of one key.
        let twice = vec![(r(1, "a"), 1, 2)];
        assert!(matches!(reduce(&twice, &[0, 1]), Err(ReduceError::DuplicateKey { count: 2, .. })));
    }

    #[test]
    fn two_live_rows_for_a_key_fail() {
        let updates = vec![(r(7, "a"), 1, 1), (r(7, "b"), 2, 1), (r(8, "c"), 2, 1)];
        match reduce(&updates, &[0]) {
            Err(ReduceError::DuplicateKey { key, count, rows }) => {
                assert_eq!(key, vec![&Datum::Int(7)]);
                assert_eq!(count, 2);
                assert_eq!(rows, vec![&r(7, "a"), &r(7, "b")]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn null_keys_fail() {
        let row = Row(vec![Datum::Null, Datum::str("a")]);
        let updates = vec![(row.clone(), 1, 1)];
        assert_eq!(reduce(&updates, &[0]), Err(ReduceError::NullKey { column: 0, row: &row }));
    }

    #[test]
    fn append_only() {
        let updates = vec![(r(1, "a"), 1, 2), (r(2, "b"), 2, -1)];
        assert!(matches!(append(&updates, false), Err(ReduceError::Retraction { time: 2, .. })));
        assert_eq!(append(&updates, true).unwrap(), vec![(&r(1, "a"), 2)]);
    }
}
