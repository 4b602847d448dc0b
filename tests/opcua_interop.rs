//! The OPC UA source through SQL, against a server we did not write (asyncua,
//! `tests/peers/opcua_server.py`): a subscription feeding an event-time window, browse-path
//! selection, a missing node, and `illunare opcua browse`. The connector's own tests
//! (`sources/opcua/tests/`) cover every type, security, certificates and restarts.

mod common;

use std::time::{Duration, Instant};

use common::peers::{Peer, free_port};
use illunare_types::{Datum, Row};

fn server() -> (Peer, u16) {
    let port = free_port();
    (Peer::start("opcua_server.py", &["--port".into(), port.to_string()]), port)
}

fn wait_rows(pipeline: &illunare_coord::Pipeline, view: &str, what: &str, done: &dyn Fn(&[Row]) -> bool) -> Vec<Row> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut rows = pipeline.final_rows(view).unwrap_or_default();
        rows.sort();
        if done(&rows) {
            return rows;
        }
        assert!(Instant::now() < deadline, "waited 60 s for {what}: {rows:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn subscription_feeds_event_time_windows_and_bad_nodes_are_rows() {
    let (_server, port) = server();
    let sql = format!(
        "CREATE SOURCE boiler (node VARCHAR, value DOUBLE, status VARCHAR, source_ts TIMESTAMP, server_ts TIMESTAMP,
                               WATERMARK FOR source_ts AS source_ts - INTERVAL '1' SECOND)
           WITH (connector = 'opcua', endpoint = 'opc.tcp://127.0.0.1:{port}/',
                 nodes = 'ns=2;s=Counter, /Objects/2:Plant/**/Temperature, ns=2;s=DoesNotExist',
                 mode = 'subscribe', sampling_interval = '50ms', source_ts_fallback = 'server');
         CREATE VIEW per_second AS
           SELECT node, window_start, count(*) AS changes, max(value) AS top
           FROM TUMBLE(boiler, source_ts, INTERVAL '1' SECOND) WHERE status = 'Good' GROUP BY node, window_start;
         CREATE VIEW statuses AS SELECT node, status, count(*) AS n, count(value) AS with_value FROM boiler GROUP BY node, status;"
    );
    let mut pipeline = common::start(&sql, &common::options(2));
    // Counter changes every 100 ms: once windows close, a full second holds 9-11 changes.
    let windows = wait_rows(&pipeline, "per_second", "three closed windows of Counter", &|rows| {
        rows.iter().filter(|r| r.get(0) == &Datum::str("ns=2;s=Counter")).count() >= 3
    });
    let statuses = wait_rows(&pipeline, "statuses", "the plant temperatures and the missing node", &|rows| rows.len() >= 5);
    pipeline.stop();
    pipeline.join().expect("join");
    let counter: Vec<&Row> = windows.iter().filter(|r| r.get(0) == &Datum::str("ns=2;s=Counter")).collect();
    // The first window may be partial (the subscription started inside it); the ones after are whole.
    for w in &counter[1..counter.len() - 1] {
        let Datum::Int(n) = w.get(2) else { panic!("{w:?}") };
        assert!((8..=12).contains(n), "changes in a closed one-second window: {w:?}");
    }
    let find = |node: &str| statuses.iter().find(|r| r.get(0) == &Datum::str(node)).unwrap_or_else(|| panic!("{node}: {statuses:?}"));
    for t in ["ns=2;s=Plant.Line1.Temperature", "ns=2;s=Plant.Line2.Temperature", "ns=2;s=Plant.Area.Line3.Temperature"] {
        assert_eq!(find(t).get(1), &Datum::str("Good"));
    }
    let missing = find("ns=2;s=DoesNotExist");
    assert_eq!((missing.get(1), missing.get(3)), (&Datum::str("BadNodeIdUnknown"), &Datum::Int(0)), "a bad status carries no value");
}

#[test]
fn cli_browse_prints_node_ids_and_types() {
    let (_server, port) = server();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_illunare"))
        .args(["opcua", "browse", &format!("opc.tcp://127.0.0.1:{port}/"), "--depth", "3"])
        .output()
        .expect("run illunare opcua browse");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let line = stdout.lines().find(|l| l.starts_with("ns=2;s=Plant.Line1.Temperature")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("Variable") && line.contains("Double") && line.contains("Temperature"), "{line}");
    assert!(stdout.lines().any(|l| l.starts_with("ns=2;s=DoubleArray") && l.contains("Double[]")), "{stdout}");
}
