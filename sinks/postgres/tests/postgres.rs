//! The postgres sink against the real PostgreSQL server: sinks are built with
//! `SinkConnector::create` from a hand-written Arrow schema, `commit` is called directly, and
//! the table is then read back with tokio-postgres.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::{DataType, Field, Fields, IntervalUnit, Schema, SchemaRef, TimeUnit};
use common::{TestDb, create, pg_url, quote, unique};
use illunare_connector::{Diff, Row, Sink, Time};
use illunare_types::{Datum, F64};

fn accounts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ]))
}

fn acc(id: i64, name: &str, amount: f64) -> Row {
    Row(vec![Datum::Int(id), Datum::str(name), Datum::float(amount)])
}

fn upd(row: Row, time: Time, diff: Diff) -> (Row, Time, Diff) {
    (row, time, diff)
}

fn accounts(db: &TestDb, table: &str) -> Vec<String> {
    db.lines(&format!("SELECT id, name, amount FROM {} ORDER BY id", db.table(table)))
}

/// Commits until it succeeds (the engine's behaviour: a failed commit is retried with the same
/// updates); returns how many attempts failed.
fn commit_until_ok(sink: &mut Box<dyn Sink>, updates: &[(Row, Time, Diff)], frontier: Option<Time>) -> usize {
    let mut failures = 0;
    loop {
        match sink.commit(updates, frontier) {
            Ok(()) => return failures,
            Err(e) => {
                failures += 1;
                assert!(failures < 100, "commit keeps failing: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[test]
fn inserts_updates_and_deletes_by_key_over_several_commits() {
    let db = TestDb::new("crud");
    let mut sink = db.sink("crud", accounts_schema(), "accounts", &[("primary_key", "id"), ("create_table", "true")]);
    sink.commit(&[upd(acc(1, "ann", 10.0), 1, 1), upd(acc(2, "bob", 20.0), 1, 1), upd(acc(3, "cy", 30.0), 1, 1)], Some(2)).unwrap();
    assert_eq!(accounts(&db, "accounts"), ["1|ann|10", "2|bob|20", "3|cy|30"]);
    // An update (retract + insert of key 2), a delete (key 3), an insert (key 4).
    sink.commit(
        &[upd(acc(2, "bob", 20.0), 2, -1), upd(acc(2, "bob", 25.5), 2, 1), upd(acc(3, "cy", 30.0), 3, -1), upd(acc(4, "dee", 40.0), 3, 1)],
        Some(4),
    )
    .unwrap();
    assert_eq!(accounts(&db, "accounts"), ["1|ann|10", "2|bob|25.5", "4|dee|40"]);
    // Key 1 changes three times within one commit; key 5 comes and goes within it.
    sink.commit(
        &[
            upd(acc(1, "ann", 10.0), 4, -1),
            upd(acc(1, "ann", 11.0), 4, 1),
            upd(acc(5, "eve", 1.0), 4, 1),
            upd(acc(1, "ann", 11.0), 5, -1),
            upd(acc(1, "ann", 12.0), 5, 1),
            upd(acc(5, "eve", 1.0), 5, -1),
        ],
        Some(6),
    )
    .unwrap();
    assert_eq!(accounts(&db, "accounts"), ["1|ann|12", "2|bob|25.5", "4|dee|40"]);
    assert_eq!(db.progress("crud"), [format!("{}.accounts|6", db.schema)]);
    // Progress-only commits: the first one after a write within a second may be skipped, the
    // final one (input ended) never is.
    sink.commit(&[], Some(7)).unwrap();
    sink.commit(&[], None).unwrap();
    assert_eq!(db.progress("crud"), [format!("{}.accounts|{}", db.schema, i64::MAX)]);
    // Once the input ended, replays are no-ops.
    sink.commit(&[upd(acc(9, "zed", 9.0), 1, 1)], Some(2)).unwrap();
    assert_eq!(accounts(&db, "accounts"), ["1|ann|12", "2|bob|25.5", "4|dee|40"]);
    // The table was created with the primary key.
    assert_eq!(
        db.value(&format!("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '{}'::regclass AND contype = 'p'", db.table("accounts"))),
        "PRIMARY KEY (id)"
    );
}

/// Keys new to the view are COPYed straight into the table; when the table already holds such
/// a key (rows written before the sink's first run), PostgreSQL refuses that COPY and the commit
/// falls back to the staged upsert: the result is the same, and later commits stay correct.
#[test]
fn rows_already_in_the_table_fall_back_to_the_staged_upsert() {
    let db = TestDb::new("preexisting");
    db.exec(&format!("CREATE TABLE {} (id BIGINT PRIMARY KEY, name TEXT, amount DOUBLE PRECISION)", db.table("accounts")));
    db.exec(&format!("INSERT INTO {} VALUES (2, 'old', 0), (7, 'other', 7)", db.table("accounts")));
    let mut sink = db.sink("pre", accounts_schema(), "accounts", &[("primary_key", "id")]);
    // Key 1 is new to the table, key 2 is not: the direct COPY fails, the staged upsert wins.
    sink.commit(&[upd(acc(1, "ann", 10.0), 1, 1), upd(acc(2, "bob", 20.0), 1, 1)], Some(2)).unwrap();
    assert_eq!(accounts(&db, "accounts"), ["1|ann|10", "2|bob|20", "7|other|7"]);
    // Later commits (now all staged) still insert, update and delete by key.
    sink.commit(&[upd(acc(3, "cy", 30.0), 2, 1), upd(acc(1, "ann", 10.0), 3, -1), upd(acc(2, "bob", 20.0), 3, -1), upd(acc(2, "bob", 21.0), 3, 1)], Some(4))
        .unwrap();
    assert_eq!(accounts(&db, "accounts"), ["2|bob|21", "3|cy|30", "7|other|7"]);
    // A fresh sink on a table the view alone wrote COPYs new keys directly (and still upserts).
    let mut other = db.sink("clean", accounts_schema(), "clean", &[("primary_key", "id"), ("create_table", "true")]);
    other.commit(&[upd(acc(5, "e", 5.0), 1, 1), upd(acc(6, "f", 6.0), 1, 1)], Some(2)).unwrap();
    other.commit(&[upd(acc(5, "e", 5.0), 2, -1), upd(acc(5, "e", 5.5), 2, 1), upd(acc(8, "h", 8.0), 2, 1)], Some(3)).unwrap();
    assert_eq!(accounts(&db, "clean"), ["5|e|5.5", "6|f|6", "8|h|8"]);
}

#[test]
fn progress_only_commits_are_recorded() {
    let db = TestDb::new("progress");
    let mut sink = db.sink("prog", accounts_schema(), "accounts", &[("primary_key", "id"), ("create_table", "true")]);
    sink.commit(&[], Some(50)).unwrap();
    assert_eq!(db.progress("prog"), [format!("{}.accounts|50", db.schema)]);
    std::thread::sleep(Duration::from_millis(1100));
    sink.commit(&[], Some(60)).unwrap();
    assert_eq!(db.progress("prog"), [format!("{}.accounts|60", db.schema)]);
    // Within a second of the last write a progress-only commit may be deferred…
    sink.commit(&[], Some(70)).unwrap();
    // …but a commit with data is written at once, with its frontier.
    sink.commit(&[upd(acc(1, "a", 1.0), 75, 1)], Some(80)).unwrap();
    assert_eq!(db.progress("prog"), [format!("{}.accounts|80", db.schema)]);
}

#[test]
fn every_column_part_of_the_key() {
    let db = TestDb::new("allkey");
    let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, false), Field::new("b", DataType::Utf8, false)]));
    let mut sink = db.sink("allkey", schema, "pairs", &[("primary_key", "a, b"), ("create_table", "true")]);
    let p = |a: i64, b: &str| Row(vec![Datum::Int(a), Datum::str(b)]);
    sink.commit(&[upd(p(1, "x"), 1, 1), upd(p(1, "y"), 1, 1), upd(p(2, "x"), 1, 1)], Some(2)).unwrap();
    sink.commit(&[upd(p(1, "x"), 2, -1), upd(p(3, "z"), 2, 1), upd(p(2, "x"), 3, -1), upd(p(2, "x"), 3, 1)], Some(4)).unwrap();
    let all = || db.lines(&format!("SELECT a, b FROM {} ORDER BY a, b", db.table("pairs")));
    assert_eq!(all(), ["1|y", "2|x", "3|z"]);
    sink.commit(&[upd(p(1, "y"), 4, -1), upd(p(2, "x"), 4, -1), upd(p(2, "w"), 4, 1)], Some(5)).unwrap();
    assert_eq!(all(), ["2|w", "3|z"]);
    // A row twice in the view cannot be a row of the table.
    let err = sink.commit(&[upd(p(9, "q"), 6, 2)], Some(7)).unwrap_err().to_string();
    assert!(err.contains("'allkey'") && err.contains("(a, b) = (9, q)"), "{err}");
}

fn all_types_schema() -> SchemaRef {
    let item = |dt| Arc::new(Field::new("item", dt, true));
    Arc::new(Schema::new(vec![
        Field::new("card_id", DataType::Int64, false),
        Field::new("window_start", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        Field::new("b", DataType::Boolean, true),
        Field::new("i8", DataType::Int8, true),
        Field::new("i16", DataType::Int16, true),
        Field::new("i32", DataType::Int32, true),
        Field::new("u8", DataType::UInt8, true),
        Field::new("u16", DataType::UInt16, true),
        Field::new("u32", DataType::UInt32, true),
        Field::new("u64", DataType::UInt64, true),
        Field::new("f32", DataType::Float32, true),
        Field::new("f64", DataType::Float64, true),
        Field::new("dec", DataType::Decimal128(12, 3), true),
        Field::new("s", DataType::Utf8, true),
        Field::new("bin", DataType::Binary, true),
        Field::new("d", DataType::Date32, true),
        Field::new("tm", DataType::Time64(TimeUnit::Microsecond), true),
        Field::new("tsz", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
        Field::new("dur", DataType::Duration(TimeUnit::Millisecond), true),
        Field::new("iv", DataType::Interval(IntervalUnit::MonthDayNano), true),
        Field::new("li", DataType::List(item(DataType::Int64)), true),
        Field::new("ls", DataType::List(item(DataType::Utf8)), true),
        Field::new("nested", DataType::List(item(DataType::List(item(DataType::Int64)))), true),
        Field::new("st", DataType::Struct(Fields::from(vec![Field::new("x", DataType::Int64, true), Field::new("y", DataType::Utf8, true)])), true),
        Field::new("n", DataType::Utf8, true),
    ]))
}

const WINDOW_1: i64 = 1_700_000_000_123;
const WINDOW_2: i64 = 1_700_000_060_000;
const TRICKY_TEXT: &str = "tab\there \"q\" back\\slash\nnewline 'single' ünïcødé; DROP TABLE x; --";

fn all_types_row(card: i64, window: i64, b: bool) -> Row {
    let list = |items: Vec<Datum>| Datum::List(Arc::from(items));
    Row(vec![
        Datum::Int(card),
        Datum::Timestamp(window),
        Datum::Bool(b),
        Datum::Int(-8),
        Datum::Int(-1600),
        Datum::Int(-320_000),
        Datum::UInt(255),
        Datum::UInt(65_535),
        Datum::UInt(4_294_967_295),
        Datum::UInt(u64::MAX),
        Datum::Float(F64(f64::from(0.1f32))),
        Datum::float(1.0 / 3.0),
        Datum::Decimal(-1_234_567),
        Datum::str(TRICKY_TEXT),
        Datum::Bytes(Arc::from(&[0u8, 1, 254, 255][..])),
        Datum::Date(19_723),
        Datum::Time(45_296_789_012),
        Datum::Timestamp(1_700_000_000_123_456),
        Datum::Duration(90_061_500),
        Datum::Interval { months: 14, days: 3, nanos: 4_000_500_000 },
        list(vec![Datum::Int(1), Datum::Null, Datum::Int(3)]),
        list(vec![Datum::str("a b"), Datum::str("c\"d"), Datum::Null]),
        list(vec![list(vec![Datum::Int(1), Datum::Int(2)]), list(vec![Datum::Int(3)])]),
        list(vec![Datum::Int(1), Datum::str("z")]),
        Datum::Null,
    ])
}

#[test]
fn composite_key_with_a_timestamp_and_every_type_round_trips() {
    let db = TestDb::new("types");
    let schema = all_types_schema();
    let mut sink = db.sink("types", schema.clone(), "alerts", &[("primary_key", "card_id, window_start"), ("create_table", "true")]);
    sink.commit(&[upd(all_types_row(42, WINDOW_1, true), 1, 1)], Some(2)).unwrap();

    let types = db.lines(&format!(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '{}'::regclass AND attnum > 0 ORDER BY attnum",
        db.table("alerts")
    ));
    let expected_types = [
        "card_id|bigint",
        "window_start|timestamp without time zone",
        "b|boolean",
        "i8|smallint",
        "i16|smallint",
        "i32|integer",
        "u8|smallint",
        "u16|integer",
        "u32|bigint",
        "u64|numeric(20,0)",
        "f32|real",
        "f64|double precision",
        "dec|numeric(12,3)",
        "s|text",
        "bin|bytea",
        "d|date",
        "tm|time without time zone",
        "tsz|timestamp with time zone",
        "dur|interval",
        "iv|interval",
        "li|bigint[]",
        "ls|text[]",
        "nested|jsonb",
        "st|jsonb",
        "n|text",
    ];
    assert_eq!(types, expected_types);

    let names: Vec<String> = schema.fields().iter().map(|f| format!("{}::text", quote(f.name()))).collect();
    let select = format!("SELECT {} FROM {} ORDER BY card_id, window_start", names.join(", "), db.table("alerts"));
    let values: Vec<Vec<String>> = {
        // `lines` joins with '|'; read the columns one by one instead (values contain '|'-free text).
        let lines = db.lines(&select);
        lines.iter().map(|l| l.split('|').map(str::to_string).collect()).collect()
    };
    let expected = [
        "42",
        "2023-11-14 22:13:20.123",
        "true",
        "-8",
        "-1600",
        "-320000",
        "255",
        "65535",
        "4294967295",
        "18446744073709551615",
        "0.1",
        "0.3333333333333333",
        "-1234.567",
        TRICKY_TEXT,
        "\\x0001feff",
        "2024-01-01",
        "12:34:56.789012",
        "2023-11-14 22:13:20.123456+00",
        "25:01:01.5",
        "1 year 2 mons 3 days 00:00:04.0005",
        "{1,NULL,3}",
        r#"{"a b","c\"d",NULL}"#,
        "[[1, 2], [3]]",
        r#"{"x": 1, "y": "z"}"#,
        "NULL",
    ];
    assert_eq!(values, vec![expected.to_vec()]);

    // Update the row (same composite key), add another window of the same card, then delete the first.
    sink.commit(&[upd(all_types_row(42, WINDOW_1, true), 2, -1), upd(all_types_row(42, WINDOW_1, false), 2, 1), upd(all_types_row(42, WINDOW_2, true), 2, 1)], Some(3))
        .unwrap();
    let keys = || db.lines(&format!("SELECT card_id, window_start, b FROM {} ORDER BY window_start", db.table("alerts")));
    assert_eq!(keys(), ["42|2023-11-14 22:13:20.123|f", "42|2023-11-14 22:14:20|t"]);
    sink.commit(&[upd(all_types_row(42, WINDOW_1, false), 3, -1)], Some(4)).unwrap();
    assert_eq!(keys(), ["42|2023-11-14 22:14:20|t"]);
}

/// Values at the edges of each type (before 2000 and the Unix epoch, nanoseconds that round,
/// empty and NULL-holding lists, negative scales, NaN).
fn edge_schema() -> SchemaRef {
    let item = |dt| Arc::new(Field::new("item", dt, true));
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("ts_ns", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
        Field::new("tsz_s", DataType::Timestamp(TimeUnit::Second, Some("+02:00".into())), true),
        Field::new("d", DataType::Date32, true),
        Field::new("t_s", DataType::Time32(TimeUnit::Second), true),
        Field::new("t_ns", DataType::Time64(TimeUnit::Nanosecond), true),
        Field::new("dec", DataType::Decimal128(38, 10), true),
        Field::new("dec_neg", DataType::Decimal128(10, -3), true),
        Field::new("f32", DataType::Float32, true),
        Field::new("f64", DataType::Float64, true),
        Field::new("iv", DataType::Interval(IntervalUnit::MonthDayNano), true),
        Field::new("li", DataType::List(item(DataType::Int32)), true),
        Field::new("lt", DataType::List(item(DataType::Timestamp(TimeUnit::Millisecond, None))), true),
        Field::new("s", DataType::Utf8, true),
        Field::new("bin", DataType::Binary, true),
        Field::new("tag", DataType::Utf8, true),
    ]))
}

fn edge_rows() -> Vec<Row> {
    let list = |items: Vec<Datum>| Datum::List(Arc::from(items));
    vec![
        Row(vec![
            Datum::Int(1),
            Datum::Timestamp(1_700_000_000_123_456_789),
            Datum::Timestamp(-1),
            Datum::Date(-800_000),
            Datum::Time(86_399),
            Datum::Time(1_999),
            Datum::Decimal(-123_456_789_012_345_678_901_234_567),
            Datum::Decimal(42),
            Datum::float(f64::NAN),
            Datum::float(f64::NEG_INFINITY),
            Datum::Interval { months: -1, days: 40, nanos: -1_600 },
            list(vec![]),
            list(vec![Datum::Null, Datum::Timestamp(946_684_799_999)]),
            Datum::str(""),
            Datum::Bytes(Arc::from(&[][..])),
            Datum::Null,
        ]),
        Row(vec![
            Datum::Int(2),
            Datum::Timestamp(-86_400_000_000_001),
            Datum::Timestamp(253_402_300_799),
            Datum::Date(10_957),
            Datum::Time(0),
            Datum::Time(86_399_999_999_999),
            Datum::Decimal(1),
            Datum::Decimal(-9_999_999_999),
            Datum::float(-0.0),
            Datum::float(5e-324),
            Datum::Interval { months: 0, days: 0, nanos: 86_400_000_000_000 },
            list(vec![Datum::Int(i64::from(i32::MIN)), Datum::Null]),
            Datum::Null,
            Datum::str("ünïcødé \t\n\\ 'q'"),
            Datum::Bytes(Arc::from(&[0u8, 10, 92][..])),
            Datum::Null,
        ]),
    ]
}

#[test]
fn binary_and_text_copies_store_the_same_values() {
    // A table the sink creates is written with binary COPY; a table with one column of a
    // domain type (which binary COPY cannot target by OID) is written with text COPY. Both
    // must hold exactly the same values, in upsert and in append mode.
    let db = TestDb::new("formats");
    let schema = edge_schema();
    let rows = edge_rows();
    let inserts: Vec<(Row, Time, Diff)> = rows.iter().map(|r| upd(r.clone(), 1, 1)).collect();
    let mut binary = db.sink("binary", schema.clone(), "binary", &[("primary_key", "k"), ("create_table", "true")]);
    binary.commit(&inserts, Some(2)).unwrap();
    let domain = format!("{}.tag_text", quote(&db.schema));
    db.exec(&format!("CREATE DOMAIN {domain} AS TEXT"));
    db.exec(&format!("CREATE TABLE {} (LIKE {} INCLUDING ALL)", db.table("text"), db.table("binary")));
    db.exec(&format!("ALTER TABLE {} ALTER COLUMN tag TYPE {domain}", db.table("text")));
    let mut text = db.sink("text", schema.clone(), "text", &[("primary_key", "k")]);
    text.commit(&inserts, Some(2)).unwrap();
    let mut append = db.sink("append", schema.clone(), "append", &[("mode", "append"), ("create_table", "true")]);
    append.commit(&inserts, Some(2)).unwrap();
    let read = |table: &str| db.lines(&format!("SELECT t::text FROM {} t ORDER BY k", db.table(table)));
    let written = read("binary");
    assert_eq!(written.len(), 2);
    assert_eq!(written, read("text"));
    assert_eq!(written, read("append"));
    // Spot checks against what PostgreSQL itself makes of the values' text.
    let value = |column: &str, k: i64| db.value(&format!("SELECT {column}::text FROM {} WHERE k = {k}", db.table("binary")));
    assert_eq!(value("ts_ns", 1), "2023-11-14 22:13:20.123457");
    assert_eq!(value("ts_ns", 2), "1969-12-31 00:00:00");
    assert_eq!(value("dec", 1), "-12345678901234567.8901234567");
    assert_eq!(value("dec_neg", 2), "-9999999999000");
    assert_eq!(value("d", 1), "0222-09-04 BC");
    assert_eq!(value("t_ns", 2), "24:00:00");
    assert_eq!(value("iv", 1), "-1 mons +40 days -00:00:00.000002");
    assert_eq!(value("li", 1), "{}");
    assert_eq!(value("lt", 1), "{NULL,\"1999-12-31 23:59:59.999\"}");
    // An update and a delete through the staging table, both formats.
    let mut changed = rows[0].clone();
    changed.0[13] = Datum::str("changed");
    let updates = [upd(rows[0].clone(), 2, -1), upd(changed, 2, 1), upd(rows[1].clone(), 2, -1)];
    binary.commit(&updates, Some(3)).unwrap();
    text.commit(&updates, Some(3)).unwrap();
    assert_eq!(read("binary"), read("text"));
    assert_eq!(value("s", 1), "changed");
    assert_eq!(read("binary").len(), 1);
}

#[test]
fn fifty_thousand_rows_in_one_commit() {
    let db = TestDb::new("bulk");
    let mut sink = db.sink("bulk", accounts_schema(), "accounts", &[("primary_key", "id"), ("create_table", "true")]);
    let n = 50_000;
    let inserts: Vec<_> = (0..n).map(|i| upd(acc(i, &format!("name {i}"), i as f64), 1, 1)).collect();
    let started = Instant::now();
    sink.commit(&inserts, Some(2)).unwrap();
    let insert_time = started.elapsed();
    assert_eq!(db.value(&format!("SELECT count(*), sum(amount) FROM {}", db.table("accounts"))), format!("{n}|{}", n * (n - 1) / 2));
    // Update every row and delete a tenth, again in one commit.
    let mut changes = Vec::new();
    for i in 0..n {
        changes.push(upd(acc(i, &format!("name {i}"), i as f64), 2, -1));
        if i % 10 != 0 {
            changes.push(upd(acc(i, &format!("name {i}"), (i * 2) as f64), 2, 1));
        }
    }
    changes.sort();
    let started = Instant::now();
    sink.commit(&changes, Some(3)).unwrap();
    eprintln!("50,000 inserts: {insert_time:?}; 50,000 updates/deletes: {:?}", started.elapsed());
    let kept: i64 = (0..n).filter(|i| i % 10 != 0).sum();
    assert_eq!(db.value(&format!("SELECT count(*), sum(amount) FROM {}", db.table("accounts"))), format!("{}|{}", n - n / 10, kept * 2));
}

fn event_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("event", DataType::Utf8, false), Field::new("at", DataType::Int64, false)]))
}

