//! Tests of the partitioned `file` sink: directory names, file layout, snapshot and changelog
//! writing, `_SUCCESS` timing and option errors.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use illunare_connector::{Options, Sink, SinkConnector, SinkSpec};
use illunare_types::{Datum, row};

use super::*;
use crate::FileSinkConnector;
use illunare_connector::hive::DEFAULT_PARTITION;

use crate::partition::parse_partition_time;

/// 2024-01-01T00:01:00Z in milliseconds.
const MINUTE_1: Time = 1_704_067_260_000;
const MINUTE: Time = 60_000;

fn spec(options: &[(&str, &str)]) -> SinkSpec {
    SinkSpec {
        name: "out".into(),
        from: "rel".into(),
        schema: Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            Field::new("dt", DataType::Utf8, true),
            Field::new("hm", DataType::Utf8, true),
        ])),
        options: Options::new(options.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
    }
}

/// A sink into `root` partitioned by dt, hm, with `extra` options.
fn sink(root: &Path, extra: &[(&str, &str)]) -> Box<dyn Sink> {
    let root = root.to_string_lossy().into_owned();
    let mut options = vec![("path", root.as_str()), ("partition_by", "dt, hm")];
    options.extend_from_slice(extra);
    FileSinkConnector.create(&spec(&options)).unwrap_or_else(|e| panic!("{e}"))
}

/// Every file under `root` (relative path → contents).
fn tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn files(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn values_are_escaped_as_hive_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(dir.path(), &[("format", "csv")]);
    s.commit(&[(Row(vec![Datum::str("a"), Datum::Int(1), Datum::Null, Datum::str("12:30")]), 1, 1)], Some(2)).unwrap();
    s.commit(&[(Row(vec![Datum::str("b"), Datum::Int(2), Datum::str("x/y"), Datum::str("")]), 2, 1)], Some(3)).unwrap();
    let got: Vec<String> = tree(dir.path()).into_keys().collect();
    assert_eq!(got, vec![format!("dt={DEFAULT_PARTITION}/hm=12%3A30/part.csv"), "dt=x%2Fy/hm=/part.csv".to_string()]);
}

#[test]
fn timestamp_partition_values_are_rendered_as_the_encoder_does() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("at", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("n", DataType::Int64, true),
    ]));
    let root = dir.path().to_string_lossy().into_owned();
    let options = Options::new([("path".to_string(), root), ("partition_by".to_string(), "at".to_string())]);
    let spec = SinkSpec { name: "ts".into(), from: "rel".into(), schema, options };
    let mut s = FileSinkConnector.create(&spec).unwrap();
    s.commit(&[(Row(vec![Datum::Timestamp(1_500), Datum::Int(7)]), 1, 1)], None).unwrap();
    assert_eq!(
        tree(dir.path()),
        files(&[("at=1970-01-01T00%3A00%3A01.500Z/part.jsonl", "{\"n\":7}\n"), ("at=1970-01-01T00%3A00%3A01.500Z/_SUCCESS", "")])
    );
}

#[test]
fn rows_go_to_their_partition_without_the_partition_columns() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("q10");
    let mut csv = sink(&root, &[("format", "csv")]);
    assert!(!root.exists(), "create must not touch the filesystem");
    csv.commit(&[], Some(1)).unwrap();
    assert!(root.is_dir() && tree(&root).is_empty(), "the first commit creates the (empty) directory");
    let updates = [
        (row!["a", 1i64, "2024-01-01", "00:01"], 1, 1),
        (row!["b, c", 2i64, "2024-01-01", "00:01"], 1, 2),
        (row!["d", 3i64, "2024-01-01", "00:02"], 1, 1),
        (row!["e", 4i64, "2024-01-02", "00:01"], 1, 1),
    ];
    csv.commit(&updates, Some(2)).unwrap();
    assert_eq!(
        tree(&root),
        files(&[
            ("dt=2024-01-01/hm=00%3A01/part.csv", "k,n\na,1\n\"b, c\",2\n\"b, c\",2\n"),
            ("dt=2024-01-01/hm=00%3A02/part.csv", "k,n\nd,3\n"),
            ("dt=2024-01-02/hm=00%3A01/part.csv", "k,n\ne,4\n"),
        ])
    );

    let root = dir.path().join("jsonl");
    let mut jsonl = sink(&root, &[]);
    jsonl.commit(&updates[..1], Some(2)).unwrap();
    assert_eq!(tree(&root), files(&[("dt=2024-01-01/hm=00%3A01/part.jsonl", "{\"k\":\"a\",\"n\":1}\n")]));
}

