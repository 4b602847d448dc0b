//! `CREATE VIEW … EMIT ON WINDOW CLOSE`: each window's rows appear once, final, when the
//! watermark passes the window's end; the final answer is the always-current view's (and
//! DataFusion's); what comes after the window aggregate sees closed windows only.

mod common;

use common::{run_and_compare, run_collect};

/// Window aggregates of every kind (fused into the source or not; accumulable, min/max,
/// recomputed, DISTINCT), a MAX over a window aggregate's counts joined back to them (Nexmark
/// q5's shape, with `window_end` renamed), raw rows bounded by a window's end (q7's shape), and
/// a window join (q8's): with the clause, the views equal the batch answer, for 1 and 2
/// workers, and nothing reaches a window after it was emitted.
#[test]
fn views_emitting_on_window_close_equal_the_batch_answer() {
    let text = "
        CREATE SOURCE tx (tx_id BIGINT, card_id VARCHAR, merchant VARCHAR, amount DOUBLE, ts TIMESTAMP,
                          WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
          WITH (connector = 'generator', kind = 'transactions', rows = '20000', seed = '11', merchants = '25', splits = '3');
        CREATE SOURCE hop_tx (merchant VARCHAR, amount DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
          WITH (connector = 'generator', kind = 'transactions', rows = '8000', seed = '12', merchants = '12', splits = '2');
        CREATE VIEW tumbling AS
          SELECT merchant, window_start, window_end, count(*) AS n, sum(amount) AS total, max(amount) AS hi,
                 min(card_id) AS first_card, count(DISTINCT card_id) AS cards
          FROM TUMBLE(tx, ts, INTERVAL '2' SECOND) GROUP BY merchant, window_start, window_end
          EMIT ON WINDOW CLOSE;
        CREATE VIEW hottest AS
          SELECT c.merchant, c.n, c.wend
          FROM (SELECT merchant, count(*) AS n, window_end AS wend FROM HOP(hop_tx, ts, INTERVAL '1' SECOND, INTERVAL '3' SECOND)
                GROUP BY merchant, window_start, window_end) AS c
          JOIN (SELECT max(n) AS top, wend FROM (SELECT merchant, count(*) AS n, window_end AS wend
                  FROM HOP(hop_tx, ts, INTERVAL '1' SECOND, INTERVAL '3' SECOND) GROUP BY merchant, window_start, window_end) AS x
                GROUP BY wend) AS m
          ON c.wend = m.wend AND c.n >= m.top
          EMIT ON WINDOW CLOSE;
        CREATE VIEW biggest AS
          SELECT t.tx_id, t.merchant, t.amount, w.wend
          FROM tx AS t
          JOIN (SELECT max(amount) AS top, window_end AS wend FROM TUMBLE(tx, ts, INTERVAL '5' SECOND) GROUP BY window_start, window_end) AS w
          ON t.amount = w.top
          WHERE t.ts BETWEEN w.wend - INTERVAL '5' SECOND AND w.wend
          EMIT ON WINDOW CLOSE;
        CREATE VIEW both_busy AS
          SELECT a.merchant, a.window_end, a.n, b.m
          FROM (SELECT merchant, window_end, count(*) AS n FROM TUMBLE(tx, ts, INTERVAL '4' SECOND) GROUP BY merchant, window_start, window_end) AS a
          JOIN (SELECT merchant, window_end, count(*) AS m FROM TUMBLE(hop_tx, ts, INTERVAL '4' SECOND) GROUP BY merchant, window_start, window_end) AS b
          ON a.merchant = b.merchant AND a.window_end = b.window_end
          EMIT ON WINDOW CLOSE;";
    for workers in [1, 2] {
        let (views, errors) = run_collect(text, workers);
        assert!(errors.values().all(Vec::is_empty), "{errors:?}");
        assert!(views["tumbling"].len() > 100, "{}", views["tumbling"].len());
        assert!(!views["hottest"].is_empty() && !views["biggest"].is_empty() && !views["both_busy"].is_empty());
        run_and_compare(text, workers);
    }
}

/// The view's changes, as a changelog sink sees them: each window's row once, with no updates
/// while the window is open and no retraction afterwards; without the clause, the same view
/// updates its open windows.
#[test]
fn each_window_appears_once_when_it_closes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("events.jsonl");
    let lines: Vec<String> =
        [1, 2, 3, 11, 12, 25].iter().map(|s| format!(r#"{{"k": "a", "ts": "2024-01-01T00:00:{s:02}Z"}}"#)).collect();
    std::fs::write(&input, lines.join("\n")).expect("write");
    let run = |emit: &str| {
        let out = dir.path().join(format!("changes{}.jsonl", emit.len()));
        let text = format!(
            "CREATE SOURCE s (k VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts)
               WITH (connector = 'file', path = '{}', format = 'jsonl', batch_size = '1');
             CREATE VIEW counts AS SELECT k, window_end, count(*) AS n FROM TUMBLE(s, ts, INTERVAL '10' SECOND)
               GROUP BY k, window_start, window_end {emit};
             CREATE SINK changes FROM counts WITH (connector = 'file', path = '{}', format = 'jsonl', mode = 'changelog');",
            input.display(),
            out.display()
        );
        let mut pipeline = common::start(&text, &common::options(1));
        common::wait_finished(&pipeline);
        pipeline.join().expect("join");
        std::fs::read_to_string(&out).expect("sink output")
    };
    let closed = run("EMIT ON WINDOW CLOSE");
    assert_eq!(
        closed.lines().collect::<Vec<_>>(),
        vec![
            r#"{"k":"a","window_end":"2024-01-01T00:00:10Z","n":3,"_diff":1}"#,
            r#"{"k":"a","window_end":"2024-01-01T00:00:20Z","n":2,"_diff":1}"#,
            r#"{"k":"a","window_end":"2024-01-01T00:00:30Z","n":1,"_diff":1}"#,
        ]
    );
    let current = run("");
    assert!(current.contains(r#""n":1,"_diff":-1"#), "the always-current view updates open windows: {current}");
}

/// Where the clause cannot mean anything it is refused at its line and column.
#[test]
fn the_clause_is_refused_where_no_watermark_closes_a_window() {
    let source = "CREATE SOURCE s (device VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts)\n  WITH (connector = 'generator', kind = 'devices', rows = '1');\n";
    let registry = common::registry();
    let error = |text: &str| illunare_coord::Pipeline::load(text, &registry).err().expect("must fail").render("p.sql", text);
    // No window at all.
    let text = format!("{source}CREATE VIEW v AS SELECT device, count(*) AS n FROM s GROUP BY device\n  EMIT ON WINDOW CLOSE;");
    let e = error(&text);
    assert!(e.contains("p.sql:4:3") && e.contains("no") && e.contains("window aggregate"), "{e}");
    // A window over a table (no event time).
    let text = "CREATE TABLE t (k VARCHAR, ts TIMESTAMP);\nCREATE VIEW v AS SELECT k, window_end, count(*) AS n FROM TUMBLE(t, ts, INTERVAL '1' MINUTE)\n  GROUP BY k, window_start, window_end EMIT ON WINDOW CLOSE;";
    let e = error(text);
    assert!(e.contains("p.sql:3:40") && e.contains("'t'") && e.contains("no event time"), "{e}");
    // After a statement other than a view.
    let text = format!("{source}CREATE SINK o FROM s WITH (connector = 'stdout') EMIT ON WINDOW CLOSE;");
    assert!(error(&text).contains("p.sql:3:"), "{}", error(&text));
    // Misspelt.
    let text = format!("{source}CREATE VIEW v AS SELECT device, count(*) AS n FROM s GROUP BY device EMIT ON CLOSE;");
    assert!(error(&text).contains("EMIT ON WINDOW CLOSE"), "{}", error(&text));
    // Accepted, and EXPLAIN says so.
    let text = format!("{source}CREATE VIEW v AS SELECT device, window_end, count(*) AS n FROM TUMBLE(s, ts, INTERVAL '1' MINUTE) GROUP BY device, window_start, window_end EMIT ON WINDOW CLOSE;");
    let pipeline = illunare_coord::Pipeline::load(&text, &registry).unwrap_or_else(|e| panic!("{}", e.render("p.sql", &text)));
    let explain = pipeline
        .statements
        .iter()
        .find_map(|s| match s {
            illunare_sql::Statement::CreateView(v) => Some(v.plan.explain()),
            _ => None,
        })
        .expect("view");
    assert!(explain.contains("emit on window close"), "{explain}");
}
