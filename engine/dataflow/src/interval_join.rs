//! Interval joins over event time that release their state.
//!
//! An inner join whose residual bounds the sides' times (`IntervalBounds`, found by
//! `sql/src/interval_join.rs`) would keep both inputs' arrangements forever as a plain join.
//! When both inputs are append-only event-time relations, with a lower bound
//! `r.a - l.ts >= lower` whose left column is the column the left rows are stamped with, and an
//! upper bound `r.ts - l.d <= upper` whose right column is the right rows' stamping column
//! ([`crate::render::event_time_column`]; `a` and `d` may be those columns or others, as in
//! `b.date_time BETWEEN a.date_time AND a.expires`), each row can only match partners stamped
//! before a time known from the row alone, so it is retracted after that time (a scheduled
//! retraction, as in `temporal.rs`):
//!
//! ```text
//!  left ─key_by─► expire at e(l) ─┐
//!                                 join ─► pairs ─► freeze: drop updates at or after min(e(l), e(r)) ─► residual ─► view
//!  right ─key_by► expire at e(r) ─┘
//! ```
//! Once the frontier passes `e(x)`, the row and its retraction cancel in the arrangement and
//! compaction drops them: state holds the rows of the last `upper` (left) / `-lower` (right)
//! of event time. (That is the argument; the operator that runs it is a hash join in time
//! order that emits exactly the pairs the argument keeps, `expiring_hash_join.rs`.)
//!
//! **Why the output is exactly the plain join's.** Sources stamp a row whose time column holds
//! `ts` at `stamp(ts)` = its milliseconds (floored, at least 0) rounded up to the tick; a row
//! stamped later is behind its source's frontier and goes to `<source>_late` instead. `stamp`
//! is monotone. Let `e(l) = max(stamp(l.d + upper), stamp(l.ts)) + 1` and
//! `e(r) = max(stamp(r.a - lower), stamp(r.ts)) + 1`. Every input update `(x, t, +d)` (inputs are
//! append-only) has `t <= stamp(x.ts) < e(x)` — checked here, a row that breaks it becomes an
//! error row — and gets the extra update `(x, e(x), -d)`. The join is bilinear: a pair of
//! updates `(l, tl, dl)`, `(r, tr, dr)` gives `(l ++ r, max(tl, tr), dl * dr)`. For a pair the
//! residual accepts, `r.ts <= l.d + upper` so `tr <= stamp(r.ts) <= stamp(l.d + upper) < e(l)`,
//! and likewise `l.ts <= r.a - lower` so `tl < e(r)`; hence its genuine update (both insertions) is at
//! `max(tl, tr) < min(e(l), e(r))`, while the three updates involving a retraction are at
//! `max(e(l), tr) = e(l)`, `max(tl, e(r)) = e(r)` and `max(e(l), e(r))`, all at or after
//! `min(e(l), e(r))`. Dropping every update of a pair at or after `min(e(l), e(r))` (computed
//! from the pair's own columns) therefore leaves exactly the genuine updates: the output is
//! the insert-only stream of matches, the plain join's answer at every time. Pairs the
//! residual rejects may be dropped too, which the residual would do anyway (their evaluation
//! errors may then go unreported, unlike in the plain join). NULL times never satisfy the
//! bounds, so such rows are not joined at all. The freeze comes before the residual, so the
//! residual (and its errors) only sees genuine updates. A NULL `l.d` or `r.a` fails its bound
//! too: such a row matches nothing either.

use arrow::datatypes::{DataType, TimeUnit};
use illunare_plan::{IntervalBounds, Plan, TimeBound};
use illunare_types::{Datum, Row, Time};

use crate::render::{event_time_column, is_event_time, is_monotonic};
use crate::window_agg::{AFTER_CLOSE, WindowClose, close_time};

