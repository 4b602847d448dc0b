//! DDL and DML on a running engine: what the HTTP API and the Postgres wire protocol execute.
//!
//! The pipeline file's statements run as one dataflow (id 0), so sources are read once and
//! shared subplans are computed once. Everything created afterwards gets a dataflow of its own,
//! installed next to the running ones (`Runtime::install`):
//!
//! - `CREATE SOURCE` / `CREATE TABLE` only enter the catalog (the connector is validated); a
//!   source is read when something that needs it is installed.
//! - `CREATE MATERIALIZED VIEW` installs the view with everything it reads: sources (read from
//!   their beginning, so the view covers the same data a view of the file would), tables (seeded
//!   with their current contents) and upstream views (computed again inside the new dataflow).
//! - `CREATE VIEW` is a definition only, as in Materialize: nothing runs until a materialized
//!   view or a sink reads it, or an ad-hoc query does.
//! - `CREATE SINK` installs the sink with what it reads.
//! - `DROP` removes the object from the catalog and stops serving or writing it; its dataflow is
//!   dropped on every worker once nothing in it is still alive. A dropped sink that shares the
//!   file's dataflow is switched off, so it writes nothing more.
//!
//! Rejected alternative: restarting the whole dataflow with the new statement added. Simpler,
//! but every other view would restart from empty and every sink would see its view retracted
//! and rebuilt; the issue asks for views added and dropped without restarting the others.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use illunare_connector::{ConnectorError, Sink};
use illunare_dataflow::{DataflowId, DataflowSpec, SinkRuntimeSpec, TableSpec};
use illunare_sql::{RelationKind, Statement};
use illunare_types::{Diff, Row, Time, errors_name, late_name};

use crate::{CoordError, Pipeline, RunOptions, build_sink, sink_spec};

/// Where the views and sinks of a running engine live.
#[derive(Default)]
pub(crate) struct Live {
    /// The dataflow computing each view and sink.
    homes: BTreeMap<String, DataflowId>,
    /// The views and sinks of each dataflow that are not dropped yet.
    members: BTreeMap<DataflowId, BTreeSet<String>>,
    /// Switches off a dropped sink whose dataflow keeps running for others.
    sink_switches: BTreeMap<String, Arc<AtomicBool>>,
    options: Option<RunOptions>,
    /// `close_tables` was called: table changes would reach no dataflow.
    pub(crate) tables_closed: bool,
}

/// What one statement did on the running engine.
#[derive(Clone, Debug, PartialEq)]
pub enum Executed {
    Created { kind: RelationKind, name: String },
    Dropped { dropped: Vec<(String, RelationKind)> },
    /// Rows inserted/updated/deleted in `table`, applied at `time`.
    Changed { table: String, rows: usize, time: Time },
}

/// A sink that stops writing once its switch is off (DROP SINK on a shared dataflow).
struct Switchable {
    inner: Box<dyn Sink>,
    dropped: Arc<AtomicBool>,
}

impl Sink for Switchable {
    fn commit(&mut self, updates: &[(Row, Time, Diff)], frontier: Option<Time>) -> Result<(), ConnectorError> {
        if self.dropped.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.inner.commit(updates, frontier)
    }

    fn takes_unordered_insertions(&self) -> bool {
        self.inner.takes_unordered_insertions()
    }
}

impl Pipeline {
    /// The runtime form of sink statement `def`, switchable by DROP.
    pub(crate) fn sink_runtime(&mut self, def: &illunare_sql::SinkDef, options: &RunOptions) -> Result<SinkRuntimeSpec, CoordError> {
        let registry = self.registry.clone();
        let (sink_spec, on_window_close) = sink_spec(def)?;
        let connector = def.connector().unwrap_or_default().to_string();
        let dropped = Arc::new(AtomicBool::new(false));
        self.live.sink_switches.insert(def.name.clone(), dropped.clone());
        let factory = move || -> Result<Box<dyn Sink>, ConnectorError> {
            let inner = build_sink(&registry, &connector, &sink_spec, on_window_close)?;
            Ok(Box::new(Switchable { inner, dropped: dropped.clone() }))
        };
        Ok(SinkRuntimeSpec { name: def.name.clone(), from: def.from.clone(), factory: Arc::new(factory), commit_interval: options.commit_interval })
    }

