//! The plan IR: what the SQL front end produces and the dataflow renders.
//!
//! SQL and the engine meet only here. A [`Plan`] is a tree of relational operators over
//! multisets of [`Row`]s, each correct under insertions and retractions. Scalar work (projections,
//! predicates, join keys, aggregate arguments) is carried as DataFusion physical expressions, so
//! the engine evaluates exactly the function library, casts and NULL rules that the batch oracle
//! (DataFusion) uses. Every node knows its output schema.
//!
//! ```text
//!  Get(name) ── Filter ── Map ──┐
//!                               Join(kind, keys, residual) ── Reduce(keys, aggs) ── TopK ── …
//!  Constant(rows) ──────────────┘
//! ```

mod explain;
pub mod fingerprint;

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion_physical_expr::PhysicalExpr;
use datafusion_physical_expr::aggregate::AggregateFunctionExpr;
pub use illunare_types::Row;

/// A scalar expression evaluated against the rows of a node's input.
#[derive(Clone)]
pub struct Expr {
    pub physical: Arc<dyn PhysicalExpr>,
    /// The SQL-level text, for EXPLAIN and error messages.
    pub text: String,
}

impl Expr {
    pub fn new(physical: Arc<dyn PhysicalExpr>, text: impl Into<String>) -> Self {
        Expr { physical, text: text.into() }
    }
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// How a join combines its inputs. Right-handed variants are lowered by swapping inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    LeftOuter,
    RightOuter,
    FullOuter,
    /// Left rows with at least one match (each left row once).
    LeftSemi,
    /// Left rows with no match. `null_aware` gives `NOT IN` semantics: no row at all when the
    /// right side holds a NULL key, and a NULL left key only passes when the right side is empty.
    LeftAnti { null_aware: bool },
}

/// One bound an inner join's residual puts on the time columns of its two sides:
/// `right[right] - left[left] <= ns` (`upper`) or `>= ns` (a lower bound). Both columns are
/// TIMESTAMPs of the same type; a strict bound is recorded as the non-strict one it implies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeBound {
    pub left: usize,
    pub right: usize,
    pub upper: bool,
    pub ns: i64,
}

/// The time bounds of an interval join: every pair the residual accepts satisfies each of them
/// (the residual still holds and evaluates them). A lower bound whose left column is the left
/// side's event time says until when a right row can meet left rows; an upper bound whose
/// right column is the right side's event time, until when a left row can meet right rows, so
/// the dataflow can release rows that can no longer match (`dataflow/src/interval_join.rs`).
/// Nexmark's `b.date_time BETWEEN a.date_time AND a.expires` is such a pair of bounds: a bid
/// only meets auctions that started before it, an auction only bids until it expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntervalBounds {
    /// The tightest bound of each kind per pair of columns.
    pub bounds: Vec<TimeBound>,
}

/// One aggregate of a [`Node::Reduce`].
#[derive(Clone)]
pub struct Aggregate {
    /// DataFusion's aggregate (function, arguments, DISTINCT, ORDER BY inside the call).
    pub function: Arc<AggregateFunctionExpr>,
    /// `FILTER (WHERE …)`.
    pub filter: Option<Expr>,
    pub text: String,
}

impl std::fmt::Debug for Aggregate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// An ORDER BY key over a column of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SortKey {
    pub column: usize,
    pub descending: bool,
    pub nulls_first: bool,
}

/// The numbering a [`Node::TopK`] appends, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Numbering {
    RowNumber,
    Rank,
    DenseRank,
}

/// The frame of a window aggregate, always ending at the current row (or covering the whole
/// partition): what [`Node::OrderedWindow`] maintains incrementally.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// Every row of the partition (no ORDER BY, or UNBOUNDED PRECEDING .. UNBOUNDED FOLLOWING).
    Partition,
    /// `ROWS BETWEEN n PRECEDING AND CURRENT ROW` (`None`: UNBOUNDED PRECEDING).
    Rows { preceding: Option<u64> },
    /// `RANGE BETWEEN d PRECEDING AND CURRENT ROW`, peers of the current row included
    /// (`None`: UNBOUNDED PRECEDING, the default frame with ORDER BY).
    Range { preceding: Option<RangeOffset> },
}

/// A RANGE offset in the units of the (single) ORDER BY key: integers, timestamp units,
/// unscaled decimals, or a float for float keys.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RangeOffset {
    Int(i128),
    Float(f64),
}

/// What one window function of a [`Node::OrderedWindow`] computes per row.
#[derive(Clone, Debug)]
pub enum WindowFunc {
    /// `LAG(arg, offset, default)` (positive `offset`) or `LEAD` (negative): `arg` of the row
    /// `offset` positions before the current one in the partition, else `default` (a constant
    /// already of the output type; NULL when absent).
    Shift { arg: Expr, offset: i64, default: illunare_types::Datum },
    /// `FIRST_VALUE(arg)` / `LAST_VALUE(arg)` over the frame.
    FrameValue { arg: Expr, last: bool, frame: Frame },
    /// An aggregate over the frame, computed by DataFusion's accumulator.
    Aggregate { aggregate: Aggregate, frame: Frame },
}

/// One window function of a [`Node::OrderedWindow`].
#[derive(Clone, Debug)]
pub struct WindowCall {
    pub func: WindowFunc,
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub node: Node,
    pub schema: SchemaRef,
}

