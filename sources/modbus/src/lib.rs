//! The `modbus` source connector: PLC registers over Modbus TCP, polled straight into rows.
//!
//! ```sql
//! CREATE SOURCE press_line (device VARCHAR, temperature DOUBLE, pressure DOUBLE, running BOOLEAN,
//!                           cycles BIGINT, quality VARCHAR, ts TIMESTAMP)
//!   WITH (connector = 'modbus', devices = '127.0.0.1:5020/1, 127.0.0.1:5021/1', poll_interval = '100ms',
//!         map = 'pipelines/maps/press.toml', timeout = '1s', retries = '3');
//! ```
//!
//! Plants usually put Telegraf or Node-RED between their PLCs and a broker; this reads them
//! natively. One row per device per poll: `device` (as written), one column per declared map
//! field, `quality` (`good`, or why not: `timeout`, `disconnected`, `exception:02`,
//! `protocol_error`) and `ts`, the poll time. A failed poll gives NULL fields — never invented or
//! stale values — and an error record in `<source>_errors`; the device is retried with backoff.
//!
//! Options:
//! - `devices` (required): `host:port/unit, …` (port 502 and unit 1 when omitted);
//! - `map` (a TOML file, see `map.rs`) or `fields` (the same `[[field]]` tables inline);
//! - `poll_interval` (default `1s`), `timeout` per request (default `1s`), `retries` of a
//!   request that timed out or lost its connection (default `3`), `max_backoff` (default `10s`);
//! - `max_gap` (default `0`): registers two fields may be apart and still be read by one request;
//! - `polls`: stop after that many polls (a bounded source: tests, snapshots of a plant).
//!
//! Splits: one per `host:port`, so endpoints are polled concurrently and spread over workers,
//! while the devices behind one endpoint share its connection (`device.rs`). Reads are planned
//! once (`plan.rs`): as few requests as the protocol's limits allow.

mod columns;
mod decode;
mod device;
mod error;
mod map;
mod plan;
mod poller;
mod scan;

use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use illunare_connector::{ConnectorError, Position, Source, SourceConnector, SourceSpec, Split, SplitReader};

pub use columns::Columns;
pub use decode::{Value, decode_words};
pub use device::{Connection, DeviceAddr, Failure, Response, parse_devices};
pub use error::ModbusError;
pub use map::{Field, FieldType, RegisterKind, RegisterMap, WordOrder};
pub use plan::{ReadRequest, plan_reads};
pub use poller::{EndpointPoller, PollSettings};
pub use scan::{ScanOptions, ScanReport, UnitReport, parse_range, scan, starter_map};

pub struct ModbusConnector;

impl SourceConnector for ModbusConnector {
    fn name(&self) -> &'static str {
        "modbus"
    }

    fn create(&self, spec: &SourceSpec) -> Result<Arc<dyn Source>, ConnectorError> {
        let o = &spec.options;
        let devices = parse_devices(&o.require("devices")?).map_err(|e| ConnectorError::option("devices", e.to_string()))?;
        let map = match (o.get("map")?, o.get("fields")?) {
            (Some(path), None) => {
                let text = std::fs::read_to_string(&path).map_err(|e| ConnectorError::io(format!("register map {path}"), e))?;
                RegisterMap::from_toml(&text, &path)?
            }
            (None, Some(inline)) => RegisterMap::from_inline(&inline)?,
            (Some(_), Some(_)) => return Err(ConnectorError::option("fields", "give either 'map' (a file) or 'fields', not both")),
            (None, None) => return Err(ConnectorError::option("map", "is required (a TOML register map), or 'fields' inline")),
        };
        let columns = Columns::resolve(spec.schema.clone(), &map)?;
        let positive = |key: &str, default: Duration| -> Result<Duration, ConnectorError> {
            let d = o.duration(key)?.unwrap_or(default);
            if d.is_zero() {
                return Err(ConnectorError::option(key, "must be more than 0"));
            }
            Ok(d)
        };
        let settings = PollSettings {
            poll_interval: positive("poll_interval", Duration::from_secs(1))?,
            timeout: positive("timeout", Duration::from_secs(1))?,
            retries: o.parse::<u32>("retries")?.unwrap_or(3),
            max_backoff: positive("max_backoff", Duration::from_secs(10))?,
            polls: o.parse::<u64>("polls")?,
        };
        let max_gap = o.parse::<u16>("max_gap")?.unwrap_or(0);
        o.finish("modbus")?;
        let requests = plan_reads(&columns.fields, max_gap);
        let mut endpoints: Vec<(String, Vec<DeviceAddr>)> = Vec::new();
        for d in devices {
            match endpoints.iter_mut().find(|(e, _)| *e == d.endpoint) {
                Some((_, list)) => list.push(d),
                None => endpoints.push((d.endpoint.clone(), vec![d])),
            }
        }
        Ok(Arc::new(ModbusSource { columns: Arc::new(columns), requests: Arc::new(requests), settings, endpoints }))
    }
}

struct ModbusSource {
    columns: Arc<Columns>,
    requests: Arc<Vec<ReadRequest>>,
    settings: PollSettings,
    endpoints: Vec<(String, Vec<DeviceAddr>)>,
}

impl Source for ModbusSource {
    fn schema(&self) -> SchemaRef {
        self.columns.schema.clone()
    }

    fn bounded(&self) -> bool {
        self.settings.polls.is_some()
    }

    fn splits(&self) -> Result<Vec<Split>, ConnectorError> {
        Ok(self.endpoints.iter().map(|(e, _)| Split { id: e.clone() }).collect())
    }

    fn open(&self, split: &Split, resume: Option<&Position>) -> Result<Box<dyn SplitReader>, ConnectorError> {
        let (endpoint, devices) = self
            .endpoints
            .iter()
            .find(|(e, _)| *e == split.id)
            .ok_or_else(|| ConnectorError::Other(format!("no modbus endpoint {}", split.id)))?;
        // A reopened split (after a failure) keeps counting polls toward `polls`.
        let polls_done = resume.and_then(|p| p.0.parse::<u64>().ok()).unwrap_or(0);
        Ok(Box::new(EndpointPoller::new(endpoint, devices.clone(), self.columns.clone(), self.requests.clone(), self.settings.clone(), polls_done)))
    }
}
