//! Pipelines sinking into Parquet, read back by DataFusion: a changing view's changelog sums to
//! the view, and `emit = 'on_window_close'` writes each window's final row exactly once.

mod common;

use illunare_coord::oracle::canonical;

fn view_rows(pipeline: &illunare_coord::Pipeline, view: &str) -> Vec<String> {
    let mut out: Vec<String> =
        pipeline.final_rows(view).unwrap_or_default().iter().map(|r| r.iter().map(|d| format!("{d:?}")).collect::<Vec<_>>().join(" | ")).collect();
    out.sort();
    out
}

#[test]
fn a_changelog_sums_to_the_view() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = format!(
        "CREATE SOURCE tx (merchant VARCHAR, amount DOUBLE, ts TIMESTAMP)
           WITH (connector = 'generator', kind = 'transactions', rows = '30000', merchants = '500', seed = '5', rate = '100000');
         CREATE VIEW quiet AS SELECT merchant, count(*) AS sales FROM tx GROUP BY merchant HAVING count(*) <= 60;
         CREATE SINK lake FROM quiet WITH (connector = 'parquet', path = '{}', rollover_rows = '200');",
        dir.path().display()
    );
    let mut pipeline = common::start(&sql, &common::options(2));
    common::wait_finished(&pipeline);
    let view = view_rows(&pipeline, "quiet");
    pipeline.join().expect("join");
    let lake = common::parquet_rows(dir.path(), "SELECT merchant, sales FROM t GROUP BY merchant, sales HAVING sum(_diff) <> 0");
    assert!(view.len() > 50, "{}", view.len());
    assert_eq!(lake, view);
    let retractions = common::parquet_rows(dir.path(), "SELECT count(*) FROM t WHERE _diff < 0");
    assert_ne!(retractions, vec!["Int(0)".to_string()], "rows left the view: the changelog has retractions");
}

#[test]
fn on_window_close_writes_each_final_window_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = format!(
        "CREATE SOURCE bid (auction BIGINT, price BIGINT, date_time TIMESTAMP, WATERMARK FOR date_time AS date_time - INTERVAL '1' SECOND)
           WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '50000', seed = '2');
         CREATE VIEW per_window AS
           SELECT auction, window_start, window_end, count(*) AS bids, max(price) AS top
           FROM TUMBLE(bid, date_time, INTERVAL '1' SECOND) GROUP BY auction, window_start, window_end;
         CREATE SINK lake FROM per_window WITH (connector = 'parquet', path = '{}', emit = 'on_window_close', partition_by = 'window_start');",
        dir.path().display()
    );
    let mut pipeline = common::start(&sql, &common::options(2));
    common::wait_finished(&pipeline);
    let schema = pipeline.planner.catalog()["per_window"].schema.clone();
    let view = canonical(&pipeline.final_rows("per_window").unwrap_or_default(), &schema);
    pipeline.join().expect("join");
    assert_eq!(common::parquet_rows(dir.path(), "SELECT count(*) FROM t WHERE _diff <> 1"), vec!["Int(0)".to_string()]);
    let written = common::parquet_rows(dir.path(), "SELECT count(*) FROM t");
    assert_eq!(written, vec![format!("Int({})", view.len())], "one row per final window");
}
