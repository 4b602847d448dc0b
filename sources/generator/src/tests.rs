//! Tests of the generator connector: determinism across seeds, split counts and read orders,
//! column projection and casts, option and schema errors, resuming, and per-kind value sanity.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, TimeUnit, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use arrow::util::display::array_value_to_string;
use illunare_connector::{ConnectorError, Options, Position, Source, SourceConnector, SourceSpec};

use super::*;

pub(crate) fn spec_with(schema: SchemaRef, opts: &[(&str, &str)]) -> SourceSpec {
    let options = Options::new(opts.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    SourceSpec { name: "t".into(), schema, event_time: None, options }
}

pub(crate) fn spec(columns: &[(&str, DataType)], opts: &[(&str, &str)]) -> SourceSpec {
    let fields: Vec<Field> = columns.iter().map(|(n, t)| Field::new(*n, t.clone(), true)).collect();
    spec_with(Arc::new(Schema::new(fields)), opts)
}

fn full(kind: &str, opts: &[(&str, &str)]) -> SourceSpec {
    let mut all = vec![("connector", "generator"), ("kind", kind)];
    all.extend_from_slice(opts);
    spec_with(kind_schema(kind).unwrap(), &all)
}

pub(crate) fn create(spec: &SourceSpec) -> Arc<dyn Source> {
    GeneratorConnector.create(spec).unwrap()
}

pub(crate) fn create_err(spec: &SourceSpec) -> ConnectorError {
    match GeneratorConnector.create(spec) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

/// Reads every split to the end (in reverse order when asked).
pub(crate) async fn read_all(source: &Arc<dyn Source>, reverse: bool) -> Vec<RecordBatch> {
    let mut splits = source.splits().unwrap();
    if reverse {
        splits.reverse();
    }
    let mut out = Vec::new();
    for split in splits {
        let mut reader = source.open(&split, None).unwrap();
        while let Some(chunk) = reader.next().await.unwrap() {
            assert!(chunk.errors.is_empty());
            assert_eq!(chunk.batch.schema(), source.schema());
            out.push(chunk.batch);
        }
    }
    out
}

pub(crate) fn row_strings(batches: &[RecordBatch]) -> Vec<String> {
    let mut rows = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let cells: Vec<String> = b.columns().iter().map(|c| array_value_to_string(c, r).unwrap()).collect();
            rows.push(cells.join("|"));
        }
    }
    rows
}

pub(crate) fn column<'a>(b: &'a RecordBatch, name: &str) -> &'a Arc<dyn Array> {
    b.column(b.schema().index_of(name).unwrap())
}

pub(crate) fn concat(batches: &[RecordBatch]) -> RecordBatch {
    arrow::compute::concat_batches(&batches[0].schema(), batches).unwrap()
}

#[tokio::test]
async fn same_seed_same_rows_other_seed_other_rows() {
    for kind in ["transactions", "devices", "fleet"] {
        let a = row_strings(&read_all(&create(&full(kind, &[("rows", "3000"), ("seed", "7")])), false).await);
        let b = row_strings(&read_all(&create(&full(kind, &[("rows", "3000"), ("seed", "7")])), false).await);
        let c = row_strings(&read_all(&create(&full(kind, &[("rows", "3000"), ("seed", "8")])), false).await);
        assert_eq!(a.len(), 3000);
        assert_eq!(a, b, "{kind}");
        assert_ne!(a, c, "{kind}");
    }
}

#[tokio::test]
async fn split_count_and_read_order_do_not_change_the_rows() {
    for kind in ["transactions", "devices", "fleet"] {
        let mut reference: Option<Vec<String>> = None;
        for (splits, reverse) in [("1", false), ("3", true), ("8", false), ("13", true)] {
            let source =
                create(&full(kind, &[("rows", "5000"), ("seed", "3"), ("splits", splits), ("batch_size", "700")]));
            assert!(source.bounded());
            assert_eq!(source.splits().unwrap().len(), splits.parse::<usize>().unwrap());
            let mut rows = row_strings(&read_all(&source, reverse).await);
            rows.sort();
            match &reference {
                None => reference = Some(rows),
                Some(r) => assert_eq!(&rows, r, "{kind} with {splits} splits"),
            }
        }
    }
}

