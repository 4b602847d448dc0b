//! Interval joins: finding, in an inner join's residual, the conditions that bound one side's
//! time by the other's plus or minus constant intervals.
//!
//! ```sql
//! FROM auction a JOIN bid b ON a.id = b.auction
//!   AND b.date_time BETWEEN a.date_time AND a.date_time + INTERVAL '1' HOUR
//! ```
//! bounds `b.date_time - a.date_time` to `[0, 1 h]`: an auction only ever matches bids of the
//! hour after it, a bid only auctions of the moment before it. The bounds go into the IR
//! ([`IntervalBounds`] on `Node::Join`) next to the residual, which keeps the conditions and is
//! still evaluated; the dataflow uses them to release rows that can no longer match
//! (`engine/dataflow/src/interval_join.rs`, `docs/design/interval-joins.md`).
//!
//! Recognised, among the top-level `AND` conjuncts of the residual: `x < y`, `x <= y`, `x > y`,
//! `x >= y` and `x BETWEEN y AND z` (not `NOT BETWEEN`), where each operand is a TIMESTAMP column
//! plus or minus constant intervals, the two compared columns coming one from each side and of
//! the same type. An interval must have a fixed length in the column's unit: no months, no days
//! on a timestamp with a time zone (such a day lasts 23 to 25 hours), and a whole number of the
//! column's unit (so the addition is exact and a bound cannot be rounded the wrong way). A strict
//! bound is recorded as the non-strict one it implies. The tightest bound of each kind is kept
//! per pair of columns; the columns may differ between the lower and the upper bound
//! (`b.date_time BETWEEN a.date_time AND a.expires`). Which bounds let rows be released depends
//! on which columns carry each side's event time, which only the dataflow knows.

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Between, Expr as DfExpr, Operator};
use illunare_plan::{IntervalBounds, TimeBound};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

/// A time column of one side plus a constant offset in nanoseconds.
#[derive(Debug)]
struct Term {
    side: Side,
    column: usize,
    data_type: DataType,
    offset_ns: i128,
}

/// `right - left <= ns` (`upper`) or `right - left >= ns`, for the columns `left` / `right`.
#[derive(Debug, PartialEq, Eq)]
struct Bound {
    left: usize,
    right: usize,
    upper: bool,
    ns: i128,
}

/// The interval bounds that `residual` (over `left ++ right`) puts on an inner join, if any.
pub fn interval_bounds(residual: Option<&DfExpr>, left: &DFSchema, right: &DFSchema) -> Option<IntervalBounds> {
    let mut bounds = Vec::new();
    for conjunct in split_conjunction(residual?) {
        match conjunct {
            DfExpr::BinaryExpr(b) => bounds.extend(comparison(&b.left, b.op, &b.right, left, right)),
            DfExpr::Between(Between { expr, negated: false, low, high }) => {
                bounds.extend(comparison(expr, Operator::GtEq, low, left, right));
                bounds.extend(comparison(expr, Operator::LtEq, high, left, right));
            }
            _ => {}
        }
    }
    let mut tightest: Vec<TimeBound> = Vec::new();
    for b in &bounds {
        let Ok(ns) = i64::try_from(b.ns) else { continue };
        match tightest.iter_mut().find(|t| t.left == b.left && t.right == b.right && t.upper == b.upper) {
            Some(t) => t.ns = if b.upper { t.ns.min(ns) } else { t.ns.max(ns) },
            None => tightest.push(TimeBound { left: b.left, right: b.right, upper: b.upper, ns }),
        }
    }
    (!tightest.is_empty()).then_some(IntervalBounds { bounds: tightest })
}

/// `x op y` as a bound on `right - left`, when `x` and `y` are terms of opposite sides.
fn comparison(x: &DfExpr, op: Operator, y: &DfExpr, left: &DFSchema, right: &DFSchema) -> Option<Bound> {
    let less = match op {
        Operator::Lt | Operator::LtEq => true,
        Operator::Gt | Operator::GtEq => false,
        _ => return None,
    };
    let (a, b) = (term(x, left, right)?, term(y, left, right)?);
    if a.data_type != b.data_type {
        return None;
    }
    match (a.side, b.side) {
        // r + ao (op) l + bo  ⇔  r - l (op) bo - ao
        (Side::Right, Side::Left) => Some(Bound { left: b.column, right: a.column, upper: less, ns: b.offset_ns - a.offset_ns }),
        // l + ao (op) r + bo  ⇔  r - l (flipped op) ao - bo
        (Side::Left, Side::Right) => Some(Bound { left: a.column, right: b.column, upper: !less, ns: a.offset_ns - b.offset_ns }),
        _ => None,
    }
}

