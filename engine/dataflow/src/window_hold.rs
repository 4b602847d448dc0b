//! Holding each window's rows until the window closes: how `EMIT ON WINDOW CLOSE` runs.
//!
//! A view declared `… EMIT ON WINDOW CLOSE` shows each window's rows once, final, when the
//! watermark passes the window's end (Flink's window TVF aggregates and RisingWave's EOWC mean
//! the same). Its window aggregates therefore need not be maintained at every tick:
//!
//! ```text
//!  rows (or a source's partial aggregates) ─► hold until close ─► reduce ─► freeze ─► …
//!                                              every row of window W at stamp(W)
//! ```
//! The hold keeps each row of window `W` (its `window_end` column) and releases all of them at
//! `E = stamp(W)` — the time a source stamps an event at `W` with: `W` in whole milliseconds,
//! rounded up to the tick — once the frontier has passed `E`. Every on-time row of the window
//! is in by then (rows of `W` are stamped at most at `E`). The reduce behind it then sees each
//! group's whole input at one time and computes it once, so its output is insert-only, stamped
//! `E`, with `window_end` as its event-time column (`render::event_time_column`): what comes
//! after (a MAX over the windows' counts, a join with the window's maximum, an interval join)
//! works on closed windows only, once each, and releases its state as they close.
//!
//! A row whose time is already after its window's `E` (possible only behind a join whose
//! partner came late) can no longer join its window: it becomes an error row of the view,
//! never dropped silently. Rows whose `window_end` is NULL belong to no window and pass at once.
//!
//! The same operator is what a view falls back to when a window aggregate cannot close its
//! windows itself (its input is not append-only event-time data): it then holds the
//! aggregate's *output* changes per window and releases each window's consolidated rows once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow::datatypes::{DataType, TimeUnit};
use differential_dataflow::AsCollection;
use differential_dataflow::consolidation::consolidate;
use illunare_types::{Datum, Diff, Row, Time};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::Operator;

use crate::state_metrics::StateMetrics;
use crate::window_agg::AFTER_CLOSE;
use crate::{Coll, Failure, error_row};

/// Where a row's window ends: its `window_end` column, the column's unit, and the tick rows
/// are stamped in.
#[derive(Clone, Copy, Debug)]
pub struct HoldSpec {
    pub column: usize,
    pub unit: TimeUnit,
    pub tick: Time,
}

impl HoldSpec {
    /// The spec for column `column` of type `data_type`, if it is a TIMESTAMP.
    pub fn new(column: usize, data_type: &DataType, tick: Time) -> Option<HoldSpec> {
        match data_type {
            DataType::Timestamp(unit, _) => Some(HoldSpec { column, unit: *unit, tick: tick.max(1) }),
            _ => None,
        }
    }

    /// `E`: when the window of `row` is released; `None` for a NULL (or absent) `window_end`.
    pub fn release_time(&self, row: &Row) -> Option<Time> {
        let Some(Datum::Timestamp(v)) = row.0.get(self.column) else { return None };
        Some(stamp(*v, self.unit, self.tick))
    }
}

/// The time a source stamps an event whose time column holds `v` (of `unit`) with: its whole
/// milliseconds (floored, at least 0) rounded up to the tick (`source_clock.rs`).
pub fn stamp(v: i64, unit: TimeUnit, tick: Time) -> Time {
    let ms = match unit {
        TimeUnit::Second => v.saturating_mul(1000),
        TimeUnit::Millisecond => v,
        TimeUnit::Microsecond => v.div_euclid(1000),
        TimeUnit::Nanosecond => v.div_euclid(1_000_000),
    };
    (ms.max(0) as Time).div_ceil(tick.max(1)).saturating_mul(tick.max(1))
}

