//! The `kafka` sink connector: a relation's changes as Kafka records, exactly once.
//!
//! ```sql
//! CREATE SINK alerts_k FROM alerts WITH (connector = 'kafka', brokers = '127.0.0.1:9092',
//!        topic = 'alerts', format = 'json', key = 'card_id', envelope = 'upsert');  -- or 'debezium', 'append'
//! ```
//!
//! Why it is built this way:
//! - **One transaction per commit.** The engine hands the sink each frontier step's
//!   consolidated updates; they are produced inside one Kafka transaction (idempotent,
//!   transactional producer), so a `read_committed` consumer sees a commit whole or not at all,
//!   and a failed commit is aborted and retried by the engine with the same updates — never
//!   half-written, never duplicated. `delivery = 'at_least_once'` drops transactions (for
//!   brokers without them) and keeps the idempotent producer.
//! - **Progress in the records** ([`progress`]): each record carries the frontier of its
//!   commit in a header; a restarted sink reads the newest one back and skips the updates
//!   already written.
//! - **Envelopes** ([`encode`]): upsert (key + final value, tombstone on delete: a compacted
//!   topic equals the view), Debezium (`before`/`after`/`op`), or append for insert-only
//!   relations. JSON values; keys are JSON objects of the key columns, so records of one key
//!   always land on the same partition.
//! - **Broker trouble**: librdkafka retries sends with backoff within `commit_timeout`; past it
//!   the commit fails (logged by the engine, counted, retried every half second) and nothing is
//!   lost — the engine keeps the updates until a commit goes through.

mod encode;
mod progress;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use illunare_connector::{ConnectorError, Diff, Row, Sink, SinkConnector, SinkSpec, Time};
use illunare_source_kafka::client::{ClientOptions, ReportingContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientContext, ClientConfig};

pub use encode::{EncodeError, Encoder, Envelope, OutRecord};

/// `connector = 'kafka'` for sinks.
pub struct KafkaSinkConnector;

/// Whether a commit is one transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    ExactlyOnce,
    AtLeastOnce,
}

impl SinkConnector for KafkaSinkConnector {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn create(&self, spec: &SinkSpec) -> Result<Box<dyn Sink>, ConnectorError> {
        let options = &spec.options;
        let client = ClientOptions::from_options(options)?;
        let topic = illunare_source_kafka::client::topic(options)?;
        match options.get_or("format", "json")?.trim().to_lowercase().as_str() {
            "json" => {}
            other => return Err(ConnectorError::option("format", format!("'{other}' is not supported by the kafka sink (json)"))),
        }
        let key = match options.get("key")? {
            None => Vec::new(),
            Some(k) => {
                let mut indices = Vec::new();
                for name in k.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    let found = spec.schema.fields().iter().position(|f| f.name() == name).or_else(|| {
                        spec.schema.fields().iter().position(|f| f.name().eq_ignore_ascii_case(name))
                    });
                    match found {
                        Some(i) if !indices.contains(&i) => indices.push(i),
                        Some(_) => return Err(ConnectorError::option("key", format!("names '{name}' twice"))),
                        None => {
                            let names: Vec<&str> = spec.schema.fields().iter().map(|f| f.name().as_str()).collect();
                            return Err(ConnectorError::option("key", format!("'{name}' is not a column of '{}' ({})", spec.from, names.join(", "))));
                        }
                    }
                }
                indices
            }
        };
        let ignore_retractions = options.bool("ignore_retractions", false)?;
        let envelope = match options.get("envelope")?.map(|e| e.trim().to_lowercase()).as_deref() {
            None if key.is_empty() => Envelope::Append { ignore_retractions },
            None | Some("upsert") => Envelope::Upsert,
            Some("debezium") => Envelope::Debezium,
            Some("append") => Envelope::Append { ignore_retractions },
            Some(other) => return Err(ConnectorError::option("envelope", format!("'{other}' is not upsert, debezium or append"))),
        };
        if envelope == Envelope::Upsert && key.is_empty() {
            return Err(ConnectorError::option("envelope", "'upsert' needs a key (key = 'column, …')"));
        }
        if ignore_retractions && !matches!(envelope, Envelope::Append { .. }) {
            return Err(ConnectorError::option("ignore_retractions", "only applies to envelope = 'append'"));
        }
        let delivery = match options.get_or("delivery", "exactly_once")?.trim().to_lowercase().as_str() {
            "exactly_once" | "exactly-once" => Delivery::ExactlyOnce,
            "at_least_once" | "at-least-once" => Delivery::AtLeastOnce,
            other => return Err(ConnectorError::option("delivery", format!("'{other}' is not exactly_once or at_least_once"))),
        };
        let transactional_id = options.get("transactional_id")?.unwrap_or_else(|| format!("illunare-{}-{topic}", spec.name));
        let commit_timeout = options.duration("commit_timeout")?.unwrap_or(Duration::from_secs(30));
        options.finish("kafka")?;
        let schema = spec.schema.as_ref().clone();
        let encoder = Encoder { schema, key, envelope, sink: spec.name.clone(), relation: spec.from.clone() };
        Ok(Box::new(KafkaSink {
            name: spec.name.clone(),
            topic,
            client,
            encoder,
            delivery,
            transactional_id,
            commit_timeout,
            producer: None,
            resume_from: None,
        }))
    }
}

/// Counts records the brokers did not accept (idempotent, non-transactional mode).
struct DeliveryContext {
    reporting: ReportingContext,
    failed: AtomicU64,
    last_failure: std::sync::Mutex<Option<String>>,
}

impl ClientContext for DeliveryContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        self.reporting.log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.reporting.error(error, reason);
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut last) = self.last_failure.lock() {
                *last = Some(e.to_string());
            }
        }
    }
}

