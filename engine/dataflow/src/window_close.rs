//! `emit = 'on_window_close'`: a sink that receives each window's final rows once.
//!
//! By default a sink follows its view: a window's row is inserted, then updated as events
//! arrive. An append-only consumer (a Kafka topic of alerts, a Parquet archive) wants each
//! window once, final. This wrapper sits between the sink operator and any connector: it holds
//! the updates of open windows (rows whose `window_end` the frontier has not passed) and, once
//! the frontier passes a window's end — every on-time event of the window is in — hands the
//! window's consolidated rows to the connector as inserts and forgets them. Its state is the
//! open windows only.
//!
//! A change to a window already emitted (possible only through tables or a view that is not a
//! window aggregate over event time) cannot be un-emitted: it is counted and logged, never
//! applied silently. Rows with a NULL `window_end` are emitted at the next commit.

use std::collections::BTreeMap;

use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use differential_dataflow::consolidation::consolidate;
use illunare_connector::{ConnectorError, Sink};
use illunare_types::{Datum, Diff, Row, Time};

pub struct WindowCloseSink {
    inner: Box<dyn Sink>,
    name: String,
    /// Index of `window_end` and its unit.
    column: usize,
    unit: TimeUnit,
    /// Open windows by end (ms): their rows' net changes so far.
    open: BTreeMap<Time, Vec<(Row, Diff)>>,
    /// Windows up to this end (ms, exclusive) were emitted.
    emitted_before: Time,
    /// Changes that arrived for windows already emitted.
    pub changes_after_close: u64,
}

impl WindowCloseSink {
    /// Wraps `inner` for a relation of `schema`, which must have a TIMESTAMP `window_end`.
    pub fn new(inner: Box<dyn Sink>, name: &str, schema: &SchemaRef) -> Result<Self, String> {
        let (column, field) = schema
            .column_with_name("window_end")
            .ok_or_else(|| "emit = 'on_window_close' needs a window_end column (from TUMBLE or HOP)".to_string())?;
        let DataType::Timestamp(unit, _) = field.data_type() else {
            return Err(format!("emit = 'on_window_close': window_end is {}, not a TIMESTAMP", field.data_type()));
        };
        Ok(WindowCloseSink {
            inner,
            name: name.to_string(),
            column,
            unit: *unit,
            open: BTreeMap::new(),
            emitted_before: 0,
            changes_after_close: 0,
        })
    }

    /// The end of a row's window in ms (rounded up), `None` when NULL.
    fn end_of(&self, row: &Row) -> Option<Time> {
        let Some(Datum::Timestamp(v)) = row.0.get(self.column) else { return None };
        let ms = match self.unit {
            TimeUnit::Second => v.saturating_mul(1000),
            TimeUnit::Millisecond => *v,
            TimeUnit::Microsecond => v.div_euclid(1000) + i64::from(v.rem_euclid(1000) != 0),
            TimeUnit::Nanosecond => v.div_euclid(1_000_000) + i64::from(v.rem_euclid(1_000_000) != 0),
        };
        Some(ms.max(0) as Time)
    }
}

impl Sink for WindowCloseSink {
    fn commit(&mut self, updates: &[(Row, Time, Diff)], frontier: Option<Time>) -> Result<(), ConnectorError> {
        let mut closing: Vec<(Row, Diff)> = Vec::new();
        for (row, _, diff) in updates {
            match self.end_of(row) {
                Some(end) if end < self.emitted_before => {
                    self.changes_after_close += 1;
                    tracing::warn!(sink = %self.name, "a change to a window that was already emitted is not applied: {row:?} ({diff:+})");
                }
                Some(end) => self.open.entry(end).or_default().push((row.clone(), *diff)),
                None => closing.push((row.clone(), *diff)),
            }
        }
        // Windows whose end is before the frontier are complete. (A window's rows are stamped
        // at most at its end, so "end < frontier" means all of them are in.)
        let still_open = match frontier {
            Some(f) => self.open.split_off(&f),
            None => BTreeMap::new(),
        };
        let complete = std::mem::replace(&mut self.open, still_open);
        if let Some((&last, _)) = complete.last_key_value() {
            self.emitted_before = self.emitted_before.max(last + 1);
        }
        for (_, rows) in complete {
            closing.extend(rows);
        }
        consolidate(&mut closing);
        let at = frontier.map(|f| f.saturating_sub(1)).unwrap_or(self.emitted_before);
        let inserts: Vec<(Row, Time, Diff)> = closing.into_iter().filter(|(_, d)| *d > 0).map(|(r, d)| (r, at, d)).collect();
        self.inner.commit(&inserts, frontier)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use arrow::datatypes::{Field, Schema};

    use super::*;

    struct Recorder(Arc<Mutex<Vec<(Row, Diff)>>>);

    impl Sink for Recorder {
        fn commit(&mut self, updates: &[(Row, Time, Diff)], _frontier: Option<Time>) -> Result<(), ConnectorError> {
            self.0.lock().expect("lock").extend(updates.iter().map(|(r, _, d)| (r.clone(), *d)));
            Ok(())
        }
    }

    fn row(k: &str, end_ms: i64, n: i64) -> Row {
        Row(vec![Datum::str(k), Datum::Timestamp(end_ms), Datum::Int(n)])
    }

    #[test]
    fn each_window_is_emitted_once_final() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("window_end", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            Field::new("n", DataType::Int64, true),
        ]));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut sink = WindowCloseSink::new(Box::new(Recorder(seen.clone())), "s", &schema).expect("sink");
        // Window [0, 10) evolves from n=1 to n=2 while open; window [10, 20) opens.
        sink.commit(&[(row("a", 10, 1), 3, 1)], Some(5)).expect("commit");
        sink.commit(&[(row("a", 10, 1), 7, -1), (row("a", 10, 2), 7, 1), (row("a", 20, 1), 12, 1)], Some(11)).expect("commit");
        assert_eq!(*seen.lock().expect("lock"), vec![(row("a", 10, 2), 1)]);
        // A late change to the closed window is not applied.
        sink.commit(&[(row("a", 10, 2), 15, -1)], Some(16)).expect("commit");
        assert_eq!(sink.changes_after_close, 1);
        sink.commit(&[], None).expect("end");
        assert_eq!(*seen.lock().expect("lock"), vec![(row("a", 10, 2), 1), (row("a", 20, 1), 1)]);
        let no_window = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true)]));
        assert!(WindowCloseSink::new(Box::new(Recorder(seen)), "s", &no_window).is_err());
    }
}
