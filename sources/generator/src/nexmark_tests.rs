//! Tests of the `nexmark` kind: the reference's proportions, ids and references, determinism
//! across split counts, projections, options, out-of-order times, unbounded reading and the
//! synchronous API.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use arrow::array::AsArray;
use arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use illunare_connector::{ConnectorError, Position, SourceSpec};

use crate::nexmark::{
    AUCTION_ID_LEAD, DEFAULT_ACTIVE_PEOPLE, DEFAULT_IN_FLIGHT_AUCTIONS, FIRST_AUCTION_ID, FIRST_PERSON_ID, HOT_BATCH,
    PERSON_ID_LEAD, last_base0_auction, last_base0_person,
};
use crate::tests::{column, concat, create, create_err, read_all, row_strings, spec, spec_with};
use crate::{generate_nexmark_batches, nexmark_schema};

/// `2024-01-01T00:00:00Z`, the bounded default start, in µs.
const START_US: i64 = 1_704_067_200_000_000;
/// The bounded default interval between events, in µs.
const INTERVAL_US: i64 = 100;

fn nx(table: &str, opts: &[(&str, &str)]) -> SourceSpec {
    let mut all = vec![("connector", "generator"), ("kind", "nexmark"), ("table", table)];
    all.extend_from_slice(opts);
    spec_with(nexmark_schema(table).unwrap(), &all)
}

async fn read_table(table: &str, opts: &[(&str, &str)]) -> RecordBatch {
    concat(&read_all(&create(&nx(table, opts)), false).await)
}

fn ints(b: &RecordBatch, name: &str) -> Vec<i64> {
    column(b, name).as_primitive::<Int64Type>().values().to_vec()
}

fn times(b: &RecordBatch, name: &str) -> Vec<i64> {
    column(b, name).as_primitive::<TimestampMicrosecondType>().values().to_vec()
}

fn strs(b: &RecordBatch, name: &str) -> Vec<String> {
    column(b, name).as_string::<i32>().iter().map(|s| s.expect("no nulls").to_string()).collect()
}

/// The event number of a row from its (in-order) `date_time`.
fn event_of(date_time_us: i64) -> u64 {
    let offset = date_time_us - START_US;
    assert_eq!(offset % INTERVAL_US, 0, "date_time {date_time_us} is not on the event grid");
    (offset / INTERVAL_US) as u64
}

#[tokio::test]
async fn proportions_and_ids_follow_the_reference() {
    let opts = [("events", "50000"), ("seed", "1")];
    let person = read_table("person", &opts).await;
    let auction = read_table("auction", &opts).await;
    let bid = read_table("bid", &opts).await;
    // Exactly 1:3:46 of 50 000 events.
    assert_eq!((person.num_rows(), auction.num_rows(), bid.num_rows()), (1000, 3000, 46_000));

    // Ids are dense from 1000, increasing with the event number (splits read in order).
    let ids = ints(&person, "id");
    assert_eq!(ids, (1000..2000).collect::<Vec<i64>>());
    let ids = ints(&auction, "id");
    assert_eq!(ids, (1000..4000).collect::<Vec<i64>>());
    // Person `p` is event 50p, auction `a` event 50⌊a/3⌋ + a%3 + 1.
    for (id, t) in ints(&person, "id").iter().zip(times(&person, "date_time")) {
        assert_eq!(event_of(t), (*id as u64 - FIRST_PERSON_ID) * 50);
    }
    for (id, t) in ints(&auction, "id").iter().zip(times(&auction, "date_time")) {
        let a = *id as u64 - FIRST_AUCTION_ID;
        assert_eq!(event_of(t), a / 3 * 50 + a % 3 + 1);
    }
    let bid_events: Vec<u64> = times(&bid, "date_time").into_iter().map(event_of).collect();
    assert!(bid_events.iter().all(|e| e % 50 >= 4));
    assert!(bid_events.windows(2).all(|w| w[0] < w[1]));
    assert_eq!((bid_events[0], *bid_events.last().unwrap()), (4, 49_999));
}