struct KafkaSink {
    name: String,
    topic: String,
    client: ClientOptions,
    encoder: Encoder,
    delivery: Delivery,
    transactional_id: String,
    commit_timeout: Duration,
    producer: Option<BaseProducer<DeliveryContext>>,
    /// The frontier already in the topic (read once): updates before it are skipped.
    resume_from: Option<Option<Time>>,
}

impl KafkaSink {
    fn error(&self, what: &str, e: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::Other(format!("sink '{}': {what}: {e}", self.name))
    }

    fn producer(&mut self) -> Result<&BaseProducer<DeliveryContext>, ConnectorError> {
        if self.producer.is_none() {
            let mut config: ClientConfig = self.client.config();
            config.set("enable.idempotence", "true").set("message.timeout.ms", self.commit_timeout.as_millis().to_string());
            if self.delivery == Delivery::ExactlyOnce {
                config.set("transactional.id", &self.transactional_id);
            }
            let context = DeliveryContext {
                reporting: ReportingContext::new(format!("sink '{}'", self.name)),
                failed: AtomicU64::new(0),
                last_failure: Default::default(),
            };
            let producer: BaseProducer<DeliveryContext> =
                config.create_with_context(context).map_err(|e| self.error("cannot create a producer", e))?;
            if self.delivery == Delivery::ExactlyOnce {
                producer.init_transactions(self.commit_timeout).map_err(|e| self.error("cannot start transactions (delivery = 'at_least_once' works without them)", e))?;
            }
            self.producer = Some(producer);
        }
        self.producer.as_ref().ok_or_else(|| ConnectorError::Other("producer missing".into()))
    }

    /// Produces `records` and waits until the brokers have them (or the transaction commits).
    fn produce(&mut self, records: &[OutRecord], frontier: Time, time: Time) -> Result<(), ConnectorError> {
        let transactional = self.delivery == Delivery::ExactlyOnce;
        let topic = self.topic.clone();
        let timeout = self.commit_timeout;
        let name = self.name.clone();
        let producer = self.producer()?;
        producer.context().failed.store(0, Ordering::Relaxed);
        if transactional {
            producer.begin_transaction().map_err(|e| ConnectorError::Other(format!("sink '{name}': cannot begin a transaction: {e}")))?;
        }
        let frontier_text = frontier.to_string();
        let started = std::time::Instant::now();
        let sent: Result<(), KafkaError> = (|| {
            for record in records {
                let headers = OwnedHeaders::new().insert(Header { key: progress::FRONTIER_HEADER, value: Some(frontier_text.as_str()) });
                let mut out = BaseRecord::<[u8], [u8]>::to(&topic).headers(headers).timestamp(time as i64);
                if let Some(k) = &record.key {
                    out = out.key(k.as_slice());
                }
                if let Some(v) = &record.value {
                    out = out.payload(v.as_slice());
                }
                let mut pending = out;
                loop {
                    match producer.send(pending) {
                        Ok(()) => break,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) if started.elapsed() < timeout => {
                            producer.poll(Duration::from_millis(50));
                            pending = back;
                        }
                        Err((e, _)) => return Err(e),
                    }
                }
                producer.poll(Duration::ZERO);
            }
            if transactional {
                producer.commit_transaction(timeout)
            } else {
                producer.flush(timeout)
            }
        })();
        let failed = producer.context().failed.load(Ordering::Relaxed);
        let outcome = match sent {
            Err(e) => Err(e.to_string()),
            Ok(()) if failed > 0 => {
                let last = producer.context().last_failure.lock().ok().and_then(|l| l.clone()).unwrap_or_default();
                Err(format!("{failed} record(s) not delivered: {last}"))
            }
            Ok(()) => Ok(()),
        };
        if let Err(message) = outcome {
            let mut recreate = !transactional;
            if transactional && let Err(e) = producer.abort_transaction(timeout) {
                tracing::warn!(sink = %name, "cannot abort the transaction ({e}); starting a new producer");
                recreate = true;
            }
            if recreate {
                self.producer = None;
            }
            let hint = if transactional && message.contains("not supported by broker") {
                " — this broker does not support transactions: use delivery = 'at_least_once'"
            } else {
                ""
            };
            return Err(ConnectorError::Other(format!("sink '{name}': commit to topic '{topic}' failed (it will be retried): {message}{hint}")));
        }
        Ok(())
    }
}

impl Sink for KafkaSink {
    fn commit(&mut self, updates: &[(Row, Time, Diff)], frontier: Option<Time>) -> Result<(), ConnectorError> {
        if updates.is_empty() {
            return Ok(());
        }
        let resume_from = match self.resume_from {
            Some(r) => r,
            None => {
                let found = progress::committed_frontier(&self.client, &self.topic, &self.name).map_err(|e| self.error("cannot read its progress", e))?;
                if let Some(f) = found {
                    tracing::info!(sink = %self.name, "topic '{}' already holds this sink's changes before time {f}: resuming there", self.topic);
                }
                self.resume_from = Some(found);
                found
            }
        };
        let start = updates.partition_point(|(_, t, _)| resume_from.is_some_and(|f| *t < f));
        let updates = &updates[start..];
        let Some(time) = updates.iter().map(|(_, t, _)| *t).max() else {
            return Ok(());
        };
        let records = self.encoder.encode(updates, time).map_err(|e| self.error("cannot write", e))?;
        if records.is_empty() {
            return Ok(());
        }
        let frontier = frontier.unwrap_or(time.saturating_add(1));
        self.produce(&records, frontier, time)
    }
}

#[cfg(test)]
mod tests;
