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
//!
//! How many splits a worker reads at once: all of them when the source is unbounded (a Kafka
//! partition or a device never ends, so none may wait for another) or has event time (the
//! frontier is the slowest split's watermark, so splits advance together). A bounded source in
//! processing time — a backfill over files — reads [`OPEN_BOUNDED_SPLITS`] splits per worker at
//! a time, in order: opening every row group of every file at once held each one's column
//! chunks and read-ahead batches in memory together (tens of megabytes per worker, touched
//! once each), so every batch landed in fresh memory and cold caches.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use differential_dataflow::AsCollection;
use illunare_connector::{ConnectorError, ErrorRecord, Position, Source, SourceChunk, SplitReader};
use illunare_types::{Diff, Row, Time, batch_to_rows, rows_to_batch};
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use tokio::sync::mpsc;

use arrow::record_batch::RecordBatch;

use crate::mfp::{Step, apply_steps, apply_steps_to_batch};
use crate::preagg::{PartialStash, PreAggregate};
use crate::source_clock::{Clock, EventTime};
use crate::{Coll, Rendered, error_row};

/// Counters of one source, shared with whoever reports progress.
#[derive(Default, Debug)]
pub struct SourceMetrics {
    pub rows: AtomicU64,
    pub errors: AtomicU64,
    pub retries: AtomicU64,
    pub splits_done: AtomicU64,
    /// Rows that arrived behind the frontier (event time), sent to `<source>_late`.
    pub late: AtomicU64,
    /// Bad records dropped by the connector as configured (`bad_records = 'drop'`).
    pub dropped: AtomicU64,
    /// The error that stopped the pipeline (a connector's fatal error), if any.
    pub fatal: std::sync::OnceLock<String>,
    /// Bytes of the rows read, as decoded Arrow columns (what the engine holds, not what
    /// crossed the wire: connectors decode before the engine sees a record).
    pub bytes: AtomicU64,
    /// The source's frontier (ms since the epoch; the watermark for an event-time source)
    /// after its last activation, as the last worker to run it left it; `u64::MAX` once done.
    /// `/metrics` reports the wall clock minus this as the source's lag.
    pub frontier: AtomicU64,
}

/// The bytes a batch's columns take (their slice of shared buffers, not the buffers).
fn batch_bytes(batch: &RecordBatch) -> u64 {
    batch.columns().iter().map(|c| c.to_data().get_slice_memory_size().unwrap_or(0) as u64).sum()
}

enum Message {
    Chunk(SourceChunk),
    Failed(ErrorRecord),
}

const MAX_BOUNDED_RETRIES: u32 = 5;
const MAX_CHUNKS_PER_ACTIVATION: usize = 8;
/// Splits a worker reads at once from a bounded source in processing time (see the module doc).
const OPEN_BOUNDED_SPLITS: usize = 2;

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
        let mut reader = match open_blocking(source.as_ref(), &split, position.as_ref()) {
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
                Err(illunare_connector::ConnectorError::Fatal(message)) => {
                    tracing::error!(source = %name, split = %split.id, "stopping the pipeline: {message}");
                    let record = ErrorRecord::new(message.clone(), None, Some(split.id.clone()));
                    let _ = tx.send(Message::Failed(record)).await;
                    let _ = metrics.fatal.set(message);
                    stop.store(true, Ordering::Relaxed);
                    break 'reopen;
                }
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
    /// Event time (WATERMARK declared), or processing time when `None`.
    pub event_time: Option<EventTime>,
    /// The furthest watermark of this source over this process's workers (event time).
    pub shared_watermark: Arc<AtomicU64>,
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
    /// Further chains over the same source whose outputs are added to `steps`' (a GROUP BY
    /// over a UNION ALL of chains, `fuse.rs`; only with `preagg`).
    pub union: Vec<Vec<Step>>,
    pub relation: String,
    /// A GROUP BY over the chain, split in two phases (`preagg.rs`): the source then emits
    /// partial aggregates per tick instead of rows.
    pub preagg: Option<Arc<PreAggregate>>,
    /// The chain's output column carrying the event time (`render::event_time_column`).
    pub event_column: Option<usize>,
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

    /// The output as a batch of `schema` (union branches name their columns their own way).
    fn into_batch(self, schema: &arrow::datatypes::SchemaRef) -> Result<RecordBatch, String> {
        match self {
            ChainOutput::Batch(b) if b.schema() == *schema => Ok(b),
            ChainOutput::Batch(b) => crate::mfp::batch_of(schema, b.columns().to_vec(), b.num_rows()).map_err(|e| e.to_string()),
            ChainOutput::Rows(rows) => rows_to_batch(schema, &rows).map_err(|e| e.to_string()),
        }
    }
}