/// The expiries of an interval join that can release state (see the module doc): both inputs
/// append-only event-time relations, a lower bound from the left rows' stamping column and an
/// upper bound to the right rows' stamping column, all of them TIMESTAMPs.
pub fn interval_expiries(left: &Plan, right: &Plan, bounds: &IntervalBounds, tick: Time) -> Option<(Expiry, Expiry)> {
    if !(is_monotonic(left) && is_monotonic(right) && is_event_time(left) && is_event_time(right)) {
        return None;
    }
    let (lt, rt) = (event_time_column(left)?, event_time_column(right)?);
    let unit = |plan: &Plan, c: usize| match plan.schema.fields().get(c).map(|f| f.data_type()) {
        Some(DataType::Timestamp(u, _)) => Some(*u),
        _ => None,
    };
    // Among usable bounds, those on the stamping columns themselves first (the tightest).
    let pick = |upper: bool| -> Option<&TimeBound> {
        let usable = bounds.bounds.iter().filter(|b| b.upper == upper && if upper { b.right == rt } else { b.left == lt });
        usable.min_by_key(|b| (if upper { b.left != lt } else { b.right != rt }, if upper { b.ns } else { -b.ns }))
    };
    let (lower, upper) = (pick(false)?, pick(true)?);
    let tick = tick.max(1);
    let left_expiry = Expiry::Interval {
        column: lt,
        unit: unit(left, lt)?,
        reach_column: upper.left,
        reach_unit: unit(left, upper.left)?,
        reach_ns: i128::from(upper.ns),
        tick,
    };
    let right_expiry = Expiry::Interval {
        column: rt,
        unit: unit(right, rt)?,
        reach_column: lower.right,
        reach_unit: unit(right, lower.right)?,
        reach_ns: -i128::from(lower.ns),
        tick,
    };
    Some((left_expiry, right_expiry))
}

/// When the rows of one side of an expiring join expire.
#[derive(Clone, Debug)]
pub enum Expiry {
    /// An interval join side: the row is stamped by its time `column`; its partners are stamped
    /// at most `reach_ns` after its `reach_column` (the same column or another), in stamps of
    /// `tick` ms.
    Interval { column: usize, unit: TimeUnit, reach_column: usize, reach_unit: TimeUnit, reach_ns: i128, tick: Time },
    /// A closed window aggregate's row (`window_join.rs`): every update of it comes before its
    /// window's close, `window_end` (the `close.key` column) + 1 ms.
    Window(WindowClose),
}

impl Expiry {
    /// The time a source stamps a row with when its time column holds `ns` (`source_clock.rs`).
    fn stamp(ns: i128, tick: Time) -> Time {
        let ms = ns.div_euclid(1_000_000).clamp(0, i128::from(i64::MAX)) as Time;
        ms.div_ceil(tick).saturating_mul(tick)
    }

    /// `(latest, until)`: the latest time an update of `row` can have, and when it expires
    /// (`None` when the row's time is NULL: it matches nothing).
    pub fn of(&self, row: &Row) -> Option<(Time, Time)> {
        match self {
            Expiry::Interval { column, unit, reach_column, reach_unit, reach_ns, tick } => {
                let ns = |c: &usize, unit: &TimeUnit| {
                    let Some(Datum::Timestamp(v)) = row.0.get(*c) else { return None };
                    let per_unit = match unit {
                        TimeUnit::Second => 1_000_000_000,
                        TimeUnit::Millisecond => 1_000_000,
                        TimeUnit::Microsecond => 1_000,
                        TimeUnit::Nanosecond => 1,
                    };
                    Some(i128::from(*v) * per_unit)
                };
                let own = Self::stamp(ns(column, unit)?, *tick);
                let reach = ns(reach_column, reach_unit)?;
                Some((own, Self::stamp(reach.saturating_add(*reach_ns), *tick).max(own).saturating_add(1)))
            }
            Expiry::Window(close) => close_time(row, close).map(|c| (c - 1, c)),
        }
    }

    /// The error message of a row whose update comes after its latest time.
    pub(crate) fn too_late(&self) -> &'static str {
        match self {
            Expiry::Interval { .. } => STAMPED_LATE,
            Expiry::Window(_) => AFTER_CLOSE,
        }
    }
}

