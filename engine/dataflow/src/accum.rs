//! Accumulable aggregates (`count`, `sum`, `avg`) as differential diffs.
//!
//! Instead of re-reading a group's rows on every change, each input row becomes a diff
//! [`Accum`] (its count, non-NULL counts, integer and float sums); differential adds these up
//! per group as it consolidates, so a change costs O(1) per group whatever its size, and
//! retractions are just negative diffs. Integer sums are exact (i128); float sums are plain
//! f64 additions (order-dependent in the last bits, like every engine's `sum(double)`).

use illunare_plan::Aggregate;
use illunare_types::{Datum, F64};
use serde::{Deserialize, Serialize};

/// Most accumulable aggregates one Reduce can fast-path (more fall back to recomputation).
pub const SLOTS: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Accum {
    pub rows: i64,
    pub nonnull: [i64; SLOTS],
    pub ints: [i128; SLOTS],
    pub floats: [F64; SLOTS],
}

impl differential_dataflow::difference::IsZero for Accum {
    /// No rows and no non-NULL values: whatever float residue the sums carry (adding and then
    /// subtracting floats in another order need not give exactly 0) describes nothing, so the
    /// update can be dropped — which is what lets a retracted group's state go away.
    fn is_zero(&self) -> bool {
        self.rows == 0 && self.nonnull.iter().all(|n| *n == 0) && self.ints.iter().all(|n| *n == 0)
    }
}

impl differential_dataflow::difference::Semigroup for Accum {
    fn plus_equals(&mut self, rhs: &Self) {
        self.rows += rhs.rows;
        for i in 0..SLOTS {
            self.nonnull[i] += rhs.nonnull[i];
            self.ints[i] += rhs.ints[i];
            self.floats[i] = F64(self.floats[i].0 + rhs.floats[i].0);
        }
    }
}

impl differential_dataflow::difference::Monoid for Accum {
    fn zero() -> Self {
        Accum::default()
    }
}

impl differential_dataflow::difference::Abelian for Accum {
    fn negate(&mut self) {
        self.rows = -self.rows;
        for i in 0..SLOTS {
            self.nonnull[i] = -self.nonnull[i];
            self.ints[i] = -self.ints[i];
            self.floats[i] = F64(-self.floats[i].0);
        }
    }
}

impl differential_dataflow::difference::Multiply<isize> for Accum {
    type Output = Accum;
    fn multiply(mut self, rhs: &isize) -> Accum {
        let m = *rhs as i64;
        self.rows *= m;
        for i in 0..SLOTS {
            self.nonnull[i] *= m;
            self.ints[i] *= m as i128;
            self.floats[i] = F64(self.floats[i].0 * m as f64);
        }
        self
    }
}

/// What one fast-path aggregate computes from its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FastKind {
    Count,
    SumInt,
    SumUInt,
    SumFloat,
    AvgFloat,
}

/// Classifies `agg` for the fast path, or `None` when it must be recomputed from its group.
pub fn fast_kind(agg: &Aggregate) -> Option<FastKind> {
    use arrow::datatypes::DataType as D;
    let f = &agg.function;
    // FILTER is folded into the argument (`reduce.rs`, `argument`).
    if f.is_distinct() || !f.order_bys().is_empty() {
        return None;
    }
    let args = f.expressions();
    if args.len() != 1 {
        return None;
    }
    let out = f.field().data_type().clone();
    let name = f.fun().name().to_lowercase();
    match (name.as_str(), &out) {
        ("count", D::Int64) => Some(FastKind::Count),
        ("sum", D::Int64) => Some(FastKind::SumInt),
        ("sum", D::UInt64) => Some(FastKind::SumUInt),
        ("sum", D::Float64) => Some(FastKind::SumFloat),
        ("avg", D::Float64) => Some(FastKind::AvgFloat),
        _ => None,
    }
}

/// The diff contributed by one row whose fast-path arguments are `args`.
pub fn accum_of(kinds: &[FastKind], args: &[Datum]) -> Accum {
    let mut a = Accum { rows: 1, ..Accum::default() };
    for (i, (kind, d)) in kinds.iter().zip(args).enumerate() {
        if d.is_null() {
            continue;
        }
        a.nonnull[i] = 1;
        match kind {
            FastKind::Count => {}
            FastKind::SumInt | FastKind::SumUInt => {
                a.ints[i] = match d {
                    Datum::Int(v) => *v as i128,
                    Datum::UInt(v) => *v as i128,
                    Datum::Float(f) => f.0 as i128,
                    _ => 0,
                }
            }
            FastKind::SumFloat | FastKind::AvgFloat => a.floats[i] = F64(d.as_f64().unwrap_or(0.0)),
        }
    }
    a
}

/// The aggregate values of a group from its accumulated diff.
pub fn finish(kinds: &[FastKind], a: &Accum) -> Vec<Datum> {
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let n = a.nonnull[i];
            match kind {
                FastKind::Count => Datum::Int(n),
                _ if n == 0 => Datum::Null,
                FastKind::SumInt => Datum::Int(a.ints[i] as i64),
                FastKind::SumUInt => Datum::UInt(a.ints[i] as u64),
                FastKind::SumFloat => Datum::float(a.floats[i].0),
                FastKind::AvgFloat => Datum::float(a.floats[i].0 / n as f64),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use differential_dataflow::difference::{Abelian, IsZero, Multiply, Semigroup};

    use super::*;

    #[test]
    fn diffs_add_up_and_cancel() {
        let kinds = [FastKind::Count, FastKind::SumInt, FastKind::AvgFloat];
        let a = accum_of(&kinds, &[Datum::Int(1), Datum::Int(5), Datum::float(2.0)]);
        let b = accum_of(&kinds, &[Datum::Null, Datum::Int(-2), Datum::float(4.0)]);
        let mut total = a.multiply(&2);
        total.plus_equals(&b);
        assert_eq!(finish(&kinds, &total), vec![Datum::Int(2), Datum::Int(8), Datum::float(8.0 / 3.0)]);
        let mut back = b;
        back.negate();
        total.plus_equals(&back);
        let mut twice_a = a.multiply(&2);
        twice_a.negate();
        total.plus_equals(&twice_a);
        assert!(total.is_zero());
    }

    #[test]
    fn empty_groups_give_null_sums_and_zero_counts() {
        let kinds = [FastKind::Count, FastKind::SumFloat];
        let a = accum_of(&kinds, &[Datum::Null, Datum::Null]);
        assert_eq!(finish(&kinds, &a), vec![Datum::Int(0), Datum::Null]);
    }
}
