//! Two-phase GROUP BY over a source: vectorised partial aggregation on its Arrow batches.
//!
//! A source is append-only, so a GROUP BY that reads it (through a map/filter chain) can be
//! split the way batch engines split it across partitions:
//!
//! ```text
//!  source batches ─► chain ─► PartialAggregator (DataFusion GroupValues + GroupsAccumulators,
//!                             one partial row per group and tick)      [in the source operator]
//!                 ─► merge in differential (accumulable diffs, min/max)      [reduce.rs]
//! ```
//!
//! Phase 1 never turns an input row into a `Row`: keys and arguments are evaluated on the batch,
//! groups are interned and aggregates updated by DataFusion's own vectorised code, so the
//! partial states mean exactly what DataFusion means. Each tick's partials become rows
//! `(keys…, rows, state…)`; phase 2 adds them up per group like any other update, so the view
//! stays correct whatever the worker count and however many ticks a group spans.
//!
//! Only aggregates whose partial states merge exactly are split: `count`, `sum`, `avg` of
//! numbers (the accumulable ones of `accum.rs`) and plain `min`/`max`; no DISTINCT, no FILTER.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion_expr::{EmitTo, GroupsAccumulator};
use datafusion_physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion_physical_plan::aggregates::order::GroupOrdering;
use illunare_plan::{Aggregate, Expr};
use illunare_types::{Datum, Row, array_to_datums, transpose};

use crate::Failure;
use crate::accum::{Accum, FastKind, SLOTS, fast_kind};
use crate::dictionary_groups::DictionaryKeys;
use crate::minmax::{Extreme, extreme_of};

/// How phase 2 merges one aggregate's partial state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// Accumulated as a diff; the state is `[count]`, `[sum]` or, for avg, `[count, sum]`.
    Accumulable(FastKind),
    /// The state is `[min]` / `[max]`.
    Extreme(Extreme),
}

/// A GROUP BY split into a vectorised partial phase and a differential merge.
#[derive(Clone)]
pub struct PreAggregate {
    /// Group keys, over `input_schema` (the output of the source's chain).
    pub group_keys: Vec<Expr>,
    pub aggregates: Vec<Aggregate>,
    pub merges: Vec<Merge>,
    pub input_schema: SchemaRef,
    /// The GROUP BY emits on window close (`Node::Reduce::on_window_close`): the partials are
    /// held until their window closes before they are merged (`window_hold.rs`).
    pub on_window_close: bool,
}

impl PreAggregate {
    /// The split of `group_keys`/`aggregates` over `input_schema`, or `None` when some
    /// aggregate's partial state cannot be merged exactly (then the reduce runs unsplit).
    pub fn plan(group_keys: &[Expr], aggregates: &[Aggregate], input_schema: &SchemaRef) -> Option<PreAggregate> {
        let mut merges = Vec::with_capacity(aggregates.len());
        for agg in aggregates {
            if agg.function.is_distinct() || agg.filter.is_some() || !agg.function.groups_accumulator_supported() {
                return None;
            }
            let states: Vec<DataType> = agg.function.state_fields().ok()?.iter().map(|f| f.data_type().clone()).collect();
            let merge = match (fast_kind(agg), extreme_of(agg, input_schema)) {
                (Some(kind), _) => Merge::Accumulable(kind),
                (None, Some(e)) => Merge::Extreme(e),
                _ => return None,
            };
            let expected_states = match merge {
                Merge::Accumulable(FastKind::AvgFloat) => states == [DataType::UInt64, DataType::Float64],
                Merge::Accumulable(FastKind::Count) => states == [DataType::Int64],
                Merge::Accumulable(FastKind::SumInt) => states == [DataType::Int64],
                Merge::Accumulable(FastKind::SumUInt) => states == [DataType::UInt64],
                Merge::Accumulable(FastKind::SumFloat) => states == [DataType::Float64],
                Merge::Extreme(_) => states.len() == 1,
            };
            if !expected_states {
                return None;
            }
            merges.push(merge);
        }
        if merges.iter().filter(|m| matches!(m, Merge::Accumulable(_))).count() > SLOTS {
            return None;
        }
        let split = PreAggregate { group_keys: group_keys.to_vec(), aggregates: aggregates.to_vec(), merges, input_schema: input_schema.clone(), on_window_close: false };
        // Key types DataFusion cannot group on vectorised stay unsplit.
        PartialAggregator::new(Arc::new(split.clone())).ok()?;
        Some(split)
    }

    /// Columns of a partial row before the states: the keys and the row count.
    pub fn state_offset(&self) -> usize {
        self.group_keys.len() + 1
    }

    /// For each aggregate, the position of its first state column in a partial row.
    pub fn state_positions(&self) -> Vec<usize> {
        let mut at = self.state_offset();
        self.merges
            .iter()
            .map(|m| {
                let here = at;
                at += if *m == Merge::Accumulable(FastKind::AvgFloat) { 2 } else { 1 };
                here
            })
            .collect()
    }

