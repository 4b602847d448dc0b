//! Running a dataflow: timely workers (threads, and processes in cluster mode), the command
//! channel that feeds table changes in, and the stop switch.
//!
//! Every worker builds the same dataflow from the shared [`DataflowSpec`]. Table changes are
//! commands with a timestamp chosen by the caller: worker 0 inserts the rows, every worker
//! advances its table inputs, so the frontier moves everywhere. Sinks and snapshots live on
//! worker 0 (data is exchanged there). A pipeline ends when all sources are exhausted and the
//! tables are closed; `stop()` makes sources finish early so sinks flush and the run ends cleanly.
//!
//! A running engine can take more dataflows ([`Runtime::install`]) and drop them
//! ([`Runtime::drop_dataflow`]) without touching the others: the command reaches every worker in
//! the same order, so all of them build (or drop) the same dataflow between two steps, as timely
//! requires. A new dataflow's tables start from their contents at install time (worker 0 inserts
//! them at that timestamp); from then on every table change reaches every dataflow that reads
//! the table. See `docs/design/serving.md`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use crossbeam_channel::{Receiver, Sender};
use differential_dataflow::input::{Input, InputSession};
use illunare_connector::{ConnectorError, Sink, Source};
use illunare_plan::Plan;
use illunare_types::{Diff, Row, Time, errors_name};
use timely::CommunicationConfig;
use timely::dataflow::ProbeHandle;

use crate::keyed::EmptyCollection;
use crate::render::{Context, render_plan};
use crate::sink::render_sink;
use crate::sink_metrics::SinkMetrics;
use crate::snapshot::{SnapshotHandle, SnapshotSink, SnapshotState};
use crate::source::{SourceContext, SourceMetrics, render_source};
use crate::Rendered;

/// Names an installed dataflow; the one `Runtime::start` builds is 0.
pub type DataflowId = u64;

pub struct TableSpec {
    pub name: String,
    pub schema: SchemaRef,
}

type SinkFactory = Arc<dyn Fn() -> Result<Box<dyn Sink>, ConnectorError> + Send + Sync>;

pub struct SinkRuntimeSpec {
    pub name: String,
    pub from: String,
    /// Builds the sink on worker 0.
    pub factory: SinkFactory,
    pub commit_interval: Duration,
}

/// Everything one dataflow contains, in dependency order.
#[derive(Default)]
pub struct DataflowSpec {
    pub sources: Vec<(String, Arc<dyn Source>)>,
    pub tables: Vec<TableSpec>,
    pub views: Vec<(String, Plan)>,
    pub sinks: Vec<SinkRuntimeSpec>,
    /// Relations whose contents are kept in memory on worker 0.
    pub captures: Vec<String>,
    /// Granularity of source timestamps in ms (see `source_clock.rs`).
    pub tick_ms: Time,
    /// Sources whose rows carry event time (a WATERMARK was declared), by name.
    pub event_times: HashMap<String, crate::EventTime>,
}

/// Where the workers run.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub workers: usize,
    pub processes: usize,
    pub process_index: usize,
    /// `host:port` of every process (cluster mode only).
    pub hosts: Vec<String>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig { workers: 1, processes: 1, process_index: 0, hosts: vec![] }
    }
}

enum Command {
    /// Apply `updates` to `table` at `time` (data only on worker 0; all advance).
    Update { table: String, time: Time, updates: Vec<(Row, Diff)> },
    /// Advance all table inputs to `time`.
    Advance(Time),
    /// No more table changes.
    CloseTables,
    /// Build another dataflow.
    Install(Arc<Build>),
    /// Drop a dataflow and its table inputs.
    Drop(DataflowId),
}

