//! A source's clock: the time each row is stamped with, and how far the source's capability
//! (hence the dataflow frontier) may advance.
//!
//! - **Processing time** (no WATERMARK): rows read in one activation share the wall-clock
//!   time, rounded up to the tick; the capability follows the wall clock.
//! - **Event time** (`WATERMARK FOR ts AS expr`): a row is stamped with its `ts` in ms, rounded
//!   up to the tick. Each split keeps a watermark, the maximum of `expr` over the rows it has
//!   read; the source's capability follows the minimum over this worker's live splits, so a
//!   frontier past `t` means every event at or before `t` that is not late is in. A row stamped
//!   before the capability is *late*: it goes to `<source>_late` instead of being dropped. A
//!   row with a NULL event time is stamped with the capability (it applies from the time the
//!   source has reached). A split that sends nothing for `idle_timeout` stops holding the
//!   frontier back; when all of a worker's splits are idle, its capability follows the highest
//!   watermark any split of the source has reached in this process.
//!
//! See `docs/design/time.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray, UInt32Array};
use arrow::compute::take_record_batch;

use arrow::record_batch::RecordBatch;
use illunare_plan::Expr;
use illunare_types::Time;

/// How an event-time source stamps its rows (from `WATERMARK FOR column AS watermark`).
#[derive(Clone, Debug)]
pub struct EventTime {
    /// Index of the event-time column (a TIMESTAMP) in the source's schema.
    pub column: usize,
    /// The watermark expression over a row of the source.
    pub watermark: Expr,
    /// A split silent this long stops holding the frontier back.
    pub idle_timeout: Option<Duration>,
}

/// One split's progress in event time.
pub struct SplitClock {
    /// Highest watermark seen (ms); `None` before the first row with one.
    watermark: Option<Time>,
    /// The source's lower bound on the event times this split has still to deliver
    /// ([`illunare_connector::SourceChunk::remaining_from`]); caps the watermark.
    remaining_from: Option<Time>,
    last_data: Instant,
}

impl SplitClock {
    /// The watermark, held back to what the split's unread data allows.
    fn effective(&self) -> Option<Time> {
        self.watermark.map(|w| self.remaining_from.map_or(w, |r| w.min(r)))
    }
}

pub enum Clock {
    Processing {
        tick: Time,
    },
    Event {
        spec: EventTime,
        tick: Time,
        splits: Vec<SplitClock>,
        /// The highest watermark any split of this source reached, over this process's workers.
        shared_max: Arc<AtomicU64>,
    },
}

/// A batch cut by time: on-time parts with their times, and the late rows.
pub struct Stamped {
    pub parts: Vec<(Time, RecordBatch)>,
    pub late: Option<RecordBatch>,
}

fn round_up(ms: Time, tick: Time) -> Time {
    ms.div_ceil(tick).saturating_mul(tick)
}

/// Milliseconds of each timestamp (NULL: `None`); non-timestamp arrays give all `None`.
fn millis(array: &ArrayRef) -> Vec<Option<i64>> {
    let n = array.len();
    let any = array.as_any();
    if let Some(a) = any.downcast_ref::<TimestampSecondArray>() {
        return a.iter().map(|v| v.map(|s| s.saturating_mul(1000))).collect();
    }
    if let Some(a) = any.downcast_ref::<TimestampMillisecondArray>() {
        return a.iter().collect();
    }
    if let Some(a) = any.downcast_ref::<TimestampMicrosecondArray>() {
        return a.iter().map(|v| v.map(|us| us.div_euclid(1000))).collect();
    }
    if let Some(a) = any.downcast_ref::<TimestampNanosecondArray>() {
        return a.iter().map(|v| v.map(|ns| ns.div_euclid(1_000_000))).collect();
    }
    vec![None; n]
}

