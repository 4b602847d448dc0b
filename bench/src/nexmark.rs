//! `bench nexmark`: one `pipelines/nexmark/qN.sql` per process, from the generator or from the
//! CSV files `illunare generate nexmark` writes (the files Flink reads in `bench/flink.sh`).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use arrow::datatypes::DataType;
use illunare_coord::{Pipeline, RunOptions};
use illunare_dataflow::ClusterConfig;
use illunare_types::{Datum, Row};

use crate::{registry, status_mib};

/// Runs one query in this process and prints one result line:
/// `| query | events | seconds | events/s | peak RSS MiB | largest state |`.
pub fn run(query: &str, events: u64, workers: usize, data: Option<&Path>, dump: Option<&Path>, blackhole: bool, always_current: bool) -> Result<()> {
    let path = format!("pipelines/nexmark/{query}.sql");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let text = if always_current { text.replace("EMIT ON WINDOW CLOSE", "") } else { text };
    anyhow::ensure!(!(blackhole && dump.is_some()), "--dump needs the materialized view; it cannot go with --blackhole");
    let text = if blackhole { into_blackhole(&text, query)? } else { text };
    let (text, events) = match data {
        Some(dir) => (with_files(&text, dir)?, count_events(dir)?),
        None => (with_events(&text, events), events),
    };
    let mut pipeline = Pipeline::load(&text, &registry()).map_err(|e| anyhow::anyhow!("{}", e.render(&path, &text)))?;
    let mut options = RunOptions { cluster: ClusterConfig { workers, ..Default::default() }, capture_all: false, ..RunOptions::default() };
    // As `bench windows`: the event-time tick can be changed for experiments (default 100 ms).
    if let Some(tick) = std::env::var("ILLUNARE_TICK_MS").ok().and_then(|t| t.parse().ok()) {
        options.tick = Duration::from_millis(tick);
    }
    let start = Instant::now();
    pipeline.start(&options).map_err(|e| anyhow::anyhow!("{e}"))?;
    pipeline.close_tables();
    let mut largest = 0i64;
    while !pipeline.is_finished() {
        let (arranged, pending) = pipeline.state_size();
        largest = largest.max(arranged + pending);
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = start.elapsed();
    if let Some(out) = dump {
        let view = format!("nexmark_{query}");
        let schema = pipeline.planner.catalog()[view.as_str()].schema.clone();
        let rows = pipeline.final_rows(&view).with_context(|| format!("view {view} not captured"))?;
        let types: Vec<DataType> = schema.fields().iter().map(|f| f.data_type().clone()).collect();
        let lines: Vec<String> = rows.iter().map(|r| json_line(r, &types)).collect();
        std::fs::write(out, lines.iter().map(|l| format!("{l}\n")).collect::<String>())?;
    }
    pipeline.join().map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "| {query} | {events} | {:.2} | {:.0} | {:.0} | {largest} |",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64(),
        status_mib("VmHWM:")
    );
    Ok(())
}

/// The query's materialized view made a plain view read by a `blackhole` sink: the result is
/// computed and consolidated but not kept (Flink's blackhole sink on the other side).
fn into_blackhole(text: &str, query: &str) -> Result<String> {
    let view = format!("nexmark_{query}");
    let materialized = format!("CREATE MATERIALIZED VIEW {view} ");
    anyhow::ensure!(text.contains(&materialized), "{query}.sql has no '{materialized}'");
    Ok(format!(
        "{}\nCREATE SINK bench_blackhole FROM {view} WITH (connector = 'blackhole');\n",
        text.replace(&materialized, &format!("CREATE VIEW {view} "))
    ))
}

/// Every `events = '…'` option set to `events`.
fn with_events(text: &str, events: u64) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("events = '") {
        let (head, tail) = rest.split_at(i + "events = '".len());
        out.push_str(head);
        out.push_str(&events.to_string());
        rest = tail.find('\'').map(|j| &tail[j..]).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// Every nexmark generator source's `WITH (…)` replaced by a file source over `dir/<table>.csv`.
fn with_files(text: &str, dir: &Path) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("WITH (connector = 'generator'") {
        let (head, tail) = rest.split_at(i);
        let end = tail.find(')').context("unterminated WITH (…)")?;
        let options = &tail[..end];
        let table = options
            .split("table = '")
            .nth(1)
            .and_then(|t| t.split('\'').next())
            .context("a nexmark generator source without `table = '…'`")?;
        out.push_str(head);
        out.push_str(&format!("WITH (connector = 'file', format = 'csv', path = '{}')", dir.join(format!("{table}.csv")).display()));
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Events in the three files: their lines, less one header line each.
fn count_events(dir: &Path) -> Result<u64> {
    let mut events = 0;
    for table in ["person", "auction", "bid"] {
        let path = dir.join(format!("{table}.csv"));
        let text = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        events += text.iter().filter(|b| **b == b'\n').count().saturating_sub(1) as u64;
    }
    Ok(events)
}

/// A row as a JSON array of plain values, the shape `bench/flink/nexmark_flink.py` writes:
/// numbers (decimals as floats), strings, and times as `YYYY-MM-DD HH:MM:SS.ffffff` (UTC).
fn json_line(row: &Row, types: &[DataType]) -> String {
    let values: Vec<serde_json::Value> = row.0.iter().zip(types).map(|(d, t)| plain(d, t)).collect();
    serde_json::Value::Array(values).to_string()
}

fn plain(datum: &Datum, data_type: &DataType) -> serde_json::Value {
    use serde_json::Value;
    match (datum, data_type) {
        (Datum::Null, _) => Value::Null,
        (Datum::Bool(b), _) => Value::Bool(*b),
        (Datum::Int(i), _) => Value::from(*i),
        (Datum::UInt(u), _) => Value::from(*u),
        (Datum::Float(f), _) => Value::from(f.0),
        (Datum::Decimal(v), DataType::Decimal128(_, scale)) => Value::from(*v as f64 / 10f64.powi(i32::from(*scale))),
        (Datum::Str(s), _) => Value::from(s.as_str()),
        (Datum::Timestamp(v), DataType::Timestamp(unit, _)) => {
            let micros = match unit {
                arrow::datatypes::TimeUnit::Second => v.saturating_mul(1_000_000),
                arrow::datatypes::TimeUnit::Millisecond => v.saturating_mul(1_000),
                arrow::datatypes::TimeUnit::Microsecond => *v,
                arrow::datatypes::TimeUnit::Nanosecond => v.div_euclid(1_000),
            };
            Value::from(micros_text(micros))
        }
        (other, t) => Value::from(illunare_types::datum_to_text(other, t)),
    }
}

fn micros_text(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us).map(|t| t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()).unwrap_or_else(|| us.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_sources_become_file_sources() {
        let text = "CREATE SOURCE bid (a BIGINT)\n  WITH (connector = 'generator', kind = 'nexmark', table = 'bid', events = '5', seed = '1');\nSELECT 1;";
        let out = with_files(text, Path::new("/d")).unwrap();
        assert_eq!(out, "CREATE SOURCE bid (a BIGINT)\n  WITH (connector = 'file', format = 'csv', path = '/d/bid.csv');\nSELECT 1;");
    }

    #[test]
    fn plain_values_match_the_flink_script() {
        let ts = DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, None);
        assert_eq!(plain(&Datum::Timestamp(1_500_000_000), &ts), serde_json::json!("1970-01-01 00:00:01.500000"));
        assert_eq!(plain(&Datum::Decimal(12345), &DataType::Decimal128(23, 3)), serde_json::json!(12.345));
    }
}
