//! The Modbus source against a server we did not write (pymodbus, `tests/peers/modbus_server.py`):
//! every type and byte order, coils and discrete inputs, several unit ids on one connection,
//! coalesced requests, exception answers, a silent unit, a server killed and restarted
//! mid-stream, and `scan`.

mod common;

use std::time::{Duration, Instant};

use common::peers::{Peer, free_port};
use illunare_types::{Datum, Row};

fn server() -> (Peer, u16) {
    let port = free_port();
    (Peer::start("modbus_server.py", &["--port".into(), port.to_string()]), port)
}

/// The register map of unit 1 as the server lays it out (see the server's docstring).
const MAP: &str = r#"
[[field]]
name = "f32_abcd"
register = "holding"
address = 0
type = "float32"
[[field]]
name = "f32_cdab"
register = "holding"
address = 2
type = "float32"
order = "CDAB"
[[field]]
name = "f32_badc"
register = "holding"
address = 4
type = "float32"
order = "BADC"
[[field]]
name = "f32_dcba"
register = "holding"
address = 6
type = "float32"
order = "DCBA"
[[field]]
name = "i16"
register = "holding"
address = 8
type = "int16"
[[field]]
name = "u16"
register = "holding"
address = 9
type = "uint16"
[[field]]
name = "i32"
register = "holding"
address = 10
type = "int32"
[[field]]
name = "u32_cdab"
register = "holding"
address = 12
type = "uint32"
order = "CDAB"
[[field]]
name = "i64"
register = "holding"
address = 14
type = "int64"
[[field]]
name = "u64_dcba"
register = "holding"
address = 18
type = "uint64"
order = "HGFEDCBA"
[[field]]
name = "f64"
register = "holding"
address = 22
type = "float64"
[[field]]
name = "f64_cdab"
register = "holding"
address = 26
type = "float64"
order = "GHEFCDAB"
[[field]]
name = "tag"
register = "holding"
address = 30
type = "string"
length = 4
[[field]]
name = "scaled"
register = "holding"
address = 34
type = "int16"
scale = 0.1
offset = -3.0
[[field]]
name = "bit2"
register = "holding"
address = 35
type = "bool"
bit = 2
[[field]]
name = "bit3"
register = "holding"
address = 35
type = "bool"
bit = 3
[[field]]
name = "reads"
register = "holding"
address = 100
type = "uint16"
[[field]]
name = "requests"
register = "holding"
address = 101
type = "uint16"
[[field]]
name = "i8_high"
register = "holding"
address = 8
type = "int8"
byte = "high"
[[field]]
name = "u8_low"
register = "holding"
address = 8
type = "uint8"
[[field]]
name = "f16"
register = "holding"
address = 102
type = "float16"
[[field]]
name = "in_i32_badc"
register = "input"
address = 0
type = "int32"
order = "BADC"
[[field]]
name = "in_u16"
register = "input"
address = 2
[[field]]
name = "coil0"
register = "coil"
address = 0
[[field]]
name = "coil1"
register = "coil"
address = 1
[[field]]
name = "coil2"
register = "coil"
address = 2
[[field]]
name = "di1"
register = "discrete"
address = 1
[[field]]
name = "missing"
register = "holding"
address = 40
"#;

fn write_map() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("unit1.toml");
    std::fs::write(&path, MAP).expect("write map");
    let path = path.to_string_lossy().replace('\\', "/");
    (dir, path)
}

fn rows_of(pipeline: &illunare_coord::Pipeline, view: &str) -> Vec<Row> {
    let mut rows = pipeline.final_rows(view).unwrap_or_default();
    rows.sort();
    rows
}

fn float(d: &Datum) -> f64 {
    d.as_f64().unwrap_or_else(|| panic!("not a number: {d:?}"))
}

