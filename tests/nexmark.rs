//! Nexmark q0–q22 as pipelines (`pipelines/nexmark/qN.sql`): every query that runs is run
//! to its end with 1 and 2 workers on a small event count, and its view must equal the
//! DataFusion oracle (the same SELECT over the same events) and be the same for both worker
//! counts; q12 (processing time) is checked for what does not depend on timing. See
//! `pipelines/nexmark/README.md`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use illunare_coord::Pipeline;

/// The event count in the files, and what the tests use instead: 20 000 events, 100 µs
/// apart (the generator's default, the reference's rate), so 2 s of event time.
const FILE_EVENTS: &str = "events = '100000'";
const TEST_EVENTS: &str = "events = '20000'";
/// Bids among them: 46 of every 50 events.
const TEST_BIDS: usize = 20_000 / 50 * 46;
/// The windowed queries (q5, q7, q8, q11) get their events 10 ms apart instead, so that
/// 10 000 events span 100 s of event time: ten 10-second windows, fifty 10-second hops
/// sliding by 2 s, and bidders with several sessions (gaps of 10 s or more).
const WINDOWED: [u32; 4] = [5, 7, 8, 11];
const WINDOWED_EVENTS: &str = "events = '10000', interval = '10ms'";
const WINDOWED_BIDS: usize = 10_000 / 50 * 46;