#[tokio::test]
async fn references_point_at_existing_or_in_flight_rows() {
    let opts = [("events", "200000"), ("seed", "5")];
    let person = read_table("person", &opts).await;
    let auction = read_table("auction", &opts).await;
    let bid = read_table("bid", &opts).await;
    let person_time: HashMap<i64, i64> =
        ints(&person, "id").into_iter().zip(times(&person, "date_time")).collect();
    let auction_time: HashMap<i64, i64> =
        ints(&auction, "id").into_iter().zip(times(&auction, "date_time")).collect();

    // Bids: the hot auction (first of the current batch of 100), or one of the 100 latest
    // auctions, or one of the next 10 (the reference's lead).
    let (mut hot, mut ahead, mut bidder_ahead, mut hot_bidders) = (0usize, 0usize, 0usize, 0usize);
    let bid_times = times(&bid, "date_time");
    for ((a, p), t) in ints(&bid, "auction").into_iter().zip(ints(&bid, "bidder")).zip(bid_times) {
        let e = event_of(t);
        let last = last_base0_auction(e) + FIRST_AUCTION_ID;
        let first = last.saturating_sub(FIRST_AUCTION_ID + DEFAULT_IN_FLIGHT_AUCTIONS) + FIRST_AUCTION_ID;
        let a = a as u64;
        assert!((first..=last + AUCTION_ID_LEAD).contains(&a), "bid at event {e}: auction {a}, latest {last}");
        if a == (last - FIRST_AUCTION_ID) / HOT_BATCH * HOT_BATCH + FIRST_AUCTION_ID {
            hot += 1;
        }
        if a > last {
            ahead += 1;
        } else {
            // An auction already generated, before the bid.
            let created = auction_time[&(a as i64)];
            assert!(created <= t, "bid at {t} for auction {a} created at {created}");
        }
        let last_person = last_base0_person(e) + FIRST_PERSON_ID;
        let p = p as u64;
        let oldest = (last_person + 1).saturating_sub(DEFAULT_ACTIVE_PEOPLE).max(FIRST_PERSON_ID);
        assert!((oldest..=last_person + PERSON_ID_LEAD).contains(&p), "bid at event {e}: bidder {p}");
        if p == (last_person - FIRST_PERSON_ID) / HOT_BATCH * HOT_BATCH + 1 + FIRST_PERSON_ID {
            hot_bidders += 1;
        }
        if p > last_person {
            bidder_ahead += 1;
        } else if p <= *person_time.keys().max().unwrap() as u64 {
            assert!(person_time[&(p as i64)] <= t);
        }
    }
    let n = bid.num_rows() as f64;
    // P(hot) = 1/2 + 1/2 × (chance a random pick is the hot one); lead picks ≈ 1/2 × 10/111.
    assert!((0.5..0.56).contains(&(hot as f64 / n)), "hot auction share {}", hot as f64 / n);
    assert!((0.03..0.06).contains(&(ahead as f64 / n)), "future auction share {}", ahead as f64 / n);
    assert!((0.74..0.77).contains(&(hot_bidders as f64 / n)), "hot bidder share {}", hot_bidders as f64 / n);
    // 1/4 × 10/(active + 10): more while there are fewer than 1000 people.
    assert!((bidder_ahead as f64 / n) < 0.02, "future bidder share {}", bidder_ahead as f64 / n);

    // Auctions: the seller is the hot seller (first of the batch of 100), an active person,
    // or one of the next 10 people.
    let (mut hot_sellers, mut seller_ahead) = (0usize, 0usize);
    let auction_times = times(&auction, "date_time");
    for (s, t) in ints(&auction, "seller").into_iter().zip(auction_times) {
        let e = event_of(t);
        let last_person = last_base0_person(e) + FIRST_PERSON_ID;
        let s = s as u64;
        let oldest = (last_person + 1).saturating_sub(DEFAULT_ACTIVE_PEOPLE).max(FIRST_PERSON_ID);
        assert!((oldest..=last_person + PERSON_ID_LEAD).contains(&s), "auction at event {e}: seller {s}");
        if s == (last_person - FIRST_PERSON_ID) / HOT_BATCH * HOT_BATCH + FIRST_PERSON_ID {
            hot_sellers += 1;
        }
        if s > last_person {
            seller_ahead += 1;
        } else {
            assert!(person_time[&(s as i64)] <= t, "seller {s} of an auction at {t}");
        }
    }
    let n = auction.num_rows() as f64;
    assert!((0.73..0.78).contains(&(hot_sellers as f64 / n)), "hot seller share {}", hot_sellers as f64 / n);
    assert!((seller_ahead as f64 / n) < 0.02, "future seller share {}", seller_ahead as f64 / n);
}