#[test]
fn every_type_and_byte_order_coils_and_coalesced_requests() {
    let (_server, port) = server();
    let (_dir, map) = write_map();
    let sql = format!(
        "CREATE SOURCE plc (device VARCHAR, quality VARCHAR, ts TIMESTAMP,
             f32_abcd DOUBLE, f32_cdab DOUBLE, f32_badc REAL, f32_dcba DOUBLE, i16 SMALLINT, u16 INT, i32 INT,
             u32_cdab BIGINT, i64 BIGINT, u64_dcba VARCHAR, f64 DOUBLE, f64_cdab DOUBLE, tag VARCHAR, scaled DOUBLE,
             bit2 BOOLEAN, bit3 BOOLEAN, reads INT, requests INT, in_i32_badc INT, in_u16 INT, coil0 BOOLEAN, coil1 BOOLEAN,
             coil2 BOOLEAN, di1 BOOLEAN, i8_high TINYINT, u8_low SMALLINT, f16 REAL)
           WITH (connector = 'modbus', devices = '127.0.0.1:{port}/1', map = '{map}', poll_interval = '50ms', polls = '4');
         CREATE VIEW polls AS SELECT * FROM plc;"
    );
    let mut pipeline = common::start(&sql, &common::options(1));
    common::wait_finished(&pipeline);
    let rows = rows_of(&pipeline, "polls");
    let errors = pipeline.final_rows("plc_errors").unwrap_or_default();
    pipeline.join().expect("join");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(rows.len(), 4, "{rows:?}");
    let mut reads = Vec::new();
    let mut requests = Vec::new();
    for row in &rows {
        let d: Vec<&Datum> = row.iter().collect();
        assert_eq!(d[0], &Datum::str(&format!("127.0.0.1:{port}/1")));
        assert_eq!(d[1], &Datum::str("good"));
        assert!(matches!(d[2], Datum::Timestamp(_)));
        assert_eq!(float(d[3]), 21.5);
        assert_eq!(float(d[4]), -3.25);
        assert_eq!(float(d[5]), 1013.25);
        assert_eq!(float(d[6]), 0.125);
        assert_eq!(d[7], &Datum::Int(-1234));
        assert_eq!(d[8], &Datum::Int(65000));
        assert_eq!(d[9], &Datum::Int(-100_000));
        assert_eq!(d[10], &Datum::Int(3_000_000_000));
        assert_eq!(d[11], &Datum::Int(-9_000_000_000_000));
        assert_eq!(d[12], &Datum::str("18000000000000000000"));
        assert_eq!(float(d[13]), std::f64::consts::PI);
        assert_eq!(float(d[14]), -2.5e10);
        assert_eq!(d[15], &Datum::str("PRESS-01"));
        assert!((float(d[16]) - 20.5).abs() < 1e-9, "{:?}", d[16]);
        assert_eq!((d[17], d[18]), (&Datum::Bool(true), &Datum::Bool(false)));
        let Datum::Int(r) = d[19] else { panic!("{:?}", d[19]) };
        reads.push(*r);
        let Datum::Int(q) = d[20] else { panic!("{:?}", d[20]) };
        requests.push(*q);
        assert_eq!((d[21], d[22]), (&Datum::Int(123_456), &Datum::Int(7)));
        assert_eq!((d[23], d[24], d[25], d[26]), (&Datum::Bool(true), &Datum::Bool(false), &Datum::Bool(true), &Datum::Bool(true)));
        // -1234 is 0xFB2E: high byte -5 as int8, low byte 0x2E.
        assert_eq!((d[27], d[28], float(d[29])), (&Datum::Int(-5), &Datum::Int(0x2E), -2.5));
    }
    reads.sort();
    requests.sort();
    // Register 100 is read once per poll…
    assert_eq!(reads, vec![1, 2, 3, 4]);
    // …and a poll takes five requests: holding 0..36, holding 100..103, input 0..3, coils 0..3,
    // discrete 1..2 — not one per field.
    assert!(requests.windows(2).all(|w| w[1] - w[0] == 5), "requests per poll: {requests:?}");
}

