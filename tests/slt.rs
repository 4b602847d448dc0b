//! sqllogictest runner where every query is an incrementally maintained view.
//!
//! For each `.slt` file under `tests/slt/`: all CREATE TABLE / CREATE VIEW statements are
//! planned first, every `query` becomes a view created *before* any data arrives, then the file
//! is replayed: `statement` DML changes the tables step by step (the views are updated
//! incrementally, inserts and deletes alike) and each `query` reads its view as of that step.
//! Each answer is compared with the expected text AND with DataFusion running the same query
//! over the tables' contents at that step (the batch oracle), so expectations cannot drift.
//!
//! `cargo test --test slt -- --complete` rewrites expected results from the engine's answers
//! (only where the oracle agrees). `cargo test --test slt -- FILTER` runs matching files only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use illunare_coord::oracle::{Oracle, canonical};
use illunare_coord::{Pipeline, RunOptions};
use illunare_sql::{Planner, Statement, parse_pipeline};
use sqllogictest::{DefaultColumnType, ExpectedError, QueryExpect, Record, SortMode, StatementExpect};

type Rec = Record<DefaultColumnType>;

fn is_ddl(sql: &str) -> bool {
    let s = sql.trim_start().to_lowercase();
    s.starts_with("create ")
}

fn format_value(v: &str) -> String {
    if v.is_empty() { "(empty)".to_string() } else { v.to_string() }
}

/// Canonical rows (" | " separated) → slt lines (space separated).
fn to_lines(rows: &[String]) -> Vec<Vec<String>> {
    rows.iter().map(|r| r.split(" | ").map(format_value).collect()).collect()
}

fn sort_for(mode: Option<SortMode>, mut rows: Vec<Vec<String>>) -> Vec<String> {
    match mode {
        Some(SortMode::ValueSort) => {
            let mut values: Vec<String> = rows.into_iter().flatten().collect();
            values.sort();
            values
        }
        _ => {
            rows.sort();
            rows.into_iter().map(|r| r.join(" ")).collect()
        }
    }
}

fn error_matches(expected: &ExpectedError, message: &str) -> bool {
    match expected {
        ExpectedError::Empty => true,
        ExpectedError::Inline(regex) => regex.is_match(message),
        ExpectedError::Multiline(text) => message.trim() == text.trim(),
    }
}

struct Outcome {
    failures: Vec<String>,
    queries: usize,
    records: Vec<Rec>,
}

