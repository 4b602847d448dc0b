//! The `parquet` sink against real directories: built through `SinkConnector::create` from a
//! `SinkSpec`, driven by `commit` as the engine drives it, and read back with the `parquet`
//! crate's Arrow reader (only files listed in the manifest, as a reader honouring it would).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit};
use illunare_connector::{Diff, Options, Row, Sink, SinkConnector, SinkSpec, Time};
use illunare_sink_parquet::{MANIFEST_FILE, Manifest, ParquetSinkConnector};
use illunare_types::{Datum, batch_to_rows};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;

type Update = (Row, Time, Diff);

fn spec(schema: &SchemaRef, options: &[(&str, &str)]) -> SinkSpec {
    SinkSpec {
        name: "lake".to_string(),
        from: "alerts".to_string(),
        schema: schema.clone(),
        options: Options::new(options.iter().map(|(k, v)| (k.to_string(), v.to_string())).chain([("connector".to_string(), "parquet".to_string())])),
    }
}

fn sink(schema: &SchemaRef, dir: &Path, options: &[(&str, &str)]) -> Box<dyn Sink> {
    let path = dir.to_string_lossy().into_owned();
    let mut all = vec![("path", path.as_str())];
    all.extend_from_slice(options);
    ParquetSinkConnector.create(&spec(schema, &all)).unwrap()
}

fn kv_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true), Field::new("v", DataType::Int64, true)]))
}

fn kv(k: &str, v: i64) -> Row {
    Row(vec![Datum::str(k), Datum::Int(v)])
}

fn manifest(dir: &Path) -> Option<Manifest> {
    let text = fs::read_to_string(dir.join(MANIFEST_FILE)).ok()?;
    Some(serde_json::from_str(&text).unwrap())
}

fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap().build().unwrap();
    reader.map(|b| b.unwrap()).collect()
}

/// Every file on disk under `dir`, relative, sorted.
fn files_on_disk(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

/// The changelog in the committed files: (row, time, diff), in file order; partition values
/// are put back as leading text columns.
fn committed_changelog(dir: &Path) -> Vec<Update> {
    let Some(m) = manifest(dir) else { return Vec::new() };
    let mut out = Vec::new();
    for file in &m.files {
        for batch in read_parquet(&dir.join(&file.path)) {
            let width = batch.num_columns();
            let diffs = batch.column(width - 2).as_primitive::<Int64Type>().clone();
            let times = batch.column(width - 1).as_primitive::<arrow::datatypes::TimestampMillisecondType>().clone();
            let rows = batch_to_rows(&batch.project(&(0..width - 2).collect::<Vec<_>>()).unwrap()).unwrap();
            // Partition values (text columns in these tests) come first in the relation.
            let prefix: Vec<Datum> = file.partition.iter().map(|p| p.value.as_deref().map_or(Datum::Null, Datum::str)).collect();
            for (i, row) in rows.into_iter().enumerate() {
                let row = Row(prefix.iter().cloned().chain(row.0).collect());
                out.push((row, times.value(i) as Time, diffs.value(i) as Diff));
            }
        }
    }
    out
}

/// Multiset of updates (order-insensitive comparison).
fn bag(updates: &[Update]) -> BTreeMap<(Time, Row), Diff> {
    let mut out = BTreeMap::new();
    for (row, time, diff) in updates {
        *out.entry((*time, row.clone())).or_insert(0) += diff;
    }
    out.retain(|_, d| *d != 0);
    out
}

#[test]
fn create_validates_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("not/yet");
    let mut s = sink(&kv_schema(), &dir, &[("partition_by", "k"), ("rollover_rows", "10"), ("compression", "snappy")]);
    assert!(!dir.exists(), "create must not touch the file system");
    s.commit(&[], Some(1)).unwrap();
    assert!(dir.is_dir(), "the directory is created at the first commit");
    assert!(manifest(&dir).is_none(), "no manifest before a file is committed");
}

