//! Unit tests of the connector: files written with `ArrowWriter` into temporary directories.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int32Array, Int64Array, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use illunare_connector::{ColumnPredicate, CompareOp, ErrorRecord, Options, Position, Source, SourceConnector, SourceSpec, Split};
use illunare_types::{Datum, Row, Time, batch_to_rows};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::ParquetSourceConnector;

const JAN1_MS: i64 = 1_704_067_200_000;

fn ts_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

/// Writes `batch` to `path` in row groups of `rows_per_group` rows.
fn write(path: &Path, batch: &RecordBatch, rows_per_group: usize, statistics: bool) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let level = if statistics { EnabledStatistics::Chunk } else { EnabledStatistics::None };
    let props = WriterProperties::builder().set_max_row_group_row_count(Some(rows_per_group)).set_statistics_enabled(level).build();
    let mut writer = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), Some(props)).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

/// card (INT32 in the file), amount, ts (ns, UTC in the file) for the given rows.
fn tx(rows: &[(i32, f64, i64)]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("card", DataType::Int32, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
        Arc::new(TimestampNanosecondArray::from(rows.iter().map(|r| r.2 * 1_000_000).collect::<Vec<_>>()).with_timezone("UTC")),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

fn declared() -> Vec<Field> {
    vec![Field::new("card", DataType::Int64, true), Field::new("amount", DataType::Float64, true), Field::new("ts", ts_ms(), true)]
}

fn spec(fields: Vec<Field>, path: &str, event_time: Option<&str>) -> SourceSpec {
    SourceSpec {
        name: "s".into(),
        schema: Arc::new(Schema::new(fields)),
        event_time: event_time.map(str::to_string),
        options: Options::new([("path".to_string(), path.to_string()), ("batch_size".to_string(), "2".to_string())]),
    }
}

struct Read {
    rows: Vec<Row>,
    errors: Vec<ErrorRecord>,
    positions: Vec<String>,
    bounds: Vec<Option<Time>>,
}

fn read(source: &Arc<dyn Source>, split: &Split, resume: Option<&Position>) -> Read {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut reader = source.open(split, resume).unwrap();
    let mut out = Read { rows: vec![], errors: vec![], positions: vec![], bounds: vec![] };
    while let Some(chunk) = rt.block_on(reader.next()).unwrap() {
        illunare_connector::check_batch_schema(&source.schema(), &chunk.batch).unwrap();
        out.rows.extend(batch_to_rows(&chunk.batch).unwrap());
        out.errors.extend(chunk.errors);
        out.positions.push(chunk.position.0);
        out.bounds.push(chunk.remaining_from);
    }
    out
}

fn read_all(source: &Arc<dyn Source>) -> Vec<Row> {
    source.splits().unwrap().iter().flat_map(|s| read(source, s, None).rows).collect()
}

fn row(card: i64, amount: f64, ts: i64) -> Row {
    Row(vec![Datum::Int(card), Datum::float(amount), Datum::Timestamp(ts)])
}

#[test]
fn row_groups_are_splits_and_positions_resume() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.parquet");
    let rows: Vec<(i32, f64, i64)> = (0..7).map(|i| (i, i as f64 / 2.0, JAN1_MS + i as i64)).collect();
    write(&path, &tx(&rows), 3, true);
    let p = path.display().to_string();
    let source = ParquetSourceConnector.create(&spec(declared(), &p, None)).unwrap();
    assert!(source.bounded());
    let splits = source.splits().unwrap();
    assert_eq!(splits.iter().map(|s| s.id.clone()).collect::<Vec<_>>(), vec![format!("{p}#0"), format!("{p}#1"), format!("{p}#2")]);
    assert_eq!(source.total_rows(), Some(7));
    let all = read_all(&source);
    assert_eq!(all, (0..7).map(|i| row(i, i as f64 / 2.0, JAN1_MS + i)).collect::<Vec<_>>(), "INT32 → BIGINT, ns UTC → ms");
    let first = read(&source, &splits[0], None);
    assert_eq!(first.positions, vec!["2", "3"], "batch_size 2: positions count rows of the row group");
    let resumed = read(&source, &splits[0], Some(&Position("2".into())));
    assert_eq!(resumed.rows, vec![row(2, 1.0, JAN1_MS + 2)]);
    assert!(first.bounds.iter().all(Option::is_none), "no WATERMARK: no bound");
}

#[test]
fn remaining_from_is_the_row_group_minimum() {
    let dir = tempfile::tempdir().unwrap();
    // Two row groups, each unsorted in time: [50, 10, 30] and [5, 90, 20] (ms after Jan 1).
    let times = [50, 10, 30, 5, 90, 20];
    let rows: Vec<(i32, f64, i64)> = times.iter().map(|t| (1, 1.0, JAN1_MS + t)).collect();
    write(&dir.path().join("t.parquet"), &tx(&rows), 3, true);
    write(&dir.path().join("u.parquet"), &tx(&rows), 3, false);
    let stats = ParquetSourceConnector.create(&spec(declared(), &dir.path().join("t.parquet").display().to_string(), Some("ts"))).unwrap();
    let splits = stats.splits().unwrap();
    for (split, min) in splits.iter().zip([10, 5]) {
        let r = read(&stats, split, None);
        assert_eq!(r.bounds.len(), 2, "two chunks of at most 2 rows");
        // While the row group is read and on its last chunk alike: its minimum.
        assert!(r.bounds.iter().all(|b| *b == Some((JAN1_MS + min) as Time)), "{:?}", r.bounds);
    }
    let none = ParquetSourceConnector.create(&spec(declared(), &dir.path().join("u.parquet").display().to_string(), Some("ts"))).unwrap();
    let r = read(&none, &none.splits().unwrap()[0], None);
    assert!(r.bounds.iter().all(Option::is_none), "no statistics: nothing known");
}

#[test]
fn not_null_violations_become_error_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.parquet");
    let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true), Field::new("v", DataType::Utf8, true)]));
    let batch = RecordBatch::try_new(
        schema,
        vec![Arc::new(Int64Array::from(vec![Some(1), None, Some(3), None])), Arc::new(StringArray::from(vec![Some("a"), Some("b"), None, Some("d")]))],
    )
    .unwrap();
    write(&path, &batch, 2, true);
    let p = path.display().to_string();
    let fields = vec![Field::new("k", DataType::Int64, false), Field::new("v", DataType::Utf8, true)];
    let source = ParquetSourceConnector.create(&spec(fields.clone(), &p, None)).unwrap();
    let splits = source.splits().unwrap();
    let (a, b) = (read(&source, &splits[0], None), read(&source, &splits[1], None));
    assert_eq!(a.rows.len() + b.rows.len(), 2);
    let errors: Vec<ErrorRecord> = a.errors.into_iter().chain(b.errors).collect();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].position.as_deref(), Some(format!("{p}#0:1").as_str()));
    assert_eq!(errors[1].position.as_deref(), Some(format!("{p}#1:1").as_str()));
    assert!(errors[0].error.contains("'k' is NOT NULL") && errors[0].raw.as_deref() == Some("k=NULL, v=b"), "{:?}", errors[0]);
    // Not read (narrowed away): not checked.
    let narrow = source.narrow(&[1]).unwrap();
    let rows: Vec<Row> = narrow.splits().unwrap().iter().flat_map(|s| read(&narrow, s, None).rows).collect();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.0[0].is_null()));
}