fn run_file(path: &Path, complete: bool) -> Outcome {
    let mut records: Vec<Rec> = match sqllogictest::parse_file(path) {
        Ok(r) => r,
        Err(e) => return Outcome { failures: vec![format!("{}: parse error: {e}", path.display())], queries: 0, records: vec![] },
    };
    let mut failures = Vec::new();
    let mut planner = Planner::new();
    let mut statements = Vec::new();
    // Pass 1: DDL, then one view per query.
    let mut ddl_result: Vec<Option<Result<(), String>>> = vec![None; records.len()];
    for (i, record) in records.iter().enumerate() {
        if let Record::Statement { sql, .. } = record
            && is_ddl(sql)
        {
            let result = parse_pipeline(sql).map_err(|e| e.to_string()).and_then(|stmts| {
                for p in stmts {
                    statements.push(planner.plan(&p).map_err(|e| e.to_string())?);
                }
                Ok(())
            });
            ddl_result[i] = Some(result);
        }
    }
    let mut view_of: Vec<Option<Result<String, String>>> = vec![None; records.len()];
    for (i, record) in records.iter().enumerate() {
        if let Record::Query { sql, .. } = record {
            let name = format!("__q{i}");
            view_of[i] = Some(match planner.create_view(&name, sql.trim().trim_end_matches(';'), false) {
                Ok(def) => {
                    statements.push(Statement::CreateView(def));
                    Ok(name)
                }
                Err(e) => Err(e.to_string()),
            });
        }
    }
    let registry = illunare_connector::Registry::default();
    let mut pipeline = match Pipeline::new(planner, statements, &registry) {
        Ok(p) => p,
        Err(e) => return Outcome { failures: vec![format!("{}: {e}", path.display())], queries: 0, records },
    };
    let workers = std::env::var("ILLUNARE_SLT_WORKERS").ok().and_then(|w| w.parse().ok()).unwrap_or(2);
    let options = RunOptions {
        capture_all: true,
        commit_interval: Duration::ZERO,
        tick: Duration::from_millis(1),
        cluster: illunare_dataflow::ClusterConfig { workers, ..Default::default() },
    };
    if let Err(e) = pipeline.start(&options) {
        return Outcome { failures: vec![format!("{}: cannot start: {e}", path.display())], queries: 0, records };
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let mut queries = 0;
    // Pass 2: replay.
    for i in 0..records.len() {
        let loc = match &records[i] {
            Record::Statement { loc, .. } | Record::Query { loc, .. } => format!("{}:{}", loc.file(), loc.line()),
            _ => continue,
        };
        match &records[i] {
            Record::Statement { sql, expected, .. } => {
                let result = match ddl_result[i].take() {
                    Some(r) => r,
                    None => pipeline.execute_sql(sql).map(|_| ()).map_err(|e| e.to_string()),
                };
                match (expected, result) {
                    (StatementExpect::Ok | StatementExpect::Count(_), Ok(())) => {}
                    (StatementExpect::Error(e), Err(msg)) if error_matches(e, &msg) => {}
                    (StatementExpect::Error(_), Err(msg)) => failures.push(format!("{loc}: error message mismatch: {msg}")),
                    (StatementExpect::Error(_), Ok(())) => failures.push(format!("{loc}: statement succeeded but an error was expected")),
                    (_, Err(msg)) => failures.push(format!("{loc}: statement failed: {msg}")),
                }
            }
            Record::Query { sql, expected, .. } => {
                queries += 1;
                let view = view_of[i].clone().expect("every query was planned");
                let expected = expected.clone();
                match (expected, view) {
                    (QueryExpect::Error(e), Err(msg)) => {
                        if !error_matches(&e, &msg) {
                            failures.push(format!("{loc}: error message mismatch: {msg}"));
                        }
                    }
                    (QueryExpect::Error(_), Ok(_)) => failures.push(format!("{loc}: query planned but an error was expected")),
                    (QueryExpect::Results { .. }, Err(msg)) => failures.push(format!("{loc}: query failed: {msg}\n    {sql}")),
                    (QueryExpect::Results { sort_mode, results, label, result_mode, .. }, Ok(view)) => {
                        let now = pipeline.tick();
                        let state = match pipeline.snapshot_at(&view, now - 1, Duration::from_secs(60)) {
                            Ok(s) => s,
                            Err(e) => {
                                failures.push(format!("{loc}: {e}"));
                                continue;
                            }
                        };
                        let schema = pipeline.planner.catalog()[&view].schema.clone();
                        let engine = canonical(&state.rows(), &schema);
                        let errors = pipeline.final_rows(&illunare_types::errors_name(&view)).unwrap_or_default();
                        if !errors.is_empty() {
                            failures.push(format!("{loc}: view produced errors: {errors:?}"));
                        }
                        // The batch oracle over the same tables at this step.
                        let oracle = rt.block_on(async {
                            let o = Oracle::new(&pipeline).await?;
                            o.view(&view).await
                        });
                        match &oracle {
                            Ok(o) if *o != engine => failures.push(format!(
                                "{loc}: engine differs from the DataFusion oracle\n    {sql}\n    engine: {engine:?}\n    oracle: {o:?}"
                            )),
                            Err(e) => failures.push(format!("{loc}: oracle failed: {e}")),
                            _ => {}
                        }
                        let actual = sort_for(sort_mode, to_lines(&engine));
                        let wanted = sort_for(sort_mode, results.iter().map(|l| l.split_whitespace().map(str::to_string).collect()).collect());
                        if complete {
                            if oracle.as_ref().is_ok_and(|o| *o == engine) {
                                let sort_mode = sort_mode.or(Some(SortMode::RowSort));
                                let new = QueryExpect::Results { types: types_of(&schema), sort_mode, result_mode, label, results: actual.clone() };
                                if let Record::Query { expected, .. } = &mut records[i] {
                                    *expected = new;
                                }
                            }
                        } else if actual != wanted {
                            failures.push(format!("{loc}: wrong result\n    {sql}\n    expected: {wanted:?}\n    actual:   {actual:?}"));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    pipeline.close_tables();
    pipeline.stop();
    let _ = pipeline.join();
    Outcome { failures, queries, records }
}

fn types_of(schema: &arrow::datatypes::SchemaRef) -> Vec<DefaultColumnType> {
    schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            t if t.is_integer() => DefaultColumnType::Integer,
            t if t.is_floating() || matches!(t, arrow::datatypes::DataType::Decimal128(_, _)) => DefaultColumnType::FloatingPoint,
            _ => DefaultColumnType::Text,
        })
        .collect()
}

fn slt_files(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                slt_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "slt") {
                out.push(p);
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let complete = args.iter().any(|a| a == "--complete");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let mut files = Vec::new();
    slt_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt"), &mut files);
    files.sort();
    files.retain(|f| filters.is_empty() || filters.iter().any(|x| f.to_string_lossy().contains(x.as_str())));
    let (mut passed, mut failed, mut total_queries) = (0, 0, 0);
    for file in &files {
        let outcome = run_file(file, complete);
        total_queries += outcome.queries;
        if outcome.failures.is_empty() {
            passed += 1;
            println!("ok   {} ({} queries)", file.display(), outcome.queries);
        } else {
            failed += 1;
            println!("FAIL {} ({} queries)", file.display(), outcome.queries);
            for f in &outcome.failures {
                println!("  {f}");
            }
        }
        if complete {
            let text: String = outcome.records.iter().map(|r| format!("{r}\n")).collect();
            std::fs::write(file, text).expect("rewrite slt file");
        }
    }
    println!("slt: {total_queries} query records in {} files", files.len());
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
