//! The source operator: connector split readers → timestamped rows and error rows.
//!
//! ```text
//!  tokio task per split:  SplitReader::next() ─► bounded channel ─► (wakes the operator)
//!  timely operator:       drain channels ─► rows @ time, error rows @ time ─► two outputs
//! ```
//! Splits are assigned to workers by `split index % workers`, so every worker/process count
//! reads the same data. A reader that fails is reopened at its last position with exponential
//! backoff; a bounded split that keeps failing is reported in the `<source>_errors` relation and
//! given up, so a pipeline over files always ends. Rows are stamped with processing time (ms);
//! see `docs/design/time.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use differential_dataflow::AsCollection;
use illunare_connector::{ErrorRecord, Position, Source, SourceChunk};
use illunare_types::{Diff, Row, Time, batch_to_rows, rows_to_batch};
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use tokio::sync::mpsc;

use arrow::record_batch::RecordBatch;

use crate::mfp::{Step, apply_steps, apply_steps_to_batch};
use crate::preagg::{PartialAggregator, PreAggregate};
use crate::{Coll, Rendered, error_row, now_ms};

/// Counters of one source, shared with whoever reports progress.
#[derive(Default, Debug)]
pub struct SourceMetrics {
    pub rows: AtomicU64,
    pub errors: AtomicU64,
    pub retries: AtomicU64,
    pub splits_done: AtomicU64,
}

enum Message {
    Chunk(SourceChunk),
    Failed(ErrorRecord),
}

const MAX_BOUNDED_RETRIES: u32 = 5;
const MAX_CHUNKS_PER_ACTIVATION: usize = 8;

