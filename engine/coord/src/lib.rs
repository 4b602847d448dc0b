//! The coordinator: turns a planned pipeline into a running dataflow and drives it.
//!
//! ```text
//!  pipeline text ─► illunare_sql (statements, catalog) ─► Pipeline::load   (= `check`)
//!                                                              │ connectors validated
//!  Pipeline::start ─► DataflowSpec ─► illunare_dataflow::Runtime (timely workers)
//!        │ DML in file order: executed against table snapshots (DataFusion) → row changes
//!        └─► Runtime::update_table at increasing timestamps ─► views ─► sinks / snapshots
//! ```
//! The coordinator owns the tables' current contents (DML needs them to evaluate WHERE and
//! SET, and to enforce primary keys) and the clock for table changes.

pub mod adhoc;
mod live;
pub mod oracle;
mod tables;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use illunare_connector::{ConnectorError, Options, Registry, SinkSpec, Source, SourceSpec};
use illunare_dataflow::{ClusterConfig, DataflowSpec, EventTime, Runtime, SnapshotState, TableSpec};
use illunare_sql::{Location, Planner, SchemaResolver, SqlError, Statement, plan_with};
use illunare_types::{Row, Time};

pub use live::Executed;
pub use tables::Tables;

#[derive(Debug, thiserror::Error)]
pub enum CoordError {
    #[error(transparent)]
    Sql(#[from] SqlError),
    #[error("{0}")]
    Runtime(String),
}

impl CoordError {
    /// Renders the error for a person, with the source line for SQL errors.
    pub fn render(&self, file: &str, text: &str) -> String {
        match self {
            CoordError::Sql(e) => e.render(file, text),
            CoordError::Runtime(m) => format!("{file}: error: {m}"),
        }
    }
}

fn connector_error(what: &str, name: &str, at: Location, e: ConnectorError) -> SqlError {
    SqlError::new(at, format!("{what} '{name}': {e}"))
}

/// How to run a pipeline.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub cluster: ClusterConfig,
    /// Keep every view's contents in memory (tests, oracle); otherwise only materialized views.
    pub capture_all: bool,
    /// Minimum time between two commits of a sink.
    pub commit_interval: Duration,
    /// Granularity of source timestamps: rows read within one tick share a time.
    pub tick: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { cluster: ClusterConfig::default(), capture_all: false, commit_interval: Duration::from_millis(500), tick: Duration::from_millis(100) }
    }
}

/// A pipeline: its statements, the connectors they use, and (once started) the dataflow.
pub struct Pipeline {
    pub statements: Vec<Statement>,
    pub planner: Planner,
    pub(crate) sources: BTreeMap<String, Arc<dyn Source>>,
    /// Sources with a WATERMARK: their rows carry event time.
    pub(crate) event_times: BTreeMap<String, EventTime>,
    registry: Registry,
    pub tables: Tables,
    runtime: Option<Runtime>,
    /// What runs where, once DDL arrives on a running engine (`live.rs`).
    live: live::Live,
}

/// Sources declared without columns get them from their connector (`infer_schema`).
pub fn schema_resolver(registry: &Registry) -> SchemaResolver {
    let registry = registry.clone();
    Arc::new(move |options: &[(String, String)]| {
        let connector = options.iter().find(|(k, _)| k == "connector").map(|(_, v)| v.as_str()).unwrap_or_default();
        let factory = registry.source(connector).map_err(|e| e.to_string())?;
        factory.infer_schema(&Options::new(options.to_vec())).map_err(|e| e.to_string())
    })
}

impl Pipeline {
    /// Parses, plans and validates a pipeline (what `illunare check` does). Nothing runs.
    pub fn load(text: &str, registry: &Registry) -> Result<Pipeline, CoordError> {
        let (planner, statements) = plan_with(Planner::with_schema_resolver(schema_resolver(registry)), text)?;
        Pipeline::new(planner, statements, registry)
    }

    /// A pipeline from already planned statements (their connectors are validated here).
    pub fn new(planner: Planner, statements: Vec<Statement>, registry: &Registry) -> Result<Pipeline, CoordError> {
        let mut pipeline = Pipeline {
            statements: Vec::new(),
            planner,
            sources: BTreeMap::new(),
            event_times: BTreeMap::new(),
            registry: registry.clone(),
            tables: Tables::default(),
            runtime: None,
            live: live::Live::default(),
        };
        for stmt in statements {
            if let Statement::Drop(d) = &stmt {
                return Err(SqlError::new(d.location, "DROP is not supported in a pipeline file")
                    .with_hint("DROP works on a running engine: POST it to /api/v1/sql, or run it in psql")
                    .into());
            }
            pipeline.admit(&stmt)?;
            pipeline.statements.push(stmt);
        }
        Ok(pipeline)
    }

