//! Pipelines reading Parquet files: a backfill over files partitioned by card (unsorted in time)
//! makes no row late and equals the batch oracle and DataFusion over the same files; Hive
//! partition directories; projection and predicate pushdown; `illunare backfill`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use illunare_coord::oracle::{canonical, same_answer};

const JAN1_MS: i64 = 1_704_067_200_000;

/// A transaction: card, amount, event time (ms).
type Tx = (i64, f64, i64);

/// Deterministic pseudo-random numbers (no dependency, same in every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn tx_batch(rows: &[Tx], payload: Option<usize>) -> RecordBatch {
    let mut fields = vec![
        Field::new("card_id", DataType::Int64, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
        Arc::new(TimestampMillisecondArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
    ];
    if let Some(len) = payload {
        fields.push(Field::new("payload", DataType::Utf8, false));
        columns.push(Arc::new(StringArray::from(rows.iter().map(|r| format!("{:0>len$}", r.2)).collect::<Vec<_>>())));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch")
}

fn write_parquet(path: &Path, batch: &RecordBatch, rows_per_group: usize, statistics: bool) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    let level = if statistics { EnabledStatistics::Chunk } else { EnabledStatistics::None };
    let props = WriterProperties::builder().set_max_row_group_row_count(Some(rows_per_group)).set_statistics_enabled(level).build();
    let mut writer = ArrowWriter::try_new(std::fs::File::create(path).expect("create"), batch.schema(), Some(props)).expect("writer");
    writer.write(batch).expect("write");
    writer.close().expect("close");
}

/// 8 cards over 10 minutes, written as one file per pair of cards, each in random time order:
/// 4 files × 2000 rows in row groups of 500. Returns every row.
fn write_by_card(dir: &Path, statistics: bool) -> Vec<Tx> {
    let mut rng = Lcg(42);
    let mut all = Vec::new();
    for file in 0..4 {
        let rows: Vec<Tx> = (0..2000)
            .map(|_| {
                let card = file * 2 + (rng.next() % 2) as i64;
                let amount = (rng.next() % 10_000) as f64 / 100.0;
                (card, amount, JAN1_MS + (rng.next() % 600_000) as i64)
            })
            .collect();
        write_parquet(&dir.join(format!("card-part-{file}.parquet")), &tx_batch(&rows, None), 500, statistics);
        all.extend(rows);
    }
    all
}

fn by_card_pipeline(dir: &Path) -> String {
    format!(
        "CREATE SOURCE history (card_id BIGINT, amount DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
           WITH (connector = 'parquet', path = '{}', batch_size = '100');
         CREATE VIEW per_window AS
           SELECT card_id, window_start, window_end, count(*) AS n, sum(amount) AS total
           FROM TUMBLE(history, ts, INTERVAL '1' MINUTE) GROUP BY card_id, window_start, window_end;
         CREATE VIEW per_card AS SELECT card_id, count(*) AS n, sum(amount) AS total FROM history GROUP BY card_id;",
        dir.display()
    )
}

/// DataFusion's answer for `sql` over the Parquet files of `dir` as table `t`, canonical for
/// `schema`.
fn datafusion_over_files(dir: &Path, sql: &str, schema: &arrow::datatypes::SchemaRef) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    runtime.block_on(async {
        let ctx = SessionContext::new();
        ctx.register_parquet("t", dir.to_str().expect("utf-8 path"), ParquetReadOptions::default()).await.expect("register");
        let batches = ctx.sql(sql).await.expect("plan").collect().await.expect("run");
        let rows: Vec<_> = batches.iter().flat_map(|b| illunare_types::batch_to_rows(b).expect("rows")).collect();
        canonical(&rows, schema)
    })
}

/// [`datafusion_over_files`] over files in `region=…` directories, `region` a column.
fn datafusion_over_regions(dir: &Path, sql: &str, schema: &arrow::datatypes::SchemaRef) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    runtime.block_on(async {
        let ctx = SessionContext::new();
        let options = ParquetReadOptions::default().table_partition_cols(vec![("region".to_string(), DataType::Utf8)]);
        ctx.register_parquet("t", dir.to_str().expect("utf-8 path"), options).await.expect("register");
        let batches = ctx.sql(sql).await.expect("plan").collect().await.expect("run");
        let rows: Vec<_> = batches.iter().flat_map(|b| illunare_types::batch_to_rows(b).expect("rows")).collect();
        canonical(&rows, schema)
    })
}