/// Runs a chunk's batch through the fused chain (and its union branches), if any: (one output
/// per branch, evaluation error rows).
fn run_chain(batch: &RecordBatch, fused: Option<&Fused>) -> Result<(Vec<ChainOutput>, Vec<Row>), String> {
    let Some(fused) = fused else {
        return Ok((vec![ChainOutput::Batch(batch.clone())], vec![]));
    };
    let mut outputs = Vec::with_capacity(1 + fused.union.len());
    let mut errors = Vec::new();
    for steps in std::iter::once(&fused.steps).chain(&fused.union) {
        outputs.push(run_steps(batch, steps, &fused.relation, &mut errors)?);
    }
    Ok((outputs, errors))
}

/// One chain over a batch: vectorised, or row by row once some row fails (that row becomes an
/// error row in `errors`).
fn run_steps(batch: &RecordBatch, steps: &[Step], relation: &str, errors: &mut Vec<Row>) -> Result<ChainOutput, String> {
    if let Ok(out) = apply_steps_to_batch(steps, batch.clone()) {
        return Ok(ChainOutput::Batch(out));
    }
    let rows = batch_to_rows(batch).map_err(|e| e.to_string())?;
    let mut ok = Vec::new();
    for (_, result) in apply_steps(steps, rows) {
        match result {
            Ok(row) => ok.push(row),
            Err(failure) => errors.push(error_row(relation, failure)),
        }
    }
    Ok(ChainOutput::Rows(ok))
}