/// Everything a worker needs to build one dataflow.
struct Build {
    id: DataflowId,
    spec: DataflowSpec,
    snapshots: HashMap<String, SnapshotHandle>,
    metrics: HashMap<String, Arc<SourceMetrics>>,
    sink_metrics: HashMap<String, Arc<SinkMetrics>>,
    /// Per event-time source, the furthest watermark over this process's workers.
    watermarks: HashMap<String, Arc<std::sync::atomic::AtomicU64>>,
    /// The contents of the dataflow's tables when it is installed, inserted at `time`.
    seeds: Vec<(String, Vec<Row>)>,
    time: Time,
}

/// A dataflow as one worker holds it.
struct Installed {
    id: DataflowId,
    /// Timely's index of the dataflow on this worker.
    index: usize,
    tables: HashMap<String, InputSession<Time, Row, Diff>>,
}

/// A running dataflow.
pub struct Runtime {
    senders: Vec<Sender<Command>>,
    guards: Option<timely::communication::WorkerGuards<Result<(), String>>>,
    stop: Arc<AtomicBool>,
    pub snapshots: HashMap<String, SnapshotHandle>,
    pub source_metrics: HashMap<String, Arc<SourceMetrics>>,
    pub sink_metrics: HashMap<String, Arc<SinkMetrics>>,
    /// Updates held in this process's arrangements (`state_metrics.rs`).
    pub state: Arc<crate::state_metrics::StateMetrics>,
    _tokio: Option<tokio::runtime::Runtime>,
    last_time: Time,
    /// Only process 0 feeds table data (every process runs the same coordinator).
    feeds_tables: bool,
    processes: usize,
    next_id: DataflowId,
}

impl Runtime {
    pub fn start(spec: DataflowSpec, cluster: &ClusterConfig) -> Result<Runtime, String> {
        let workers = cluster.workers.max(1);
        let communication = if cluster.processes > 1 {
            if cluster.hosts.len() != cluster.processes {
                return Err(format!("{} processes need {} hosts, got {}", cluster.processes, cluster.processes, cluster.hosts.len()));
            }
            CommunicationConfig::Cluster {
                threads: workers,
                process: cluster.process_index,
                addresses: cluster.hosts.clone(),
                report: false,
                zerocopy: false,
            }
        } else if workers > 1 {
            CommunicationConfig::Process(workers)
        } else {
            CommunicationConfig::Thread
        };
        let config = timely::Config { communication, worker: timely::WorkerConfig::default() };

        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("illunare-io")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start I/O runtime: {e}"))?;
        let handle = tokio.handle().clone();
        let stop = Arc::new(AtomicBool::new(false));
        let first = build_for(0, spec, Vec::new(), 0, &HashMap::new());
        let snapshots = first.snapshots.clone();
        let source_metrics = first.metrics.clone();
        let sink_metrics = first.sink_metrics.clone();

        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..workers {
            let (tx, rx) = crossbeam_channel::unbounded();
            senders.push(tx);
            receivers.push(Some(rx));
        }
        let receivers = Arc::new(Mutex::new(receivers));
        let state: Arc<crate::state_metrics::StateMetrics> = Arc::default();
        let shared = Arc::new(Shared { state: state.clone(), stop: stop.clone(), io: handle });
        let first = Arc::new(first);
        let first_index = cluster.process_index * workers;
        let guards = timely::execute(config, move |worker| {
            let local = worker.index() - first_index;
            let rx = receivers.lock().map_err(|_| "poisoned".to_string())?[local].take().ok_or("worker started twice")?;
            run_worker(worker, &shared, &first, rx)
        })?;
        Ok(Runtime {
            senders,
            guards: Some(guards),
            stop,
            snapshots,
            source_metrics,
            sink_metrics,
            state,
            _tokio: Some(tokio),
            last_time: 0,
            feeds_tables: cluster.process_index == 0,
            processes: cluster.processes.max(1),
            next_id: 1,
        })
    }