#[test]
fn changelog_inserts_and_retractions_sum_to_the_final_relation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut s = sink(&kv_schema(), dir, &[("rollover_rows", "2")]);
    let history: Vec<Vec<Update>> = vec![
        vec![(kv("a", 1), 1, 1), (kv("b", 2), 1, 1), (kv("c", 3), 1, 1)],
        vec![(kv("a", 1), 2, -1), (kv("a", 3), 2, 2)],
        vec![(kv("b", 2), 3, -1), (kv("d", 4), 3, 1)],
    ];
    for (i, updates) in history.iter().enumerate() {
        s.commit(updates, Some(i as Time + 2)).unwrap();
    }
    s.commit(&[], None).unwrap();
    let m = manifest(dir).unwrap();
    assert_eq!(m.files.len(), 4, "7 updates at rollover_rows = 2: {:?}", m.files);
    assert!(m.ended);
    assert_eq!(m.frontier, Some(4));

    // Schema: the relation's columns, then _diff (Int64) and _time (ms timestamp, UTC).
    let batch = &read_parquet(&dir.join(&m.files[0].path))[0];
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, vec!["k", "v", "_diff", "_time"]);
    assert_eq!(schema.field(2).data_type(), &DataType::Int64);
    assert_eq!(schema.field(3).data_type(), &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())));

    // Every update exactly once, a multiplicity of 2 as one row with _diff = 2.
    let changelog = committed_changelog(dir);
    assert_eq!(changelog.len(), 7);
    assert!(changelog.contains(&(kv("a", 3), 2, 2)));
    assert_eq!(bag(&changelog), bag(&history.concat()));
    // Summing _diff per row gives the final relation.
    let mut relation: BTreeMap<Row, Diff> = BTreeMap::new();
    for (row, _, diff) in &changelog {
        *relation.entry(row.clone()).or_insert(0) += diff;
    }
    relation.retain(|_, d| *d != 0);
    assert_eq!(relation, BTreeMap::from([(kv("a", 3), 2), (kv("c", 3), 1), (kv("d", 4), 1)]));
    // Manifest bookkeeping matches the files.
    for f in &m.files {
        let rows: usize = read_parquet(&dir.join(&f.path)).iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows as u64, f.rows);
        assert!(f.min_time <= f.max_time);
    }
}

#[test]
fn rollover_by_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut s = sink(&kv_schema(), dir, &[("rollover_rows", "100")]);
    let updates: Vec<Update> = (0..350).map(|i| (kv("k", i), 10 + i as Time / 10, 1)).collect();
    // 50 rows: nothing committed yet, nothing visible.
    s.commit(&updates[..50], Some(15)).unwrap();
    assert!(manifest(dir).is_none());
    assert!(files_on_disk(dir).is_empty(), "{:?}", files_on_disk(dir));
    s.commit(&updates[50..], Some(100)).unwrap();
    let m = manifest(dir).unwrap();
    assert_eq!(m.files.iter().map(|f| f.rows).collect::<Vec<_>>(), vec![100, 100, 100]);
    // 50 rows (times 40..44) are buffered: the frontier stops at the oldest of them.
    assert_eq!(m.frontier, Some(40));
    assert!(!m.ended);
    s.commit(&[], None).unwrap();
    let m = manifest(dir).unwrap();
    assert_eq!(m.files.iter().map(|f| f.rows).collect::<Vec<_>>(), vec![100, 100, 100, 50]);
    let names: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "file names sort in commit order");
    assert_eq!(names[0], "part-0000000000-10-19.parquet");
    let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    expected.insert(0, MANIFEST_FILE.to_string());
    expected.sort();
    assert_eq!(files_on_disk(dir), expected, "no .tmp files, nothing unlisted");
    assert_eq!(bag(&committed_changelog(dir)), bag(&updates));
}

#[test]
fn rollover_by_interval() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut s = sink(&kv_schema(), dir, &[("rollover_interval", "200ms")]);
    s.commit(&[(kv("a", 1), 1, 1)], Some(2)).unwrap();
    assert!(manifest(dir).is_none(), "the file is not due yet");
    std::thread::sleep(Duration::from_millis(300));
    s.commit(&[(kv("b", 2), 2, 1)], Some(3)).unwrap();
    let m = manifest(dir).unwrap();
    assert_eq!(m.files.len(), 1);
    assert_eq!((m.files[0].rows, m.files[0].min_time, m.files[0].max_time), (2, 1, 2));
    assert_eq!(m.frontier, Some(3));
    // A fresh buffer starts its own interval.
    s.commit(&[(kv("c", 3), 3, 1)], Some(4)).unwrap();
    assert_eq!(manifest(dir).unwrap().files.len(), 1);
}