#[test]
fn schema_errors_name_file_column_and_types() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.parquet");
    write(&path, &tx(&[(1, 1.0, JAN1_MS)]), 10, true);
    let p = path.display().to_string();
    let err = |fields: Vec<Field>| ParquetSourceConnector.create(&spec(fields, &p, None)).err().unwrap().to_string();
    let missing = err(vec![Field::new("merchant", DataType::Utf8, true)]);
    assert!(missing.contains(&p) && missing.contains("no column 'merchant'") && missing.contains("card, amount, ts"), "{missing}");
    let cast = err(vec![Field::new("amount", DataType::Int64, true)]);
    assert!(cast.contains(&p) && cast.contains("'amount' is Float64 in the file, declared Int64"), "{cast}");
    let none = ParquetSourceConnector.create(&spec(declared(), &format!("{}/*.nope", dir.path().display()), None)).err().unwrap().to_string();
    assert!(none.contains("matches no Parquet file"), "{none}");
    let mut s = spec(declared(), &p, None);
    s.options = Options::new([("path".to_string(), p.clone()), ("rowz".to_string(), "1".to_string())]);
    assert!(ParquetSourceConnector.create(&s).err().unwrap().to_string().contains("rowz"));
    // Case-insensitive fallback.
    let upper = ParquetSourceConnector.create(&spec(vec![Field::new("AMOUNT", DataType::Float64, true)], &p, None)).unwrap();
    assert_eq!(read_all(&upper), vec![Row(vec![Datum::float(1.0)])]);
}

