//! `bench kafka`: events/s of illunare's `kafka` source (JSON) against a bare rdkafka consume +
//! arrow-json decode loop, reading the same topic on the same broker in the same run.
//!
//! The broker is tansu (`scripts/kafka.sh`, sqlite storage) on a loopback port; the topic is
//! filled before anything is timed. The bare loop is one consumer assigned every partition that
//! copies payloads into a buffer and decodes 8192 at a time into the same columns; illunare runs
//! `SELECT count(*), sum(amount)` over a bounded source (startup included). Both must agree on the
//! count and the sum. Target: illunare ≥ 80% of the bare loop.

use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use arrow::array::AsArray;
use arrow::datatypes::{DataType, Field, Float64Type, Schema, TimeUnit};
use illunare_types::Datum;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const TOPIC: &str = "bench_tx";

/// A tansu broker in a temporary directory, killed when dropped.
struct Broker {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Result<Broker> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/kafka.sh");
        let out = Command::new("bash").arg(script).stderr(Stdio::inherit()).output().context("run scripts/kafka.sh")?;
        if !out.status.success() {
            bail!("scripts/kafka.sh failed");
        }
        let tansu = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url, "--storage-engine", "sqlite://tansu.db"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start tansu")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("tansu did not listen within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Broker { child, port, _dir: dir })
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fill(brokers: &str, records: u64, partitions: i32) -> Result<f64> {
    let runtime = tokio::runtime::Runtime::new()?;
    let admin: AdminClient<_> = ClientConfig::new().set("bootstrap.servers", brokers).create()?;
    let topic = NewTopic::new(TOPIC, partitions, TopicReplication::Fixed(1));
    for result in runtime.block_on(admin.create_topics([&topic], &AdminOptions::new()))? {
        result.map_err(|(t, e)| anyhow!("create topic {t}: {e}"))?;
    }
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let mut sum = 0.0;
    let mut payload = Vec::with_capacity(128);
    for i in 0..records {
        let amount = (i * 37 % 100_000) as f64 / 100.0;
        sum += amount;
        payload.clear();
        write!(payload, "{{\"card\": {}, \"amount\": {amount}, \"merchant\": \"m{}\", \"ts\": {}}}", i % 10_000, i % 997, 1_704_067_200_000 + i)?;
        let mut record = BaseRecord::<[u8], [u8]>::to(TOPIC).partition((i % partitions as u64) as i32).payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    producer.poll(Duration::from_millis(10));
                    record = back;
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120))?;
    Ok(sum)
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("card", DataType::Int64, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("merchant", DataType::Utf8, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]))
}

/// The reference: one consumer, payloads batched into arrow-json. Returns (seconds, rows, sum).
fn bare(brokers: &str, records: u64, partitions: i32) -> Result<(f64, u64, f64)> {
    let started = Instant::now();
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers).set("group.id", "bench-bare").set("enable.auto.commit", "false").create()?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(TOPIC, p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let schema = schema();
    let (mut rows, mut sum) = (0u64, 0.0);
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut buffered = 0usize;
    let decode = |buf: &mut Vec<u8>, n: usize| -> Result<(u64, f64)> {
        let mut decoder = arrow_json::ReaderBuilder::new(schema.clone()).with_batch_size(n.max(1)).build_decoder()?;
        decoder.decode(buf)?;
        buf.clear();
        let batch = decoder.flush()?.ok_or_else(|| anyhow!("no batch"))?;
        let s: f64 = batch.column(1).as_primitive::<Float64Type>().iter().flatten().sum();
        Ok((batch.num_rows() as u64, s))
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    while rows + (buffered as u64) < records {
        if Instant::now() > deadline {
            bail!("bare consumer read {rows} of {records}");
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                if let Some(p) = m.payload() {
                    buf.extend_from_slice(p);
                    buf.push(b'\n');
                    buffered += 1;
                }
                if buffered == 8192 {
                    let (n, s) = decode(&mut buf, buffered)?;
                    rows += n;
                    sum += s;
                    buffered = 0;
                }
            }
            Some(Err(e)) => bail!("consume: {e}"),
            None => {}
        }
    }
    if buffered > 0 {
        let (n, s) = decode(&mut buf, buffered)?;
        rows += n;
        sum += s;
    }
    Ok((started.elapsed().as_secs_f64(), rows, sum))
}

/// illunare's bounded Kafka source into `count(*)`, `sum(amount)`. Returns (seconds, rows, sum).
fn illunare(brokers: &str, workers: usize) -> Result<(f64, u64, f64)> {
    let text = format!(
        "CREATE SOURCE tx (card BIGINT, amount DOUBLE, merchant VARCHAR, ts TIMESTAMP)
           WITH (connector = 'kafka', brokers = '{brokers}', topic = '{TOPIC}', bounded = 'true');
         CREATE MATERIALIZED VIEW v AS SELECT count(*) AS n, sum(amount) AS total FROM tx;"
    );
    let (seconds, rows) = crate::run_bounded(&text, workers, Duration::from_millis(100), Some("v"))?;
    match rows.first().map(|r| (r.get(0).clone(), r.get(1).clone())) {
        Some((Datum::Int(n), Datum::Float(s))) => Ok((seconds, n as u64, s.0)),
        other => bail!("unexpected result {other:?}"),
    }
}

pub fn run(records: u64, partitions: i32, workers: usize, rounds: usize) -> Result<()> {
    let broker = Broker::start()?;
    let brokers = broker.brokers();
    eprintln!("filling {TOPIC} with {records} JSON records over {partitions} partitions…");
    let expected = fill(&brokers, records, partitions)?;
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
    let (mut best_bare, mut best_ill) = (f64::MAX, f64::MAX);
    for round in 1..=rounds {
        let (t, n, s) = bare(&brokers, records, partitions)?;
        if n != records || !close(s, expected) {
            bail!("bare loop read {n} rows, sum {s}; expected {records}, {expected}");
        }
        best_bare = best_bare.min(t);
        let (t2, n2, s2) = illunare(&brokers, workers)?;
        if n2 != records || !close(s2, expected) {
            bail!("illunare read {n2} rows, sum {s2}; expected {records}, {expected}");
        }
        best_ill = best_ill.min(t2);
        println!("round {round}: bare {:.0} events/s, illunare ({workers} workers) {:.0} events/s", records as f64 / t, records as f64 / t2);
    }
    let (bare_rate, ill_rate) = (records as f64 / best_bare, records as f64 / best_ill);
    println!("best: bare rdkafka + arrow-json {bare_rate:.0} events/s; illunare kafka source {ill_rate:.0} events/s; ratio {:.2}", ill_rate / bare_rate);
    Ok(())
}
