//! Protocol peers written by someone else (pymodbus, asyncua), run as child processes on
//! loopback. `scripts/peers.sh` installs them (idempotently) into a venv outside the clone.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The venv's python, installing the peers on first use. Fails the test (never skips it)
/// when they cannot be installed.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/peers.sh");
            let out = Command::new("bash").arg(script).stderr(Stdio::inherit()).output().expect("run scripts/peers.sh");
            assert!(out.status.success(), "scripts/peers.sh failed: the interop peers (pymodbus, asyncua) are not installed");
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string())
        })
        .clone()
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("bind a loopback port")
}

/// The environment that points an `s3://` path at the moto server on `port` (as a user
/// would point it at MinIO or AWS).
pub fn s3_env(port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
}

/// An S3 server (moto) on a free loopback port with `bucket` holding every file under `upload`
/// (by relative path); its port, for [`s3_env`].
pub fn s3_server(bucket: &str, upload: &std::path::Path) -> (Peer, u16) {
    let port = free_port();
    let args: Vec<String> =
        ["--port", &port.to_string(), "--bucket", bucket, "--upload", upload.to_str().expect("a UTF-8 path")].iter().map(|s| s.to_string()).collect();
    (Peer::start("s3_server.py", &args), port)
}

/// Runs `tests/peers/<script>` with `args` to completion; its stdout, failing the test when it
/// fails.
pub fn run_script(script: &str, args: &[String]) -> String {
    let path = format!("{}/tests/peers/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python()).arg(&path).args(args).output().unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert!(out.status.success(), "{script} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running peer; killed when dropped.
pub struct Peer {
    child: Child,
    script: String,
    args: Vec<String>,
}

impl Peer {
    /// Starts `tests/peers/<script>` with `args` and waits until it prints `READY`.
    pub fn start(script: &str, args: &[String]) -> Peer {
        let path = format!("{}/tests/peers/{script}", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new(python())
            .arg(&path)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {script}: {e}"));
        let stdout = child.stdout.take().expect("peer stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.trim() == "READY" {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = child.kill();
            panic!("{script} {args:?} did not print READY within 60 s");
        }
        Peer { child, script: script.to_string(), args: args.to_vec() }
    }

    /// Kills the peer (as a crash would: no goodbye to its clients).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the same script with the same arguments again (same port).
    pub fn restart(&mut self) {
        self.kill();
        let mut fresh = Peer::start(&self.script, &self.args);
        std::mem::swap(&mut self.child, &mut fresh.child);
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.kill();
    }
}