/// The message of a row stamped after its own event time (cannot come from a source).
pub const STAMPED_LATE: &str = "interval join: row stamped after its event time; it was not joined";

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the update at `t` of pair `row` is genuine: before both rows' expiry (what
    /// `expiring_hash_join.rs` emits).
    fn genuine(row: &Row, t: Time, left: &Expiry, right: &Expiry) -> bool {
        let until = |e: &Expiry| e.of(row).map(|(_, until)| until);
        until(left).into_iter().chain(until(right)).all(|until| t < until)
    }

    const HOUR_NS: i128 = 3_600_000_000_000;

    fn ms_row(ts: Option<i64>) -> Row {
        Row(vec![Datum::Int(1), ts.map(Datum::Timestamp).unwrap_or(Datum::Null)])
    }

    #[test]
    fn expiry_is_one_past_the_latest_partner_stamp() {
        let interval = |reach_ns: i128, unit: TimeUnit, tick: Time| Expiry::Interval { column: 1, unit, reach_column: 1, reach_unit: unit, reach_ns, tick };
        let e = interval(HOUR_NS, TimeUnit::Millisecond, 100);
        // 1 050 ms: stamped at 1 100; partners up to 3 601 050 ms, stamped up to 3 601 100.
        assert_eq!(e.of(&ms_row(Some(1_050))), Some((1_100, 3_601_101)));
        assert_eq!(e.of(&ms_row(None)), None);
        // A negative reach (partners only before the row): kept past its own stamp.
        let before = interval(-HOUR_NS, TimeUnit::Millisecond, 100);
        assert_eq!(before.of(&ms_row(Some(7_200_000))), Some((7_200_000, 7_200_001)));
        // Times before the epoch are stamped at 0, as sources do.
        assert_eq!(e.of(&ms_row(Some(-5))), Some((0, 3_600_001)));
        let us = interval(HOUR_NS, TimeUnit::Microsecond, 1);
        assert_eq!(us.of(&Row(vec![Datum::Null, Datum::Timestamp(1_999)])), Some((1, 3_600_002)));
    }

    #[test]
    fn the_reach_may_come_from_another_column() {
        // An auction (date_time, expires) meets bids until it expires: it is stamped by its
        // start and kept until one past its expiry's stamp; a NULL expiry meets nothing.
        let ms = TimeUnit::Millisecond;
        let e = Expiry::Interval { column: 0, unit: ms, reach_column: 1, reach_unit: ms, reach_ns: 0, tick: 100 };
        assert_eq!(e.of(&Row(vec![Datum::Timestamp(1_050), Datum::Timestamp(9_000)])), Some((1_100, 9_001)));
        assert_eq!(e.of(&Row(vec![Datum::Timestamp(1_050), Datum::Null])), None);
        // An expiry before the start: kept until just past its own stamp.
        assert_eq!(e.of(&Row(vec![Datum::Timestamp(1_050), Datum::Timestamp(500)])), Some((1_100, 1_101)));
    }

    /// The bilinear expansion of one matching pair with both rows retracted at their expiry:
    /// `genuine` keeps the insertion only, whichever row expires first.
    #[test]
    fn only_the_genuine_update_of_a_pair_survives() {
        let ms = TimeUnit::Millisecond;
        let left = Expiry::Interval { column: 0, unit: ms, reach_column: 0, reach_unit: ms, reach_ns: 10_000_000, tick: 1 };
        let right = Expiry::Interval { column: 1, unit: ms, reach_column: 1, reach_unit: ms, reach_ns: 0, tick: 1 };
        for (l, r) in [(100i64, 105i64), (100, 110), (100, 100)] {
            let pair = Row(vec![Datum::Timestamp(l), Datum::Timestamp(r)]);
            let (tl, el) = left.of(&Row(vec![Datum::Timestamp(l)])).expect("time");
            let (tr, er) = right.of(&Row(vec![Datum::Null, Datum::Timestamp(r)])).expect("time");
            let updates = [(tl.max(tr), 1), (el.max(tr), -1), (tl.max(er), -1), (el.max(er), 1)];
            let kept: Vec<_> = updates.iter().filter(|(t, _)| genuine(&pair, *t, &left, &right)).collect();
            assert_eq!(kept, vec![&(tl.max(tr), 1)], "l={l} r={r}");
        }
    }
}
