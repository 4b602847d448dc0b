//! The `kafka` source connector: one split per partition, the next offset as the resumable
//! position, payloads decoded by [`illunare_format`] (JSON, CSV, raw), bad records kept.
//!
//! ```sql
//! CREATE SOURCE tx (card_id BIGINT, amount DOUBLE, ts TIMESTAMP,
//!                   WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
//!   WITH (connector = 'kafka', brokers = '127.0.0.1:9092', topic = 'transactions', format = 'json',
//!         start_offset = 'earliest', group_id = 'fraud', bad_records = 'dead_letter');
//! ```
//!
//! Why it is built this way:
//! - **A split is a partition.** The engine spreads splits over workers (`index % workers`) and
//!   keeps a watermark per split, so watermarks are per partition and the source's frontier is
//!   the slowest partition's: a partition that lags cannot make another's rows late. Each split
//!   has its own consumer, assigned to its partition (no consumer-group rebalancing: the engine,
//!   not the broker, decides who reads what).
//! - **Offsets are positions.** A reader reopened after a failure resumes at the next offset it
//!   has not delivered; nothing is read twice or skipped. With `group_id`, the offsets read are
//!   also committed to that group, so the usual lag tooling sees the pipeline.
//! - **Bad records are never silently lost** ([`BadRecords`]): a payload that does not decode
//!   becomes a row of `<source>_errors` with the error, the raw payload and
//!   `topic/partition/offset` (dead_letter, the default), is counted and dropped (drop), or stops
//!   the pipeline with that error (fail).
//! - **Broker trouble is librdkafka's to retry** (reconnect with backoff, no loss: the fetch
//!   position stays where it was). What it reports is logged; a reader that gets no data while
//!   librdkafka reports errors fails its `next()` so the engine counts a retry, reports it and
//!   reopens at the same offset.
//! - **Metadata columns**: declared columns named `_key`, `_topic`, `_partition`, `_offset`,
//!   `_timestamp` are filled from the Kafka record instead of the payload ([`columns`]).

pub mod client;
mod columns;
mod reader;

use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use illunare_connector::{ConnectorError, Options, Position, Source, SourceConnector, SourceSpec, Split, SplitReader};
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::client::{ClientOptions, ReportingContext};
use crate::columns::Columns;

/// `connector = 'kafka'`.
pub struct KafkaSourceConnector;

const DEFAULT_BATCH_SIZE: usize = 8192;

/// What to do with a record whose payload does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadRecords {
    /// Stop the pipeline with the record's error.
    Fail,
    /// Count it (the source's error counter) and go on.
    Drop,
    /// A row in `<source>_errors`: error, raw payload, topic/partition/offset.
    DeadLetter,
}

/// Where a partition is first read from (a resumed reader ignores it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartOffset {
    Earliest,
    Latest,
    /// The first record whose timestamp is at or after this time (ms since the epoch).
    Timestamp(i64),
    /// The offsets committed by `group_id` (earliest where there are none).
    Group,
}

/// The payload format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayloadFormat {
    Json,
    Csv { delimiter: u8 },
    Raw,
    /// Avro datums of the writer's schema (the text of `avro_schema`'s file).
    Avro { schema: Arc<str>, framing: illunare_format::AvroFraming },
}

/// Everything `create` validated.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub name: String,
    pub schema: SchemaRef,
    pub client: ClientOptions,
    pub topic: String,
    pub format: PayloadFormat,
    pub start: StartOffset,
    /// Per-partition start offsets (`start_offsets = '0:1200, 1:1180'`), overriding `start`
    /// for the partitions named: how a backfill from history continues from Kafka.
    pub start_offsets: std::collections::BTreeMap<i32, i64>,
    pub group_id: Option<String>,
    pub bad_records: BadRecords,
    pub bounded: bool,
    pub batch_size: usize,
    /// How long `splits()` keeps trying to read the topic's partitions.
    pub startup_timeout: Duration,
    /// A reader that receives nothing for this long while librdkafka reports errors fails its
    /// read (the engine then counts a retry and reopens it).
    pub stall_timeout: Duration,
}

