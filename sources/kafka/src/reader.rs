//! Reading one partition: a consumer assigned to it, records framed into a batch as they are
//! ready, decoded, and the bad ones handled as `bad_records` says.
//!
//! A chunk holds what is ready at once (up to `batch_size`): the reader waits for the first
//! record, then takes the ones librdkafka already has without waiting again, so latency stays
//! one fetch while throughput gets full batches when the partition is behind.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use illunare_connector::{ConnectorError, ErrorRecord, Position, SourceChunk, SplitReader};
use illunare_format::{RecordBuf, decode_records};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

use crate::client::ReportingContext;
use crate::columns::{Columns, RecordMeta};
use crate::{BadRecords, Config, PayloadFormat, StartOffset};

/// How long one wait for a record lasts before the reader checks for broker trouble.
const WAIT: Duration = Duration::from_millis(500);
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct PartitionReader {
    config: Arc<Config>,
    partition: i32,
    consumer: StreamConsumer<ReportingContext>,
    columns: Columns,
    /// Bounded: the end offset (exclusive) found at open.
    end: Option<i64>,
    done: bool,
    pending: Pending,
    errors: Vec<ErrorRecord>,
    dropped: u64,
}

fn kafka_error(config: &Config, partition: i32, what: &str, e: KafkaError) -> ConnectorError {
    ConnectorError::Other(format!("source '{}': {what} {}/{partition}: {e}", config.name, config.topic))
}

impl PartitionReader {
    pub(crate) fn open(config: Arc<Config>, partition: i32, resume: Option<i64>) -> Result<PartitionReader, ConnectorError> {
        let topic = config.topic.clone();
        let err = |what: &str, e: KafkaError| kafka_error(&config, partition, what, e);
        let mut client = config.client.config();
        let group = config.group_id.clone().unwrap_or_else(|| format!("illunare-{}", config.name));
        client
            .set("group.id", &group)
            .set("enable.auto.commit", if config.group_id.is_some() { "true" } else { "false" })
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", if config.bounded { "true" } else { "false" });
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ConnectorError::Other(format!("source '{}': a Kafka reader must be opened inside a tokio runtime", config.name)));
        }
        let context = ReportingContext::new(format!("source '{}' {topic}/{partition}", config.name));
        let consumer: StreamConsumer<ReportingContext> = client.create_with_context(context).map_err(|e| err("cannot create a consumer for", e))?;

        let start = match (resume, config.start_offsets.get(&partition)) {
            (Some(offset), _) | (None, Some(&offset)) => Offset::Offset(offset),
            (None, None) => start_offset(&config, &consumer, partition)?,
        };
        let end = if config.bounded {
            let (_, high) = consumer.fetch_watermarks(&topic, partition, METADATA_TIMEOUT).map_err(|e| err("cannot read the end offset of", e))?;
            Some(high)
        } else {
            None
        };
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(&topic, partition, start).map_err(|e| err("cannot assign", e))?;
        consumer.assign(&assignment).map_err(|e| err("cannot assign", e))?;
        let next = match start {
            Offset::Offset(o) => o,
            _ => -1, // known at the first record
        };
        let done = matches!((end, start), (Some(end), Offset::Offset(o)) if o >= end) || end == Some(0) || (end.is_some() && start == Offset::End);
        let columns = Columns::new(&config.schema, config.format.clone())?;
        Ok(PartitionReader {
            config,
            partition,
            consumer,
            columns,
            end,
            done,
            pending: Pending { next, ..Default::default() },
            errors: Vec::new(),
            dropped: 0,
        })
    }

    fn position(&self, offset: i64) -> String {
        format!("{}/{}/{offset}", self.config.topic, self.partition)
    }

    /// Whether a bounded reader has delivered everything up to its end offset.
    fn reached_end(&self) -> bool {
        self.end.is_some_and(|end| self.pending.next >= end)
    }

    fn set_aside(&mut self, error: String, raw: Option<String>, offset: i64) {
        match self.config.bad_records {
            BadRecords::Drop => self.dropped += 1,
            _ => self.errors.push(ErrorRecord::new(error, raw, Some(self.position(offset)))),
        }
    }

    /// Waits for the first record of a chunk; `Ok(false)` when a bounded partition ended.
    async fn wait_first(&mut self) -> Result<bool, ConnectorError> {
        let started = Instant::now();
        loop {
            match tokio::time::timeout(WAIT, self.consumer.recv()).await {
                Ok(Ok(message)) => {
                    let record = Incoming::of(&message);
                    frame(&self.config, self.end, &mut self.pending, record);
                    return Ok(true);
                }
                Ok(Err(KafkaError::PartitionEOF(_))) => {
                    if self.end.is_some() {
                        return Ok(false);
                    }
                }
                Ok(Err(e)) => return Err(kafka_error(&self.config, self.partition, "cannot read", e)),
                Err(_) => {
                    if started.elapsed() >= self.config.stall_timeout
                        && let Some(trouble) = self.consumer.context().take_error()
                    {
                        return Err(ConnectorError::Other(format!(
                            "source '{}': no records from {}/{} for {:?}: {trouble}",
                            self.config.name,
                            self.config.topic,
                            self.partition,
                            started.elapsed()
                        )));
                    }
                }
            }
        }
    }

    /// Decodes the framed records into a chunk.
    fn chunk(&mut self) -> Result<SourceChunk, ConnectorError> {
        for offset in std::mem::take(&mut self.pending.no_value) {
            self.set_aside("the record has no value (a tombstone)".into(), None, offset);
        }
        let decoded = decode_records(self.columns.decoder.as_ref(), &self.columns.payload, &self.pending.buf)?;
        let batch = self.columns.assemble(&decoded, &self.pending.metas, &self.config.topic, self.partition)?;
        for (i, message) in decoded.errors {
            let offset = self.pending.metas[i].offset;
            if self.config.bad_records == BadRecords::Fail {
                return Err(ConnectorError::Fatal(format!(
                    "source '{}': bad record at {} (bad_records = 'fail'): {message}",
                    self.config.name,
                    self.position(offset)
                )));
            }
            let raw = self.pending.buf.raw(i);
            self.set_aside(message, Some(raw), offset);
        }
        if self.config.bad_records == BadRecords::Fail
            && let Some(first) = self.errors.first()
        {
            return Err(ConnectorError::Fatal(format!("source '{}': {} (bad_records = 'fail')", self.config.name, first.error)));
        }
        if self.config.group_id.is_some() {
            let mut offsets = TopicPartitionList::new();
            if offsets.add_partition_offset(&self.config.topic, self.partition, Offset::Offset(self.pending.next)).is_ok()
                && let Err(e) = self.consumer.store_offsets(&offsets)
            {
                tracing::warn!(source = %self.config.name, "cannot store the offset for the group commit: {e}");
            }
        }
        let mut chunk = SourceChunk::new(batch, std::mem::take(&mut self.errors), Position(self.pending.next.to_string()));
        chunk.dropped = std::mem::take(&mut self.dropped);
        Ok(chunk)
    }
}

