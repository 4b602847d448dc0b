//! Unit tests against librdkafka's mock cluster (the interop tests use a real broker).

use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use illunare_connector::{ErrorRecord, Options, Position, Source, SourceConnector, SourceSpec};
use illunare_types::{Datum, Row, batch_to_rows};
use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::*;

fn spec(fields: Vec<Field>, options: &[(&str, &str)]) -> SourceSpec {
    SourceSpec {
        name: "tx".into(),
        schema: Arc::new(Schema::new(fields)),
        event_time: None,
        options: Options::new(options.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
    }
}

fn produce(brokers: &str, topic: &str, records: &[(i32, Option<&str>, Option<&str>)]) {
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", brokers).create().expect("producer");
    for (partition, key, value) in records {
        let mut record = BaseRecord::<str, str>::to(topic).partition(*partition).timestamp(1_700_000_000_000);
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(v) = value {
            record = record.payload(v);
        }
        producer.send(record).map_err(|(e, _)| e).expect("send");
    }
    producer.flush(Duration::from_secs(10)).expect("flush");
}

/// Reads every split of a bounded source to its end.
fn read_all(source: &Arc<dyn Source>) -> (Vec<Row>, Vec<ErrorRecord>, u64, Vec<Position>) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (mut rows, mut errors, mut dropped, mut positions) = (Vec::new(), Vec::new(), 0, Vec::new());
    let _entered = rt.enter();
    for split in source.splits().expect("splits") {
        let mut reader = source.open(&split, None).expect("open");
        let mut last = None;
        while let Some(chunk) = rt.block_on(reader.next()).expect("next") {
            illunare_connector::check_batch_schema(&source.schema(), &chunk.batch).expect("schema");
            rows.extend(batch_to_rows(&chunk.batch).expect("rows"));
            errors.extend(chunk.errors);
            dropped += chunk.dropped;
            last = Some(chunk.position);
        }
        positions.extend(last);
    }
    (rows, errors, dropped, positions)
}

