//! `mode = 'subscribe'`: one subscription with a monitored item per node, whose data-change
//! notifications arrive on a channel as [`Observation`]s.
//!
//! The library calls the data-change callback from its event loop; the callback only turns the
//! notification into an observation and sends it, so nothing blocks the session. Items the
//! server refuses (unknown node, deadband on a string, …) come back at once as observations
//! with the refusal's status, so a missing node shows up as a row instead of silence.

use std::sync::Arc;
use std::time::Duration;

use opcua::client::DataChangeCallback;
use opcua::types::{
    DataChangeFilter, DataChangeTrigger, DeadbandType, ExtensionObject, MonitoredItemCreateRequest, MonitoringMode,
    MonitoringParameters, ReadValueId, StatusCode,
};
use tokio::sync::mpsc;

use crate::OpcUaError;
use crate::client::Connection;
use crate::convert::status_name;
use crate::nodes::ResolvedNode;
use crate::options::{Config, Deadband};
use crate::rows::Observation;

/// Items per CreateMonitoredItems call.
const ITEMS_PER_CALL: usize = 1000;

/// Notifications of a live subscription, and the rows of the items the server refused.
pub(crate) struct Subscription {
    pub notifications: mpsc::UnboundedReceiver<Observation>,
    pub refused: Vec<Observation>,
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Creates the subscription and its monitored items on `connection`.
pub(crate) async fn subscribe(connection: &Connection, config: &Config, nodes: &[ResolvedNode], now: i64) -> Result<Subscription, OpcUaError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut refused = Vec::new();
    let names: Arc<Vec<Arc<str>>> = Arc::new(nodes.iter().map(|n| n.name.clone()).collect());
    let fallback = config.source_ts_fallback_server;
    let endpoint = connection.endpoint.clone();
    let service_error = |service: &'static str, e: opcua::types::Error| OpcUaError::Service {
        endpoint: endpoint.clone(),
        service,
        status: status_name(e.status()),
        message: e.to_string(),
    };

    let callback_names = names.clone();
    let callback = DataChangeCallback::new(move |value, item| {
        // Client handles are node index + 1 (0 means "assign one" to the library).
        let index = (item.client_handle() as usize).wrapping_sub(1);
        if let Some(name) = callback_names.get(index) {
            let _ = tx.send(Observation::from_data_value(name.clone(), value, fallback));
        }
    });
    // Keep-alive after 10 empty publishing intervals; the subscription lives 3x that long
    // without publish requests (the minimum the specification allows).
    let subscription_id = connection
        .session
        .create_subscription(config.publishing_interval, 30, 10, 0, 0, true, callback)
        .await
        .map_err(|e| service_error("CreateSubscription", e))?;

    let filter = match config.deadband {
        None => ExtensionObject::null(),
        Some(d) => {
            let (kind, value) = match d {
                Deadband::Absolute(v) => (DeadbandType::Absolute, v),
                Deadband::Percent(v) => (DeadbandType::Percent, v),
            };
            ExtensionObject::from_message(DataChangeFilter {
                trigger: DataChangeTrigger::StatusValue,
                deadband_type: kind as u32,
                deadband_value: value,
            })
        }
    };
    let mut requests: Vec<(usize, MonitoredItemCreateRequest)> = Vec::new();
    for (index, node) in nodes.iter().enumerate() {
        let Some(id) = &node.id else {
            refused.push(Observation::status_only(node.name.clone(), StatusCode::BadNodeIdUnknown, Some(now)));
            continue;
        };
        let handle = u32::try_from(index + 1).map_err(|_| OpcUaError::Config("too many nodes".into()))?;
        requests.push((
            index,
            MonitoredItemCreateRequest {
                item_to_monitor: ReadValueId::from(id.clone()),
                monitoring_mode: MonitoringMode::Reporting,
                requested_parameters: MonitoringParameters {
                    client_handle: handle,
                    sampling_interval: millis(config.sampling_interval),
                    filter: filter.clone(),
                    queue_size: config.queue_size,
                    discard_oldest: true,
                },
            },
        ));
    }
    for chunk in requests.chunks(ITEMS_PER_CALL) {
        let created = connection
            .session
            .create_monitored_items(subscription_id, config.timestamps.to_library(), chunk.iter().map(|(_, r)| r.clone()).collect())
            .await
            .map_err(|e| service_error("CreateMonitoredItems", e))?;
        for ((index, _), result) in chunk.iter().zip(created.iter()) {
            let status = result.result.status_code;
            if status.is_bad() {
                tracing::warn!(endpoint = %connection.endpoint, node = %names[*index], "cannot monitor node: {}", status_name(status));
                refused.push(Observation::status_only(names[*index].clone(), status, Some(now)));
            }
        }
    }
    Ok(Subscription { notifications: rx, refused })
}
