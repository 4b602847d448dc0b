//! Interval joins over event time that release their state.
//!
//! An inner join whose residual bounds `r.ts - l.ts` to `[lower, upper]` (`IntervalBounds`,
//! found by `sql/src/interval_join.rs`) would keep both inputs' arrangements forever as a plain
//! join. When both inputs are append-only event-time relations and the two bounded columns are
//! exactly the columns their rows are stamped with ([`crate::render::event_time_column`]), each
//! row can only match partners stamped before a time known from the row alone, so it is
//! retracted after that time (a scheduled retraction, as in `temporal.rs`):
//!
//! ```text
//!  left ─key_by─► expire at e(l) ─┐
//!                                 join ─► pairs ─► freeze: drop updates at or after min(e(l), e(r)) ─► residual ─► view
//!  right ─key_by► expire at e(r) ─┘
//! ```
//! Once the frontier passes `e(x)`, the row and its retraction cancel in the arrangement and
//! compaction drops them: state holds the rows of the last `upper` (left) / `-lower` (right)
//! of event time.
//!
//! **Why the output is exactly the plain join's.** Sources stamp a row whose time column holds
//! `ts` at `stamp(ts)` = its milliseconds (floored, at least 0) rounded up to the tick; a row
//! stamped later is behind its source's frontier and goes to `<source>_late` instead. `stamp`
//! is monotone. Let `e(l) = max(stamp(l.ts + upper), stamp(l.ts)) + 1` and
//! `e(r) = max(stamp(r.ts - lower), stamp(r.ts)) + 1`. Every input update `(x, t, +d)` (inputs are
//! append-only) has `t <= stamp(x.ts) < e(x)` — checked here, a row that breaks it becomes an
//! error row — and gets the extra update `(x, e(x), -d)`. The join is bilinear: a pair of
//! updates `(l, tl, dl)`, `(r, tr, dr)` gives `(l ++ r, max(tl, tr), dl * dr)`. For a pair the
//! residual accepts, `r.ts <= l.ts + upper` so `tr <= stamp(r.ts) <= stamp(l.ts + upper) < e(l)`,
//! and likewise `tl < e(r)`; hence its genuine update (both insertions) is at
//! `max(tl, tr) < min(e(l), e(r))`, while the three updates involving a retraction are at
//! `max(e(l), tr) = e(l)`, `max(tl, e(r)) = e(r)` and `max(e(l), e(r))`, all at or after
//! `min(e(l), e(r))`. Dropping every update of a pair at or after `min(e(l), e(r))` (computed
//! from the pair's own columns) therefore leaves exactly the genuine updates: the output is
//! the insert-only stream of matches, the plain join's answer at every time. Pairs the
//! residual rejects may be dropped too, which the residual would do anyway (their evaluation
//! errors may then go unreported, unlike in the plain join). NULL times never satisfy the
//! bounds, so such rows are not joined at all. The freeze comes before the residual, so the
//! residual (and its errors) only sees genuine updates.

use arrow::datatypes::{DataType, TimeUnit};
use differential_dataflow::AsCollection;
use illunare_plan::{IntervalBounds, Plan};
use illunare_types::{Datum, Diff, Row, Time};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::Operator;

use crate::join::{JoinSpec, render_join};
use crate::keyed::{KeyedColl, key_by};
use crate::mfp::{Step, render_chain};
use crate::render::{event_time_column, is_event_time, is_monotonic};
use crate::window_agg::{AFTER_CLOSE, WindowClose, close_time};
use crate::{Coll, Failure, Rendered, error_row};

/// Whether the interval join can release state: both inputs append-only event-time relations
/// whose stamping columns are the bounded ones.
pub fn releases_state(left: &Plan, right: &Plan, bounds: &IntervalBounds) -> bool {
    is_monotonic(left)
        && is_monotonic(right)
        && is_event_time(left)
        && is_event_time(right)
        && event_time_column(left) == Some(bounds.left_time)
        && event_time_column(right) == Some(bounds.right_time)
}

