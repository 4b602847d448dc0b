//! Ordered window functions: LAG/LEAD, FIRST/LAST_VALUE and aggregates over ROWS/RANGE frames
//! ending at the current row (or over the whole partition), maintained per partition.
//!
//! A differential `reduce` would hand the whole partition to a closure on every change and
//! recompute every row: O(n) per change, O(n²) to build a partition by appends. Instead this
//! operator keeps each partition sorted (`BTreeMap<(order key, row), count>`) and, when the
//! input frontier passes a time, applies that time's updates and recomputes only the rows whose
//! value can have changed:
//!
//! ```text
//!  change at c   LAG k / ROWS k PRECEDING: c and the k rows after it
//!                LEAD k: c and the k rows before it
//!                RANGE d PRECEDING: rows whose key is within d after c (and c's peers)
//!                UNBOUNDED PRECEDING: everything from c (from c's first peer for RANGE) on
//!                no ORDER BY / whole partition: every row
//! ```
//! For each such row it retracts the output computed on the old state and inserts the one of the
//! new state, so an in-order append costs O(log n + frame). Aggregates are computed by
//! DataFusion's accumulators over the frame's rows (`illunare_eval::aggregate`), so values,
//! types and NULL rules are DataFusion's. Ties in the ORDER BY are broken by the whole row.
//!
//! State release (`Release`): over an append-only event-time input ordered by its event time,
//! a future row can only land at or after `frontier − tick`, so rows far enough before that
//! (more than the functions' look-back in rows and in key distance) can never be read or
//! re-emitted again and are dropped without emitting anything.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::ops::Bound;

use arrow::datatypes::SchemaRef;
use illunare_plan::{Aggregate, Frame, RangeOffset, SortKey, WindowCall, WindowFunc};
use illunare_types::{Datum, Diff, Row, Time};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use crate::{Coll, Failure, Rendered, error_row};

/// What a [`Node::OrderedWindow`](illunare_plan::Node::OrderedWindow) computes.
#[derive(Clone)]
pub struct OrderedWindowSpec {
    pub partition: Vec<usize>,
    pub order: Vec<SortKey>,
    pub functions: Vec<WindowCall>,
    /// The input schema (function arguments are evaluated against it).
    pub schema: SchemaRef,
    pub release: Option<Release>,
}

/// When old rows may be dropped: the first ORDER BY key (ascending, NULLS LAST) is the event
/// time of an append-only input; `units_per_ms` converts milliseconds to its units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Release {
    pub tick_ms: Time,
    pub units_per_ms: i128,
    pub ms_per_unit: i128,
    pub lookback: Lookback,
}

impl Release {
    /// The look-back of `functions` when every one is bounded (else nothing can be released).
    pub fn lookback(functions: &[WindowCall]) -> Option<Lookback> {
        let mut l = Lookback::default();
        for f in functions {
            match &f.func {
                WindowFunc::Shift { offset, .. } if *offset >= 0 => l.back = l.back.max(usize::try_from(*offset).ok()?),
                WindowFunc::Shift { offset, .. } => l.lead = l.lead.max(usize::try_from(offset.unsigned_abs()).ok()?),
                WindowFunc::FrameValue { frame, .. } | WindowFunc::Aggregate { frame, .. } => match frame {
                    Frame::Rows { preceding: Some(n) } => l.back = l.back.max(usize::try_from(*n).ok()?),
                    Frame::Range { preceding: Some(RangeOffset::Int(d)) } => l.distance = l.distance.max(*d),
                    _ => return None,
                },
            }
        }
        Some(l)
    }
}

/// The state release of an ordered window over `input` (`Release`), when it applies: the input
/// is append-only event time, its first ORDER BY key is the event-time column ascending with
/// NULLS LAST, and every function reads a bounded distance back.
pub fn release_for(input: &illunare_plan::Plan, order: &[SortKey], functions: &[WindowCall]) -> Option<Release> {
    use arrow::datatypes::{DataType, TimeUnit};
    let first = order.first()?;
    if first.descending || first.nulls_first || !crate::render::is_monotonic(input) || !crate::render::is_event_time(input) {
        return None;
    }
    if crate::render::event_time_column(input)? != first.column {
        return None;
    }
    let lookback = Release::lookback(functions)?;
    let (units_per_ms, ms_per_unit) = match input.schema.field(first.column).data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => (1, 1000),
        DataType::Timestamp(TimeUnit::Millisecond, _) => (1, 1),
        DataType::Timestamp(TimeUnit::Microsecond, _) => (1000, 1),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => (1_000_000, 1),
        _ => return None,
    };
    Some(Release { tick_ms: crate::render::TICK_MS.with(|t| t.get()), units_per_ms, ms_per_unit, lookback })
}

