//! The `generator` source connector: realistic, deterministic synthetic data for demos, tests
//! and benchmarks, without any external system.
//!
//! ```sql
//! CREATE SOURCE tx (card_id VARCHAR, merchant VARCHAR, amount DOUBLE, ts TIMESTAMP)
//!   WITH (connector = 'generator', kind = 'transactions', rows = '1000000', seed = '7');
//! ```
//!
//! Every value is a pure function of (kind, options, seed, row index): rows are hashed from
//! their index with a counter-based RNG (`rng.rs`), never drawn from a sequential stream, so the
//! same rows come out whatever the split count, the worker count or the order splits are read.
//!
//! Options (`WITH`):
//! - `kind` (required): `transactions` | `devices` | `fleet` | `nexmark`;
//! - `rows`: total rows, making the source bounded. Without it the source is unbounded and
//!   `rate` (rows/s over all splits, default 1000) paces it in real time; given with `rows`, it
//!   paces a bounded source too (a replay at a fixed speed; otherwise bounded sources are read
//!   as fast as possible);
//! - `seed` (default 0), `splits` (default 8), `batch_size` (rows per chunk, default 8192);
//! - `start` (RFC 3339; default `2024-01-01T00:00:00Z` when bounded, the wall clock at
//!   `create`, to the second, when unbounded) and `interval` (event time between consecutive
//!   row indices; default `1ms` when bounded, `1/rate` s when unbounded): `ts = start + i *
//!   interval`;
//! - per kind: `cards` (10000) and `merchants` (1000) for `transactions`, `devices` (100) for
//!   `devices`, `vehicles` (50) for `fleet`.
//!
//! Splits: bounded, split `k` of `S` covers the blocks `k, k+S, k+2S, …` of one chunk's worth of
//! indices each, up to `N` (so all splits move through event time together); unbounded, it yields
//! `k, k+S, k+2S, …` at `rate/S` rows/s (`nexmark`: blocks of 50 events, see below). A
//! [`Position`] is the split's next row index.
//!
//! A source declares any subset of its kind's columns, by name, in any order; values are made
//! in their native type and cast to the declared one.
//!
//! # The `nexmark` kind
//!
//! The Nexmark benchmark's person, auction and bid streams (see `nexmark/mod.rs` for the model
//! and how it follows the reference generator). The indices above are *event* numbers of one
//! stream shared by the three tables; a source picks its table and yields only its rows:
//!
//! ```sql
//! CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, date_time TIMESTAMP,
//!                    WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
//!   WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '10000000', seed = '7');
//! ```
//!
//! - `table` (required): `person` (id, name, email_address, credit_card, city, state,
//!   date_time, extra), `auction` (id, item_name, description, initial_bid, reserve, date_time,
//!   expires, seller, category, extra) or `bid` (auction, bidder, price, channel, url,
//!   date_time, extra). There is no `ts`: `date_time` is the event time;
//! - `events` instead of `rows` (which is refused): the number of events of all three tables
//!   together (1 person, 3 auctions, 46 bids in every 50), making the source bounded; without
//!   it `rate` is in events/s (default 10000, the reference's rate);
//! - `interval` defaults to 100µs when bounded (10000 events/s of event time);
//! - `out_of_order` (default `0s`): each event's `date_time` moves back by a pseudo-random
//!   amount in `[0, out_of_order)` (whole microseconds), so watermarks matter;
//! - `hot_auction_ratio` (2), `hot_seller_ratio` (4), `hot_bidder_ratio` (4),
//!   `in_flight_auctions` (100), `active_people` (1000): the reference's knobs;
//! - `batch_size` counts rows of the table: a chunk covers `batch_size × 50 / share` events
//!   (share 1, 3 or 46), so chunks hold about `batch_size` rows;
//! - unbounded, splits take turns by blocks of 50 events rather than by single events: split
//!   `k` of `S` yields events `50k … 50k+49`, then `50(k+S) …`, so every split has rows of
//!   every table (with single events, a split could see no person ever, e.g. every odd split
//!   of 8, and hold an event-time frontier back forever).

mod devices;
mod fleet;
mod nexmark;
mod rng;
mod transactions;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use illunare_connector::{
    ConnectorError, Options, Position, Source, SourceChunk, SourceConnector, SourceSpec, Split, SplitReader,
    parse_duration,
};

