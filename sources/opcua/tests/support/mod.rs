//! Test support: the python `asyncua` server (tests/peers/opcua_server.py) as a child process,
//! and helpers to build sources through `SourceConnector::create` and read their chunks.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arrow::array::Array;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::util::display::array_value_to_string;
use illunare_connector::{ErrorRecord, Options, Source, SourceChunk, SourceConnector, SourceSpec, SplitReader};
use illunare_source_opcua::OpcUaConnector;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

/// The venv python with asyncua, from the checkout's scripts/peers.sh (or `ILLUNARE_PEERS_SH`).
/// Panics with the script's output when it fails: the tests need a real server.
pub fn python() -> String {
    static PYTHON: OnceLock<Result<String, String>> = OnceLock::new();
    let result = PYTHON.get_or_init(|| {
        let script = std::env::var("ILLUNARE_PEERS_SH")
            .map(PathBuf::from)
            .unwrap_or_else(|_| workspace_root().join("scripts").join("peers.sh"));
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}): {}{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let path = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().trim().to_string();
        if path.is_empty() {
            return Err(format!("{} printed no python path", script.display()));
        }
        Ok(path)
    });
    match result {
        Ok(p) => p.clone(),
        Err(e) => panic!("the OPC UA interop tests need the asyncua server: {e}"),
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("no free loopback port")
}

/// A running `opcua_server.py`, killed on drop.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    args: Vec<String>,
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Starts the server with extra `args` (`--security`, `--user`, …) on a free port.
    pub fn start(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Server { child: None, port: free_port(), args: args.iter().map(|s| s.to_string()).collect(), dir };
        server.launch();
        server
    }

    pub fn cert_dir(&self) -> PathBuf {
        self.dir.path().join("server-pki")
    }

    fn launch(&mut self) {
        let script = workspace_root().join("tests").join("peers").join("opcua_server.py");
        let log_path = self.dir.path().join("server.log");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).expect("server log");
        let mut child = Command::new(python())
            .arg(&script)
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--cert-dir")
            .arg(self.cert_dir())
            .args(&self.args)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", script.display()));
        let stdout = child.stdout.take().expect("server stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.trim() == "READY" {
                    let _ = tx.send(());
                }
            }
        });
        self.child = Some(child);
        if rx.recv_timeout(Duration::from_secs(90)).is_err() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            self.kill();
            panic!("the OPC UA test server did not print READY within 90s; its log:\n{log}");
        }
    }

    pub fn endpoint(&self) -> String {
        format!("opc.tcp://127.0.0.1:{}/", self.port)
    }

    /// A client PKI directory of this test's own (certificates, trust store).
    pub fn client_pki(&self) -> String {
        self.dir.path().join("client-pki").display().to_string()
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills and starts the server again on the same port (same certificate).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn ts_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

pub fn field(name: &str, dt: DataType) -> Field {
    Field::new(name, dt, true)
}

pub fn create(fields: Vec<Field>, options: &[(&str, &str)]) -> Result<Arc<dyn Source>, illunare_connector::ConnectorError> {
    let mut pairs: Vec<(String, String)> = vec![("connector".into(), "opcua".into())];
    pairs.extend(options.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let spec = SourceSpec { name: "plc".into(), schema: Arc::new(Schema::new(fields)), event_time: None, options: Options::new(pairs) };
    OpcUaConnector.create(&spec)
}

pub fn open(source: &Arc<dyn Source>) -> Box<dyn SplitReader> {
    let splits = source.splits().expect("splits");
    assert_eq!(splits.len(), 1, "one split per endpoint");
    source.open(&splits[0], None).expect("open")
}

/// The next chunk, failing the test after `secs`.
pub async fn next(reader: &mut Box<dyn SplitReader>, secs: u64) -> Option<SourceChunk> {
    match tokio::time::timeout(Duration::from_secs(secs), reader.next()).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => panic!("next() failed: {e}"),
        Err(_) => panic!("no chunk within {secs}s"),
    }
}

/// A row as text cells keyed by column name.
#[derive(Debug, Clone)]
pub struct Row {
    pub cells: Vec<(String, Option<String>)>,
}

impl Row {
    pub fn get(&self, column: &str) -> Option<&str> {
        self.cells.iter().find(|(n, _)| n == column).and_then(|(_, v)| v.as_deref())
    }
}

pub fn rows(chunk: &SourceChunk) -> Vec<Row> {
    let b = &chunk.batch;
    (0..b.num_rows())
        .map(|i| Row {
            cells: b
                .schema()
                .fields()
                .iter()
                .zip(b.columns())
                .map(|(f, c)| (f.name().clone(), if c.is_null(i) { None } else { Some(array_value_to_string(c, i).expect("display")) }))
                .collect(),
        })
        .collect()
}

/// Reads chunks until `enough` holds for the rows and errors gathered, or panics after `secs`.
pub async fn collect_until(
    reader: &mut Box<dyn SplitReader>,
    secs: u64,
    enough: impl Fn(&[Row], &[ErrorRecord]) -> bool,
) -> (Vec<Row>, Vec<ErrorRecord>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut all = Vec::new();
    let mut errors = Vec::new();
    while !enough(&all, &errors) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, reader.next()).await {
            Ok(Ok(Some(c))) => {
                all.extend(rows(&c));
                errors.extend(c.errors);
            }
            Ok(Ok(None)) => break,
            Ok(Err(e)) => panic!("next() failed: {e}"),
            Err(_) => panic!("condition not reached within {secs}s; rows so far: {all:?}; errors: {errors:?}"),
        }
    }
    (all, errors)
}
