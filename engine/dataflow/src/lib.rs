//! Renders plan IR into timely/differential dataflow and runs it.
//!
//! ```text
//!  DataflowSpec { sources, tables, views (IR), sinks, captures }
//!        │ Runtime::start — one timely worker per thread/process
//!        ▼
//!  source ops ─► map/filter chains ─► join / reduce / top-k / distinct / union ─► sink ops
//!  table inputs ┘            (every relation: rows + a parallel collection of error rows)
//! ```
//! Every relation renders to [`Rendered`]: its rows and its errors (rows of
//! `illunare_types::error_schema`). Operators live one per file; all are instantiated over the
//! single record type [`Row`] and diff type [`Diff`] so differential's generics compile once.

pub mod accum;
pub mod accumulate;
pub mod dictionary_groups;
pub mod expiring_hash_join;
pub mod fuse;
pub mod interval_join;
pub mod join;
pub mod keyed;
pub mod mfp;
pub mod minmax;
pub mod minmax_append;
pub mod ordered_window;
pub mod preagg;
pub mod reduce;
pub mod render;
pub mod runtime;
pub mod session;
pub mod sink;
pub mod sink_metrics;
pub mod snapshot;
pub mod snapshot_index;
pub mod source;
pub mod source_clock;
pub mod source_projection;
pub mod source_pushdown;
pub mod state_metrics;
pub mod temporal;
pub mod time_order;
pub mod topk;
pub mod topk_append;
pub mod window_agg;
pub mod window_close;
pub mod window_hold;
pub mod window_join;

use differential_dataflow::{AsCollection, VecCollection};
use illunare_types::{Datum, Diff, Row, Time};
use timely::dataflow::operators::ToStream;

pub use runtime::{ClusterConfig, DataflowId, DataflowSpec, Runtime, SinkRuntimeSpec, TableSpec};
pub use snapshot::{ChangeBatch, Resume, SnapshotHandle, SnapshotState};
pub use sink_metrics::SinkMetrics;
pub use source::SourceMetrics;
pub use source_clock::EventTime;

/// A collection of rows in the dataflow.
pub type Coll<'s> = VecCollection<'s, Time, Row, Diff>;

/// An update tagged as data (`Ok`) or as an error row, before `ok_err` splits the two.
pub type Tagged<D, R = Diff> = (Result<D, Row>, Time, R);

/// Splits a stream of tagged rows into the rows and the error rows.
pub fn split_tagged<'s>(tagged: timely::dataflow::StreamVec<'s, Time, Tagged<Row>>) -> Rendered<'s> {
    use differential_dataflow::AsCollection;
    use timely::dataflow::operators::core::OkErr;
    let (ok, err) = tagged.ok_err(|(r, t, d): Tagged<Row>| match r {
        Ok(row) => Ok((row, t, d)),
        Err(row) => Err((row, t, d)),
    });
    Rendered { ok: ok.as_collection(), err: err.as_collection() }
}

/// A rendered relation: its rows and the error rows its evaluation produced.
#[derive(Clone)]
pub struct Rendered<'s> {
    pub ok: Coll<'s>,
    pub err: Coll<'s>,
}

/// A row that failed to evaluate: the message and a rendering of the input.
#[derive(Debug, Clone)]
pub struct Failure {
    pub message: String,
    pub raw: String,
}

/// An error row (`error`, `raw`, `position`) for relation `relation`.
pub fn error_row(relation: &str, failure: Failure) -> Row {
    Row(vec![Datum::str(&failure.message), Datum::str(&failure.raw), Datum::str(relation)])
}

/// Per-activation pre-aggregation state: per capability time, the capability and the folded
/// value of each (key, time).
pub type Stash<V> =
    std::collections::BTreeMap<Time, (timely::dataflow::operators::Capability<Time>, std::collections::HashMap<(Row, Time), V, ahash::RandomState>)>;

/// A constant collection: `rows` at time 0 (only worker 0 holds them).
pub fn constant<'s>(scope: timely::dataflow::Scope<'s, Time>, rows: Vec<Row>) -> Coll<'s> {
    let rows = if scope.index() == 0 { rows } else { Vec::new() };
    rows.into_iter().map(|r| (r, 0 as Time, 1 as Diff)).to_stream(scope).as_collection()
}

/// A deterministic hash of a key row, the same in every process: how the operators that keep
/// per-key state of their own exchange their input between workers.
pub(crate) fn key_hash(key: &Row) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// Wall-clock milliseconds since the Unix epoch.
pub fn now_ms() -> Time {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as Time).unwrap_or(0)
}