#[test]
fn snapshot_rewrites_only_changed_partitions_and_removes_emptied_ones() {
    let dir = tempfile::tempdir().unwrap();
    // An earlier run's commit of a partition this run writes does not stand for this run's.
    fs::create_dir_all(dir.path().join("dt=d1/hm=h1")).unwrap();
    fs::write(dir.path().join("dt=d1/hm=h1/_SUCCESS"), "").unwrap();
    let mut s = sink(dir.path(), &[("format", "csv")]);
    s.commit(
        &[
            (row!["a", 1i64, "d1", "h1"], 1, 1),
            (row!["b", 2i64, "d1", "h2"], 1, 1),
            (row!["c", 3i64, "d2", "h1"], 1, 1),
        ],
        Some(2),
    )
    .unwrap();
    // A file the sink has no reason to rewrite keeps whatever it holds.
    let untouched = dir.path().join("dt=d2/hm=h1/part.csv");
    fs::write(&untouched, "marker\n").unwrap();
    s.commit(&[(row!["a", 1i64, "d1", "h1"], 2, 1), (row!["b", 2i64, "d1", "h2"], 2, -1)], Some(3)).unwrap();
    assert_eq!(
        tree(dir.path()),
        files(&[("dt=d1/hm=h1/part.csv", "k,n\na,1\na,1\n"), ("dt=d2/hm=h1/part.csv", "marker\n")]),
        "d1/h2 lost its only row: file and directory removed; d2/h1 not rewritten"
    );
    assert!(dir.path().join("dt=d1").is_dir());

    // Emptying the last partition under dt=d1 removes dt=d1 too, _SUCCESS included.
    s.commit(&[(row!["a", 1i64, "d1", "h1"], 3, -2)], None).unwrap();
    assert_eq!(tree(dir.path()), files(&[("dt=d2/hm=h1/part.csv", "marker\n"), ("dt=d2/hm=h1/_SUCCESS", "")]));
    assert!(!dir.path().join("dt=d1").exists());
    assert!(dir.path().is_dir(), "the sink's own directory stays");
}

#[test]
fn failed_snapshot_commits_are_undone_for_the_retry() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(dir.path(), &[("format", "csv")]);
    s.commit(&[(row!["a", 1i64, "d1", "h1"], 1, 1)], Some(2)).unwrap();
    // More retractions than insertions: reported, nothing applied.
    let err = s.commit(&[(row!["a", 1i64, "d1", "h1"], 2, 1), (row!["zz", 1i64, "d1", "h1"], 2, -1)], Some(3)).err().unwrap();
    assert!(err.to_string().contains("bug upstream"), "{err}");
    // An I/O failure (a file where the partition directory must go): a typed error with the
    // sink and the path, and the retry applies the updates once.
    fs::write(dir.path().join("dt=d2"), "in the way").unwrap();
    let updates = [(row!["a", 1i64, "d1", "h1"], 2, 1), (row!["b", 2i64, "d2", "h1"], 2, 1)];
    let err = s.commit(&updates, Some(3)).err().unwrap();
    assert!(matches!(err, ConnectorError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("sink 'out'") && err.to_string().contains("dt=d2"), "{err}");
    fs::remove_file(dir.path().join("dt=d2")).unwrap();
    s.commit(&updates, Some(3)).unwrap();
    assert_eq!(tree(dir.path()), files(&[("dt=d1/hm=h1/part.csv", "k,n\na,1\na,1\n"), ("dt=d2/hm=h1/part.csv", "k,n\nb,2\n")]));
}