fn fields() -> Vec<Field> {
    vec![
        Field::new("card", DataType::Int64, false),
        Field::new("amount", DataType::Float64, true),
        Field::new("_key", DataType::Utf8, true),
        Field::new("_partition", DataType::Int32, false),
        Field::new("_offset", DataType::Int64, false),
        Field::new("_timestamp", DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]
}

#[test]
fn reads_partitions_with_metadata_and_dead_letters() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("tx", 2, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    produce(
        &brokers,
        "tx",
        &[
            (0, Some("a"), Some(r#"{"card": 1, "amount": 2.5}"#)),
            (0, None, Some("{oops")),
            (1, Some("b"), Some(r#"{"card": 2}"#)),
            (1, Some("c"), None),
            (1, None, Some(r#"{"amount": 1}"#)),
        ],
    );
    let options = [("brokers", brokers.as_str()), ("topic", "tx"), ("bounded", "true")];
    let source = KafkaSourceConnector.create(&spec(fields(), &options)).expect("create");
    assert_eq!(source.splits().expect("splits").iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), vec!["tx/0", "tx/1"]);
    let (rows, errors, dropped, positions) = read_all(&source);
    let ts = Datum::Timestamp(1_700_000_000_000);
    assert_eq!(
        rows,
        vec![
            Row(vec![Datum::Int(1), Datum::float(2.5), Datum::str("a"), Datum::Int(0), Datum::Int(0), ts.clone()]),
            Row(vec![Datum::Int(2), Datum::Null, Datum::str("b"), Datum::Int(1), Datum::Int(0), ts]),
        ]
    );
    let got: Vec<(&str, &str)> = errors.iter().map(|e| (e.position.as_deref().unwrap_or(""), e.error.as_str())).collect();
    assert_eq!(got.len(), 3, "{errors:?}");
    assert!(got[0].0 == "tx/0/1" && got[0].1.starts_with("invalid JSON"), "{got:?}");
    assert_eq!(errors[0].raw.as_deref(), Some("{oops"));
    assert_eq!(got[1], ("tx/1/1", "the record has no value (a tombstone)"));
    assert!(got[2].0 == "tx/1/2" && got[2].1.contains("'card' is NOT NULL"), "{got:?}");
    assert_eq!(dropped, 0);
    assert_eq!(positions, vec![Position("2".into()), Position("3".into())]);

    // drop: nothing emitted, everything counted.
    let options = [("brokers", brokers.as_str()), ("topic", "tx"), ("bounded", "true"), ("bad_records", "drop")];
    let source = KafkaSourceConnector.create(&spec(fields(), &options)).expect("create");
    let (rows, errors, dropped, _) = read_all(&source);
    assert_eq!((rows.len(), errors.len(), dropped), (2, 0, 3));

    // fail: the first bad record is a fatal error naming its position.
    let options = [("brokers", brokers.as_str()), ("topic", "tx"), ("bounded", "true"), ("bad_records", "fail")];
    let source = KafkaSourceConnector.create(&spec(fields(), &options)).expect("create");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let _entered = rt.enter();
    let mut reader = source.open(&source.splits().expect("splits")[0], None).expect("open");
    match rt.block_on(reader.next()) {
        Err(ConnectorError::Fatal(m)) => assert!(m.contains("tx/0/1") && m.contains("invalid JSON"), "{m}"),
        other => panic!("expected a fatal error, got {other:?}"),
    }
}

#[test]
fn resumes_at_a_position_and_reads_csv_and_raw() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("lines", 1, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    produce(&brokers, "lines", &[(0, None, Some("1,a")), (0, None, Some("2,\"b,c\"")), (0, None, Some("3,d"))]);
    let csv = vec![Field::new("n", DataType::Int64, true), Field::new("s", DataType::Utf8, true)];
    let options = [("brokers", brokers.as_str()), ("topic", "lines"), ("bounded", "true"), ("format", "csv")];
    let source = KafkaSourceConnector.create(&spec(csv, &options)).expect("create");
    let split = source.splits().expect("splits").remove(0);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let entered = rt.enter();
    let mut reader = source.open(&split, Some(&Position("1".into()))).expect("open");
    let mut rows = Vec::new();
    while let Some(chunk) = rt.block_on(reader.next()).expect("next") {
        rows.extend(batch_to_rows(&chunk.batch).expect("rows"));
    }
    assert_eq!(rows, vec![illunare_types::row![2i64, "b,c"], illunare_types::row![3i64, "d"]]);
    drop(entered);

    // start_offsets: where a partition starts when not resumed.
    let csv = vec![Field::new("n", DataType::Int64, true), Field::new("s", DataType::Utf8, true)];
    let options = [("brokers", brokers.as_str()), ("topic", "lines"), ("bounded", "true"), ("format", "csv"), ("start_offsets", "0:2")];
    let source = KafkaSourceConnector.create(&spec(csv, &options)).expect("create");
    let (rows, _, _, _) = read_all(&source);
    assert_eq!(rows, vec![illunare_types::row![3i64, "d"]]);

    let raw = vec![Field::new("line", DataType::Utf8, true), Field::new("_offset", DataType::Int64, true)];
    let options = [("brokers", brokers.as_str()), ("topic", "lines"), ("bounded", "true"), ("format", "raw")];
    let source = KafkaSourceConnector.create(&spec(raw, &options)).expect("create");
    let (rows, errors, _, _) = read_all(&source);
    assert!(errors.is_empty());
    assert_eq!(rows[1], illunare_types::row!["2,\"b,c\"", 1i64]);
}

#[test]
fn option_errors_are_clear() {
    let err = |options: &[(&str, &str)], fields: Vec<Field>| KafkaSourceConnector.create(&spec(fields, options)).err().expect("error").to_string();
    let base = [("brokers", "127.0.0.1:1"), ("topic", "t")];
    let with = |extra: (&'static str, &'static str)| {
        let mut o = base.to_vec();
        o.push(extra);
        o
    };
    assert!(err(&[("topic", "t")], fields()).contains("'brokers' is required"));
    assert!(err(&with(("format", "xml")), fields()).contains("'xml' is not a payload format"));
    assert!(err(&with(("bad_records", "ignore")), fields()).contains("fail, drop or dead_letter"));
    assert!(err(&with(("start_offset", "yesterday")), fields()).contains("start_offset"));
    assert!(err(&with(("start_offset", "group")), fields()).contains("group_id"));
    assert!(err(&with(("properties.no.such.thing", "1")), fields()).contains("no.such.thing"));
    assert!(err(&with(("properties.group.id", "x")), fields()).contains("set by the connector"));
    assert!(err(&with(("delimiter", ";")), fields()).contains("only applies"));
    assert!(err(&with(("start_offsets", "0:10, x")), fields()).contains("'x' is not partition:offset"));
    let bad_meta = vec![Field::new("_offset", DataType::Utf8, true)];
    assert!(err(&base, bad_meta).contains("'_offset' is Kafka metadata and must be BIGINT"));
    let raw_two = vec![Field::new("a", DataType::Utf8, true), Field::new("b", DataType::Utf8, true)];
    assert!(err(&with(("format", "raw")), raw_two).contains("exactly one column"));
    assert_eq!(parse_start("2024-01-01T00:00:00Z").expect("start"), StartOffset::Timestamp(1_704_067_200_000));
    assert_eq!(parse_start("1700000000000").expect("start"), StartOffset::Timestamp(1_700_000_000_000));
    assert!(err(&with(("properties.security.protocol", "bogus")), fields()).contains("'security.protocol'"));
}
