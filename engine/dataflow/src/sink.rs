//! The sink operator: gathers a relation's updates on worker 0 and commits them to a
//! connector `Sink` once the frontier has passed their times.
//!
//! Updates are stashed until complete (time < input frontier), consolidated, and handed over
//! in time order with the frontier, at most once per `commit_interval` (the final commit, when
//! the input ends, is never delayed). A failed commit keeps its updates and is retried, so
//! nothing is lost. The same operator feeds in-memory snapshots (`SnapshotSink`) used by tests,
//! `run`'s summary and serving.
//!
//! Why connector commits run on a thread of their own ([`Committer::Thread`]): a commit is I/O
//! (a PostgreSQL transaction, a Kafka transaction, files put on S3) that can take as long as
//! computing the updates did. Run inline, it stops worker 0 — and with it every operator of the
//! dataflow on that worker — for the whole round trip, so compute and I/O add up. On its own
//! thread, worker 0 keeps computing (and stashing the next updates) while one commit is in
//! flight; commits stay strictly ordered because the next one starts only after the previous
//! one is acknowledged. Consolidating and sorting a commit's updates moves to that thread too.
//! In-memory snapshot sinks commit inline ([`Committer::Inline`]): they are cheap, and readers
//! expect them to follow the dataflow closely.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use differential_dataflow::consolidation::consolidate_updates;
use illunare_connector::{ConnectorError, Sink};
use illunare_types::{Diff, Row, Time};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use crate::Coll;
use crate::sink_metrics::SinkMetrics;

/// How long a failed commit waits before it is retried (with whatever arrived meanwhile).
const RETRY_AFTER: Duration = Duration::from_millis(500);

type Updates = Vec<(Row, Time, Diff)>;

/// What became of a commit: acknowledged through `upper`, or failed (its updates handed back).
struct Outcome {
    upper: Option<Time>,
    failed: Option<(ConnectorError, Updates)>,
}

/// Runs commits: inline on the worker, or on a dedicated thread.
enum Committer {
    Inline { sink: Box<dyn Sink>, done: Option<Outcome> },
    Thread { jobs: Sender<(Updates, Option<Time>)>, outcomes: Receiver<Outcome>, lost: Option<Outcome> },
}

/// Consolidates and orders a commit's updates, commits them, and says how it went.
fn commit(sink: &mut dyn Sink, mut updates: Updates, upper: Option<Time>) -> Outcome {
    // Consolidation leaves the updates sorted by (row, time); a stable sort by time alone then
    // gives (time, row) order without comparing rows again. A sink that nets updates itself
    // takes insertions as they came (for an append-only view, most of a commit's cost was this
    // sort).
    if !(sink.takes_unordered_insertions() && updates.iter().all(|u| u.2 > 0)) {
        consolidate_updates(&mut updates);
        updates.sort_by_key(|u| u.1);
    }
    match sink.commit(&updates, upper) {
        Ok(()) => Outcome { upper, failed: None },
        Err(e) => Outcome { upper, failed: Some((e, updates)) },
    }
}

impl Committer {
    /// A thread named after the sink that commits whatever it is sent, in order, and wakes the
    /// operator after each commit. It ends when the operator (the job sender) is dropped.
    fn thread(name: &str, mut sink: Box<dyn Sink>, wake: impl Fn() + Send + 'static) -> Result<Committer, std::io::Error> {
        let (jobs, incoming) = crossbeam_channel::bounded::<(Updates, Option<Time>)>(1);
        let (report, outcomes) = crossbeam_channel::unbounded();
        std::thread::Builder::new().name(format!("sink-{name}")).spawn(move || {
            for (updates, upper) in incoming {
                // A panicking sink is reported (and the thread ends) rather than leaving the
                // operator waiting for an outcome that never comes.
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| commit(sink.as_mut(), updates, upper)));
                let (outcome, panicked) = match outcome {
                    Ok(outcome) => (outcome, false),
                    Err(panic) => {
                        let message = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default();
                        let error = ConnectorError::Other(format!("the sink panicked ({message}); its updates of this commit are lost and nothing more is committed"));
                        (Outcome { upper, failed: Some((error, Vec::new())) }, true)
                    }
                };
                if report.send(outcome).is_err() {
                    break;
                }
                wake();
                if panicked {
                    break;
                }
            }
        })?;
        Ok(Committer::Thread { jobs, outcomes, lost: None })
    }

    /// Starts a commit (inline: runs it).
    fn start(&mut self, updates: Updates, upper: Option<Time>) {
        match self {
            Committer::Inline { sink, done } => *done = Some(commit(sink.as_mut(), updates, upper)),
            Committer::Thread { jobs, lost, .. } => {
                // The thread ends only when this sender is dropped, or when a sink panicked;
                // then every commit fails (and is retried, so the pipeline never claims success).
                if let Err(crossbeam_channel::SendError((updates, upper))) = jobs.send((updates, upper)) {
                    *lost = Some(Outcome { upper, failed: Some((ConnectorError::Other("the sink's commit thread has stopped (the sink panicked)".into()), updates)) });
                }
            }
        }
    }

    /// The outcome of the commit in flight, once it is known.
    fn poll(&mut self) -> Option<Outcome> {
        match self {
            Committer::Inline { done, .. } => done.take(),
            Committer::Thread { outcomes, lost, .. } => lost.take().or_else(|| outcomes.try_recv().ok()),
        }
    }
}