fn parse_start(text: &str) -> Result<StartOffset, ConnectorError> {
    let t = text.trim();
    match t.to_lowercase().as_str() {
        "earliest" | "beginning" => return Ok(StartOffset::Earliest),
        "latest" | "end" => return Ok(StartOffset::Latest),
        "group" | "committed" => return Ok(StartOffset::Group),
        _ => {}
    }
    if let Ok(ms) = t.parse::<i64>() {
        return Ok(StartOffset::Timestamp(ms));
    }
    let parsed = chrono::DateTime::parse_from_rfc3339(t).map(|d| d.timestamp_millis()).or_else(|_| {
        chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").map(|d| d.and_utc().timestamp_millis())
    });
    parsed.map(StartOffset::Timestamp).map_err(|_| {
        ConnectorError::option(
            "start_offset",
            format!("'{t}' is not earliest, latest, group, a timestamp ('2024-01-01T00:00:00Z') or milliseconds since the epoch"),
        )
    })
}

/// `'0:1200, 1:1180'`: partition → first offset to read.
fn parse_start_offsets(text: &str) -> Result<std::collections::BTreeMap<i32, i64>, ConnectorError> {
    let mut map = std::collections::BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let parsed = part.split_once(':').and_then(|(p, o)| Some((p.trim().parse::<i32>().ok()?, o.trim().parse::<i64>().ok()?)));
        match parsed {
            Some((p, o)) if p >= 0 && o >= 0 => {
                map.insert(p, o);
            }
            _ => return Err(ConnectorError::option("start_offsets", format!("'{part}' is not partition:offset (e.g. '0:1200, 1:1180')"))),
        }
    }
    Ok(map)
}

fn parse_format(options: &Options) -> Result<PayloadFormat, ConnectorError> {
    let format = options.get_or("format", "json")?.trim().to_lowercase();
    let delimiter = options.get("delimiter")?;
    let format = match format.as_str() {
        "json" => PayloadFormat::Json,
        "csv" => {
            let delimiter = match delimiter.as_deref() {
                None => b',',
                Some(d) => illunare_format::parse_delimiter(d).map_err(|e| ConnectorError::option("delimiter", e))?,
            };
            return Ok(PayloadFormat::Csv { delimiter });
        }
        "raw" | "bytes" | "string" | "text" => PayloadFormat::Raw,
        "avro" => {
            let path = options.get("avro_schema")?.ok_or_else(|| ConnectorError::option("avro_schema", "is required with format = 'avro': the path of the writer's schema (.avsc)"))?;
            let schema = std::fs::read_to_string(path.trim()).map_err(|e| ConnectorError::option("avro_schema", format!("cannot read '{}': {e}", path.trim())))?;
            let framing = match options.get_or("avro_framing", "bare")?.trim().to_lowercase().as_str() {
                "bare" | "none" => illunare_format::AvroFraming::Bare,
                "confluent" => illunare_format::AvroFraming::Confluent,
                other => return Err(ConnectorError::option("avro_framing", format!("'{other}' is not bare or confluent"))),
            };
            if delimiter.is_some() {
                return Err(ConnectorError::option("delimiter", "only applies to format = 'csv'"));
            }
            return Ok(PayloadFormat::Avro { schema: Arc::from(schema), framing });
        }
        other => return Err(ConnectorError::option("format", format!("'{other}' is not a payload format (json, csv, avro, raw)"))),
    };
    for avro_only in ["avro_schema", "avro_framing"] {
        if options.get(avro_only)?.is_some() {
            return Err(ConnectorError::option(avro_only, "only applies to format = 'avro'"));
        }
    }
    if delimiter.is_some() {
        return Err(ConnectorError::option("delimiter", "only applies to format = 'csv'"));
    }
    Ok(format)
}

