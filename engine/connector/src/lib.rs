//! The contract between the engine and its connectors.
//!
//! ```text
//!   CREATE SOURCE … WITH (connector = 'x', …)          CREATE SINK … WITH (connector = 'y', …)
//!            │ SourceSpec                                        │ SinkSpec
//!            ▼                                                   ▼
//!   SourceConnector::create ─► Source                    SinkConnector::create ─► Sink
//!            │ splits() — deterministic list of work units       ▲ commit(updates up to a frontier)
//!            ▼ open(split, resume position)                      │
//!   SplitReader::next() ─► SourceChunk { Arrow batch, errors, position }
//! ```
//!
//! Connectors know nothing of timely: a source yields Arrow batches plus the records it could
//! not decode (never dropped: they become the `<source>_errors` relation) and a resumable
//! position; the dataflow assigns splits to workers (`split index % total workers`), so the
//! same data arrives whatever the worker or process count. A sink receives consolidated
//! updates whose times the frontier has passed, in time order, and commits them atomically.

pub mod chain;
pub mod changes;
pub mod hive;
mod options;
mod predicate;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
pub use illunare_types::{Diff, ErrorRecord, Row, Time};
pub use options::{Options, parse_duration};
pub use predicate::{ColumnPredicate, CompareOp, compare};

/// Errors from connectors. Messages are meant for the pipeline author.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("option '{key}' {message}")]
    Option { key: String, message: String },
    #[error("unknown connector '{0}'")]
    UnknownConnector(String),
    #[error("{0}")]
    Schema(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    #[error(transparent)]
    Type(#[from] illunare_types::TypeError),
    #[error("{0}")]
    Other(String),
    /// Not to be retried: the pipeline stops with this error (e.g. a bad record read with
    /// `bad_records = 'fail'`).
    #[error("{0}")]
    Fatal(String),
}

impl ConnectorError {
    pub fn option(key: &str, message: impl Into<String>) -> Self {
        ConnectorError::Option { key: key.to_string(), message: message.into() }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ConnectorError::Io { context: context.into(), source }
    }
}

/// Everything a source connector is told by `CREATE SOURCE`.
#[derive(Clone, Debug)]
pub struct SourceSpec {
    /// The relation name.
    pub name: String,
    /// The declared columns (the connector must produce exactly these).
    pub schema: SchemaRef,
    /// The event-time column (`WATERMARK FOR column`), when the source has one. A source that
    /// can bound the event times still to come (file statistics) uses it for
    /// [`SourceChunk::remaining_from`].
    pub event_time: Option<String>,
    pub options: Options,
}

/// A unit of work of a source (a generator range, a file, a Kafka partition, a device).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Split {
    pub id: String,
}

/// A resumable position inside a split, opaque to the engine (offset, row number, …).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Position(pub String);

/// What a reader delivers: decoded rows, the records it could not decode, and where it is now.
#[derive(Debug)]
pub struct SourceChunk {
    pub batch: RecordBatch,
    pub errors: Vec<ErrorRecord>,
    pub position: Position,
    /// A lower bound (ms since the epoch) on the event time of every row this split will still
    /// deliver after this chunk, when the source knows one (Parquet row-group statistics). The
    /// engine advances the split's watermark no further than this, so reading unsorted files
    /// one part after another makes no row late. `None`: nothing is known.
    pub remaining_from: Option<Time>,
    /// Bad records the source was told to drop (`bad_records = 'drop'`): counted in the
    /// source's metrics, not emitted.
    pub dropped: u64,
}

impl SourceChunk {
    /// A chunk without a bound on the event times still to come.
    pub fn new(batch: RecordBatch, errors: Vec<ErrorRecord>, position: Position) -> SourceChunk {
        SourceChunk { batch, errors, position, remaining_from: None, dropped: 0 }
    }
}

pub trait SourceConnector: Send + Sync {
    fn name(&self) -> &'static str;
    /// Validates the spec (options, declared columns) and builds the source. Called by
    /// `check` too, so it must not read data or contact servers.
    fn create(&self, spec: &SourceSpec) -> Result<Arc<dyn Source>, ConnectorError>;
    /// The columns of a source declared without them (`CREATE SOURCE s WITH (…)`), when the
    /// connector can read them from the data itself (Parquet footers); `None` when it cannot,
    /// and the source must declare its columns. Called while the pipeline is planned, before
    /// `create`, with all of the source's options.
    fn infer_schema(&self, _options: &Options) -> Result<Option<SchemaRef>, ConnectorError> {
        Ok(None)
    }
}

pub trait Source: Send + Sync {
    fn schema(&self) -> SchemaRef;
    /// Whether every split ends by itself (files, generators with `rows`).
    fn bounded(&self) -> bool;
    /// Whether splits deliver rows at a real-time pace (a replay at a given rate) rather than
    /// as fast as they can be read: the engine then reads every split at once, like an
    /// unbounded source, so the pace is the one asked for.
    fn paced(&self) -> bool {
        !self.bounded()
    }
    /// The units of work. Must be the same list in every process for the same spec.
    fn splits(&self) -> Result<Vec<Split>, ConnectorError>;
    /// A reader for `split`, continuing after `resume` when given.
    fn open(&self, split: &Split, resume: Option<&Position>) -> Result<Box<dyn SplitReader>, ConnectorError>;

