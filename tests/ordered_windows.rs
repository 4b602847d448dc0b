//! Ordered window functions (LAG/LEAD, framed aggregates) over event-time sources: equal to the
//! batch answer for any worker count, and with bounded state when the frames look back a
//! bounded distance in event time (`engine/dataflow/src/ordered_window.rs`, `Release`).

mod common;

use common::{assert_matches_oracle, options, run_and_compare};

const SOURCE: &str = "
    CREATE SOURCE tx (tx_id BIGINT, card_id VARCHAR, merchant VARCHAR, amount DOUBLE, ts TIMESTAMP,
                      WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
      WITH (connector = 'generator', kind = 'transactions', rows = '20000', seed = '4', cards = '20', merchants = '5', splits = '3', batch_size = '200');";

/// LAG and a RANGE-interval sum per card over an in-order event-time source.
#[test]
fn lag_and_range_sums_match_datafusion() {
    let text = format!(
        "{SOURCE}
        CREATE VIEW per_card AS
          SELECT card_id, ts, amount,
                 LAG(amount) OVER (PARTITION BY card_id ORDER BY ts) AS prev_amount,
                 LEAD(merchant, 2, 'none') OVER (PARTITION BY card_id ORDER BY ts) AS next2,
                 sum(amount) OVER (PARTITION BY card_id ORDER BY ts RANGE BETWEEN INTERVAL '200' MILLISECOND PRECEDING AND CURRENT ROW) AS spent,
                 count(*) OVER (PARTITION BY card_id ORDER BY ts ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS n4
          FROM tx;
        CREATE VIEW running AS
          SELECT merchant, ts, max(amount) OVER (PARTITION BY merchant ORDER BY ts) AS running_max FROM tx WHERE amount > 400;"
    );
    for workers in [1, 2] {
        let views = run_and_compare(&text, workers);
        assert_eq!(views["per_card"].len(), 20000);
    }
}

/// Runs `text` to its end and returns the updates held in state when it finished.
fn held_state(text: &str) -> i64 {
    let mut pipeline = common::start(text, &options(1));
    common::wait_finished(&pipeline);
    let (arranged, _) = pipeline.state_size();
    pipeline.join().unwrap_or_else(|e| panic!("{e}"));
    arranged
}

/// Bounded look-back (LAG, ROWS n, RANGE interval) over event time releases old rows; an
/// unbounded frame keeps every row (and both still equal the batch answer).
#[test]
fn state_stays_bounded_for_bounded_frames() {
    let bounded = format!(
        "{SOURCE}
        CREATE VIEW w AS SELECT card_id, ts, LAG(amount, 2) OVER (PARTITION BY card_id ORDER BY ts) AS p,
               sum(amount) OVER (PARTITION BY card_id ORDER BY ts RANGE BETWEEN INTERVAL '50' MILLISECOND PRECEDING AND CURRENT ROW) AS s
        FROM tx;"
    );
    let unbounded = format!("{SOURCE} CREATE VIEW w AS SELECT card_id, ts, sum(amount) OVER (PARTITION BY card_id ORDER BY ts) AS s FROM tx;");
    let kept = held_state(&bounded);
    let all = held_state(&unbounded);
    assert!(all >= 20000, "an unbounded frame keeps every row: {all}");
    // The watermark trails by 1 s (1000 rows of event time): what is held is about that.
    assert!(kept < 3000, "bounded frames keep the recent rows only: {kept}");
    let (views, _) = common::run_collect(&bounded, 2);
    assert_matches_oracle(&bounded, &views, 2);
}