impl SourceConnector for KafkaSourceConnector {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn create(&self, spec: &SourceSpec) -> Result<Arc<dyn Source>, ConnectorError> {
        let options = &spec.options;
        let client = ClientOptions::from_options(options)?;
        let topic = client::topic(options)?;
        let format = parse_format(options)?;
        let group_id = options.get("group_id")?.filter(|g| !g.trim().is_empty());
        let start = match options.get("start_offset")? {
            Some(s) => parse_start(&s)?,
            None => StartOffset::Earliest,
        };
        let start_offsets = match options.get("start_offsets")? {
            Some(text) => parse_start_offsets(&text)?,
            None => Default::default(),
        };
        if start == StartOffset::Group && group_id.is_none() {
            return Err(ConnectorError::option("start_offset", "'group' needs a group_id"));
        }
        let bad_records = match options.get_or("bad_records", "dead_letter")?.trim().to_lowercase().as_str() {
            "fail" => BadRecords::Fail,
            "drop" | "skip" => BadRecords::Drop,
            "dead_letter" | "dead-letter" => BadRecords::DeadLetter,
            other => return Err(ConnectorError::option("bad_records", format!("'{other}' is not fail, drop or dead_letter"))),
        };
        let bounded = options.bool("bounded", false)?;
        let batch_size = options.parse::<usize>("batch_size")?.unwrap_or(DEFAULT_BATCH_SIZE);
        if batch_size == 0 {
            return Err(ConnectorError::option("batch_size", "must be at least 1"));
        }
        let startup_timeout = options.duration("startup_timeout")?.unwrap_or(Duration::from_secs(60));
        let stall_timeout = options.duration("stall_timeout")?.unwrap_or(Duration::from_secs(10));
        options.finish("kafka")?;
        let config = Config {
            name: spec.name.clone(),
            schema: spec.schema.clone(),
            client,
            topic,
            format,
            start,
            start_offsets,
            group_id,
            bad_records,
            bounded,
            batch_size,
            startup_timeout,
            stall_timeout,
        };
        // Checks the declared columns against the format now, not at the first record.
        Columns::new(&config.schema, config.format.clone())?;
        Ok(Arc::new(KafkaSource { config: Arc::new(config) }))
    }
}

struct KafkaSource {
    config: Arc<Config>,
}

impl KafkaSource {
    /// The topic's partition ids, asking the brokers until `startup_timeout`.
    fn partitions(&self) -> Result<Vec<i32>, ConnectorError> {
        let c = &self.config;
        let context = ReportingContext::new(format!("source '{}'", c.name));
        let consumer: BaseConsumer<ReportingContext> =
            c.client.config().create_with_context(context).map_err(|e| ConnectorError::Other(format!("source '{}': {e}", c.name)))?;
        let deadline = std::time::Instant::now() + c.startup_timeout;
        let mut backoff = Duration::from_millis(200);
        loop {
            let outcome = consumer.fetch_metadata(Some(&c.topic), Duration::from_secs(5));
            let failure = match outcome {
                Ok(metadata) => match metadata.topics().iter().find(|t| t.name() == c.topic) {
                    Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                        let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
                        ids.sort_unstable();
                        return Ok(ids);
                    }
                    Some(t) => match t.error() {
                        Some(e) => format!("topic '{}': {:?}", c.topic, rdkafka::types::RDKafkaErrorCode::from(e)),
                        None => format!("topic '{}' has no partitions", c.topic),
                    },
                    None => format!("topic '{}' does not exist", c.topic),
                },
                Err(e) => format!("cannot read metadata from {}: {e}", c.client.brokers),
            };
            if std::time::Instant::now() + backoff > deadline {
                return Err(ConnectorError::Other(format!("source '{}': {failure} (gave up after {:?})", c.name, c.startup_timeout)));
            }
            tracing::warn!(source = %c.name, "{failure}; retrying in {backoff:?}");
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

impl Source for KafkaSource {
    fn schema(&self) -> SchemaRef {
        self.config.schema.clone()
    }

    fn bounded(&self) -> bool {
        self.config.bounded
    }

    fn splits(&self) -> Result<Vec<Split>, ConnectorError> {
        Ok(self.partitions()?.into_iter().map(|p| Split { id: format!("{}/{p}", self.config.topic) }).collect())
    }

    fn open(&self, split: &Split, resume: Option<&Position>) -> Result<Box<dyn SplitReader>, ConnectorError> {
        let partition = split
            .id
            .rsplit_once('/')
            .and_then(|(_, p)| p.parse::<i32>().ok())
            .ok_or_else(|| ConnectorError::Other(format!("source '{}': '{}' is not a topic/partition split", self.config.name, split.id)))?;
        let resume = match resume {
            None => None,
            Some(p) => Some(p.0.trim().parse::<i64>().map_err(|_| {
                ConnectorError::Other(format!("source '{}': position '{}' of split '{}' is not an offset", self.config.name, p.0, split.id))
            })?),
        };
        Ok(Box::new(reader::PartitionReader::open(self.config.clone(), partition, resume)?))
    }
}

#[cfg(test)]
mod tests;
