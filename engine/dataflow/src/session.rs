//! Session windows (`Node::Session`): every row gets its session's `window_start` (first time)
//! and `window_end` (last time + gap), per partition.
//!
//! Two renderings:
//! - **General** (any input, retractions too): a differential `reduce` per partition key that
//!   recomputes the partition's sessions from its rows whenever they change. An insert between
//!   two sessions merges them, a delete can split one: both are just a recomputation. Cost
//!   O(partition) per change; state: every row, forever.
//! - **Event time** (append-only input whose rows are stamped by the time column, gap ≥ tick):
//!   a timely operator holding the rows of *open* sessions only. Rows of a closed session are
//!   emitted once, with their final bounds, **at the session's `window_end`**, and forgotten:
//!
//! ```text
//!  rows ─► exchange by partition ─► open sessions per partition (time → rows)
//!                                        │ input frontier F: every future row has
//!                                        │ floor_ms(ts) ≥ ceil_tick(F) − tick + 1
//!                                        ▼
//!              session closed when window_end ≤ that bound ─► rows at time window_end
//! ```
//! A future row is stamped `ceil_tick(floor_ms(ts)) ≥ F`, so its time is at least
//! `ceil_tick(F) − tick + 1` ms: a session whose end is at or below that can neither grow nor
//! merge (a row exactly at the end starts a new session). Emitting at `window_end` lets a
//! downstream `GROUP BY …, window_end` close and release it like a TUMBLE window
//! (`window_agg.rs` retracts at `window_end + 1 ms`). The operator holds a capability no later
//! than the smallest end among open sessions (ends only grow as sessions extend or merge; a new
//! session ends at least a gap after its row's stamp), so the output frontier trails the input
//! by about one gap, not by a session's length. When the input frontier empties (bounded
//! sources), every session closes. With a gap shorter than the tick the end can precede a row's
//! stamp: such views take the general rendering (correct, without state release).
//!
//! Rows whose time is NULL get NULL windows, at once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow::datatypes::{DataType, TimeUnit};
use differential_dataflow::AsCollection;
use illunare_types::{Datum, Diff, Row, Time};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use crate::Coll;
use crate::state_metrics::StateMetrics;
use crate::temporal::until_ms;

/// What a session window needs from the plan.
#[derive(Clone, Debug)]
pub struct SessionSpec {
    pub partition: Vec<usize>,
    pub time: usize,
    /// The gap in the time column's unit.
    pub gap: i64,
    /// The time column's type.
    pub time_type: DataType,
}

impl SessionSpec {
    /// `None` when the time column is not a TIMESTAMP (the planner refuses that) or the gap
    /// does not fit its unit.
    pub fn new(partition: Vec<usize>, time: usize, gap_ms: i64, time_type: DataType) -> Option<SessionSpec> {
        let DataType::Timestamp(unit, _) = &time_type else { return None };
        let gap = match unit {
            TimeUnit::Second => (gap_ms % 1000 == 0).then_some(gap_ms / 1000)?,
            TimeUnit::Millisecond => gap_ms,
            TimeUnit::Microsecond => gap_ms.checked_mul(1000)?,
            TimeUnit::Nanosecond => gap_ms.checked_mul(1_000_000)?,
        };
        Some(SessionSpec { partition, time, gap, time_type })
    }

    fn time_of(&self, row: &Row) -> Option<i64> {
        match row.0.get(self.time) {
            Some(Datum::Timestamp(v)) => Some(*v),
            _ => None,
        }
    }

    fn with_window(&self, row: &Row, start: Datum, end: Datum) -> Row {
        let mut out = row.clone();
        out.0.push(start);
        out.0.push(end);
        out
    }

    /// Units of the time column per millisecond, as a function from ms to the smallest value
    /// at or after it.
    fn ms_to_units_ceil(&self, ms: i64) -> i64 {
        match &self.time_type {
            DataType::Timestamp(TimeUnit::Second, _) => ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) != 0),
            DataType::Timestamp(TimeUnit::Microsecond, _) => ms.saturating_mul(1000),
            DataType::Timestamp(TimeUnit::Nanosecond, _) => ms.saturating_mul(1_000_000),
            _ => ms,
        }
    }
}

/// One session: its first time, its last time, its rows.
type Session<'a> = (i64, i64, Vec<&'a (Row, Diff)>);