/// A run that crashes (the sink is dropped with rows buffered), a restart replaying the whole
/// history, and a third run replaying it again with new times: every update once.
#[test]
fn restart_writes_nothing_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Partitioned and rolling every 7 rows, so files end in the middle of a time, at different
    // places per partition.
    let options = [("rollover_rows", "7"), ("partition_by", "k")];
    let history: Vec<Vec<Update>> = (1..=10)
        .map(|t: Time| (0..5).map(|i| (kv(if i % 2 == 0 { "even" } else { "odd" }, t as i64 * 10 + i), t, if t.is_multiple_of(3) { -1 } else { 1 })).collect())
        .collect();

    let mut first = sink(&kv_schema(), dir, &options);
    for (i, updates) in history.iter().enumerate().take(6) {
        first.commit(updates, Some(i as Time + 2)).unwrap();
    }
    drop(first); // crash: buffered rows are lost
    let before = manifest(dir).unwrap();
    assert!(!before.files.is_empty());
    // Leftovers of a crash in the middle of a commit.
    let part_dir = dir.join("k=even");
    fs::write(part_dir.join("part-0000000999-7-7.parquet.tmp"), b"half").unwrap();
    fs::write(part_dir.join("part-0000000998-7-7.parquet"), b"unlisted").unwrap();
    fs::write(dir.join("_manifest.json.tmp"), b"{").unwrap();
    fs::write(dir.join("README.txt"), b"not ours").unwrap();

    let mut second = sink(&kv_schema(), dir, &options);
    for (i, updates) in history.iter().enumerate() {
        second.commit(updates, Some(i as Time + 2)).unwrap();
        if i == 0 {
            // Strays are gone after the first commit (the start), ours and others' files stay.
            let on_disk = files_on_disk(dir);
            assert!(!on_disk.iter().any(|f| f.ends_with(".tmp") || f.contains("part-0000000998")), "{on_disk:?}");
            assert!(on_disk.contains(&"README.txt".to_string()));
            for f in &before.files {
                assert!(on_disk.contains(&f.path), "{} was removed", f.path);
            }
        }
    }
    second.commit(&[], None).unwrap();
    assert_eq!(committed_changelog(dir).len(), 50);
    assert_eq!(bag(&committed_changelog(dir)), bag(&history.concat()));
    assert_eq!(manifest(dir).unwrap().frontier, Some(11));

    // Third run: the same history again, then new times.
    let files_before = manifest(dir).unwrap().files.len();
    let mut third = sink(&kv_schema(), dir, &options);
    for (i, updates) in history.iter().enumerate() {
        third.commit(updates, Some(i as Time + 2)).unwrap();
    }
    assert_eq!(manifest(dir).unwrap().files.len(), files_before, "the replay wrote nothing");
    let new: Vec<Update> = vec![(kv("even", 1000), 11, 1), (kv("odd", 1001), 12, 1)];
    third.commit(&new, None).unwrap();
    let mut all = history.concat();
    all.extend(new);
    assert_eq!(bag(&committed_changelog(dir)), bag(&all));
    assert_eq!(committed_changelog(dir).len(), 52);
}

/// Append mode, with multiplicities a file boundary can split: a restart still writes each
/// copy once.
#[test]
fn restart_in_append_mode_splits_multiplicities_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let options = [("rollover_rows", "2"), ("mode", "append")];
    let history: Vec<Update> = vec![(kv("a", 1), 1, 3), (kv("b", 2), 1, 1), (kv("c", 3), 2, 2)];
    let mut first = sink(&kv_schema(), dir, &options);
    first.commit(&history[..2], Some(2)).unwrap(); // 4 rows: 2 files, nothing buffered
    drop(first);
    assert_eq!(manifest(dir).unwrap().files.len(), 2);
    let mut second = sink(&kv_schema(), dir, &options);
    second.commit(&history[..2], Some(2)).unwrap();
    second.commit(&history[2..], None).unwrap();
    let m = manifest(dir).unwrap();
    let mut rows = Vec::new();
    for f in &m.files {
        for b in read_parquet(&dir.join(&f.path)) {
            assert_eq!(b.num_columns(), 2, "append files have no _diff/_time");
            rows.extend(batch_to_rows(&b).unwrap());
        }
    }
    rows.sort();
    assert_eq!(rows, vec![kv("a", 1), kv("a", 1), kv("a", 1), kv("b", 2), kv("c", 3), kv("c", 3)]);

    // A split in the middle of a multiplicity: 3 copies of `a`, files of 2 rows.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut first = sink(&kv_schema(), dir, &options);
    first.commit(&[(kv("a", 1), 1, 3)], Some(2)).unwrap(); // one file of 2, one copy buffered
    drop(first);
    let mut second = sink(&kv_schema(), dir, &options);
    second.commit(&[(kv("a", 1), 1, 3)], None).unwrap();
    let total: u64 = manifest(dir).unwrap().files.iter().map(|f| f.rows).sum();
    assert_eq!(total, 3);
}

