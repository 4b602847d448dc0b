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
//! snapshot. The stream ends after the commit that completes the view.
//!
//! Fan-out is what this file is built for: a thousand clients on one view. Each batch becomes
//! one SSE frame, rendered once into a reference-counted buffer that every subscriber sends
//! (nothing is copied per client), and so is a snapshot at a given position. A client too
//! slow for the broadcast's capacity skips forward through the change log from the last event
//! it was sent — frames it shares with the others — and only falls back to a fresh snapshot
//! when the log no longer reaches back that far.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use futures::StreamExt;
use illunare_dataflow::{ChangeBatch, Resume, SnapshotState};
use serde_json::{Value, json};
use tokio::sync::broadcast::{Receiver, error::RecvError};

use crate::AppState;
use crate::error::ApiError;
use crate::values::{frontier_json, row_json};
use crate::views::{ServedView, served_view};

/// A comment line sent when nothing happened for a while, so proxies keep the stream open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Rendered frames kept per view, by total size (a subscriber this far behind the newest
/// frame gets the older ones rendered again).
const RENDERED_BYTES: usize = 64 << 20;

/// One SSE frame. `data` is JSON, which never holds a raw newline.
fn frame(kind: &str, id: u64, data: &str) -> Bytes {
    Bytes::from(format!("event: {kind}\nid: {id}\ndata: {data}\n\n"))
}

fn render_snapshot(state: &SnapshotState, view: &ServedView) -> Bytes {
    let rows: Vec<Value> = state.rows().iter().map(|r| row_json(r, &view.schema)).collect();
    frame("snapshot", state.seq, &json!({"frontier": frontier_json(state.frontier), "rows": rows}).to_string())
}

fn render_batch(batch: &ChangeBatch, view: &ServedView) -> Bytes {
    if batch.updates.is_empty() {
        return frame("progress", batch.seq, &json!({"frontier": frontier_json(batch.frontier)}).to_string());
    }
    let changes: Vec<Value> = batch.updates.iter().map(|(row, time, diff)| json!({"row": row_json(row, &view.schema), "diff": diff, "time": time})).collect();
    frame("change", batch.seq, &json!({"frontier": frontier_json(batch.frontier), "changes": changes}).to_string())
}

/// A view's frames, shared by its subscribers: with a thousand clients on one view, a batch
/// is turned into JSON once, not a thousand times.
#[derive(Default)]
pub(crate) struct RenderCache {
    rendered: Mutex<Rendered>,
}

#[derive(Default)]
struct Rendered {
    batches: BTreeMap<u64, Bytes>,
    bytes: usize,
    /// The latest snapshot frame, by the log position it was taken at.
    snapshot: Option<(u64, Bytes)>,
}

impl RenderCache {
    fn batch(&self, batch: &ChangeBatch, view: &ServedView) -> Bytes {
        if let Ok(rendered) = self.rendered.lock()
            && let Some(frame) = rendered.batches.get(&batch.seq)
        {
            return frame.clone();
        }
        // Rendered outside the lock; two subscribers may rarely both render the same batch.
        let frame = render_batch(batch, view);
        if let Ok(mut rendered) = self.rendered.lock()
            && !rendered.batches.contains_key(&batch.seq)
        {
            rendered.bytes += frame.len();
            rendered.batches.insert(batch.seq, frame.clone());
            while rendered.bytes > RENDERED_BYTES {
                let Some((_, oldest)) = rendered.batches.pop_first() else { break };
                rendered.bytes -= oldest.len();
            }
        }
        frame
    }

    /// The snapshot frame of `state` (called under its lock, so `seq` names these rows).
    fn snapshot(&self, state: &SnapshotState, view: &ServedView) -> Bytes {
        if let Ok(rendered) = self.rendered.lock()
            && let Some((seq, frame)) = &rendered.snapshot
            && *seq == state.seq
        {
            return frame.clone();
        }
        let frame = render_snapshot(state, view);
        if let Ok(mut rendered) = self.rendered.lock() {
            rendered.snapshot = Some((state.seq, frame.clone()));
        }
        frame
    }
}