/// Runs `text` on `workers` workers: the views' rows and the number of late rows of `source`.
fn run_counting_late(text: &str, workers: usize, source: &str) -> (BTreeMap<String, Vec<String>>, usize) {
    let mut pipeline = common::start(text, &common::options(workers));
    common::wait_finished(&pipeline);
    let mut views = BTreeMap::new();
    for name in pipeline.views() {
        let schema = pipeline.planner.catalog()[&name].schema.clone();
        views.insert(name.clone(), canonical(&pipeline.final_rows(&name).unwrap_or_default(), &schema));
    }
    let late = pipeline.final_rows(&illunare_types::late_name(source)).unwrap_or_default().len();
    let errors = pipeline.final_rows(&illunare_types::errors_name(source)).unwrap_or_default();
    assert!(errors.is_empty(), "{errors:?}");
    pipeline.join().expect("join");
    (views, late)
}

#[test]
fn a_backfill_over_files_partitioned_by_card_makes_no_row_late() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rows = write_by_card(dir.path(), true);
    let text = by_card_pipeline(dir.path());
    for workers in [1, 2] {
        let (views, late) = run_counting_late(&text, workers, "history");
        assert_eq!(late, 0, "{workers} worker(s): row-group statistics bound the watermark");
        common::assert_matches_oracle(&text, &views, workers);
        let windows: usize = views["per_window"].len();
        assert!(windows >= 8 * 10, "{windows} windows");
        // Independently of our reader: DataFusion over the same files.
        let pipeline = illunare_coord::Pipeline::load(&text, &common::registry()).expect("load");
        let schema = pipeline.planner.catalog()["per_card"].schema.clone();
        let expected = datafusion_over_files(dir.path(), "SELECT card_id, count(*), sum(amount) FROM t GROUP BY card_id", &schema);
        assert!(same_answer(&views["per_card"], &expected), "{:?} vs {expected:?}", views["per_card"]);
        assert_eq!(expected.len(), 8);
    }
    assert_eq!(rows.len(), 8000);

    // The same files without statistics: the watermark follows the rows read, and rows are late.
    let bare = tempfile::tempdir().expect("tempdir");
    write_by_card(bare.path(), false);
    let (_, late) = run_counting_late(&by_card_pipeline(bare.path()), 2, "history");
    assert!(late > 0, "without statistics, unsorted row groups make rows late");
}

#[test]
fn hive_partition_directories_become_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut expected = Vec::new();
    for (day, region, rows) in [("2024-01-01", "eu", 3), ("2024-01-01", "us", 5), ("2024-01-02", "eu", 7), ("2024-01-02", "__HIVE_DEFAULT_PARTITION__", 2)] {
        let txs: Vec<Tx> = (0..rows).map(|i| (i, 1.5, JAN1_MS + i * 1000)).collect();
        write_parquet(&dir.path().join(format!("day={day}/region={region}/part-0.parquet")), &tx_batch(&txs, None), 2, true);
        let region = if region.starts_with("__") { "NULL".to_string() } else { region.to_string() };
        expected.push(format!("{day} | {region} | {rows} | {}", rows as f64 * 1.5));
    }
    std::fs::write(dir.path().join("_SUCCESS"), "").expect("marker");
    let text = format!(
        "CREATE SOURCE lake (card_id BIGINT, amount DOUBLE, day DATE, region VARCHAR) WITH (connector = 'parquet', path = '{}');
         CREATE VIEW per_partition AS SELECT day, region, count(*) AS n, sum(amount) AS total FROM lake GROUP BY day, region;",
        dir.path().display()
    );
    let views = common::run_and_compare(&text, 2);
    let mut got = views["per_partition"].clone();
    got.sort();
    expected.sort();
    assert_eq!(got.len(), 4);
    for (g, e) in got.iter().zip(&expected) {
        assert!(same_answer(std::slice::from_ref(g), std::slice::from_ref(e)), "{g} vs {e}");
    }
}