#[test]
fn units_share_a_connection_and_failures_are_rows_with_null_fields() {
    let (_server, port) = server();
    let sql = format!(
        "CREATE SOURCE plc (device VARCHAR, temperature DOUBLE, quality VARCHAR)
           WITH (connector = 'modbus', devices = '127.0.0.1:{port}/1, 127.0.0.1:{port}/2, 127.0.0.1:{port}/3',
                 fields = '{{ name = \"temperature\", register = \"holding\", address = 0, type = \"float32\" }}',
                 poll_interval = '100ms', timeout = '200ms', retries = '1', polls = '3');
         CREATE SOURCE bad (device VARCHAR, gap INT, quality VARCHAR)
           WITH (connector = 'modbus', devices = '127.0.0.1:{port}/1',
                 fields = '{{ name = \"gap\", register = \"holding\", address = 40 }}', poll_interval = '50ms', polls = '2');
         CREATE VIEW by_device AS SELECT device, quality, count(*) AS polls, min(temperature) AS t FROM plc GROUP BY device, quality;
         CREATE VIEW refused AS SELECT device, gap, quality FROM bad;
         CREATE VIEW plc_failures AS SELECT position, error FROM plc_errors;"
    );
    let mut pipeline = common::start(&sql, &common::options(2));
    common::wait_finished(&pipeline);
    let by_device = rows_of(&pipeline, "by_device");
    let refused = rows_of(&pipeline, "refused");
    let failures = rows_of(&pipeline, "plc_failures");
    pipeline.join().expect("join");
    let d = |u: u8| Datum::str(&format!("127.0.0.1:{port}/{u}"));
    assert_eq!(by_device[0].iter().cloned().collect::<Vec<_>>(), vec![d(1), Datum::str("good"), Datum::Int(3), Datum::float(21.5)]);
    assert_eq!(by_device[1].iter().cloned().collect::<Vec<_>>(), vec![d(2), Datum::str("good"), Datum::Int(3), Datum::float(42.0)]);
    // Unit 3 never answers: its polls are rows saying so, with no value (backoff may skip polls).
    assert_eq!(by_device.len(), 3, "{by_device:?}");
    let silent: Vec<Datum> = by_device[2].iter().cloned().collect();
    assert_eq!((&silent[0], &silent[1], &silent[3]), (&d(3), &Datum::str("timeout"), &Datum::Null));
    assert!(!failures.is_empty() && failures.iter().all(|r| r.get(0) == &d(3)), "{failures:?}");
    let Datum::Str(e) = failures[0].get(1) else { panic!() };
    assert!(e.contains("timeout") && e.contains("holding 0..2") && e.contains("2 attempts"), "{e}");
    // A range the server refuses: exception 02, NULL value, every poll.
    assert_eq!(refused.len(), 2);
    for r in &refused {
        assert_eq!(r.iter().cloned().collect::<Vec<_>>(), vec![d(1), Datum::Null, Datum::str("exception:02")]);
    }
}