/// One ORDER BY value with its direction, ordered as the window orders it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub value: Datum,
    pub descending: bool,
    pub nulls_first: bool,
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.value.is_null(), other.value.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => if self.nulls_first { Ordering::Less } else { Ordering::Greater },
            (false, true) => if self.nulls_first { Ordering::Greater } else { Ordering::Less },
            (false, false) => {
                let o = self.value.cmp(&other.value);
                if self.descending { o.reverse() } else { o }
            }
        }
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A row's place in its partition: its ORDER BY keys, then the row (the tie-breaker).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub keys: Vec<Key>,
    pub row: Row,
}

impl Pos {
    pub fn of(row: Row, order: &[SortKey]) -> Pos {
        let keys = order.iter().map(|k| Key { value: row[k.column].clone(), descending: k.descending, nulls_first: k.nulls_first }).collect();
        Pos { keys, row }
    }

    fn peers(&self, other: &Pos) -> bool {
        self.keys == other.keys
    }
}

/// How far `candidate` lies before `current` in the window's order (the first key), if both are
/// comparable numbers; `None` for NULLs.
fn distance(candidate: &Key, current: &Key) -> Option<Distance> {
    let number = |d: &Datum| -> Option<Distance> {
        Some(match d {
            Datum::Int(v) | Datum::Timestamp(v) | Datum::Time(v) | Datum::Duration(v) => Distance::Int(*v as i128),
            Datum::UInt(v) => Distance::Int(*v as i128),
            Datum::Decimal(v) => Distance::Int(*v),
            Datum::Date(v) => Distance::Int(*v as i128),
            Datum::Float(f) => Distance::Float(f.0),
            _ => return None,
        })
    };
    let (a, b) = (number(&candidate.value)?, number(&current.value)?);
    let (lo, hi) = if current.descending { (b, a) } else { (a, b) };
    Some(match (lo, hi) {
        (Distance::Int(lo), Distance::Int(hi)) => Distance::Int(hi - lo),
        (lo, hi) => Distance::Float(hi.as_f64() - lo.as_f64()),
    })
}

#[derive(Clone, Copy, Debug)]
enum Distance {
    Int(i128),
    Float(f64),
}

impl Distance {
    fn as_f64(self) -> f64 {
        match self {
            Distance::Int(v) => v as f64,
            Distance::Float(f) => f,
        }
    }
}

/// Whether `candidate` is in the RANGE frame (`offset` PRECEDING .. CURRENT ROW) of `current`.
pub fn in_range(candidate: &Pos, current: &Pos, offset: RangeOffset) -> bool {
    if candidate.peers(current) {
        return true;
    }
    let (Some(c), Some(k)) = (candidate.keys.first(), current.keys.first()) else { return false };
    match (distance(c, k), offset) {
        (Some(Distance::Int(d)), RangeOffset::Int(o)) => (0..=o).contains(&d),
        (Some(d), RangeOffset::Float(o)) => (0.0..=o).contains(&d.as_f64()),
        (Some(d), RangeOffset::Int(o)) => (0.0..=o as f64).contains(&d.as_f64()),
        (None, _) => false,
    }
}

/// One partition's rows in window order, with their multiplicities.
#[derive(Default, Debug)]
pub struct Partition {
    pub rows: BTreeMap<Pos, Diff>,
}

/// A row copy: the entry and which of its copies (0-based).
type Slot<'a> = (&'a Pos, Diff);

/// Updates waiting for the frontier to pass their time, with the capability to emit at it.
type Pending = (Capability<Time>, Vec<(Row, Diff)>);