#[tokio::test]
async fn bounded_splits_take_turns_by_blocks() {
    // Blocks of one chunk (100 rows): split k reads blocks k, k+3, k+6, … so all splits move
    // through event time together.
    let source = create(&full("transactions", &[("rows", "1000"), ("splits", "3"), ("batch_size", "100")]));
    let mut ids = Vec::new();
    for (k, split) in source.splits().unwrap().into_iter().enumerate() {
        let mut reader = source.open(&split, None).unwrap();
        let mut firsts = Vec::new();
        while let Some(chunk) = reader.next().await.unwrap() {
            let tx = chunk.batch.column(0).as_primitive::<Int64Type>();
            firsts.push(tx.value(0));
            assert_eq!(tx.values().to_vec(), (tx.value(0)..tx.value(0) + tx.len() as i64).collect::<Vec<_>>(), "one run per chunk");
            let after = tx.value(tx.len() - 1) + 1;
            let expected = if after % 100 == 0 { after + 200 } else { after };
            assert_eq!(chunk.position, Position(expected.to_string()));
            ids.extend(tx.values().iter().copied());
        }
        let k = k as i64;
        assert_eq!(firsts, (0..10).filter(|b| b % 3 == k).map(|b| b * 100).collect::<Vec<i64>>());
    }
    ids.sort_unstable();
    assert_eq!(ids, (0..1000).collect::<Vec<i64>>());
}

#[tokio::test]
async fn unbounded_rows_do_not_depend_on_the_split_count() {
    let opts = |splits: &'static str| {
        full(
            "transactions",
            &[("rate", "1000000"), ("splits", splits), ("start", "2024-05-01T00:00:00Z"), ("interval", "1s")],
        )
    };
    let mut by_id: Vec<BTreeMap<i64, String>> = Vec::new();
    for splits in ["1", "4"] {
        let source = create(&opts(splits));
        assert!(!source.bounded());
        let mut rows = BTreeMap::new();
        for split in source.splits().unwrap() {
            let mut reader = source.open(&split, None).unwrap();
            let mut seen = 0;
            while seen < 200 {
                let chunk = reader.next().await.unwrap().unwrap();
                let strings = row_strings(std::slice::from_ref(&chunk.batch));
                let tx = chunk.batch.column(0).as_primitive::<Int64Type>();
                for (r, s) in strings.into_iter().enumerate() {
                    rows.insert(tx.value(r), s);
                }
                seen += chunk.batch.num_rows();
            }
        }
        by_id.push(rows);
    }
    let (one, four) = (&by_id[0], &by_id[1]);
    let common: Vec<_> = one.keys().filter(|k| four.contains_key(k)).collect();
    assert!(common.len() >= 200);
    for k in common {
        assert_eq!(one[k], four[k]);
    }
    // Split k of 4 yields k, k+4, …; ts = start + i * interval.
    let row7 = &four[&7];
    assert!(row7.contains("2024-05-01T00:00:07"), "{row7}");
}

#[tokio::test]
async fn unbounded_is_paced_by_rate() {
    let source = create(&full("devices", &[("rate", "200"), ("splits", "2")]));
    let split = &source.splits().unwrap()[1];
    let mut reader = source.open(split, None).unwrap();
    let started = std::time::Instant::now();
    let mut rows = 0;
    let mut last = 0;
    while started.elapsed() < std::time::Duration::from_millis(500) {
        let chunk = reader.next().await.unwrap().unwrap();
        rows += chunk.batch.num_rows();
        last = chunk.position.0.parse::<u64>().unwrap();
    }
    // 100 rows/s per split for ~0.5 s.
    assert!((30..=120).contains(&rows), "{rows} rows");
    assert_eq!(last, 1 + 2 * rows as u64);
    // Default start: the wall clock at create, default interval 1/rate.
    let chunk = reader.next().await.unwrap().unwrap();
    let ts = column(&chunk.batch, "ts").as_primitive::<TimestampMicrosecondType>().value(0);
    let now = chrono::Utc::now().timestamp_micros();
    assert!((ts - now).abs() < 10_000_000, "{ts} vs {now}");
}