#[tokio::test]
async fn values_are_distributed_as_the_reference() {
    let opts = [("events", "100000"), ("seed", "3")];
    let auction = read_table("auction", &opts).await;
    let bid = read_table("bid", &opts).await;
    let person = read_table("person", &opts).await;

    // Prices: round(10^(6u) × 100), log-uniform in [100, 1e8]; median 1e5.
    let mut prices = ints(&bid, "price");
    assert!(prices.iter().all(|p| (100..=100_000_000).contains(p)));
    prices.sort_unstable();
    let median = prices[prices.len() / 2];
    assert!((70_000..140_000).contains(&median), "median price {median}");
    let initial = ints(&auction, "initial_bid");
    let reserve = ints(&auction, "reserve");
    assert!(initial.iter().zip(&reserve).all(|(i, r)| r - i >= 100));
    assert!(ints(&auction, "category").iter().all(|c| (10..15).contains(c)));
    assert_eq!(ints(&auction, "category").into_iter().collect::<BTreeSet<_>>().len(), 5);

    // Auctions last 1 ms + U[0, 2 × 166 ms): about 167 ms on average.
    let lengths: Vec<i64> =
        times(&auction, "expires").iter().zip(times(&auction, "date_time")).map(|(x, t)| x - t).collect();
    assert!(lengths.iter().all(|l| (1000..=333_000).contains(l) && l % 1000 == 0), "{:?}", lengths.iter().max());
    let mean = lengths.iter().sum::<i64>() as f64 / lengths.len() as f64;
    assert!((150_000.0..185_000.0).contains(&mean), "mean auction length {mean} µs");

    // Rows average the reference's sizes (its accounting: 8 bytes per number or time).
    let bid_size = strs(&bid, "extra").iter().map(|x| 32 + x.len()).sum::<usize>() as f64 / bid.num_rows() as f64;
    assert!((bid_size - 100.0).abs() < 2.0, "bid size {bid_size}");
    let item = strs(&auction, "item_name");
    let desc = strs(&auction, "description");
    let extra = strs(&auction, "extra");
    let auction_size =
        (0..auction.num_rows()).map(|r| 48 + item[r].len() + desc[r].len() + extra[r].len()).sum::<usize>() as f64
            / auction.num_rows() as f64;
    assert!((auction_size - 500.0).abs() < 10.0, "auction size {auction_size}");
    assert!(item.iter().all(|s| (1..20).contains(&s.len()) && s.trim() == s));
    assert!(desc.iter().all(|s| (1..100).contains(&s.len()) && s.trim() == s));
    assert!(extra.iter().chain(strs(&bid, "extra").iter()).all(|s| s.bytes().all(|b| b.is_ascii_lowercase())));

    // Persons: reference lists and formats.
    let names = strs(&person, "name");
    let first: BTreeSet<&str> = names.iter().map(|n| n.split(' ').next().unwrap()).collect();
    assert_eq!(first.len(), 11, "{first:?}");
    assert!(strs(&person, "state").iter().all(|s| ["AZ", "CA", "ID", "OR", "WA", "WY"].contains(&s.as_str())));
    assert_eq!(strs(&person, "city").into_iter().collect::<BTreeSet<_>>().len(), 10);
    for card in strs(&person, "credit_card") {
        let groups: Vec<&str> = card.split(' ').collect();
        assert!(groups.len() == 4 && groups.iter().all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_digit())));
    }
    for email in strs(&person, "email_address") {
        let (user, host) = email.split_once('@').unwrap();
        assert!(!user.is_empty() && host.ends_with(".com") && host.len() > 4, "{email}");
    }
    let person_size = (0..person.num_rows())
        .map(|r| {
            ["name", "email_address", "credit_card", "city", "state", "extra"]
                .iter()
                .map(|c| column(&person, c).as_string::<i32>().value(r).len())
                .sum::<usize>()
                + 8
        })
        .sum::<usize>() as f64
        / person.num_rows() as f64;
    assert!((person_size - 200.0).abs() < 5.0, "person size {person_size}");

    // Channels: half from the 4 hot ones, each channel with a single url.
    let channels = strs(&bid, "channel");
    let urls = strs(&bid, "url");
    let hot = channels.iter().filter(|c| ["Google", "Facebook", "Baidu", "Apple"].contains(&c.as_str())).count();
    assert!((0.48..0.52).contains(&(hot as f64 / channels.len() as f64)), "hot channel share");
    let mut url_of: HashMap<&str, &str> = HashMap::new();
    for (c, u) in channels.iter().zip(&urls) {
        assert!(u.starts_with("https://www.nexmark.com/") && u.contains("/item.htm?query=1"), "{u}");
        assert_eq!(*url_of.entry(c).or_insert(u), u.as_str(), "channel {c} has two urls");
        if let Some(n) = c.strip_prefix("channel-") {
            assert!(n.parse::<u64>().unwrap() < 10_000);
        }
    }
    assert!(url_of.len() > 4000, "{} channels", url_of.len());
    assert!(urls.iter().any(|u| u.contains("&channel_id=")));
}