impl Partition {
    fn before<'a>(&'a self, p: &Pos) -> impl Iterator<Item = (&'a Pos, &'a Diff)> + 'a {
        self.rows.range((Bound::Unbounded, Bound::Excluded(p.clone()))).rev()
    }

    fn after<'a>(&'a self, p: &Pos) -> impl Iterator<Item = (&'a Pos, &'a Diff)> + 'a {
        self.rows.range((Bound::Excluded(p.clone()), Bound::Unbounded))
    }

    fn count(&self, p: &Pos) -> Diff {
        self.rows.get(p).copied().unwrap_or(0)
    }

    /// The entries whose value under `frame`/`shift` can change when entry `c` changes.
    pub fn affected(&self, c: &Pos, func: &WindowFunc, out: &mut BTreeSet<Pos>) {
        if self.rows.contains_key(c) {
            out.insert(c.clone());
        }
        let forward_slots = |n: u64, out: &mut BTreeSet<Pos>| {
            let mut seen: u64 = 0;
            for (p, count) in self.after(c) {
                if seen >= n {
                    break;
                }
                out.insert(p.clone());
                seen = seen.saturating_add(*count as u64);
            }
        };
        match func {
            WindowFunc::Shift { offset, .. } if *offset > 0 => forward_slots(offset.unsigned_abs(), out),
            WindowFunc::Shift { offset, .. } => {
                let n = offset.unsigned_abs();
                let mut seen = 0u64;
                for (p, count) in self.before(c) {
                    if seen >= n {
                        break;
                    }
                    out.insert(p.clone());
                    seen = seen.saturating_add(*count as u64);
                }
            }
            WindowFunc::FrameValue { frame, .. } | WindowFunc::Aggregate { frame, .. } => match frame {
                Frame::Partition => out.extend(self.rows.keys().cloned()),
                Frame::Rows { preceding: Some(n) } => forward_slots(*n, out),
                Frame::Rows { preceding: None } => out.extend(self.after(c).map(|(p, _)| p.clone())),
                Frame::Range { preceding } => {
                    out.extend(self.before(c).take_while(|(p, _)| p.peers(c)).map(|(p, _)| p.clone()));
                    match preceding {
                        None => out.extend(self.after(c).map(|(p, _)| p.clone())),
                        Some(o) => out.extend(self.after(c).take_while(|(p, _)| in_range(c, p, *o)).map(|(p, _)| p.clone())),
                    }
                }
            },
        }
    }

    /// The row `offset` copies before (positive) or after (negative) copy `copy` of `p`.
    pub fn shifted<'a>(&'a self, p: &'a Pos, copy: Diff, offset: i64) -> Option<&'a Row> {
        let count = self.count(p);
        let target = copy as i128 - offset as i128;
        if (0..count as i128).contains(&target) {
            return Some(&p.row);
        }
        if target < 0 {
            let mut remaining = -target;
            for (q, c) in self.before(p) {
                if remaining <= *c as i128 {
                    return Some(&q.row);
                }
                remaining -= *c as i128;
            }
        } else {
            let mut remaining = target - count as i128 + 1;
            for (q, c) in self.after(p) {
                if remaining <= *c as i128 {
                    return Some(&q.row);
                }
                remaining -= *c as i128;
            }
        }
        None
    }

    /// The rows (with multiplicities, in window order) of the frame of copy `copy` of `p`.
    pub fn frame<'a>(&'a self, p: &'a Pos, copy: Diff, frame: &Frame) -> Vec<Slot<'a>> {
        let count = self.count(p);
        let mut out: Vec<Slot<'a>> = Vec::new();
        match frame {
            Frame::Partition => out.extend(self.rows.iter().map(|(q, c)| (q, *c))),
            Frame::Rows { preceding } => {
                let limit = preceding.map_or(Diff::MAX, |n| Diff::try_from(n).unwrap_or(Diff::MAX).saturating_add(1));
                let own = (copy + 1).min(limit);
                let mut remaining = limit - own;
                for (q, c) in self.before(p) {
                    if remaining <= 0 {
                        break;
                    }
                    let take = (*c).min(remaining);
                    out.push((q, take));
                    remaining -= take;
                }
                out.reverse();
                out.push((p, own));
            }
            Frame::Range { preceding } => {
                let inside = |q: &Pos| match preceding {
                    None => true,
                    Some(o) => in_range(q, p, *o),
                };
                let mut earlier: Vec<Slot<'a>> = self.before(p).take_while(|(q, _)| inside(q)).map(|(q, c)| (q, *c)).collect();
                earlier.reverse();
                out.extend(earlier);
                out.push((p, count));
                out.extend(self.after(p).take_while(|(q, _)| q.peers(p)).map(|(q, c)| (q, *c)));
            }
        }
        out
    }

    /// Applies one change; entries whose count drops to zero go away.
    pub fn apply(&mut self, p: Pos, diff: Diff) {
        let entry = self.rows.entry(p);
        match entry {
            std::collections::btree_map::Entry::Occupied(mut o) => {
                *o.get_mut() += diff;
                if *o.get() == 0 {
                    o.remove();
                }
            }
            std::collections::btree_map::Entry::Vacant(v) => {
                if diff != 0 {
                    v.insert(diff);
                }
            }
        }
    }

    /// Drops the entries no future change can reach, when every future row has a first key
    /// `>= threshold` (key units): a future insertion re-emits at most the `lookback.lead`
    /// rows before it, and every re-emitted or new row reads at most `lookback.back` rows and
    /// `lookback.distance` key units back. Returns how many entries were dropped.
    pub fn release(&mut self, threshold: i128, lookback: Lookback) -> usize {
        let key_value = |p: &Pos| -> Option<i128> {
            match p.keys.first().map(|k| &k.value) {
                Some(Datum::Timestamp(v)) | Some(Datum::Int(v)) => Some(*v as i128),
                Some(Datum::Date(v)) => Some(*v as i128),
                _ => None,
            }
        };
        // The entries before the first one a future row can land at or after.
        let mut old: Vec<(Pos, Diff, i128)> = Vec::new();
        for (p, c) in &self.rows {
            match key_value(p) {
                Some(v) if v < threshold => old.push((p.clone(), *c, v)),
                _ => break,
            }
        }
        let back_slots = |from: usize, n: usize| {
            let (mut i, mut slots) = (from, 0usize);
            while i > 0 && slots < n {
                i -= 1;
                slots = slots.saturating_add(old[i].1.max(0) as usize);
            }
            i
        };
        // The first row a future insertion can re-emit, then what that row reads.
        let first = back_slots(old.len(), lookback.lead);
        let floor = old.get(first).map_or(threshold, |e| e.2.min(threshold)).saturating_sub(lookback.distance);
        let mut keep = back_slots(first, lookback.back);
        while keep > 0 && old[keep - 1].2 >= floor {
            keep -= 1;
        }
        for (p, _, _) in &old[..keep] {
            self.rows.remove(p);
        }
        keep
    }
}

