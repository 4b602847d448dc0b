//! Secondary indexes of a served snapshot: equality lookups on columns that do not lead the
//! row order.
//!
//! A snapshot keeps its rows in a B-tree ordered by the whole row, so a filter that fixes the
//! leading columns (an aggregate's GROUP BY keys written first) is a range read. Any other
//! filter would scan every row. When a reader asks for rows by some other set of columns, an
//! index of exactly those columns is built once, under the snapshot's lock, and from then on
//! kept current by every commit — the way Materialize serves a view from an index on the
//! columns users look it up by, except that here the first lookup creates it. At most
//! [`MAX_INDEXES`] per snapshot, so a client trying every column cannot multiply its memory
//! without bound; past that, filters scan.

use std::collections::BTreeSet;
use std::ops::Bound;

use illunare_types::{Datum, Row};

/// Secondary indexes a snapshot builds on demand.
pub const MAX_INDEXES: usize = 4;

/// The rows of a snapshot by the values of `columns`.
#[derive(Debug, Clone)]
pub(crate) struct ColumnIndex {
    pub columns: Vec<usize>,
    /// (the row's values of `columns`, the row): rows sharing the values sort together.
    entries: BTreeSet<(Row, Row)>,
}

impl ColumnIndex {
    /// An index of `rows` by `columns`.
    pub fn build<'r>(columns: Vec<usize>, rows: impl Iterator<Item = &'r Row>) -> ColumnIndex {
        let mut index = ColumnIndex { columns, entries: BTreeSet::new() };
        for row in rows {
            index.insert(row);
        }
        index
    }

    fn key(&self, row: &Row) -> Row {
        Row(self.columns.iter().map(|&c| row.0.get(c).cloned().unwrap_or(Datum::Null)).collect())
    }

    /// A row the snapshot started holding.
    pub fn insert(&mut self, row: &Row) {
        self.entries.insert((self.key(row), row.clone()));
    }

    /// A row the snapshot no longer holds.
    pub fn remove(&mut self, row: &Row) {
        let key = self.key(row);
        self.entries.remove(&(key, row.clone()));
    }

    /// The rows whose `columns` equal `values`.
    pub fn get<'a>(&'a self, values: &Row) -> impl Iterator<Item = &'a Row> + 'a {
        let start = (values.clone(), Row(Vec::new()));
        let values = values.clone();
        self.entries.range((Bound::Included(start), Bound::Unbounded)).take_while(move |(k, _)| *k == values).map(|(_, row)| row)
    }

    /// Estimated bytes of one entry for `row` (its key and its copy of the row).
    pub fn entry_bytes(&self, row_bytes: u64) -> u64 {
        row_bytes + (self.columns.len() * std::mem::size_of::<Datum>() + std::mem::size_of::<Row>()) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(k: i64, v: &str) -> Row {
        Row(vec![Datum::Int(k), Datum::Str(v.into())])
    }

    #[test]
    fn rows_are_found_by_a_non_leading_column_and_follow_changes() {
        let rows = [row(1, "a"), row(2, "b"), row(3, "a")];
        let mut index = ColumnIndex::build(vec![1], rows.iter());
        let key = Row(vec![Datum::Str("a".into())]);
        assert_eq!(index.get(&key).cloned().collect::<Vec<_>>(), vec![row(1, "a"), row(3, "a")]);
        index.remove(&row(1, "a"));
        index.insert(&row(4, "a"));
        assert_eq!(index.get(&key).cloned().collect::<Vec<_>>(), vec![row(3, "a"), row(4, "a")]);
        assert_eq!(index.get(&Row(vec![Datum::Str("z".into())])).count(), 0);
    }
}