fn ev(name: &str, at: i64) -> Row {
    Row(vec![Datum::str(name), Datum::Int(at)])
}

#[test]
fn a_restarted_sink_given_the_whole_history_applies_nothing_twice() {
    let db = TestDb::new("restart");
    db.exec(&format!("CREATE TABLE {} (event TEXT, at BIGINT)", db.table("log")));
    let history = [upd(ev("a", 1), 1, 1), upd(ev("b", 1), 1, 1), upd(ev("c", 5), 5, 1), upd(ev("d", 10), 10, 1)];
    let options = [("mode", "append")];
    let events = || db.lines(&format!("SELECT event, count(*) FROM {} GROUP BY event ORDER BY event", db.table("log")));
    {
        let mut first = db.sink("replay", event_schema(), "log", &options);
        first.commit(&history[..2], Some(3)).unwrap();
        first.commit(&history[2..3], Some(7)).unwrap();
    }
    assert_eq!(events(), ["a|1", "b|1", "c|1"]);
    assert_eq!(db.progress("replay"), [format!("{}.log|7", db.schema)]);

    // A new instance (a restarted pipeline) replays its input from the beginning.
    let mut second = db.sink("replay", event_schema(), "log", &options);
    second.commit(&history[..2], Some(3)).unwrap(); // entirely before the stored frontier
    assert_eq!(events(), ["a|1", "b|1", "c|1"]);
    second.commit(&history[2..], Some(11)).unwrap(); // c was applied, d was not
    assert_eq!(events(), ["a|1", "b|1", "c|1", "d|1"]);
    second.commit(&[upd(ev("e", 12), 12, 1)], Some(13)).unwrap();
    assert_eq!(events(), ["a|1", "b|1", "c|1", "d|1", "e|1"]);
    assert_eq!(db.progress("replay"), [format!("{}.log|13", db.schema)]);

    // The same for an upsert sink, with the history in one replayed commit.
    let changes = [upd(acc(1, "x", 1.0), 1, 1), upd(acc(1, "x", 1.0), 4, -1), upd(acc(1, "y", 2.0), 4, 1), upd(acc(2, "z", 3.0), 6, 1)];
    {
        let mut first = db.sink("replay_upsert", accounts_schema(), "accounts", &[("primary_key", "id"), ("create_table", "true")]);
        first.commit(&changes[..1], Some(2)).unwrap();
        first.commit(&changes[1..3], Some(5)).unwrap();
    }
    let mut again = db.sink("replay_upsert", accounts_schema(), "accounts", &[("primary_key", "id"), ("create_table", "true")]);
    // Replaying time 1 alone must not bring back key 1's first row ("x").
    again.commit(&changes[..1], Some(2)).unwrap();
    assert_eq!(accounts(&db, "accounts"), ["1|y|2"]);
    again.commit(&changes[1..], Some(7)).unwrap();
    assert_eq!(accounts(&db, "accounts"), ["1|y|2", "2|z|3"]);
}

