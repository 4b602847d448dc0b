//! The split reader: connection state machine, reconnect with backoff, and gap reporting.
//!
//! ```text
//!   Idle ──connect+resolve+subscribe──► Live ──notifications / polls──► chunks
//!    ▲  (fails, never connected: Err)     │
//!    │  (fails after a loss: backoff      │ connection lost: one row per node with the
//!    │   100ms·2ⁿ ≤ 30s, warn, retry)     │ bad status and a NULL value, then Idle
//!    └────────────────────────────────────┘
//!   first chunk after a reconnect carries the gap ErrorRecord
//!   ("connection lost at …; reconnected at …; changes in between may be missing")
//! ```
//!
//! The first connection of a reader fails with an `Err` (the engine logs it and retries), so a
//! misconfiguration (untrusted certificate, wrong password) is visible at once. Once data has
//! flowed, reconnecting is handled here, so the loss and the gap are reported in the data and
//! no value from before the loss is ever re-emitted as current.

use std::sync::Arc;
use std::time::Duration;

use illunare_connector::{ConnectorError, ErrorRecord, Position, SourceChunk, SplitReader};
use opcua::types::StatusCode;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::OpcUaError;
use crate::client::{Connection, connect};
use crate::convert::status_name;
use crate::nodes::{ResolvedNode, resolve};
use crate::options::{Config, ReadMode};
use crate::poll::poll;
use crate::rows::{Columns, Observation};
use crate::subscribe::subscribe;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const MAX_ROWS_PER_CHUNK: usize = 8192;

/// When the connection went away (`None`: before this reader was opened).
struct Gap {
    since: Option<i64>,
    status: StatusCode,
}

struct Live {
    connection: Connection,
    nodes: Vec<ResolvedNode>,
    notifications: Option<mpsc::UnboundedReceiver<Observation>>,
    next_poll: Instant,
}

enum State {
    Idle,
    Live(Box<Live>),
}

/// What one step of the live state produced.
enum Step {
    Rows(Vec<Observation>),
    Lost(StatusCode, String),
}

pub(crate) struct Reader {
    config: Arc<Config>,
    columns: Arc<Columns>,
    state: State,
    /// Node names of the last resolution: the rows a connection loss produces.
    known_nodes: Vec<Arc<str>>,
    gap: Option<Gap>,
    backoff: Duration,
    polls_done: u64,
    last_server_ts: Option<i64>,
}

fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