/// The connector, registered as `generator`.
pub struct GeneratorConnector;

impl SourceConnector for GeneratorConnector {
    fn name(&self) -> &'static str {
        "generator"
    }

    fn create(&self, spec: &SourceSpec) -> Result<Arc<dyn Source>, ConnectorError> {
        Ok(Arc::new(GeneratorSource::new(spec)?))
    }
}

/// All columns of `kind`, with their native types (`ts` is a microsecond timestamp). For
/// `nexmark`, see [`nexmark_schema`].
pub fn kind_schema(kind: &str) -> Result<SchemaRef, ConnectorError> {
    Ok(Kind::parse(kind, None)?.native_schema())
}

/// The tables of the `nexmark` kind, in the order `illunare generate nexmark` writes them.
pub const NEXMARK_TABLES: [&str; 3] = ["person", "auction", "bid"];

/// All columns of the `nexmark` kind's `table` (`person` | `auction` | `bid`), with their
/// native types (`date_time` and `expires` are microsecond timestamps).
pub fn nexmark_schema(table: &str) -> Result<SchemaRef, ConnectorError> {
    Ok(Kind::Nexmark(nexmark::Table::parse(table)?).native_schema())
}

/// All columns of the `nexmark` kind's `table` for events `0..events`, in order, in batches of
/// about `batch_size` rows, with the defaults of every other option (what `CREATE SOURCE … WITH
/// (kind = 'nexmark', table, events, seed)` emits).
pub fn generate_nexmark_batches(
    table: &str,
    events: u64,
    seed: u64,
    batch_size: usize,
) -> Result<impl Iterator<Item = Result<RecordBatch, ConnectorError>>, ConnectorError> {
    let schema = nexmark_schema(table)?;
    let options = Options::new([
        ("kind".to_string(), "nexmark".to_string()),
        ("table".to_string(), table.to_string()),
        ("events".to_string(), events.to_string()),
        ("seed".to_string(), seed.to_string()),
        ("batch_size".to_string(), batch_size.to_string()),
    ]);
    let source = GeneratorSource::new(&SourceSpec { name: table.to_string(), schema, event_time: None, options })?;
    Ok(BatchIter { generator: source.generator, next: 0, end: events, batch: source.indices_per_batch })
}

/// All columns of `kind` for rows `0..rows`, in order, in batches of `batch_size` rows, with
/// the defaults of every other option (what `CREATE SOURCE … WITH (kind, rows, seed)` emits).
pub fn generate_batches(
    kind: &str,
    rows: u64,
    seed: u64,
    batch_size: usize,
) -> Result<impl Iterator<Item = Result<RecordBatch, ConnectorError>>, ConnectorError> {
    let schema = kind_schema(kind)?;
    let options = Options::new([
        ("kind".to_string(), kind.to_string()),
        ("rows".to_string(), rows.to_string()),
        ("seed".to_string(), seed.to_string()),
        ("batch_size".to_string(), batch_size.to_string()),
    ]);
    let source = GeneratorSource::new(&SourceSpec { name: kind.to_string(), schema, event_time: None, options })?;
    Ok(BatchIter { generator: source.generator, next: 0, end: rows, batch: source.indices_per_batch })
}

/// The merchant dimension of the `transactions` kind: `merchant` (`m1 … m{merchants}`, every
/// id `transactions` emits with `merchants` = this count and the same seed), `risk` (`low` |
/// `medium` | `high`, about 70/20/10%), `category` and `city`.
pub fn merchants_batch(merchants: u64, seed: u64) -> RecordBatch {
    let schema = Arc::new(Schema::new(
        ["merchant", "risk", "category", "city"].map(|n| Field::new(n, DataType::Utf8, true)).to_vec(),
    ));
    let columns = transactions::merchants_columns(merchants, seed);
    RecordBatch::try_new(schema.clone(), columns).unwrap_or_else(|_| RecordBatch::new_empty(schema))
}

struct BatchIter {
    generator: Arc<Generator>,
    next: u64,
    end: u64,
    /// Row (event) indices per batch.
    batch: u64,
}

impl Iterator for BatchIter {
    type Item = Result<RecordBatch, ConnectorError>;