fn terminate(db: &TestDb, sink: &str) {
    let app = illunare_sink_postgres::application_name(sink);
    let killed = db.lines(&format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{app}'"));
    assert_eq!(killed, ["t"], "exactly one backend named {app}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !db.lines(&format!("SELECT pid FROM pg_stat_activity WHERE application_name = '{app}'")).is_empty() {
        assert!(Instant::now() < deadline, "backend {app} did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_killed_connection_is_reestablished_and_retries_are_exact() {
    let db = TestDb::new("kill");
    let name = format!("kill_{}", unique());
    let mut sink = db.sink(&name, event_schema(), "log", &[("mode", "append"), ("create_table", "true")]);
    sink.commit(&[upd(ev("a", 1), 1, 1)], Some(2)).unwrap();

    terminate(&db, &name);
    // The next commit either notices and reconnects, or fails (and the engine retries it).
    let failures = commit_until_ok(&mut sink, &[upd(ev("b", 2), 2, 1), upd(ev("c", 3), 3, 1)], Some(4));
    eprintln!("commits failed after the kill: {failures}");
    let events = || db.lines(&format!("SELECT event FROM {} ORDER BY event", db.table("log")));
    assert_eq!(events(), ["a", "b", "c"]);

    // Kill again and retry the *same* updates several times, as the engine does after an Err:
    // whatever the outcome of each attempt, every event is in the table once.
    terminate(&db, &name);
    let batch = [upd(ev("d", 4), 4, 1), upd(ev("e", 5), 5, 1)];
    let _ = sink.commit(&batch, Some(6));
    commit_until_ok(&mut sink, &batch, Some(6));
    commit_until_ok(&mut sink, &batch, Some(6));
    assert_eq!(events(), ["a", "b", "c", "d", "e"]);
    // The sink's session is back under its name.
    let app = illunare_sink_postgres::application_name(&name);
    assert_eq!(db.lines(&format!("SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}'")), ["1"]);
}

#[test]
fn an_unreachable_server_fails_commits_with_backoff_and_no_password() {
    let schema = accounts_schema();
    let url = "postgres://postgres:Sup3rS3cretPw@127.0.0.1:1/test";
    let spec = illunare_connector::SinkSpec {
        name: "down".into(),
        from: "v".into(),
        schema,
        options: illunare_connector::Options::new([
            ("url".to_string(), url.to_string()),
            ("table".to_string(), "t".to_string()),
            ("primary_key".to_string(), "id".to_string()),
        ]),
    };
    let mut sink = create(&spec).unwrap();
    let first = sink.commit(&[upd(acc(1, "a", 1.0), 1, 1)], Some(2)).unwrap_err().to_string();
    assert!(first.contains("cannot connect") && first.contains("postgres://postgres:***@127.0.0.1:1/test"), "{first}");
    // Within the backoff the commit fails at once, naming the wait (a slow machine may pass
    // the first, 100 ms, wait: then the next one is longer).
    let mut second = String::new();
    for _ in 0..4 {
        second = sink.commit(&[upd(acc(1, "a", 1.0), 1, 1)], Some(2)).unwrap_err().to_string();
        if second.contains("next attempt in") {
            break;
        }
    }
    assert!(second.contains("next attempt in"), "{second}");
    for text in [first, second] {
        assert!(!text.contains("Sup3rS3cretPw"), "{text}");
    }
}

#[test]
fn append_mode_inserts_and_rejects_retractions() {
    let db = TestDb::new("append");
    let mut sink = db.sink("events", event_schema(), "log", &[("mode", "append"), ("create_table", "true")]);
    sink.commit(&[upd(ev("x", 1), 1, 2), upd(ev("y", 1), 1, 1)], Some(2)).unwrap();
    let events = || db.lines(&format!("SELECT event, at FROM {} ORDER BY event", db.table("log")));
    assert_eq!(events(), ["x|1", "x|1", "y|1"]);
    let err = sink.commit(&[upd(ev("z", 2), 2, 1), upd(ev("x", 1), 3, -1)], Some(4)).unwrap_err().to_string();
    assert!(err.contains("'events'") && err.contains("not append-only") && err.contains("(x, 1)") && err.contains("ignore_retractions"), "{err}");
    assert_eq!(events(), ["x|1", "x|1", "y|1"], "a failed commit writes nothing");
    // With ignore_retractions the retraction is dropped.
    let mut lenient = db.sink("events2", event_schema(), "log", &[("mode", "append"), ("ignore_retractions", "true")]);
    lenient.commit(&[upd(ev("z", 2), 2, 1), upd(ev("x", 1), 3, -1)], Some(4)).unwrap();
    assert_eq!(events(), ["x|1", "x|1", "y|1", "z|2"]);
}

#[test]
fn two_live_rows_for_a_key_fail_the_commit() {
    let db = TestDb::new("dupkey");
    let mut sink = db.sink("alerts_pg", accounts_schema(), "accounts", &[("primary_key", "id"), ("create_table", "true")]);
    let err = sink.commit(&[upd(acc(1, "ok", 1.0), 1, 1), upd(acc(7, "a", 1.0), 1, 1), upd(acc(7, "b", 2.0), 1, 1)], Some(2)).unwrap_err().to_string();
    assert!(err.contains("'alerts_pg'") && err.contains("primary key (id) = (7)") && err.contains("not a key of"), "{err}");
    assert!(accounts(&db, "accounts").is_empty(), "nothing of a failed commit is applied");
    // The engine retries with (eventually) correct data: the sink carries on.
    sink.commit(&[upd(acc(1, "ok", 1.0), 1, 1), upd(acc(7, "b", 2.0), 1, 1)], Some(2)).unwrap();
    assert_eq!(accounts(&db, "accounts"), ["1|ok|1", "7|b|2"]);
}

#[test]
fn an_existing_table_missing_columns_is_reported() {
    let db = TestDb::new("missing");
    db.exec(&format!("CREATE TABLE {} (id BIGINT PRIMARY KEY, extra TEXT)", db.table("accounts")));
    for create_table in ["false", "true"] {
        let mut sink = db.sink("m", accounts_schema(), "accounts", &[("primary_key", "id"), ("create_table", create_table)]);
        let err = sink.commit(&[upd(acc(1, "a", 1.0), 1, 1)], Some(2)).unwrap_err().to_string();
        assert!(err.contains("lacks column(s) \"name\", \"amount\""), "{err}");
    }
    // The table was not altered.
    assert_eq!(db.lines(&format!("SELECT count(*) FROM pg_attribute WHERE attrelid = '{}'::regclass AND attnum > 0", db.table("accounts"))), ["2"]);
    // A table that does not exist, without create_table.
    let mut sink = db.sink("m2", accounts_schema(), "nope", &[("primary_key", "id")]);
    let err = sink.commit(&[], Some(2)).unwrap_err().to_string();
    assert!(err.contains("does not exist") && err.contains("create_table"), "{err}");
    // A table without a unique index on the key.
    db.exec(&format!("CREATE TABLE {} (id BIGINT, name TEXT, amount FLOAT8)", db.table("nokey")));
    let mut sink = db.sink("m3", accounts_schema(), "nokey", &[("primary_key", "id")]);
    let err = sink.commit(&[], Some(2)).unwrap_err().to_string();
    assert!(err.contains("no primary key or unique index on exactly (\"id\")"), "{err}");
    // An existing table with compatible but different types (and extra columns) works.
    db.exec(&format!("CREATE TABLE {} (note TEXT DEFAULT 'n', id INTEGER PRIMARY KEY, name VARCHAR(10), amount NUMERIC)", db.table("compatible")));
    let mut sink = db.sink("m4", accounts_schema(), "compatible", &[("primary_key", "id")]);
    sink.commit(&[upd(acc(1, "a", 1.5), 1, 1)], Some(2)).unwrap();
    assert_eq!(db.lines(&format!("SELECT note, id, name, amount FROM {}", db.table("compatible"))), ["n|1|a|1.5"]);
}

#[test]
fn identifiers_with_spaces_quotes_and_uppercase_are_quoted() {
    let mut db = TestDb::new("idents");
    let weird_schema = format!("Weird \"Sch\" {}", unique());
    db.extra_schemas.push(weird_schema.clone());
    db.exec(&format!("CREATE SCHEMA {}", quote(&weird_schema)));
    let schema = Arc::new(Schema::new(vec![
        Field::new("Card Id", DataType::Int64, false),
        Field::new("a\"b", DataType::Utf8, true),
        Field::new("Select", DataType::Utf8, true),
    ]));
    let table = "Fraud \"Alerts\"; DROP TABLE x; --";
    let mut sink = db.sink("Weird Sink", schema.clone(), table, &[("schema", &weird_schema), ("primary_key", "Card Id"), ("create_table", "true")]);
    let row = |k: i64, v: &str| Row(vec![Datum::Int(k), Datum::str(v), Datum::str("s")]);
    sink.commit(&[upd(row(1, "x"), 1, 1), upd(row(2, "y"), 1, 1)], Some(2)).unwrap();
    sink.commit(&[upd(row(2, "y"), 2, -1), upd(row(1, "x"), 2, -1), upd(row(1, "z"), 2, 1)], Some(3)).unwrap();
    let qualified = format!("{}.{}", quote(&weird_schema), quote(table));
    assert_eq!(db.lines(&format!("SELECT \"Card Id\", \"a\"\"b\", \"Select\" FROM {qualified}")), ["1|z|s"]);
    assert_eq!(
        db.lines(&format!("SELECT sink, table_name FROM {}.illunare_sink_progress", quote(&weird_schema))),
        [format!("Weird Sink|{weird_schema}.{table}")]
    );

    // `table = 'schema.Table Name'` (no schema option) names the schema and the table.
    let spec = {
        let mut s = db.spec("dotted", schema.clone(), &format!("{}.Fraud Alerts", db.schema), &[("primary_key", "Card Id"), ("create_table", "true")]);
        let raw: Vec<(String, String)> = s.options.raw().iter().filter(|(k, _)| k.as_str() != "schema").map(|(k, v)| (k.clone(), v.clone())).collect();
        s.options = illunare_connector::Options::new(raw);
        s
    };
    let mut dotted = create(&spec).unwrap();
    dotted.commit(&[upd(row(5, "q"), 1, 1)], Some(2)).unwrap();
    assert_eq!(db.lines(&format!("SELECT \"Card Id\" FROM {}", db.table("Fraud Alerts"))), ["5"]);
}

#[test]
fn a_password_in_the_url_never_appears_in_errors() {
    let db = TestDb::new("secret");
    // The server trusts loopback, so the password is accepted and ignored; the error comes later.
    let url = pg_url().replacen("postgres://postgres@", "postgres://postgres:Sup3rS3cretPw@", 1);
    assert!(url.contains("Sup3rS3cretPw"), "unexpected test URL form {url}");
    let mut sink = db.sink("secret", accounts_schema(), "missing_table", &[("url", &url), ("primary_key", "id")]);
    let err = sink.commit(&[upd(acc(1, "a", 1.0), 1, 1)], Some(2)).unwrap_err();
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(text.contains("does not exist") && !text.contains("Sup3rS3cretPw"), "{text}");
    }
    // The password from the environment, and a malformed URL at create.
    let spec = db.spec("secret2", accounts_schema(), "t", &[("url", "postgres://u:Sup3rS3cretPw@h:notaport/db"), ("primary_key", "id")]);
    let err = create(&spec).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("url") && !err.contains("Sup3rS3cretPw"), "{err}");
    let spec = db.spec("secret3", accounts_schema(), "t", &[("url", "host=127.0.0.1 port=1 password=Sup3rS3cretPw dbname=test"), ("primary_key", "id")]);
    let mut sink = create(&spec).unwrap();
    let err = sink.commit(&[], Some(2)).unwrap_err().to_string();
    assert!(err.contains("password=***") && !err.contains("Sup3rS3cretPw"), "{err}");
}

#[test]
fn create_validates_without_connecting() {
    let schema = accounts_schema();
    let spec = |pairs: &[(&str, &str)]| illunare_connector::SinkSpec {
        name: "s".into(),
        from: "v".into(),
        schema: schema.clone(),
        options: illunare_connector::Options::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
    };
    // 10.255.255.1 does not answer: a connect attempt would hang until a timeout.
    let unreachable = "postgres://u:pw@10.255.255.1:5432/db";
    let started = Instant::now();
    create(&spec(&[("url", unreachable), ("table", "t"), ("primary_key", "id"), ("create_table", "true")])).unwrap();
    create(&spec(&[("url", unreachable), ("table", "analytics.t"), ("mode", "append")])).unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "create took {:?}", started.elapsed());

    let err = |pairs: &[(&str, &str)]| create(&spec(pairs)).err().map(|e| e.to_string()).unwrap_or_else(|| panic!("{pairs:?} accepted"));
    assert!(err(&[("table", "t"), ("primary_key", "id")]).contains("'url' is required"));
    assert!(err(&[("url", unreachable), ("primary_key", "id")]).contains("'table' is required"));
    let no_key = err(&[("url", unreachable), ("table", "t")]);
    assert!(no_key.contains("primary_key") && no_key.contains("mode = 'append'"), "{no_key}");
    assert!(err(&[("url", unreachable), ("table", "t"), ("mode", "upsert")]).contains("mode = 'append'"));
    assert!(err(&[("url", unreachable), ("table", "t"), ("primary_key", "idd")]).contains("'idd'"));
    assert!(err(&[("url", unreachable), ("table", "t"), ("primary_key", "id"), ("tabel", "x")]).contains("'tabel' is not an option"));
    assert!(err(&[("url", unreachable), ("table", "t"), ("primary_key", "id"), ("ignore_retractions", "true")]).contains("ignore_retractions"));
    assert!(err(&[("url", unreachable), ("table", "t"), ("primary_key", "id"), ("mode", "merge")]).contains("'merge'"));
    assert!(err(&[("url", unreachable), ("table", "a.b.c"), ("primary_key", "id")]).contains("schema.table"));
    let unsupported = Arc::new(Schema::new(vec![Field::new("x", DataType::Decimal256(40, 2), true)]));
    let e = create(&illunare_connector::SinkSpec {
        name: "s".into(),
        from: "v".into(),
        schema: unsupported,
        options: illunare_connector::Options::new([("url".to_string(), unreachable.to_string()), ("table".to_string(), "t".to_string()), ("mode".to_string(), "append".to_string())]),
    })
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(e.contains("column 'x'") && e.contains("Decimal256"), "{e}");
}