    /// Validates a statement's connectors and records what it defines (sources, tables).
    fn admit(&mut self, stmt: &Statement) -> Result<(), CoordError> {
        match stmt {
            Statement::CreateSource(def) => {
                let connector = def.connector().unwrap_or_default();
                let factory = self.registry.source(connector).map_err(|e| connector_error("source", &def.name, def.location, e))?;
                // Engine options are not the connector's.
                let mut options = def.options.clone();
                let idle_timeout = match options.iter().position(|(k, _)| k == "idle_timeout") {
                    Some(i) => Some(illunare_connector::parse_duration(&options.remove(i).1).map_err(|e| {
                        SqlError::new(def.location, format!("source '{}': option idle_timeout: {e}", def.name))
                    })?),
                    None => None,
                };
                match &def.watermark {
                    Some(w) => {
                        self.event_times.insert(def.name.clone(), EventTime { column: w.column, watermark: w.expr.clone(), idle_timeout });
                    }
                    None if idle_timeout.is_some() => {
                        return Err(SqlError::new(def.location, format!("source '{}': idle_timeout needs a WATERMARK", def.name))
                            .with_hint("declare WATERMARK FOR <ts column> AS <ts column> - INTERVAL '…' among the columns")
                            .into());
                    }
                    None => {}
                }
                let event_time = def.watermark.as_ref().map(|w| def.schema.field(w.column).name().clone());
                let spec = SourceSpec { name: def.name.clone(), schema: def.schema.clone(), event_time, options: Options::new(options) };
                let source = factory.create(&spec).map_err(|e| connector_error("source", &def.name, def.location, e))?;
                self.sources.insert(def.name.clone(), source);
            }
            Statement::CreateSink(def) => {
                let connector = def.connector().unwrap_or_default();
                let (spec, on_window_close) = sink_spec(def)?;
                build_sink(&self.registry, connector, &spec, on_window_close).map_err(|e| connector_error("sink", &def.name, def.location, e))?;
            }
            Statement::CreateTable(def) => self.tables.define(def.clone()),
            _ => {}
        }
        Ok(())
    }

    /// Whether every source ends by itself.
    pub fn bounded(&self) -> bool {
        self.sources.values().all(|s| s.bounded())
    }

    /// Names of the views, in definition order.
    pub fn views(&self) -> Vec<String> {
        self.statements
            .iter()
            .filter_map(|s| match s {
                Statement::CreateView(v) => Some(v.name.clone()),
                _ => None,
            })
            .collect()
    }

    /// Builds the dataflow and starts it; then applies the file's DML in order.
    pub fn start(&mut self, options: &RunOptions) -> Result<(), CoordError> {
        let mut spec = DataflowSpec { tick_ms: options.tick.as_millis() as Time, ..DataflowSpec::default() };
        let statements = self.statements.clone();
        for stmt in &statements {
            match stmt {
                Statement::CreateSource(def) => {
                    if let Some(source) = self.sources.get(&def.name) {
                        spec.sources.push((def.name.clone(), source.clone()));
                    }
                }
                Statement::CreateTable(def) => spec.tables.push(TableSpec { name: def.name.clone(), schema: def.schema.clone() }),
                Statement::CreateView(def) => {
                    spec.views.push((def.name.clone(), def.plan.clone()));
                    if options.capture_all || def.materialized {
                        spec.captures.push(def.name.clone());
                        spec.captures.push(illunare_types::errors_name(&def.name));
                    }
                }
                Statement::CreateSink(def) => {
                    let sink = self.sink_runtime(def, options)?;
                    spec.sinks.push(sink);
                }
                Statement::Dml(_) | Statement::Drop(_) => {}
            }
        }
        spec.event_times = self.event_times.clone().into_iter().collect();
        if options.capture_all {
            for name in self.sources.keys() {
                spec.captures.push(illunare_types::errors_name(name));
            }
            for name in self.event_times.keys() {
                spec.captures.push(illunare_types::late_name(name));
            }
            for name in self.tables.names() {
                spec.captures.push(name);
            }
        }
        let runtime = Runtime::start(spec, &options.cluster).map_err(CoordError::Runtime)?;
        self.runtime = Some(runtime);
        self.started(options);
        let dml: Vec<_> = self
            .statements
            .iter()
            .filter_map(|s| match s {
                Statement::Dml(d) => Some(d.clone()),
                _ => None,
            })
            .collect();
        for d in dml {
            let changes = self.tables.apply(&d)?;
            if let Some(runtime) = self.runtime.as_mut() {
                runtime.update_table_at_start(&d.table, changes);
            }
        }
        Ok(())
    }

    /// Executes one DML statement; returns the time its changes carry.
    pub fn execute_dml(&mut self, dml: &illunare_sql::DmlDef) -> Result<Time, CoordError> {
        let changes = self.tables.apply(dml)?;
        let runtime = self.runtime.as_mut().ok_or_else(|| CoordError::Runtime("pipeline is not running".into()))?;
        Ok(runtime.update_table(&dml.table, changes))
    }