/// GROUP BY a string column read as a dictionary (`Source::with_dictionary_columns`): files
/// whose `merchant` pages are dictionary encoded, one whose are plain, NULL merchants, a Hive
/// partition column as a key; alongside, keys and filters the dictionary must not reach
/// (a computed key, a filter on the key, an aggregate over it, two keys). Every view equals
/// DataFusion over the same files, on 1 and 2 workers.
#[test]
fn string_group_keys_read_as_dictionaries_give_datafusion_s_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Lcg(7);
    for (file, region, dictionary) in [(0, "eu", true), (1, "eu", false), (2, "us", true)] {
        let n = 3000;
        let merchants: Vec<Option<String>> = (0..n)
            .map(|_| match rng.next() % 40 {
                0 => None,
                m => Some(format!("merchant {m:02}{}", if m % 3 == 0 { " with a name longer than twelve bytes" } else { "" })),
            })
            .collect();
        let amounts: Vec<f64> = (0..n).map(|_| (rng.next() % 5000) as f64 / 100.0).collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("merchant", DataType::Utf8, true),
            Field::new("card_id", DataType::Int64, false),
            Field::new("amount", DataType::Float64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(merchants)),
                Arc::new(Int64Array::from((0..n).map(|i| (i % 5) as i64).collect::<Vec<_>>())),
                Arc::new(Float64Array::from(amounts)),
            ],
        )
        .expect("batch");
        let path = dir.path().join(format!("region={region}/part-{file}.parquet"));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let props = WriterProperties::builder().set_max_row_group_row_count(Some(1000)).set_dictionary_enabled(dictionary).build();
        let mut writer = ArrowWriter::try_new(std::fs::File::create(&path).expect("create"), schema, Some(props)).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
    }
    let queries = [
        ("by_merchant", "SELECT merchant, count(*) AS n, sum(amount) AS total, max(amount) AS largest FROM {} WHERE amount > 20 GROUP BY merchant"),
        ("by_region", "SELECT region, count(*) AS n, avg(amount) AS mean FROM {} GROUP BY region"),
        ("by_upper", "SELECT upper(merchant) AS m, count(*) AS n FROM {} GROUP BY upper(merchant)"),
        ("filtered_key", "SELECT merchant, sum(amount) AS total FROM {} WHERE merchant <> 'merchant 05' GROUP BY merchant"),
        ("key_and_max", "SELECT card_id, max(merchant) AS last, min(merchant) AS first FROM {} GROUP BY card_id"),
        ("two_keys", "SELECT merchant, card_id, count(*) AS n FROM {} GROUP BY merchant, card_id"),
    ];
    let mut text = String::new();
    for (view, query) in queries {
        text += &format!(
            "CREATE SOURCE src_{view} (merchant VARCHAR, card_id BIGINT NOT NULL, amount DOUBLE, region VARCHAR) WITH (connector = 'parquet', path = '{}', batch_size = '512');
             CREATE VIEW {view} AS {};\n",
            dir.path().display(),
            query.replace("{}", &format!("src_{view}"))
        );
    }
    for workers in [1, 2] {
        let mut pipeline = common::start(&text, &common::options(workers));
        common::wait_finished(&pipeline);
        for (view, query) in queries {
            let schema = pipeline.planner.catalog()[view].schema.clone();
            let got = canonical(&pipeline.final_rows(view).unwrap_or_default(), &schema);
            let expected = datafusion_over_regions(dir.path(), &query.replace("{}", "t"), &schema);
            assert!(expected.len() > 1, "{view}: {expected:?}");
            assert!(same_answer(&got, &expected), "{view}, {workers} worker(s): {got:?} vs {expected:?}");
            let errors = pipeline.final_rows(&illunare_types::errors_name(&format!("src_{view}"))).unwrap_or_default();
            assert!(errors.is_empty(), "{errors:?}");
            let dictionaries = counter(&pipeline, &format!("src_{view}"), "dictionary_chunks");
            match view {
                // merchant: two dictionary-encoded files of three row groups; region: all nine.
                "by_merchant" => assert_eq!(dictionaries, 6, "{view}"),
                "by_region" => assert_eq!(dictionaries, 9, "{view}"),
                "two_keys" => assert_eq!(dictionaries, 6, "{view}"),
                _ => assert_eq!(dictionaries, 0, "{view}: the key is not read whole"),
            }
        }
        pipeline.join().expect("join");
    }
}