/// The text of `pipelines/nexmark/q{q}.sql` with the test's event count (and the working
/// directory set to the repository, for q13's side-input file).
fn pipeline(q: u32) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::set_current_dir(dir).expect("cd to the repository");
    let path = dir.join(format!("pipelines/nexmark/q{q}.sql"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(text.contains(FILE_EVENTS), "q{q}.sql: every nexmark source is expected to have {FILE_EVENTS}");
    text.replace(FILE_EVENTS, if WINDOWED.contains(&q) { WINDOWED_EVENTS } else { TEST_EVENTS })
}

/// Runs `text` with 1 and 2 workers: no view may have error rows, `nexmark_q{q}` must not be
/// empty, every view must equal the oracle, and both runs must give the same views.
fn run_checked(q: u32, text: &str) -> BTreeMap<String, Vec<String>> {
    let view = format!("nexmark_q{q}");
    let mut first: Option<BTreeMap<String, Vec<String>>> = None;
    for workers in [1, 2] {
        let (views, errors) = common::run_collect(text, workers);
        assert!(errors.values().all(Vec::is_empty), "q{q} with {workers} worker(s): error rows {errors:?}");
        assert!(!views[&view].is_empty(), "q{q} with {workers} worker(s): {view} is empty");
        common::assert_matches_oracle(text, &views, workers);
        match &first {
            None => first = Some(views),
            Some(one) => {
                for (name, rows) in one {
                    assert!(
                        illunare_coord::oracle::same_answer(rows, &views[name]),
                        "q{q}: {name} differs between 1 and 2 workers"
                    );
                }
            }
        }
    }
    first.expect("ran")
}

/// Runs query `q` as written (with the test's event count) and returns its view's rows.
fn check(q: u32) -> Vec<String> {
    let text = pipeline(q);
    let has_sink = text.lines().any(|l| l.trim_start().starts_with("CREATE SINK"));
    assert!(!has_sink, "q{q}.sql has a sink: send it to a temporary directory (as q10's test does)");
    run_checked(q, &text).remove(&format!("nexmark_q{q}")).expect("view")
}

/// Splits a canonical row into its fields.
fn fields(row: &str) -> Vec<&str> {
    row.split(" | ").collect()
}

#[test]
fn q0_pass_through() {
    let rows = check(0);
    assert_eq!(rows.len(), TEST_BIDS);
}

#[test]
fn q1_currency_conversion() {
    let rows = check(1);
    assert_eq!(rows.len(), TEST_BIDS);
}

#[test]
fn q2_selection() {
    let rows = check(2);
    assert!(rows.iter().all(|r| fields(r)[0].parse::<u64>().expect("auction") % 123 == 0), "{rows:?}");
}

#[test]
fn q3_local_item_suggestion() {
    let rows = check(3);
    assert!(rows.iter().all(|r| ["OR", "ID", "CA"].contains(&fields(r)[2])), "{rows:?}");
}

#[test]
fn q4_average_price_for_a_category() {
    let rows = check(4);
    assert_eq!(rows.len(), 5, "one row per category 10..14: {rows:?}");
}

#[test]
fn q5_hot_items() {
    check(5);
    // Both sides of the join count bids per auction and window: DataFusion plans the same
    // aggregate twice, the dataflow renders it once (`illunare_plan::fingerprint`).
    let text = pipeline(5);
    let pipeline = Pipeline::load(&text, &common::registry()).expect("load");
    let explain = pipeline
        .statements
        .iter()
        .find_map(|s| match s {
            illunare_sql::Statement::CreateView(v) if v.name == "nexmark_q5" => Some(v.plan.explain()),
            _ => None,
        })
        .expect("q5 view");
    assert_eq!(explain.matches("[same as above: rendered once, shared]").count(), 1, "{explain}");
}

#[test]
fn q6_average_selling_price_by_seller() {
    check(6);
}

#[test]
fn q7_highest_bid() {
    let rows = check(7);
    // 100 s of events: each of the ten 10-second windows has its highest bid(s).
    assert!(rows.len() >= 10, "{rows:?}");
}

#[test]
fn q8_monitor_new_users() {
    check(8);
}

#[test]
fn q9_winning_bids() {
    let rows = check(9);
    // At most one row per auction.
    let auctions: std::collections::BTreeSet<&str> = rows.iter().map(|r| fields(r)[0]).collect();
    assert_eq!(auctions.len(), rows.len());
}

/// q10 ships with its partitioned file sink; here it writes into a temporary directory (the
/// partitions themselves are checked over several minutes in tests/partitioned_sink.rs).
#[test]
fn q10_log_to_file_system() {
    let out = tempfile::tempdir().expect("tempdir");
    let sink_path = "path = 'out/nexmark/q10'";
    let text = pipeline(10);
    assert!(text.contains(sink_path), "q10.sql is expected to write to {sink_path}");
    let text = text.replace(sink_path, &format!("path = '{}'", out.path().display()));
    let rows = run_checked(10, &text).remove("nexmark_q10").expect("view");
    assert_eq!(rows.len(), TEST_BIDS);
    assert!(rows.iter().all(|r| fields(r)[5] == "2024-01-01" && fields(r)[6] == "00:00"), "{:?}", &rows[..3]);
    let partition = out.path().join("dt=2024-01-01/hm=00%3A00");
    let written = std::fs::read_to_string(partition.join("part.csv")).expect("the partition's file");
    assert_eq!(written.lines().count(), TEST_BIDS + 1, "a header and every bid");
    assert!(partition.join("_SUCCESS").exists(), "committed at the end");
}

/// q11's SESSION windows: besides the oracle (DataFusion running a window-function
/// formulation), check them against sessions computed here from the raw bids.
#[test]
fn q11_user_sessions() {
    let text = pipeline(11)
        + "
        CREATE VIEW q11_bids AS SELECT bidder, CAST(date_time AS BIGINT) AS t FROM bid;
        CREATE VIEW q11_sessions AS
          SELECT bidder, bid_count, CAST(starttime AS BIGINT) AS s, CAST(endtime AS BIGINT) AS e FROM nexmark_q11;";
    let views = run_checked(11, &text);
    let gap: i64 = 10_000_000_000; // 10 s in ns
    let mut times: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for row in &views["q11_bids"] {
        let f = fields(row);
        times.entry(f[0].parse().expect("bidder")).or_default().push(f[1].parse().expect("t"));
    }
    let mut expected = Vec::new();
    for (bidder, mut ts) in times {
        ts.sort_unstable();
        let (mut start, mut last, mut count) = (ts[0], ts[0], 0);
        for t in ts {
            if t - last >= gap {
                expected.push(format!("{bidder} | {count} | {start} | {}", last + gap));
                (start, count) = (t, 0);
            }
            last = t;
            count += 1;
        }
        expected.push(format!("{bidder} | {count} | {start} | {}", last + gap));
    }
    expected.sort();
    assert_eq!(views["q11_sessions"], expected);
    assert!(views["q11_sessions"].len() > views["q11_sessions"].iter().map(|r| fields(r)[0]).collect::<std::collections::BTreeSet<_>>().len(), "some bidder has several sessions");
    let total: usize = views["nexmark_q11"].iter().map(|r| fields(r)[1].parse::<usize>().expect("count")).sum();
    assert_eq!(total, WINDOWED_BIDS, "every bid is in exactly one session");
}

/// q12 counts bids per bidder in 10 s windows of processing time (PROCTIME()): the answer
/// depends on timing, so it is checked for what does not: every bid is counted exactly once, in
/// a 10-second window around the time the test ran.
#[test]
fn q12_processing_time_windows() {
    let text = pipeline(12);
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    for workers in [1, 2] {
        let (views, errors) = common::run_collect(&text, workers);
        assert!(errors.values().all(Vec::is_empty), "q12 with {workers} worker(s): error rows {errors:?}");
        let rows = &views["nexmark_q12"];
        let total: usize = rows.iter().map(|r| fields(r)[1].parse::<usize>().expect("count")).sum();
        assert_eq!(total, TEST_BIDS, "every bid counted once: {rows:?}");
        for row in rows {
            let f = fields(row);
            let start = chrono::DateTime::parse_from_rfc3339(f[2]).unwrap_or_else(|e| panic!("{row}: {e}"));
            let end = chrono::DateTime::parse_from_rfc3339(f[3]).unwrap_or_else(|e| panic!("{row}: {e}"));
            assert_eq!((end - start).num_seconds(), 10, "{row}");
            assert_eq!(start.timestamp() % 10, 0, "{row}");
            let after = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
            assert!(start.timestamp() as u64 + 10 > before && start.timestamp() as u64 <= after, "{row}: window not around the run");
        }
    }
    // Anywhere but over a source, PROCTIME() is refused at the call.
    let bad = "CREATE TABLE t (k BIGINT);\nCREATE VIEW v AS SELECT k, PROCTIME() AS p FROM t;";
    let e = Pipeline::load(bad, &common::registry()).err().expect("PROCTIME over a table").render("bad.sql", bad);
    assert!(e.contains("bad.sql:2:28: error: PROCTIME() can only be computed over a source"), "{e}");
}

#[test]
fn q13_bounded_side_input_join() {
    let rows = check(13);
    assert_eq!(rows.len(), TEST_BIDS, "every bid finds its side input row");
}

#[test]
fn q14_calculation() {
    check(14);
}

#[test]
fn q15_bidding_statistics_report() {
    let rows = check(15);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(fields(&rows[0])[1], TEST_BIDS.to_string());
}

#[test]
fn q16_channel_statistics_report() {
    check(16);
}

#[test]
fn q17_auction_statistics_report() {
    check(17);
}

#[test]
fn q18_find_last_bid() {
    check(18);
}

#[test]
fn q19_auction_top_10_price() {
    let rows = check(19);
    assert!(rows.iter().all(|r| fields(r).last().expect("rank").parse::<u32>().expect("rank") <= 10));
}

#[test]
fn q20_expand_bid_with_auction() {
    check(20);
}

#[test]
fn q21_add_channel_id() {
    check(21);
}

#[test]
fn q22_url_directories() {
    let rows = check(22);
    assert_eq!(rows.len(), TEST_BIDS);
}

/// The event-time queries with windows, sessions or time conditions again over out-of-order
/// events (each event up to 2 s early, within the sources' 4-second watermark delay): no row
/// is late, and the views still equal the batch answer.
#[test]
fn event_time_queries_over_out_of_order_events() {
    for q in [4, 5, 7, 8, 11] {
        let mut text = pipeline(q).replace("seed = '1'", "seed = '1', out_of_order = '2s'");
        for source in ["person", "auction", "bid"] {
            if text.contains(&format!("CREATE SOURCE {source} ")) {
                text += &format!("\nCREATE VIEW late_{source} AS SELECT count(*) AS n FROM {source}_late;");
            }
        }
        let views = common::run_and_compare(&text, 2);
        for (name, rows) in &views {
            if name.starts_with("late") {
                assert_eq!(rows, &vec!["0".to_string()], "q{q}: {name}");
            }
        }
        assert!(!views[&format!("nexmark_q{q}")].is_empty());
    }
}