/// Releases the rows of `coll` window by window (see the module doc); rows that arrive after
/// their window was released become error rows of `relation`.
pub fn hold_until_close<'s>(coll: Coll<'s>, spec: HoldSpec, relation: &str, metrics: Option<Arc<StateMetrics>>) -> (Coll<'s>, Coll<'s>) {
    let relation = relation.to_string();
    let tagged = coll.inner.unary_frontier::<timely::container::CapacityContainerBuilder<Vec<_>>, _, _, _>(Pipeline, "HoldUntilClose", move |_, _| {
        // Rows of the windows not yet released, by release time, and one capability at the
        // earliest of those times.
        let mut pending: BTreeMap<Time, Vec<(Row, Diff)>> = BTreeMap::new();
        let mut held: Option<Capability<Time>> = None;
        let mut rows_held: i64 = 0;
        let mut reported: i64 = 0;
        move |(input, frontier), output| {
            input.for_each(|cap, data| {
                let mut now: Vec<crate::Tagged<Row>> = Vec::new();
                for (row, t, d) in data.drain(..) {
                    match spec.release_time(&row) {
                        None => now.push((Ok(row), t, d)),
                        Some(at) if at < t => {
                            let raw = crate::mfp::describe(&row);
                            now.push((Err(error_row(&relation, Failure { message: AFTER_CLOSE.to_string(), raw })), t, d));
                        }
                        Some(at) => {
                            pending.entry(at).or_default().push((row, d));
                            rows_held += 1;
                        }
                    }
                }
                if !now.is_empty() {
                    output.session(&cap).give_iterator(now.into_iter());
                }
                if held.as_ref().is_none_or(|h| cap.least().is_some_and(|t| t < h.time()))
                    && let Some(retained) = cap.retain_least(0)
                {
                    held = Some(retained);
                }
            });
            let Some(cap) = held.as_mut() else { return };
            let input_frontier = frontier.frontier();
            let still_open = match pending.keys().find(|at| input_frontier.less_equal(at)) {
                Some(&first_open) => pending.split_off(&first_open),
                None => BTreeMap::new(),
            };
            for (at, mut rows) in std::mem::replace(&mut pending, still_open) {
                rows_held -= rows.len() as i64;
                consolidate(&mut rows);
                output.session(&cap.delayed(&at)).give_iterator(rows.into_iter().map(|(r, d)| (Ok(r), at, d)));
            }
            match pending.keys().next() {
                None => held = None,
                Some(&next) => {
                    if next > *cap.time() {
                        cap.downgrade(&next);
                    }
                }
            }
            if let Some(m) = &metrics {
                m.pending.fetch_add(rows_held - reported, Ordering::Relaxed);
                reported = rows_held;
            }
        }
    });
    let (ok, err) = tagged.ok_err(|(r, t, d): crate::Tagged<Row>| match r {
        Ok(row) => Ok((row, t, d)),
        Err(row) => Err((row, t, d)),
    });
    (ok.as_collection(), err.as_collection())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_released_at_its_end_as_a_source_would_stamp_it() {
        // 10:00:10.000 in µs, tick 100 ms: stamped at its millisecond.
        assert_eq!(stamp(10_000_000, TimeUnit::Microsecond, 100), 10_000);
        // Not on a tick: rounded up, as the source rounds the rows of the window.
        assert_eq!(stamp(10_050_000, TimeUnit::Microsecond, 100), 10_100);
        // Fractions of a millisecond are floored first (as the source floors them).
        assert_eq!(stamp(9_999_999, TimeUnit::Microsecond, 1), 9_999);
        assert_eq!(stamp(-5, TimeUnit::Second, 100), 0);
        let spec = HoldSpec::new(1, &DataType::Timestamp(TimeUnit::Millisecond, None), 10).expect("timestamp");
        assert_eq!(spec.release_time(&Row(vec![Datum::Int(1), Datum::Timestamp(25)])), Some(30));
        assert_eq!(spec.release_time(&Row(vec![Datum::Int(1), Datum::Null])), None);
        assert!(HoldSpec::new(0, &DataType::Int64, 10).is_none());
    }
}