/// How far back of a change the functions of a window read (`Release`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lookback {
    /// Rows before a change whose value it changes (LEAD offsets).
    pub lead: usize,
    /// Rows a value reads before its own row (LAG offsets, ROWS n PRECEDING).
    pub back: usize,
    /// Key distance a value reads before its own key (RANGE d PRECEDING).
    pub distance: i128,
}

/// The values of the functions for copy `copy` of `p`, appended to its row.
fn output_row(part: &Partition, p: &Pos, copy: Diff, spec: &OrderedWindowSpec, groups: &[FrameGroup]) -> Result<Row, String> {
    let mut values: Vec<Datum> = vec![Datum::Null; spec.functions.len()];
    for (i, f) in spec.functions.iter().enumerate() {
        match &f.func {
            WindowFunc::Shift { arg, offset, default } => {
                values[i] = match part.shifted(p, copy, *offset) {
                    Some(row) => eval_one(arg, &spec.schema, row)?,
                    None => default.clone(),
                };
            }
            WindowFunc::FrameValue { arg, last, frame } => {
                let rows = part.frame(p, copy, frame);
                let pick = if *last { rows.last() } else { rows.first() };
                values[i] = match pick {
                    Some((q, _)) => eval_one(arg, &spec.schema, &q.row)?,
                    None => Datum::Null,
                };
            }
            WindowFunc::Aggregate { .. } => {}
        }
    }
    for g in groups {
        let rows = part.frame(p, copy, &g.frame);
        let input: Vec<(&Row, isize)> = rows.iter().map(|(q, c)| (&q.row, *c)).collect();
        let computed = illunare_eval::aggregate(&g.aggregates, &spec.schema, &input).map_err(|e| e.0)?;
        for (&i, v) in g.indices.iter().zip(computed) {
            values[i] = v;
        }
    }
    let mut out = p.row.0.clone();
    out.extend(values);
    Ok(Row(out))
}

