//! Pipelines sinking into Parquet, read back by DataFusion: a changing view's changelog sums to
//! the view, `emit = 'on_window_close'` writes each window's final row exactly once, and an
//! `s3://` prefix (a moto server) gets what a local directory gets, exactly once.

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

/// The same pipeline sinking to an S3 server (moto, not ours) and to a local directory: the
/// S3 prefix holds a manifest and files that DataFusion reads (downloaded with boto3) to the
/// same relation; a stray file named like ours is deleted at start, a foreign file is left; and
/// a second run of the finished pipeline (event time: the same updates at the same times)
/// writes nothing twice.
#[test]
fn s3_prefix_gets_the_same_changelog_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let (_server, port) = common::peers::s3_server("lake", &empty);
    let client = |args: &[&str]| {
        let mut all: Vec<String> = vec!["--port".into(), port.to_string(), "--bucket".into(), "lake".into()];
        all.extend(args.iter().map(|s| s.to_string()));
        common::peers::run_script("s3_client.py", &all)
    };
    let stray = dir.path().join("stray.parquet");
    std::fs::write(&stray, b"left by a crashed run").expect("stray");
    client(&["upload", stray.to_str().expect("utf-8"), "out/quiet/part-0000000099-1-2.parquet"]);
    client(&["upload", stray.to_str().expect("utf-8"), "out/quiet/notes.txt"]);

    let pipeline = |path: &str| {
        format!(
            "CREATE SOURCE tx (merchant VARCHAR, amount DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
               WITH (connector = 'generator', kind = 'transactions', rows = '20000', merchants = '400', seed = '9', rate = '100000');
             CREATE VIEW quiet AS SELECT merchant, count(*) AS sales FROM tx GROUP BY merchant HAVING count(*) <= 60;
             CREATE SINK lake FROM quiet WITH (connector = 'parquet', path = '{path}', rollover_rows = '300');"
        )
    };
    let run = |path: &str, name: &str| {
        let file = dir.path().join(name);
        std::fs::write(&file, pipeline(path)).expect("pipeline");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_illunare"))
            .args(["run", file.to_str().expect("utf-8"), "--workers", "2"])
            .envs(common::peers::s3_env(port))
            .output()
            .expect("run illunare");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let local = dir.path().join("local");
    run(local.to_str().expect("utf-8"), "local.sql");
    run("s3://lake/out/quiet/", "s3.sql");

    let first = dir.path().join("first");
    let keys = client(&["download", "out/quiet", first.to_str().expect("utf-8")]);
    assert!(!keys.contains("part-0000000099-1-2.parquet"), "the stray file is deleted:\n{keys}");
    assert!(keys.lines().any(|k| k == "notes.txt"), "a foreign file is left alone:\n{keys}");
    assert!(keys.lines().filter(|k| k.ends_with(".parquet")).count() > 2, "rolling files:\n{keys}");
    let relation = "SELECT merchant, sales, sum(_diff) FROM t GROUP BY merchant, sales HAVING sum(_diff) <> 0";
    let from_s3 = common::parquet_rows(&first, relation);
    assert!(from_s3.len() > 50, "{}", from_s3.len());
    assert_eq!(from_s3, common::parquet_rows(&local, relation));
    assert_ne!(common::parquet_rows(&first, "SELECT count(*) FROM t WHERE _diff < 0"), vec!["Int(0)".to_string()], "retractions reach S3");

    run("s3://lake/out/quiet/", "s3.sql");
    let second = dir.path().join("second");
    assert_eq!(client(&["download", "out/quiet", second.to_str().expect("utf-8")]), keys, "a re-run writes no file");
    let manifest = |d: &std::path::Path| std::fs::read_to_string(d.join("_manifest.json")).expect("manifest");
    assert_eq!(manifest(&second), manifest(&first));
}

/// DuckDB and Apache Spark (from PyPI, not ours) read a partitioned changelog directory — the
/// files the manifest lists, the partition column from the Hive paths, doubles and timestamps as
/// written — and summing `_diff` gives the view.
#[test]
fn duckdb_and_spark_read_a_partitioned_changelog_as_the_view() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = format!(
        "CREATE SOURCE tx (merchant VARCHAR, amount DOUBLE, ts TIMESTAMP)
           WITH (connector = 'generator', kind = 'transactions', rows = '20000', merchants = '300', seed = '4', rate = '100000');
         CREATE VIEW quiet AS
           SELECT merchant, count(*) AS sales, sum(amount) AS total, max(ts) AS last_seen FROM tx GROUP BY merchant HAVING count(*) <= 70;
         CREATE SINK lake FROM quiet WITH (connector = 'parquet', path = '{}', partition_by = 'sales', rollover_rows = '500');",
        dir.path().display()
    );
    let mut pipeline = common::start(&sql, &common::options(2));
    common::wait_finished(&pipeline);
    let schema = pipeline.planner.catalog()["quiet"].schema.clone();
    let to_ms: i64 = match schema.field_with_name("last_seen").expect("last_seen").data_type() {
        arrow::datatypes::DataType::Timestamp(unit, _) => match unit {
            arrow::datatypes::TimeUnit::Second => -1000,
            arrow::datatypes::TimeUnit::Millisecond => 1,
            arrow::datatypes::TimeUnit::Microsecond => 1000,
            arrow::datatypes::TimeUnit::Nanosecond => 1_000_000,
        },
        other => panic!("last_seen is {other}"),
    };
    let mut view: Vec<String> = pipeline
        .final_rows("quiet")
        .unwrap_or_default()
        .iter()
        .map(|r| match (r.get(0), r.get(1), r.get(2), r.get(3)) {
            (illunare_types::Datum::Str(m), illunare_types::Datum::Int(n), illunare_types::Datum::Float(t), illunare_types::Datum::Timestamp(ts)) => {
                let ms = if to_ms < 0 { ts * -to_ms } else { ts / to_ms };
                format!("{m}|{n}|{}|{ms}", (t.0 * 100.0).round() as i64)
            }
            other => panic!("unexpected row {other:?}"),
        })
        .collect();
    pipeline.join().expect("join");
    view.sort();
    assert!(view.len() > 50, "{}", view.len());
    let query = "SELECT merchant, sales, CAST(round(total * 100) AS BIGINT), epoch_ms(last_seen) FROM t
                 GROUP BY ALL HAVING sum(_diff) <> 0 ORDER BY 1, 2, 3, 4";
    let duck = common::peers::run_script("duckdb_query.py", &[dir.path().display().to_string(), query.to_string()]);
    let mut duck: Vec<String> = duck.lines().map(str::to_string).collect();
    duck.sort();
    assert_eq!(duck, view);
    let query = "SELECT merchant, sales, CAST(round(total * 100) AS BIGINT), unix_millis(CAST(last_seen AS TIMESTAMP)) FROM t
                 GROUP BY merchant, sales, total, last_seen HAVING sum(_diff) <> 0";
    let spark = common::peers::run_script("spark_query.py", &[dir.path().display().to_string(), query.to_string()]);
    let mut spark: Vec<String> = spark.lines().map(str::to_string).collect();
    spark.sort();
    assert_eq!(spark, view);
}
