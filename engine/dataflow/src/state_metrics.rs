//! How much state the dataflow holds: updates in arrangements, from differential's own log.
//!
//! Every arrangement (join and reduce inputs and outputs, distinct, top-k) reports the batches
//! its trace gains, merges and drops on the `differential/arrange` log; summing them gives the
//! updates the traces hold right now. Updates still in batchers (not yet complete: e.g. the
//! retractions a window schedules for its close) are counted apart. This is the figure that
//! shows whether a pipeline's state stays bounded (closing windows, retention) or grows.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use differential_dataflow::logging::{DifferentialEvent, DifferentialEventBuilder};

/// Process-wide state counters (all workers of this process add to them).
#[derive(Default, Debug)]
pub struct StateMetrics {
    /// Updates held in arrangement traces.
    pub arranged: AtomicI64,
    /// Updates waiting in arrangement batchers (times the frontier has not reached), plus rows
    /// operators hold outside arrangements until a time (open session windows, `session.rs`).
    pub pending: AtomicI64,
}

impl StateMetrics {
    fn apply(&self, event: &DifferentialEvent) {
        match event {
            DifferentialEvent::Batch(e) => {
                self.arranged.fetch_add(e.length as i64, Ordering::Relaxed);
            }
            DifferentialEvent::Merge(e) => {
                if let Some(merged) = e.complete {
                    self.arranged.fetch_add(merged as i64 - e.length1 as i64 - e.length2 as i64, Ordering::Relaxed);
                }
            }
            DifferentialEvent::Drop(e) => {
                self.arranged.fetch_sub(e.length as i64, Ordering::Relaxed);
            }
            DifferentialEvent::Batcher(e) => {
                self.pending.fetch_add(e.records_diff as i64, Ordering::Relaxed);
            }
            DifferentialEvent::MergeShortfall(_) | DifferentialEvent::TraceShare(_) => {}
        }
    }

    /// Counts `worker`'s arrangements from now on (call before building its dataflows).
    pub fn attach(self: &Arc<Self>, worker: &mut timely::worker::Worker) {
        let metrics = self.clone();
        if let Some(mut registry) = worker.log_register() {
            registry.insert::<DifferentialEventBuilder, _>("differential/arrange", move |_time, events| {
                if let Some(events) = events {
                    for (_, event) in events.iter() {
                        metrics.apply(event);
                    }
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use differential_dataflow::logging::{BatchEvent, DropEvent, MergeEvent};

    use super::*;

    #[test]
    fn batches_merges_and_drops_balance() {
        let m = StateMetrics::default();
        m.apply(&BatchEvent { operator: 1, length: 10 }.into());
        m.apply(&BatchEvent { operator: 1, length: 5 }.into());
        m.apply(&MergeEvent { operator: 1, scale: 0, length1: 10, length2: 5, complete: None }.into());
        m.apply(&MergeEvent { operator: 1, scale: 0, length1: 10, length2: 5, complete: Some(3) }.into());
        assert_eq!(m.arranged.load(Ordering::Relaxed), 3, "consolidation shrank 15 updates to 3");
        m.apply(&DropEvent { operator: 1, length: 3 }.into());
        assert_eq!(m.arranged.load(Ordering::Relaxed), 0);
    }
}