/// A source declared without columns reads them from the first file's footer, plus the Hive
/// partition directories (as VARCHAR); a WATERMARK alone may stand in the column list. The
/// result equals the same pipeline with the columns declared.
#[test]
fn columns_come_from_the_files_when_none_are_declared() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (region, file) in [("eu", 0), ("us", 1)] {
        let txs: Vec<Tx> = (0..300).map(|i| (i % 7 + file * 10, (i % 13) as f64, JAN1_MS + i * 997)).collect();
        write_parquet(&dir.path().join(format!("region={region}/part-{file}.parquet")), &tx_batch(&txs, Some(4)), 100, true);
    }
    let views = |columns: &str| {
        let text = format!(
            "CREATE SOURCE lake {columns} WITH (connector = 'parquet', path = '{}');
             CREATE VIEW per_minute AS
               SELECT region, card_id, window_start, count(*) AS n, sum(amount) AS total, max(payload) AS last_payload
               FROM TUMBLE(lake, ts, INTERVAL '1' MINUTE) GROUP BY region, card_id, window_start;",
            dir.path().display()
        );
        let pipeline = illunare_coord::Pipeline::load(&text, &common::registry()).expect("load");
        let schema = pipeline.planner.catalog()["lake"].schema.clone();
        (common::run_and_compare(&text, 2), schema)
    };
    let (inferred, schema) = views("(WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)");
    let names: Vec<String> = schema.fields().iter().map(|f| format!("{} {}", f.name(), f.data_type())).collect();
    assert_eq!(names, ["card_id Int64", "amount Float64", "ts Timestamp(ms)", "payload Utf8", "region Utf8"]);
    let (declared, _) =
        views("(card_id BIGINT NOT NULL, amount DOUBLE, ts TIMESTAMP(3), payload VARCHAR, region VARCHAR, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)");
    assert_eq!(inferred["per_minute"], declared["per_minute"]);
    assert!(inferred["per_minute"].len() > 20, "{}", inferred["per_minute"].len());
    // Without a WATERMARK the column list may be left out altogether.
    let text = format!("CREATE SOURCE lake WITH (connector = 'parquet', path = '{}'); CREATE VIEW n AS SELECT count(*) AS n FROM lake;", dir.path().display());
    assert_eq!(common::run_and_compare(&text, 1)["n"].len(), 1);
}

fn counter(pipeline: &illunare_coord::Pipeline, source: &str, name: &str) -> u64 {
    let source = pipeline.source(source).expect("source");
    source.counters().into_iter().find(|(k, _)| *k == name).map(|(_, v)| v).unwrap_or_else(|| panic!("no counter {name}"))
}

/// Runs `text` to its end; returns a counter of source `wide` and the views.
fn run_with_counter(text: &str, name: &str) -> (u64, BTreeMap<String, Vec<String>>) {
    let mut pipeline = common::start(text, &common::options(2));
    common::wait_finished(&pipeline);
    let mut views = BTreeMap::new();
    for view in pipeline.views() {
        let schema = pipeline.planner.catalog()[&view].schema.clone();
        views.insert(view.clone(), canonical(&pipeline.final_rows(&view).unwrap_or_default(), &schema));
    }
    let value = counter(&pipeline, "wide", name);
    pipeline.join().expect("join");
    (value, views)
}

#[test]
fn only_the_columns_a_query_uses_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("wide.parquet");
    let rows: Vec<Tx> = (0..4000).map(|i| (i % 10, 1.0, JAN1_MS + i)).collect();
    write_parquet(&path, &tx_batch(&rows, Some(400)), 1000, true);
    let size = std::fs::metadata(&path).expect("stat").len();
    let source =
        format!("CREATE SOURCE wide (card_id BIGINT, amount DOUBLE, ts TIMESTAMP, payload VARCHAR) WITH (connector = 'parquet', path = '{}');", path.display());
    let narrow = format!("{source} CREATE VIEW spend AS SELECT card_id, sum(amount) AS total FROM wide GROUP BY card_id;");
    let (bytes, views) = run_with_counter(&narrow, "bytes_read");
    assert_eq!(views["spend"].len(), 10);
    assert!(bytes * 10 < size, "read {bytes} bytes of a {size}-byte file for two small columns");
    common::assert_matches_oracle(&narrow, &views, 2);

    let whole = format!("{source} CREATE VIEW sizes AS SELECT card_id, sum(length(payload)) AS chars FROM wide GROUP BY card_id;");
    let (bytes, views) = run_with_counter(&whole, "bytes_read");
    assert!(bytes * 2 > size, "the payload column is read when used: {bytes} of {size}");
    common::assert_matches_oracle(&whole, &views, 2);
}

#[test]
fn filters_skip_row_groups_by_statistics() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Sorted by card: 20 row groups of 100 rows, 5 cards each.
    let rows: Vec<Tx> = (0..2000).map(|i| (i / 20, (i % 7) as f64, JAN1_MS + i * 10)).collect();
    write_parquet(&dir.path().join("sorted.parquet"), &tx_batch(&rows, None), 100, true);
    let text = format!(
        "CREATE SOURCE wide (card_id BIGINT, amount DOUBLE, ts TIMESTAMP) WITH (connector = 'parquet', path = '{}');
         CREATE VIEW few AS SELECT card_id, count(*) AS n, sum(amount) AS total FROM wide
           WHERE card_id BETWEEN 12 AND 17 AND amount > 1 GROUP BY card_id;",
        dir.path().display()
    );
    let (pruned, views) = run_with_counter(&text, "row_groups_pruned");
    assert_eq!(views["few"].len(), 6);
    common::assert_matches_oracle(&text, &views, 2);
    // Cards 12..=17 live in row groups 2 and 3 (cards 10-14, 15-19): 18 of 20 skipped.
    assert_eq!(pruned, 18);
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_illunare")
}