#[tokio::test]
async fn split_count_and_read_order_do_not_change_the_rows() {
    for table in ["person", "auction", "bid"] {
        let mut reference: Option<Vec<String>> = None;
        for (splits, reverse) in [("1", false), ("7", true), ("3", false)] {
            let source =
                create(&nx(table, &[("events", "20000"), ("seed", "11"), ("splits", splits), ("batch_size", "300")]));
            assert!(source.bounded());
            let mut rows = row_strings(&read_all(&source, reverse).await);
            rows.sort();
            match &reference {
                None => reference = Some(rows),
                Some(r) => assert_eq!(&rows, r, "{table} with {splits} splits"),
            }
        }
        let other = row_strings(&read_all(&create(&nx(table, &[("events", "20000"), ("seed", "12")])), false).await);
        let mut other = other;
        other.sort();
        assert_ne!(Some(other), reference, "{table}: another seed gives other rows");
    }
}

#[tokio::test]
async fn subsets_casts_and_order_of_columns() {
    let opts = [("kind", "nexmark"), ("events", "5000"), ("seed", "2")];
    let full_bid = read_table("bid", &opts[1..]).await;
    let mut with_table = opts.to_vec();
    with_table.push(("table", "bid"));
    let sub = spec(
        &[
            ("date_time", DataType::Timestamp(TimeUnit::Nanosecond, None)),
            ("price", DataType::Float64),
            ("auction", DataType::Int64),
        ],
        &with_table,
    );
    let got = concat(&read_all(&create(&sub), false).await);
    assert_eq!(got.num_rows(), full_bid.num_rows());
    assert_eq!(column(&got, "auction").as_ref(), column(&full_bid, "auction").as_ref());
    let ns = column(&got, "date_time").as_primitive::<arrow::datatypes::TimestampNanosecondType>();
    assert!(ns.values().iter().zip(times(&full_bid, "date_time")).all(|(n, us)| *n == us * 1000));
    let price = column(&got, "price").as_primitive::<arrow::datatypes::Float64Type>();
    assert!(price.values().iter().zip(ints(&full_bid, "price")).all(|(f, i)| *f == i as f64));

    // Columns whose values depend on others' lengths (extra) are the same alone.
    for (table, cols) in [("person", vec!["extra", "id"]), ("auction", vec!["extra", "expires", "seller"])] {
        let full = read_table(table, &opts[1..]).await;
        let mut o = opts.to_vec();
        o.push(("table", table));
        let fields: Vec<(&str, DataType)> =
            cols.iter().map(|c| (*c, column(&full, c).data_type().clone())).collect();
        let got = concat(&read_all(&create(&spec(&fields, &o)), false).await);
        for c in cols {
            assert_eq!(column(&got, c).as_ref(), column(&full, c).as_ref(), "{table}.{c}");
        }
    }
    // Names are matched case-insensitively, as for the other kinds.
    let mut o = opts.to_vec();
    o.push(("table", "person"));
    let got = concat(&read_all(&create(&spec(&[("EMAIL_ADDRESS", DataType::Utf8)], &o)), false).await);
    assert_eq!(got.num_rows(), 100);
}

