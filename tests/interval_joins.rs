//! Interval joins over event time (`engine/dataflow/src/interval_join.rs`): Nexmark auctions
//! joined with the bids of the two seconds after them give the batch answer for 1 and 2
//! workers in every written form, and their state stays flat over a longer run while the same
//! join over sources without event time (the plain join) keeps every row. Window joins of
//! closed window aggregates (`window_join.rs`, Nexmark q8's shape) likewise.

mod common;

use std::time::Duration;

use illunare_coord::Pipeline;

/// Auction and bid sources: `events` Nexmark events 1 ms apart (100 auctions ≈ 1.7 s of event
/// time, so bids reach back that far), with event time unless `watermark` is false.
fn sources(events: u64, watermark: bool) -> String {
    let wm = if watermark { ", WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND" } else { "" };
    format!(
        "CREATE SOURCE auction (id BIGINT, item_name VARCHAR, initial_bid BIGINT, date_time TIMESTAMP, seller BIGINT, category BIGINT{wm})
           WITH (connector = 'generator', kind = 'nexmark', table = 'auction', events = '{events}', interval = '1ms', seed = '3');
         CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, date_time TIMESTAMP{wm})
           WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '{events}', interval = '1ms', seed = '3');\n"
    )
}

const BETWEEN: &str = "CREATE VIEW ij AS SELECT a.id, a.seller, b.bidder, b.price, b.date_time
  FROM auction a JOIN bid b ON a.id = b.auction AND b.date_time BETWEEN a.date_time AND a.date_time + INTERVAL '2' SECOND;";

/// The plan of view `name` in `text` says it is an interval join.
fn assert_interval_plan(text: &str, name: &str) {
    let pipeline = Pipeline::load(text, &common::registry()).unwrap_or_else(|e| panic!("{}", e.render("t.sql", text)));
    let explain = pipeline
        .statements
        .iter()
        .find_map(|s| match s {
            illunare_sql::Statement::CreateView(v) if v.name == name => Some(v.plan.explain()),
            _ => None,
        })
        .expect("view");
    assert!(explain.contains("interval right #"), "{explain}");
}

#[test]
fn interval_joins_match_the_batch_oracle() {
    let text = format!(
        "{}{BETWEEN}
         CREATE VIEW ij_strict AS SELECT b.bidder, b.price, a.id, a.category
           FROM bid b, auction a WHERE b.auction = a.id AND a.date_time < b.date_time AND b.date_time < a.date_time + INTERVAL '1500' MILLISECOND;
         CREATE VIEW ij_around AS SELECT a.id, b.price
           FROM auction a JOIN bid b ON a.id = b.auction
             AND b.date_time - INTERVAL '1' SECOND <= a.date_time AND a.date_time <= b.date_time + INTERVAL '300' MILLISECOND;
         CREATE VIEW ij_counts AS SELECT a.category, count(*) AS bids, max(b.price) AS top
           FROM auction a JOIN bid b ON a.id = b.auction AND b.date_time BETWEEN a.date_time AND a.date_time + INTERVAL '2' SECOND
           GROUP BY a.category;",
        sources(20_000, true)
    );
    for view in ["ij", "ij_strict", "ij_around"] {
        assert_interval_plan(&text, view);
    }
    for workers in [1, 2] {
        let (views, errors) = common::run_collect(&text, workers);
        assert!(errors.values().all(Vec::is_empty), "{workers} worker(s): {errors:?}");
        for view in ["ij", "ij_strict", "ij_around"] {
            assert!(views[view].len() > 20, "{view} with {workers} worker(s): {:?}", views[view]);
        }
        assert_eq!(views["ij_counts"].len(), 5, "one row per category: {:?}", views["ij_counts"]);
        common::assert_matches_oracle(&text, &views, workers);
    }
}

/// The generator sources of `text` replayed at 20 000 events/s: read as fast as possible, a
/// bounded source is read long before the dataflow has processed it, and the samples would
/// measure that backlog, not the operators' state.
fn paced(text: &str) -> String {
    text.replace("interval = '1ms'", "interval = '1ms', rate = '20000'")
}