fn eval_one(arg: &illunare_plan::Expr, schema: &SchemaRef, row: &Row) -> Result<Datum, String> {
    let result = illunare_eval::map_rows(std::slice::from_ref(arg), schema, &[row]);
    match result.into_iter().next() {
        Some(Ok(r)) => Ok(r.0.into_iter().next().unwrap_or(Datum::Null)),
        Some(Err(e)) => Err(e.0),
        None => Ok(Datum::Null),
    }
}

/// Aggregates sharing a frame, computed together.
#[derive(Clone)]
pub struct FrameGroup {
    frame: Frame,
    indices: Vec<usize>,
    aggregates: Vec<Aggregate>,
}

fn frame_groups(functions: &[WindowCall]) -> Vec<FrameGroup> {
    let mut groups: Vec<FrameGroup> = Vec::new();
    for (i, f) in functions.iter().enumerate() {
        if let WindowFunc::Aggregate { aggregate, frame } = &f.func {
            match groups.iter_mut().find(|g| g.frame == *frame) {
                Some(g) => {
                    g.indices.push(i);
                    g.aggregates.push(aggregate.clone());
                }
                None => groups.push(FrameGroup { frame: frame.clone(), indices: vec![i], aggregates: vec![aggregate.clone()] }),
            }
        }
    }
    groups
}

/// The outputs (ok rows or error rows) of the `affected` entries, with `sign`.
fn outputs(part: &Partition, affected: &BTreeSet<Pos>, spec: &OrderedWindowSpec, groups: &[FrameGroup], relation: &str, sign: Diff, out: &mut Vec<(Result<Row, Row>, Diff)>) {
    for p in affected {
        let count = part.count(p);
        for copy in 0..count.max(0) {
            match output_row(part, p, copy, spec, groups) {
                Ok(row) => out.push((Ok(row), sign)),
                Err(message) => out.push((Err(error_row(relation, Failure { message, raw: crate::mfp::describe(&p.row) })), sign)),
            }
        }
    }
}

/// Applies one time's `changes` to a partition; returns the output updates.
pub fn step(part: &mut Partition, changes: Vec<(Row, Diff)>, spec: &OrderedWindowSpec, groups: &[FrameGroup], relation: &str) -> Vec<(Result<Row, Row>, Diff)> {
    let mut changes: Vec<(Pos, Diff)> = changes.into_iter().map(|(r, d)| (Pos::of(r, &spec.order), d)).collect();
    changes.sort();
    let mut merged: Vec<(Pos, Diff)> = Vec::with_capacity(changes.len());
    for (p, d) in changes {
        match merged.last_mut() {
            Some((q, e)) if *q == p => *e += d,
            _ => merged.push((p, d)),
        }
    }
    merged.retain(|(_, d)| *d != 0);
    if merged.is_empty() {
        return Vec::new();
    }
    let mut affected = BTreeSet::new();
    for (p, _) in &merged {
        for f in &spec.functions {
            part.affected(p, &f.func, &mut affected);
        }
    }
    let mut out = Vec::new();
    outputs(part, &affected, spec, groups, relation, -1, &mut out);
    for (p, d) in &merged {
        part.apply(p.clone(), *d);
    }
    for (p, _) in &merged {
        for f in &spec.functions {
            part.affected(p, &f.func, &mut affected);
        }
    }
    outputs(part, &affected, spec, groups, relation, 1, &mut out);
    out.sort();
    let mut consolidated: Vec<(Result<Row, Row>, Diff)> = Vec::with_capacity(out.len());
    for (r, d) in out {
        match consolidated.last_mut() {
            Some((q, e)) if *q == r => *e += d,
            _ => consolidated.push((r, d)),
        }
    }
    consolidated.retain(|(_, d)| *d != 0);
    consolidated
}

fn partition_hash(row: &Row, partition: &[usize]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    for &c in partition {
        row[c].hash(&mut h);
    }
    h.finish()
}

