//! `illunare opcua browse`: print an OPC UA server's address space (node ids, classes, data
//! types) to pick the `nodes` of `CREATE SOURCE … (connector = 'opcua')`.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use illunare_connector::Options;
use illunare_source_opcua::{BrowseOptions, browse};

#[derive(clap::Args)]
pub struct OpcUaArgs {
    #[command(subcommand)]
    command: OpcUaCommand,
}

#[derive(clap::Subcommand)]
enum OpcUaCommand {
    /// Walk the Objects folder of ENDPOINT and print its nodes.
    Browse {
        /// E.g. `opc.tcp://127.0.0.1:4840/`.
        endpoint: String,
        /// Levels below the Objects folder.
        #[arg(long, default_value_t = 3)]
        depth: usize,
        /// A connection option as in `CREATE SOURCE` (repeatable): `security_policy=Basic256Sha256`,
        /// `security_mode=SignAndEncrypt`, `username=${env:OPCUA_USER}`, `password=…`,
        /// `trust_server_certificate=true`, `pki_dir=…`.
        #[arg(long = "option", short = 'o', value_name = "KEY=VALUE")]
        options: Vec<String>,
    },
}

pub fn opcua(args: &OpcUaArgs) -> Result<ExitCode> {
    match &args.command {
        OpcUaCommand::Browse { endpoint, depth, options } => {
            let pairs = options
                .iter()
                .map(|o| o.split_once('=').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).ok_or_else(|| anyhow!("--option {o}: expected KEY=VALUE")))
                .collect::<Result<Vec<_>>>()?;
            let options = BrowseOptions::from_options(&Options::new(pairs))?;
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
            let entries = runtime.block_on(browse(endpoint, &options, *depth))?;
            println!("{:<48} {:<14} {:<12} browse name", "node id", "class", "data type");
            for e in &entries {
                let indent = "  ".repeat(e.depth.saturating_sub(1));
                println!("{:<48} {:<14} {:<12} {indent}{}", e.node_id, e.node_class, e.data_type.as_deref().unwrap_or("-"), e.browse_name);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