/// Attaches `sink` (present on worker 0 only) to `input`. With `inline`, commits run on the
/// worker (snapshots); otherwise on a thread of the sink's own.
/// `metrics`, when given, count its commits.
pub fn render_sink(input: Coll<'_>, name: &str, sink: Option<Box<dyn Sink>>, commit_interval: Duration, inline: bool, metrics: Option<Arc<SinkMetrics>>) {
    let name = name.to_string();
    let scope = input.scope();
    let mut builder = OperatorBuilder::new(format!("Sink({name})"), scope);
    let info = builder.operator_info();
    let mut handle = builder.new_input(input.inner, Exchange::new(|_: &(Row, Time, Diff)| 0u64));
    let activator = scope.activator_for(info.address.clone());
    let mut committer = sink.and_then(|sink| {
        if inline {
            return Some(Committer::Inline { sink, done: None });
        }
        let activator = scope.worker().sync_activator_for(info.address.to_vec());
        // Fails only once the operator is gone; the thread then ends with its channel.
        let wake = move || {
            let _ = activator.activate();
        };
        match Committer::thread(&name, sink, wake) {
            Ok(committer) => Some(committer),
            Err(e) => {
                tracing::error!(sink = %name, "cannot start the sink's commit thread: {e}");
                None
            }
        }
    });
    let mut pending: Updates = Vec::new();
    // When the last commit, and the last commit that carried updates, started. Commits with
    // updates are spaced by `commit_interval` from the previous one with updates, so a
    // progress-only commit (the empty one at start, say) does not hold back the first rows.
    let mut last_commit: Option<Instant> = None;
    let mut last_data_commit: Option<Instant> = None;
    let mut retry_at: Option<Instant> = None;
    // The commit in flight: when it started and how many updates it carries.
    let mut in_flight: Option<(Instant, usize)> = None;
    let mut finished = false;
    let mut committed_upper: Option<Time> = Some(0);
    builder.build_reschedule(move |_capabilities| {
        move |frontiers| {
            let mut step = || {
                handle.for_each(|_time, data| pending.append(data));
                let Some(committer) = committer.as_mut() else {
                    pending.clear();
                    return;
                };
                // One round per commit; an inline commit's outcome is handled in the next round.
                while !finished {
                    if let Some((started, updates)) = in_flight {
                        // A thread's outcome wakes the operator when it arrives.
                        let Some(outcome) = committer.poll() else { return };
                        in_flight = None;
                        match outcome.failed {
                            None => {
                                if let Some(m) = &metrics {
                                    m.committed(updates, outcome.upper, started.elapsed());
                                }
                                committed_upper = outcome.upper;
                                finished = outcome.upper.is_none();
                                continue;
                            }
                            Some((e, updates)) => {
                                if let Some(m) = &metrics {
                                    m.failed();
                                }
                                tracing::error!(sink = %name, "commit failed, will retry: {e}");
                                pending.extend(updates);
                                retry_at = Some(Instant::now() + RETRY_AFTER);
                            }
                        }
                    }
                    let now = Instant::now();
                    if let Some(at) = retry_at {
                        if now < at {
                            activator.activate_after(at - now);
                            return;
                        }
                        retry_at = None;
                    }
                    let upper = frontiers[0].frontier().first().copied();
                    let done = upper.is_none();
                    // A commit with updates is spaced from the last one with updates, which is
                    // never later than the last commit: only when the last commit throttles and
                    // the last data commit does not do the pending updates need a look.
                    let within = |at: Option<Instant>| at.is_some_and(|last| now.saturating_duration_since(last) < commit_interval);
                    let data_may_go = within(last_commit) && !within(last_data_commit);
                    let spaced_from = if data_may_go && pending.iter().any(|(_, t, _)| upper.is_none_or(|u| *t < u)) { last_data_commit } else { last_commit };
                    if let Some(last) = spaced_from
                        && !done
                        && now.saturating_duration_since(last) < commit_interval
                    {
                        activator.activate_after(commit_interval - now.saturating_duration_since(last));
                        return;
                    }
                    let (ready, rest): (Vec<_>, Vec<_>) = pending.drain(..).partition(|(_, t, _)| upper.is_none_or(|u| *t < u));
                    pending = rest;
                    if ready.is_empty() && last_commit.is_some() && !done && upper == committed_upper {
                        return;
                    }
                    last_commit = Some(now);
                    if !ready.is_empty() {
                        last_data_commit = Some(now);
                    }
                    in_flight = Some((now, ready.len()));
                    committer.start(ready, upper);
                }
            };
            step();
            // Stay scheduled until the final commit went through: nothing may be lost.
            committer.is_some() && !finished
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use illunare_types::Datum;

    use super::*;

    type Commits = Arc<Mutex<Vec<(Updates, Option<Time>)>>>;

    /// Records what it is given; panics on a commit with frontier 13.
    /// Records commits; `.1`: whether it takes unordered insertions.
    struct Recorder(Commits, bool);

    impl Sink for Recorder {
        fn commit(&mut self, updates: &[(Row, Time, Diff)], frontier: Option<Time>) -> Result<(), ConnectorError> {
            assert_ne!(frontier, Some(13), "boom");
            self.0.lock().map_err(|_| ConnectorError::Other("poisoned".into()))?.push((updates.to_vec(), frontier));
            Ok(())
        }

        fn takes_unordered_insertions(&self) -> bool {
            self.1
        }
    }

    fn wait(committer: &mut Committer) -> Outcome {
        // Generous: a panicking sink's thread prints a symbolized backtrace first, which takes
        // seconds on a loaded machine.
        for _ in 0..15_000 {
            if let Some(outcome) = committer.poll() {
                return outcome;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("no outcome");
    }

    #[test]
    fn the_commit_thread_consolidates_orders_and_reports_a_panic() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut committer = Committer::thread("t", Box::new(Recorder(seen.clone(), false)), || {}).expect("thread");
        let row = |v: i64| Row(vec![Datum::Int(v)]);
        committer.start(vec![(row(2), 5, 1), (row(1), 7, 1), (row(1), 5, 1), (row(2), 5, -1), (row(3), 5, 2)], Some(10));
        let outcome = wait(&mut committer);
        assert!(outcome.failed.is_none() && outcome.upper == Some(10));
        let seen_now = seen.lock().expect("lock").clone();
        assert_eq!(seen_now, vec![(vec![(row(1), 5, 1), (row(3), 5, 2), (row(1), 7, 1)], Some(10))]);
        committer.start(vec![(row(4), 11, 1)], Some(13));
        let outcome = wait(&mut committer);
        let (error, _) = outcome.failed.expect("a panicking sink fails its commit");
        assert!(error.to_string().contains("the sink panicked") && error.to_string().contains("boom"), "{error}");
        // The thread is gone: later commits fail instead of waiting forever.
        committer.start(vec![(row(5), 14, 1)], Some(15));
        let (error, updates) = wait(&mut committer).failed.expect("fails");
        assert!(error.to_string().contains("has stopped") && updates.len() == 1, "{error}");
    }

    #[test]
    fn insertions_reach_a_sink_that_nets_them_as_they_came() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut committer = Committer::Inline { sink: Box::new(Recorder(seen.clone(), true)), done: None };
        let row = |v: i64| Row(vec![Datum::Int(v)]);
        let inserts = vec![(row(2), 5, 1), (row(1), 7, 1), (row(1), 5, 1), (row(1), 5, 1)];
        committer.start(inserts.clone(), Some(10));
        assert!(committer.poll().is_some_and(|o| o.failed.is_none()));
        // With a retraction in the commit, it is consolidated and ordered as for any sink.
        committer.start(vec![(row(2), 11, 1), (row(1), 12, 1), (row(2), 11, -1)], Some(14));
        assert!(committer.poll().is_some());
        let seen_now = seen.lock().expect("lock").clone();
        assert_eq!(seen_now, vec![(inserts, Some(10)), (vec![(row(1), 12, 1)], Some(14))]);
    }
}