    /// Executes DML given as SQL text (tests, API).
    pub fn execute_sql(&mut self, sql: &str) -> Result<Time, CoordError> {
        let parsed = illunare_sql::parse_pipeline(sql)?;
        let mut last = 0;
        for p in parsed {
            match self.planner.plan(&p)? {
                Statement::Dml(d) => last = self.execute_dml(&d)?,
                _ => return Err(CoordError::Runtime("only INSERT, UPDATE and DELETE can run on a started pipeline".into())),
            }
        }
        Ok(last)
    }

    /// The connector instance of source `name` (as `CREATE SOURCE` configured it).
    pub fn source(&self, name: &str) -> Option<Arc<dyn Source>> {
        self.sources.get(name).cloned()
    }

    pub fn runtime(&self) -> Option<&Runtime> {
        self.runtime.as_ref()
    }

    /// Moves table time forward (so views over tables and sources progress); returns the
    /// new time: once a view is complete through `time - 1`, it reflects every earlier change.
    pub fn tick(&mut self) -> Time {
        self.runtime.as_mut().map(|r| r.advance_tables()).unwrap_or(0)
    }

    /// The contents of captured relation `name` once everything before `time` is in.
    pub fn snapshot_at(&self, name: &str, time: Time, timeout: Duration) -> Result<SnapshotState, CoordError> {
        let runtime = self.runtime.as_ref().ok_or_else(|| CoordError::Runtime("pipeline is not running".into()))?;
        runtime.wait_for(name, time, timeout).map_err(CoordError::Runtime)
    }

    /// No more DML: a pipeline over bounded sources then finishes by itself.
    pub fn close_tables(&mut self) {
        self.live.tables_closed = true;
        if let Some(r) = &self.runtime {
            r.close_tables();
        }
    }

    pub fn stop(&self) {
        if let Some(r) = &self.runtime {
            r.stop();
        }
    }

    pub fn is_finished(&self) -> bool {
        self.runtime.as_ref().is_none_or(|r| r.is_finished())
    }

    /// Waits for the run to end (bounded sources exhausted and tables closed, or stopped).
    pub fn join(&mut self) -> Result<(), CoordError> {
        match self.runtime.take() {
            Some(r) => r.join().map_err(CoordError::Runtime),
            None => Ok(()),
        }
    }

    /// The final contents of a captured relation (after `join`, or at any time: as of now).
    pub fn final_rows(&self, name: &str) -> Option<Vec<Row>> {
        let runtime = self.runtime.as_ref()?;
        let state = runtime.snapshots.get(name)?.lock().ok()?;
        Some(state.rows())
    }

    /// Source counters (rows read, errors, retries) by source name.
    /// Updates held in arrangements right now, and updates waiting for their time.
    pub fn state_size(&self) -> (i64, i64) {
        self.runtime
            .as_ref()
            .map(|r| (r.state.arranged.load(std::sync::atomic::Ordering::Relaxed), r.state.pending.load(std::sync::atomic::Ordering::Relaxed)))
            .unwrap_or_default()
    }

    pub fn source_metrics(&self) -> Vec<(String, Arc<illunare_dataflow::SourceMetrics>)> {
        self.runtime.as_ref().map(|r| r.source_metrics.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
    }

    pub fn sink_metrics(&self) -> Vec<(String, Arc<illunare_dataflow::SinkMetrics>)> {
        self.runtime.as_ref().map(|r| r.sink_metrics.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
    }

    /// Snapshot handles of captured relations.
    pub fn snapshots(&self) -> Vec<(String, illunare_dataflow::SnapshotHandle)> {
        self.runtime.as_ref().map(|r| r.snapshots.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
    }
}

/// A sink's connector spec (engine options removed) and whether it emits each window once.
fn sink_spec(def: &illunare_sql::SinkDef) -> Result<(SinkSpec, bool), SqlError> {
    let mut options = def.options.clone();
    let on_window_close = match options.iter().position(|(k, _)| k == "emit") {
        None => false,
        Some(i) => match options.remove(i).1.as_str() {
            "on_window_close" => true,
            "on_update" | "changes" => false,
            other => {
                return Err(SqlError::new(def.location, format!("sink '{}': option emit: '{other}' is not one of on_update, on_window_close", def.name)));
            }
        },
    };
    let spec = SinkSpec { name: def.name.clone(), from: def.from.clone(), schema: def.schema.clone(), options: Options::new(options) };
    Ok((spec, on_window_close))
}

/// Builds sink `spec` from `registry`, wrapped to emit each window once if asked.
fn build_sink(registry: &Registry, connector: &str, spec: &SinkSpec, on_window_close: bool) -> Result<Box<dyn illunare_connector::Sink>, ConnectorError> {
    let sink = registry.sink(connector)?.create(spec)?;
    if !on_window_close {
        return Ok(sink);
    }
    let wrapped = illunare_dataflow::window_close::WindowCloseSink::new(sink, &spec.name, &spec.schema).map_err(ConnectorError::Other)?;
    Ok(Box::new(wrapped))
}