    fn next(&mut self) -> Option<Self::Item> {
        // Batches without a row of the table (`nexmark` only) are skipped.
        while self.next < self.end {
            let count = (self.end - self.next).min(self.batch);
            let batch = self.generator.batch(&Rows::range(self.next, count as usize));
            self.next += count;
            if !matches!(&batch, Ok(b) if b.num_rows() == 0) {
                return Some(batch);
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Kinds and columns

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Transactions,
    Devices,
    Fleet,
    Nexmark(nexmark::Table),
}

const KINDS: &str = "transactions, devices, fleet, nexmark";

impl Kind {
    /// The kind named `text`; `nexmark` needs its `table`.
    fn parse(text: &str, table: Option<&str>) -> Result<Kind, ConnectorError> {
        match text.trim().to_lowercase().as_str() {
            "transactions" => Ok(Kind::Transactions),
            "devices" => Ok(Kind::Devices),
            "fleet" => Ok(Kind::Fleet),
            "nexmark" => match table {
                Some(t) => Ok(Kind::Nexmark(nexmark::Table::parse(t)?)),
                None => Err(ConnectorError::option(
                    "table",
                    format!("is required for kind 'nexmark' (tables: {})", nexmark::TABLES),
                )),
            },
            _ => Err(ConnectorError::option("kind", format!("'{text}' is not a generator kind (kinds: {KINDS})"))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Transactions => "transactions",
            Kind::Devices => "devices",
            Kind::Fleet => "fleet",
            Kind::Nexmark(_) => "nexmark",
        }
    }

    /// The kind in messages: `kind 'fleet'`, `kind 'nexmark' table 'bid'`.
    fn describe(self) -> String {
        match self {
            Kind::Nexmark(t) => format!("kind 'nexmark' table '{}'", t.name()),
            other => format!("kind '{}'", other.name()),
        }
    }

    /// The kind's own columns; `ts` follows them (except for `nexmark`).
    fn columns(self) -> &'static [(&'static str, DataType)] {
        match self {
            Kind::Transactions => transactions::COLUMNS,
            Kind::Devices => devices::COLUMNS,
            Kind::Fleet => fleet::COLUMNS,
            Kind::Nexmark(t) => t.columns(),
        }
    }

    /// Whether the shared `ts` column exists (`nexmark` has its own `date_time`).
    fn has_ts(self) -> bool {
        !matches!(self, Kind::Nexmark(_))
    }

    fn native_schema(self) -> SchemaRef {
        let mut fields: Vec<Field> = self.columns().iter().map(|(n, t)| Field::new(*n, t.clone(), true)).collect();
        if self.has_ts() {
            fields.push(Field::new(TS, NATIVE_TS, true));
        }
        Arc::new(Schema::new(fields))
    }

    fn describe_columns(self) -> String {
        let mut cols: Vec<String> = self.columns().iter().map(|(n, t)| format!("{n} {}", sql_type(t))).collect();
        if self.has_ts() {
            cols.push(format!("{TS} TIMESTAMP"));
        }
        cols.join(", ")
    }

    /// Unbounded, splits take turns by blocks of this many indices: `nexmark`'s blocks hold one
    /// cycle of the three tables, so every split has rows of each.
    fn unbounded_block(self) -> u64 {
        match self {
            Kind::Nexmark(_) => nexmark::TOTAL_PROPORTION,
            _ => 1,
        }
    }

    /// Row indices per chunk for `batch_size` rows: `nexmark` counts events, of which only a
    /// share are rows of the source's table.
    fn indices_per_batch(self, batch_size: usize) -> u64 {
        let rows = batch_size as u64;
        match self {
            Kind::Nexmark(t) => (rows * nexmark::TOTAL_PROPORTION).div_ceil(t.proportion()),
            _ => rows,
        }
    }
}

const TS: &str = "ts";
const NATIVE_TS: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

fn sql_type(t: &DataType) -> String {
    match t {
        DataType::Utf8 => "VARCHAR".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Timestamp(..) => "TIMESTAMP".into(),
        other => other.to_string(),
    }
}

enum KindGen {
    Transactions(transactions::Transactions),
    Devices(devices::Devices),
    Fleet(fleet::Fleet),
    Nexmark(nexmark::Nexmark),
}

impl KindGen {
    /// The wanted columns for `rows`, and how many rows they hold (`rows.count`, except for
    /// `nexmark`, whose indices are events of which only some are rows of the table).
    fn fill(&self, rows: &Rows, time: &TimeAxis, wanted: &[bool]) -> (Vec<Option<ArrayRef>>, usize) {
        match self {
            KindGen::Transactions(g) => (g.fill(rows, time, wanted), rows.count),
            KindGen::Devices(g) => (g.fill(rows, time, wanted), rows.count),
            KindGen::Fleet(g) => (g.fill(rows, time, wanted), rows.count),
            KindGen::Nexmark(g) => g.fill(rows, time, wanted),
        }
    }
}

/// The row indices of one batch, `count` of them from `first`: runs of `block` consecutive
/// indices (runs start at multiples of `block`), consecutive runs `step` apart. With `block` 1:
/// `first, first + step, …`.
pub(crate) struct Rows {
    pub first: u64,
    pub step: u64,
    pub block: u64,
    pub count: usize,
}

impl Rows {
    /// `count` consecutive indices from `first`.
    pub(crate) fn range(first: u64, count: usize) -> Rows {
        Rows { first, step: 1, block: 1, count }
    }

    pub(crate) fn indices(&self) -> impl Iterator<Item = u64> + use<> {
        let (step, block) = (self.step, self.block.max(1));
        let mut next = self.first;
        let mut left = block - self.first % block;
        (0..self.count).map(move |_| {
            let i = next;
            left -= 1;
            if left == 0 {
                next = next.wrapping_add(1).wrapping_add(step.wrapping_sub(block));
                left = block;
            } else {
                next = next.wrapping_add(1);
            }
            i
        })
    }

    /// The index after the last one, `None` past `u64::MAX`.
    pub(crate) fn after(&self) -> Option<u64> {
        let block = u128::from(self.block.max(1));
        let offset = u128::from(self.first) % block;
        let total = offset + self.count as u128;
        let next = (u128::from(self.first) - offset) + (total / block) * u128::from(self.step) + total % block;
        u64::try_from(next).ok()
    }
}

/// Event time of row `i`: `start + i * interval`, in nanoseconds since the Unix epoch.
pub(crate) struct TimeAxis {
    start_ns: i128,
    interval_ns: i128,
}

impl TimeAxis {
    #[inline]
    pub(crate) fn nanos(&self, i: u64) -> i128 {
        self.start_ns.saturating_add(i128::from(i).saturating_mul(self.interval_ns))
    }

    /// Event time of row `i` in seconds since the epoch (for the kinds' time-driven values).
    #[inline]
    pub(crate) fn seconds(&self, i: u64) -> f64 {
        self.nanos(i) as f64 / 1e9
    }

    #[inline]
    fn in_unit(&self, i: u64, per_unit: i128) -> i64 {
        let v = self.nanos(i).div_euclid(per_unit);
        v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }
}

/// Where a declared column comes from.
enum ColumnSource {
    /// Index into the kind's columns.
    Kind(usize),
    /// `ts`, built directly in a declared timestamp unit and zone.
    Timestamp(TimeUnit, Option<Arc<str>>),
    /// `ts` declared with a non-timestamp type: built as [`NATIVE_TS`], then cast.
    TimestampCast,
}

struct OutColumn {
    source: ColumnSource,
    /// The declared type when it differs from the native one.
    cast_to: Option<DataType>,
}

/// Makes batches of the declared columns for any set of row indices.
struct Generator {
    kind: KindGen,
    columns: Vec<OutColumn>,
    /// Which of the kind's columns some declared column needs.
    wanted: Vec<bool>,
    schema: SchemaRef,
    time: TimeAxis,
}

impl Generator {
    fn batch(&self, rows: &Rows) -> Result<RecordBatch, ConnectorError> {
        let (native, row_count) = self.kind.fill(rows, &self.time, &self.wanted);
        let mut out: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for col in &self.columns {
            let array = match &col.source {
                ColumnSource::Kind(c) => native
                    .get(*c)
                    .and_then(|a| a.clone())
                    .ok_or_else(|| ConnectorError::Other(format!("generator: column {c} was not generated")))?,
                ColumnSource::Timestamp(unit, tz) => self.timestamps(rows, unit, tz.clone()),
                ColumnSource::TimestampCast => self.timestamps(rows, &TimeUnit::Microsecond, None),
            };
            out.push(match &col.cast_to {
                Some(t) => arrow::compute::cast(&array, t)?,
                None => array,
            });
        }
        let options = RecordBatchOptions::new().with_row_count(Some(row_count));
        Ok(RecordBatch::try_new_with_options(self.schema.clone(), out, &options)?)
    }

    fn timestamps(&self, rows: &Rows, unit: &TimeUnit, tz: Option<Arc<str>>) -> ArrayRef {
        let per_unit: i128 = match unit {
            TimeUnit::Second => 1_000_000_000,
            TimeUnit::Millisecond => 1_000_000,
            TimeUnit::Microsecond => 1_000,
            TimeUnit::Nanosecond => 1,
        };
        let values = rows.indices().map(|i| self.time.in_unit(i, per_unit));
        match unit {
            TimeUnit::Second => Arc::new(TimestampSecondArray::from_iter_values(values).with_timezone_opt(tz)),
            TimeUnit::Millisecond => {
                Arc::new(TimestampMillisecondArray::from_iter_values(values).with_timezone_opt(tz))
            }
            TimeUnit::Microsecond => {
                Arc::new(TimestampMicrosecondArray::from_iter_values(values).with_timezone_opt(tz))
            }
            TimeUnit::Nanosecond => Arc::new(TimestampNanosecondArray::from_iter_values(values).with_timezone_opt(tz)),
        }
    }
}

/// Maps the declared columns onto the kind's, checking names and casts.
fn plan_columns(kind: Kind, declared: &Schema) -> Result<(Vec<OutColumn>, Vec<bool>), ConnectorError> {
    let own = kind.columns();
    let mut wanted = vec![false; own.len()];
    let mut columns = Vec::with_capacity(declared.fields().len());
    for field in declared.fields() {
        let name = field.name();
        let find = |exact: bool| {
            own.iter().position(|(n, _)| if exact { *n == name.as_str() } else { n.eq_ignore_ascii_case(name) })
        };
        let declared_type = field.data_type();
        let (source, native) = if let Some(c) = find(true).or_else(|| find(false)) {
            wanted[c] = true;
            (ColumnSource::Kind(c), own[c].1.clone())
        } else if kind.has_ts() && name.eq_ignore_ascii_case(TS) {
            match declared_type {
                DataType::Timestamp(unit, tz) => (ColumnSource::Timestamp(*unit, tz.clone()), declared_type.clone()),
                _ => (ColumnSource::TimestampCast, NATIVE_TS),
            }
        } else {
            return Err(ConnectorError::Schema(format!(
                "generator {} has no column '{name}' (its columns: {})",
                kind.describe(),
                kind.describe_columns()
            )));
        };
        let cast_to = if &native == declared_type {
            None
        } else if arrow::compute::can_cast_types(&native, declared_type) {
            Some(declared_type.clone())
        } else {
            return Err(ConnectorError::Schema(format!(
                "column '{name}' of generator {} is {} and cannot be declared as {}",
                kind.describe(),
                sql_type(&native),
                sql_type(declared_type)
            )));
        };
        columns.push(OutColumn { source, cast_to });
    }
    Ok((columns, wanted))
}

// ---------------------------------------------------------------------------------------------
// Options and the source

const DEFAULT_RATE: f64 = 1000.0;
const DEFAULT_SPLITS: u64 = 8;
const MAX_SPLITS: u64 = 65_536;
const DEFAULT_BATCH: usize = 8192;
const MAX_BATCH: usize = 10_000_000;
const DEFAULT_START: &str = "2024-01-01T00:00:00Z";
const DEFAULT_INTERVAL_NS: i128 = 1_000_000;

struct GeneratorSource {
    schema: SchemaRef,
    generator: Arc<Generator>,
    /// Rows (events for `nexmark`) when bounded.
    rows: Option<u64>,
    splits: u64,
    /// Row (event) indices per chunk.
    indices_per_batch: u64,
    /// Unbounded splits take turns by blocks of this many indices.
    unbounded_block: u64,
    /// Rows (events) per second over all splits, when `paced`.
    rate: f64,
    /// Whether reads follow `rate` in real time (always when unbounded; bounded, when `rate` is given).
    paced: bool,
}

/// A positive count option.
fn positive(options: &Options, key: &str, default: u64) -> Result<u64, ConnectorError> {
    match options.parse::<u64>(key)? {
        None => Ok(default),
        Some(0) => Err(ConnectorError::option(key, "must be at least 1")),
        Some(n) => Ok(n),
    }
}

/// A duration option, refusing values too large to represent instead of panicking.
fn duration_option(options: &Options, key: &str) -> Result<Option<Duration>, ConnectorError> {
    let Some(text) = options.get(key)? else { return Ok(None) };
    let t = text.trim();
    let end = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    if let Ok(n) = t[..end].parse::<f64>()
        && !(n.is_finite() && n <= 1e12)
    {
        return Err(ConnectorError::option(key, format!("'{text}' is too large")));
    }
    parse_duration(t).map(Some).map_err(|e| ConnectorError::option(key, e))
}

impl GeneratorSource {
    fn new(spec: &SourceSpec) -> Result<Self, ConnectorError> {
        let options = &spec.options;
        let kind_text = options.require("kind")?;
        let is_nexmark = kind_text.trim().eq_ignore_ascii_case("nexmark");
        let kind = Kind::parse(&kind_text, if is_nexmark { options.get("table")? } else { None }.as_deref())?;
        // `nexmark` counts events (of all three tables), the other kinds rows.
        let count_key = if is_nexmark { "events" } else { "rows" };
        if is_nexmark && options.get("rows")?.is_some() {
            return Err(ConnectorError::option(
                "rows",
                "does not apply to kind 'nexmark': use 'events', the number of Nexmark events of the person, \
                 auction and bid tables together (each table's source yields its own rows of them)",
            ));
        }
        let rows = options.parse::<u64>(count_key)?;
        let seed = options.parse::<u64>("seed")?.unwrap_or(0);
        let splits = positive(options, "splits", DEFAULT_SPLITS)?;
        if splits > MAX_SPLITS {
            return Err(ConnectorError::option("splits", format!("must be at most {MAX_SPLITS}")));
        }
        let batch_size = match options.parse::<usize>("batch_size")? {
            None => DEFAULT_BATCH,
            Some(n) if (1..=MAX_BATCH).contains(&n) => n,
            Some(_) => return Err(ConnectorError::option("batch_size", format!("must be between 1 and {MAX_BATCH}"))),
        };
        let given_rate = options.parse::<f64>("rate")?;
        let rate = match given_rate {
            Some(r) if !(r.is_finite() && r > 0.0) => {
                return Err(ConnectorError::option(
                    "rate",
                    format!("must be a positive number of {count_key} per second, got {r}"),
                ));
            }
            Some(r) => r,
            None if is_nexmark => nexmark::DEFAULT_RATE,
            None => DEFAULT_RATE,
        };
        // Bounded sources are read as fast as possible unless `rate` asks for a replay speed.
        let paced = rows.is_none() || given_rate.is_some();
        let start_ns = match options.get("start")? {
            Some(text) => parse_start(&text)?,
            None if rows.is_some() => parse_start(DEFAULT_START)?,
            None => i128::from(chrono::Utc::now().timestamp()) * 1_000_000_000,
        };
        let interval_ns = match duration_option(options, "interval")? {
            Some(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
            None if rows.is_some() && is_nexmark => nexmark::DEFAULT_INTERVAL_NS,
            None if rows.is_some() => DEFAULT_INTERVAL_NS,
            None => (1e9 / rate).round().min(1e30) as i128,
        };
        let kind_gen = match kind {
            Kind::Transactions => {
                let cards = positive(options, "cards", transactions::DEFAULT_CARDS)?;
                let merchants = positive(options, "merchants", transactions::DEFAULT_MERCHANTS)?;
                KindGen::Transactions(transactions::Transactions::new(seed, cards, merchants))
            }
            Kind::Devices => {
                KindGen::Devices(devices::Devices::new(seed, positive(options, "devices", devices::DEFAULT_DEVICES)?))
            }
            Kind::Fleet => {
                KindGen::Fleet(fleet::Fleet::new(seed, positive(options, "vehicles", fleet::DEFAULT_VEHICLES)?))
            }
            Kind::Nexmark(table) => {
                KindGen::Nexmark(nexmark::Nexmark::new(seed, table, nexmark::Config::from_options(options)?))
            }
        };
        let (columns, wanted) = plan_columns(kind, &spec.schema)?;
        options.finish("generator")?;
        let generator = Generator {
            kind: kind_gen,
            columns,
            wanted,
            schema: spec.schema.clone(),
            time: TimeAxis { start_ns, interval_ns },
        };
        Ok(GeneratorSource {
            schema: spec.schema.clone(),
            generator: Arc::new(generator),
            rows,
            splits,
            indices_per_batch: kind.indices_per_batch(batch_size),
            unbounded_block: kind.unbounded_block(),
            rate,
            paced,
        })
    }

    /// Parses a split id `k/S` of this source.
    fn split_index(&self, split: &Split) -> Result<u64, ConnectorError> {
        let parsed = split.id.split_once('/').and_then(|(k, s)| Some((k.parse::<u64>().ok()?, s.parse::<u64>().ok()?)));
        match parsed {
            Some((k, s)) if s == self.splits && k < s => Ok(k),
            _ => Err(ConnectorError::Other(format!(
                "'{}' is not a split of this generator (splits are 0/{n} … {}/{n})",
                split.id,
                self.splits - 1,
                n = self.splits
            ))),
        }
    }
}

fn parse_start(text: &str) -> Result<i128, ConnectorError> {
    let t = chrono::DateTime::parse_from_rfc3339(text.trim())
        .map_err(|e| ConnectorError::option("start", format!("'{text}' is not an RFC 3339 timestamp ({e})")))?;
    Ok(i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos()))
}

impl Source for GeneratorSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn bounded(&self) -> bool {
        self.rows.is_some()
    }

    fn paced(&self) -> bool {
        self.paced
    }

    fn splits(&self) -> Result<Vec<Split>, ConnectorError> {
        Ok((0..self.splits).map(|k| Split { id: format!("{k}/{}", self.splits) }).collect())
    }

    fn open(&self, split: &Split, resume: Option<&Position>) -> Result<Box<dyn SplitReader>, ConnectorError> {
        let k = self.split_index(split)?;
        let s = self.splits;
        let resume = resume
            .map(|p| {
                p.0.trim().parse::<u64>().map_err(|_| {
                    ConnectorError::Other(format!(
                        "generator split {}: invalid position '{}' (a row index)",
                        split.id, p.0
                    ))
                })
            })
            .transpose()?;
        let bad_position = |pos: u64, why: String| {
            ConnectorError::Other(format!("generator split {}: position {pos} {why}", split.id))
        };
        let (next, end, step, block, pacer) = match self.rows {
            Some(n) => {
                // Splits take turns by blocks of one chunk, so they move through event time
                // together (an event-time frontier is the slowest split's watermark). A paced
                // replay takes the unbounded layout's small blocks instead: paced splits move a
                // few rows at a time, and chunk-sized blocks would keep them `splits` chunks
                // apart in event time for the whole run.
                let b = if self.paced { self.unbounded_block } else { self.indices_per_batch.max(1) };
                let next = resume.unwrap_or(k.saturating_mul(b));
                if (next / b) % s != k && next < n {
                    return Err(bad_position(next, format!("is not a row of this split (blocks of {b} rows numbered {k} + m × {s})")));
                }
                let pacer = self.paced.then(|| Pacer { rate: self.rate / s as f64, started: None, emitted: 0 });
                (next, Some(n), s * b, b, pacer)
            }
            None => {
                let b = self.unbounded_block;
                let next = resume.unwrap_or(k * b);
                if (next / b) % s != k {
                    return Err(bad_position(
                        next,
                        if b == 1 {
                            format!("is not a row of this split (rows {k} + n × {s})")
                        } else {
                            format!("is not an event of this split (blocks of {b} events numbered {k} + n × {s})")
                        },
                    ));
                }
                (next, None, s * b, b, Some(Pacer { rate: self.rate / s as f64, started: None, emitted: 0 }))
            }
        };
        Ok(Box::new(GeneratorReader {
            generator: self.generator.clone(),
            next,
            end,
            step,
            block,
            batch: self.indices_per_batch,
            pacer,
            exhausted: false,
        }))
    }
}

/// How many of a split's indices (runs of `block` from `next`'s run on, `step` apart) lie in
/// `[next, end)`.
fn remaining(next: u64, end: u64, step: u64, block: u64) -> u64 {
    if next >= end {
        return 0;
    }
    let block = block.max(1);
    let offset = next % block;
    let run = next - offset;
    let span = end - run;
    let in_runs = (span / step).saturating_mul(block).saturating_add((span % step).min(block));
    in_runs - offset
}

/// Real-time pacing of a split (unbounded, or bounded with `rate`): row `c` of this reader is due `c / rate` seconds
/// after its first poll.
struct Pacer {
    rate: f64,
    started: Option<Instant>,
    emitted: u64,
}

/// Sleep granularity when no row is due yet: batches rows at high rates instead of waking for
/// each one, and re-checks at least every second at very low rates.
const MIN_TICK: f64 = 0.010;
const MAX_TICK: f64 = 1.0;

impl Pacer {
    /// Waits until at least one row is due, and returns how many are.
    async fn due(&mut self) -> u64 {
        loop {
            let now = Instant::now();
            let started = *self.started.get_or_insert(now);
            let elapsed = now.duration_since(started).as_secs_f64();
            // Float-to-int `as` saturates; +1: the first row is due at once.
            let allowed = ((elapsed * self.rate).floor() as u64).saturating_add(1);
            if allowed > self.emitted {
                return allowed - self.emitted;
            }
            let wait = (self.emitted as f64 / self.rate - elapsed).clamp(MIN_TICK, MAX_TICK);
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }
}

struct GeneratorReader {
    generator: Arc<Generator>,
    /// The next row index of the split.
    next: u64,
    /// Bounded: the end of the split's range (exclusive).
    end: Option<u64>,
    /// The split's indices: runs of `block` consecutive ones, `step` apart (see [`Rows`]).
    step: u64,
    block: u64,
    /// Row (event) indices per chunk.
    batch: u64,
    pacer: Option<Pacer>,
    exhausted: bool,
}

#[async_trait::async_trait]
impl SplitReader for GeneratorReader {
    async fn next(&mut self) -> Result<Option<SourceChunk>, ConnectorError> {
        loop {
            if self.exhausted {
                return Ok(None);
            }
            let batch = self.batch;
            let count = match (self.end, self.pacer.as_mut()) {
                // One block at most: the rest of the current one, up to the end.
                // As fast as possible: one block at most, the rest of the current one, up to the end.
                (Some(end), None) => (end.saturating_sub(self.next)).min(batch).min(self.block - self.next % self.block),
                // Paced: what is due, across blocks, up to the end.
                (Some(end), Some(pacer)) => match remaining(self.next, end, self.step, self.block).min(batch) {
                    0 => 0,
                    left => pacer.due().await.min(left),
                },
                (None, Some(pacer)) => {
                    // Never past u64::MAX: an unbounded split ends there.
                    let strides = (u64::MAX - self.next) / self.step;
                    let room = if self.block == 1 {
                        strides.saturating_add(1)
                    } else {
                        strides.saturating_sub(1).saturating_mul(self.block).saturating_add(1)
                    };
                    pacer.due().await.min(batch).min(room)
                }
                (None, None) => 0,
            };
            if count == 0 {
                self.exhausted = true;
                return Ok(None);
            }
            let rows = Rows { first: self.next, step: self.step, block: self.block, count: count as usize };
            let data = self.generator.batch(&rows)?;
            if let Some(pacer) = self.pacer.as_mut() {
                pacer.emitted = pacer.emitted.saturating_add(count);
            }
            match rows.after() {
                Some(next) => self.next = next,
                None => self.exhausted = true,
            }
            // A bounded chunk without rows (`nexmark` events of other tables only) is skipped;
            // an unbounded one is delivered, so its position still advances while paced.
            if data.num_rows() == 0 && self.end.is_some() {
                continue;
            }
            return Ok(Some(SourceChunk::new(data, Vec::new(), Position(self.next.to_string()))));
        }
    }
}

#[cfg(test)]
mod nexmark_tests;
#[cfg(test)]
mod tests;