/// A TIMESTAMP column of one side plus or minus fixed-length interval literals.
fn term(e: &DfExpr, left: &DFSchema, right: &DFSchema) -> Option<Term> {
    match e {
        DfExpr::Column(c) => resolve(c, left, right),
        DfExpr::BinaryExpr(b) if matches!(b.op, Operator::Plus | Operator::Minus) => {
            let (inner, value, sign) = match (&*b.left, &*b.right) {
                (inner, DfExpr::Literal(v, _)) => (inner, v, if b.op == Operator::Plus { 1 } else { -1 }),
                (DfExpr::Literal(v, _), inner) if b.op == Operator::Plus => (inner, v, 1),
                _ => return None,
            };
            let mut t = term(inner, left, right)?;
            let DataType::Timestamp(unit, tz) = &t.data_type else { return None };
            let ns = interval_ns(value, tz.is_some())?;
            if ns % unit_ns(*unit) != 0 {
                return None;
            }
            t.offset_ns += sign * ns;
            Some(t)
        }
        _ => None,
    }
}

/// The column `c` of exactly one side, if it is a TIMESTAMP.
fn resolve(c: &Column, left: &DFSchema, right: &DFSchema) -> Option<Term> {
    let (side, schema, column) = match (left.index_of_column(c), right.index_of_column(c)) {
        (Ok(i), Err(_)) => (Side::Left, left, i),
        (Err(_), Ok(i)) => (Side::Right, right, i),
        _ => return None,
    };
    let data_type = schema.field(column).data_type().clone();
    matches!(data_type, DataType::Timestamp(..)).then_some(Term { side, column, data_type, offset_ns: 0 })
}

const DAY_NS: i128 = 86_400_000_000_000;

/// Nanoseconds of a fixed-length interval or duration literal.
fn interval_ns(v: &ScalarValue, zoned: bool) -> Option<i128> {
    let days = |d: i32| (d == 0 || !zoned).then_some(i128::from(d) * DAY_NS);
    match v {
        ScalarValue::IntervalMonthDayNano(Some(i)) if i.months == 0 => Some(days(i.days)? + i128::from(i.nanoseconds)),
        ScalarValue::IntervalDayTime(Some(i)) => Some(days(i.days)? + i128::from(i.milliseconds) * 1_000_000),
        ScalarValue::IntervalYearMonth(Some(0)) => Some(0),
        ScalarValue::DurationSecond(Some(s)) => Some(i128::from(*s) * 1_000_000_000),
        ScalarValue::DurationMillisecond(Some(ms)) => Some(i128::from(*ms) * 1_000_000),
        ScalarValue::DurationMicrosecond(Some(us)) => Some(i128::from(*us) * 1_000),
        ScalarValue::DurationNanosecond(Some(ns)) => Some(i128::from(*ns)),
        _ => None,
    }
}

