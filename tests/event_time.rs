//! Event time: rows stamped with their WATERMARK column, frontiers following watermarks, late
//! rows set aside in `<source>_late` (never dropped without a trace).

mod common;

use common::{run_and_compare, run_collect};

/// Views over an in-order event-time source equal the batch answer, for any worker count.
#[test]
fn event_time_views_match_datafusion() {
    let text = "
        CREATE SOURCE tx (tx_id BIGINT, card_id VARCHAR, merchant VARCHAR, amount DOUBLE, ts TIMESTAMP,
                          WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
          WITH (connector = 'generator', kind = 'transactions', rows = '20000', seed = '9', merchants = '30', splits = '3');
        CREATE SOURCE devices (device VARCHAR, value DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts)
          WITH (connector = 'generator', kind = 'devices', rows = '5000', seed = '2', interval = '250ms');
        CREATE VIEW per_second AS
          SELECT merchant, date_bin(INTERVAL '1' SECOND, ts) AS second, count(*) AS n, sum(amount) AS total, max(amount) AS hi
          FROM tx GROUP BY merchant, date_bin(INTERVAL '1' SECOND, ts);
        CREATE VIEW minute_stats AS
          SELECT device, date_bin(INTERVAL '1' MINUTE, ts) AS minute, avg(value) AS mean, count(*) AS n
          FROM devices GROUP BY 1, 2 HAVING count(*) > 1;
        CREATE VIEW late_tx AS SELECT count(*) AS n FROM tx_late;";
    for workers in [1, 2, 3] {
        let views = run_and_compare(text, workers);
        assert_eq!(views["late_tx"], vec!["0".to_string()], "an in-order source has no late rows");
        assert!(views["per_second"].len() > 100);
    }
}

/// A row whose event time is already behind the frontier when it arrives goes to
/// `<source>_late`, queryable like any relation; the others are counted in their windows.
#[test]
fn late_rows_are_set_aside_not_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    // Read two rows per chunk; the watermark trails the highest time by 2 s.
    let lines = [
        (1, "a"),
        (5, "a"), // watermark 3 s
        (4, "b"), // on time (>= 3 s)
        (12, "a"), // watermark 10 s
        (2, "a"), // late: 2 s < 10 s
        (11, "b"), // on time
        (30, "a"),
    ]
    .map(|(s, k)| format!(r#"{{"k": "{k}", "ts": "2024-01-01T00:00:{s:02}Z"}}"#));
    std::fs::write(&path, lines.join("\n")).expect("write");
    let text = format!(
        "CREATE SOURCE s (k VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
           WITH (connector = 'file', path = '{}', format = 'jsonl', batch_size = '2');
         CREATE VIEW windows AS SELECT k, date_bin(INTERVAL '10' SECOND, ts) AS w, count(*) AS n FROM s GROUP BY 1, 2;
         CREATE VIEW late AS SELECT k, ts FROM s_late;",
        path.display()
    );
    for workers in [1, 2] {
        let (views, errors) = run_collect(&text, workers);
        assert_eq!(
            views["windows"],
            vec![
                "a | 2024-01-01T00:00:00Z | 2",
                "a | 2024-01-01T00:00:10Z | 1",
                "a | 2024-01-01T00:00:30Z | 1",
                "b | 2024-01-01T00:00:00Z | 1",
                "b | 2024-01-01T00:00:10Z | 1",
            ],
            "{workers} worker(s)"
        );
        assert_eq!(views["late"], vec!["a | 2024-01-01T00:00:02Z"]);
        assert!(errors.values().all(Vec::is_empty), "{errors:?}");
    }
}

#[test]
fn watermark_must_be_a_timestamp_and_idle_timeout_needs_one() {
    let registry = common::registry();
    let bad_column = "CREATE SOURCE s (k VARCHAR, n BIGINT, WATERMARK FOR n AS n - 5)\n  WITH (connector = 'generator', kind = 'devices', rows = '1');";
    let e = illunare_coord::Pipeline::load(bad_column, &registry).err().expect("must fail").render("p.sql", bad_column);
    assert!(e.contains("p.sql:1:") && e.contains("not a TIMESTAMP"), "{e}");
    let no_watermark = "CREATE SOURCE s (device VARCHAR, ts TIMESTAMP)\n  WITH (connector = 'generator', kind = 'devices', rows = '1', idle_timeout = '1s');";
    let e = illunare_coord::Pipeline::load(no_watermark, &registry).err().expect("must fail").render("p.sql", no_watermark);
    assert!(e.contains("idle_timeout needs a WATERMARK"), "{e}");
    let ok = "CREATE SOURCE s (device VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)\n  WITH (connector = 'generator', kind = 'devices', rows = '1', idle_timeout = '1s');";
    assert!(illunare_coord::Pipeline::load(ok, &registry).is_ok());
}

/// `WHERE ts > WATERMARK(src) - INTERVAL …` keeps a sliding window: rows leave the view as the
/// watermark passes them, so at any frontier exactly the last ten seconds of events are in.
#[test]
fn retention_rows_leave_the_view_as_the_watermark_passes() {
    // One device reading per second of event time, 100 readings per second of wall clock.
    let text = "
        CREATE SOURCE d (device VARCHAR, value DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts)
          WITH (connector = 'generator', kind = 'devices', rate = '100', start = '2024-01-01T00:00:00Z', interval = '1s', splits = '2');
        CREATE VIEW recent AS SELECT device, ts FROM d WHERE ts > WATERMARK(d) - INTERVAL '10' SECOND;
        CREATE VIEW recent_count AS SELECT count(*) AS n FROM d WHERE value IS NOT NULL AND WATERMARK(d) - INTERVAL '10' SECOND < ts;";
    let mut pipeline = illunare_coord::Pipeline::load(text, &common::registry()).unwrap_or_else(|e| panic!("{}", e.render("t.sql", text)));
    pipeline.start(&common::options(2)).expect("start");
    pipeline.close_tables();
    let start_ms: u64 = 1_704_067_200_000;
    for seconds in [30, 45] {
        let at = start_ms + seconds * 1000;
        let state = pipeline.snapshot_at("recent", at, std::time::Duration::from_secs(60)).expect("snapshot");
        let rows = state.rows();
        assert_eq!(rows.len(), 10, "after {seconds}s: {rows:?}");
        let count = pipeline.snapshot_at("recent_count", at, std::time::Duration::from_secs(60)).expect("snapshot");
        assert_eq!(count.rows(), vec![illunare_types::Row(vec![illunare_types::Datum::Int(10)])]);
    }
    pipeline.stop();
    pipeline.join().expect("join");
}

#[test]
fn watermark_outside_a_retention_condition_is_refused() {
    let registry = common::registry();
    let text = "CREATE SOURCE d (device VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts)\n  WITH (connector = 'generator', kind = 'devices', rows = '1');\nCREATE VIEW v AS SELECT device FROM d WHERE ts < WATERMARK(d);";
    let e = illunare_coord::Pipeline::load(text, &registry).err().expect("must fail").render("p.sql", text);
    assert!(e.contains("p.sql:3:") && e.contains("WATERMARK"), "{e}");
}

/// `emit = 'on_window_close'`: the sink gets each window's final row once, even though the view
/// updated it several times while the window was open.
#[test]
fn sinks_can_emit_each_window_once_when_it_closes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("events.jsonl");
    let lines: Vec<String> =
        [1, 2, 3, 11, 12, 25].iter().map(|s| format!(r#"{{"k": "a", "ts": "2024-01-01T00:00:{s:02}Z"}}"#)).collect();
    std::fs::write(&input, lines.join("\n")).expect("write");
    let out = dir.path().join("windows.jsonl");
    let text = format!(
        "CREATE SOURCE s (k VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts)
           WITH (connector = 'file', path = '{}', format = 'jsonl', batch_size = '1');
         CREATE VIEW counts AS
           SELECT k, date_bin(INTERVAL '10' SECOND, ts) + INTERVAL '10' SECOND AS window_end, count(*) AS n FROM s GROUP BY 1, 2;
         CREATE SINK closed FROM counts WITH (connector = 'file', path = '{}', format = 'jsonl', mode = 'changelog', emit = 'on_window_close');",
        input.display(),
        out.display()
    );
    let mut pipeline = common::start(&text, &common::options(1));
    common::wait_finished(&pipeline);
    pipeline.join().expect("join");
    let written = std::fs::read_to_string(&out).expect("sink output");
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(
        lines,
        vec![
            r#"{"k":"a","window_end":"2024-01-01T00:00:10Z","n":3,"_diff":1}"#,
            r#"{"k":"a","window_end":"2024-01-01T00:00:20Z","n":2,"_diff":1}"#,
            r#"{"k":"a","window_end":"2024-01-01T00:00:30Z","n":1,"_diff":1}"#,
        ]
    );
    let bad = format!(
        "CREATE SOURCE s (k VARCHAR, ts TIMESTAMP) WITH (connector = 'file', path = '{}', format = 'jsonl');\nCREATE SINK o FROM s WITH (connector = 'stdout', emit = 'on_window_close');",
        input.display()
    );
    let bad = bad.as_str();
    let e = illunare_coord::Pipeline::load(bad, &common::registry()).err().expect("no window_end").render("p.sql", bad);
    assert!(e.contains("window_end"), "{e}");
}

/// Window aggregates over event time retract their input as windows close and freeze each
/// window's final row: the view still equals the batch answer (fused and unfused paths).
#[test]
fn closing_windows_keep_their_final_rows() {
    let text = "
        CREATE SOURCE tx (tx_id BIGINT, card_id VARCHAR, merchant VARCHAR, amount DOUBLE, ts TIMESTAMP,
                          WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
          WITH (connector = 'generator', kind = 'transactions', rows = '20000', seed = '5', merchants = '20', splits = '4');
        CREATE SOURCE hop_tx (merchant VARCHAR, amount DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts)
          WITH (connector = 'generator', kind = 'transactions', rows = '8000', seed = '6', merchants = '10', splits = '2');
        CREATE VIEW tumbling AS
          SELECT merchant, window_start, window_end, count(*) AS n, sum(amount) AS total, max(amount) AS hi, min(card_id) AS first_card
          FROM TUMBLE(tx, ts, INTERVAL '2' SECOND) GROUP BY merchant, window_start, window_end;
        CREATE VIEW hopping AS
          SELECT merchant, window_end, count(*) AS n, avg(amount) AS mean, min(amount) AS lo
          FROM HOP(hop_tx, ts, INTERVAL '1' SECOND, INTERVAL '3' SECOND) GROUP BY merchant, window_end;";
    for workers in [1, 2] {
        let (views, errors) = run_collect(text, workers);
        assert!(errors.values().all(Vec::is_empty), "{errors:?}");
        assert!(views["tumbling"].len() > 100 && views["hopping"].len() > 50);
        run_and_compare(text, workers);
    }
}
