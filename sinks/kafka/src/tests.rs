//! The sink against librdkafka's mock cluster, which (unlike the tansu broker of the interop
//! tests) supports transactions: exactly-once commits and resuming from the progress header.

use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, Field, Schema};
use illunare_connector::{Options, SinkConnector, SinkSpec};
use illunare_types::{Datum, Row};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::{Offset, TopicPartitionList};

use super::*;

fn spec(brokers: &str) -> SinkSpec {
    let options = [("brokers", brokers), ("topic", "totals"), ("key", "card"), ("envelope", "upsert"), ("commit_timeout", "10s")];
    SinkSpec {
        name: "totals_k".into(),
        from: "totals".into(),
        schema: Arc::new(Schema::new(vec![Field::new("card", DataType::Int64, false), Field::new("total", DataType::Int64, true)])),
        options: Options::new(options.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
    }
}

fn r(card: i64, total: i64) -> Row {
    Row(vec![Datum::Int(card), Datum::Int(total)])
}

/// (key, value, frontier header) of every committed record.
fn read_committed(brokers: &str) -> Vec<(String, Option<String>, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "check")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("totals", 0, Offset::Beginning).expect("partition");
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    loop {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(m)) => {
                let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
                let frontier = m
                    .headers()
                    .and_then(|h| h.iter().find(|h| h.key == progress::FRONTIER_HEADER).and_then(|h| text(h.value)))
                    .unwrap_or_default();
                out.push((text(m.key()).unwrap_or_default(), text(m.payload()), frontier));
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => return out,
            Some(Err(e)) => panic!("consume: {e}"),
        }
    }
}

#[test]
fn transactional_commits_and_a_restart_skips_what_is_in_the_topic() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("totals", 1, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    let first = vec![(r(1, 10), 5, 1), (r(2, 20), 5, 1)];
    let second = vec![(r(1, 10), 8, -1), (r(1, 15), 8, 1), (r(2, 20), 8, -1)];
    let mut sink = KafkaSinkConnector.create(&spec(&brokers)).expect("create");
    sink.commit(&first, Some(6)).expect("commit 1");
    sink.commit(&second, Some(9)).expect("commit 2");
    drop(sink);
    let mut records = read_committed(&brokers);
    records.sort();
    assert_eq!(
        records,
        vec![
            (r#"{"card":1}"#.into(), Some(r#"{"card":1,"total":10}"#.into()), "6".into()),
            (r#"{"card":1}"#.into(), Some(r#"{"card":1,"total":15}"#.into()), "9".into()),
            (r#"{"card":2}"#.into(), None, "9".into()),
            (r#"{"card":2}"#.into(), Some(r#"{"card":2,"total":20}"#.into()), "6".into()),
        ]
    );

    // A restarted pipeline replays everything: only the updates at or after 9 are new.
    let mut again = KafkaSinkConnector.create(&spec(&brokers)).expect("create");
    let mut replay = first.clone();
    replay.extend(second.clone());
    replay.push((r(3, 30), 12, 1));
    again.commit(&replay, Some(13)).expect("replayed commit");
    let records = read_committed(&brokers);
    assert_eq!(records.len(), 5, "{records:?}");
    assert_eq!(records.last().map(|r| (r.0.as_str(), r.2.as_str())), Some((r#"{"card":3}"#, "13")));
}

#[test]
fn options_are_checked() {
    let err = |options: &[(&str, &str)]| {
        let spec = SinkSpec {
            name: "s".into(),
            from: "v".into(),
            schema: Arc::new(Schema::new(vec![Field::new("card", DataType::Int64, true)])),
            options: Options::new(options.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
        };
        KafkaSinkConnector.create(&spec).err().map(|e| e.to_string()).unwrap_or_default()
    };
    let base = [("brokers", "127.0.0.1:1"), ("topic", "t")];
    let with = |extra: (&'static str, &'static str)| {
        let mut o = base.to_vec();
        o.push(extra);
        o
    };
    assert!(err(&with(("envelope", "upsert"))).contains("needs a key"));
    assert!(err(&with(("key", "nope"))).contains("'nope' is not a column of 'v'"));
    assert!(err(&with(("format", "avro"))).contains("'avro' is not supported"));
    assert!(err(&with(("delivery", "maybe"))).contains("exactly_once or at_least_once"));
    assert!(err(&with(("ignore_retractions", "true"))).is_empty(), "append without a key accepts it");
    assert!(err(&[("topic", "t")]).contains("'brokers' is required"));
}