impl Clock {
    pub fn new(event_time: Option<EventTime>, tick: Time, splits: usize, shared_max: Arc<AtomicU64>) -> Clock {
        let tick = tick.max(1);
        match event_time {
            None => Clock::Processing { tick },
            Some(spec) => Clock::Event {
                spec,
                tick,
                splits: (0..splits).map(|_| SplitClock { watermark: None, remaining_from: None, last_data: Instant::now() }).collect(),
                shared_max,
            },
        }
    }

    /// The time of an activation with the capability at `cap`: processing time stamps rows,
    /// errors and late rows with it; event time stamps errors and late rows with `cap`.
    pub fn now(&self, cap: Time) -> Time {
        match self {
            Clock::Processing { tick } => round_up(crate::now_ms(), *tick).max(cap),
            Clock::Event { .. } => cap,
        }
    }

    /// The time the capability (currently `cap`) may advance to, given which splits are still
    /// being read (`live[i]`).
    pub fn frontier(&self, cap: Time, live: &[bool]) -> Time {
        match self {
            Clock::Processing { tick } => round_up(crate::now_ms(), *tick).max(cap),
            Clock::Event { spec, tick, splits, shared_max } => {
                let now = Instant::now();
                let idle = |s: &SplitClock| spec.idle_timeout.is_some_and(|t| now.duration_since(s.last_data) >= t);
                let mut active = splits.iter().zip(live).filter(|(_, l)| **l).map(|(s, _)| s).filter(|s| !idle(s)).peekable();
                let watermark = if active.peek().is_none() {
                    // Every split is idle (or done): follow the source's furthest watermark.
                    match shared_max.load(Ordering::Relaxed) {
                        0 => None,
                        m => Some(m),
                    }
                } else {
                    // A split without a watermark yet holds the frontier where it is.
                    active.map(SplitClock::effective).try_fold(Time::MAX, |acc, w| w.map(|w| acc.min(w)))
                };
                watermark.map(|w| round_up(w, *tick)).unwrap_or(cap).max(cap)
            }
        }
    }

    /// Stamps `batch`, read from split `split`. Processing time: every row at `now`, the time
    /// of this activation. Event time: rows before `bound` — the frontier the source had
    /// reached before this batch, [`Clock::frontier`] — are late; NULL times go to `bound`.
    /// `remaining_from` is the source's bound on the event times the split has still to send.
    pub fn stamp(&mut self, split: usize, batch: RecordBatch, bound: Time, now: Time, remaining_from: Option<Time>) -> Result<Stamped, String> {
        let cap = bound;
        match self {
            Clock::Processing { .. } => Ok(Stamped { parts: vec![(now, batch)], late: None }),
            Clock::Event { spec, tick, splits, shared_max } => {
                let n = batch.num_rows();
                if let Some(clock) = splits.get_mut(split) {
                    clock.last_data = Instant::now();
                    let marks = spec.watermark.physical.evaluate(&batch).and_then(|v| v.into_array(n)).map_err(|e| e.to_string())?;
                    if let Some(max) = millis(&marks).into_iter().flatten().max() {
                        let max = max.max(0) as Time;
                        if clock.watermark.is_none_or(|w| w < max) {
                            clock.watermark = Some(max);
                        }
                    }
                    clock.remaining_from = remaining_from;
                    if let Some(effective) = clock.effective() {
                        shared_max.fetch_max(effective, Ordering::Relaxed);
                    }
                }
                let times: Vec<Option<Time>> =
                    millis(batch.column(spec.column)).into_iter().map(|t| t.map(|ms| round_up(ms.max(0) as Time, *tick))).collect();
                // Most batches fall in one tick: no copying then.
                let first = times.first().copied().flatten();
                if first.is_some_and(|f| f >= cap) && times.iter().all(|t| *t == first) {
                    return Ok(Stamped { parts: vec![(first.unwrap_or(cap), batch)], late: None });
                }
                let mut by_time: std::collections::BTreeMap<Time, Vec<u32>> = Default::default();
                let mut late = Vec::new();
                for (i, t) in times.iter().enumerate() {
                    match t {
                        Some(t) if *t < cap => late.push(i as u32),
                        Some(t) => by_time.entry(*t).or_default().push(i as u32),
                        None => by_time.entry(cap).or_default().push(i as u32),
                    }
                }
                let pick = |rows: Vec<u32>| take_record_batch(&batch, &UInt32Array::from(rows)).map_err(|e| e.to_string());
                let parts = by_time.into_iter().map(|(t, rows)| pick(rows).map(|b| (t, b))).collect::<Result<Vec<_>, _>>()?;
                let late = if late.is_empty() { None } else { Some(pick(late)?) };
                Ok(Stamped { parts, late })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, TimestampMillisecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion_physical_expr::expressions::Column;

    use super::*;

    fn batch(ts: &[Option<i64>]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            Field::new("v", DataType::Int64, false),
        ]));
        let v: Vec<i64> = (0..ts.len() as i64).collect();
        RecordBatch::try_new(schema, vec![Arc::new(TimestampMillisecondArray::from(ts.to_vec())), Arc::new(Int64Array::from(v))]).expect("batch")
    }