#[derive(Clone, Debug)]
pub enum Node {
    /// A named relation of the catalog: source, table, view, or error relation.
    Get { name: String },
    /// Fixed rows (VALUES, a relation with no input).
    Constant { rows: Vec<Row> },
    /// Output columns are `exprs` evaluated per input row.
    Map { input: Box<Plan>, exprs: Vec<Expr> },
    /// Rows for which `predicate` is true (not NULL, not false).
    Filter { input: Box<Plan>, predicate: Expr },
    /// Equi-join on `left_keys[i] = right_keys[i]` (NULL keys never match unless
    /// `nulls_equal`), then `residual` over the concatenated row. No keys = cross join.
    /// Output: left columns then right columns (only left for semi/anti).
    Join {
        left: Box<Plan>,
        right: Box<Plan>,
        kind: JoinKind,
        left_keys: Vec<Expr>,
        right_keys: Vec<Expr>,
        residual: Option<Expr>,
        nulls_equal: bool,
        /// For an inner join whose residual bounds one side's time by the other's (an interval
        /// join): the bounds. The residual still holds them and is still evaluated; this only
        /// lets the dataflow release rows that can no longer match.
        interval: Option<IntervalBounds>,
    },
    /// GROUP BY `group_keys` (input expressions) with `aggregates`; output: keys then aggregates.
    /// With no keys the output has exactly one row, also over an empty input.
    /// `on_window_close` (a view declared `EMIT ON WINDOW CLOSE`): a window aggregate shows each
    /// window's rows once, final, when the watermark passes the window's end, instead of
    /// updating them while the window is open (`dataflow/src/window_hold.rs`). Ignored by a
    /// GROUP BY without a window.
    Reduce { input: Box<Plan>, group_keys: Vec<Expr>, aggregates: Vec<Aggregate>, on_window_close: bool },
    /// Each distinct row once.
    Distinct { input: Box<Plan> },
    /// Multiset union (UNION ALL).
    Union { inputs: Vec<Plan> },
    /// A temporal filter: each row is visible from its time until the time `until` (a
    /// timestamp over the row), when it is retracted; rows whose `until` is NULL or not after
    /// their own time never appear. From `WHERE ts > WATERMARK(src) - INTERVAL …` (retention).
    Temporal { input: Box<Plan>, until: Expr },
    /// Per `partition` (columns), the rows in `order` (ties broken by the whole row) from
    /// `offset`, at most `limit`; `numbering` appends ROW_NUMBER/RANK/DENSE_RANK.
    TopK {
        input: Box<Plan>,
        partition: Vec<usize>,
        order: Vec<SortKey>,
        offset: usize,
        limit: Option<usize>,
        numbering: Option<Numbering>,
    },
    /// Session windows (`SESSION(relation, time, gap, partition…)`): per `partition` (columns),
    /// rows sorted by the TIMESTAMP column `time`; a row starts a new session when there is no
    /// earlier row or its time is at least the previous row's time + `gap_ms`. Output: the input
    /// columns, then `window_start` (the session's first time) and `window_end` (its last time
    /// + gap), both of the time column's type; NULL for rows whose time is NULL.
    Session { input: Box<Plan>, partition: Vec<usize>, time: usize, gap_ms: i64 },
    /// Window functions (LAG/LEAD, FIRST/LAST_VALUE, framed aggregates) per `partition`
    /// (columns) in `order` (ties broken by the whole row); output: the input columns, then one
    /// column per function.
    OrderedWindow { input: Box<Plan>, partition: Vec<usize>, order: Vec<SortKey>, functions: Vec<WindowCall> },
}

impl Plan {
    pub fn new(node: Node, schema: SchemaRef) -> Self {
        Plan { node, schema }
    }

    /// The direct inputs of this node.
    pub fn inputs(&self) -> Vec<&Plan> {
        match &self.node {
            Node::Get { .. } | Node::Constant { .. } => vec![],
            Node::Map { input, .. }
            | Node::Filter { input, .. }
            | Node::Reduce { input, .. }
            | Node::Distinct { input }
            | Node::Temporal { input, .. }
            | Node::TopK { input, .. }
            | Node::Session { input, .. }
            | Node::OrderedWindow { input, .. } => vec![input],
            Node::Join { left, right, .. } => vec![left, right],
            Node::Union { inputs } => inputs.iter().collect(),
        }
    }

    /// The direct inputs of this node, to rewrite them.
    pub fn inputs_mut(&mut self) -> Vec<&mut Plan> {
        match &mut self.node {
            Node::Get { .. } | Node::Constant { .. } => vec![],
            Node::Map { input, .. }
            | Node::Filter { input, .. }
            | Node::Reduce { input, .. }
            | Node::Distinct { input }
            | Node::Temporal { input, .. }
            | Node::TopK { input, .. }
            | Node::Session { input, .. }
            | Node::OrderedWindow { input, .. } => vec![input],
            Node::Join { left, right, .. } => vec![left, right],
            Node::Union { inputs } => inputs.iter_mut().collect(),
        }
    }

    /// Names of the catalog relations this plan reads.
    pub fn dependencies(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_dependencies(&mut out);
        out.sort();
        out.dedup();
        out
    }

    fn collect_dependencies(&self, out: &mut Vec<String>) {
        if let Node::Get { name } = &self.node {
            out.push(name.clone());
        }
        for input in self.inputs() {
            input.collect_dependencies(out);
        }
    }

    /// EXPLAIN text: one operator per line, inputs indented below.
    pub fn explain(&self) -> String {
        explain::explain(self)
    }
}