/// The largest state (arranged + pending updates) seen while the first half of the bids is
/// read, and while the second half is (the sources paced, see [`paced`]).
fn state_by_half(text: &str, source: &str, rows: u64) -> (i64, i64) {
    let text = &paced(text);
    let mut pipeline = Pipeline::load(text, &common::registry()).unwrap_or_else(|e| panic!("{}", e.render("t.sql", text)));
    let mut options = common::options(1);
    options.capture_all = false;
    options.tick = Duration::from_millis(100);
    pipeline.start(&options).expect("start");
    pipeline.close_tables();
    let metrics = pipeline.source_metrics();
    let (mut first, mut second) = (0i64, 0i64);
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while !pipeline.is_finished() {
        assert!(std::time::Instant::now() < deadline, "pipeline did not finish");
        let read: u64 = metrics.iter().filter(|(n, _)| n == source).map(|(_, m)| m.rows.load(std::sync::atomic::Ordering::Relaxed)).sum();
        let (arranged, pending) = pipeline.state_size();
        if read * 2 < rows {
            first = first.max(arranged + pending);
        } else if read < rows {
            second = second.max(arranged + pending);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    pipeline.join().expect("join");
    (first, second)
}

/// Over event time the interval join's state is bounded by the interval (plus the watermark
/// delay): it does not grow in the second half of the run. The same join over sources without
/// event time keeps every auction and bid, so its state keeps growing.
#[test]
fn interval_join_state_stays_flat() {
    let events = 150_000;
    let bids = events * 46 / 50;
    let (first, second) = state_by_half(&format!("{}{BETWEEN}", sources(events, true)), "bid", bids);
    let (plain_first, plain_second) = state_by_half(&format!("{}{BETWEEN}", sources(events, false)), "bid", bids);
    eprintln!("interval join state: {first} then {second}; plain join: {plain_first} then {plain_second}");
    assert!(second > 0 && second < (bids as i64) / 5, "interval join state {second} for {bids} bids");
    assert!(second * 2 < first * 3, "interval join state grew: {first} then {second}");
    assert!(plain_second > (bids as i64) / 2 && plain_second > first * 3, "plain join: {plain_first} then {plain_second}");
}

/// Nexmark q8's shape over 2-second windows: new persons who also opened an auction in the
/// same window. Both GROUP BYs close their windows, so the join on window_end does too.
fn window_join(events: u64) -> String {
    format!(
        "CREATE SOURCE person (id BIGINT, name VARCHAR, date_time TIMESTAMP, WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
           WITH (connector = 'generator', kind = 'nexmark', table = 'person', events = '{events}', interval = '1ms', seed = '3');
         CREATE SOURCE auction (id BIGINT, seller BIGINT, date_time TIMESTAMP, WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
           WITH (connector = 'generator', kind = 'nexmark', table = 'auction', events = '{events}', interval = '1ms', seed = '3');
         CREATE VIEW wj AS SELECT p.id, p.name, p.starttime, a.auctions FROM
           (SELECT id, name, window_start AS starttime, window_end AS endtime
              FROM TUMBLE(person, date_time, INTERVAL '2' SECOND) GROUP BY id, name, window_start, window_end) AS p
           JOIN (SELECT seller, window_start AS starttime, window_end AS endtime, count(*) AS auctions
              FROM TUMBLE(auction, date_time, INTERVAL '2' SECOND) GROUP BY seller, window_start, window_end) AS a
           ON p.id = a.seller AND p.starttime = a.starttime AND p.endtime = a.endtime;"
    )
}

#[test]
fn window_joins_of_closed_windows_match_the_oracle_and_stay_flat() {
    let text = window_join(20_000);
    for workers in [1, 2] {
        let (views, errors) = common::run_collect(&text, workers);
        assert!(errors.values().all(Vec::is_empty), "{workers} worker(s): {errors:?}");
        assert!(views["wj"].len() > 10, "{:?}", views["wj"]);
        common::assert_matches_oracle(&text, &views, workers);
    }
    let events = 150_000;
    let auctions = events * 3 / 50;
    let (first, second) = state_by_half(&window_join(events), "auction", auctions);
    eprintln!("window join state: {first} then {second}");
    assert!(second > 0 && second * 2 < first * 3, "window join state grew: {first} then {second}");
}