    fn clock(idle: Option<Duration>, splits: usize) -> Clock {
        // Watermark = ts itself (no delay) keeps the arithmetic obvious.
        let spec = EventTime { column: 0, watermark: Expr::new(Arc::new(Column::new("ts", 0)), "ts".to_string()), idle_timeout: idle };
        Clock::new(Some(spec), 10, splits, Arc::new(AtomicU64::new(0)))
    }

    #[test]
    fn rows_are_cut_by_tick_and_late_rows_set_aside() {
        let mut c = clock(None, 1);
        let out = c.stamp(0, batch(&[Some(101), Some(109), Some(85), Some(120), None]), 100, 0, None).expect("stamp");
        let parts: Vec<(Time, usize)> = out.parts.iter().map(|(t, b)| (*t, b.num_rows())).collect();
        // 101 and 109 round up to 110, 120 stays, NULL goes to the capability (100).
        assert_eq!(parts, vec![(100, 1), (110, 2), (120, 1)]);
        assert_eq!(out.late.map(|b| b.num_rows()), Some(1));
        assert_eq!(c.frontier(100, &[true]), 120);
        // The next batch is judged against that frontier.
        let next = c.stamp(0, batch(&[Some(105), Some(125)]), c.frontier(100, &[true]), 0, None).expect("stamp");
        assert_eq!(next.late.map(|b| b.num_rows()), Some(1));
        assert_eq!(next.parts.iter().map(|(t, _)| *t).collect::<Vec<_>>(), vec![130]);
    }

    #[test]
    fn the_slowest_live_split_holds_the_frontier_unless_idle() {
        let mut c = clock(None, 2);
        c.stamp(0, batch(&[Some(500)]), 0, 0, None).expect("stamp");
        assert_eq!(c.frontier(0, &[true, true]), 0, "split 1 has no watermark yet");
        assert_eq!(c.frontier(0, &[true, false]), 500, "split 1 is done");
        c.stamp(1, batch(&[Some(200)]), 0, 0, None).expect("stamp");
        assert_eq!(c.frontier(0, &[true, true]), 200);
        let mut idle = clock(Some(Duration::ZERO), 2);
        idle.stamp(0, batch(&[Some(500)]), 0, 0, None).expect("stamp");
        assert_eq!(idle.frontier(0, &[true, true]), 500, "all idle: the furthest watermark");
    }

    #[test]
    fn unread_data_bounds_the_watermark() {
        // A split whose next rows start at 300 (say, the next row group's minimum) holds the
        // frontier there even though it has seen 900; without a bound it follows 900.
        let mut c = clock(None, 1);
        c.stamp(0, batch(&[Some(900)]), 0, 0, Some(300)).expect("stamp");
        assert_eq!(c.frontier(0, &[true]), 300);
        let out = c.stamp(0, batch(&[Some(305)]), c.frontier(0, &[true]), 0, None).expect("stamp");
        assert!(out.late.is_none(), "a row after the bound is on time");
        assert_eq!(c.frontier(0, &[true]), 900);
    }
}
