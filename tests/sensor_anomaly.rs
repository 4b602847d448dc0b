//! `pipelines/sensor_anomaly.sql` end to end against the interop peers: a pymodbus press PLC
//! whose registers never change (a stuck machine) and an asyncua server whose `Vibration`
//! spikes every 5 s. The z-score must catch the spikes and nothing else; the flat-line check
//! must catch the press and not the moving signals.

mod common;

use std::time::{Duration, Instant};

use common::peers::{Peer, free_port};
use illunare_types::{Datum, Row};

#[test]
fn catches_spikes_and_stuck_sensors_from_modbus_and_opcua() {
    let (modbus_port, opcua_port) = (free_port(), free_port());
    let _modbus = Peer::start("modbus_server.py", &["--port".into(), modbus_port.to_string()]);
    let _opcua = Peer::start("opcua_server.py", &["--port".into(), opcua_port.to_string()]);
    let out = tempfile::tempdir().expect("tempdir");
    let alerts_file = out.path().join("sensor_alerts.jsonl");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/sensor_anomaly.sql")).expect("read pipeline");
    let text = text
        .replace("127.0.0.1:5020", &format!("127.0.0.1:{modbus_port}"))
        .replace("127.0.0.1:4840", &format!("127.0.0.1:{opcua_port}"))
        .replace("pipelines/maps/press.toml", concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/maps/press.toml"))
        .replace("out/sensor_alerts.jsonl", &alerts_file.to_string_lossy());
    let mut pipeline = common::start(&text, &common::options(2));
    let press = |what: &str| format!("127.0.0.1:{modbus_port}/4/{what}");
    let kinds = |rows: &[Row], sensor: &str| -> Vec<String> {
        let mut k: Vec<String> = rows
            .iter()
            .filter(|r| r.get(0) == &Datum::str(sensor))
            .filter_map(|r| match r.get(3) {
                Datum::Str(s) => Some(s.to_string()),
                _ => None,
            })
            .collect();
        k.sort();
        k.dedup();
        k
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    let alerts = loop {
        let rows = pipeline.final_rows("alerts").unwrap_or_default();
        let spikes = rows.iter().filter(|r| r.get(0) == &Datum::str("ns=2;s=Vibration") && r.get(3) == &Datum::str("z_score")).count();
        if spikes >= 2 && !kinds(&rows, &press("temperature")).is_empty() && !kinds(&rows, &press("pressure")).is_empty() {
            break rows;
        }
        assert!(Instant::now() < deadline, "no spike and stuck-sensor alerts within 90 s: {rows:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    pipeline.stop();
    pipeline.join().expect("join");
    assert_eq!(kinds(&alerts, &press("temperature")), vec!["flat_line"]);
    assert_eq!(kinds(&alerts, &press("pressure")), vec!["flat_line"]);
    assert_eq!(kinds(&alerts, "ns=2;s=Vibration"), vec!["z_score"]);
    assert!(kinds(&alerts, "ns=2;s=Counter").is_empty(), "a steady ramp is neither stuck nor a spike: {alerts:?}");
    for r in alerts.iter().filter(|r| r.get(3) == &Datum::str("z_score")) {
        assert_eq!(r.get(2), &Datum::float(100.0), "only the spikes score: {r:?}");
    }
    for r in alerts.iter().filter(|r| r.get(0) == &Datum::str(&press("pressure"))) {
        assert!((r.get(2).as_f64().unwrap_or(0.0) - 152.3).abs() < 1e-9, "the press map decodes tenths of bar: {r:?}");
    }
    let written = std::fs::read_to_string(&alerts_file).expect("the sink wrote its file");
    assert!(written.lines().any(|l| l.contains("\"z_score\"")), "{written}");
}