/// The snapshot file written by the `file` sink (JSON lines), as sorted `card | n | total`.
fn snapshot(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            format!("{} | {} | {:.2}", v["card_id"], v["n"], v["total"].as_f64().expect("total"))
        })
        .collect();
    lines.sort();
    lines
}

/// What the `spend` view (count and sum of amount per card) holds over `rows`, as
/// [`snapshot`] renders it, sorted.
fn spend_per_card(rows: &[Tx]) -> Vec<String> {
    let mut per_card: BTreeMap<i64, (u64, f64)> = BTreeMap::new();
    for (card, amount, _) in rows {
        let e = per_card.entry(*card).or_default();
        e.0 += 1;
        e.1 += amount;
    }
    let mut lines: Vec<String> = per_card.iter().map(|(c, (n, t))| format!("{c} | {n} | {t:.2}")).collect();
    lines.sort();
    lines
}

#[test]
fn illunare_backfill_replaces_a_source_with_parquet_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("history");
    let rows = write_by_card(&data, true);
    let csv = dir.path().join("live.csv");
    std::fs::write(&csv, "card_id,amount,ts\n99,1.0,2024-01-01T00:00:00Z\n").expect("csv");
    let out = dir.path().join("spend.jsonl");
    let pipeline = dir.path().join("pipeline.sql");
    std::fs::write(
        &pipeline,
        format!(
            "CREATE SOURCE tx (card_id BIGINT, amount DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
               WITH (connector = 'file', path = '{}');
             CREATE SOURCE clicks (device VARCHAR, value DOUBLE) WITH (connector = 'generator', kind = 'devices', rate = '10');
             CREATE VIEW spend AS SELECT card_id, count(*) AS n, sum(amount) AS total FROM tx GROUP BY card_id;
             CREATE SINK out FROM spend WITH (connector = 'file', path = '{}', format = 'jsonl', mode = 'snapshot');",
            csv.display(),
            out.display()
        ),
    )
    .expect("pipeline");
    let run = |args: &[&str]| std::process::Command::new(bin()).args(args).output().expect("run illunare");
    let p = pipeline.to_str().expect("utf-8");
    let source = format!("tx=parquet:{}", data.display());

    // `clicks` is an unbounded generator: refused, naming it.
    let refused = run(&["backfill", p, "--source", &source]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("clicks") && stderr.contains("unbounded"), "{stderr}");
    let unknown = run(&["backfill", p, "--source", "nope=parquet:x.parquet"]);
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success() && stderr.contains("'nope' is not a source") && stderr.contains("tx, clicks"), "{stderr}");

    // Without the generator, the backfill runs to its end and writes the view over the files.
    let text = std::fs::read_to_string(&pipeline).expect("read");
    let bounded: String = text.lines().filter(|l| !l.contains("clicks")).collect::<Vec<_>>().join("\n");
    std::fs::write(&pipeline, bounded).expect("pipeline");
    let done = run(&["backfill", p, "--source", &source, "--workers", "2"]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert_eq!(snapshot(&out), spend_per_card(&rows));
}

#[test]
fn s3_files_are_read_through_the_environment_s_endpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("upload");
    let rows = write_by_card(&data.join("tx"), true);
    std::fs::write(data.join("tx").join("_SUCCESS"), "").expect("marker");
    let (_server, port) = common::peers::s3_server("lake", &data);
    let out = dir.path().join("spend.jsonl");
    let pipeline = dir.path().join("s3.sql");
    std::fs::write(
        &pipeline,
        format!(
            "CREATE SOURCE tx (card_id BIGINT, amount DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
               WITH (connector = 'parquet', path = 's3://lake/tx/');
             CREATE VIEW spend AS SELECT card_id, count(*) AS n, sum(amount) AS total FROM tx GROUP BY card_id;
             CREATE SINK out FROM spend WITH (connector = 'file', path = '{}', format = 'jsonl', mode = 'snapshot');",
            out.display()
        ),
    )
    .expect("pipeline");
    let run = std::process::Command::new(bin())
        .args(["run", pipeline.to_str().expect("utf-8"), "--workers", "2"])
        .envs(common::peers::s3_env(port))
        .output()
        .expect("run illunare");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(snapshot(&out), spend_per_card(&rows));
}
