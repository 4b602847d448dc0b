//! Settings shared by the Kafka source and sink: where the brokers are, librdkafka properties
//! passed through (`properties.security.protocol = 'SASL_SSL'`, …), and a client context that
//! makes librdkafka's own complaints visible.
//!
//! Why pass-through properties rather than an option per setting: librdkafka has a hundred
//! settings (TLS, SASL, timeouts, fetch sizes) and users of Flink and Arroyo expect to set any of
//! them the way they would on any other Kafka client. They are validated by librdkafka itself at
//! `CREATE` time (an unknown or malformed property is an error naming it), and their values —
//! passwords included — are never printed.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use illunare_connector::{ConnectorError, Options};
use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;

/// Properties the connector sets itself; setting them through `properties.` would break it.
const RESERVED: &[&str] = &["bootstrap.servers", "group.id", "enable.auto.commit", "enable.partition.eof", "transactional.id"];

/// Where the brokers are and the librdkafka properties to pass through.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub brokers: String,
    properties: Vec<(String, String)>,
}

impl ClientOptions {
    /// Reads `brokers` (required) and every `properties.*` option.
    pub fn from_options(options: &Options) -> Result<ClientOptions, ConnectorError> {
        let brokers = options.require("brokers")?;
        if brokers.trim().is_empty() {
            return Err(ConnectorError::option("brokers", "must list at least one host:port"));
        }
        let properties = options.with_prefix("properties.")?;
        for (key, _) in &properties {
            if RESERVED.contains(&key.as_str()) {
                return Err(ConnectorError::option(
                    &format!("properties.{key}"),
                    "is set by the connector (use the connector's own options: brokers, group_id, …)",
                ));
            }
        }
        let client = ClientOptions { brokers: brokers.trim().to_string(), properties };
        // librdkafka checks names and values without connecting anywhere.
        client.config().create_native_config().map_err(|e| ConnectorError::option("properties", property_error(e)))?;
        Ok(client)
    }

    /// A librdkafka configuration with the brokers and the pass-through properties.
    pub fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        config.set_log_level(RDKafkaLogLevel::Warning);
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }
}

/// The `topic` option: exactly one topic name.
pub fn topic(options: &Options) -> Result<String, ConnectorError> {
    let topic = options.require("topic")?.trim().to_string();
    if topic.is_empty() || topic.contains(',') {
        return Err(ConnectorError::option("topic", "must name one topic"));
    }
    Ok(topic)
}

fn property_error(e: KafkaError) -> String {
    match e {
        // The description may quote the value: not for secrets.
        KafkaError::ClientConfig(_, _, key, _) if is_secret(&key) => format!("'{key}': invalid value (not shown: a secret)"),
        KafkaError::ClientConfig(_, description, key, _) => format!("'{key}': {description}"),
        other => other.to_string(),
    }
}

fn is_secret(key: &str) -> bool {
    ["password", "secret", "jaas", "ssl.key.pem", "token"].iter().any(|s| key.contains(s))
}

/// A client context that logs librdkafka's errors with the connector's name and counts them,
/// and remembers the last one so a reader can report it when no data comes.
#[derive(Default)]
pub struct ReportingContext {
    pub label: String,
    pub errors: AtomicU64,
    last: Mutex<Option<String>>,
}

impl ReportingContext {
    pub fn new(label: impl Into<String>) -> ReportingContext {
        ReportingContext { label: label.into(), ..Default::default() }
    }

    /// The last error librdkafka reported since the previous call, if any.
    pub fn take_error(&self) -> Option<String> {
        self.last.lock().ok().and_then(|mut last| last.take())
    }
}

impl ClientContext for ReportingContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        use rdkafka::config::RDKafkaLogLevel as L;
        match level {
            L::Emerg | L::Alert | L::Critical | L::Error => tracing::error!(target: "kafka", "{}: {fac}: {log_message}", self.label),
            L::Warning => tracing::warn!(target: "kafka", "{}: {fac}: {log_message}", self.label),
            L::Notice | L::Info => tracing::info!(target: "kafka", "{}: {fac}: {log_message}", self.label),
            L::Debug => tracing::debug!(target: "kafka", "{}: {fac}: {log_message}", self.label),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(target: "kafka", "{}: {error}: {reason}", self.label);
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.last.lock() {
            *last = Some(format!("{error}: {reason}"));
        }
    }
}

impl ConsumerContext for ReportingContext {}