/// The frames that start (or restart) a stream and the subscription that continues it, taken
/// under one lock; the position of the last frame; whether the view was already complete.
struct Start {
    frames: VecDeque<Bytes>,
    receiver: Receiver<Arc<ChangeBatch>>,
    last: u64,
    closed: bool,
}

fn start(view: &ServedView, cache: &RenderCache, resume_after: Option<u64>) -> Result<Start, ApiError> {
    let state = view.handle.lock().map_err(|_| ApiError::internal("snapshot lock poisoned"))?;
    let receiver = state.subscribe();
    let (frames, last) = match resume_after.map(|after| (after, state.resume_after(after))) {
        Some((after, Resume::Batches(batches))) => (batches.iter().map(|b| cache.batch(b, view)).collect(), batches.last().map_or(after, |b| b.seq)),
        Some((_, Resume::Snapshot)) | None => (VecDeque::from([cache.snapshot(&state, view)]), state.seq),
    };
    Ok(Start { frames, receiver, last, closed: state.closed })
}

/// One client's stream.
struct Subscription {
    view: ServedView,
    cache: Arc<RenderCache>,
    receiver: Receiver<Arc<ChangeBatch>>,
    /// Frames to send before waiting on the subscription again.
    pending: VecDeque<Bytes>,
    /// Position of the last frame queued: where to skip forward from after falling behind.
    last: u64,
    /// End once `pending` is sent (the view is complete).
    finished: bool,
    /// When to send a keep-alive comment if nothing else was sent. One timer per stream,
    /// re-armed only when it fires: arming a timer per received batch would cost a timer-wheel
    /// entry per event per client.
    keep_alive: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Subscription {
    fn new(view: ServedView, cache: Arc<RenderCache>, started: Start) -> Subscription {
        let keep_alive = Box::pin(tokio::time::sleep(KEEP_ALIVE));
        Subscription { view, cache, receiver: started.receiver, pending: started.frames, last: started.last, finished: started.closed, keep_alive }
    }

    /// The next frame; `None` when the stream is over.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                return Some(frame);
            }
            if self.finished {
                return None;
            }
            let received = tokio::select! {
                biased;
                received = self.receiver.recv() => received,
                () = self.keep_alive.as_mut() => {
                    self.keep_alive.as_mut().reset(tokio::time::Instant::now() + KEEP_ALIVE);
                    return Some(Bytes::from_static(b":\n\n"));
                }
            };
            match received {
                Ok(batch) => {
                    // A resumed log and the live broadcast may overlap by a batch.
                    if batch.seq <= self.last {
                        continue;
                    }
                    self.last = batch.seq;
                    self.finished = batch.frontier.is_none();
                    return Some(self.cache.batch(&batch, &self.view));
                }
                // Fell behind the broadcast: continue from the log after the last frame sent.
                Err(RecvError::Lagged(_)) => {
                    let started = start(&self.view, &self.cache, Some(self.last)).ok()?;
                    self.receiver = started.receiver;
                    self.pending = started.frames;
                    self.last = started.last;
                    self.finished = started.closed;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

pub async fn subscribe(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let view = served_view(&state, &name)?;
    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_string).or_else(|| params.get("last_event_id").cloned());
    let resume_after = match last {
        None => None,
        Some(text) => Some(text.trim().parse::<u64>().map_err(|_| ApiError::bad_request("bad_event_id", format!("Last-Event-ID {text:?} is not an event id of this stream")))?),
    };
    let cache = state.render_cache(&name, &view.handle);
    let started = start(&view, &cache, resume_after)?;
    let subscription = Subscription::new(view, cache, started);
    let frames = futures::stream::unfold(subscription, |mut s| async move { s.next().await.map(|frame| (frame, s)) }).map(Ok::<_, Infallible>);
    let mut response = Response::new(Body::from_stream(frames));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Reverse proxies (nginx) would otherwise buffer the stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}