#[test]
fn option_and_schema_errors() {
    let cols = [("price", DataType::Int64)];
    let key_of = |err: &ConnectorError| match err {
        ConnectorError::Option { key, .. } => key.clone(),
        other => panic!("not an option error: {other:?}"),
    };
    // `rows` is refused, pointing at `events`.
    let err = create_err(&spec(&cols, &[("kind", "nexmark"), ("table", "bid"), ("rows", "10")]));
    assert_eq!(key_of(&err), "rows");
    assert!(err.to_string().contains("'events'"), "{err}");
    // `table` is required and checked.
    let err = create_err(&spec(&cols, &[("kind", "nexmark"), ("events", "10")]));
    assert_eq!(key_of(&err), "table");
    let err = create_err(&spec(&cols, &[("kind", "nexmark"), ("table", "bids")]));
    assert_eq!(key_of(&err), "table");
    assert!(err.to_string().contains("person, auction, bid"), "{err}");
    // `events`, `table` and the nexmark knobs are unknown to the other kinds, and the other
    // kinds' options to nexmark.
    for (kind, key, value) in [
        ("devices", "events", "5"),
        ("devices", "table", "bid"),
        ("fleet", "out_of_order", "1s"),
        ("nexmark", "cards", "5"),
        ("nexmark", "tabel", "bid"),
    ] {
        let other_col = [(if kind == "fleet" { "speed" } else { "value" }, DataType::Float64)];
        let columns: &[(&str, DataType)] = if kind == "nexmark" { &cols } else { &other_col };
        let mut opts = vec![("kind", kind)];
        if kind == "nexmark" {
            opts.push(("table", "bid"));
        }
        opts.push((key, value));
        let err = create_err(&spec(columns, &opts));
        assert_eq!(key_of(&err), key, "{kind}: {err}");
        assert!(err.to_string().contains("not an option"), "{kind} {key}: {err}");
    }
    for (key, value) in [
        ("events", "-1"),
        ("events", "lots"),
        ("out_of_order", "soon"),
        ("hot_auction_ratio", "0"),
        ("hot_seller_ratio", "0"),
        ("hot_bidder_ratio", "x"),
        ("in_flight_auctions", "0"),
        ("active_people", "0"),
        ("rate", "0"),
    ] {
        let err = create_err(&spec(&cols, &[("kind", "nexmark"), ("table", "bid"), (key, value)]));
        assert_eq!(key_of(&err), key, "{key}={value}: {err}");
    }
    // There is no `ts`; an unknown column lists the table's columns.
    let err = create_err(&spec(&[("ts", DataType::Int64)], &[("kind", "nexmark"), ("table", "bid")]));
    let msg = err.to_string();
    assert!(matches!(err, ConnectorError::Schema(_)), "{msg}");
    assert!(msg.contains("table 'bid'") && msg.contains("date_time TIMESTAMP") && !msg.contains("ts TIMESTAMP"), "{msg}");
    let err = create_err(&spec(&[("seller", DataType::Int64)], &[("kind", "nexmark"), ("table", "bid")]));
    assert!(err.to_string().contains("auction BIGINT, bidder BIGINT"), "{err}");
    assert!(crate::kind_schema("nexmark").is_err());
    assert!(nexmark_schema("lots").is_err());
}

#[tokio::test]
async fn out_of_order_moves_times_back_within_the_bound() {
    let base = [("events", "30000"), ("seed", "4")];
    let late = [("events", "30000"), ("seed", "4"), ("out_of_order", "2s")];
    let in_order = read_table("bid", &base).await;
    let shuffled = read_table("bid", &late).await;
    // Only the times change.
    for c in ["auction", "bidder", "price", "channel", "url", "extra"] {
        assert_eq!(column(&in_order, c).as_ref(), column(&shuffled, c).as_ref(), "{c}");
    }
    let (t0, t1) = (times(&in_order, "date_time"), times(&shuffled, "date_time"));
    let delays: Vec<i64> = t0.iter().zip(&t1).map(|(a, b)| a - b).collect();
    assert!(delays.iter().all(|d| (0..2_000_000).contains(d)));
    assert!(*delays.iter().max().unwrap() > 1_900_000 && *delays.iter().min().unwrap() < 100_000);
    assert!(t1.windows(2).any(|w| w[1] < w[0]), "times are out of order");
    // The same delays whatever the split count; auctions keep their length.
    let seven = read_table("bid", &[("events", "30000"), ("seed", "4"), ("out_of_order", "2s"), ("splits", "7")]).await;
    assert_eq!(times(&seven, "date_time"), t1);
    let (a0, a1) = (read_table("auction", &base).await, read_table("auction", &late).await);
    let len = |b: &RecordBatch| -> Vec<i64> {
        times(b, "expires").iter().zip(times(b, "date_time")).map(|(x, t)| x - t).collect()
    };
    assert_eq!(len(&a0), len(&a1));
    for (id, t) in ints(&a1, "id").iter().zip(times(&a1, "date_time")) {
        let a = *id as u64 - FIRST_AUCTION_ID;
        let at = START_US + ((a / 3 * 50 + a % 3 + 1) as i64) * INTERVAL_US;
        assert!((at - 2_000_000 + 1..=at).contains(&t), "auction {id}");
    }
}

