//! The `illunare` command line: run, check and explain pipelines; generate test data; scan
//! Modbus endpoints; browse OPC UA servers; backfill a pipeline from Parquet files.

mod backfill;
mod generate;
mod modbus;
mod opcua;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use illunare_coord::{Pipeline, RunOptions};
use illunare_dataflow::ClusterConfig;

/// mimalloc instead of glibc's malloc: rows are small vectors allocated and freed by the
/// million, and glibc's allocator spent ~40% of Nexmark q5's time (and its arena locks
/// contended between workers); see bench/RESULTS.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "illunare", version, about = "Streaming SQL over live streams, maintained incrementally")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct ClusterArgs {
    /// Worker threads per process.
    #[arg(long, short = 'w', default_value_t = 1)]
    workers: usize,
    /// Number of processes in a cluster (timely cluster mode).
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// This process's index in the cluster (0-based).
    #[arg(long, default_value_t = 0)]
    process_index: usize,
    /// File with one `host:port` per process.
    #[arg(long)]
    hosts: Option<PathBuf>,
}

/// How to run a pipeline (`run`, `backfill`).
#[derive(clap::Args, Clone)]
struct RunArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Minimum time between two commits of a sink (e.g. 500ms, 2s).
    #[arg(long, default_value = "500ms")]
    commit_interval: String,
    /// Granularity of source timestamps: larger ticks mean fewer, larger updates (more
    /// throughput) and that much more latency.
    #[arg(long, default_value = "100ms")]
    tick: String,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline until its bounded sources end, or until Ctrl-C.
    Run {
        file: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        http: serve::HttpArgs,
        /// Keep serving (and taking DDL and DML) after the bounded sources end, until Ctrl-C.
        #[arg(long)]
        stay: bool,
    },
    /// Start the engine and its API with no pipeline (or FILE's) and take everything else over
    /// the API, until Ctrl-C.
    Serve {
        file: Option<PathBuf>,
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        http: serve::HttpArgs,
    },
    /// Run a pipeline over historical Parquet files instead of its live sources, then exit.
    Backfill(backfill::BackfillArgs),
    /// Validate a pipeline: SQL, types, connectors and options. Errors point at line:column.
    Check { file: PathBuf },
    /// Print the plan of every view, operator by operator.
    Explain { file: PathBuf },
    /// Write generated data to files (the same rows the `generator` connector produces).
    Generate(generate::GenerateArgs),
    /// Modbus TCP tools: `scan` an endpoint for units and readable registers.
    Modbus(modbus::ModbusArgs),
    /// OPC UA tools: `browse` a server's address space.
    Opcua(opcua::OpcUaArgs),
}

fn registry() -> illunare_connector::Registry {
    let mut r = illunare_connector::Registry::default();
    r.add_source(Arc::new(illunare_source_generator::GeneratorConnector))
        .add_source(Arc::new(illunare_source_file::FileSourceConnector))
        .add_source(Arc::new(illunare_source_modbus::ModbusConnector))
        .add_source(Arc::new(illunare_source_opcua::OpcUaConnector))
        .add_source(Arc::new(illunare_source_kafka::KafkaSourceConnector))
        .add_source(Arc::new(illunare_source_parquet::ParquetSourceConnector))
        .add_sink(Arc::new(illunare_sink_file::FileSinkConnector))
        .add_sink(Arc::new(illunare_sink_file::StdoutSinkConnector))
        .add_sink(Arc::new(illunare_sink_postgres::PostgresSinkConnector))
        .add_sink(Arc::new(illunare_sink_parquet::ParquetSinkConnector))
        .add_sink(Arc::new(illunare_sink_kafka::KafkaSinkConnector))
        .add_sink(Arc::new(illunare_sink_file::BlackholeSinkConnector));
    let parts = r.clone();
    r.add_source(Arc::new(illunare_connector::chain::HybridConnector { registry: parts }));
    r
}

fn load(file: &PathBuf) -> Result<(String, Result<Pipeline, String>)> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let result = Pipeline::load(&text, &registry()).map_err(|e| e.render(&file.display().to_string(), &text));
    Ok((text, result))
}

fn cluster_config(args: &ClusterArgs) -> Result<ClusterConfig> {
    let hosts = match &args.hosts {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read hosts file {}", path.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect(),
        None => vec![],
    };
    if args.processes > 1 && hosts.len() != args.processes {
        anyhow::bail!("--processes {} needs a --hosts file with {} lines (got {})", args.processes, args.processes, hosts.len());
    }
    if args.process_index >= args.processes.max(1) {
        anyhow::bail!("--process-index {} must be below --processes {}", args.process_index, args.processes);
    }
    Ok(ClusterConfig { workers: args.workers.max(1), processes: args.processes.max(1), process_index: args.process_index, hosts })
}

