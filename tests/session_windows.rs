//! SESSION windows over event time: the closing rendering (`engine/dataflow/src/session.rs`)
//! equals the batch oracle, releases closed sessions (state stays flat over a long run), and
//! feeds `emit = 'on_window_close'` sinks each session once.

mod common;

use std::time::Duration;

use common::{run_and_compare, run_collect};

/// Sessions per bidder and per auction over Nexmark bids with a WATERMARK, aggregated and not,
/// equal DataFusion's window-function answer for 1 and 2 workers.
#[test]
fn event_time_sessions_match_the_oracle() {
    let text = "
        CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                          date_time TIMESTAMP, extra VARCHAR,
                          WATERMARK FOR date_time AS date_time - INTERVAL '2' SECOND)
          WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '6000', interval = '10ms', seed = '3', splits = '2');
        CREATE VIEW per_bidder AS
          SELECT bidder, window_start, window_end, count(*) AS bids, max(price) AS top
          FROM SESSION(bid, date_time, INTERVAL '3' SECOND, bidder) GROUP BY bidder, window_start, window_end;
        CREATE VIEW all_bids AS
          SELECT window_end, count(*) AS bids FROM SESSION(bid, date_time, INTERVAL '50' MILLISECOND) GROUP BY window_end;
        CREATE VIEW rows AS SELECT auction, price, date_time, window_start, window_end FROM SESSION(bid, date_time, INTERVAL '2' SECOND, auction);";
    for workers in [1, 2] {
        let (views, errors) = run_collect(text, workers);
        assert!(errors.values().all(Vec::is_empty), "{errors:?}");
        assert!(views["per_bidder"].len() > 50, "{}", views["per_bidder"].len());
        assert!(views["all_bids"].len() > 1, "{:?}", views["all_bids"]);
        run_and_compare(text, workers);
    }
}

/// Over a long run, the state (arranged updates + rows held for open sessions) stays bounded
/// by the open sessions, far below the number of bids read. The source is replayed at 20 000
/// events/s: read as fast as possible, it would be read long before the dataflow processed it
/// and the samples would measure that backlog.
#[test]
fn closed_sessions_release_their_state() {
    let bids = 60_000usize;
    let text = format!(
        "CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                           date_time TIMESTAMP, extra VARCHAR,
                           WATERMARK FOR date_time AS date_time - INTERVAL '1' SECOND)
           WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '{}', interval = '1ms', seed = '4', rate = '20000');
         CREATE MATERIALIZED VIEW per_auction AS
           SELECT auction, window_start, window_end, count(*) AS bids, sum(price) AS total
           FROM SESSION(bid, date_time, INTERVAL '500' MILLISECOND, auction) GROUP BY auction, window_start, window_end;",
        bids * 50 / 46
    );
    let mut pipeline = illunare_coord::Pipeline::load(&text, &common::registry()).unwrap_or_else(|e| panic!("{}", e.render("t.sql", &text)));
    let options = illunare_coord::RunOptions { capture_all: false, ..common::options(1) };
    pipeline.start(&options).expect("start");
    pipeline.close_tables();
    let metrics = pipeline.source_metrics();
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    let mut samples = Vec::new();
    while !pipeline.is_finished() {
        assert!(std::time::Instant::now() < deadline, "pipeline did not finish");
        let read: u64 = metrics.iter().map(|(_, m)| m.rows.load(std::sync::atomic::Ordering::Relaxed)).sum();
        let (arranged, pending) = pipeline.state_size();
        samples.push((read, arranged + pending));
        std::thread::sleep(Duration::from_millis(10));
    }
    pipeline.join().expect("join");
    let late: Vec<i64> = samples.iter().filter(|(read, _)| *read as usize > bids / 2).map(|(_, s)| *s).collect();
    assert!(!late.is_empty(), "no sample in the second half: {samples:?}");
    let largest = samples.iter().map(|(_, s)| *s).max().unwrap_or(0);
    // Every bid kept would be `bids` rows in the session state alone (and more in the reduce).
    assert!(largest < (bids / 5) as i64, "state grew to {largest} for {bids} bids: {samples:?}");
}

/// `emit = 'on_window_close'` over a session aggregate: each session's final row once.
#[test]
fn sinks_get_each_session_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("events.jsonl");
    // Key a: sessions [1, 3+5) and [9, 12+5); the 30 s event closes both; key b: one session.
    let lines: Vec<String> = [(1, "a"), (2, "b"), (3, "a"), (9, "a"), (10, "b"), (12, "a"), (30, "a")]
        .iter()
        .map(|(s, k)| format!(r#"{{"k": "{k}", "ts": "2024-01-01T00:00:{s:02}Z"}}"#))
        .collect();
    std::fs::write(&input, lines.join("\n")).expect("write");
    let out = dir.path().join("sessions.jsonl");
    let text = format!(
        "CREATE SOURCE s (k VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts)
           WITH (connector = 'file', path = '{}', format = 'jsonl', batch_size = '1');
         CREATE VIEW sessions AS
           SELECT k, window_start, window_end, count(*) AS n FROM SESSION(s, ts, INTERVAL '5' SECOND, k) GROUP BY 1, 2, 3;
         CREATE SINK closed FROM sessions WITH (connector = 'file', path = '{}', format = 'jsonl', mode = 'changelog', emit = 'on_window_close');",
        input.display(),
        out.display()
    );
    let mut pipeline = common::start(&text, &common::options(1));
    common::wait_finished(&pipeline);
    pipeline.join().expect("join");
    let written = std::fs::read_to_string(&out).expect("sink output");
    let mut lines: Vec<&str> = written.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            r#"{"k":"a","window_start":"2024-01-01T00:00:01Z","window_end":"2024-01-01T00:00:08Z","n":2,"_diff":1}"#,
            r#"{"k":"a","window_start":"2024-01-01T00:00:09Z","window_end":"2024-01-01T00:00:17Z","n":2,"_diff":1}"#,
            r#"{"k":"a","window_start":"2024-01-01T00:00:30Z","window_end":"2024-01-01T00:00:35Z","n":1,"_diff":1}"#,
            r#"{"k":"b","window_start":"2024-01-01T00:00:02Z","window_end":"2024-01-01T00:00:07Z","n":1,"_diff":1}"#,
            r#"{"k":"b","window_start":"2024-01-01T00:00:10Z","window_end":"2024-01-01T00:00:15Z","n":1,"_diff":1}"#,
        ]
    );
}