#[tokio::test]
async fn unbounded_splits_interleave_events_and_resume() {
    let opts = [("rate", "100000"), ("splits", "4"), ("start", "2024-05-01T00:00:00Z"), ("interval", "1ms")];
    let start = chrono::DateTime::parse_from_rfc3339("2024-05-01T00:00:00Z").unwrap().timestamp_micros();
    let source = create(&nx("bid", &opts));
    assert!(!source.bounded());
    let split = &source.splits().unwrap()[2];
    let mut reader = source.open(split, None).unwrap();
    let mut first = None;
    let mut seen = 0;
    let mut chunks = Vec::new();
    while seen < 200 {
        let chunk = reader.next().await.unwrap().unwrap();
        for t in times(&chunk.batch, "date_time") {
            let e = ((t - start) / 1000) as u64;
            assert_eq!((e / 50) % 4, 2, "split 2 of 4 reads events 100…149, 300…349, …");
            assert!(e % 50 >= 4, "event {e} is not a bid");
        }
        seen += chunk.batch.num_rows();
        first.get_or_insert(chunk.position.clone());
        chunks.push(chunk);
    }
    // Resuming after the first chunk gives the second chunk's rows again.
    let position: Position = first.unwrap();
    let mut resumed = source.open(split, Some(&position)).unwrap();
    let mut again = Vec::new();
    while again.len() < chunks[1].batch.num_rows() {
        let chunk = resumed.next().await.unwrap().unwrap();
        again.extend(row_strings(&[chunk.batch]));
    }
    let expected = row_strings(&[chunks[1].batch.clone()]);
    assert_eq!(&again[..expected.len()], &expected[..]);
    assert!(source.open(split, Some(&Position("3".into()))).is_err());
    assert!(source.open(split, Some(&Position("149".into()))).is_ok());
    assert!(source.open(split, Some(&Position("150".into()))).is_err());

    // Every split has rows of every table, however many splits: here 8 (with single events
    // taking turns, the odd splits would never see a person) and 10 (most splits would never
    // see an auction).
    for (table, splits) in [("person", "8"), ("auction", "10")] {
        let source = create(&nx(table, &[("rate", "1000000"), ("splits", splits)]));
        for split in source.splits().unwrap() {
            let mut reader = source.open(&split, None).unwrap();
            // The first chunk is the first event alone; then chunks cover ~1000 events.
            let mut rows = 0;
            for _ in 0..3 {
                rows += reader.next().await.unwrap().unwrap().batch.num_rows();
            }
            assert!(rows > 0, "{table}: split {} has no row", split.id);
        }
    }

    // Unbounded defaults: 10 000 events/s of event time.
    let source = create(&nx("person", &[("splits", "1")]));
    let mut reader = source.open(&source.splits().unwrap()[0], None).unwrap();
    let mut persons = Vec::new();
    while persons.len() < 2 {
        let chunk = reader.next().await.unwrap().unwrap();
        persons.extend(times(&chunk.batch, "date_time"));
    }
    assert_eq!(persons[1] - persons[0], 50 * 100, "persons are 50 events of 100 µs apart");
}

#[test]
fn rows_take_turns_by_blocks() {
    // Split 2 of 4 by blocks of 50, resumed at event 148.
    let rows = crate::Rows { first: 148, step: 200, block: 50, count: 5 };
    assert_eq!(rows.indices().collect::<Vec<_>>(), [148, 149, 300, 301, 302]);
    assert_eq!(rows.after(), Some(303));
    let rows = crate::Rows { first: 300, step: 200, block: 50, count: 100 };
    let all: Vec<u64> = rows.indices().collect();
    assert_eq!((all[49], all[50], all[99]), (349, 500, 549));
    assert_eq!(rows.after(), Some(700));
    // Blocks of 1: every `step`-th index.
    let rows = crate::Rows { first: 3, step: 4, block: 1, count: 3 };
    assert_eq!(rows.indices().collect::<Vec<_>>(), [3, 7, 11]);
    assert_eq!(rows.after(), Some(15));
    assert_eq!(crate::Rows { first: u64::MAX - 1, step: 4, block: 1, count: 1 }.after(), None);
}

