//! The live dashboard at `/` in a real browser: `illunare serve` runs a generator pipeline, and
//! headless Chromium (Debian's package, installed by `scripts/browser.sh` with playwright-core)
//! loads the page, checks the catalog, a live table that changes, a uPlot chart and the SQL box
//! (tests/browser/dashboard.mjs), and leaves a screenshot in
//! `target/test-artifacts/dashboard.png`.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The server process, killed however the test ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// `GET path` on 127.0.0.1:port: the status code, or `None` when nothing answers yet.
fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::Write;
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).ok()?;
    let text = String::from_utf8_lossy(&head[..n]);
    text.split_whitespace().nth(1)?.parse().ok()
}

/// An unbounded generator: `ts` follows the wall clock from the start (a bounded one would
/// start at 2024-01-01; the chart plots whatever the time column holds).
const PIPELINE: &str = "
CREATE SOURCE tx (card_id VARCHAR, merchant VARCHAR, amount DOUBLE, ts TIMESTAMP)
  WITH (connector = 'generator', kind = 'transactions', rate = '2000', seed = '7');
CREATE MATERIALIZED VIEW per_second AS
  SELECT date_trunc('second', ts) AS second, count(*) AS n, sum(amount) AS total FROM tx GROUP BY date_trunc('second', ts);
CREATE MATERIALIZED VIEW per_merchant AS SELECT merchant, count(*) AS n FROM tx GROUP BY merchant;
";

#[test]
fn dashboard_in_headless_chromium() {
    // What the browser needs: Debian's chromium and playwright-core (never a browser download).
    let setup = Command::new("bash")
        .arg(repo().join("scripts/browser.sh"))
        .current_dir(repo())
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/browser.sh");
    assert!(
        setup.status.success(),
        "scripts/browser.sh failed ({}): the dashboard test needs Debian's chromium package (apt-get) and \
         playwright-core (npm); see its output above",
        setup.status
    );
    let node_modules = String::from_utf8_lossy(&setup.stdout).lines().last().unwrap_or_default().trim().to_string();
    assert!(Path::new(&node_modules).join("playwright-core").is_dir(), "scripts/browser.sh did not name a node_modules with playwright-core: {node_modules:?}");

    let dir = tempfile::tempdir().expect("temp dir");
    let pipeline = dir.path().join("dashboard.sql");
    std::fs::write(&pipeline, PIPELINE).expect("write pipeline");

    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let log = dir.path().join("serve.log");
    let child = Command::new(env!("CARGO_BIN_EXE_illunare"))
        .args(["serve", pipeline.to_str().expect("utf-8 path"), "--http", &addr])
        .current_dir(repo())
        .env_remove("ILLUNARE_ADMIN_TOKEN")
        .env_remove("ILLUNARE_READ_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("server log"))
        .spawn()
        .expect("start illunare serve");
    let mut server = Server(child);
    let server_log = || std::fs::read_to_string(&log).unwrap_or_default();

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = server.0.try_wait().expect("server status") {
            panic!("illunare serve exited ({status}) before answering /health:\n{}", server_log());
        }
        if http_status(port, "/health") == Some(200) {
            break;
        }
        assert!(Instant::now() < deadline, "illunare serve did not answer GET /health with 200 within 60 s:\n{}", server_log());
        std::thread::sleep(Duration::from_millis(200));
    }

    let screenshot: PathBuf = repo().join("target/test-artifacts/dashboard.png");
    std::fs::create_dir_all(screenshot.parent().expect("parent")).expect("create target/test-artifacts");
    let _ = std::fs::remove_file(&screenshot);
    let url = format!("http://{addr}/");
    let out = Command::new("node")
        .arg(repo().join("tests/browser/dashboard.mjs"))
        .arg(&url)
        .arg(&screenshot)
        .env("NODE_PATH", &node_modules)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .current_dir(repo())
        .output()
        .expect("run node tests/browser/dashboard.mjs (is node installed?)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "the browser test failed ({}):\n{stdout}\n{stderr}\nserver log:\n{}\nscreenshot: {}",
        out.status,
        server_log(),
        screenshot.display()
    );
    assert!(screenshot.is_file(), "no screenshot at {}", screenshot.display());
    if let Some(status) = server.0.try_wait().expect("server status") {
        panic!("illunare serve exited ({status}) during the test:\n{}", server_log());
    }
    drop(server);
}
