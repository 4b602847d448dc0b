//! `illunare generate KIND`: writes the generator's rows to CSV or JSONL files, so the same
//! data can be replayed through the `file` connector, DataFusion, DuckDB or Flink.
//! `illunare generate nexmark --events N` writes `person`, `auction` and `bid` files.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use illunare_types::{array_to_datums, datum_to_text};

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// transactions | devices | fleet | nexmark
    kind: String,
    /// Rows to write (not for nexmark) [default: 1000000]
    #[arg(long)]
    rows: Option<u64>,
    /// nexmark only: events of the three tables together (1 person, 3 auctions, 46 bids in
    /// every 50) [default: 1000000]
    #[arg(long)]
    events: Option<u64>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// csv | jsonl
    #[arg(long, default_value = "csv")]
    format: String,
    #[arg(long, default_value = "data")]
    out: PathBuf,
}

/// Timestamps become RFC 3339 strings, so every reader parses them the same way.
fn with_rfc3339_times(batch: &RecordBatch) -> Result<RecordBatch> {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if matches!(field.data_type(), DataType::Timestamp(_, _)) {
            let datums = array_to_datums(column.as_ref())?;
            let strings: StringArray = datums
                .iter()
                .map(|d| if d.is_null() { None } else { Some(datum_to_text(d, field.data_type())) })
                .collect();
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(Arc::new(strings));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

#[allow(clippy::large_enum_variant)]
enum Out {
    Csv(arrow_csv::Writer<BufWriter<File>>),
    Json(arrow_json::LineDelimitedWriter<BufWriter<File>>),
}

impl Out {
    fn create(path: &PathBuf, format: &str) -> Result<Out> {
        let file = BufWriter::new(File::create(path).with_context(|| format!("cannot create {}", path.display()))?);
        Ok(match format {
            "csv" => Out::Csv(arrow_csv::WriterBuilder::new().with_header(true).build(file)),
            "jsonl" | "json" => Out::Json(arrow_json::LineDelimitedWriter::new(file)),
            other => anyhow::bail!("unknown format '{other}' (csv or jsonl)"),
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let batch = with_rfc3339_times(batch)?;
        match self {
            Out::Csv(w) => w.write(&batch)?,
            Out::Json(w) => w.write(&batch)?,
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        match self {
            Out::Csv(w) => w.into_inner().flush()?,
            Out::Json(mut w) => {
                w.finish()?;
                w.into_inner().flush()?
            }
        }
        Ok(())
    }
}

const DEFAULT_COUNT: u64 = 1_000_000;
const BATCH: usize = 65_536;

/// Writes `batches` to `path`, returning the row count.
fn write_all(
    path: &PathBuf,
    format: &str,
    batches: impl Iterator<Item = Result<RecordBatch, illunare_connector::ConnectorError>>,
) -> Result<u64> {
    let mut out = Out::create(path, format)?;
    let mut written = 0u64;
    for batch in batches {
        let batch = batch?;
        written += batch.num_rows() as u64;
        out.write(&batch)?;
    }
    out.finish()?;
    Ok(written)
}

pub fn generate(args: &GenerateArgs) -> Result<ExitCode> {
    let nexmark = args.kind.trim().eq_ignore_ascii_case("nexmark");
    match (nexmark, args.rows, args.events) {
        (true, Some(_), _) => {
            anyhow::bail!("nexmark counts events, not rows: use --events N (the events of the person, auction and bid tables together)")
        }
        (false, _, Some(_)) => anyhow::bail!("--events is for the nexmark kind; use --rows N for '{}'", args.kind),
        _ => {}
    }
    // Validate the format before creating anything.
    if !matches!(args.format.as_str(), "csv" | "jsonl" | "json") {
        anyhow::bail!("unknown format '{}' (csv or jsonl)", args.format);
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let ext = if args.format == "csv" { "csv" } else { "jsonl" };
    if nexmark {
        let events = args.events.unwrap_or(DEFAULT_COUNT);
        for table in illunare_source_generator::NEXMARK_TABLES {
            let path = args.out.join(format!("{table}.{ext}"));
            let batches = illunare_source_generator::generate_nexmark_batches(table, events, args.seed, BATCH)?;
            let written = write_all(&path, &args.format, batches)?;
            eprintln!("wrote {written} {table} rows of {events} events to {}", path.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows = args.rows.unwrap_or(DEFAULT_COUNT);
    let path = args.out.join(format!("{}.{ext}", args.kind));
    let batches = illunare_source_generator::generate_batches(&args.kind, rows, args.seed, BATCH)?;
    let written = write_all(&path, &args.format, batches)?;
    eprintln!("wrote {written} rows to {}", path.display());
    if args.kind == "transactions" {
        let merchants = args.out.join(format!("merchants.{ext}"));
        let mut out = Out::create(&merchants, &args.format)?;
        out.write(&illunare_source_generator::merchants_batch(1000, args.seed))?;
        out.finish()?;
        eprintln!("wrote the merchant dimension to {}", merchants.display());
    }
    Ok(ExitCode::SUCCESS)
}