#[test]
fn changelog_appends_to_each_partition() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("dt=d1/hm=h1")).unwrap();
    fs::write(dir.path().join("dt=d1/hm=h1/part.csv"), "stale\n").unwrap();
    fs::write(dir.path().join("dt=d1/hm=h1/_SUCCESS"), "").unwrap();
    let mut s = sink(dir.path(), &[("format", "csv"), ("mode", "changelog")]);
    s.commit(&[(row!["a", 1i64, "d1", "h1"], 1, 1), (row!["b", 2i64, "d1", "h2"], 1, 2)], Some(2)).unwrap();
    s.commit(&[(row!["a", 1i64, "d1", "h1"], 2, -1), (row!["c", 3i64, "d1", "h1"], 2, 1)], Some(3)).unwrap();
    assert_eq!(
        tree(dir.path()),
        files(&[("dt=d1/hm=h1/part.csv", "k,n,_diff\na,1,1\na,1,-1\nc,3,1\n"), ("dt=d1/hm=h2/part.csv", "k,n,_diff\nb,2,2\n")]),
        "truncated at first touch (an earlier run's _SUCCESS removed), appended after"
    );

    let root = dir.path().join("jsonl");
    let mut s = sink(&root, &[("mode", "changelog")]);
    s.commit(&[(row!["a", 1i64, "d1", "h1"], 1, 1)], Some(2)).unwrap();
    s.commit(&[(row!["a", 1i64, "d1", "h1"], 2, -1)], None).unwrap();
    assert_eq!(
        tree(&root),
        files(&[("dt=d1/hm=h1/part.jsonl", "{\"k\":\"a\",\"n\":1,\"_diff\":1}\n{\"k\":\"a\",\"n\":1,\"_diff\":-1}\n"), ("dt=d1/hm=h1/_SUCCESS", "")])
    );
}

#[test]
fn partitions_commit_at_partition_time_plus_delay() {
    assert_eq!(parse_partition_time("2024-01-01 00:01:00"), Some(MINUTE_1 as i64));
    assert_eq!(parse_partition_time("2024-01-01"), Some((MINUTE_1 - MINUTE) as i64));
    assert_eq!(parse_partition_time("2024-01-01 00:01"), None);

    for mode in ["snapshot", "changelog"] {
        let dir = tempfile::tempdir().unwrap();
        let options = [("format", "csv"), ("mode", mode), ("partition_time", "$dt $hm:00"), ("partition_commit_delay", "1 min")];
        let mut s = sink(dir.path(), &options);
        let success = |hm: &str| dir.path().join(format!("dt=2024-01-01/hm=00%3A{hm}/_SUCCESS")).exists();
        let minute_2 = MINUTE_1 + MINUTE;
        s.commit(&[(row!["a", 1i64, "2024-01-01", "00:01"], MINUTE_1, 1)], Some(MINUTE_1 + 1)).unwrap();
        s.commit(&[], Some(minute_2 - 1)).unwrap();
        assert!(!success("01"), "{mode}: a millisecond before 00:01 + 1 min");
        s.commit(&[(row!["b", 2i64, "2024-01-01", "00:02"], minute_2, 1)], Some(minute_2 + 1)).unwrap();
        assert!(success("01") && !success("02"), "{mode}: 00:01 + 1 min reached");
        // A late row for the committed partition is written, and the partition stays committed.
        s.commit(&[(row!["late", 9i64, "2024-01-01", "00:01"], minute_2 + 1, 1)], Some(minute_2 + 2)).unwrap();
        let file = fs::read_to_string(dir.path().join("dt=2024-01-01/hm=00%3A01/part.csv")).unwrap();
        assert!(file.contains("late,9"), "{mode}: {file}");
        assert!(success("01") && !success("02"), "{mode}");
        s.commit(&[], Some(minute_2 + MINUTE - 1)).unwrap();
        assert!(!success("02"), "{mode}");
        s.commit(&[], Some(minute_2 + MINUTE)).unwrap();
        assert!(success("02"), "{mode}: 00:02 + 1 min reached");
        s.commit(&[], None).unwrap();
        assert_eq!(tree(dir.path()).len(), 4, "{mode}: two files, two _SUCCESS");
    }
}