#[test]
fn truncated_files_are_reader_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("a.parquet"), &tx(&[(1, 1.0, JAN1_MS)]), 10, true);
    write(&dir.path().join("b.parquet"), &tx(&[(2, 2.0, JAN1_MS)]), 10, true);
    let b = dir.path().join("b.parquet");
    let bytes = std::fs::read(&b).unwrap();
    std::fs::write(&b, &bytes[..bytes.len() / 2]).unwrap();
    let source = ParquetSourceConnector.create(&spec(declared(), &dir.path().display().to_string(), None)).unwrap();
    let splits = source.splits().unwrap();
    assert_eq!(splits.len(), 2);
    assert!(splits[1].id.ends_with("b.parquet#*"), "{:?}", splits[1]);
    assert_eq!(read(&source, &splits[0], None).rows.len(), 1);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut reader = source.open(&splits[1], None).unwrap();
    let err = rt.block_on(reader.next()).unwrap_err().to_string();
    assert!(err.contains(&b.display().to_string()), "{err}");
    // Truncated inside the data (footer intact at listing, data gone by reading time).
    let c = dir.path().join("c.parquet");
    write(&c, &tx(&(0..1000).map(|i| (i, 1.0, JAN1_MS)).collect::<Vec<_>>()), 1000, true);
    let source = ParquetSourceConnector.create(&spec(declared(), &c.display().to_string(), None)).unwrap();
    let split = source.splits().unwrap()[0].clone();
    std::fs::write(&c, b"PAR1").unwrap();
    let mut reader = source.open(&split, None).unwrap();
    let err = rt.block_on(reader.next()).unwrap_err().to_string();
    assert!(err.contains(&c.display().to_string()), "{err}");
}

#[test]
fn directories_hive_partitions_and_globs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(&d.join("day=2024-01-02/region=eu/p0.parquet"), &tx(&[(1, 1.0, JAN1_MS)]), 10, true);
    write(&d.join("day=2024-01-01/region=us/p0.parquet"), &tx(&[(2, 2.0, JAN1_MS)]), 10, true);
    write(&d.join("day=2024-01-01/region=__HIVE_DEFAULT_PARTITION__/p0.parquet"), &tx(&[(3, 3.0, JAN1_MS)]), 10, true);
    std::fs::write(d.join("_SUCCESS"), b"").unwrap();
    std::fs::write(d.join("day=2024-01-01/.p1.parquet.crc"), b"x").unwrap();
    let mut fields = declared();
    fields.push(Field::new("day", DataType::Date32, true));
    fields.push(Field::new("region", DataType::Utf8, true));
    let source = ParquetSourceConnector.create(&spec(fields.clone(), &d.display().to_string(), None)).unwrap();
    let rows: Vec<Vec<Datum>> = read_all(&source).into_iter().map(|r| r.0[3..].to_vec()).collect();
    // Sorted by path: day=2024-01-01/region=__HIVE…, day=2024-01-01/region=us, day=2024-01-02/….
    assert_eq!(rows, vec![vec![Datum::Date(19723), Datum::Null], vec![Datum::Date(19723), Datum::str("us")], vec![Datum::Date(19724), Datum::str("eu")]]);
    let glob = ParquetSourceConnector.create(&spec(fields, &format!("{}/day=2024-01-01/*/*.parquet", d.display()), None)).unwrap();
    assert_eq!(glob.splits().unwrap().len(), 2);
}

#[test]
fn narrowing_decodes_fewer_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wide.parquet");
    let n = 2000;
    let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false), Field::new("payload", DataType::Utf8, false)]));
    let payload: Vec<String> = (0..n).map(|i| format!("{i:0>500}")).collect();
    let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(0..n as i64)), Arc::new(StringArray::from(payload))]).unwrap();
    write(&path, &batch, 500, true);
    let fields = vec![Field::new("k", DataType::Int64, false), Field::new("payload", DataType::Utf8, false)];
    let bytes = |source: &Arc<dyn Source>| source.counters().iter().find(|(k, _)| *k == "bytes_read").map(|(_, v)| *v).unwrap();
    let full = ParquetSourceConnector.create(&spec(fields.clone(), &path.display().to_string(), None)).unwrap();
    assert_eq!(read_all(&full).len(), n);
    let narrow_base = ParquetSourceConnector.create(&spec(fields, &path.display().to_string(), None)).unwrap();
    let narrow = narrow_base.narrow(&[0]).unwrap();
    let rows = read_all(&narrow);
    assert_eq!(rows.len(), n);
    assert_eq!(rows[5].0, vec![Datum::Int(5), Datum::Null]);
    assert!(bytes(&narrow_base) * 20 < bytes(&full), "narrowed {} vs full {}", bytes(&narrow_base), bytes(&full));
}

