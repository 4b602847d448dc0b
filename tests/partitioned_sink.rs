//! The partitioned `file` sink end to end: Nexmark q10 as shipped (`pipelines/nexmark/q10.sql`:
//! bids with their day and minute, written to `dt=…/hm=…` partitions committed a minute after
//! their time) over bids 10 ms apart, so they span five minutes of event time. After the run,
//! the partition directories must be exactly the view's (dt, hm) pairs, each committed
//! (`_SUCCESS`), and the files' rows with dt and hm taken back from the path must be the view.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// 30 000 events 10 ms apart: 300 s of event time, five minutes.
const EVENTS: &str = "events = '30000', interval = '10ms'";
const BIDS: usize = 30_000 / 50 * 46;

/// q10.sql with the test's events, its sink writing into `out` in `mode`.
fn q10(out: &Path, mode: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/nexmark/q10.sql");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let edits = [
        ("events = '100000'", EVENTS.to_string()),
        ("path = 'out/nexmark/q10'", format!("path = '{}'", out.display())),
        ("partition_commit_delay = '1 min'", format!("partition_commit_delay = '1 min', mode = '{mode}'")),
    ];
    edits.iter().fold(text, |text, (from, to)| {
        assert!(text.contains(from), "q10.sql is expected to contain {from}");
        text.replace(from, to)
    })
}

/// Undoes Hive's `%XX` escaping of a directory name's value.
fn unescape(text: &str) -> String {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).expect("%XX"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

/// The fields of one CSV line (quoted fields unquoted, `""` in them undoubled); an unquoted
/// empty field is NULL, shown as the canonical form shows it.
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => break,
                    c => field.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek().filter(|c| **c != ',') {
                field.push(c);
                chars.next();
            }
            if field.is_empty() {
                field.push_str("NULL");
            }
        }
        fields.push(field);
        match chars.next() {
            Some(',') => continue,
            None => return fields,
            Some(c) => panic!("unexpected {c:?} after a field in {line:?}"),
        }
    }
}

/// Each partition directory under `out` (as its unescaped `(dt, hm)`) with the names of the
/// files it holds.
fn partitions(out: &Path) -> BTreeMap<(String, String), (PathBuf, BTreeSet<String>)> {
    let list = |dir: &Path| -> Vec<PathBuf> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).map(|e| e.expect("entry").path()).collect();
        entries.sort();
        entries
    };
    let value = |dir: &Path, column: &str| -> String {
        let name = dir.file_name().expect("name").to_string_lossy().into_owned();
        let value = name.strip_prefix(&format!("{column}=")).unwrap_or_else(|| panic!("{name}: not a {column}=… directory"));
        unescape(value)
    };
    let mut found = BTreeMap::new();
    for dt in list(out) {
        for hm in list(&dt) {
            let files = list(&hm).iter().map(|f| f.file_name().expect("name").to_string_lossy().into_owned()).collect();
            found.insert((value(&dt, "dt"), value(&hm, "hm")), (hm, files));
        }
    }
    found
}

/// Runs q10 in `mode` into a fresh directory: the view's rows, and the directory.
fn run(mode: &str, workers: usize) -> (Vec<String>, tempfile::TempDir) {
    let out = tempfile::tempdir().expect("tempdir");
    let (views, errors) = common::run_collect(&q10(out.path(), mode), workers);
    assert!(errors.values().all(Vec::is_empty), "error rows {errors:?}");
    let rows = views["nexmark_q10"].clone();
    assert_eq!(rows.len(), BIDS);
    (rows, out)
}

/// Checks the layout against the view's rows and returns each partition's file lines, with
/// dt and hm appended (the header checked and dropped).
fn partition_lines(rows: &[String], out: &Path, header: &str) -> Vec<(String, String, String)> {
    let expected: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| {
            let f: Vec<&str> = r.split(" | ").collect();
            (f[5].to_string(), f[6].to_string())
        })
        .collect();
    assert!(expected.len() >= 5, "the bids span five minutes: {expected:?}");
    let found = partitions(out);
    assert_eq!(found.keys().cloned().collect::<BTreeSet<_>>(), expected, "one partition per (dt, hm) of the view");
    let mut lines = Vec::new();
    for ((dt, hm), (dir, files)) in &found {
        let names: Vec<&str> = files.iter().map(String::as_str).collect();
        assert_eq!(names, vec!["_SUCCESS", "part.csv"], "{}: committed, nothing else left behind", dir.display());
        assert_eq!(std::fs::read_to_string(dir.join("_SUCCESS")).expect("_SUCCESS"), "");
        let text = std::fs::read_to_string(dir.join("part.csv")).expect("part.csv");
        let mut file_lines = text.lines();
        assert_eq!(file_lines.next(), Some(header), "{}", dir.display());
        lines.extend(file_lines.map(|l| (l.to_string(), dt.clone(), hm.clone())));
    }
    lines
}

#[test]
fn q10_writes_committed_dt_hm_partitions() {
    let (rows, out) = run("snapshot", 2);
    let lines = partition_lines(&rows, out.path(), "auction,bidder,price,date_time,extra");
    let mut written: Vec<String> = lines
        .iter()
        .map(|(line, dt, hm)| {
            let mut fields = csv_fields(line);
            assert_eq!(fields.len(), 5, "no partition column in the files: {line}");
            fields.extend([dt.clone(), hm.clone()]);
            fields.join(" | ")
        })
        .collect();
    written.sort();
    assert_eq!(written, rows, "the files' rows, with dt and hm from their paths, are the view");
}

#[test]
fn q10_changelog_appends_each_bid_to_its_partition() {
    let (rows, out) = run("changelog", 1);
    let lines = partition_lines(&rows, out.path(), "auction,bidder,price,date_time,extra,_diff");
    let mut multiset: BTreeMap<String, i64> = BTreeMap::new();
    for (line, dt, hm) in &lines {
        let mut fields = csv_fields(line);
        let diff: i64 = fields.pop().expect("_diff").parse().expect("an integer _diff");
        fields.extend([dt.clone(), hm.clone()]);
        *multiset.entry(fields.join(" | ")).or_default() += diff;
    }
    let mut written: Vec<String> = Vec::new();
    for (row, n) in multiset {
        assert!(n >= 0, "{row}: {n}");
        written.extend(std::iter::repeat_n(row, n as usize));
    }
    assert_eq!(written, rows, "the changes, summed, are the view");
}