    /// Projection pushdown: a copy of this source that reads only the declared `columns`
    /// (indices into [`Source::schema`]), or `None` when the source cannot narrow its reads.
    /// Batches keep the declared columns, in order; the others may be all-NULL arrays (their
    /// field in the batch's schema is then nullable) and are not checked for NOT NULL. The
    /// engine calls this when nothing reads the other columns.
    fn narrow(&self, _columns: &[usize]) -> Option<Arc<dyn Source>> {
        None
    }

    /// Dictionary pushdown: a copy of this source whose batches may carry the declared string
    /// `columns` as `Dictionary(Int32, <declared type>)` arrays instead (the same values,
    /// dictionary-encoded, as columnar files often hold them), or `None` when it cannot. The
    /// batch's schema then names the dictionary type. The engine asks only when every reader of
    /// those columns takes them as a whole value (a GROUP BY key passed through plain column
    /// references), where a dictionary's keys spare decoding, copying and hashing each string.
    fn with_dictionary_columns(&self, _columns: &[usize]) -> Option<Arc<dyn Source>> {
        None
    }

    /// Predicate pushdown: a copy of this source that may skip data where no row can satisfy
    /// every one of `predicates` (a conjunction), or `None` when it cannot. Only an
    /// optimisation: the engine still evaluates the full filter on every delivered row.
    /// Skipping may change [`Source::splits`], which must stay the same in every process.
    fn prune(&self, _predicates: &[ColumnPredicate]) -> Option<Arc<dyn Source>> {
        None
    }

    /// How many rows the source will deliver in all, when it knows (a progress bar's total).
    fn total_rows(&self) -> Option<u64> {
        None
    }

    /// Connector-specific counters (e.g. bytes read, row groups skipped), by name; shared by
    /// the copies [`Source::narrow`] and [`Source::prune`] return.
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}

#[async_trait::async_trait]
pub trait SplitReader: Send {
    /// The next chunk, `Ok(None)` once a bounded split is exhausted. An `Err` is a failure of
    /// the transport (not of one record); the engine reports it and retries with backoff.
    async fn next(&mut self) -> Result<Option<SourceChunk>, ConnectorError>;
}

/// Everything a sink connector is told by `CREATE SINK`.
#[derive(Clone, Debug)]
pub struct SinkSpec {
    pub name: String,
    /// The relation the sink reads.
    pub from: String,
    pub schema: SchemaRef,
    pub options: Options,
}

pub trait SinkConnector: Send + Sync {
    fn name(&self) -> &'static str;
    /// Validates the spec. Must not write anything yet.
    fn create(&self, spec: &SinkSpec) -> Result<Box<dyn Sink>, ConnectorError>;
}

pub trait Sink: Send {
    /// Applies consolidated `updates` (sorted by time; every time is before `frontier`) and
    /// makes them durable. `frontier = None` means the input has ended.
    fn commit(&mut self, updates: &[(Row, Time, Diff)], frontier: Option<Time>) -> Result<(), ConnectorError>;

    /// Whether a commit that holds only insertions may be handed over unconsolidated and in
    /// arrival order (the same row may then come as several updates). For sinks that net
    /// their updates themselves (per key, per row) and whose output does not follow the order
    /// of the updates: the engine then spares the sort of the commit by row and time.
    fn takes_unordered_insertions(&self) -> bool {
        false
    }
}

/// The connectors a binary was built with, by name.
#[derive(Default, Clone)]
pub struct Registry {
    sources: BTreeMap<&'static str, Arc<dyn SourceConnector>>,
    sinks: BTreeMap<&'static str, Arc<dyn SinkConnector>>,
}

impl Registry {
    pub fn add_source(&mut self, c: Arc<dyn SourceConnector>) -> &mut Self {
        self.sources.insert(c.name(), c);
        self
    }

    pub fn add_sink(&mut self, c: Arc<dyn SinkConnector>) -> &mut Self {
        self.sinks.insert(c.name(), c);
        self
    }

    pub fn source(&self, name: &str) -> Result<Arc<dyn SourceConnector>, ConnectorError> {
        self.sources.get(name).cloned().ok_or_else(|| {
            let known: Vec<_> = self.sources.keys().copied().collect();
            ConnectorError::Other(format!("unknown source connector '{name}' (known: {})", known.join(", ")))
        })
    }

    pub fn sink(&self, name: &str) -> Result<Arc<dyn SinkConnector>, ConnectorError> {
        self.sinks.get(name).cloned().ok_or_else(|| {
            let known: Vec<_> = self.sinks.keys().copied().collect();
            ConnectorError::Other(format!("unknown sink connector '{name}' (known: {})", known.join(", ")))
        })
    }
}

/// Checks that a connector produced exactly the declared columns (by name and type).
pub fn check_batch_schema(declared: &SchemaRef, batch: &RecordBatch) -> Result<(), ConnectorError> {
    let got = batch.schema();
    if got.fields().len() != declared.fields().len() || got.fields().iter().zip(declared.fields()).any(|(a, b)| a.data_type() != b.data_type()) {
        return Err(ConnectorError::Schema(format!("connector produced columns {got:?}, declared {declared:?}")));
    }
    Ok(())
}