/// Splits `rows` (times with their rows, sorted by time, all in one partition) into sessions:
/// `(start, last, rows)` each.
fn split_sessions<'a, I>(rows: I, gap: i64) -> Vec<Session<'a>>
where
    I: IntoIterator<Item = (i64, &'a (Row, Diff))>,
{
    let mut sessions: Vec<Session<'a>> = Vec::new();
    for (ts, row) in rows {
        match sessions.last_mut() {
            Some((_, last, members)) if ts < last.saturating_add(gap) => {
                *last = ts;
                members.push(row);
            }
            _ => sessions.push((ts, ts, vec![row])),
        }
    }
    sessions
}

/// The output rows of one partition: each row with its session's bounds.
pub fn assign_sessions(spec: &SessionSpec, rows: &[(Row, Diff)]) -> Vec<(Row, Diff)> {
    let mut timed: Vec<(i64, &(Row, Diff))> = Vec::new();
    let mut out = Vec::new();
    for r in rows.iter().filter(|(_, d)| *d > 0) {
        match spec.time_of(&r.0) {
            Some(ts) => timed.push((ts, r)),
            None => out.push((spec.with_window(&r.0, Datum::Null, Datum::Null), r.1)),
        }
    }
    timed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.0.cmp(&b.1.0)));
    for (start, last, members) in split_sessions(timed, spec.gap) {
        let end = last.saturating_add(spec.gap);
        out.extend(members.into_iter().map(|(row, d)| (spec.with_window(row, Datum::Timestamp(start), Datum::Timestamp(end)), *d)));
    }
    out
}

/// The general rendering: sessions recomputed per partition by a differential reduce.
pub fn render_session<'s>(input: Coll<'s>, spec: SessionSpec) -> Coll<'s> {
    let partition = spec.partition.clone();
    input
        .map(move |row| (row.project(&partition), row))
        .reduce_named("Session", move |_key: &Row, values: &[(&Row, Diff)], out: &mut Vec<(Row, Diff)>| {
            let rows: Vec<(Row, Diff)> = values.iter().map(|(r, d)| ((*r).clone(), *d)).collect();
            out.extend(assign_sessions(&spec, &rows));
        })
        .map(|(_, row)| row)
}


/// The open sessions of one partition: rows by time.
type Partition = BTreeMap<i64, Vec<(Row, Diff)>>;

/// The end (in the time column's unit) of a partition's first session.
fn first_end(rows: &Partition, gap: i64) -> Option<i64> {
    let mut iter = rows.keys();
    let mut last = *iter.next()?;
    for &ts in iter {
        if ts >= last.saturating_add(gap) {
            break;
        }
        last = ts;
    }
    Some(last.saturating_add(gap))
}

