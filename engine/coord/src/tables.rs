//! The current contents of every table, and DML applied to them.
//!
//! DML is evaluated by DataFusion over these snapshots (`illunare_sql::execute_dml`); the
//! resulting changes are checked here (primary keys stay unique, deleted rows exist) before
//! they are applied and sent into the dataflow — a statement either applies whole or not at all.

use std::collections::BTreeMap;

use illunare_sql::{DmlDef, SqlError, TableDef, TableSnapshot, TableSnapshots};
use illunare_types::{Diff, Row};

#[derive(Default)]
pub struct Tables {
    defs: BTreeMap<String, TableDef>,
    rows: BTreeMap<String, BTreeMap<Row, usize>>,
}

impl Tables {
    pub fn define(&mut self, def: TableDef) {
        self.rows.insert(def.name.clone(), BTreeMap::new());
        self.defs.insert(def.name.clone(), def);
    }

    /// Forgets `table` (DROP TABLE).
    pub fn remove(&mut self, table: &str) {
        self.defs.remove(table);
        self.rows.remove(table);
    }

    pub fn names(&self) -> Vec<String> {
        self.defs.keys().cloned().collect()
    }

    /// The rows of `table`, each repeated by its multiplicity.
    pub fn rows(&self, table: &str) -> Vec<Row> {
        self.rows
            .get(table)
            .map(|m| m.iter().flat_map(|(r, &n)| std::iter::repeat_n(r.clone(), n)).collect())
            .unwrap_or_default()
    }

    fn snapshots(&self) -> TableSnapshots {
        self.defs
            .iter()
            .map(|(name, def)| {
                let snapshot = TableSnapshot { schema: def.schema.clone(), rows: self.rows(name), defaults: def.column_defaults.clone() };
                (name.clone(), snapshot)
            })
            .collect()
    }

    /// Evaluates `dml`, validates and applies its changes; returns them for the dataflow.
    pub fn apply(&mut self, dml: &DmlDef) -> Result<Vec<(Row, Diff)>, SqlError> {
        let snapshots = self.snapshots();
        let run = || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| SqlError::new(dml.location, format!("cannot start DML executor: {e}")))?;
            runtime.block_on(illunare_sql::execute_dml(dml, &snapshots))
        };
        // Called from async code (a server's handler, a test), a runtime cannot block its own
        // thread: the statement then runs on a thread of its own.
        let changes = if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|scope| scope.spawn(run).join()).map_err(|_| SqlError::new(dml.location, "the DML executor panicked"))??
        } else {
            run()?
        };
        let def = self.defs.get(&dml.table).ok_or_else(|| SqlError::new(dml.location, format!("unknown table '{}'", dml.table)))?;
        let current = self.rows.get(&dml.table).cloned().unwrap_or_default();
        let mut next = current.clone();
        for (row, diff) in &changes {
            let count = next.entry(row.clone()).or_insert(0);
            let updated = *count as isize + diff;
            if updated < 0 {
                return Err(SqlError::new(dml.location, "internal error: statement removes a row that is not in the table"));
            }
            *count = updated as usize;
            if *count == 0 {
                next.remove(row);
            }
        }
        if !def.primary_key.is_empty() {
            let mut keys = BTreeMap::new();
            for (row, &n) in &next {
                let key = row.project(&def.primary_key);
                if key.has_null() {
                    return Err(SqlError::new(dml.location, format!("NULL in primary key of '{}'", dml.table)));
                }
                let seen = keys.entry(key.clone()).or_insert(0usize);
                *seen += n;
                if *seen > 1 {
                    let names: Vec<&str> = def.primary_key.iter().map(|&i| def.schema.field(i).name().as_str()).collect();
                    return Err(SqlError::new(
                        dml.location,
                        format!("duplicate key value violates the primary key of '{}': ({}) = {:?}", dml.table, names.join(", "), key.0),
                    )
                    .with_hint("the statement was not applied"));
                }
            }
        }
        self.rows.insert(dml.table.clone(), next);
        // Net changes only (an UPDATE that sets a value to itself changes nothing).
        let mut net: BTreeMap<Row, Diff> = BTreeMap::new();
        for (row, diff) in changes {
            *net.entry(row).or_insert(0) += diff;
        }
        Ok(net.into_iter().filter(|(_, d)| *d != 0).collect())
    }
}