#[test]
fn a_server_killed_and_restarted_mid_stream() {
    let (mut server, port) = server();
    let sql = format!(
        "CREATE SOURCE plc (device VARCHAR, reads INT, quality VARCHAR, ts TIMESTAMP)
           WITH (connector = 'modbus', devices = '127.0.0.1:{port}/1',
                 fields = '{{ name = \"reads\", register = \"holding\", address = 100 }}',
                 poll_interval = '100ms', timeout = '300ms', retries = '0', max_backoff = '400ms');
         CREATE VIEW history AS SELECT ts, quality, reads FROM plc;"
    );
    let mut pipeline = common::start(&sql, &common::options(1));
    let wait_for = |pipeline: &illunare_coord::Pipeline, what: &str, done: &dyn Fn(&[Row]) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let rows = rows_of(pipeline, "history");
            if done(&rows) {
                return rows;
            }
            assert!(Instant::now() < deadline, "waited 30 s for {what}: {rows:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let good = |r: &Row| r.get(1) == &Datum::str("good");
    wait_for(&pipeline, "good polls", &|rows| rows.iter().filter(|r| good(r)).count() >= 3);
    server.kill();
    let before = wait_for(&pipeline, "a failed poll", &|rows| rows.iter().any(|r| !good(r)));
    let first_bad = before.iter().find(|r| !good(r)).cloned().expect("a bad row");
    assert_eq!(first_bad.get(1), &Datum::str("disconnected"), "{first_bad:?}");
    assert_eq!(first_bad.get(2), &Datum::Null, "no stale value: {first_bad:?}");
    server.restart();
    // The counter restarts with the server: good rows after the failure read it afresh.
    let after = wait_for(&pipeline, "good polls after the restart", &|rows| {
        rows.iter().filter(|r| good(r) && r.get(0) > first_bad.get(0)).count() >= 2
    });
    pipeline.stop();
    pipeline.join().expect("join");
    let resumed: Vec<&Row> = after.iter().filter(|r| good(r) && r.get(0) > first_bad.get(0)).collect();
    assert_eq!(resumed[0].get(2), &Datum::Int(1), "{resumed:?}");
    assert!(after.iter().filter(|r| !good(r)).all(|r| r.get(2) == &Datum::Null));
}

#[test]
fn scan_lists_units_and_readable_ranges() {
    let (_server, port) = server();
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    let options = illunare_source_modbus::ScanOptions { units: (1, 3), registers: (0, 110), timeout: Duration::from_millis(300) };
    let report = runtime.block_on(illunare_source_modbus::scan(&format!("127.0.0.1:{port}"), &options)).expect("scan");
    use illunare_source_modbus::RegisterKind::*;
    assert_eq!(report.units.len(), 2, "{report:?}");
    assert_eq!(report.units[0].unit, 1);
    // pymodbus keeps bits in 16-bit words: a block of 3 coils makes coils 0-15 readable.
    assert_eq!(report.units[0].ranges, vec![(Coil, 0, 15), (Discrete, 0, 15), (Holding, 0, 35), (Holding, 100, 102), (Input, 0, 2)]);
    assert_eq!(report.units[1].unit, 2, "unit 3 answers too late to count: {report:?}");
    assert_eq!(report.units[1].ranges, vec![(Coil, 0, 15), (Discrete, 0, 15), (Holding, 0, 1), (Input, 0, 0)]);
    let map = illunare_source_modbus::starter_map(&report, &report.units[1]);
    let parsed = illunare_source_modbus::RegisterMap::from_toml(&map, "starter").expect("a valid map");
    let names: Vec<&str> = parsed.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names.len(), 16 + 16 + 2 + 1);
    assert_eq!(&names[30..], &["discrete_14", "discrete_15", "holding_0", "holding_1", "input_0"]);
}

#[test]
fn cli_scan_writes_a_map_a_pipeline_accepts() {
    let (_server, port) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let map = dir.path().join("unit1.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_illunare"))
        .args(["modbus", "scan", &format!("127.0.0.1:{port}"), "--units", "1-3", "--registers", "0-40", "--timeout", "200ms"])
        .args(["--write-map", &map.to_string_lossy()])
        .output()
        .expect("run illunare modbus scan");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("2 unit(s) answer"), "{stdout}");
    assert!(stdout.contains("holding   0-35"), "{stdout}");
    let sql = dir.path().join("p.sql");
    std::fs::write(
        &sql,
        format!(
            "CREATE SOURCE plc (device VARCHAR, holding_9 INT, coil_0 BOOLEAN, quality VARCHAR)
               WITH (connector = 'modbus', devices = '127.0.0.1:{port}', map = '{}');
             CREATE VIEW v AS SELECT * FROM plc;",
            map.to_string_lossy()
        ),
    )
    .expect("write pipeline");
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_illunare")).arg("check").arg(&sql).output().expect("run illunare check");
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
}