    /// Records that the file's views and sinks run in dataflow 0.
    pub(crate) fn started(&mut self, options: &RunOptions) {
        self.live.options = Some(options.clone());
        for stmt in &self.statements {
            if let Statement::CreateView(v) = stmt {
                self.live.place(&v.name, 0);
            } else if let Statement::CreateSink(s) = stmt {
                self.live.place(&s.name, 0);
            }
        }
    }

    /// Executes SQL text on the running engine: any DDL (CREATE SOURCE/TABLE/VIEW/MATERIALIZED
    /// VIEW/SINK, DROP) and DML. Statements run in order; the first error stops the rest (the
    /// ones before it stay applied).
    pub fn execute(&mut self, sql: &str) -> Result<Vec<Executed>, CoordError> {
        let parsed = illunare_sql::parse_pipeline(sql)?;
        let mut done = Vec::new();
        for p in parsed {
            let stmt = self.planner.plan(&p)?;
            done.push(self.execute_planned(stmt)?);
        }
        Ok(done)
    }

    fn execute_planned(&mut self, stmt: Statement) -> Result<Executed, CoordError> {
        let options = self.live.options.clone().ok_or_else(|| CoordError::Runtime("the engine is not running".into()))?;
        let (kind, name) = match &stmt {
            Statement::Dml(d) => {
                if self.live.tables_closed {
                    return Err(CoordError::Runtime(format!(
                        "table '{}' no longer takes changes: this run closed its tables to end with its bounded sources (use `illunare serve`, or `run --stay`)",
                        d.table
                    )));
                }
                let rows = self.tables.apply(d)?;
                let count = rows.len();
                let runtime = self.runtime.as_mut().ok_or_else(|| CoordError::Runtime("the engine is not running".into()))?;
                let time = runtime.update_table(&d.table, rows);
                return Ok(Executed::Changed { table: d.table.clone(), rows: count, time });
            }
            Statement::Drop(d) => {
                self.drop_relations(&d.dropped);
                return Ok(Executed::Dropped { dropped: d.dropped.clone() });
            }
            Statement::CreateSource(s) => (RelationKind::Source, s.name.clone()),
            Statement::CreateTable(t) => (RelationKind::Table, t.name.clone()),
            Statement::CreateView(v) => (if v.materialized { RelationKind::MaterializedView } else { RelationKind::View }, v.name.clone()),
            Statement::CreateSink(s) => (RelationKind::Sink, s.name.clone()),
        };
        if let Err(e) = self.admit(&stmt) {
            self.planner.forget(&name);
            return Err(e);
        }
        let runs = matches!(kind, RelationKind::MaterializedView | RelationKind::Sink);
        self.statements.push(stmt);
        if runs && let Err(e) = self.install(&name, &options) {
            self.statements.pop();
            self.planner.forget(&name);
            self.live.sink_switches.remove(&name);
            return Err(e);
        }
        Ok(Executed::Created { kind, name })
    }

