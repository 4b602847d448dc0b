//! `illunare backfill pipeline.sql --source NAME=parquet:PATH …`: the pipeline, unchanged, over
//! historical Parquet files instead of its live sources, run until the files are read.
//!
//! Each named source keeps its declared columns and WATERMARK (and the engine option
//! `idle_timeout`); only its connector options are replaced by `connector = 'parquet', path =
//! PATH`. The views, sinks and tables are the pipeline's own, so a backfill writes what the
//! live pipeline would have written over the same events. It is refused when a name is not a
//! source of the pipeline, and when a source is still unbounded after the replacements (the run
//! would never end). Running is `run`'s (`run_pipeline`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use illunare_coord::Pipeline;
use illunare_sql::Statement;

#[derive(clap::Args)]
pub struct BackfillArgs {
    file: PathBuf,
    /// A source to read from Parquet files: `NAME=parquet:PATH` (a file, directory, glob or
    /// s3:// URL). Repeat for several sources.
    #[arg(long = "source", value_name = "NAME=parquet:PATH", required = true)]
    sources: Vec<String>,
    /// Hybrid: after the files, go on reading each replaced Kafka source from the offsets
    /// after the history (the files' `_partition` and `_offset` columns), then keep running.
    #[arg(long)]
    then_stream: bool,
    #[command(flatten)]
    run: crate::RunArgs,
}

/// A `--source` argument: the source's name and the Parquet path.
fn parse_replacement(arg: &str) -> Result<(String, String)> {
    let Some((name, target)) = arg.split_once('=') else {
        bail!("--source '{arg}': expected NAME=parquet:PATH");
    };
    let Some((connector, path)) = target.split_once(':') else {
        bail!("--source '{arg}': expected NAME=parquet:PATH");
    };
    if connector != "parquet" {
        bail!("--source '{arg}': only 'parquet' sources can replace a pipeline's source (got '{connector}')");
    }
    if name.trim().is_empty() || path.trim().is_empty() {
        bail!("--source '{arg}': expected NAME=parquet:PATH");
    }
    Ok((name.trim().to_string(), path.trim().to_string()))
}

/// The options of a replaced source: the Parquet connector, and the engine's options.
fn replaced_options(old: &[(String, String)], path: &str) -> Vec<(String, String)> {
    let mut options = vec![("connector".to_string(), "parquet".to_string()), ("path".to_string(), path.to_string())];
    options.extend(old.iter().filter(|(k, _)| k == "idle_timeout").cloned());
    options
}

pub fn backfill(args: &BackfillArgs) -> Result<ExitCode> {
    let file = &args.file;
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let replacements = args.sources.iter().map(|a| parse_replacement(a)).collect::<Result<Vec<_>>>()?;
    let shown = file.display().to_string();
    let planner = illunare_sql::Planner::with_schema_resolver(illunare_coord::schema_resolver(&crate::registry()));
    let (planner, mut statements) = match illunare_sql::plan_with(planner, &text) {
        Ok(planned) => planned,
        Err(e) => {
            eprintln!("{}", e.render(&shown, &text));
            return Ok(ExitCode::from(1));
        }
    };
    let source_names: Vec<String> = statements
        .iter()
        .filter_map(|s| match s {
            Statement::CreateSource(def) => Some(def.name.clone()),
            _ => None,
        })
        .collect();
    for (name, path) in &replacements {
        let def = statements.iter_mut().find_map(|s| match s {
            Statement::CreateSource(def) if def.name.eq_ignore_ascii_case(name) => Some(def),
            _ => None,
        });
        let Some(def) = def else {
            bail!("--source {name}=…: '{name}' is not a source of {shown} (its sources: {})", source_names.join(", "));
        };
        def.options = if args.then_stream {
            hybrid_options(name, &def.options, path)?
        } else {
            replaced_options(&def.options, path)
        };
    }
    let pipeline = match Pipeline::new(planner, statements, &crate::registry()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{}", e.render(&shown, &text));
            return Ok(ExitCode::from(1));
        }
    };
    let unbounded: Vec<&String> = source_names.iter().filter(|n| pipeline.source(n).is_some_and(|s| !s.bounded())).collect();
    if !unbounded.is_empty() && !args.then_stream {
        let list = unbounded.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ");
        bail!(
            "a backfill must end, but source(s) {list} of {shown} would still be unbounded: replace each with --source {}=parquet:PATH",
            unbounded[0]
        );
    }
    crate::run_pipeline(pipeline, file, &args.run, &crate::serve::HttpArgs::off(), false)
}