/// When the rows of one side of an expiring join expire.
#[derive(Clone, Debug)]
pub enum Expiry {
    /// An interval join side: `reach_ns` after the row's time `column` (the latest time of a
    /// partner), in stamps of `tick` ms.
    Interval { column: usize, unit: TimeUnit, reach_ns: i128, tick: Time },
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
            Expiry::Interval { column, unit, reach_ns, tick } => {
                let Some(Datum::Timestamp(v)) = row.0.get(*column) else { return None };
                let per_unit = match unit {
                    TimeUnit::Second => 1_000_000_000,
                    TimeUnit::Millisecond => 1_000_000,
                    TimeUnit::Microsecond => 1_000,
                    TimeUnit::Nanosecond => 1,
                };
                let ns = i128::from(*v) * per_unit;
                let own = Self::stamp(ns, *tick);
                Some((own, Self::stamp(ns.saturating_add(*reach_ns), *tick).max(own).saturating_add(1)))
            }
            Expiry::Window(close) => close_time(row, close).map(|c| (c - 1, c)),
        }
    }

    /// The same expiry read from a pair `left ++ right` whose left side is `width` wide.
    fn shifted(&self, width: usize) -> Expiry {
        match self {
            Expiry::Interval { column, unit, reach_ns, tick } => Expiry::Interval { column: column + width, unit: *unit, reach_ns: *reach_ns, tick: *tick },
            Expiry::Window(close) => Expiry::Window(WindowClose { key: close.key + width, key_type: close.key_type.clone() }),
        }
    }

    /// The error message of a row whose update comes after its latest time.
    fn too_late(&self) -> &'static str {
        match self {
            Expiry::Interval { .. } => STAMPED_LATE,
            Expiry::Window(_) => AFTER_CLOSE,
        }
    }
}

/// The message of a row stamped after its own event time (cannot come from a source).
pub const STAMPED_LATE: &str = "interval join: row stamped after its event time; it was not joined";

/// Renders the inner interval join of `left` and `right` (see the module doc); falls back to the
/// plain join when a bounded column is not a TIMESTAMP.
pub fn render_interval_join<'s>(left: Coll<'s>, right: Coll<'s>, spec: JoinSpec, bounds: IntervalBounds, tick: Time, relation: &str) -> Rendered<'s> {
    let unit = |schema: &arrow::datatypes::SchemaRef, c: usize| match schema.fields().get(c).map(|f| f.data_type()) {
        Some(DataType::Timestamp(u, _)) => Some(*u),
        _ => None,
    };
    let (Some(lu), Some(ru)) = (unit(&spec.left_schema, bounds.left_time), unit(&spec.right_schema, bounds.right_time)) else {
        return render_join(left, right, spec, relation);
    };
    let tick = tick.max(1);
    let left_expiry = Expiry::Interval { column: bounds.left_time, unit: lu, reach_ns: i128::from(bounds.upper_ns), tick };
    let right_expiry = Expiry::Interval { column: bounds.right_time, unit: ru, reach_ns: -i128::from(bounds.lower_ns), tick };
    render_expiring_join(left, right, spec, left_expiry, right_expiry, relation)
}

/// The inner join of `left` and `right` where each row is retracted at its expiry and every
/// update of a pair at or after either row's expiry is dropped, before the residual.
pub fn render_expiring_join<'s>(left: Coll<'s>, right: Coll<'s>, spec: JoinSpec, left_expiry: Expiry, right_expiry: Expiry, relation: &str) -> Rendered<'s> {
    let wl = spec.left_schema.fields().len();
    let drop_nulls = !spec.nulls_equal;
    let (lk, lerr) = key_by(left, spec.left_keys, spec.left_schema, drop_nulls, relation);
    let (rk, rerr) = key_by(right, spec.right_keys, spec.right_schema, drop_nulls, relation);
    let (lk, lexp) = expire(lk, left_expiry.clone(), relation);
    let (rk, rexp) = expire(rk, right_expiry.clone(), relation);
    let pairs = lk.join_map(rk, |_k, l, r| l.concat(r));
    let pairs = freeze_pairs(pairs, left_expiry, right_expiry.shifted(wl));
    let errors = lerr.concat(rerr).concat(lexp).concat(rexp);
    match spec.residual {
        None => Rendered { ok: pairs, err: errors },
        Some(predicate) => {
            let filtered = render_chain(pairs, vec![Step::Filter { predicate, input: spec.pair_schema }], relation);
            Rendered { ok: filtered.ok, err: errors.concat(filtered.err) }
        }
    }
}