/// Renders source `name`: its rows (through `fused`, if given), its decode errors (rows of
/// the error schema), the fused chain's evaluation errors, and (event time) its late rows.
pub fn render_source<'s>(
    scope: timely::dataflow::Scope<'s, Time>,
    name: &str,
    source: Arc<dyn Source>,
    ctx: SourceContext,
    fused: Option<Fused>,
) -> SourceOutputs<'s> {
    let index = scope.index();
    let peers = scope.peers();
    let mut builder = OperatorBuilder::new(format!("Source({name})"), scope);
    let info = builder.operator_info();
    let (ok_out, ok_stream) = builder.new_output::<Vec<(Row, Time, Diff)>>();
    let (err_out, err_stream) = builder.new_output::<Vec<(Row, Time, Diff)>>();
    let (eval_out, eval_stream) = builder.new_output::<Vec<(Row, Time, Diff)>>();
    let (late_out, late_stream) = builder.new_output::<Vec<(Row, Time, Diff)>>();
    let mut ok_out = OutputBuilder::<_, timely::container::CapacityContainerBuilder<Vec<_>>>::from(ok_out);
    let mut err_out = OutputBuilder::<_, timely::container::CapacityContainerBuilder<Vec<_>>>::from(err_out);
    let mut eval_out = OutputBuilder::<_, timely::container::CapacityContainerBuilder<Vec<_>>>::from(eval_out);
    let mut late_out = OutputBuilder::<_, timely::container::CapacityContainerBuilder<Vec<_>>>::from(late_out);
    let activator = scope.activator_for(info.address.clone());
    let name = name.to_string();

    // This worker's splits: a channel each, fed by a tokio task.
    let mut receivers: Vec<(usize, mpsc::Receiver<Message>)> = Vec::new();
    let mut failed = Vec::new();
    let splits = match source.splits() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(source = %name, "cannot list splits: {e}");
            failed.push(ErrorRecord::new(format!("cannot list splits: {e}"), None, None));
            Vec::new()
        }
    };
    let turns = (source.bounded() && !source.paced() && ctx.event_time.is_none()).then(|| Arc::new(tokio::sync::Semaphore::new(OPEN_BOUNDED_SPLITS)));
    for (i, split) in splits.into_iter().enumerate() {
        if i % peers != index {
            continue;
        }
        let (tx, rx) = mpsc::channel(2);
        receivers.push((receivers.len(), rx));
        let wake = scope.worker().sync_activator_for(info.address.to_vec());
        let reader = read_split(source.clone(), split, tx, wake, ctx.stop.clone(), ctx.metrics.clone(), name.clone());
        let turns = turns.clone();
        ctx.runtime.spawn(async move {
            // A turn is held until the split is done: the worker's next split starts then.
            let _turn = match turns {
                Some(semaphore) => Some(semaphore.acquire_owned().await),
                None => None,
            };
            reader.await
        });
    }
    let mut live = vec![true; receivers.len()];
    let mut clock = Clock::new(ctx.event_time, ctx.tick_ms, receivers.len(), ctx.shared_watermark.clone());
    let stop = ctx.stop.clone();
    let metrics = ctx.metrics.clone();
    let mut stash = None;
    if let Some(f) = &fused
        && let Some(spec) = &f.preagg
    {
        match PartialStash::new(spec.clone(), f.relation.clone()) {
            Ok(s) => stash = Some(s),
            Err(e) => failed.push(ErrorRecord::new(format!("cannot start partial aggregation: {e}"), None, None)),
        }
    }

    builder.build(move |mut caps| {
        let mut late_cap = caps.pop();
        let mut eval_cap = caps.pop();
        let mut err_cap = caps.pop();
        let mut ok_cap = caps.pop();
        move |_frontiers| {
            let (Some(ok_c), Some(err_c), Some(eval_c), Some(late_c)) = (ok_cap.as_mut(), err_cap.as_mut(), eval_cap.as_mut(), late_cap.as_mut()) else {
                return;
            };
            let cap = *ok_c.time();
            // Processing time of this activation; event-time rows carry their own times.
            let now = clock.now(cap);
            let mut ok_handle = ok_out.activate();
            let mut err_handle = err_out.activate();
            let mut eval_handle = eval_out.activate();
            let mut late_handle = late_out.activate();
            let mut ok_rows: Vec<(Row, Time, Diff)> = Vec::new();
            let mut eval_rows: Vec<Row> = Vec::new();
            let mut err_rows: Vec<Row> = failed.drain(..).map(|r| r.to_row()).collect();
            let mut late_rows: Vec<Row> = Vec::new();
            let mut handled = 0;
            let mut more = false;
            // Round robin, one message per split per pass, so splits advance together (an
            // event-time frontier is the slowest split's watermark).
            let mut progress = true;
            while progress && !more {
                progress = false;
                for (slot, rx) in receivers.iter_mut() {
                    if !live[*slot] {
                        continue;
                    }
                    if handled >= MAX_CHUNKS_PER_ACTIVATION {
                        more = true;
                        break;
                    }
                    match rx.try_recv() {
                        Ok(Message::Chunk(chunk)) => {
                            handled += 1;
                            progress = true;
                            metrics.rows.fetch_add(chunk.batch.num_rows() as u64, Ordering::Relaxed);
                            metrics.bytes.fetch_add(batch_bytes(&chunk.batch), Ordering::Relaxed);
                            metrics.errors.fetch_add(chunk.errors.len() as u64, Ordering::Relaxed);
                            metrics.dropped.fetch_add(chunk.dropped, Ordering::Relaxed);
                            err_rows.extend(chunk.errors.iter().map(ErrorRecord::to_row));
                            let bound = clock.frontier(cap, &live).max(cap);
                            let stamped = match clock.stamp(*slot, chunk.batch, bound, now, chunk.remaining_from) {
                                Ok(s) => s,
                                Err(e) => {
                                    let record = ErrorRecord::new(format!("cannot read event time: {e}"), None, Some(chunk.position.0.clone()));
                                    err_rows.push(record.to_row());
                                    continue;
                                }
                            };
                            if let Some(late) = stamped.late {
                                metrics.late.fetch_add(late.num_rows() as u64, Ordering::Relaxed);
                                match batch_to_rows(&late) {
                                    Ok(rows) => late_rows.extend(rows),
                                    Err(e) => err_rows.push(ErrorRecord::new(e.to_string(), None, Some(chunk.position.0.clone())).to_row()),
                                }
                            }
                            for (at, batch) in stamped.parts {
                                let converted = run_chain(&batch, fused.as_ref()).and_then(|(outputs, failures)| {
                                    eval_rows.extend(failures);
                                    for output in outputs {
                                        match stash.as_mut() {
                                            Some(stash) => {
                                                let batch = output.into_batch(stash.input_schema())?;
                                                stash.add(&batch, at, &mut eval_rows);
                                            }
                                            None => ok_rows.extend(output.into_rows()?.into_iter().map(|r| (r, at, 1))),
                                        }
                                    }
                                    Ok(())
                                });
                                if let Err(e) = converted {
                                    let record =
                                        ErrorRecord::new(format!("batch does not match the declared columns: {e}"), None, Some(chunk.position.0.clone()));
                                    err_rows.push(record.to_row());
                                }
                            }
                        }
                        Ok(Message::Failed(record)) => {
                            progress = true;
                            metrics.errors.fetch_add(1, Ordering::Relaxed);
                            err_rows.push(record.to_row());
                        }
                        Err(mpsc::error::TryRecvError::Empty) => {}
                        Err(mpsc::error::TryRecvError::Disconnected) => {
                            live[*slot] = false;
                        }
                    }
                }
            }
            // The next activation starts with the next split: none starves when there are
            // more splits than chunks per activation.
            if !receivers.is_empty() {
                receivers.rotate_left(1);
            }
            let finished = !live.iter().any(|l| *l) || stop.load(Ordering::Relaxed);
            let next = clock.frontier(cap, &live).max(now);
            // Partial aggregates leave once no more rows can join them.
            if let Some(stash) = stash.as_mut() {
                let before = if finished || stash.is_full() { None } else { Some(next) };
                for (at, rows) in stash.take_before(before, &mut eval_rows) {
                    ok_rows.extend(rows.into_iter().map(|r| (r, at, 1)));
                }
            }
            ok_rows.sort_unstable_by_key(|(_, t, _)| *t);
            for chunk in ok_rows.chunk_by(|a, b| a.1 == b.1) {
                let at = ok_c.delayed(&chunk[0].1);
                ok_handle.session(&at).give_iterator(chunk.iter().cloned());
            }
            // Errors and late rows are stamped with this activation's time.
            for (rows, cap, handle) in [(err_rows, &*err_c, &mut err_handle), (eval_rows, &*eval_c, &mut eval_handle), (late_rows, &*late_c, &mut late_handle)]
            {
                if !rows.is_empty() {
                    let at = cap.delayed(&now);
                    handle.session(&at).give_iterator(rows.into_iter().map(|r| (r, now, 1)));
                }
            }
            drop((ok_handle, err_handle, eval_handle, late_handle));
            metrics.frontier.store(if finished { u64::MAX } else { next }, Ordering::Relaxed);
            if finished {
                ok_cap = None;
                err_cap = None;
                eval_cap = None;
                late_cap = None;
                return;
            }
            for c in [&mut *ok_c, &mut *err_c, &mut *eval_c, &mut *late_c] {
                c.downgrade(&next);
            }
            if more {
                activator.activate();
            } else {
                // Time moves on (and splits go idle) even when no data arrives.
                activator.activate_after(Duration::from_millis(50));
            }
        }
    });
    SourceOutputs {
        rendered: Rendered { ok: ok_stream.as_collection(), err: err_stream.as_collection() },
        eval_errors: eval_stream.as_collection(),
        late: late_stream.as_collection(),
    }
}

/// What a source operator produces.
pub struct SourceOutputs<'s> {
    /// Its rows (or the fused part's output) and its decode errors.
    pub rendered: Rendered<'s>,
    /// Evaluation errors of the fused part (they belong to the view that reads the source).
    pub eval_errors: Coll<'s>,
    /// Rows that arrived behind the frontier (event-time sources only).
    pub late: Coll<'s>,
}

/// `Source::open` is synchronous and may block on the network (Kafka metadata, a TCP connect,
/// a Parquet footer). On the I/O runtime's worker threads that would stall every other split
/// reader scheduled there, so the call is made under `block_in_place`, which hands the thread's
/// other tasks to another worker first. (A current-thread runtime cannot do that; there the
/// call is made as is.)
fn open_blocking(source: &dyn Source, split: &illunare_connector::Split, position: Option<&Position>) -> Result<Box<dyn SplitReader>, ConnectorError> {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(|| source.open(split, position)),
        _ => source.open(split, position),
    }
}