async fn read_split(
    source: Arc<dyn Source>,
    split: illunare_connector::Split,
    tx: mpsc::Sender<Message>,
    wake: timely::scheduling::SyncActivator,
    stop: Arc<AtomicBool>,
    metrics: Arc<SourceMetrics>,
    name: String,
) {
    let bounded = source.bounded();
    let mut position: Option<Position> = None;
    let mut failures = 0u32;
    let mut backoff = Duration::from_millis(100);
    'reopen: while !stop.load(Ordering::Relaxed) {
        let mut reader = match source.open(&split, position.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                failures += 1;
                metrics.retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(source = %name, split = %split.id, "cannot open split (attempt {failures}): {e}");
                if bounded && failures >= MAX_BOUNDED_RETRIES {
                    let record = ErrorRecord::new(format!("split gave up after {failures} attempts: {e}"), None, Some(split.id.clone()));
                    let _ = tx.send(Message::Failed(record)).await;
                    let _ = wake.activate();
                    break;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        loop {
            if stop.load(Ordering::Relaxed) {
                break 'reopen;
            }
            match reader.next().await {
                Ok(Some(chunk)) => {
                    failures = 0;
                    backoff = Duration::from_millis(100);
                    position = Some(chunk.position.clone());
                    if tx.send(Message::Chunk(chunk)).await.is_err() {
                        break 'reopen;
                    }
                    let _ = wake.activate();
                }
                Ok(None) => break 'reopen,
                Err(e) => {
                    failures += 1;
                    metrics.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(source = %name, split = %split.id, "read failed (attempt {failures}), retrying in {backoff:?}: {e}");
                    if bounded && failures >= MAX_BOUNDED_RETRIES {
                        let record = ErrorRecord::new(
                            format!("split gave up after {failures} failed reads: {e}"),
                            None,
                            Some(format!("{}@{}", split.id, position.as_ref().map(|p| p.0.as_str()).unwrap_or("start"))),
                        );
                        let _ = tx.send(Message::Failed(record)).await;
                        break 'reopen;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue 'reopen;
                }
            }
        }
    }
    metrics.splits_done.fetch_add(1, Ordering::Relaxed);
    drop(tx);
    let _ = wake.activate();
}

pub struct SourceContext {
    /// Times are rounded up to a multiple of this many ms, so downstream operators see few
    /// distinct times (fewer, larger updates per key) at the cost of that much latency.
    pub tick_ms: Time,
    pub runtime: tokio::runtime::Handle,
    pub stop: Arc<AtomicBool>,
    pub metrics: Arc<SourceMetrics>,
}

/// A map/filter chain evaluated on the source's Arrow batches before they become rows
/// (when the source has exactly one consumer); its errors belong to `relation`.
pub struct Fused {
    pub steps: Vec<Step>,
    pub relation: String,
    /// A GROUP BY over the chain, split in two phases (`preagg.rs`): the source then emits
    /// partial aggregates per tick instead of rows.
    pub preagg: Option<Arc<PreAggregate>>,
}

/// What the fused chain made of a batch: still a batch, or rows once some row failed.
enum ChainOutput {
    Batch(RecordBatch),
    Rows(Vec<Row>),
}

impl ChainOutput {
    fn into_rows(self) -> Result<Vec<Row>, String> {
        match self {
            ChainOutput::Batch(b) => batch_to_rows(&b).map_err(|e| e.to_string()),
            ChainOutput::Rows(rows) => Ok(rows),
        }
    }

    fn into_batch(self, schema: &arrow::datatypes::SchemaRef) -> Result<RecordBatch, String> {
        match self {
            ChainOutput::Batch(b) => Ok(b),
            ChainOutput::Rows(rows) => rows_to_batch(schema, &rows).map_err(|e| e.to_string()),
        }
    }
}

/// Runs a chunk's batch through the fused chain, if any: (output, evaluation error rows).
fn run_chain(batch: &RecordBatch, fused: Option<&Fused>) -> Result<(ChainOutput, Vec<Row>), String> {
    let Some(fused) = fused else {
        return Ok((ChainOutput::Batch(batch.clone()), vec![]));
    };
    if let Ok(out) = apply_steps_to_batch(&fused.steps, batch.clone()) {
        return Ok((ChainOutput::Batch(out), vec![]));
    }
    // Some row failed: isolate it, row by row.
    let rows = batch_to_rows(batch).map_err(|e| e.to_string())?;
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (_, result) in apply_steps(&fused.steps, rows) {
        match result {
            Ok(row) => ok.push(row),
            Err(failure) => errors.push(error_row(&fused.relation, failure)),
        }
    }
    Ok((ChainOutput::Rows(ok), errors))
}

/// A source's partial aggregator and the time its groups were stamped with.
struct Stashed {
    aggregator: PartialAggregator,
    spec: Arc<PreAggregate>,
    relation: String,
    at: Time,
}

/// Groups a partial aggregator holds at most before it is emitted early.
const MAX_STASHED_GROUPS: usize = 1 << 20;

impl Stashed {
    fn add(&mut self, output: ChainOutput, at: Time, errors: &mut Vec<Row>) {
        self.at = at;
        match output.into_batch(&self.spec.input_schema) {
            Ok(batch) => errors.extend(self.aggregator.update(&batch).into_iter().map(|f| error_row(&self.relation, f))),
            Err(message) => errors.push(error_row(&self.relation, crate::Failure { message, raw: String::new() })),
        }
    }

    /// The partial rows held (stamped `self.at`), and a failure as an error row.
    fn take(&mut self) -> (Vec<Row>, Option<Row>) {
        match self.aggregator.emit() {
            Ok(rows) => (rows, None),
            Err(message) => (Vec::new(), Some(error_row(&self.relation, crate::Failure { message, raw: "partial aggregation".into() }))),
        }
    }
}

/// Renders source `name`: its rows (through `fused`, if given), its decode errors (rows of
/// the error schema), and the fused chain's evaluation errors.
pub fn render_source<'s>(
    scope: timely::dataflow::Scope<'s, Time>,
    name: &str,
    source: Arc<dyn Source>,
    ctx: SourceContext,
    fused: Option<Fused>,
) -> (Rendered<'s>, Coll<'s>) {
    let index = scope.index();
    let peers = scope.peers();
    let mut builder = OperatorBuilder::new(format!("Source({name})"), scope);
    let info = builder.operator_info();
    let (ok_out, ok_stream) = builder.new_output::<Vec<(Row, Time, Diff)>>();
    let (err_out, err_stream) = builder.new_output::<Vec<(Row, Time, Diff)>>();
    let (eval_out, eval_stream) = builder.new_output::<Vec<(Row, Time, Diff)>>();
    let mut eval_out = OutputBuilder::<_, timely::container::CapacityContainerBuilder<Vec<_>>>::from(eval_out);
    let mut ok_out = OutputBuilder::<_, timely::container::CapacityContainerBuilder<Vec<_>>>::from(ok_out);
    let mut err_out = OutputBuilder::<_, timely::container::CapacityContainerBuilder<Vec<_>>>::from(err_out);
    let activator = scope.activator_for(info.address.clone());
    let name = name.to_string();

    let mut receivers: Vec<mpsc::Receiver<Message>> = Vec::new();
    let mut failed_listing = None;
    let splits = match source.splits() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(source = %name, "cannot list splits: {e}");
            failed_listing = Some(ErrorRecord::new(format!("cannot list splits: {e}"), None, None));
            Vec::new()
        }
    };
    for (i, split) in splits.into_iter().enumerate() {
        if i % peers != index {
            continue;
        }
        let (tx, rx) = mpsc::channel(2);
        receivers.push(rx);
        let wake = scope.worker().sync_activator_for(info.address.to_vec());
        ctx.runtime.spawn(read_split(source.clone(), split, tx, wake, ctx.stop.clone(), ctx.metrics.clone(), name.clone()));
    }
    let stop = ctx.stop.clone();
    let metrics = ctx.metrics.clone();
    let tick = ctx.tick_ms.max(1);
    let mut stash = None;
    let mut failed_start = None;
    if let Some(f) = &fused
        && let Some(spec) = &f.preagg
    {
        match PartialAggregator::new(spec.clone()) {
            Ok(aggregator) => stash = Some(Stashed { aggregator, spec: spec.clone(), relation: f.relation.clone(), at: 0 }),
            Err(e) => failed_start = Some(ErrorRecord::new(format!("cannot start partial aggregation: {e}"), None, None)),
        }
    }

    builder.build(move |mut caps| {
        let mut eval_cap = caps.pop();
        let mut err_cap = caps.pop();
        let mut ok_cap = caps.pop();
        move |_frontiers| {
            let (Some(ok_c), Some(err_c), Some(eval_c)) = (ok_cap.as_mut(), err_cap.as_mut(), eval_cap.as_mut()) else { return };
            let now = now_ms().div_ceil(tick).saturating_mul(tick).max(*ok_c.time());
            let mut ok_handle = ok_out.activate();
            let mut err_handle = err_out.activate();
            let mut eval_handle = eval_out.activate();
            let mut eval_rows = Vec::new();
            // Partial aggregates of an earlier tick leave at their own time.
            if let Some(stashed) = stash.as_mut()
                && stashed.at < now
                && !stashed.aggregator.is_empty()
            {
                let (rows, failure) = stashed.take();
                let at = ok_c.delayed(&stashed.at);
                ok_handle.session(&at).give_iterator(rows.into_iter().map(|r| (r, stashed.at, 1)));
                eval_rows.extend(failure);
            }
            let ok_at = ok_c.delayed(&now);
            let err_at = err_c.delayed(&now);
            let eval_at = eval_c.delayed(&now);
            let mut ok_session = ok_handle.session(&ok_at);
            let mut err_session = err_handle.session(&err_at);
            let mut eval_session = eval_handle.session(&eval_at);
            if let Some(record) = failed_start.take() {
                err_session.give((record.to_row(), now, 1));
            }
            if let Some(record) = failed_listing.take() {
                metrics.errors.fetch_add(1, Ordering::Relaxed);
                err_session.give((record.to_row(), now, 1));
            }
            let mut handled = 0;
            let mut more = false;
            receivers.retain_mut(|rx| loop {
                if handled >= MAX_CHUNKS_PER_ACTIVATION {
                    more = true;
                    return true;
                }
                match rx.try_recv() {
                    Ok(Message::Chunk(chunk)) => {
                        handled += 1;
                        metrics.rows.fetch_add(chunk.batch.num_rows() as u64, Ordering::Relaxed);
                        let converted = run_chain(&chunk.batch, fused.as_ref()).and_then(|(output, failures)| {
                            eval_rows.extend(failures);
                            match stash.as_mut() {
                                Some(stashed) => {
                                    stashed.add(output, now, &mut eval_rows);
                                    if stashed.aggregator.len() >= MAX_STASHED_GROUPS {
                                        let (rows, failure) = stashed.take();
                                        ok_session.give_iterator(rows.into_iter().map(|r| (r, now, 1)));
                                        eval_rows.extend(failure);
                                    }
                                    Ok(())
                                }
                                None => {
                                    ok_session.give_iterator(output.into_rows()?.into_iter().map(|r| (r, now, 1)));
                                    Ok(())
                                }
                            }
                        });
                        match converted {
                            Ok(()) => {}
                            Err(e) => {
                                let record = ErrorRecord::new(format!("batch does not match the declared columns: {e}"), None, Some(chunk.position.0.clone()));
                                err_session.give((record.to_row(), now, 1));
                            }
                        }
                        metrics.errors.fetch_add(chunk.errors.len() as u64, Ordering::Relaxed);
                        for record in chunk.errors {
                            err_session.give((record.to_row(), now, 1));
                        }
                    }
                    Ok(Message::Failed(record)) => {
                        metrics.errors.fetch_add(1, Ordering::Relaxed);
                        err_session.give((record.to_row(), now, 1));
                    }
                    Err(mpsc::error::TryRecvError::Empty) => return true,
                    Err(mpsc::error::TryRecvError::Disconnected) => return false,
                }
            });
            let finished = receivers.is_empty() || stop.load(Ordering::Relaxed);
            if finished && let Some(stashed) = stash.as_mut() {
                // Everything stashed was stamped `now` (earlier ticks left above).
                let (rows, failure) = stashed.take();
                ok_session.give_iterator(rows.into_iter().map(|r| (r, now, 1)));
                eval_rows.extend(failure);
            }
            eval_session.give_iterator(eval_rows.into_iter().map(|r| (r, now, 1)));
            drop(ok_session);
            drop(err_session);
            drop(eval_session);
            if finished {
                ok_cap = None;
                err_cap = None;
                eval_cap = None;
                return;
            }
            ok_c.downgrade(&now);
            err_c.downgrade(&now);
            eval_c.downgrade(&now);
            if more {
                activator.activate();
            } else {
                // Processing time moves on even when no data arrives.
                activator.activate_after(Duration::from_millis(50));
            }
        }
    });
    (Rendered { ok: ok_stream.as_collection(), err: err_stream.as_collection() }, eval_stream.as_collection())
}
