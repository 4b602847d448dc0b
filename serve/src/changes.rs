//! `GET /api/v1/views/{name}/changes`: a view's change stream as Server-Sent Events.
//!
//! Events (each `id:` is the position in the view's change log):
//! - `snapshot` — `{"frontier", "rows"}`: the whole view; a client replaces what it holds.
//! - `change` — `{"frontier", "changes": [{"row", "diff", "time"}]}`: rows added (diff > 0) or
//!   removed (diff < 0) by one commit, in time order.
//! - `progress` — `{"frontier"}`: the frontier moved without changes.
//!
//! The snapshot and the subscription are taken under the snapshot's lock, so the first change
//! follows the snapshot exactly. A client that reconnects with `Last-Event-ID` (or
//! `?last_event_id=`) gets the commits after it when the log still holds them, else a fresh
//! snapshot. A client too slow for the broadcast's capacity gets a fresh snapshot too, instead
//! of holding memory for everyone. The stream ends after the commit that completes the view.

use std::convert::Infallible;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use illunare_dataflow::{ChangeBatch, Resume, SnapshotState};
use serde_json::{Value, json};
use tokio::sync::broadcast::{Receiver, error::RecvError};

use crate::AppState;
use crate::error::ApiError;
use crate::values::{frontier_json, row_json};
use crate::views::{ServedView, served_view};

fn snapshot_event(state: &SnapshotState, view: &ServedView) -> Event {
    let rows: Vec<Value> = state.rows().iter().map(|r| row_json(r, &view.schema)).collect();
    Event::default().event("snapshot").id(state.seq.to_string()).data(json!({"frontier": frontier_json(state.frontier), "rows": rows}).to_string())
}

fn batch_event(batch: &ChangeBatch, view: &ServedView, cache: &RenderCache) -> Event {
    let id = batch.seq.to_string();
    let kind = if batch.updates.is_empty() { "progress" } else { "change" };
    let data = cache.get_or_render(batch.seq, || {
        if batch.updates.is_empty() {
            return json!({"frontier": frontier_json(batch.frontier)}).to_string();
        }
        let changes: Vec<Value> = batch.updates.iter().map(|(row, time, diff)| json!({"row": row_json(row, &view.schema), "diff": diff, "time": time})).collect();
        json!({"frontier": frontier_json(batch.frontier), "changes": changes}).to_string()
    });
    Event::default().event(kind).id(id).data(&*data)
}

/// Rendered `data` of a view's recent batches, shared by its subscribers: with a thousand
/// clients on one view, a batch is turned into JSON once, not a thousand times.
#[derive(Default)]
pub(crate) struct RenderCache {
    recent: Mutex<VecDeque<(u64, Arc<str>)>>,
}

/// Batches kept rendered (subscribers are at most this far apart before rendering again).
const RENDERED: usize = 256;

impl RenderCache {
    fn get_or_render(&self, seq: u64, render: impl FnOnce() -> String) -> Arc<str> {
        if let Ok(recent) = self.recent.lock()
            && let Some((_, data)) = recent.iter().rev().find(|(s, _)| *s == seq)
        {
            return data.clone();
        }
        // Rendered outside the lock; two subscribers may rarely both render the same batch.
        let data: Arc<str> = render().into();
        if let Ok(mut recent) = self.recent.lock() {
            if recent.iter().all(|(s, _)| *s != seq) {
                recent.push_back((seq, data.clone()));
            }
            while recent.len() > RENDERED {
                recent.pop_front();
            }
        }
        data
    }
}

/// The events that start a stream and the subscription that continues it, taken together.
fn start(view: &ServedView, cache: &RenderCache, resume_after: Option<u64>) -> Result<(Vec<Event>, Receiver<Arc<ChangeBatch>>, bool), ApiError> {
    let state = view.handle.lock().map_err(|_| ApiError::internal("snapshot lock poisoned"))?;
    let receiver = state.subscribe();
    let events = match resume_after.map(|after| state.resume_after(after)) {
        Some(Resume::Batches(batches)) => batches.iter().map(|b| batch_event(b, view, cache)).collect(),
        Some(Resume::Snapshot) | None => vec![snapshot_event(&state, view)],
    };
    Ok((events, receiver, state.closed))
}

enum Phase {
    Pending(std::vec::IntoIter<Event>),
    Live,
    Done,
}

struct Stream_ {
    view: ServedView,
    cache: Arc<RenderCache>,
    receiver: Receiver<Arc<ChangeBatch>>,
    phase: Phase,
    /// The view was complete when the last snapshot was taken: end after sending it.
    closed: bool,
}

pub async fn subscribe(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let view = served_view(&state, &name)?;
    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_string).or_else(|| params.get("last_event_id").cloned());
    let resume_after = match last {
        None => None,
        Some(text) => Some(text.trim().parse::<u64>().map_err(|_| ApiError::bad_request("bad_event_id", format!("Last-Event-ID {text:?} is not an event id of this stream")))?),
    };
    let cache = state.render_cache(&name, &view.handle);
    let (events, receiver, closed) = start(&view, &cache, resume_after)?;
    let stream = Stream_ { view, cache, receiver, phase: Phase::Pending(events.into_iter()), closed };
    let events = futures::stream::unfold(stream, |mut s| async move {
        loop {
            match &mut s.phase {
                Phase::Done => return None,
                Phase::Pending(events) => match events.next() {
                    Some(event) => return Some((Ok(event), s)),
                    None => s.phase = if s.closed { Phase::Done } else { Phase::Live },
                },
                Phase::Live => match s.receiver.recv().await {
                    Ok(batch) => {
                        if batch.frontier.is_none() {
                            s.phase = Phase::Done;
                        }
                        return Some((Ok(batch_event(&batch, &s.view, &s.cache)), s));
                    }
                    // Fell behind: start again from a snapshot.
                    Err(RecvError::Lagged(_)) => match start(&s.view, &s.cache, None) {
                        Ok((events, receiver, closed)) => {
                            s.receiver = receiver;
                            s.closed = closed;
                            s.phase = Phase::Pending(events.into_iter());
                        }
                        Err(_) => return None,
                    },
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