    /// Builds another dataflow next to the running ones; `seeds` are its tables' current
    /// contents. Its captures become readable in `snapshots` at once (empty until it runs).
    pub fn install(&mut self, spec: DataflowSpec, seeds: Vec<(String, Vec<Row>)>) -> Result<DataflowId, String> {
        if self.processes > 1 {
            return Err("dataflows cannot be added to a multi-process cluster while it runs".into());
        }
        if self.is_finished() {
            return Err("the engine has stopped".into());
        }
        let id = self.next_id;
        self.next_id += 1;
        let time = self.next_time();
        let build = Arc::new(build_for(id, spec, seeds, time, &self.source_metrics));
        self.snapshots.extend(build.snapshots.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.source_metrics.extend(build.metrics.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.sink_metrics.extend(build.sink_metrics.iter().map(|(k, v)| (k.clone(), v.clone())));
        for s in &self.senders {
            let _ = s.send(Command::Install(build.clone()));
        }
        Ok(id)
    }

    /// Drops dataflow `id` on every worker; `captures` (its captured relations) stop being served.
    pub fn drop_dataflow(&mut self, id: DataflowId, captures: &[String]) {
        for s in &self.senders {
            let _ = s.send(Command::Drop(id));
        }
        for name in captures {
            self.snapshots.remove(name);
        }
    }

    /// A timestamp for the next table change: now, and after every earlier one.
    pub fn next_time(&mut self) -> Time {
        self.last_time = crate::now_ms().max(self.last_time + 1);
        self.last_time
    }

    /// Applies `updates` to `table` at a fresh timestamp, which is returned.
    pub fn update_table(&mut self, table: &str, updates: Vec<(Row, Diff)>) -> Time {
        let time = self.next_time();
        self.send_update(table, updates, time)
    }

    /// Applies `updates` to `table` just after the previous change, before any source data (the
    /// pipeline file's own DML: its tables hold from the beginning of event time on).
    pub fn update_table_at_start(&mut self, table: &str, updates: Vec<(Row, Diff)>) -> Time {
        self.last_time += 1;
        let time = self.last_time;
        self.send_update(table, updates, time)
    }

    fn send_update(&mut self, table: &str, updates: Vec<(Row, Diff)>, time: Time) -> Time {
        for (i, s) in self.senders.iter().enumerate() {
            let updates = if i == 0 && self.feeds_tables { updates.clone() } else { Vec::new() };
            let _ = s.send(Command::Update { table: table.to_string(), time, updates });
        }
        time
    }

    /// Lets table-only pipelines' time move on.
    pub fn advance_tables(&mut self) -> Time {
        let time = self.next_time();
        for s in &self.senders {
            let _ = s.send(Command::Advance(time));
        }
        time
    }

    /// Promises no more table changes (bounded pipelines then end by themselves).
    pub fn close_tables(&self) {
        for s in &self.senders {
            let _ = s.send(Command::CloseTables);
        }
    }

    /// Asks sources to finish and tables to close; sinks then flush and the run ends.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.close_tables();
    }

    pub fn is_finished(&self) -> bool {
        self.guards.as_ref().is_none_or(|g| g.guards().iter().all(|h| h.is_finished()))
    }

    /// Waits for every worker of this process to finish.
    pub fn join(mut self) -> Result<(), String> {
        if let Some(guards) = self.guards.take() {
            for result in guards.join() {
                result??;
            }
        }
        Ok(())
    }

    /// Waits until snapshot `name` reflects everything before `time` (or it closed).
    pub fn wait_for(&self, name: &str, time: Time, timeout: Duration) -> Result<SnapshotState, String> {
        let handle = self.snapshots.get(name).ok_or_else(|| format!("relation '{name}' is not captured"))?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            {
                let state = handle.lock().map_err(|_| "snapshot lock poisoned")?;
                if state.complete_through(time) {
                    return Ok(state.clone());
                }
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("timed out waiting for '{name}' to reach time {time}"));
            }
            if self.is_finished() {
                let state = handle.lock().map_err(|_| "snapshot lock poisoned")?;
                if !state.closed && !self.stop.load(Ordering::SeqCst) {
                    return Err(format!("the dataflow stopped before '{name}' was complete (a worker failed; see the log)"));
                }
                return Ok(state.clone());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if self.guards.is_some() {
            self.stop();
        }
        // Dropping a runtime waits for its tasks, which is not allowed on an async thread (an
        // engine owned by a server or an async test): let the I/O tasks end in the background.
        if let Some(io) = self._tokio.take() {
            io.shutdown_background();
        }
    }
}

struct Shared {
    state: Arc<crate::state_metrics::StateMetrics>,
    stop: Arc<AtomicBool>,
    io: tokio::runtime::Handle,
}

/// A [`Build`]: snapshot handles for the captures, metrics for the sources (the engine's
/// existing counters when a source is read again, so they add up per source).
fn build_for(id: DataflowId, spec: DataflowSpec, seeds: Vec<(String, Vec<Row>)>, time: Time, metrics: &HashMap<String, Arc<SourceMetrics>>) -> Build {
    let snapshots = spec.captures.iter().map(|n| (n.clone(), Arc::new(Mutex::new(SnapshotState::default())))).collect();
    let metrics = spec.sources.iter().map(|(n, _)| (n.clone(), metrics.get(n).cloned().unwrap_or_default())).collect();
    let sink_metrics = spec.sinks.iter().map(|s| (s.name.clone(), Arc::default())).collect();
    let watermarks = spec.event_times.keys().map(|n| (n.clone(), Arc::default())).collect();
    Build { id, spec, snapshots, metrics, sink_metrics, watermarks, seeds, time }
}

fn run_worker(worker: &mut timely::worker::Worker, shared: &Shared, first: &Build, commands: Receiver<Command>) -> Result<(), String> {
    shared.state.attach(worker);
    let mut dataflows = vec![build_dataflow(worker, shared, first)];
    let mut open = true;
    loop {
        while let Ok(command) = commands.try_recv() {
            match command {
                Command::Update { table, time, updates } => {
                    advance_tables(&mut dataflows, time, false);
                    // Every dataflow that reads the table gets the change (worker 0 holds the data).
                    for installed in &mut dataflows {
                        if let Some(input) = installed.tables.get_mut(&table) {
                            for (row, diff) in &updates {
                                input.update(row.clone(), *diff);
                            }
                        }
                    }
                    advance_tables(&mut dataflows, time + 1, true);
                }
                Command::Advance(time) => advance_tables(&mut dataflows, time, true),
                Command::CloseTables => {
                    dataflows.iter_mut().for_each(|d| d.tables.clear());
                    open = false;
                }
                Command::Install(build) => {
                    advance_tables(&mut dataflows, build.time, false);
                    let mut installed = build_dataflow(worker, shared, &build);
                    if !open {
                        installed.tables.clear();
                    }
                    dataflows.push(installed);
                    advance_tables(&mut dataflows, build.time + 1, true);
                }
                Command::Drop(id) => {
                    if let Some(at) = dataflows.iter().position(|d| d.id == id) {
                        let dropped = dataflows.remove(at);
                        drop(dropped.tables);
                        worker.drop_dataflow(dropped.index);
                    }
                }
            }
        }
        if shared.stop.load(Ordering::Relaxed) && open {
            dataflows.iter_mut().for_each(|d| d.tables.clear());
            open = false;
        }
        let active = worker.step_or_park(Some(Duration::from_millis(2)));
        if !active && !open {
            break;
        }
    }
    Ok(())
}

/// Moves every table input of every dataflow to `time` (never back); `flush` sends the progress.
fn advance_tables(dataflows: &mut [Installed], time: Time, flush: bool) {
    for input in dataflows.iter_mut().flat_map(|d| d.tables.values_mut()) {
        if *input.time() < time {
            input.advance_to(time);
        }
        if flush {
            input.flush();
        }
    }
}

/// Builds `build`'s dataflow on this worker, with its tables seeded at the install time.
fn build_dataflow(worker: &mut timely::worker::Worker, shared: &Shared, build: &Build) -> Installed {
    let spec = &build.spec;
    let is_zero = worker.index() == 0;
    let probe = ProbeHandle::<Time>::new();
    let index = worker.next_dataflow_index();
    let mut tables: HashMap<String, InputSession<Time, Row, Diff>> = worker.dataflow::<Time, _, _>(|scope| {
        let mut ctx: Context = HashMap::new();
        let mut inputs = HashMap::new();
        let mut views = spec.views.clone();
        let source_names: Vec<String> = spec.sources.iter().map(|(n, _)| n.clone()).collect();
        let mut other_uses: Vec<String> = spec.sinks.iter().map(|s| s.from.clone()).collect();
        other_uses.extend(spec.captures.iter().cloned());
        crate::render::SOURCES.with(|s| *s.borrow_mut() = source_names.iter().cloned().collect());
        crate::window_join::CLOSED_WINDOWS.with(|c| c.borrow_mut().clear());
        crate::render::INSERT_ONLY.with(|c| c.borrow_mut().clear());
        crate::render::EVENT_COLUMNS.with(|s| *s.borrow_mut() = spec.event_times.iter().map(|(n, e)| (n.clone(), Some(e.column))).collect());
        crate::render::TICK_MS.with(|t| t.set(spec.tick_ms.max(1)));
        crate::render::STATE.with(|s| *s.borrow_mut() = Some(shared.state.clone()));
        let mut fused = crate::fuse::fuse_sources(&mut views, &source_names, &other_uses);
        // Sources read by several projections emit only the columns those use.
        let source_columns: Vec<_> = spec.sources.iter().map(|(n, s)| (n.clone(), s.schema(), spec.event_times.get(n).map(|e| e.column))).collect();
        let projected = crate::source_projection::project_sources(&mut views, &source_columns, &fused, &other_uses);
        fused.extend(projected);
        for (source, chain) in &fused {
            if chain.preagg.is_none() && spec.event_times.contains_key(source) {
                crate::render::EVENT_COLUMNS.with(|s| s.borrow_mut().insert(crate::fuse::fused_name(source), chain.event_column));
            }
        }
        for (name, source) in &spec.sources {
            let metrics = build.metrics.get(name).cloned().unwrap_or_default();
            let context = SourceContext {
                event_time: spec.event_times.get(name).cloned(),
                shared_watermark: build.watermarks.get(name).cloned().unwrap_or_default(),
                tick_ms: spec.tick_ms,
                runtime: shared.io.clone(),
                stop: shared.stop.clone(),
                metrics,
            };
            let chain = fused.remove(name);
            let preagg = chain.as_ref().map(|c| c.preagg.clone());
            let view = chain.as_ref().map(|c| c.relation.clone()).unwrap_or_else(|| name.clone());
            // Only the columns (and row groups, files…) the chain can use are read.
            let late = illunare_types::late_name(name);
            let whole_rows = other_uses.contains(&late) || crate::source_pushdown::is_read(&views, &late);
            let source = crate::source_pushdown::push_down(source, chain.as_ref(), spec.event_times.get(name), whole_rows);
            let outputs = render_source(scope, name, source, context, chain);
            let (rendered, eval_errors) = (outputs.rendered, outputs.eval_errors);
            ctx.insert(errors_name(name), Rendered { ok: rendered.err.clone(), err: scope.empty_collection() });
            if spec.event_times.contains_key(name) {
                ctx.insert(illunare_types::late_name(name), Rendered { ok: outputs.late, err: scope.empty_collection() });
            }
            match preagg {
                // The source emits partial aggregates; merging them gives the GROUP BY's rows.
                Some(Some(split)) => {
                    let fused_name = crate::fuse::fused_aggregate_name(name);
                    let window_end = crate::window_agg::window_close_key(&split.group_keys, &split.input_schema);
                    let closing = window_end.clone().filter(|_| spec.event_times.contains_key(name));
                    // A window aggregate over event time releases closed windows (`window_agg.rs`).
                    if let Some(close) = &closing {
                        crate::window_join::CLOSED_WINDOWS.with(|c| c.borrow_mut().insert(fused_name.clone(), close.clone()));
                    }
                    // Emitting on window close (`window_hold.rs`): over event time the partials
                    // are held until their window closes and merged once; otherwise the merged
                    // rows' changes are held per window.
                    let hold = |close: &crate::window_agg::WindowClose| crate::window_hold::HoldSpec::new(close.key, &close.key_type, spec.tick_ms);
                    let held = window_end.as_ref().filter(|_| split.on_window_close).and_then(hold);
                    let state = Some(shared.state.clone());
                    let (partials, mut errors) = match (held, closing.is_some()) {
                        (Some(h), true) => {
                            let (held, late) = crate::window_hold::hold_until_close(rendered.ok, h, &view, state.clone());
                            (held, eval_errors.concat(late))
                        }
                        _ => (rendered.ok, eval_errors),
                    };
                    let merged = crate::reduce::render_merge(partials, &split, closing.clone(), &view);
                    errors = errors.concat(merged.err);
                    let ok = match (held, closing.is_some()) {
                        (Some(h), false) => {
                            let (held, late) = crate::window_hold::hold_until_close(merged.ok, h, &view, state);
                            errors = errors.concat(late);
                            held
                        }
                        _ => merged.ok,
                    };
                    if let Some(h) = held {
                        crate::render::INSERT_ONLY.with(|c| c.borrow_mut().insert(fused_name.clone()));
                        if closing.is_some() {
                            crate::render::EVENT_COLUMNS.with(|s| s.borrow_mut().insert(fused_name.clone(), Some(h.column)));
                        }
                    }
                    ctx.insert(fused_name, Rendered { ok, err: errors });
                }
                Some(None) => {
                    ctx.insert(crate::fuse::fused_name(name), Rendered { ok: rendered.ok, err: eval_errors });
                }
                None => {
                    ctx.insert(name.clone(), rendered);
                }
            }
        }
        for table in &spec.tables {
            let (input, collection) = scope.new_collection::<Row, Diff>();
            inputs.insert(table.name.clone(), input);
            ctx.insert(table.name.clone(), Rendered { ok: collection, err: scope.empty_collection() });
        }
        for (name, plan) in &views {
            match render_plan(scope, plan, &ctx, name) {
                Ok(rendered) => {
                    ctx.insert(errors_name(name), Rendered { ok: rendered.err.clone(), err: scope.empty_collection() });
                    ctx.insert(name.clone(), rendered);
                }
                Err(e) => tracing::error!(view = %name, "cannot render: {e}"),
            }
        }
        for sink in &spec.sinks {
            let Some(input) = ctx.get(&sink.from) else { continue };
            let built = if is_zero {
                match (sink.factory)() {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::error!(sink = %sink.name, "cannot start sink: {e}");
                        None
                    }
                }
            } else {
                None
            };
            let input = input.ok.clone().probe_with(&probe);
            render_sink(input, &sink.name, built, sink.commit_interval, false, build.sink_metrics.get(&sink.name).cloned());
        }
        for name in &spec.captures {
            let Some(input) = ctx.get(name) else { continue };
            let sink: Option<Box<dyn Sink>> = if is_zero { build.snapshots.get(name).map(|h| Box::new(SnapshotSink(h.clone())) as Box<dyn Sink>) } else { None };
            let input = input.ok.clone().probe_with(&probe);
            render_sink(input, name, sink, Duration::ZERO, true, None);
        }
        inputs
    });
    if build.time > 0 {
        for (name, input) in tables.iter_mut() {
            input.advance_to(build.time);
            if is_zero && let Some((_, rows)) = build.seeds.iter().find(|(t, _)| t == name) {
                for row in rows {
                    input.update(row.clone(), 1);
                }
            }
            input.advance_to(build.time + 1);
            input.flush();
        }
    }
    Installed { id: build.id, index, tables }
}