/// Runs `sink.commit(batch, frontier)` on a thread and terminates the sink's backend as soon as
/// it runs a statement starting with `phase` (if it gets there); returns the sink and whether
/// the backend was killed and the first attempt's outcome.
fn commit_and_kill_during(db: &TestDb, sink: Box<dyn Sink>, name: &str, batch: Vec<(Row, Time, Diff)>, frontier: Option<Time>, phase: &str) -> (Box<dyn Sink>, bool, Result<(), String>) {
    let app = illunare_sink_postgres::application_name(name);
    let handle = std::thread::spawn(move || {
        let mut sink = sink;
        let result = sink.commit(&batch, frontier).map_err(|e| e.to_string());
        (sink, result)
    });
    let mut killed = false;
    while !handle.is_finished() && !killed {
        killed = db.lines(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{app}' AND state = 'active' AND query LIKE '{phase}%'"
        )) == ["t"];
    }
    let (sink, result) = handle.join().unwrap();
    (sink, killed, result)
}

#[test]
fn connections_killed_during_commits_never_lose_or_repeat_rows() {
    let db = TestDb::new("midkill");
    // Append mode: kill during the COPY into the table.
    let name = format!("midkill_{}", unique());
    let mut sink = db.sink(&name, event_schema(), "log", &[("mode", "append"), ("create_table", "true")]);
    sink.commit(&[], Some(1)).unwrap(); // connect and create the table first
    let rows_per_commit = 100_000;
    let mut kills = 0;
    for round in 0..3u64 {
        let batch: Vec<_> = (0..rows_per_commit).map(|i| upd(ev(&format!("r{round}"), i), round * 10 + 1, 1)).collect();
        let frontier = Some(round * 10 + 2);
        let (returned, killed, first) = commit_and_kill_during(&db, sink, &name, batch.clone(), frontier, "COPY");
        sink = returned;
        kills += usize::from(killed);
        eprintln!("append round {round}: killed during COPY: {killed}; first attempt: {first:?}");
        commit_until_ok(&mut sink, &batch, frontier);
        let expected = (round + 1) * rows_per_commit as u64;
        assert_eq!(db.value(&format!("SELECT count(*), count(DISTINCT (event, at)) FROM {}", db.table("log"))), format!("{expected}|{expected}"));
    }
    // Upsert mode: kill during the merge (DELETE … USING; INSERT … ON CONFLICT).
    let name = format!("midkill_u_{}", unique());
    let mut sink = db.sink(&name, accounts_schema(), "accounts", &[("primary_key", "id"), ("create_table", "true")]);
    sink.commit(&[], Some(1)).unwrap();
    for round in 0..3u64 {
        let t = round * 10 + 1;
        let mut batch: Vec<_> = (0..rows_per_commit).map(|i| upd(acc(i, &format!("r{round}"), round as f64), t, 1)).collect();
        if round > 0 {
            batch.extend((0..rows_per_commit).map(|i| upd(acc(i, &format!("r{}", round - 1), (round - 1) as f64), t, -1)));
        }
        let frontier = Some(t + 1);
        let (returned, killed, first) = commit_and_kill_during(&db, sink, &name, batch.clone(), frontier, "DELETE");
        sink = returned;
        kills += usize::from(killed);
        eprintln!("upsert round {round}: killed during the merge: {killed}; first attempt: {first:?}");
        commit_until_ok(&mut sink, &batch, frontier);
        assert_eq!(
            db.value(&format!("SELECT count(*), min(name), max(name) FROM {}", db.table("accounts"))),
            format!("{rows_per_commit}|r{round}|r{round}")
        );
    }
    assert!(kills > 0, "no commit was interrupted: the test proved nothing");
}

