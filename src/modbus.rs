//! `illunare modbus scan`: find the unit ids and readable registers of a Modbus TCP endpoint,
//! and optionally write a starter register map for `CREATE SOURCE … (connector = 'modbus')`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use illunare_source_modbus::{RegisterKind, ScanOptions, parse_range, scan, starter_map};

#[derive(clap::Args)]
pub struct ModbusArgs {
    #[command(subcommand)]
    command: ModbusCommand,
}

#[derive(clap::Subcommand)]
enum ModbusCommand {
    /// List the unit ids that answer on HOST:PORT and the register ranges each can read.
    Scan {
        /// The endpoint, `host:port` (port 502 when omitted).
        endpoint: String,
        /// Unit ids to try, e.g. `1-247` or `1`.
        #[arg(long, default_value = "1-247")]
        units: String,
        /// 0-based addresses to probe in each table, e.g. `0-99`.
        #[arg(long, default_value = "0-99")]
        registers: String,
        /// How long to wait for each answer (a unit that stays silent is absent).
        #[arg(long, default_value = "300ms")]
        timeout: String,
        /// Write a starter register map (TOML) for one unit to this file.
        #[arg(long)]
        write_map: Option<PathBuf>,
        /// The unit whose ranges go into the map (default: the first that answers).
        #[arg(long)]
        map_unit: Option<u8>,
    },
}

pub fn modbus(args: &ModbusArgs) -> Result<ExitCode> {
    match &args.command {
        ModbusCommand::Scan { endpoint, units, registers, timeout, write_map, map_unit } => {
            let endpoint = if endpoint.contains(':') { endpoint.clone() } else { format!("{endpoint}:502") };
            let options = ScanOptions {
                units: parse_range(units).map_err(|e| anyhow!("--units: {e}"))?,
                registers: parse_range(registers).map_err(|e| anyhow!("--registers: {e}"))?,
                timeout: illunare_connector::parse_duration(timeout).map_err(|e| anyhow!("--timeout: {e}"))?,
            };
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let report = runtime.block_on(scan(&endpoint, &options))?;
            println!("{endpoint}: {} unit(s) answer among {units}", report.units.len());
            for unit in &report.units {
                println!("unit {}", unit.unit);
                for kind in [RegisterKind::Coil, RegisterKind::Discrete, RegisterKind::Holding, RegisterKind::Input] {
                    let ranges: Vec<String> = unit
                        .ranges
                        .iter()
                        .filter(|(k, _, _)| *k == kind)
                        .map(|(_, a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") })
                        .collect();
                    let shown = if ranges.is_empty() { "-".to_string() } else { ranges.join(", ") };
                    println!("  {:<9} {shown}", kind.name());
                }
            }
            if let Some(path) = write_map {
                let unit = match map_unit {
                    Some(u) => report.units.iter().find(|r| r.unit == *u).ok_or_else(|| anyhow!("unit {u} did not answer"))?,
                    None => report.units.first().ok_or_else(|| anyhow!("no unit answered: no map to write"))?,
                };
                std::fs::write(path, starter_map(&report, unit)).with_context(|| format!("write {}", path.display()))?;
                println!("wrote a starter map for unit {} to {}", unit.unit, path.display());
            }
            Ok(if report.units.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
    }
}