#[test]
fn remaining_counts_a_splits_indices_before_the_end() {
    // Split 1 of 3, blocks of 2: indices 2 3, 8 9, 14 15, …
    let brute = |next: u64, end: u64| (next..end).filter(|i| (i / 2) % 3 == 1).count() as u64;
    for next in [2u64, 3, 8, 9, 14] {
        for end in 0..20u64 {
            assert_eq!(super::remaining(next, end, 6, 2), brute(next, end), "next {next} end {end}");
        }
    }
    assert_eq!(super::remaining(5, 9, 1, 1), 4);
}

/// A bounded source with `rate` is replayed at that speed and still yields exactly its rows.
#[tokio::test]
async fn bounded_with_rate_is_paced_and_complete() {
    let fast = row_strings(&read_all(&create(&full("devices", &[("rows", "300"), ("splits", "2")])), false).await);
    let started = std::time::Instant::now();
    let paced = create(&full("devices", &[("rows", "300"), ("splits", "2"), ("rate", "1000"), ("batch_size", "50")]));
    let slow = row_strings(&read_all(&paced, false).await);
    let took = started.elapsed();
    // 300 rows at 1000 rows/s over 2 splits: about 0.3 s (the first rows of each split are due at once).
    assert!(took >= std::time::Duration::from_millis(200), "read in {took:?}");
    let mut fast_sorted = fast.clone();
    fast_sorted.sort();
    let mut slow_sorted = slow;
    slow_sorted.sort();
    assert_eq!(slow_sorted, fast_sorted);
}

#[tokio::test]
async fn subset_and_reordered_columns_match_the_full_rows() {
    let all = concat(&read_all(&create(&full("transactions", &[("rows", "500"), ("seed", "11")])), false).await);
    let ts_type = DataType::Timestamp(TimeUnit::Microsecond, None);
    let sub = spec(
        &[("ts", ts_type), ("amount", DataType::Float64), ("card_id", DataType::Utf8)],
        &[("kind", "transactions"), ("rows", "500"), ("seed", "11"), ("splits", "2")],
    );
    let got = concat(&read_all(&create(&sub), false).await);
    assert_eq!(got.num_columns(), 3);
    for name in ["ts", "amount", "card_id"] {
        assert_eq!(column(&got, name).as_ref(), column(&all, name).as_ref(), "{name}");
    }
    // Only one column, of another kind.
    let only = spec(&[("engine_on", DataType::Boolean)], &[("kind", "fleet"), ("rows", "100")]);
    let got = concat(&read_all(&create(&only), false).await);
    let full_fleet = concat(&read_all(&create(&full("fleet", &[("rows", "100")])), false).await);
    assert_eq!(got.column(0).as_ref(), column(&full_fleet, "engine_on").as_ref());
}

#[tokio::test]
async fn declared_types_are_cast() {
    let s = spec(
        &[
            ("tx_id", DataType::Int32),
            ("amount", DataType::Float32),
            ("ts", DataType::Timestamp(TimeUnit::Nanosecond, None)),
            ("card_id", DataType::Utf8),
        ],
        &[("kind", "transactions"), ("rows", "10"), ("start", "2024-03-01T12:00:00.5Z"), ("interval", "250ms")],
    );
    let b = concat(&read_all(&create(&s), false).await);
    assert_eq!(b.column(0).data_type(), &DataType::Int32);
    assert_eq!(b.column(1).data_type(), &DataType::Float32);
    let ts = b.column(2).as_primitive::<arrow::datatypes::TimestampNanosecondType>();
    let start = chrono::DateTime::parse_from_rfc3339("2024-03-01T12:00:00.5Z").unwrap().timestamp_nanos_opt().unwrap();
    assert_eq!(ts.value(0), start);
    assert_eq!(ts.value(4), start + 1_000_000_000);

    let s = spec(
        &[("ts", DataType::Timestamp(TimeUnit::Second, Some("UTC".into()))), ("value", DataType::Float64)],
        &[("kind", "devices"), ("rows", "5")],
    );
    let b = concat(&read_all(&create(&s), false).await);
    assert_eq!(b.column(0).data_type(), &DataType::Timestamp(TimeUnit::Second, Some("UTC".into())));

    // A timestamp declared as BIGINT holds microseconds.
    let s = spec(&[("ts", DataType::Int64)], &[("kind", "fleet"), ("rows", "3")]);
    let b = concat(&read_all(&create(&s), false).await);
    assert_eq!(b.column(0).as_primitive::<Int64Type>().value(1), 1_704_067_200_000_000 + 1000);

    // Impossible casts fail at create.
    let s = spec(&[("amount", DataType::Struct(Default::default()))], &[("kind", "transactions"), ("rows", "5")]);
    let err = create_err(&s).to_string();
    assert!(err.contains("amount") && err.contains("cannot be declared"), "{err}");
}