#[test]
fn a_commit_that_hangs_is_abandoned_after_commit_timeout_and_retried() {
    let db = TestDb::new("timeout");
    let mut sink = db.sink("slow", accounts_schema(), "accounts", &[("primary_key", "id"), ("create_table", "true"), ("commit_timeout", "1s")]);
    sink.commit(&[upd(acc(1, "a", 1.0), 1, 1)], Some(2)).unwrap();
    // Another session holds a lock on the table: the sink's merge waits for it.
    let blocker = TestDb::new("timeout_blocker");
    blocker.exec(&format!("BEGIN; LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", db.table("accounts")));
    let started = Instant::now();
    let err = sink.commit(&[upd(acc(2, "b", 2.0), 2, 1)], Some(3)).unwrap_err().to_string();
    assert!(err.contains("commit_timeout") && started.elapsed() < Duration::from_secs(5), "{err} after {:?}", started.elapsed());
    blocker.exec("ROLLBACK");
    commit_until_ok(&mut sink, &[upd(acc(2, "b", 2.0), 2, 1)], Some(3));
    assert_eq!(accounts(&db, "accounts"), ["1|a|1", "2|b|2"]);
}

#[test]
fn two_instances_of_one_sink_never_apply_an_update_twice() {
    // Also what happens when a commit succeeded on the server but its reply was lost: the next
    // attempt's view of the progress is stale, and the progress row read in its transaction wins.
    let db = TestDb::new("twins");
    db.exec(&format!("CREATE TABLE {} (event TEXT, at BIGINT)", db.table("log")));
    let h1 = [upd(ev("a", 1), 1, 1)];
    let h2 = [upd(ev("b", 4), 4, 1), upd(ev("c", 5), 5, 1)];
    let mut a = db.sink("twin", event_schema(), "log", &[("mode", "append")]);
    let mut b = db.sink("twin", event_schema(), "log", &[("mode", "append")]);
    a.commit(&h1, Some(3)).unwrap();
    let both: Vec<_> = h1.iter().chain(&h2).cloned().collect();
    b.commit(&both, Some(7)).unwrap();
    a.commit(&h2, Some(7)).unwrap(); // a believes the frontier is 3: its transaction learns 7
    a.commit(&[upd(ev("d", 8), 8, 1)], Some(9)).unwrap();
    assert_eq!(db.lines(&format!("SELECT event FROM {} ORDER BY event", db.table("log"))), ["a", "b", "c", "d"]);
}