fn unit_ns(unit: TimeUnit) -> i128 {
    match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{Field, Schema};
    use datafusion::logical_expr::{col, lit, not};

    use super::*;

    fn schema(qualifier: &str, tz: Option<&str>) -> DFSchema {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, tz.map(Arc::from));
        let fields = Schema::new(vec![Field::new("id", DataType::Int64, true), Field::new("ts", ts, true)]);
        DFSchema::try_from_qualified_schema(qualifier, &fields).expect("schema")
    }

    fn hours(h: i32) -> DfExpr {
        lit(ScalarValue::new_interval_mdn(0, 0, i64::from(h) * 3_600_000_000_000))
    }

    const HOUR: i64 = 3_600_000_000_000;

    fn bounds(e: DfExpr) -> Option<IntervalBounds> {
        interval_bounds(Some(&e), &schema("a", None), &schema("b", None))
    }

    /// `lower <= b.ts - a.ts <= upper` on the `ts` columns.
    fn pair(lower: i64, upper: i64) -> Option<IntervalBounds> {
        Some(IntervalBounds {
            bounds: vec![TimeBound { left: 1, right: 1, upper: false, ns: lower }, TimeBound { left: 1, right: 1, upper: true, ns: upper }],
        })
    }

    /// The bounds sorted (lower first), for comparisons that do not depend on their order.
    fn sorted(b: Option<IntervalBounds>) -> Option<IntervalBounds> {
        b.map(|mut b| {
            b.bounds.sort_by_key(|t| (t.upper, t.left, t.right));
            b
        })
    }

    #[test]
    fn between_and_comparisons_in_either_order() {
        let expected = pair(0, HOUR);
        let bounds = |e| sorted(bounds(e));
        assert_eq!(bounds(col("b.ts").between(col("a.ts"), col("a.ts") + hours(1))), expected);
        assert_eq!(bounds(col("b.ts").gt_eq(col("a.ts")).and(col("b.ts").lt(col("a.ts") + hours(1)))), expected);
        // Mirrored: a.ts + 1h > b.ts and a.ts <= b.ts.
        assert_eq!(bounds((col("a.ts") + hours(1)).gt(col("b.ts")).and(col("a.ts").lt_eq(col("b.ts")))), expected);
        // Offsets on both sides, and the tightest of several bounds.
        let e = (col("b.ts") - hours(2)).gt_eq(col("a.ts") - hours(3)).and(col("b.ts").lt_eq(col("a.ts") + hours(5))).and(col("b.ts").lt(col("a.ts") + hours(4)));
        assert_eq!(bounds(e), pair(-HOUR, 4 * HOUR));
    }

    #[test]
    fn bounds_on_different_columns_and_single_bounds_are_kept() {
        // b.ts BETWEEN a.ts AND a.until: a lower bound on (ts, ts), an upper one on (until, ts).
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let fields = Schema::new(vec![Field::new("ts", ts.clone(), true), Field::new("until", ts, true)]);
        let a = DFSchema::try_from_qualified_schema("a", &fields).expect("schema");
        let found = interval_bounds(Some(&col("b.ts").between(col("a.ts"), col("a.until"))), &a, &schema("b", None));
        let expected = IntervalBounds {
            bounds: vec![TimeBound { left: 0, right: 1, upper: false, ns: 0 }, TimeBound { left: 1, right: 1, upper: true, ns: 0 }],
        };
        assert_eq!(sorted(found), Some(expected));
        let single = bounds(col("b.ts").gt_eq(col("a.ts")));
        assert_eq!(single, Some(IntervalBounds { bounds: vec![TimeBound { left: 1, right: 1, upper: false, ns: 0 }] }));
    }

    /// Only the plain lower bound `b.ts >= a.ts` (0 ns) of a BETWEEN whose upper end is unusable.
    fn lower_only() -> Option<IntervalBounds> {
        Some(IntervalBounds { bounds: vec![TimeBound { left: 1, right: 1, upper: false, ns: 0 }] })
    }

    #[test]
    fn months_zoned_days_or_same_side_are_not_intervals() {
        let months = lit(ScalarValue::new_interval_mdn(1, 0, 0));
        assert_eq!(bounds(col("b.ts").between(col("a.ts"), col("a.ts") + months)), lower_only());
        assert_eq!(bounds(col("a.ts").between(col("a.ts") - hours(1), col("a.ts") + hours(1))), None);
        assert_eq!(bounds(not(col("b.ts").between(col("a.ts"), col("a.ts") + hours(1)))), None);
        let day = lit(ScalarValue::new_interval_mdn(0, 1, 0));
        let zoned = interval_bounds(
            Some(&col("b.ts").between(col("a.ts"), col("a.ts") + day.clone())),
            &schema("a", Some("+01:00")),
            &schema("b", Some("+01:00")),
        );
        assert_eq!(zoned, lower_only());
        let plain = bounds(col("b.ts").between(col("a.ts"), col("a.ts") + day));
        assert_eq!(plain.and_then(|b| b.bounds.iter().find(|t| t.upper).map(|t| t.ns)), Some(24 * HOUR));
        // A sub-millisecond interval on a millisecond column could be rounded: not used.
        let tiny = lit(ScalarValue::new_interval_mdn(0, 0, 1));
        assert_eq!(bounds(col("b.ts").between(col("a.ts"), col("a.ts") + tiny)), lower_only());
    }
}