fn run(file: &PathBuf, args: &RunArgs, http: &serve::HttpArgs, stay: bool) -> Result<ExitCode> {
    let (_, loaded) = load(file)?;
    match loaded {
        Ok(pipeline) => run_pipeline(pipeline, file, args, http, stay),
        Err(report) => {
            eprintln!("{report}");
            Ok(ExitCode::from(1))
        }
    }
}

/// `illunare serve [FILE]`: the engine stays up, taking DDL and DML over the API.
fn serve_engine(file: Option<&PathBuf>, args: &RunArgs, http: &serve::HttpArgs) -> Result<ExitCode> {
    let (pipeline, name) = match file {
        Some(file) => match load(file)? {
            (_, Ok(p)) => (p, file.clone()),
            (_, Err(report)) => {
                eprintln!("{report}");
                return Ok(ExitCode::from(1));
            }
        },
        None => (Pipeline::load("", &registry()).map_err(|e| anyhow::anyhow!("{}", e.render("-", "")))?, PathBuf::from("-")),
    };
    run_pipeline(pipeline, &name, args, http, true)
}

/// Runs a loaded pipeline until its bounded sources end (or Ctrl-C; with `stay`, only Ctrl-C),
/// showing progress and serving its views.
fn run_pipeline(mut pipeline: Pipeline, file: &PathBuf, args: &RunArgs, http: &serve::HttpArgs, stay: bool) -> Result<ExitCode> {
    let options = RunOptions {
        cluster: cluster_config(&args.cluster)?,
        capture_all: false,
        commit_interval: illunare_connector::parse_duration(&args.commit_interval).map_err(anyhow::Error::msg)?,
        tick: illunare_connector::parse_duration(&args.tick).map_err(anyhow::Error::msg)?,
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        ctrlc::set_handler(move || {
            // First signal: stop gracefully (flush sinks). Second: give up at once.
            if flag.swap(true, Ordering::SeqCst) {
                eprintln!("interrupted again: exiting without waiting for sinks");
                std::process::exit(130);
            }
        })
        .context("cannot install the Ctrl-C handler")?;
    }
    let started = Instant::now();
    if let Err(e) = pipeline.start(&options) {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        eprintln!("{}", e.render(&file.display().to_string(), &text));
        pipeline.stop();
        return Ok(ExitCode::from(1));
    }
    // Without `stay`, the file's DML is all there is: tables are final and bounded sources end the run.
    if !stay {
        pipeline.close_tables();
    }
    tracing::info!("pipeline started ({} view(s), bounded: {})", pipeline.views().len(), pipeline.bounded());
    let progress = progress_bar(&pipeline);
    let pipeline = Arc::new(std::sync::Mutex::new(pipeline));
    // Worker 0, which holds the served views, runs in process 0 of a cluster.
    let http = if options.cluster.process_index == 0 { http.clone() } else { serve::HttpArgs::off() };
    if let Err(e) = serve::start(pipeline.clone(), &http) {
        lock(&pipeline).stop();
        return Err(e);
    }
    let mut stopping = false;
    while !lock(&pipeline).is_finished() {
        if interrupted.load(Ordering::SeqCst) && !stopping {
            eprintln!("stopping: flushing sinks…");
            lock(&pipeline).stop();
            stopping = true;
        }
        if let Some(bar) = &progress {
            let p = lock(&pipeline);
            bar.set_message(progress_message(&p, started));
            bar.set_position(rows_read(&p));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let mut pipeline = lock(&pipeline);
    eprintln!("{}", progress_message(&pipeline, started));
    let fatal: Vec<String> = pipeline.source_metrics().iter().filter_map(|(_, m)| m.fatal.get().cloned()).collect();
    pipeline.join().map_err(|e| anyhow::anyhow!("{e}"))?;
    if !fatal.is_empty() {
        for message in fatal {
            eprintln!("error: {message}");
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The engine, even if a thread panicked while holding it.
fn lock(pipeline: &std::sync::Mutex<Pipeline>) -> std::sync::MutexGuard<'_, Pipeline> {
    pipeline.lock().unwrap_or_else(|e| e.into_inner())
}

/// A spinner on a terminal; a bar (rows read of all rows) when every source knows its total.
fn progress_bar(pipeline: &Pipeline) -> Option<indicatif::ProgressBar> {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return None;
    }
    let names: Vec<String> = pipeline.source_metrics().into_iter().map(|(n, _)| n).collect();
    let total: Option<u64> = names.iter().map(|n| pipeline.source(n).and_then(|s| s.total_rows())).sum();
    let bar = match total {
        Some(total) if !names.is_empty() => {
            let style = indicatif::ProgressStyle::with_template("{bar:40} {percent:>3}% {msg}").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            indicatif::ProgressBar::new(total).with_style(style)
        }
        _ => indicatif::ProgressBar::new_spinner(),
    };
    bar.enable_steady_tick(Duration::from_millis(200));
    Some(bar)
}

fn rows_read(pipeline: &Pipeline) -> u64 {
    pipeline.source_metrics().iter().map(|(_, m)| m.rows.load(Ordering::Relaxed)).sum()
}

fn progress_message(pipeline: &Pipeline, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64();
    let mut parts = Vec::new();
    let mut metrics = pipeline.source_metrics();
    metrics.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, m) in metrics {
        let rows = m.rows.load(Ordering::Relaxed);
        let errors = m.errors.load(Ordering::Relaxed);
        let dropped = m.dropped.load(Ordering::Relaxed);
        let dropped = if dropped > 0 { format!(", {dropped} dropped") } else { String::new() };
        parts.push(format!("{name}: {rows} rows ({:.0}/s), {errors} errors{dropped}", rows as f64 / secs.max(1e-3)));
    }
    format!("[{secs:.1}s] {}", parts.join("; "))
}

fn check(file: &PathBuf) -> Result<ExitCode> {
    let (text, loaded) = load(file)?;
    match loaded {
        Ok(mut p) => {
            // The file's DML only touches tables: run it on their snapshots, so bad values and
            // key violations are reported now rather than when the pipeline starts.
            let dml: Vec<_> = p.statements.iter().filter_map(|s| if let illunare_sql::Statement::Dml(d) = s { Some(d.clone()) } else { None }).collect();
            for d in &dml {
                if let Err(e) = p.tables.apply(d) {
                    eprintln!("{}", e.render(&file.display().to_string(), &text));
                    return Ok(ExitCode::from(1));
                }
            }
            let count = |f: fn(&illunare_sql::Statement) -> bool| p.statements.iter().filter(|s| f(s)).count();
            println!(
                "{}: ok ({} source(s), {} table(s), {} view(s), {} sink(s), {} DML statement(s))",
                file.display(),
                count(|s| matches!(s, illunare_sql::Statement::CreateSource(_))),
                count(|s| matches!(s, illunare_sql::Statement::CreateTable(_))),
                count(|s| matches!(s, illunare_sql::Statement::CreateView(_))),
                count(|s| matches!(s, illunare_sql::Statement::CreateSink(_))),
                count(|s| matches!(s, illunare_sql::Statement::Dml(_))),
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(report) => {
            eprintln!("{report}");
            Ok(ExitCode::from(1))
        }
    }
}

fn explain(file: &PathBuf) -> Result<ExitCode> {
    let (_, loaded) = load(file)?;
    let pipeline = match loaded {
        Ok(p) => p,
        Err(report) => {
            eprintln!("{report}");
            return Ok(ExitCode::from(1));
        }
    };
    for stmt in &pipeline.statements {
        match stmt {
            illunare_sql::Statement::CreateSource(s) => {
                let cols: Vec<String> = s.schema.fields().iter().map(|f| format!("{} {}", f.name(), f.data_type())).collect();
                println!("source {} via {} ({})", s.name, s.connector().unwrap_or("?"), cols.join(", "));
            }
            illunare_sql::Statement::CreateTable(t) => {
                let cols: Vec<String> = t.schema.fields().iter().map(|f| format!("{} {}", f.name(), f.data_type())).collect();
                println!("table {} ({})", t.name, cols.join(", "));
            }
            illunare_sql::Statement::CreateView(v) => {
                println!("{} {}:", if v.materialized { "materialized view" } else { "view" }, v.name);
                for line in v.plan.explain().lines() {
                    println!("  {line}");
                }
            }
            illunare_sql::Statement::CreateSink(s) => println!("sink {} from {} via {}", s.name, s.from, s.connector().unwrap_or("?")),
            illunare_sql::Statement::Dml(d) => println!("dml {:?} on {}", d.kind, d.table),
            illunare_sql::Statement::Drop(d) => println!("drop {:?}", d.dropped),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("ILLUNARE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run { file, run: args, http, stay } => run(file, args, http, *stay),
        Command::Serve { file, run: args, http } => serve_engine(file.as_ref(), args, http),
        Command::Backfill(args) => backfill::backfill(args),
        Command::Check { file } => check(file),
        Command::Explain { file } => explain(file),
        Command::Generate(args) => generate::generate(args),
        Command::Modbus(args) => modbus::modbus(args),
        Command::Opcua(args) => opcua::opcua(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