#[test]
fn failed_commit_is_all_or_nothing_and_retried_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut s = sink(&kv_schema(), dir, &[("partition_by", "k")]);
    s.commit(&[], Some(1)).unwrap();
    // A file where partition b's directory must go makes the commit fail after a's file.
    fs::write(dir.join("k=b"), b"in the way").unwrap();
    let updates = vec![(kv("a", 1), 1, 1), (kv("b", 2), 1, 1)];
    let err = s.commit(&updates, None).unwrap_err().to_string();
    assert!(err.contains("k=b"), "{err}");
    assert!(manifest(dir).is_none(), "nothing committed");
    assert_eq!(files_on_disk(dir), vec!["k=b".to_string()], "the file written for a was removed");
    fs::remove_file(dir.join("k=b")).unwrap();
    s.commit(&updates, None).unwrap();
    let m = manifest(dir).unwrap();
    assert_eq!(m.files.len(), 2);
    assert_eq!(m.files[0].path, "k=a/part-0000000000-1-1.parquet");
    assert_eq!(m.files[1].path, "k=b/part-0000000001-1-1.parquet");
}

#[test]
fn partition_directories_and_values() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("date", DataType::Date32, true),
        Field::new("host", DataType::Utf8, true),
        Field::new("v", DataType::Int64, false),
    ]));
    let mut s = sink(&schema, dir, &[("partition_by", "date, host")]);
    let row = |d: i32, h: Option<&str>, v: i64| Row(vec![Datum::Date(d), h.map_or(Datum::Null, Datum::str), Datum::Int(v)]);
    s.commit(&[(row(19724, Some("web/1"), 1), 1, 1), (row(19724, None, 2), 1, 1), (row(19725, Some("db"), 3), 2, 1)], None).unwrap();
    let m = manifest(dir).unwrap();
    let mut paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    paths.sort();
    assert_eq!(
        paths.iter().map(|p| p.rsplit_once('/').unwrap().0).collect::<Vec<_>>(),
        vec!["date=2024-01-02/host=__HIVE_DEFAULT_PARTITION__", "date=2024-01-02/host=web%2F1", "date=2024-01-03/host=db"]
    );
    let web = m.files.iter().find(|f| f.path.contains("web")).unwrap();
    assert_eq!(web.partition.len(), 2);
    assert_eq!((web.partition[0].column.as_str(), web.partition[0].value.as_deref()), ("date", Some("2024-01-02")));
    assert_eq!((web.partition[1].column.as_str(), web.partition[1].value.as_deref()), ("host", Some("web/1")));
    let null = m.files.iter().find(|f| f.path.contains("DEFAULT")).unwrap();
    assert_eq!(null.partition[1].value, None);
    // The files hold the other columns only.
    let batch = &read_parquet(&dir.join(&web.path))[0];
    let names: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, vec!["v", "_diff", "_time"]);
    assert_eq!(batch.column(0).as_primitive::<Int64Type>().value(0), 1);
}