fn rfc3339(nanos: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(nanos).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Reads `polls=<n>` back from a [`Position`].
fn polls_from_position(position: &Position) -> u64 {
    position.0.split(';').find_map(|part| part.strip_prefix("polls=")).and_then(|n| n.parse().ok()).unwrap_or(0)
}

impl Reader {
    pub(crate) fn new(config: Arc<Config>, columns: Arc<Columns>, resume: Option<&Position>) -> Reader {
        let (polls_done, gap) = match resume {
            // Reopened after a failure: whatever happened meanwhile was not seen.
            Some(p) => (polls_from_position(p), Some(Gap { since: None, status: StatusCode::BadConnectionClosed })),
            None => (0, None),
        };
        Reader { config, columns, state: State::Idle, known_nodes: Vec::new(), gap, backoff: FIRST_BACKOFF, polls_done, last_server_ts: None }
    }

    fn position(&self) -> Position {
        let last = self.last_server_ts.map(rfc3339).unwrap_or_default();
        Position(format!("polls={};last_server_ts={last}", self.polls_done))
    }

    fn chunk(&mut self, rows: &[Observation], mut extra: Vec<ErrorRecord>) -> Result<SourceChunk, ConnectorError> {
        let (batch, mut errors) = self.columns.batch(rows)?;
        errors.append(&mut extra);
        if let Some(max) = rows.iter().filter_map(|r| r.server_ts).max() {
            self.last_server_ts = Some(self.last_server_ts.map_or(max, |l| l.max(max)));
        }
        Ok(SourceChunk::new(batch, errors, self.position()))
    }

    /// Connect, resolve the nodes, start reading. Returns the rows and errors known at once
    /// (refused monitored items, browse paths matching nothing).
    async fn establish(&mut self) -> Result<(Live, Vec<Observation>, Vec<ErrorRecord>), OpcUaError> {
        let config = self.config.clone();
        let connection = connect(&config.endpoint, &config.security).await?;
        let resolution = resolve(&connection.session, &config.endpoint, &config.nodes).await?;
        if resolution.nodes.is_empty() {
            return Err(OpcUaError::Config(format!(
                "source '{}': nodes resolved to no node on {} ({})",
                config.name,
                config.endpoint,
                resolution.errors.iter().map(|e| e.error.as_str()).collect::<Vec<_>>().join("; ")
            )));
        }
        self.known_nodes = resolution.nodes.iter().map(|n| n.name.clone()).collect();
        let (rows, notifications) = match config.mode {
            ReadMode::Subscribe => {
                let sub = subscribe(&connection, &config, &resolution.nodes, now_nanos()).await?;
                (sub.refused, Some(sub.notifications))
            }
            ReadMode::Poll => (Vec::new(), None),
        };
        let live = Live { connection, nodes: resolution.nodes, notifications, next_poll: Instant::now() };
        Ok((live, rows, resolution.errors))
    }

    async fn step(config: &Config, live: &mut Live) -> Step {
        match (config.mode, live.notifications.as_mut()) {
            (ReadMode::Subscribe, Some(notifications)) => {
                tokio::select! {
                    biased;
                    first = notifications.recv() => match first {
                        Some(first) => {
                            let mut rows = vec![first];
                            while rows.len() < MAX_ROWS_PER_CHUNK {
                                match notifications.try_recv() {
                                    Ok(o) => rows.push(o),
                                    Err(_) => break,
                                }
                            }
                            Step::Rows(rows)
                        }
                        None => Step::Lost(StatusCode::BadConnectionClosed, "the subscription ended".into()),
                    },
                    code = live.connection.lost() => Step::Lost(code, "the connection was closed".into()),
                }
            }
            _ => {
                tokio::select! {
                    biased;
                    code = live.connection.lost() => Step::Lost(code, "the connection was closed".into()),
                    () = tokio::time::sleep_until(live.next_poll) => {
                        match poll(&live.connection, config, &live.nodes, now_nanos()).await {
                            Ok(rows) => {
                                let now = Instant::now();
                                live.next_poll += config.poll_interval;
                                if live.next_poll < now {
                                    live.next_poll = now + config.poll_interval;
                                }
                                Step::Rows(rows)
                            }
                            Err((code, e)) => {
                                let code = if code.is_bad() { code } else { StatusCode::BadConnectionClosed };
                                Step::Lost(code, e.to_string())
                            }
                        }
                    }
                }
            }
        }
    }

    fn bounded_done(&self) -> bool {
        self.config.mode == ReadMode::Poll && self.config.polls.is_some_and(|n| self.polls_done >= n)
    }
}

#[async_trait::async_trait]
impl SplitReader for Reader {
    async fn next(&mut self) -> Result<Option<SourceChunk>, ConnectorError> {
        loop {
            if self.bounded_done() {
                if let State::Live(live) = std::mem::replace(&mut self.state, State::Idle) {
                    live.connection.close().await;
                }
                return Ok(None);
            }
            match &mut self.state {
                State::Idle => {
                    if self.gap.is_some() {
                        tokio::time::sleep(self.backoff).await;
                    }
                    match self.establish().await {
                        Ok((live, rows, mut errors)) => {
                            self.state = State::Live(Box::new(live));
                            self.backoff = FIRST_BACKOFF;
                            if let Some(gap) = self.gap.take() {
                                let now = rfc3339(now_nanos());
                                let message = match gap.since {
                                    Some(t) => format!(
                                        "connection to {} lost at {} ({}); reconnected at {now}; changes in between may be missing",
                                        self.config.endpoint,
                                        rfc3339(t),
                                        status_name(gap.status)
                                    ),
                                    None => format!(
                                        "reader of {} restarted after a failure; reconnected at {now}; changes before that may be missing",
                                        self.config.endpoint
                                    ),
                                };
                                tracing::warn!(source = %self.config.name, "{message}");
                                errors.push(ErrorRecord::new(message, None, Some(self.config.endpoint.clone())));
                            }
                            if !rows.is_empty() || !errors.is_empty() {
                                return self.chunk(&rows, errors).map(Some);
                            }
                        }
                        Err(e) => {
                            if self.gap.is_none() {
                                return Err(e.into());
                            }
                            tracing::warn!(source = %self.config.name, "reconnecting to {} failed: {e}; next attempt in {:?}", self.config.endpoint, self.backoff);
                            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                        }
                    }
                }
                State::Live(live) => match Self::step(&self.config, live).await {
                    Step::Rows(rows) => {
                        if self.config.mode == ReadMode::Poll {
                            self.polls_done += 1;
                        }
                        return self.chunk(&rows, Vec::new()).map(Some);
                    }
                    Step::Lost(code, why) => {
                        let now = now_nanos();
                        tracing::warn!(
                            source = %self.config.name,
                            "connection to {} lost ({}): {why}; reconnecting",
                            self.config.endpoint,
                            status_name(code)
                        );
                        self.state = State::Idle;
                        if self.gap.is_none() {
                            self.gap = Some(Gap { since: Some(now), status: code });
                        }
                        self.backoff = FIRST_BACKOFF;
                        let rows: Vec<Observation> =
                            self.known_nodes.iter().map(|n| Observation::status_only(n.clone(), code, Some(now))).collect();
                        return self.chunk(&rows, Vec::new()).map(Some);
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_the_poll_count() {
        assert_eq!(polls_from_position(&Position("polls=7;last_server_ts=2024-01-01T00:00:00.000Z".into())), 7);
        assert_eq!(polls_from_position(&Position("garbage".into())), 0);
    }
}
