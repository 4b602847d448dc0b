//! `mode = 'poll'`: one Read service call for all nodes, one [`Observation`] per node.
//!
//! Per-node failures (an unknown node id, an access error) are statuses in the result and become
//! rows; only a failure of the whole call is an error, which the reader treats as a lost
//! connection.

use opcua::types::{ReadValueId, StatusCode};

use crate::OpcUaError;
use crate::client::Connection;
use crate::convert::status_name;
use crate::nodes::ResolvedNode;
use crate::options::Config;
use crate::rows::Observation;

/// Nodes per Read call.
const NODES_PER_READ: usize = 1000;

/// Reads the current value of every node.
/// A failed call carries its status (the rows of a connection loss use it).
pub(crate) async fn poll(
    connection: &Connection,
    config: &Config,
    nodes: &[ResolvedNode],
    now: i64,
) -> Result<Vec<Observation>, (StatusCode, OpcUaError)> {
    let mut out = Vec::with_capacity(nodes.len());
    let mut readable: Vec<(&ResolvedNode, ReadValueId)> = Vec::with_capacity(nodes.len());
    for node in nodes {
        match &node.id {
            Some(id) => readable.push((node, ReadValueId::from(id.clone()))),
            None => out.push(Observation::status_only(node.name.clone(), StatusCode::BadNodeIdUnknown, Some(now))),
        }
    }
    for batch in readable.chunks(NODES_PER_READ) {
        let batch_reads: Vec<ReadValueId> = batch.iter().map(|(_, r)| r.clone()).collect();
        let values = connection
            .session
            .read(&batch_reads, config.timestamps.to_library(), 0.0)
            .await
            .map_err(|e| {
                let error = OpcUaError::Service {
                    endpoint: connection.endpoint.clone(),
                    service: "Read",
                    status: status_name(e.status()),
                    message: e.to_string(),
                };
                (e.status(), error)
            })?;
        for (i, (node, _)) in batch.iter().enumerate() {
            match values.get(i) {
                Some(dv) => out.push(Observation::from_data_value(node.name.clone(), dv.clone(), config.source_ts_fallback_server)),
                None => out.push(Observation::status_only(node.name.clone(), StatusCode::BadUnexpectedError, Some(now))),
            }
        }
    }
    Ok(out)
}