/// By default nanosecond timestamps are written as microseconds (Spark 3 refuses Parquet
/// `TIMESTAMP(NANOS)`); coarser units are kept.
#[test]
fn nanosecond_timestamps_are_written_as_microseconds_by_default() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("ts_s", DataType::Timestamp(TimeUnit::Second, None), true),
        Field::new("ts_ns", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), true),
    ]));
    let mut s = sink(&schema, dir, &[("mode", "append")]);
    s.commit(&[(Row(vec![Datum::Timestamp(1_704_153_600), Datum::Timestamp(1_704_153_600_123_456_789)]), 1, 1)], None).unwrap();
    let m = manifest(dir).unwrap();
    let batches = read_parquet(&dir.join(&m.files[0].path));
    let types: Vec<DataType> = batches[0].schema().fields().iter().map(|f| f.data_type().clone()).collect();
    assert_eq!(types, [DataType::Timestamp(TimeUnit::Second, None), DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))]);
    assert_eq!(batch_to_rows(&batches[0]).unwrap(), vec![Row(vec![Datum::Timestamp(1_704_153_600), Datum::Timestamp(1_704_153_600_123_456)])]);
}

#[test]
fn common_types_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let item = |t: DataType| Arc::new(Field::new("item", t, true));
    let fields = vec![
        Field::new("b", DataType::Boolean, true),
        Field::new("i8", DataType::Int8, true),
        Field::new("i16", DataType::Int16, true),
        Field::new("i32", DataType::Int32, true),
        Field::new("i64", DataType::Int64, true),
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
        Field::new("ts_s", DataType::Timestamp(TimeUnit::Second, None), true),
        Field::new("ts_ms", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("ts_us", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("ts_ns", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
        Field::new("ts_tz", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
        Field::new("l", DataType::List(item(DataType::Int64)), true),
        Field::new("ls", DataType::List(item(DataType::Utf8)), true),
    ];
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let full = Row(vec![
        Datum::Bool(true),
        Datum::Int(-8),
        Datum::Int(-16),
        Datum::Int(-32),
        Datum::Int(i64::MIN),
        Datum::UInt(255),
        Datum::UInt(65535),
        Datum::UInt(u32::MAX as u64),
        Datum::UInt(u64::MAX),
        Datum::float(1.5),
        Datum::float(-2.25e300),
        Datum::Decimal(-123_456_789),
        Datum::str("héllo"),
        Datum::Bytes(Arc::from(&[0u8, 1, 255][..])),
        Datum::Date(19724),
        Datum::Timestamp(1_704_153_600),
        Datum::Timestamp(1_704_153_600_123),
        Datum::Timestamp(1_704_153_600_123_456),
        Datum::Timestamp(1_704_153_600_123_456_789),
        Datum::Timestamp(1_704_153_600_123_456),
        Datum::List(Arc::from(vec![Datum::Int(1), Datum::Null, Datum::Int(3)])),
        Datum::List(Arc::from(vec![Datum::str("x")])),
    ]);
    let nulls = Row(vec![Datum::Null; schema.fields().len()]);
    let mut s = sink(&schema, dir, &[("mode", "append"), ("timestamp_unit", "keep")]);
    s.commit(&[(full.clone(), 1, 1), (nulls.clone(), 1, 1)], None).unwrap();
    let m = manifest(dir).unwrap();
    let batches = read_parquet(&dir.join(&m.files[0].path));
    assert_eq!(batches[0].schema().fields().len(), schema.fields().len());
    for (read, declared) in batches[0].schema().fields().iter().zip(schema.fields()) {
        assert_eq!((read.name(), read.data_type()), (declared.name(), declared.data_type()));
    }
    let mut rows: Vec<Row> = batches.iter().flat_map(|b| batch_to_rows(b).unwrap()).collect();
    rows.sort();
    let mut expected = vec![full, nulls];
    expected.sort();
    assert_eq!(rows, expected);

    // Parquet-level types readers rely on: UTF8 strings, TIMESTAMP with its unit.
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(dir.join(&m.files[0].path)).unwrap()).unwrap();
    let descr = reader.metadata().file_metadata().schema_descr_ptr();
    let logical = |name: &str| {
        let column = descr.columns().iter().find(|c| c.path().string() == name).unwrap();
        format!("{:?}", column.logical_type_ref())
    };
    assert!(logical("s").contains("String"), "{}", logical("s"));
    assert!(logical("ts_ms").contains("MILLIS"), "{}", logical("ts_ms"));
    assert!(logical("ts_ns").contains("NANOS"), "{}", logical("ts_ns"));
    assert!(logical("u64").contains("is_signed: false"), "{}", logical("u64"));
    assert!(logical("dec").contains("Decimal"), "{}", logical("dec"));
}

#[test]
fn compression_options() {
    for (option, expected) in [("zstd", "ZSTD"), ("snappy", "SNAPPY"), ("none", "UNCOMPRESSED")] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut s = sink(&kv_schema(), dir, &[("compression", option), ("row_group_size", "2")]);
        s.commit(&[(kv("a", 1), 1, 1), (kv("b", 2), 1, 1), (kv("c", 3), 1, 1)], None).unwrap();
        let m = manifest(dir).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(dir.join(&m.files[0].path)).unwrap()).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.num_row_groups(), 2, "row_group_size = 2 with 3 rows");
        let codec: Compression = meta.row_group(0).column(0).compression();
        assert!(format!("{codec:?}").starts_with(expected), "{option}: {codec:?}");
    }
}