#[test]
fn unknown_column_lists_the_kind_columns() {
    let s = spec(
        &[("amount", DataType::Float64), ("speed", DataType::Float64)],
        &[("kind", "transactions"), ("rows", "5")],
    );
    let err = create_err(&s);
    assert!(matches!(err, ConnectorError::Schema(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("'speed'") && msg.contains("card_id VARCHAR") && msg.contains("ts TIMESTAMP"), "{msg}");
}

#[test]
fn option_errors() {
    let cols = [("value", DataType::Float64)];
    let err = create_err(&spec(&cols, &[("kind", "devices"), ("rows", "5"), ("rowz", "1")]));
    assert!(matches!(&err, ConnectorError::Option { key, .. } if key == "rowz"), "{err:?}");
    // Options of another kind are unknown here.
    let err = create_err(&spec(&cols, &[("kind", "devices"), ("cards", "5")]));
    assert!(matches!(&err, ConnectorError::Option { key, .. } if key == "cards"), "{err:?}");
    let err = create_err(&spec(&cols, &[("rows", "5")]));
    assert!(matches!(&err, ConnectorError::Option { key, .. } if key == "kind"), "{err:?}");
    let err = create_err(&spec(&cols, &[("kind", "weather")]));
    assert!(err.to_string().contains("transactions, devices, fleet"), "{err}");
    for (key, value) in [
        ("rows", "-1"),
        ("rows", "many"),
        ("seed", "x"),
        ("splits", "0"),
        ("batch_size", "0"),
        ("devices", "0"),
        ("start", "yesterday"),
        ("interval", "soon"),
        ("interval", "99999999999999999999999d"),
        ("rate", "0"),
        ("rate", "NaN"),
    ] {
        let err = create_err(&spec(&cols, &[("kind", "devices"), (key, value)]));
        assert!(matches!(&err, ConnectorError::Option { key: k, .. } if k == key), "{key}={value}: {err:?}");
    }
    // Underscores are accepted in numbers.
    let ok = GeneratorConnector.create(&spec(&cols, &[("kind", "devices"), ("rows", "1_000")]));
    assert!(ok.is_ok());
}

#[tokio::test]
async fn resume_from_a_position() {
    for (opts, step) in
        [(vec![("rows", "10000"), ("splits", "3")], 1u64), (vec![("rate", "1000000"), ("splits", "3")], 3)]
    {
        let mut opts = opts;
        opts.extend([("batch_size", "100"), ("start", "2024-01-01T00:00:00Z"), ("interval", "1ms")]);
        let source = create(&full("transactions", &opts));
        let split = &source.splits().unwrap()[1];
        let mut reader = source.open(split, None).unwrap();
        let first = reader.next().await.unwrap().unwrap();
        let second = reader.next().await.unwrap().unwrap();
        let mut resumed = source.open(split, Some(&first.position)).unwrap();
        let again = resumed.next().await.unwrap().unwrap();
        // Unbounded chunks are as large as the rows due; compare the common prefix.
        let n = again.batch.num_rows().min(second.batch.num_rows());
        assert!(n > 0);
        assert_eq!(row_strings(&[again.batch.slice(0, n)]), row_strings(&[second.batch.slice(0, n)]));
        let tx = second.batch.column(0).as_primitive::<Int64Type>();
        assert_eq!(first.position.0, tx.value(0).to_string());
        let rows = second.batch.num_rows() as u64;
        // Bounded chunks are whole blocks of 100 taken in turns by 3 splits; unbounded ones
        // every 3rd row.
        let stride = if step == 1 { 300 } else { rows * step };
        assert_eq!(second.position.0.parse::<u64>().unwrap(), first.position.0.parse::<u64>().unwrap() + stride);
        if rows > 1 {
            assert_eq!(tx.value(1) - tx.value(0), step as i64);
        }
        // A position that is not a row of the split is refused; a bad id too.
        assert!(source.open(split, Some(&Position("abc".into()))).is_err());
        assert!(source.open(split, Some(&Position("2".into()))).is_err());
        assert!(source.open(&illunare_connector::Split { id: "9/3".into() }, None).is_err());
    }
    // Resuming at the end of a bounded split yields nothing.
    let source = create(&full("devices", &[("rows", "10"), ("splits", "2")]));
    let split = &source.splits().unwrap()[0];
    let mut reader = source.open(split, Some(&Position("10".into()))).unwrap();
    assert!(reader.next().await.unwrap().is_none());
}

#[tokio::test]
async fn transactions_values_are_sane() {
    let source =
        create(&full("transactions", &[("rows", "200000"), ("seed", "1"), ("cards", "5000"), ("merchants", "300")]));
    let b = concat(&read_all(&source, false).await);
    let amount = column(&b, "amount").as_primitive::<Float64Type>();
    let mut amounts: Vec<f64> = amount.values().to_vec();
    assert!(amounts.iter().all(|a| *a > 0.0 && ((a * 100.0).round() - a * 100.0).abs() < 1e-6));
    amounts.sort_by(f64::total_cmp);
    let median = amounts[amounts.len() / 2];
    assert!((25.0..100.0).contains(&median), "median amount {median}");

    let mut cards: HashMap<String, usize> = HashMap::new();
    let card_id = column(&b, "card_id").as_string::<i32>();
    for c in card_id.iter().flatten() {
        let n: u64 = c.strip_prefix('c').unwrap().parse().unwrap();
        assert!((1..=5000).contains(&n), "{c}");
        *cards.entry(c.to_string()).or_default() += 1;
    }
    // Skewed: the heaviest card has far more than its uniform share (40 rows).
    let heaviest = cards.values().max().copied().unwrap();
    assert!(heaviest > 1000, "heaviest card has {heaviest} rows");
    let merchant = column(&b, "merchant").as_string::<i32>();
    assert!(merchant.iter().flatten().all(|m| (1..=300).contains(&m[1..].parse::<u64>().unwrap())));

    let currency = column(&b, "currency").as_string::<i32>();
    let mut per_currency: HashMap<&str, usize> = HashMap::new();
    for c in currency.iter().flatten() {
        *per_currency.entry(c).or_default() += 1;
    }
    assert_eq!(per_currency.keys().copied().collect::<BTreeSet<_>>(), BTreeSet::from(["BRL", "EUR", "USD"]));
    assert!(per_currency["BRL"] > b.num_rows() / 2, "{per_currency:?}");

    let lat = column(&b, "lat").as_primitive::<Float64Type>();
    let lon = column(&b, "lon").as_primitive::<Float64Type>();
    assert!(lat.values().iter().all(|v| (-60.0..60.0).contains(v)));
    assert!(lon.values().iter().all(|v| (-90.0..20.0).contains(v)));
    // A card stays near its home city except for rare anomalies.
    let mut places: HashMap<&str, Vec<(f64, f64)>> = HashMap::new();
    for r in 0..b.num_rows() {
        places.entry(card_id.value(r)).or_default().push((lat.value(r), lon.value(r)));
    }
    let (mut near, mut total) = (0, 0);
    for pts in places.values() {
        let (la0, lo0) = pts[0];
        for (la, lo) in pts {
            total += 1;
            if (la - la0).abs() < 0.5 && (lo - lo0).abs() < 0.5 {
                near += 1;
            }
        }
    }
    assert!(near as f64 > 0.98 * total as f64, "{near}/{total}");
    // tx_id is the row index, ts = 2024-01-01 + i ms.
    let ts = column(&b, "ts").as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ts.value(0), 1_704_067_200_000_000);
    assert_eq!(ts.value(1234) - ts.value(0), 1_234_000);
}

#[test]
fn merchants_dimension_covers_the_transactions() {
    let dim = merchants_batch(1000, 7);
    assert_eq!(dim.num_rows(), 1000);
    assert_eq!(
        dim.schema().fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>(),
        ["merchant", "risk", "category", "city"]
    );
    let ids: BTreeSet<String> = dim.column(0).as_string::<i32>().iter().flatten().map(String::from).collect();
    assert_eq!(ids.len(), 1000);
    for batch in generate_batches("transactions", 50_000, 7, 8192).unwrap() {
        let batch = batch.unwrap();
        let merchant = column(&batch, "merchant").as_string::<i32>();
        assert!(merchant.iter().flatten().all(|m| ids.contains(m)));
    }
    let big = merchants_batch(20_000, 1);
    let mut risks: HashMap<&str, usize> = HashMap::new();
    for r in big.column(1).as_string::<i32>().iter().flatten() {
        *risks.entry(r).or_default() += 1;
    }
    let share = |k: &str| risks[k] as f64 / 20_000.0;
    assert!(
        (share("low") - 0.7).abs() < 0.03 && (share("medium") - 0.2).abs() < 0.03 && (share("high") - 0.1).abs() < 0.02
    );
    assert_eq!(merchants_batch(0, 1).num_rows(), 0);
}

#[tokio::test]
async fn sync_api_matches_the_connector() {
    for kind in ["transactions", "devices", "fleet"] {
        let via_api: Vec<RecordBatch> = generate_batches(kind, 2500, 9, 1000).unwrap().map(|b| b.unwrap()).collect();
        assert_eq!(via_api.iter().map(|b| b.num_rows()).collect::<Vec<_>>(), [1000, 1000, 500]);
        assert_eq!(via_api[0].schema(), kind_schema(kind).unwrap());
        let via_source =
            read_all(&create(&full(kind, &[("rows", "2500"), ("seed", "9"), ("splits", "1")])), false).await;
        assert_eq!(row_strings(&via_api), row_strings(&via_source));
    }
    assert!(kind_schema("nope").is_err());
    assert!(generate_batches("nope", 1, 1, 1).is_err());
    assert!(generate_batches("fleet", 1, 1, 0).is_err());
}

#[tokio::test]
async fn devices_values_are_sane() {
    let source = create(&full("devices", &[("rows", "40000"), ("devices", "25"), ("interval", "1s")]));
    let b = concat(&read_all(&source, false).await);
    let device = column(&b, "device").as_string::<i32>();
    let metric = column(&b, "metric").as_string::<i32>();
    let value = column(&b, "value").as_primitive::<Float64Type>();
    assert_eq!((device.value(0), metric.value(0)), ("dev-0001", "temperature"));
    assert_eq!((device.value(3), metric.value(3)), ("dev-0001", "humidity"));
    assert_eq!((device.value(4), metric.value(4)), ("dev-0002", "temperature"));
    assert_eq!(device.value(100), "dev-0001");
    let mut per: HashMap<(&str, &str), Vec<f64>> = HashMap::new();
    for r in 0..b.num_rows() {
        per.entry((device.value(r), metric.value(r))).or_default().push(value.value(r));
    }
    assert_eq!(per.len(), 100);
    for ((_, m), vs) in &per {
        let (lo, hi) = match *m {
            "temperature" => (5.0, 50.0),
            "pressure" => (0.5, 8.0),
            "vibration" => (0.0, 10.0),
            "humidity" => (0.0, 100.0),
            other => panic!("metric {other}"),
        };
        assert!(vs.iter().all(|v| (lo..=hi).contains(v)), "{m}: {vs:?}");
        // Values vary (sinusoid + noise) but stay around a baseline.
        let mean = vs.iter().sum::<f64>() / vs.len() as f64;
        assert!(vs.iter().any(|v| (v - mean).abs() > 1e-3));
    }
}

#[tokio::test]
async fn fleet_values_are_sane() {
    // 20 vehicles, a reading every 30 s each, over ~3.5 days.
    let source =
        create(&full("fleet", &[("rows", "200000"), ("vehicles", "20"), ("interval", "1500ms"), ("seed", "5"), ("splits", "1")]));
    let b = concat(&read_all(&source, false).await);
    let vehicle = column(&b, "vehicle").as_string::<i32>();
    let driver = column(&b, "driver").as_string::<i32>();
    let speed = column(&b, "speed").as_primitive::<Float64Type>();
    let engine = column(&b, "engine_on").as_boolean();
    let lat = column(&b, "lat").as_primitive::<Float64Type>();
    let lon = column(&b, "lon").as_primitive::<Float64Type>();
    assert_eq!(vehicle.value(0), "v-001");
    assert_eq!(vehicle.value(21), "v-002");

    let mut on = 0usize;
    let mut moving_speeds = Vec::new();
    let mut last: HashMap<&str, (f64, f64, bool)> = HashMap::new();
    let mut drivers: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for r in 0..b.num_rows() {
        let s = speed.value(r);
        assert!((0.0..=120.0).contains(&s), "speed {s}");
        if engine.value(r) {
            on += 1;
            moving_speeds.push(s);
        } else {
            assert_eq!(s, 0.0, "speed with engine off");
        }
        let v = vehicle.value(r);
        drivers.entry(v).or_default().insert(driver.value(r));
        // 30 s apart at ≤ 120 km/h: at most 1 km (plus lap scaling and GPS noise).
        if let Some((la, lo, _)) = last.get(v) {
            let dy = (lat.value(r) - la) * 110.574;
            let dx = (lon.value(r) - lo) * 111.320 * la.to_radians().cos();
            let km = (dx * dx + dy * dy).sqrt();
            assert!(km < 1.2, "{v} jumped {km} km at row {r}");
        }
        last.insert(v, (lat.value(r), lon.value(r), engine.value(r)));
        assert!((-35.0..0.0).contains(&lat.value(r)) && (-65.0..-34.0).contains(&lon.value(r)));
    }
    let on_share = on as f64 / b.num_rows() as f64;
    assert!((0.2..0.7).contains(&on_share), "engine on {on_share}");
    moving_speeds.sort_by(f64::total_cmp);
    let median = moving_speeds[moving_speeds.len() / 2];
    assert!((40.0..90.0).contains(&median), "median speed {median}");
    // Over 3+ days most vehicles meet their relief driver at most once a week: 1–2 drivers.
    for (v, ds) in &drivers {
        assert!((1..=2).contains(&ds.len()), "{v}: {ds:?}");
    }
}

#[tokio::test]
async fn zero_rows_and_more_splits_than_rows() {
    let source = create(&full("fleet", &[("rows", "0")]));
    assert!(read_all(&source, false).await.is_empty());
    let source = create(&full("fleet", &[("rows", "3"), ("splits", "10")]));
    let rows: usize = read_all(&source, false).await.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 3);
}

/// Throughput check, run with `cargo test --release -p illunare-source-generator -- --ignored`.
#[test]
#[ignore]
fn transactions_throughput() {
    let rows = 5_000_000u64;
    let started = std::time::Instant::now();
    let mut n = 0;
    for b in generate_batches("transactions", rows, 1, 8192).unwrap() {
        n += b.unwrap().num_rows();
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!("transactions: {:.2} M rows/s", n as f64 / secs / 1e6);
    for kind in ["devices", "fleet"] {
        let started = std::time::Instant::now();
        for b in generate_batches(kind, rows, 1, 8192).unwrap() {
            b.unwrap();
        }
        eprintln!("{kind}: {:.2} M rows/s", rows as f64 / started.elapsed().as_secs_f64() / 1e6);
    }
}
