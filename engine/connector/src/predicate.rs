//! Simple column predicates the engine hands to a source for pruning ([`crate::Source::prune`]).
//!
//! Only what file statistics can decide is expressible: one declared column compared with a
//! literal, a range, or `IS NOT NULL`. Pruning is an optimisation: the engine still evaluates
//! the whole filter on every row a source delivers, so a source may ignore any predicate, and
//! may skip a part of its data (a Parquet row group) only when no row there can satisfy it.
//!
//! Literals are [`Datum`]s in the column's declared type (a `Timestamp` in the column's unit, a
//! `Decimal` at its scale); the engine only builds predicates whose literal has exactly the
//! column's type, so comparing datums of the same variant is comparing values.

use std::cmp::Ordering;

use illunare_types::Datum;

/// `column <op> literal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl CompareOp {
    /// The operator seen from the other side (`5 < x` is `x > 5`).
    pub fn flip(self) -> CompareOp {
        match self {
            CompareOp::Eq => CompareOp::Eq,
            CompareOp::Lt => CompareOp::Gt,
            CompareOp::LtEq => CompareOp::GtEq,
            CompareOp::Gt => CompareOp::Lt,
            CompareOp::GtEq => CompareOp::LtEq,
        }
    }
}

/// One conjunct of a filter over a source's declared columns (by index).
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnPredicate {
    Compare { column: usize, op: CompareOp, value: Datum },
    /// `low <= column <= high`.
    Between { column: usize, low: Datum, high: Datum },
    IsNotNull { column: usize },
}

impl ColumnPredicate {
    pub fn column(&self) -> usize {
        match self {
            ColumnPredicate::Compare { column, .. } | ColumnPredicate::Between { column, .. } | ColumnPredicate::IsNotNull { column } => *column,
        }
    }

    /// Whether a part whose non-NULL values of the column lie within `[min, max]` (either bound
    /// unknown: `None`) may hold a row satisfying the predicate. `all_null`: every value of the
    /// column in the part is NULL (no comparison is then true). Answers `true` whenever unsure.
    pub fn may_match(&self, min: Option<&Datum>, max: Option<&Datum>, all_null: bool) -> bool {
        if all_null {
            return false;
        }
        let cmp = |a: Option<&Datum>, b: &Datum| a.and_then(|a| compare(a, b));
        match self {
            ColumnPredicate::IsNotNull { .. } => true,
            ColumnPredicate::Compare { op, value, .. } => match op {
                CompareOp::Eq => !(cmp(min, value) == Some(Ordering::Greater) || cmp(max, value) == Some(Ordering::Less)),
                CompareOp::Lt => cmp(min, value) != Some(Ordering::Greater) && cmp(min, value) != Some(Ordering::Equal),
                CompareOp::LtEq => cmp(min, value) != Some(Ordering::Greater),
                CompareOp::Gt => cmp(max, value) != Some(Ordering::Less) && cmp(max, value) != Some(Ordering::Equal),
                CompareOp::GtEq => cmp(max, value) != Some(Ordering::Less),
            },
            ColumnPredicate::Between { low, high, .. } => {
                cmp(max, low) != Some(Ordering::Less) && cmp(min, high) != Some(Ordering::Greater)
            }
        }
    }
}

/// The order of two non-NULL datums of the same kind; `None` when they cannot be compared
/// safely (different kinds, NULL, or floats, whose NaNs Parquet statistics leave out).
pub fn compare(a: &Datum, b: &Datum) -> Option<Ordering> {
    if a.is_null() || b.is_null() || std::mem::discriminant(a) != std::mem::discriminant(b) {
        return None;
    }
    if matches!(a, Datum::Float(_)) {
        return None;
    }
    Some(a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(op: CompareOp, v: i64) -> ColumnPredicate {
        ColumnPredicate::Compare { column: 0, op, value: Datum::Int(v) }
    }

    #[test]
    fn ranges_decide_only_when_sure() {
        let (min, max) = (Datum::Int(10), Datum::Int(20));
        let m = |pred: &ColumnPredicate| pred.may_match(Some(&min), Some(&max), false);
        assert!(m(&p(CompareOp::Eq, 10)) && m(&p(CompareOp::Eq, 20)) && !m(&p(CompareOp::Eq, 9)) && !m(&p(CompareOp::Eq, 21)));
        assert!(!m(&p(CompareOp::Lt, 10)) && m(&p(CompareOp::Lt, 11)) && m(&p(CompareOp::LtEq, 10)) && !m(&p(CompareOp::LtEq, 9)));
        assert!(!m(&p(CompareOp::Gt, 20)) && m(&p(CompareOp::Gt, 19)) && m(&p(CompareOp::GtEq, 20)) && !m(&p(CompareOp::GtEq, 21)));
        let between = |l, h| ColumnPredicate::Between { column: 0, low: Datum::Int(l), high: Datum::Int(h) };
        assert!(m(&between(0, 10)) && m(&between(20, 30)) && !m(&between(21, 30)) && !m(&between(0, 9)));
        assert!(p(CompareOp::Eq, 99).may_match(None, None, false), "no statistics: keep");
        assert!(!ColumnPredicate::IsNotNull { column: 0 }.may_match(None, None, true), "only NULLs");
        let float = ColumnPredicate::Compare { column: 0, op: CompareOp::Gt, value: Datum::float(5.0) };
        assert!(float.may_match(Some(&Datum::float(1.0)), Some(&Datum::float(2.0)), false), "NaN is not in float statistics");
        assert!(p(CompareOp::Eq, 1).may_match(Some(&Datum::str("a")), Some(&Datum::str("b")), false), "kinds differ: keep");
    }
}