    /// The accumulable diff of one partial row, for the aggregates `fast` (index, kind).
    pub fn accum_of_partial(&self, row: &Row, fast: &[(usize, FastKind)], positions: &[usize]) -> Accum {
        let count = |d: &Datum| match d {
            Datum::Int(v) => *v,
            Datum::UInt(v) => *v as i64,
            _ => 0,
        };
        let mut a = Accum { rows: count(&row[self.group_keys.len()]), ..Accum::default() };
        for (slot, (agg, kind)) in fast.iter().enumerate() {
            let state = &row[positions[*agg]];
            match kind {
                FastKind::Count => a.nonnull[slot] = count(state),
                FastKind::AvgFloat => {
                    a.nonnull[slot] = count(state);
                    a.floats[slot] = illunare_types::F64(row[positions[*agg] + 1].as_f64().unwrap_or(0.0));
                }
                _ if state.is_null() => {}
                FastKind::SumInt | FastKind::SumUInt => {
                    a.nonnull[slot] = 1;
                    a.ints[slot] = match state {
                        Datum::Int(v) => *v as i128,
                        Datum::UInt(v) => *v as i128,
                        _ => 0,
                    };
                }
                FastKind::SumFloat => {
                    a.nonnull[slot] = 1;
                    a.floats[slot] = illunare_types::F64(state.as_f64().unwrap_or(0.0));
                }
            }
        }
        a
    }
}

/// The schema of the partial rows `(keys…, rows, state…)` a split emits.
pub fn partial_schema(spec: &PreAggregate) -> SchemaRef {
    let mut fields: Vec<arrow::datatypes::FieldRef> = spec
        .group_keys
        .iter()
        .enumerate()
        .map(|(i, k)| Arc::new(arrow::datatypes::Field::new(format!("k{i}"), k.physical.data_type(&spec.input_schema).unwrap_or(DataType::Null), true)))
        .collect();
    fields.push(Arc::new(arrow::datatypes::Field::new("rows", DataType::Int64, false)));
    for agg in &spec.aggregates {
        fields.extend(agg.function.state_fields().unwrap_or_default());
    }
    Arc::new(Schema::new(fields))
}

/// Phase 1: folds batches into per-group partial states until [`PartialAggregator::emit`].
pub struct PartialAggregator {
    spec: Arc<PreAggregate>,
    /// `None` for a global aggregate (every row is group 0).
    groups: Option<Box<dyn GroupValues>>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    /// Input rows per group.
    rows: Vec<i64>,
    indices: Vec<usize>,
}

/// A batch's keys and aggregate arguments, evaluated.
struct Evaluated {
    keys: Vec<ArrayRef>,
    args: Vec<Vec<ArrayRef>>,
}

impl PartialAggregator {
    pub fn new(spec: Arc<PreAggregate>) -> Result<Self, String> {
        let groups = if spec.group_keys.is_empty() {
            None
        } else {
            let fields = spec
                .group_keys
                .iter()
                .enumerate()
                .map(|(i, k)| Ok(arrow::datatypes::Field::new(format!("k{i}"), k.physical.data_type(&spec.input_schema)?, true)))
                .collect::<Result<Vec<_>, datafusion_common::DataFusionError>>()
                .map_err(|e| e.to_string())?;
            let key_types = fields.iter().map(|f| f.data_type().clone()).collect();
            let inner = new_group_values(Arc::new(Schema::new(fields)), &GroupOrdering::None).map_err(|e| e.to_string())?;
            Some(Box::new(DictionaryKeys::new(inner, key_types)) as Box<dyn GroupValues>)
        };
        let accumulators = spec.aggregates.iter().map(|a| a.function.create_groups_accumulator()).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
        Ok(PartialAggregator { spec, groups, accumulators, rows: Vec::new(), indices: Vec::new() })
    }

