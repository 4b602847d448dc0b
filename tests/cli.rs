//! The `illunare` binary end to end: check errors with line:column, runs that end by
//! themselves, graceful stop on SIGINT/SIGTERM, worker and process invariance.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_illunare")
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).current_dir(repo()).output().expect("run illunare")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn check_points_at_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("CREATE TABLE t (a INT);\nCREATE VIEW v AS\n  SELECT nope FROM t;\n", "3:10", "nope"),
        ("CREATE TABLE t (a INT);\nCREATE VIEW v AS SELECT a FROM missing;\n", "2:", "missing"),
        ("CREATE SOURCE s (a INT) WITH (connector = 'generator', kind = 'transactions', rowz = '5');\n", "1:1", "rowz"),
        ("CREATE TABLE t (a INT);\nCREATE VIEW v AS SELECT a, ntile(2) OVER (ORDER BY a) FROM t;\n", "2:", "ntile"),
        ("CREATE TABLE t (a INT)\nCREATE VIEW v AS SELECT 1;\n", "2:1", "syntax error"),
        ("CREATE TABLE t (a INT);\nCREATE SINK s FROM nowhere WITH (connector = 'stdout');\n", "2:", "nowhere"),
        ("CREATE SOURCE s (a INT) WITH (connector = 'kafkaa');\n", "1:1", "unknown source connector 'kafkaa'"),
        ("CREATE TABLE t (a INT, b INT);\nCREATE VIEW v AS\n  SELECT a FROM t INTERSECT ALL SELECT b FROM t;\n", "3:19", "INTERSECT ALL"),
        ("CREATE TABLE t (a INT);\nINSERT INTO t VALUES ('x');\nCREATE VIEW v AS SELECT a FROM t;\n", "2:", "t"),
    ];
    for (i, (sql, position, word)) in cases.iter().enumerate() {
        let file = write(dir.path(), &format!("bad{i}.sql"), sql);
        let out = run(&["check", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "case {i}: {stderr}");
        assert!(stderr.contains(&format!("bad{i}.sql:{position}")), "case {i}: expected position {position} in:\n{stderr}");
        assert!(stderr.contains(word), "case {i}: expected '{word}' in:\n{stderr}");
    }
    let out = run(&["check", "pipelines/quickstart.sql"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["explain", "pipelines/quickstart.sql"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Join LeftAnti (null-aware, NOT IN)") && text.contains("Reduce keys"), "{text}");
}

fn pipeline_text(out: &Path, rows: u64) -> String {
    format!(
        "CREATE SOURCE tx (card_id VARCHAR, merchant VARCHAR, amount DOUBLE)
           WITH (connector = 'generator', kind = 'transactions', rows = '{rows}', seed = '3', cards = '500');
         CREATE SOURCE merchants (merchant VARCHAR, risk VARCHAR)
           WITH (connector = 'file', path = 'pipelines/data/merchants.csv');
         CREATE TABLE blocked (card_id VARCHAR PRIMARY KEY);
         INSERT INTO blocked VALUES ('c1'), ('c2');
         CREATE MATERIALIZED VIEW spend AS
           SELECT t.card_id, m.risk, count(*) AS n, sum(t.amount) AS total, max(t.amount) AS largest
           FROM tx t JOIN merchants m ON t.merchant = m.merchant
           WHERE t.card_id NOT IN (SELECT card_id FROM blocked) GROUP BY t.card_id, m.risk;
         CREATE SINK out FROM spend WITH (connector = 'file', path = '{}', format = 'csv', mode = 'snapshot');",
        out.display()
    )
}

/// The snapshot file with float columns rounded, so summation order cannot show.
fn normalized(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| l.split(',').map(|f| f.parse::<f64>().map(|x| format!("{x:.6}")).unwrap_or_else(|_| f.to_string())).collect::<Vec<_>>().join(","))
        .collect();
    lines.sort();
    lines
}

#[test]
fn output_is_identical_for_any_worker_and_process_count() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.csv");
    let file = write(dir.path(), "one.sql", &pipeline_text(&one, 40_000));
    let out = run(&["run", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = normalized(&one);
    assert!(expected.len() > 100, "{} lines", expected.len());

    let three = dir.path().join("three.csv");
    let file = write(dir.path(), "three.sql", &pipeline_text(&three, 40_000));
    let out = run(&["run", file.to_str().unwrap(), "--workers", "3"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(normalized(&three), expected, "3 workers differ from 1");

    // Two processes × two workers on loopback (timely cluster mode).
    let ports: Vec<u16> = (0..2).map(|_| TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()).collect();
    let hosts = write(dir.path(), "hosts.txt", &ports.iter().map(|p| format!("127.0.0.1:{p}\n")).collect::<String>());
    let cluster = dir.path().join("cluster.csv");
    let file = write(dir.path(), "cluster.sql", &pipeline_text(&cluster, 40_000));
    let children: Vec<_> = (0..2)
        .map(|i| {
            Command::new(bin())
                .args(["run", file.to_str().unwrap(), "--workers", "2", "--processes", "2", "--process-index", &i.to_string()])
                .args(["--hosts", hosts.to_str().unwrap()])
                .current_dir(repo())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(normalized(&cluster), expected, "2 processes differ from 1");
}

fn stop_with(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("live.jsonl");
    let file = write(
        dir.path(),
        "live.sql",
        &format!(
            "CREATE SOURCE d (device VARCHAR, value DOUBLE) WITH (connector = 'generator', kind = 'devices', rate = '2000', devices = '5');
             CREATE VIEW per_device AS SELECT device, count(*) AS n FROM d GROUP BY device;
             CREATE SINK s FROM per_device WITH (connector = 'file', path = '{}', mode = 'snapshot');",
            out_path.display()
        ),
    );
    let child = Command::new(bin()).args(["run", file.to_str().unwrap()]).current_dir(repo()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let status = Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(20), "took too long to stop");
    assert!(out.status.success(), "exit {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&out_path).expect("sink flushed before exit");
    assert_eq!(text.lines().count(), 5, "{text}");
    let total: u64 = text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["n"].as_u64().unwrap()).sum();
    assert!(total > 100, "{text}");
}

#[test]
fn sigint_stops_gracefully_and_flushes_sinks() {
    stop_with("-INT");
}

#[test]
fn sigterm_stops_gracefully_and_flushes_sinks() {
    stop_with("-TERM");
}

#[test]
fn generate_writes_replayable_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["generate", "transactions", "--rows", "1000", "--seed", "7", "--format", "csv", "--out", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(dir.path().join("transactions.csv")).unwrap();
    assert_eq!(text.lines().count(), 1001);
    assert!(text.starts_with("tx_id,card_id,merchant,amount,currency,lat,lon,ts"), "{}", &text[..80]);
    // The generated file read back through the file connector equals the generator itself.
    let sink_a = dir.path().join("a.csv");
    let sink_b = dir.path().join("b.csv");
    let sql = format!(
        "CREATE SOURCE g (card_id VARCHAR, amount DOUBLE, ts TIMESTAMP) WITH (connector = 'generator', kind = 'transactions', rows = '1000', seed = '7');
         CREATE SOURCE f (card_id VARCHAR, amount DOUBLE, ts TIMESTAMP) WITH (connector = 'file', path = '{}');
         CREATE VIEW a AS SELECT card_id, sum(amount) AS s, max(ts) AS last FROM g GROUP BY card_id;
         CREATE VIEW b AS SELECT card_id, sum(amount) AS s, max(ts) AS last FROM f GROUP BY card_id;
         CREATE SINK sa FROM a WITH (connector = 'file', path = '{}');
         CREATE SINK sb FROM b WITH (connector = 'file', path = '{}');",
        dir.path().join("transactions.csv").display(),
        sink_a.display(),
        sink_b.display()
    );
    let file = write(dir.path(), "replay.sql", &sql);
    let out = run(&["run", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(normalized(&sink_a), normalized(&sink_b));
}

#[test]
fn generate_nexmark_writes_replayable_tables() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = run(&["generate", "nexmark", "--events", "20000", "--seed", "7", "--format", "csv", "--out", d]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tables = [
        ("person", "id BIGINT, name VARCHAR, email_address VARCHAR, credit_card VARCHAR, city VARCHAR, state VARCHAR, date_time TIMESTAMP, extra VARCHAR", 400),
        ("auction", "id BIGINT, item_name VARCHAR, description VARCHAR, initial_bid BIGINT, reserve BIGINT, date_time TIMESTAMP, expires TIMESTAMP, seller BIGINT, category BIGINT, extra VARCHAR", 1200),
        ("bid", "auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, date_time TIMESTAMP, extra VARCHAR", 18_400),
    ];
    for (table, columns, rows) in tables {
        let text = std::fs::read_to_string(dir.path().join(format!("{table}.csv"))).unwrap();
        assert_eq!(text.lines().count(), rows + 1, "{table}");
        // The header holds the reference's column names, in order.
        let names: Vec<&str> = columns.split(", ").map(|c| c.split(' ').next().unwrap()).collect();
        assert_eq!(text.lines().next().unwrap(), names.join(","), "{table}");
    }
    // Counting flags of the other kinds are refused, and the other way round.
    let out = run(&["generate", "nexmark", "--rows", "10", "--out", d]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--events"));
    let out = run(&["generate", "devices", "--events", "10", "--out", d]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--rows"));

    // The files read back through the file connector are the generator's rows.
    let mut sql = String::new();
    for (table, columns, _) in tables {
        sql += &format!(
            "CREATE SOURCE g_{table} ({columns}) WITH (connector = 'generator', kind = 'nexmark', table = '{table}', events = '20000', seed = '7');
             CREATE SOURCE f_{table} ({columns}) WITH (connector = 'file', path = '{file}');
             CREATE VIEW gv_{table} AS SELECT * FROM g_{table};
             CREATE VIEW fv_{table} AS SELECT * FROM f_{table};
             CREATE SINK gs_{table} FROM gv_{table} WITH (connector = 'file', path = '{d}/g_{table}.out.csv', mode = 'snapshot');
             CREATE SINK fs_{table} FROM fv_{table} WITH (connector = 'file', path = '{d}/f_{table}.out.csv', mode = 'snapshot');\n",
            file = dir.path().join(format!("{table}.csv")).display(),
        );
    }
    let file = write(dir.path(), "replay.sql", &sql);
    let out = run(&["run", file.to_str().unwrap(), "--workers", "2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for (table, _, rows) in tables {
        let generated = normalized(&dir.path().join(format!("g_{table}.out.csv")));
        let replayed = normalized(&dir.path().join(format!("f_{table}.out.csv")));
        assert_eq!(generated.len(), rows + 1, "{table}");
        assert!(generated == replayed, "{table}: the file differs from the generator");
    }
}

#[test]
fn changelog_and_snapshot_sinks_agree() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.jsonl");
    let snap = dir.path().join("snap.csv");
    let file = write(
        dir.path(),
        "steps.sql",
        &format!(
            "CREATE TABLE t (k VARCHAR PRIMARY KEY, v INT);
             INSERT INTO t VALUES ('a', 1), ('b', 2), ('c', 3);
             UPDATE t SET v = v * 10 WHERE k <> 'b';
             DELETE FROM t WHERE k = 'c';
             INSERT INTO t VALUES ('d', 4);
             CREATE VIEW totals AS SELECT v > 5 AS big, count(*) AS n, sum(v) AS s FROM t GROUP BY 1;
             CREATE SINK log FROM totals WITH (connector = 'file', path = '{}', mode = 'changelog');
             CREATE SINK snap FROM totals WITH (connector = 'file', path = '{}', format = 'csv', mode = 'snapshot');",
            log.display(),
            snap.display()
        ),
    );
    let out = run(&["run", file.to_str().unwrap(), "--commit-interval", "0ms"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Replaying the changelog gives the snapshot.
    let mut state: std::collections::BTreeMap<String, i64> = Default::default();
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        let diff = v["_diff"].as_i64().unwrap();
        v.as_object_mut().unwrap().remove("_diff");
        let key = format!("{},{},{}", v["big"], v["n"], v["s"]);
        *state.entry(key).or_default() += diff;
    }
    let replayed: Vec<String> = state.into_iter().filter(|(_, n)| *n != 0).map(|(k, _)| k).collect();
    let snapshot: Vec<String> = std::fs::read_to_string(&snap).unwrap().lines().skip(1).map(str::to_string).collect();
    assert_eq!(replayed, snapshot);
    assert_eq!(snapshot, vec!["false,2,6".to_string(), "true,1,10".to_string()]);
}
