//! The Kafka source and sink against a real Kafka-protocol broker (tansu) with records
//! produced and read back by a client we did not write (confluent-kafka).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::kafka::{Broker, transactions};
use illunare_types::{Datum, Row};

#[test]
fn source_reads_every_partition_keeps_bad_records_and_matches_the_oracle() {
    let broker = Broker::start();
    broker.create_topic("tx", 3);
    let (records, bad) = transactions(3000);
    broker.produce("tx", &records);
    let sql = format!(
        "CREATE SOURCE tx (card BIGINT NOT NULL, amount DOUBLE, ts TIMESTAMP, _key VARCHAR, _partition INT, _offset BIGINT,
                           WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
           WITH (connector = 'kafka', brokers = '{}', topic = 'tx', format = 'json', bounded = 'true', group_id = 'interop', batch_size = '256');
         CREATE VIEW per_card AS SELECT card, count(*) AS n, sum(amount) AS total FROM tx GROUP BY card;
         CREATE VIEW per_window AS
           SELECT window_start, count(*) AS n, max(amount) AS top FROM TUMBLE(tx, ts, INTERVAL '10' SECOND) GROUP BY window_start;
         CREATE VIEW keys_agree AS SELECT count(*) AS n FROM tx WHERE _key = CAST(card AS VARCHAR);
         CREATE VIEW dead AS SELECT error, raw, position FROM tx_errors;",
        broker.brokers()
    );
    let (views, _) = common::run_collect(&sql, 2);
    common::assert_matches_oracle(&sql, &views, 2);
    let good = 3000 - bad;
    let counted: i64 = views["per_card"].iter().map(|r| r.split('|').nth(1).and_then(|n| n.trim().parse::<i64>().ok()).unwrap_or(0)).sum();
    assert_eq!(counted, good as i64, "{:?}", &views["per_card"][..3]);
    assert_eq!(views["keys_agree"], vec![good.to_string()]);
    let dead = &views["dead"];
    assert_eq!(dead.len(), bad, "{dead:?}");
    // Every dead letter names its topic/partition/offset and keeps the payload.
    assert!(dead.iter().all(|r| r.contains("| tx/")), "{dead:?}");
    assert!(dead.iter().any(|r| r.contains("'card' is NOT NULL")), "{dead:?}");
    assert!(dead.iter().any(|r| r.contains("\"amount\": \"lots\"")), "{dead:?}");

    // bad_records = 'fail': the run stops with the first bad record's error and position, exit 1.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("fail.sql");
    std::fs::write(
        &file,
        format!(
            "CREATE SOURCE tx (card BIGINT NOT NULL, amount DOUBLE)
               WITH (connector = 'kafka', brokers = '{}', topic = 'tx', bounded = 'true', bad_records = 'fail');
             CREATE VIEW n AS SELECT count(*) AS n FROM tx;
             CREATE SINK out FROM n WITH (connector = 'blackhole');",
            broker.brokers()
        ),
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_illunare")).arg("run").arg(&file).output().expect("run illunare");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("bad_records = 'fail'") && stderr.contains("at tx/"), "{stderr}");
}

/// Avro records written by fastavro (not ours), in Confluent's framing, read against the writer's
/// schema file: every type of the schema lands in its declared column, and records that are not
/// datums of that schema go to the dead letters with their position.
#[test]
fn avro_records_from_another_encoder_are_read_and_bad_ones_kept() {
    let broker = Broker::start();
    broker.create_topic("payments", 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = dir.path().join("payment.avsc");
    std::fs::write(
        &schema,
        r#"{"type": "record", "name": "Payment", "fields": [
             {"name": "card", "type": "long"},
             {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
             {"name": "merchant", "type": "string"},
             {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
             {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["CARD", "PIX", "BOLETO"]}},
             {"name": "note", "type": ["null", "string"], "default": null},
             {"name": "score", "type": "float"}]}"#,
    )
    .expect("write schema");
    let kinds = ["CARD", "PIX", "BOLETO"];
    let mut lines = Vec::new();
    let (mut expected_cents, mut expected_notes, mut bad) = (std::collections::BTreeMap::<&str, i64>::new(), 0, 0);
    for i in 0..600i64 {
        if i % 101 == 50 {
            // Not a datum of the schema: garbage behind the header, and a truncated record.
            let raw: &[u8] = if i % 2 == 0 { &[0, 0, 0, 0, 7, 0xff, 0xff, 0xff] } else { &[0, 0, 0, 0, 7, 2] };
            lines.push(serde_json::json!({"partition": i % 2, "value_b64": base64_of(raw)}));
            bad += 1;
            continue;
        }
        let kind = kinds[(i % 3) as usize];
        let cents = 100 + i * 7;
        *expected_cents.entry(kind).or_default() += cents;
        let note = if i % 4 == 0 { serde_json::Value::Null } else { serde_json::json!(format!("n{i}")) };
        expected_notes += i64::from(i % 4 != 0);
        let record = serde_json::json!({
            "card": 1000 + i % 17, "amount": {"decimal": format!("{}.{:02}", cents / 100, cents % 100)}, "merchant": format!("m{}", i % 5),
            "ts": {"epoch_ms": common::kafka::BASE_MS + i * 1000}, "kind": kind, "note": note, "score": 0.5});
        lines.push(serde_json::json!({"partition": i % 2, "key": (1000 + i % 17).to_string(), "record": record}));
    }
    broker.produce_avro("payments", &schema, "confluent", &lines);
    let sql = format!(
        "CREATE SOURCE payments (card BIGINT NOT NULL, amount DECIMAL(12, 2), merchant VARCHAR, ts TIMESTAMP, kind VARCHAR, note VARCHAR, score DOUBLE)
           WITH (connector = 'kafka', brokers = '{}', topic = 'payments', format = 'avro', avro_schema = '{}', avro_framing = 'confluent', bounded = 'true');
         CREATE VIEW per_kind AS SELECT kind, CAST(sum(amount) * 100 AS BIGINT) AS cents, count(*) AS n FROM payments GROUP BY kind;
         CREATE VIEW notes AS SELECT count(note) AS n, min(ts) AS first, sum(score) AS scores FROM payments;
         CREATE VIEW dead AS SELECT error, position FROM payments_errors;",
        broker.brokers(),
        schema.display()
    );
    let (views, _) = common::run_collect(&sql, 2);
    common::assert_matches_oracle(&sql, &views, 2);
    let per_kind: BTreeMap<String, i64> =
        views["per_kind"].iter().map(|r| { let f: Vec<&str> = r.split('|').map(str::trim).collect(); (f[0].to_string(), f[1].parse().expect("cents")) }).collect();
    let expected: BTreeMap<String, i64> = expected_cents.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(per_kind, expected);
    let notes: Vec<&str> = views["notes"][0].split('|').map(str::trim).collect();
    assert_eq!(notes[0], expected_notes.to_string());
    assert!(notes[1].starts_with("2024-01-01T00:00:00") || notes[1].starts_with("2024-01-01 00:00:00"), "{notes:?}");
    let dead = &views["dead"];
    assert_eq!(dead.len(), bad, "{dead:?}");
    assert!(dead.iter().all(|r| r.contains("invalid Avro record") && r.contains("payments/")), "{dead:?}");

    // A declared column the schema does not have is refused before anything is read.
    let wrong = sql.replace("score DOUBLE)", "score DOUBLE, missing INT)");
    let err = illunare_coord::Pipeline::load(&wrong, &common::registry()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("missing"), "{err}");
}

fn base64_of(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The sink's records, as confluent-kafka reads them, folded the way a compacted topic is:
/// the last value per key, tombstones removing the key.
fn compacted(broker: &Broker, topic: &str) -> BTreeMap<String, serde_json::Value> {
    let mut table = BTreeMap::new();
    for r in broker.consume(topic) {
        let key = r.key.clone().expect("upsert records have keys");
        match r.value {
            Some(v) => table.insert(key, serde_json::from_str(&v).expect("JSON value")),
            None => table.remove(&key),
        };
    }
    table
}

fn view_as_json(rows: &[Row]) -> BTreeMap<String, serde_json::Value> {
    rows.iter()
        .map(|r| match (r.get(0), r.get(1), r.get(2)) {
            (Datum::Str(m), Datum::Int(n), Datum::Int(t)) => {
                (serde_json::json!({"merchant": m.as_str()}).to_string(), serde_json::json!({"merchant": m.as_str(), "sales": n, "total": t}))
            }
            other => panic!("unexpected row {other:?}"),
        })
        .collect()
}

// tansu 0.6 has no transactions (EndTxn): these sinks run `at_least_once` (idempotent producer,
// progress headers); `exactly_once` is tested against librdkafka's mock cluster in the crate.
#[test]
fn upsert_sink_compacts_to_the_view_and_a_rerun_writes_nothing_twice() {
    let broker = Broker::start();
    broker.create_topic("quiet", 2);
    broker.create_topic("quiet_cdc", 1);
    // Merchants leave the view once they pass 30 sales: their keys must get tombstones.
    let sql = format!(
        "CREATE SOURCE tx (card_id VARCHAR, merchant VARCHAR, amount DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts)
           WITH (connector = 'generator', kind = 'transactions', rows = '20000', merchants = '1000', seed = '5', rate = '10000');
         CREATE VIEW quiet AS
           SELECT merchant, count(*) AS sales, CAST(round(sum(amount)) AS BIGINT) AS total FROM tx GROUP BY merchant HAVING count(*) <= 25;
         CREATE SINK quiet_k FROM quiet WITH (connector = 'kafka', brokers = '{b}', topic = 'quiet', key = 'merchant', envelope = 'upsert',
           delivery = 'at_least_once');
         CREATE SINK quiet_cdc FROM quiet WITH (connector = 'kafka', brokers = '{b}', topic = 'quiet_cdc', key = 'merchant', envelope = 'debezium',
           delivery = 'at_least_once');",
        b = broker.brokers()
    );
    // Paced over 2 s with commits every 50 ms, so keys change across commits (a commit nets
    // the changes of a key within it: updates and deletes need several commits to show).
    let mut options = common::options(2);
    options.commit_interval = Duration::from_millis(50);
    let mut pipeline = common::start(&sql, &options);
    common::wait_finished(&pipeline);
    let view = pipeline.final_rows("quiet").unwrap_or_default();
    pipeline.join().expect("join");
    assert!(view.len() > 100, "the view should keep some merchants: {}", view.len());
    let expected = view_as_json(&view);
    assert_eq!(compacted(&broker, "quiet"), expected);
    let records = broker.consume("quiet");
    assert!(records.iter().any(|r| r.value.is_none()), "merchants that left the view need tombstones");
    assert!(records.iter().all(|r| r.headers["illunare-frontier"].as_str().is_some()), "progress header on every record");

    // Debezium: replaying before/after per key gives the view too.
    let mut replayed: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut ops = BTreeMap::new();
    for r in broker.consume("quiet_cdc") {
        let v: serde_json::Value = serde_json::from_str(r.value.as_deref().expect("value")).expect("JSON");
        *ops.entry(v["op"].as_str().unwrap_or("?").to_string()).or_insert(0) += 1;
        let key = r.key.clone().expect("key");
        match v["op"].as_str() {
            Some("c" | "u") => {
                replayed.insert(key, v["after"].clone());
            }
            Some("d") => {
                replayed.remove(&key);
            }
            other => panic!("unexpected op {other:?}"),
        }
    }
    assert_eq!(replayed, expected);
    assert!(ops.get("u").is_some_and(|n| *n > 0) && ops.get("d").is_some_and(|n| *n > 0), "{ops:?}");

    // The same pipeline again (event time: the same updates at the same times): the progress
    // header says it is all there, so nothing is written twice.
    let before = broker.consume("quiet").len();
    let mut again = common::start(&sql, &options);
    common::wait_finished(&again);
    again.join().expect("join");
    assert_eq!(broker.consume("quiet").len(), before, "a rerun must not write the changes again");
    assert_eq!(compacted(&broker, "quiet"), expected);
}

#[test]
fn a_broker_restart_loses_nothing() {
    let mut broker = Broker::start();
    broker.create_topic("events", 2);
    let batch = |from: i64, n: i64| -> Vec<common::kafka::Record> {
        (from..from + n).map(|i| (Some((i % 2) as i32), None, Some(format!("{{\"id\": {i}}}")))).collect()
    };
    broker.produce("events", &batch(0, 500));
    let sql = format!(
        "CREATE SOURCE events (id BIGINT) WITH (connector = 'kafka', brokers = '{}', topic = 'events', stall_timeout = '2s');
         CREATE VIEW total AS SELECT count(*) AS n, count(DISTINCT id) AS ids FROM events;",
        broker.brokers()
    );
    let pipeline = common::start(&sql, &common::options(2));
    let wait_for = |n: i64| {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let rows = pipeline.final_rows("total").unwrap_or_default();
            if rows == vec![Row(vec![Datum::Int(n), Datum::Int(n)])] {
                return;
            }
            assert!(Instant::now() < deadline, "expected {n} distinct events, have {rows:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for(500);
    broker.kill();
    std::thread::sleep(Duration::from_secs(3));
    broker.restart();
    broker.produce("events", &batch(500, 500));
    wait_for(1000);
    let metrics = pipeline.source_metrics();
    let (_, m) = metrics.iter().find(|(n, _)| n == "events").expect("metrics");
    assert_eq!(m.rows.load(std::sync::atomic::Ordering::Relaxed), 1000);
    pipeline.stop();
}
