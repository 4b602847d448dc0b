//! Writes a small partitioned changelog with the `parquet` sink into the directory given as
//! the first argument, to check by hand that other readers (DuckDB, Spark, DataFusion) read it:
//!
//! ```text
//! cargo run -p illunare-sink-parquet --example sample -- /tmp/lake
//! duckdb -c "SELECT * FROM read_parquet('/tmp/lake/**/*.parquet', hive_partitioning = true)"
//! ```

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use illunare_connector::{ConnectorError, Options, Row, SinkConnector, SinkSpec};
use illunare_sink_parquet::ParquetSinkConnector;
use illunare_types::Datum;

fn main() -> Result<(), ConnectorError> {
    let dir = std::env::args().nth(1).ok_or_else(|| ConnectorError::Other("usage: sample <directory>".to_string()))?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("date", DataType::Utf8, false),
        Field::new("card", DataType::Int64, false),
        Field::new("amount", DataType::Decimal128(10, 2), true),
        Field::new("merchant", DataType::Utf8, true),
        Field::new("at", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), true),
        Field::new("tags", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), true),
    ]));
    let options = [("path", dir.as_str()), ("partition_by", "date"), ("rollover_rows", "2")];
    let spec = SinkSpec {
        name: "lake".to_string(),
        from: "alerts".to_string(),
        schema,
        options: Options::new(options.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
    };
    let mut sink = ParquetSinkConnector.create(&spec)?;
    let row = |date: &str, card: i64, cents: i128, merchant: &str, at: i64| {
        Row(vec![
            Datum::str(date),
            Datum::Int(card),
            Datum::Decimal(cents),
            Datum::str(merchant),
            Datum::Timestamp(at),
            Datum::List(Arc::from(vec![Datum::str("fraud"), Datum::str(merchant)])),
        ])
    };
    let t0: u64 = 1_704_153_600_000;
    sink.commit(
        &[
            (row("2024-01-02", 1, 12_345, "acme", 1_704_153_600_000), t0, 1),
            (row("2024-01-02", 2, 99, "bolt", 1_704_153_601_000), t0, 1),
            (row("2024-01-03", 3, 50_000, "corp", 1_704_240_000_000), t0 + 1, 2),
        ],
        Some(t0 + 2),
    )?;
    sink.commit(&[(row("2024-01-02", 2, 99, "bolt", 1_704_153_601_000), t0 + 5, -1)], None)?;
    println!("wrote {dir}");
    Ok(())
}
