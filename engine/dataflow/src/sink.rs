//! The sink operator: gathers a relation's updates on worker 0 and commits them to a
//! connector `Sink` once the frontier has passed their times.
//!
//! Updates are stashed until complete (time < input frontier), consolidated, and handed over
//! in time order with the frontier, at most once per `commit_interval` (the final commit, when
//! the input ends, is never delayed). A failed commit keeps its updates and is retried, so
//! nothing is lost. The same operator feeds in-memory snapshots (`SnapshotSink`) used by tests,
//! `run`'s summary and serving.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use differential_dataflow::consolidation::consolidate_updates;
use illunare_connector::{ConnectorError, Sink};
use illunare_types::{Diff, Row, Time};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use crate::Coll;

/// Attaches `sink` (present on worker 0 only) to `input`.
pub fn render_sink(input: Coll<'_>, name: &str, mut sink: Option<Box<dyn Sink>>, commit_interval: Duration) {
    let name = name.to_string();
    let scope = input.scope();
    let mut builder = OperatorBuilder::new(format!("Sink({name})"), scope);
    let info = builder.operator_info();
    let mut handle = builder.new_input(input.inner, Exchange::new(|_: &(Row, Time, Diff)| 0u64));
    let activator = scope.activator_for(info.address.clone());
    let mut pending: Vec<(Row, Time, Diff)> = Vec::new();
    let mut last_commit: Option<Instant> = None;
    let mut finished = false;
    let mut committed_upper: Option<Time> = Some(0);
    builder.build_reschedule(move |_capabilities| {
        move |frontiers| {
            let mut step = || {
            handle.for_each(|_time, data| pending.append(data));
            if finished {
                return;
            }
            let Some(sink) = sink.as_mut() else {
                pending.clear();
                return;
            };
            let upper = frontiers[0].frontier().first().copied();
            let done = upper.is_none();
            if let Some(last) = last_commit
                && !done
                && last.elapsed() < commit_interval
            {
                activator.activate_after(commit_interval - last.elapsed());
                return;
            }
            let (mut ready, rest): (Vec<_>, Vec<_>) = pending.drain(..).partition(|(_, t, _)| upper.is_none_or(|u| *t < u));
            pending = rest;
            if ready.is_empty() && last_commit.is_some() && !done && upper == committed_upper {
                return;
            }
            consolidate_updates(&mut ready);
            ready.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
            match sink.commit(&ready, upper) {
                Ok(()) => {
                    last_commit = Some(Instant::now());
                    committed_upper = upper;
                    finished = done;
                }
                Err(e) => {
                    tracing::error!(sink = %name, "commit failed, will retry: {e}");
                    pending.extend(ready);
                    activator.activate_after(Duration::from_millis(500));
                }
            }
            };
            step();
            // Stay scheduled until the final commit went through: nothing may be lost.
            sink.is_some() && !finished
        }
    });
}

/// The consolidated contents of a relation as of a frontier, kept in memory.
#[derive(Debug, Default, Clone)]
pub struct SnapshotState {
    pub rows: std::collections::BTreeMap<Row, Diff>,
    /// Everything before this time is included; `None` once the relation is complete.
    pub frontier: Option<Time>,
    /// Whether at least one commit happened.
    pub started: bool,
    pub closed: bool,
}

impl SnapshotState {
    /// The rows, each repeated by its multiplicity.
    pub fn rows(&self) -> Vec<Row> {
        self.rows.iter().flat_map(|(r, &n)| std::iter::repeat_n(r.clone(), n.max(0) as usize)).collect()
    }

    /// Whether every update before `time` is reflected.
    pub fn complete_through(&self, time: Time) -> bool {
        self.closed || self.frontier.is_some_and(|f| f > time)
    }
}

pub type SnapshotHandle = Arc<Mutex<SnapshotState>>;

/// A `Sink` that maintains a [`SnapshotState`].
pub struct SnapshotSink(pub SnapshotHandle);

impl Sink for SnapshotSink {
    fn commit(&mut self, updates: &[(Row, Time, Diff)], frontier: Option<Time>) -> Result<(), ConnectorError> {
        let mut state = self.0.lock().map_err(|_| ConnectorError::Other("snapshot lock poisoned".into()))?;
        for (row, _, diff) in updates {
            let entry = state.rows.entry(row.clone()).or_insert(0);
            *entry += diff;
            if *entry == 0 {
                state.rows.remove(row);
            }
        }
        state.frontier = frontier;
        state.started = true;
        state.closed = frontier.is_none();
        Ok(())
    }
}