#[tokio::test]
async fn bounded_resume_and_empty_ranges() {
    let source = create(&nx("auction", &[("events", "10000"), ("splits", "3"), ("batch_size", "50")]));
    let split = &source.splits().unwrap()[1];
    let mut reader = source.open(split, None).unwrap();
    let first = reader.next().await.unwrap().unwrap();
    let second = reader.next().await.unwrap().unwrap();
    // A chunk covers ⌈50 × 50 / 3⌉ = 834 events: 50 auctions or so.
    assert!((49..=51).contains(&first.batch.num_rows()), "{}", first.batch.num_rows());
    // Split 1 reads blocks 1, 4, 7, … of 834 events: after block 1 comes block 4.
    assert_eq!(first.position.0, (4 * 834).to_string());
    let mut resumed = source.open(split, Some(&first.position)).unwrap();
    let again = resumed.next().await.unwrap().unwrap();
    assert_eq!(row_strings(&[again.batch]), row_strings(&[second.batch]));
    // Splits without a row of the table yield nothing (no empty chunks).
    let source = create(&nx("person", &[("events", "20"), ("splits", "4")]));
    let batches = read_all(&source, false).await;
    assert_eq!(batches.len(), 1);
    assert_eq!(ints(&batches[0], "id"), [1000]);
    let source = create(&nx("bid", &[("events", "0")]));
    assert!(read_all(&source, false).await.is_empty());
}

#[tokio::test]
async fn sync_api_matches_the_connector() {
    for table in ["person", "auction", "bid"] {
        let via_api: Vec<RecordBatch> =
            generate_nexmark_batches(table, 60_000, 9, 1000).unwrap().map(|b| b.unwrap()).collect();
        assert_eq!(via_api[0].schema(), nexmark_schema(table).unwrap());
        // About `batch_size` rows per batch (exactly for persons: 50 000 events a batch).
        let sizes: Vec<usize> = via_api.iter().map(|b| b.num_rows()).collect();
        assert!(sizes[..sizes.len() - 1].iter().all(|n| (995..=1005).contains(n)), "{table}: {sizes:?}");
        if table == "person" {
            assert_eq!(sizes, [1000, 200]);
        }
        let via_source = read_all(&create(&nx(table, &[("events", "60000"), ("seed", "9"), ("splits", "1")])), false).await;
        assert_eq!(row_strings(&via_api), row_strings(&via_source), "{table}");
    }
    assert!(generate_nexmark_batches("bids", 1, 1, 1).is_err());
    assert!(generate_nexmark_batches("bid", 1, 1, 0).is_err());
    assert!(crate::generate_batches("nexmark", 1, 1, 1).is_err());
}

#[tokio::test]
async fn tables_share_one_event_stream() {
    // The three tables of the same events and seed hold every event once: their date_times,
    // as event numbers, partition 0..events.
    let opts = [("events", "7777"), ("seed", "8"), ("splits", "5")];
    let mut events = BTreeMap::new();
    for table in ["person", "auction", "bid"] {
        for t in times(&read_table(table, &opts).await, "date_time") {
            assert!(events.insert(event_of(t), table).is_none());
        }
    }
    assert_eq!(events.len(), 7777);
    assert_eq!(events.keys().copied().collect::<Vec<_>>(), (0..7777).collect::<Vec<u64>>());
}

/// Throughput check, run with
/// `cargo test --release -p illunare-source-generator nexmark_throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn nexmark_throughput() {
    for table in ["bid", "auction", "person"] {
        let events = 10_000_000u64;
        let started = std::time::Instant::now();
        let mut rows = 0;
        for b in generate_nexmark_batches(table, events, 1, 8192).unwrap() {
            rows += b.unwrap().num_rows();
        }
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "nexmark {table}: {:.2} M rows/s ({:.2} M events/s scanned)",
            rows as f64 / secs / 1e6,
            events as f64 / secs / 1e6
        );
    }
}
