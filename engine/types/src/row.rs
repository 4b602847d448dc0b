//! `Row`: an ordered tuple of datums, the record type of every collection in the dataflow.
//!
//! One concrete record type keeps differential's generic operators instantiated once
//! (compile time) and lets any operator exchange any collection.

use serde::{Deserialize, Serialize};

use crate::Datum;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Row(pub Vec<Datum>);

impl Row {
    pub fn new(datums: Vec<Datum>) -> Self {
        Row(datums)
    }

    pub fn empty() -> Self {
        Row(Vec::new())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, i: usize) -> &Datum {
        &self.0[i]
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Datum> {
        self.0.iter()
    }

    /// The datums at `indices`, in that order.
    pub fn project(&self, indices: &[usize]) -> Row {
        Row(indices.iter().map(|&i| self.0[i].clone()).collect())
    }

    /// `self` followed by `other`.
    pub fn concat(&self, other: &Row) -> Row {
        let mut v = Vec::with_capacity(self.len() + other.len());
        v.extend_from_slice(&self.0);
        v.extend_from_slice(&other.0);
        Row(v)
    }

    /// `self` followed by `n` NULLs (outer-join padding).
    pub fn pad_nulls(&self, n: usize) -> Row {
        let mut v = self.0.clone();
        v.extend(std::iter::repeat_n(Datum::Null, n));
        v.into()
    }

    /// `n` NULLs followed by `self`.
    pub fn nulls_then(n: usize, row: &Row) -> Row {
        let mut v: Vec<Datum> = std::iter::repeat_n(Datum::Null, n).collect();
        v.extend_from_slice(&row.0);
        Row(v)
    }

    pub fn has_null(&self) -> bool {
        self.0.iter().any(Datum::is_null)
    }
}

impl From<Vec<Datum>> for Row {
    fn from(v: Vec<Datum>) -> Self {
        Row(v)
    }
}

impl FromIterator<Datum> for Row {
    fn from_iter<I: IntoIterator<Item = Datum>>(iter: I) -> Self {
        Row(iter.into_iter().collect())
    }
}

impl std::ops::Index<usize> for Row {
    type Output = Datum;
    fn index(&self, i: usize) -> &Datum {
        &self.0[i]
    }
}

/// Build a row from expressions convertible to `Datum`: `row![1i64, "a", None::<f64>]`.
#[macro_export]
macro_rules! row {
    ($($x:expr),* $(,)?) => { $crate::Row(vec![$($crate::Datum::from($x)),*]) };
}