#[test]
fn append_mode_refuses_a_retraction() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut s = sink(&kv_schema(), dir, &[("mode", "append")]);
    s.commit(&[(kv("a", 1), 1, 1)], Some(2)).unwrap();
    let err = s.commit(&[(kv("a", 1), 2, -1)], Some(3)).unwrap_err().to_string();
    assert!(err.contains("not append-only") && err.contains("'alerts'") && err.contains("time 2"), "{err}");
    // The sink is unchanged: the buffered row is still committed at the end.
    s.commit(&[], None).unwrap();
    assert_eq!(manifest(dir).unwrap().files[0].rows, 1);
}

#[test]
fn bad_options_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().to_string_lossy().into_owned();
    let err = |options: &[(&str, &str)]| -> String {
        match ParquetSinkConnector.create(&spec(&kv_schema(), options)) {
            Ok(_) => panic!("{options:?} accepted"),
            Err(e) => e.to_string(),
        }
    };
    let gs = err(&[("path", "gs://bucket/alerts/")]);
    assert!(gs.contains("path") && gs.contains("not supported"), "{gs}");
    assert!(ParquetSinkConnector.create(&spec(&kv_schema(), &[("path", "s3://bucket/alerts/")])).is_ok(), "s3:// is accepted without a network call");
    assert!(err(&[]).contains("'path' is required"));
    for (key, value, expect) in [
        ("rollover_rows", "0", "rollover_rows"),
        ("rollover_rows", "many", "rollover_rows"),
        ("rollover_interval", "soon", "rollover_interval"),
        ("rollover_interval", "0s", "rollover_interval"),
        ("compression", "lz4", "compression"),
        ("mode", "upsert", "mode"),
        ("mode", "snapshot", "mode"),
        ("partition_by", "nope", "partition_by"),
        ("row_group_size", "0", "row_group_size"),
        ("rollover_rowz", "10", "rollover_rowz"),
    ] {
        let message = err(&[("path", &path), (key, value)]);
        assert!(message.contains(&format!("option '{expect}'")), "{key} = {value}: {message}");
    }
    // A relation with a column called _diff cannot be written as a changelog (but can in append mode).
    let clash: SchemaRef = Arc::new(Schema::new(vec![Field::new("_diff", DataType::Int64, true), Field::new("v", DataType::Int64, true)]));
    let spec_with = |mode: &str| spec(&clash, &[("path", path.as_str()), ("mode", mode)]);
    let message = ParquetSinkConnector.create(&spec_with("changelog")).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("_diff"), "{message}");
    assert!(ParquetSinkConnector.create(&spec_with("append")).is_ok());
}

#[test]
fn a_manifest_for_other_columns_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut s = sink(&kv_schema(), dir, &[]);
    s.commit(&[(kv("a", 1), 1, 1)], None).unwrap();
    let mut other = sink(&kv_schema(), dir, &[("mode", "append")]);
    let err = other.commit(&[], Some(1)).unwrap_err().to_string();
    assert!(err.contains("manifest") && err.contains("append"), "{err}");
    // Corrupt manifest: an error, and nothing deleted.
    fs::write(dir.join(MANIFEST_FILE), b"{").unwrap();
    let before = files_on_disk(dir);
    let mut again = sink(&kv_schema(), dir, &[]);
    assert!(again.commit(&[], Some(1)).is_err());
    assert_eq!(files_on_disk(dir), before);
}