/// Each keyed row, and its retraction at its expiry; rows with a NULL time are left out (they
/// match nothing), rows stamped after their own time become error rows.
fn expire<'s>(coll: KeyedColl<'s>, expiry: Expiry, relation: &str) -> (KeyedColl<'s>, Coll<'s>) {
    let relation = relation.to_string();
    let tagged = coll.inner.unary::<timely::container::CapacityContainerBuilder<Vec<_>>, _, _, _>(Pipeline, "IntervalExpire", move |_, _| {
        move |input, output| {
            input.for_each(|cap, data| {
                let mut later: Vec<(Time, crate::Tagged<(Row, Row)>)> = Vec::new();
                {
                    let mut session = output.session(&cap);
                    for ((key, row), t, d) in data.drain(..) {
                        match expiry.of(&row) {
                            None => {}
                            Some((latest, _)) if t > latest => {
                                let raw = crate::mfp::describe(&row);
                                session.give((Err(error_row(&relation, Failure { message: expiry.too_late().into(), raw })), t, d));
                            }
                            Some((_, until)) => {
                                later.push((until, (Ok((key.clone(), row.clone())), until, -d)));
                                session.give((Ok((key, row)), t, d));
                            }
                        }
                    }
                }
                later.sort_unstable_by_key(|(u, _)| *u);
                for group in later.chunk_by(|a, b| a.0 == b.0) {
                    let at = cap.delayed(&group[0].0, 0);
                    output.session(&at).give_iterator(group.iter().map(|(_, u)| u.clone()));
                }
            });
        }
    });
    let (ok, err) = tagged.ok_err(|(x, t, d): (Result<(Row, Row), Row>, Time, Diff)| match x {
        Ok(kv) => Ok((kv, t, d)),
        Err(row) => Err((row, t, d)),
    });
    (ok.as_collection(), err.as_collection())
}

/// Whether the update at `t` of pair `row` is genuine: before both rows' expiry.
fn genuine(row: &Row, t: Time, left: &Expiry, right: &Expiry) -> bool {
    let until = |e: &Expiry| e.of(row).map(|(_, until)| until);
    until(left).into_iter().chain(until(right)).all(|until| t < until)
}

/// Keeps the genuine updates of the join's pairs (`right` reads the right row's time in the
/// pair, i.e. its column is shifted by the left width).
fn freeze_pairs<'s>(pairs: Coll<'s>, left: Expiry, right: Expiry) -> Coll<'s> {
    pairs
        .inner
        .unary::<timely::container::CapacityContainerBuilder<Vec<_>>, _, _, _>(Pipeline, "IntervalFreeze", move |_, _| {
            move |input, output| {
                input.for_each(|cap, data| {
                    let mut session = output.session(&cap);
                    for (row, t, d) in data.drain(..) {
                        if genuine(&row, t, &left, &right) {
                            session.give((row, t, d));
                        }
                    }
                });
            }
        })
        .as_collection()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_NS: i128 = 3_600_000_000_000;

    fn ms_row(ts: Option<i64>) -> Row {
        Row(vec![Datum::Int(1), ts.map(Datum::Timestamp).unwrap_or(Datum::Null)])
    }

    #[test]
    fn expiry_is_one_past_the_latest_partner_stamp() {
        let interval = |reach_ns: i128, unit: TimeUnit, tick: Time| Expiry::Interval { column: 1, unit, reach_ns, tick };
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

    /// The bilinear expansion of one matching pair with both rows retracted at their expiry:
    /// `genuine` keeps the insertion only, whichever row expires first.
    #[test]
    fn only_the_genuine_update_of_a_pair_survives() {
        let left = Expiry::Interval { column: 0, unit: TimeUnit::Millisecond, reach_ns: 10_000_000, tick: 1 };
        let right = Expiry::Interval { column: 1, unit: TimeUnit::Millisecond, reach_ns: 0, tick: 1 };
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