    /// Number of groups held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<Evaluated, String> {
        let n = batch.num_rows();
        let eval = |e: &Expr| e.physical.evaluate(batch).and_then(|v| v.into_array(n)).map_err(|e| e.to_string());
        let keys = self.spec.group_keys.iter().map(eval).collect::<Result<Vec<_>, _>>()?;
        let args = self
            .spec
            .aggregates
            .iter()
            .map(|a| a.function.expressions().iter().map(|e| e.evaluate(batch).and_then(|v| v.into_array(n)).map_err(|e| e.to_string())).collect())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Evaluated { keys, args })
    }

    fn fold(&mut self, evaluated: Evaluated, n: usize) -> Result<(), String> {
        self.indices.clear();
        match &mut self.groups {
            Some(groups) => groups.intern(&evaluated.keys, &mut self.indices).map_err(|e| e.to_string())?,
            None => self.indices.resize(n, 0),
        }
        let total = match &self.groups {
            Some(groups) => groups.len(),
            None => 1,
        };
        self.rows.resize(total, 0);
        for &g in &self.indices {
            self.rows[g] += 1;
        }
        for (acc, args) in self.accumulators.iter_mut().zip(&evaluated.args) {
            acc.update_batch(args, &self.indices, None, total).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Adds `batch` (rows of `input_schema`). Rows whose keys or arguments fail to evaluate
    /// are left out and returned; the rest are folded in.
    pub fn update(&mut self, batch: &RecordBatch) -> Vec<Failure> {
        let n = batch.num_rows();
        if n == 0 {
            return Vec::new();
        }
        match self.evaluate(batch) {
            Ok(evaluated) => match self.fold(evaluated, n) {
                Ok(()) => Vec::new(),
                Err(message) => vec![Failure { message, raw: format!("a batch of {n} rows") }],
            },
            // Isolate the failing rows: one-row slices are zero-copy.
            Err(_) if n > 1 => (0..n).flat_map(|i| self.update(&batch.slice(i, 1))).collect(),
            Err(message) => {
                let raw = illunare_types::batch_to_rows(batch).ok().and_then(|r| r.into_iter().next()).map(|r| crate::mfp::describe(&r)).unwrap_or_default();
                vec![Failure { message, raw }]
            }
        }
    }

    /// The partial rows `(keys…, rows, state…)` of every group held, which are then forgotten.
    pub fn emit(&mut self) -> Result<Vec<Row>, String> {
        let total = self.rows.len();
        if total == 0 {
            return Ok(Vec::new());
        }
        let mut columns: Vec<ArrayRef> = match &mut self.groups {
            Some(groups) => {
                let keys = groups.emit(EmitTo::All).map_err(|e| e.to_string())?;
                // Emitting everything does not reset every implementation's hash table.
                groups.clear_shrink(total);
                keys
            }
            None => Vec::new(),
        };
        columns.push(Arc::new(Int64Array::from(std::mem::take(&mut self.rows))));
        for acc in &mut self.accumulators {
            columns.extend(acc.state(EmitTo::All).map_err(|e| e.to_string())?);
        }
        let datums = columns.iter().map(|c| array_to_datums(c.as_ref())).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
        Ok(transpose(datums, total))
    }
}

/// A source's phase-1 state: one partial aggregator per time its rows were stamped with.
/// Partials of time `t` leave once the source's frontier passes `t` (no row can join them).
pub struct PartialStash {
    spec: Arc<PreAggregate>,
    /// The view the GROUP BY belongs to (evaluation errors are its errors).
    relation: String,
    by_time: std::collections::BTreeMap<illunare_types::Time, PartialAggregator>,
}

/// Groups held at most, over all times, before everything is emitted early.
const MAX_STASHED_GROUPS: usize = 1 << 20;

impl PartialStash {
    pub fn new(spec: Arc<PreAggregate>, relation: String) -> Result<Self, String> {
        PartialAggregator::new(spec.clone())?;
        Ok(PartialStash { spec, relation, by_time: Default::default() })
    }

    pub fn input_schema(&self) -> &SchemaRef {
        &self.spec.input_schema
    }

    /// Folds `batch` (rows of the chain's output) in at time `at`; failing rows become error
    /// rows of the view.
    pub fn add(&mut self, batch: &RecordBatch, at: illunare_types::Time, errors: &mut Vec<Row>) {
        let aggregator = match self.by_time.entry(at) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => match PartialAggregator::new(self.spec.clone()) {
                Ok(a) => e.insert(a),
                Err(message) => {
                    errors.push(crate::error_row(&self.relation, Failure { message, raw: String::new() }));
                    return;
                }
            },
        };
        errors.extend(aggregator.update(batch).into_iter().map(|f| crate::error_row(&self.relation, f)));
    }

    pub fn is_full(&self) -> bool {
        self.by_time.values().map(PartialAggregator::len).sum::<usize>() >= MAX_STASHED_GROUPS
    }

    /// The partial rows of every time before `frontier` (all times when `None`), by time.
    pub fn take_before(&mut self, frontier: Option<illunare_types::Time>, errors: &mut Vec<Row>) -> Vec<(illunare_types::Time, Vec<Row>)> {
        let keep = match frontier {
            Some(f) => self.by_time.split_off(&f),
            None => Default::default(),
        };
        let done = std::mem::replace(&mut self.by_time, keep);
        let mut out = Vec::new();
        for (t, mut aggregator) in done {
            match aggregator.emit() {
                Ok(rows) => out.push((t, rows)),
                Err(message) => errors.push(crate::error_row(&self.relation, Failure { message, raw: "partial aggregation".into() })),
            }
        }
        out
    }
}