/// A record as librdkafka hands it over (borrowing its buffer).
struct Incoming<'m> {
    key: Option<&'m [u8]>,
    payload: Option<&'m [u8]>,
    offset: i64,
    timestamp: Option<i64>,
}

impl<'m> Incoming<'m> {
    fn of(message: &'m BorrowedMessage<'_>) -> Incoming<'m> {
        Incoming { key: message.key(), payload: message.payload(), offset: message.offset(), timestamp: message.timestamp().to_millis() }
    }
}

/// The records of the chunk being built.
#[derive(Default)]
struct Pending {
    /// The next offset to deliver.
    next: i64,
    buf: RecordBuf,
    metas: Vec<RecordMeta>,
    /// Records without a value (tombstones), by offset.
    no_value: Vec<i64>,
}

/// Frames one record into `pending` (its payload copied once, into the batch buffer).
fn frame(config: &Config, end: Option<i64>, pending: &mut Pending, record: Incoming<'_>) {
    pending.next = record.offset + 1;
    if end.is_some_and(|end| record.offset >= end) {
        return; // written after the bounded read started
    }
    match record.payload {
        Some(payload) => {
            match config.format {
                PayloadFormat::Raw | PayloadFormat::Avro { .. } => pending.buf.push_exact(payload),
                _ => pending.buf.push(payload),
            }
            pending.metas.push(RecordMeta { key: record.key.map(<[u8]>::to_vec), offset: record.offset, timestamp: record.timestamp });
        }
        None => pending.no_value.push(record.offset),
    }
}

/// Resolves `start_offset` for a partition read for the first time.
fn start_offset(config: &Config, consumer: &StreamConsumer<ReportingContext>, partition: i32) -> Result<Offset, ConnectorError> {
    let err = |what: &str, e: KafkaError| kafka_error(config, partition, what, e);
    let offset = match config.start {
        StartOffset::Earliest => Offset::Beginning,
        StartOffset::Latest => Offset::End,
        StartOffset::Timestamp(ms) => {
            let mut query = TopicPartitionList::new();
            query.add_partition_offset(&config.topic, partition, Offset::Offset(ms)).map_err(|e| err("cannot look up a timestamp in", e))?;
            let found = consumer.offsets_for_times(query, METADATA_TIMEOUT).map_err(|e| err("cannot look up a timestamp in", e))?;
            found.find_partition(&config.topic, partition).map(|p| p.offset()).unwrap_or(Offset::End)
        }
        StartOffset::Group => {
            let mut query = TopicPartitionList::new();
            query.add_partition(&config.topic, partition);
            let committed = consumer.committed_offsets(query, METADATA_TIMEOUT).map_err(|e| err("cannot read the group's offset of", e))?;
            match committed.find_partition(&config.topic, partition).map(|p| p.offset()) {
                Some(Offset::Offset(o)) => Offset::Offset(o),
                _ => Offset::Beginning,
            }
        }
    };
    Ok(offset)
}

#[async_trait::async_trait]
impl SplitReader for PartitionReader {
    async fn next(&mut self) -> Result<Option<SourceChunk>, ConnectorError> {
        if self.done || self.reached_end() {
            return Ok(None);
        }
        self.pending.buf.clear();
        self.pending.metas.clear();
        if !self.wait_first().await? {
            self.done = true;
            return Ok(None);
        }
        while self.pending.buf.len() < self.config.batch_size && !self.reached_end() {
            match self.consumer.recv().now_or_never() {
                Some(Ok(message)) => frame(&self.config, self.end, &mut self.pending, Incoming::of(&message)),
                Some(Err(KafkaError::PartitionEOF(_))) if self.end.is_some() => {
                    self.done = true;
                    break;
                }
                // Errors are met again (and reported) by the next wait.
                Some(Err(_)) | None => break,
            }
        }
        Ok(Some(self.chunk()?))
    }
}