/// The event-time rendering: rows of open sessions held, each closed session emitted once at
/// its `window_end`. `tick` is the sources' tick in ms; `metrics` counts the held rows (as
/// pending state).
pub fn render_session_event_time<'s>(input: Coll<'s>, spec: SessionSpec, tick: Time, metrics: Option<Arc<StateMetrics>>) -> Coll<'s> {
    let tick = tick.max(1);
    let partition = spec.partition.clone();
    let exchange = Exchange::new(move |(row, _, _): &(Row, Time, Diff)| crate::key_hash(&row.project(&partition)));
    input
        .inner
        .unary_frontier::<timely::container::CapacityContainerBuilder<Vec<_>>, _, _, _>(exchange, "SessionClose", move |_, _| {
            let mut open: HashMap<Row, Partition> = HashMap::new();
            let mut held: Option<Capability<Time>> = None;
            // Lower bound of the ends of the open sessions (exact after each full scan).
            let mut min_end: Option<i64> = None;
            let mut rows_held: i64 = 0;
            let mut reported: i64 = 0;
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    let mut nulls = Vec::new();
                    for (row, t, d) in data.drain(..) {
                        match spec.time_of(&row) {
                            None => nulls.push((spec.with_window(&row, Datum::Null, Datum::Null), t, d)),
                            Some(ts) => {
                                let key = row.project(&spec.partition);
                                let rows = open.entry(key).or_default();
                                rows.entry(ts).or_default().push((row, d));
                                rows_held += 1;
                                if let Some(end) = first_end(rows, spec.gap) {
                                    min_end = Some(min_end.map_or(end, |m| m.min(end)));
                                }
                            }
                        }
                    }
                    if !nulls.is_empty() {
                        output.session(&cap).give_iterator(nulls.into_iter());
                    }
                    if held.as_ref().is_none_or(|h| cap.least().is_some_and(|t| t < h.time()))
                        && let Some(retained) = cap.retain_least(0)
                    {
                        held = Some(retained);
                    }
                });
                // Every future row has a time at or after `bound` (in the column's unit);
                // `None`: no future rows at all.
                let bound = match frontier.frontier().iter().min() {
                    None => None,
                    Some(&f) => {
                        let s = f.div_ceil(tick).saturating_mul(tick);
                        // At s = 0 rows with negative times (stamped 0) can still come.
                        if s < tick {
                            Some(i64::MIN)
                        } else {
                            Some(spec.ms_to_units_ceil((s - tick + 1) as i64))
                        }
                    }
                };
                let due = match (bound, min_end) {
                    (_, None) => false,
                    (None, Some(_)) => true,
                    (Some(b), Some(m)) => m <= b,
                };
                let Some(cap) = held.as_mut() else { return };
                if due {
                    let mut closed: BTreeMap<Time, Vec<(Row, Time, Diff)>> = BTreeMap::new();
                    let mut next_min: Option<i64> = None;
                    open.retain(|_, rows| {
                        while let Some(end) = first_end(rows, spec.gap) {
                            if bound.is_some_and(|b| end > b) {
                                next_min = Some(next_min.map_or(end, |m| m.min(end)));
                                break;
                            }
                            let first = rows.keys().next().copied().unwrap_or(end);
                            let at = until_ms(&Datum::Timestamp(end), &spec.time_type).unwrap_or(0).max(*cap.time());
                            let rest = rows.split_off(&end.saturating_sub(spec.gap).saturating_add(1));
                            let members = std::mem::replace(rows, rest);
                            let batch = closed.entry(at).or_default();
                            for (_, group) in members {
                                for (row, d) in group {
                                    rows_held -= 1;
                                    batch.push((spec.with_window(&row, Datum::Timestamp(first), Datum::Timestamp(end)), at, d));
                                }
                            }
                        }
                        !rows.is_empty()
                    });
                    for (at, rows) in closed {
                        output.session(&cap.delayed(&at)).give_iterator(rows.into_iter());
                    }
                    min_end = next_min;
                }
                if let Some(m) = &metrics {
                    m.pending.fetch_add(rows_held - reported, Ordering::Relaxed);
                    reported = rows_held;
                }
                match min_end {
                    None => held = None,
                    Some(end) => {
                        let at = until_ms(&Datum::Timestamp(end), &spec.time_type).unwrap_or(0);
                        if at > *cap.time() {
                            cap.downgrade(&at);
                        }
                    }
                }
            }
        })
        .as_collection()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SessionSpec {
        SessionSpec::new(vec![0], 1, 5, DataType::Timestamp(TimeUnit::Millisecond, None)).expect("spec")
    }

    fn row(k: &str, ts: Option<i64>) -> Row {
        Row(vec![Datum::str(k), ts.map(Datum::Timestamp).unwrap_or(Datum::Null)])
    }

    fn bounds(out: &[(Row, Diff)]) -> Vec<(Option<i64>, Datum, Datum, Diff)> {
        let mut v: Vec<_> = out
            .iter()
            .map(|(r, d)| (match r.0[1] { Datum::Timestamp(t) => Some(t), _ => None }, r.0[2].clone(), r.0[3].clone(), *d))
            .collect();
        v.sort_by_key(|a| a.0);
        v
    }

    #[test]
    fn exactly_a_gap_apart_starts_a_new_session() {
        let rows = vec![(row("a", Some(10)), 1), (row("a", Some(14)), 2), (row("a", Some(19)), 1), (row("a", None), 1)];
        let out = assign_sessions(&spec(), &rows);
        let ts = Datum::Timestamp;
        assert_eq!(
            bounds(&out),
            vec![
                (None, Datum::Null, Datum::Null, 1),
                (Some(10), ts(10), ts(19), 1),
                (Some(14), ts(10), ts(19), 2),
                (Some(19), ts(19), ts(24), 1),
            ]
        );
    }

    #[test]
    fn first_end_follows_the_first_session() {
        let mut p: Partition = BTreeMap::new();
        for t in [1, 3, 8, 20] {
            p.entry(t).or_default().push((row("a", Some(t)), 1));
        }
        // 1 and 3 form the first session; 8 is exactly a gap after 3, so it starts the next:
        // the first session ends at 3 + 5.
        assert_eq!(first_end(&p, 5), Some(8));
        assert_eq!(first_end(&BTreeMap::new(), 5), None);
    }

    #[test]
    fn gaps_in_the_column_unit() {
        let ns = SessionSpec::new(vec![], 0, 5, DataType::Timestamp(TimeUnit::Nanosecond, None)).expect("ns");
        assert_eq!(ns.gap, 5_000_000);
        assert!(SessionSpec::new(vec![], 0, 1500, DataType::Timestamp(TimeUnit::Second, None)).is_none());
        assert!(SessionSpec::new(vec![], 0, 5, DataType::Int64).is_none());
        assert_eq!(ns.ms_to_units_ceil(3), 3_000_000);
        let s = SessionSpec::new(vec![], 0, 2000, DataType::Timestamp(TimeUnit::Second, None)).expect("s");
        assert_eq!(s.ms_to_units_ceil(1001), 2);
    }
}