#[test]
fn without_a_usable_partition_time_partitions_commit_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(dir.path(), &[]);
    s.commit(&[(row!["a", 1i64, "2024-01-01", "00:01"], 1, 1)], Some(Time::MAX)).unwrap();
    assert!(!dir.path().join("dt=2024-01-01/hm=00%3A01/_SUCCESS").exists(), "no partition_time: only at the end");
    s.commit(&[], None).unwrap();
    assert!(dir.path().join("dt=2024-01-01/hm=00%3A01/_SUCCESS").exists());

    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(dir.path(), &[("partition_time", "$dt $hm:00")]);
    let rows = [(row!["a", 1i64, "2024-01-01", "00:01"], 1, 1), (row!["b", 1i64, "2024-01-01", "soon"], 1, 1), (row!["c", 1i64, "2024-01-01", None::<&str>], 1, 1)];
    s.commit(&rows, Some(Time::MAX)).unwrap();
    let success = |hm: &str| dir.path().join(format!("dt=2024-01-01/hm={hm}/_SUCCESS")).exists();
    assert!(success("00%3A01") && !success("soon") && !success(DEFAULT_PARTITION), "unparseable / NULL times wait for the end");
    s.commit(&[], None).unwrap();
    assert!(success("soon") && success(DEFAULT_PARTITION));
}

#[test]
fn partition_options_are_validated() {
    let err = |opts: &[(&str, &str)]| FileSinkConnector.create(&spec(opts)).err().expect("an error").to_string();
    let e = err(&[("path", "out"), ("partition_by", "dt, day")]);
    assert!(e.contains("partition_by") && e.contains("'day'") && e.contains("k, n, dt, hm"), "{e}");
    assert!(err(&[("path", "out"), ("partition_by", " ")]).contains("is empty"));
    assert!(err(&[("path", "out"), ("partition_by", "dt,")]).contains("empty column name"));
    assert!(err(&[("path", "out"), ("partition_by", "dt, dt")]).contains("twice"));
    assert!(err(&[("path", "out"), ("partition_by", "k, n, dt, hm")]).contains("every column"));
    assert!(err(&[("path", "out.csv"), ("partition_time", "$dt")]).contains("'partition_time' needs partition_by"));
    assert!(err(&[("path", "out.csv"), ("partition_commit_delay", "1 min")]).contains("'partition_commit_delay' needs partition_by"));
    assert!(err(&[("path", "out"), ("partition_by", "dt"), ("partition_commit_delay", "1 min")]).contains("needs partition_time"));
    let e = err(&[("path", "out"), ("partition_by", "dt"), ("partition_time", "$dt $hm:00")]);
    assert!(e.contains("'$hm' is not a partition column"), "{e}");
    assert!(err(&[("path", "out"), ("partition_by", "dt"), ("partition_time", "$dt"), ("partition_commit_delay", "soon")]).contains("partition_commit_delay"));
    assert!(err(&[("path", "out"), ("partition_by", "dt"), ("format", "xml")]).contains("xml"));
    assert!(err(&[("path", "out"), ("partition_by", "dt"), ("partitions", "2")]).contains("partitions"));
    // Case-insensitive column names, and a path ending in '/' is a fine directory.
    assert!(FileSinkConnector.create(&spec(&[("path", "out/"), ("partition_by", "DT"), ("partition_time", "$Dt")])).is_ok());
}