    /// Installs the dataflow computing view or sink `root` (with everything it reads).
    fn install(&mut self, root: &str, options: &RunOptions) -> Result<(), CoordError> {
        let needed = self.closure(root);
        let mut spec = DataflowSpec { tick_ms: options.tick.as_millis() as Time, ..DataflowSpec::default() };
        let statements = self.statements.clone();
        for stmt in &statements {
            match stmt {
                Statement::CreateSource(def) if needed.contains(&def.name) => {
                    if let Some(source) = self.sources.get(&def.name) {
                        spec.sources.push((def.name.clone(), source.clone()));
                    }
                    if let Some(e) = self.event_times.get(&def.name) {
                        spec.event_times.insert(def.name.clone(), e.clone());
                    }
                }
                Statement::CreateTable(def) if needed.contains(&def.name) => {
                    spec.tables.push(TableSpec { name: def.name.clone(), schema: def.schema.clone() });
                }
                Statement::CreateView(def) if needed.contains(&def.name) => {
                    spec.views.push((def.name.clone(), def.plan.clone()));
                    if def.name == root {
                        spec.captures.extend([def.name.clone(), errors_name(&def.name)]);
                    }
                }
                Statement::CreateSink(def) if def.name == root => spec.sinks.push(self.sink_runtime(def, options)?),
                _ => {}
            }
        }
        let seeds = spec.tables.iter().map(|t| (t.name.clone(), self.tables.rows(&t.name))).collect();
        let runtime = self.runtime.as_mut().ok_or_else(|| CoordError::Runtime("the engine is not running".into()))?;
        let id = runtime.install(spec, seeds).map_err(CoordError::Runtime)?;
        self.live.place(root, id);
        Ok(())
    }

    /// `root` and every relation it reads, directly or not, by the name of its statement
    /// (`x_errors` and `x_late` stand for `x`).
    fn closure(&self, root: &str) -> BTreeSet<String> {
        let names: BTreeSet<String> = self.statements.iter().filter_map(statement_name).collect();
        let owner = |dep: &str| -> Option<String> {
            if names.contains(dep) {
                return Some(dep.to_string());
            }
            names.iter().find(|n| errors_name(n) == dep || late_name(n) == dep).cloned()
        };
        let mut needed = BTreeSet::new();
        let mut todo = vec![root.to_string()];
        while let Some(name) = todo.pop() {
            if !needed.insert(name.clone()) {
                continue;
            }
            let deps = self.planner.catalog().get(&name).map(|e| e.depends_on.clone()).unwrap_or_default();
            todo.extend(deps.iter().filter_map(|d| owner(d)));
        }
        needed
    }

    /// Forgets dropped relations and stops what computed them.
    fn drop_relations(&mut self, dropped: &[(String, RelationKind)]) {
        for (name, _) in dropped {
            self.statements.retain(|s| statement_name(s).as_deref() != Some(name.as_str()));
            self.sources.remove(name);
            self.event_times.remove(name);
            self.tables.remove(name);
            if let Some(switch) = self.live.sink_switches.remove(name) {
                switch.store(true, Ordering::SeqCst);
            }
            // Dropped relations leave /metrics.
            if let Some(runtime) = self.runtime.as_mut() {
                runtime.source_metrics.remove(name);
                runtime.sink_metrics.remove(name);
            }
            let captures = [name.clone(), errors_name(name)];
            let Some(id) = self.live.homes.remove(name) else { continue };
            let members = self.live.members.entry(id).or_default();
            members.remove(name);
            let empty = members.is_empty();
            if let Some(runtime) = self.runtime.as_mut() {
                if empty {
                    self.live.members.remove(&id);
                    runtime.drop_dataflow(id, &captures);
                } else {
                    // Its dataflow keeps running for the others; it is no longer served.
                    for c in &captures {
                        runtime.snapshots.remove(c);
                    }
                }
            }
        }
    }

    /// The dataflow computing view or sink `name`, if it runs.
    pub fn dataflow_of(&self, name: &str) -> Option<DataflowId> {
        self.live.homes.get(name).copied()
    }
}

impl Live {
    fn place(&mut self, name: &str, id: DataflowId) {
        self.homes.insert(name.to_string(), id);
        self.members.entry(id).or_default().insert(name.to_string());
    }
}

/// The relation a statement defines.
pub(crate) fn statement_name(stmt: &Statement) -> Option<String> {
    match stmt {
        Statement::CreateSource(d) => Some(d.name.clone()),
        Statement::CreateTable(d) => Some(d.name.clone()),
        Statement::CreateView(d) => Some(d.name.clone()),
        Statement::CreateSink(d) => Some(d.name.clone()),
        Statement::Dml(_) | Statement::Drop(_) => None,
    }
}