/// The options of a source read from history, then from Kafka after it: the `hybrid`
/// connector over `history.*` (Parquet) and `live.*` (the source's own Kafka options, starting
/// each partition after the history's last offset).
fn hybrid_options(name: &str, old: &[(String, String)], path: &str) -> Result<Vec<(String, String)>> {
    let connector = old.iter().find(|(k, _)| k == "connector").map(|(_, v)| v.as_str()).unwrap_or("");
    if connector != "kafka" {
        bail!("--then-stream continues from Kafka, but source '{name}' uses connector '{connector}'");
    }
    let offsets = history_offsets(path).with_context(|| format!("source '{name}': reading the history's Kafka offsets from {path}"))?;
    let mut options = vec![
        ("connector".to_string(), "hybrid".to_string()),
        ("history.connector".to_string(), "parquet".to_string()),
        ("history.path".to_string(), path.to_string()),
    ];
    for (k, v) in old {
        match k.as_str() {
            "connector" => options.push(("live.connector".to_string(), v.clone())),
            "idle_timeout" => options.push((k.clone(), v.clone())),
            "start_offsets" | "start_offset" => {}
            _ => options.push((format!("live.{k}"), v.clone())),
        }
    }
    let next: Vec<String> = offsets.iter().map(|(p, o)| format!("{p}:{}", o + 1)).collect();
    if !next.is_empty() {
        options.push(("live.start_offsets".to_string(), next.join(",")));
    }
    Ok(options)
}

/// The last offset of each partition in the history (its `_partition` and `_offset` columns).
fn history_offsets(path: &str) -> Result<std::collections::BTreeMap<i32, i64>> {
    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};
    let schema = std::sync::Arc::new(Schema::new(vec![Field::new("_partition", DataType::Int64, true), Field::new("_offset", DataType::Int64, true)]));
    let options = illunare_connector::Options::new([("path".to_string(), path.to_string())]);
    let spec = illunare_connector::SourceSpec { name: "history".into(), schema, event_time: None, options };
    let source = crate::registry().source("parquet")?.create(&spec).map_err(|e| anyhow::anyhow!("{e}"))?;
    let runtime = tokio::runtime::Runtime::new()?;
    let mut last = std::collections::BTreeMap::new();
    for split in source.splits().map_err(|e| anyhow::anyhow!("{e}"))? {
        let mut reader = source.open(&split, None).map_err(|e| anyhow::anyhow!("{e}"))?;
        while let Some(chunk) = runtime.block_on(reader.next()).map_err(|e| anyhow::anyhow!("{e}"))? {
            let partitions = chunk.batch.column(0).as_primitive::<Int64Type>();
            let offsets = chunk.batch.column(1).as_primitive::<Int64Type>();
            for (p, o) in partitions.iter().zip(offsets.iter()) {
                if let (Some(p), Some(o)) = (p, o) {
                    let entry = last.entry(p as i32).or_insert(o);
                    *entry = (*entry).max(o);
                }
            }
        }
    }
    if last.is_empty() {
        bail!("no rows with _partition and _offset: archive the topic with those columns to continue from it");
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacements_parse_and_keep_engine_options() {
        assert_eq!(parse_replacement("tx=parquet:s3://b/tx/").unwrap(), ("tx".to_string(), "s3://b/tx/".to_string()));
        assert_eq!(parse_replacement("tx=parquet:data/a=1/*.parquet").unwrap().1, "data/a=1/*.parquet");
        for bad in ["tx", "tx=data.parquet", "tx=csv:data.csv", "=parquet:x", "tx=parquet:"] {
            assert!(parse_replacement(bad).is_err(), "{bad}");
        }
        let old = vec![("connector".to_string(), "kafka".to_string()), ("topic".to_string(), "t".to_string()), ("idle_timeout".to_string(), "1s".to_string())];
        let new = replaced_options(&old, "p");
        assert_eq!(new.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["connector", "path", "idle_timeout"]);
    }
}
