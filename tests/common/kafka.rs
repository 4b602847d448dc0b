//! A real Kafka-protocol broker (tansu, from crates.io, sqlite storage) for the Kafka tests,
//! and confluent-kafka (PyPI) as the client we did not write: `scripts/kafka.sh` installs the
//! broker, `scripts/peers.sh` the client.

use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::peers::{free_port, python};

/// The tansu binary, installing it on first use. Fails the test (never skips it).
pub fn tansu() -> PathBuf {
    static TANSU: OnceLock<PathBuf> = OnceLock::new();
    TANSU
        .get_or_init(|| {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka.sh");
            let out = Command::new("bash").arg(script).stderr(Stdio::inherit()).output().expect("run scripts/kafka.sh");
            assert!(out.status.success(), "scripts/kafka.sh failed: the Kafka broker (tansu) is not installed");
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string())
        })
        .clone()
}

/// A record to produce: partition (`None`: the client's partitioner), key, value (`None`:
/// tombstone).
pub type Record = (Option<i32>, Option<String>, Option<String>);

/// A broker on a loopback port with its own storage; killed when dropped.
pub struct Broker {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Broker {
    pub fn start() -> Broker {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut broker = Broker { child: None, port: free_port(), dir };
        broker.spawn();
        broker
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::File::create(self.dir.path().join("tansu.log")).expect("log file");
        let child = Command::new(tansu())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            // tansu resolves the sqlite path against its working directory.
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {} within 30 s: {}", self.port, self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The broker's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tansu.log")).unwrap_or_default().lines().rev().take(20).collect::<Vec<_>>().join("\n")
    }

    /// Kills the broker (as a crash would).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port with the same storage.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn client(&self, args: &[&str]) -> String {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/kafka_client.py");
        let out = Command::new(python()).arg(script).arg(self.brokers()).args(args).output().expect("run kafka_client.py");
        assert!(out.status.success(), "kafka_client.py {args:?} failed: {}\nbroker log:\n{}", String::from_utf8_lossy(&out.stderr), self.log());
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn create_topic(&self, topic: &str, partitions: usize) {
        self.client(&["create", topic, &partitions.to_string()]);
    }

    /// Produces records with confluent-kafka: `(partition, key, value)`; `None` value: tombstone.
    pub fn produce(&self, topic: &str, records: &[Record]) {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        for (partition, key, value) in records {
            let line = serde_json::json!({"partition": partition, "key": key, "value": value});
            writeln!(file, "{line}").expect("write");
        }
        file.flush().expect("flush");
        self.client(&["produce", topic, &file.path().display().to_string()]);
    }

    /// Produces JSON lines of `{"partition", "key", "record"}` (or `"value_b64"` for bytes sent
    /// as they are), each record Avro-encoded by fastavro against `schema` (an .avsc file) with
    /// `framing` (`bare` or `confluent`).
    pub fn produce_avro(&self, topic: &str, schema: &std::path::Path, framing: &str, lines: &[serde_json::Value]) {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        for line in lines {
            writeln!(file, "{line}").expect("write");
        }
        file.flush().expect("flush");
        self.client(&["produce-avro", topic, &schema.display().to_string(), framing, &file.path().display().to_string()]);
    }

    /// Every committed record of `topic` (read_committed), read by confluent-kafka.
    pub fn consume(&self, topic: &str) -> Vec<Consumed> {
        self.client(&["consume", topic])
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("consumer output");
                Consumed {
                    partition: v["partition"].as_i64().unwrap_or(-1) as i32,
                    offset: v["offset"].as_i64().unwrap_or(-1),
                    key: v["key"].as_str().map(str::to_string),
                    value: v["value"].as_str().map(str::to_string),
                    headers: v["headers"].clone(),
                }
            })
            .collect()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A record as confluent-kafka read it.
#[derive(Clone, Debug)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub value: Option<String>,
    pub headers: serde_json::Value,
}

pub const BASE_MS: i64 = 1_704_067_200_000; // 2024-01-01T00:00:00Z

/// RFC 3339 text of a time in January 2024 (ms since the epoch).
pub fn iso(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    let day = 1 + (secs - BASE_MS / 1000) / 86_400;
    format!("2024-01-{day:02}T{h:02}:{m:02}:{s:02}.{millis:03}Z")
}

/// `n` card transactions (JSON, keyed by card), every 97th one malformed; returns the records
/// and how many are malformed.
pub fn transactions(n: i64) -> (Vec<Record>, usize) {
    let mut records = Vec::new();
    let mut bad = 0;
    for i in 0..n {
        let card = i % 40;
        let value = if i % 97 == 13 {
            bad += 1;
            if i % 2 == 0 { format!("{{\"card\": {card}, \"amount\": \"lots\"") } else { format!("{{\"amount\": {i}}}") }
        } else {
            let amount = (i * 37 % 1000) as f64 / 10.0;
            format!("{{\"card\": {card}, \"amount\": {amount}, \"ts\": \"{}\"}}", iso(BASE_MS + i * 50))
        };
        records.push((None, Some(card.to_string()), Some(value)));
    }
    (records, bad)
}
