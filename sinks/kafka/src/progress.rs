//! The sink's progress, kept in the topic itself: every record carries a header
//! `illunare-frontier` with the frontier of the commit that wrote it.
//!
//! Why in the data topic rather than a progress topic (Materialize's choice) or a consumer
//! group: nothing extra to create or grant, and with transactions a commit's records are
//! visible all or none, so the newest record of any partition tells the last committed frontier
//! — the largest over partitions is where a restarted sink resumes: updates before it are
//! already in the topic. (Without transactions a crash inside a commit can leave part of it
//! written; it is written again: at least once.)

use std::time::Duration;

use illunare_types::Time;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use illunare_source_kafka::client::{ClientOptions, ReportingContext};

/// The record header holding the commit's frontier (decimal ms).
pub const FRONTIER_HEADER: &str = "illunare-frontier";

const TIMEOUT: Duration = Duration::from_secs(10);
/// How far back from a partition's end the newest data record is looked for at first.
const WINDOW: i64 = 64;

/// The newest frontier recorded in `topic` by this sink, `None` for a topic it never wrote.
pub fn committed_frontier(client: &ClientOptions, topic: &str, label: &str) -> Result<Option<Time>, String> {
    let mut config = client.config();
    config.set("group.id", format!("illunare-progress-{label}")).set("enable.auto.commit", "false").set("isolation.level", "read_committed").set("enable.partition.eof", "true");
    let consumer: BaseConsumer<ReportingContext> =
        config.create_with_context(ReportingContext::new(format!("sink '{label}' progress"))).map_err(|e| e.to_string())?;
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT).map_err(|e| format!("cannot read the metadata of topic '{topic}': {e}"))?;
    let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    if t.error().is_some() {
        return Ok(None); // not created yet
    }
    let mut best: Option<Time> = None;
    for p in t.partitions() {
        let (low, high) = consumer.fetch_watermarks(topic, p.id(), TIMEOUT).map_err(|e| e.to_string())?;
        let mut from = (high - WINDOW).max(low);
        loop {
            if let Some(f) = newest_in(&consumer, topic, p.id(), from, high)? {
                best = best.max(Some(f));
                break;
            }
            if from <= low {
                break;
            }
            from = (from - (high - from).max(WINDOW) * 2).max(low);
        }
    }
    Ok(best)
}

/// The frontier header of the newest record in `[from, high)` of one partition.
fn newest_in(consumer: &BaseConsumer<ReportingContext>, topic: &str, partition: i32, from: i64, high: i64) -> Result<Option<Time>, String> {
    if from >= high {
        return Ok(None);
    }
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, partition, Offset::Offset(from)).map_err(|e| e.to_string())?;
    consumer.assign(&assignment).map_err(|e| e.to_string())?;
    let mut newest = None;
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                if let Some(headers) = message.headers() {
                    for header in headers.iter() {
                        if header.key == FRONTIER_HEADER
                            && let Some(value) = header.value
                            && let Ok(f) = std::str::from_utf8(value).unwrap_or("").parse::<Time>()
                        {
                            newest = Some(f);
                        }
                    }
                }
                if message.offset() + 1 >= high {
                    break;
                }
            }
            // Transaction markers occupy the last offsets: the end shows as EOF, not a record.
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => return Err(format!("cannot read {topic}/{partition}: {e}")),
            None if std::time::Instant::now() > deadline => {
                return Err(format!("timed out reading the progress of {topic}/{partition}"));
            }
            None => {}
        }
    }
    Ok(newest)
}