#[test]
fn predicates_prune_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sorted.parquet");
    let rows: Vec<(i32, f64, i64)> = (0..100).map(|i| (i, 1.0, JAN1_MS + i as i64 * 1000)).collect();
    write(&path, &tx(&rows), 10, true);
    let source = ParquetSourceConnector.create(&spec(declared(), &path.display().to_string(), None)).unwrap();
    let count = |s: &Arc<dyn Source>| s.splits().unwrap().len();
    let eq = source.prune(&[ColumnPredicate::Compare { column: 0, op: CompareOp::Eq, value: Datum::Int(42) }]).unwrap();
    assert_eq!(count(&eq), 1);
    assert!(read_all(&eq).contains(&row(42, 1.0, JAN1_MS + 42_000)));
    assert_eq!(source.counters().iter().find(|(k, _)| *k == "row_groups_pruned").map(|(_, v)| *v), Some(9));
    let range = source
        .prune(&[
            ColumnPredicate::Compare { column: 2, op: CompareOp::GtEq, value: Datum::Timestamp(JAN1_MS + 35_000) },
            ColumnPredicate::Between { column: 0, low: Datum::Int(0), high: Datum::Int(59) },
        ])
        .unwrap();
    assert_eq!(count(&range), 3, "row groups 30-39, 40-49, 50-59");
    let nothing = source.prune(&[ColumnPredicate::Compare { column: 0, op: CompareOp::Lt, value: Datum::Int(0) }]).unwrap();
    assert_eq!(count(&nothing), 0);
    assert_eq!(nothing.total_rows(), Some(0));
    let floats = source.prune(&[ColumnPredicate::Compare { column: 1, op: CompareOp::Gt, value: Datum::float(5.0) }]).unwrap();
    assert_eq!(count(&floats), 10, "float statistics leave NaN out: never pruned");
}

/// The column types of every chunk `source` delivers, and its rows.
fn types_and_rows(source: &Arc<dyn Source>) -> (Vec<Vec<DataType>>, Vec<Row>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (mut types, mut rows) = (Vec::new(), Vec::new());
    for split in source.splits().unwrap() {
        let mut reader = source.open(&split, None).unwrap();
        while let Some(chunk) = rt.block_on(reader.next()).unwrap() {
            let schema = chunk.batch.schema();
            assert_eq!(
                schema.fields().iter().map(|f| f.data_type().clone()).collect::<Vec<_>>(),
                chunk.batch.columns().iter().map(|c| c.data_type().clone()).collect::<Vec<_>>()
            );
            types.push(chunk.batch.columns().iter().map(|c| c.data_type().clone()).collect());
            rows.extend(batch_to_rows(&chunk.batch).unwrap());
        }
    }
    (types, rows)
}

#[test]
fn requested_string_columns_come_dictionary_encoded_where_the_file_has_them_so() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("merchant", DataType::Utf8, true),
        Field::new("note", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
    ]));
    let merchants: Vec<Option<&str>> = (0..10).map(|i| [Some("m1"), Some("m2"), None, Some("a somewhat longer merchant name")][i % 4]).collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(merchants.clone())),
            Arc::new(StringArray::from((0..10).map(|i| format!("note {i}")).collect::<Vec<_>>())),
            Arc::new(Int64Array::from((0..10).collect::<Vec<i64>>())),
        ],
    )
    .unwrap();
    // `merchant` dictionary-encoded, `note` plain, in a Hive partition directory.
    let path = dir.path().join("region=north").join("a.parquet");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let props = WriterProperties::builder().set_max_row_group_row_count(Some(4)).set_column_dictionary_enabled("note".into(), false).build();
    let mut writer = ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("region", DataType::Utf8, true));
    let source = ParquetSourceConnector.create(&spec(fields, &dir.path().display().to_string(), None)).unwrap();
    let (plain_types, plain_rows) = types_and_rows(&source);
    assert!(plain_types.iter().flatten().all(|t| !matches!(t, DataType::Dictionary(..))), "not asked: declared types");
    assert!(source.with_dictionary_columns(&[2]).is_none(), "BIGINT has no dictionary form");
    let encoded = source.with_dictionary_columns(&[0, 1, 3]).unwrap();
    let (types, rows) = types_and_rows(&encoded);
    assert_eq!(rows, plain_rows, "the same values either way");
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    assert_eq!(types.len(), 5, "row groups of 4, 4 and 2 rows in chunks of at most 2");
    for t in &types {
        assert_eq!(t, &vec![dictionary.clone(), DataType::Utf8, DataType::Int64, dictionary.clone()], "plain pages stay strings");
    }
    let narrowed = encoded.narrow(&[0]).unwrap();
    let (types, _) = types_and_rows(&narrowed);
    assert_eq!(types[0][0], dictionary, "narrowing keeps the encoding");
}