/// Renders the operator: exchange by partition, buffer by time, apply complete times.
pub fn render_ordered_window<'s>(input: Coll<'s>, spec: OrderedWindowSpec, relation: &str) -> Rendered<'s> {
    let relation = relation.to_string();
    let partition = spec.partition.clone();
    let groups = frame_groups(&spec.functions);
    let metrics = crate::render::STATE.with(|s| s.borrow().clone());
    let exchange = Exchange::new(move |(row, _, _): &(Row, Time, Diff)| partition_hash(row, &partition));
    let tagged = input.inner.unary_frontier::<timely::container::CapacityContainerBuilder<Vec<_>>, _, _, _>(exchange, "OrderedWindow", move |_, _| {
        let mut pending: BTreeMap<Time, Pending> = BTreeMap::new();
        let mut state: HashMap<Row, Partition> = HashMap::new();
        let mut held: i64 = 0;
        move |(input, frontier), output| {
            input.for_each(|cap, data| {
                for (row, t, d) in data.drain(..) {
                    pending.entry(t).or_insert_with(|| (cap.delayed(&t, 0), Vec::new())).1.push((row, d));
                }
            });
            let ready: Vec<Time> = pending.keys().copied().take_while(|t| !frontier.less_equal(t)).collect();
            for t in ready {
                let Some((cap, changes)) = pending.remove(&t) else { continue };
                let mut by_partition: HashMap<Row, Vec<(Row, Diff)>> = HashMap::new();
                for (row, d) in changes {
                    by_partition.entry(row.project(&spec.partition)).or_default().push((row, d));
                }
                let mut session = output.session(&cap);
                for (key, changes) in by_partition {
                    let part = state.entry(key.clone()).or_default();
                    let before = part.rows.len() as i64;
                    for (r, d) in step(part, changes, &spec, &groups, &relation) {
                        session.give((r, t, d));
                    }
                    held += part.rows.len() as i64 - before;
                    if part.rows.is_empty() {
                        state.remove(&key);
                    }
                }
            }
            // Release rows no future insertion can reach.
            if let (Some(release), Some(&f)) = (spec.release, frontier.frontier().first()) {
                // Future rows have event time > f − tick (ms), i.e. key >= threshold.
                let threshold_ms = (f as i128).saturating_sub(release.tick_ms as i128);
                let threshold = threshold_ms.saturating_mul(release.units_per_ms).div_euclid(release.ms_per_unit.max(1));
                let mut emptied = Vec::new();
                for (key, part) in state.iter_mut() {
                    held -= part.release(threshold, release.lookback) as i64;
                    if part.rows.is_empty() {
                        emptied.push(key.clone());
                    }
                }
                for key in emptied {
                    state.remove(&key);
                }
            }
            if let Some(m) = &metrics {
                m.arranged.fetch_add(held, std::sync::atomic::Ordering::Relaxed);
                held = 0;
            }
        }
    });
    crate::split_tagged(tagged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use illunare_types::row;

    fn order() -> Vec<SortKey> {
        vec![SortKey { column: 0, descending: false, nulls_first: false }]
    }

    fn part(keys: &[i64]) -> Partition {
        let mut p = Partition::default();
        for k in keys {
            p.apply(Pos::of(row![*k], &order()), 1);
        }
        p
    }

    fn pos(k: i64) -> Pos {
        Pos::of(row![k], &order())
    }

    fn lag(offset: i64) -> WindowFunc {
        let col = std::sync::Arc::new(datafusion_physical_expr::expressions::Column::new("k", 0));
        WindowFunc::Shift { arg: illunare_plan::Expr::new(col, "k"), offset, default: Datum::Null }
    }

    fn keys(set: &BTreeSet<Pos>) -> Vec<Datum> {
        set.iter().map(|p| p.row[0].clone()).collect()
    }

    #[test]
    fn lag_and_lead_affect_their_neighbours() {
        let p = part(&[1, 2, 3, 4, 5, 6]);
        let mut out = BTreeSet::new();
        p.affected(&pos(3), &lag(2), &mut out);
        assert_eq!(keys(&out), vec![Datum::Int(3), Datum::Int(4), Datum::Int(5)]);
        let mut out = BTreeSet::new();
        p.affected(&pos(3), &lag(-1), &mut out);
        assert_eq!(keys(&out), vec![Datum::Int(2), Datum::Int(3)]);
        // A row not present (just deleted or about to be inserted) affects its neighbours only.
        let p = part(&[1, 2, 4, 5]);
        let mut out = BTreeSet::new();
        p.affected(&pos(3), &lag(1), &mut out);
        assert_eq!(keys(&out), vec![Datum::Int(4)]);
    }

    #[test]
    fn shifted_counts_copies() {
        let mut p = part(&[1, 3]);
        p.apply(pos(2), 2);
        assert_eq!(p.shifted(&pos(2), 0, 1), Some(&row![1i64]));
        assert_eq!(p.shifted(&pos(2), 1, 1), Some(&row![2i64]));
        assert_eq!(p.shifted(&pos(3), 0, 2), Some(&row![2i64]));
        assert_eq!(p.shifted(&pos(3), 0, 3), Some(&row![1i64]));
        assert_eq!(p.shifted(&pos(3), 0, 4), None);
        assert_eq!(p.shifted(&pos(1), 0, -3), Some(&row![3i64]));
        assert_eq!(p.shifted(&pos(2), 1, -1), Some(&row![3i64]));
    }

    fn frame_keys(p: &Partition, at: i64, copy: Diff, frame: &Frame) -> Vec<(Datum, Diff)> {
        let at = pos(at);
        p.frame(&at, copy, frame).into_iter().map(|(q, c)| (q.row[0].clone(), c)).collect()
    }

    #[test]
    fn frames_rows_and_ranges() {
        let mut p = part(&[1, 2, 5, 6, 9]);
        p.apply(pos(6), 1);
        let rows2 = Frame::Rows { preceding: Some(2) };
        assert_eq!(frame_keys(&p, 6, 0, &rows2), vec![(Datum::Int(2), 1), (Datum::Int(5), 1), (Datum::Int(6), 1)]);
        assert_eq!(frame_keys(&p, 6, 1, &rows2), vec![(Datum::Int(5), 1), (Datum::Int(6), 2)]);
        let range = Frame::Range { preceding: Some(RangeOffset::Int(4)) };
        assert_eq!(frame_keys(&p, 5, 0, &range), vec![(Datum::Int(1), 1), (Datum::Int(2), 1), (Datum::Int(5), 1)]);
        assert_eq!(frame_keys(&p, 9, 0, &range), vec![(Datum::Int(5), 1), (Datum::Int(6), 2), (Datum::Int(9), 1)]);
        let running = Frame::Range { preceding: None };
        assert_eq!(frame_keys(&p, 6, 0, &running).len(), 4, "peers are included");
        // A change at 5 reaches rows up to 4 later (5, 6, 9) under RANGE 4 PRECEDING.
        let mut out = BTreeSet::new();
        let agg_like = WindowFunc::FrameValue { arg: match lag(1) { WindowFunc::Shift { arg, .. } => arg, _ => unreachable!() }, last: false, frame: range };
        p.affected(&pos(5), &agg_like, &mut out);
        assert_eq!(keys(&out), vec![Datum::Int(5), Datum::Int(6), Datum::Int(9)]);
    }

    #[test]
    fn descending_ranges_look_at_larger_keys() {
        let desc = vec![SortKey { column: 0, descending: true, nulls_first: false }];
        let (a, b) = (Pos::of(row![10i64], &desc), Pos::of(row![12i64], &desc));
        assert!(b < a, "12 comes first in descending order");
        assert!(in_range(&b, &a, RangeOffset::Int(2)));
        assert!(!in_range(&b, &a, RangeOffset::Int(1)));
        assert!(!in_range(&a, &Pos::of(Row(vec![Datum::Null]), &desc), RangeOffset::Int(100)));
    }

    #[test]
    fn release_keeps_the_lookback() {
        let mut p = part(&[1, 2, 3, 4, 5, 6, 7, 8]);
        // Future rows have keys >= 6: keep 2 rows before them (4, 5).
        assert_eq!(p.release(6, Lookback { back: 2, ..Lookback::default() }), 3);
        assert_eq!(p.rows.keys().next(), Some(&pos(4)));
        // And everything within key distance 3 of 6.
        let mut p = part(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(p.release(6, Lookback { distance: 3, ..Lookback::default() }), 2);
        assert_eq!(p.rows.keys().next(), Some(&pos(3)));
        // LEAD 1 re-emits 5, whose ROWS 2 frame reads 3 and 4.
        let mut p = part(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(p.release(6, Lookback { lead: 1, back: 2, distance: 0 }), 2);
        assert_eq!(p.rows.keys().next(), Some(&pos(3)));
        // Nothing is before the threshold: nothing goes.
        assert_eq!(p.release(0, Lookback::default()), 0);
    }
}
