//! Polling one endpoint: the split reader of the Modbus source.
//!
//! Every `poll_interval` each device of the endpoint is read with the planned requests and
//! yields one row. A request that times out or loses the connection is retried `retries`
//! times (reconnecting each time); a poll that still fails yields a row whose `quality` says
//! why and whose fields are NULL — never the last good value — plus an error record, and the
//! device is tried again after a backoff that doubles from two poll intervals up to
//! `max_backoff`. An exception answer (the device is there but refuses the request) is not
//! retried and needs no backoff. Quality changes are logged once, not at every poll.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use illunare_connector::{ConnectorError, ErrorRecord, Position, SourceChunk, SplitReader};
use illunare_types::rows_to_batch;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::columns::Columns;
use crate::decode::{Value, decode_words};
use crate::device::{Connection, DeviceAddr, Failure, Response};
use crate::plan::ReadRequest;

/// How often and how patiently devices are polled.
#[derive(Clone, Debug)]
pub struct PollSettings {
    pub poll_interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub max_backoff: Duration,
    /// Polls before the split ends (`polls` option); `None` polls forever.
    pub polls: Option<u64>,
}

struct DeviceState {
    addr: DeviceAddr,
    next_attempt: Option<Instant>,
    backoff: Duration,
    last_quality: String,
}

pub struct EndpointPoller {
    connection: Connection,
    devices: Vec<DeviceState>,
    columns: Arc<Columns>,
    requests: Arc<Vec<ReadRequest>>,
    settings: PollSettings,
    ticker: Option<Interval>,
    polls_done: u64,
}

impl EndpointPoller {
    pub fn new(endpoint: &str, devices: Vec<DeviceAddr>, columns: Arc<Columns>, requests: Arc<Vec<ReadRequest>>, settings: PollSettings, polls_done: u64) -> Self {
        let devices = devices
            .into_iter()
            .map(|addr| DeviceState { addr, next_attempt: None, backoff: settings.poll_interval * 2, last_quality: "good".into() })
            .collect();
        EndpointPoller { connection: Connection::new(endpoint, settings.timeout), devices, columns, requests, settings, ticker: None, polls_done }
    }

    /// Reads every request of one device; the values by polled field, or why not.
    async fn poll_device(&mut self, unit: u8) -> Result<Vec<Option<Value>>, (Failure, String)> {
        let mut values: Vec<Option<Value>> = vec![None; self.columns.fields.len()];
        for request in self.requests.iter() {
            let mut attempt = 0;
            let response = loop {
                match self.connection.read(unit, request.kind, request.start, request.count).await {
                    Ok(r) => break r,
                    Err(f) if f.is_transport() && attempt < self.settings.retries => attempt += 1,
                    Err(f) => {
                        let tries = if f.is_transport() { format!(" after {} attempts", attempt + 1) } else { String::new() };
                        let what = format!("{}: {}{tries}", request.describe(), f.describe(self.settings.timeout));
                        return Err((f, what));
                    }
                }
            };
            for &(field_index, offset) in &request.fields {
                let field = &self.columns.fields[field_index];
                let (from, to) = (usize::from(offset), usize::from(offset) + usize::from(field.count));
                values[field_index] = Some(match &response {
                    Response::Words(words) => decode_words(field, &words[from..to]),
                    Response::Bits(bits) => Value::Bool(bits[from]),
                });
            }
        }
        Ok(values)
    }
}

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

#[async_trait::async_trait]
impl SplitReader for EndpointPoller {
    async fn next(&mut self) -> Result<Option<SourceChunk>, ConnectorError> {
        loop {
            if self.settings.polls.is_some_and(|n| self.polls_done >= n) {
                return Ok(None);
            }
            let period = self.settings.poll_interval;
            let ticker = self.ticker.get_or_insert_with(|| {
                let mut t = tokio::time::interval(period);
                t.set_missed_tick_behavior(MissedTickBehavior::Skip);
                t
            });
            ticker.tick().await;
            self.polls_done += 1;
            let mut rows = Vec::new();
            let mut errors = Vec::new();
            for i in 0..self.devices.len() {
                let now = Instant::now();
                if self.devices[i].next_attempt.is_some_and(|t| now < t) {
                    continue;
                }
                let poll_time = now_us();
                let unit = self.devices[i].addr.unit;
                let outcome = self.poll_device(unit).await;
                let device = &mut self.devices[i];
                let (quality, values) = match outcome {
                    Ok(values) => {
                        if device.last_quality != "good" {
                            tracing::info!(device = %device.addr.written, "modbus device answers again (was {})", device.last_quality);
                        }
                        device.next_attempt = None;
                        device.backoff = self.settings.poll_interval * 2;
                        ("good".to_string(), values)
                    }
                    Err((failure, what)) => {
                        let quality = failure.quality();
                        if failure.is_transport() {
                            device.next_attempt = Some(Instant::now() + device.backoff);
                            device.backoff = (device.backoff * 2).min(self.settings.max_backoff);
                        }
                        if device.last_quality != quality {
                            tracing::warn!(device = %device.addr.written, "modbus poll failed ({quality}): {what}");
                        }
                        errors.push(ErrorRecord::new(
                            format!("modbus poll failed ({quality}): {what}"),
                            None,
                            Some(device.addr.written.clone()),
                        ));
                        (quality, vec![None; self.columns.fields.len()])
                    }
                };
                let device = &mut self.devices[i];
                let (row, problems) = self.columns.row(&device.addr.written, &quality, poll_time, &values);
                for p in problems {
                    errors.push(ErrorRecord::new(p, None, Some(device.addr.written.clone())));
                }
                device.last_quality = quality;
                rows.push(row);
            }
            if rows.is_empty() && errors.is_empty() {
                continue;
            }
            let batch = rows_to_batch(&self.columns.schema, rows.iter())?;
            return Ok(Some(SourceChunk::new(batch, errors, Position(self.polls_done.to_string()))));
        }
    }
}
