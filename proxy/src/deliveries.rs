//! Each update once: the ids of updates recently forwarded, with the answer each got.
//!
//! The companion gives every update an id (`?updateId=`, see
//! [`reekolect_lead::update_id`]) and keeps it across retries and pages. An update sent with
//! `keepalive` while its page closes is delivered, but the page never reads the answer, so
//! the next page sends it again: the Reekolect API appends notes, and the note would be
//! there twice. The proxy forwards an id once: a repeat within [`WINDOW`] gets the first
//! delivery's answer without a call upstream; a repeat that comes while the first is still
//! on its way waits for it and gets its answer. Only a delivery (a 2xx answer) is
//! remembered: after a failure (5xx, no answer, time-out) the retry goes upstream.
//!
//! Memory is bounded: at most [`CAPACITY`] ids are remembered (the oldest forgotten first),
//! each for at most [`WINDOW`]; an answer is kept whole up to [`MAX_KEPT_ANSWER`] bytes.
//! The ids are spread over [`SHARDS`] maps, each behind its own lock held for a look-up or an
//! insert only, so the worker threads do not queue on one lock; a repeat is caught on any
//! thread or connection, since every thread looks in the same shard for the same id.

use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long a delivered id is remembered: well past the companion's 15 s lease on an
/// update sent as its page closed, and its first retries.
pub const WINDOW: Duration = Duration::from_secs(10 * 60);

/// Most ids remembered at once, over all shards (16,384: an average of 27 updates a second
/// for the whole [`WINDOW`]; beyond that the oldest are forgotten sooner, while the repeat
/// this exists for, a closed page's update sent again by the next page, comes within
/// seconds).
pub const CAPACITY: usize = 16 * 1024;

/// Number of shards, each with its own lock.
pub const SHARDS: usize = 64;

/// Longest answer kept as it came, in bytes; a longer one is replayed as a short success
/// naming its status. With [`CAPACITY`], this bounds the memory to about 8 MiB (some 200 bytes
/// of map, queue and answer per id besides the answer's text); with the Reekolect API's usual
/// answers of some 50 bytes, about 4 MiB, less when answers repeat (the same bytes are
/// kept once per shard in a row).
pub const MAX_KEPT_ANSWER: usize = 256;

/// An update as the proxy tells them apart: its visitor's UUID and its id (128 bits each).
pub(crate) type UpdateKey = (u128, u128);

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Deliveries {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
}

/// One shard: the ids it holds, and the delivered ones in the order they were delivered.
#[derive(Debug, Default)]
struct Shard {
    slots: HashMap<UpdateKey, Slot>,
    delivered: VecDeque<(Instant, UpdateKey)>,
    /// The answer kept last: an API answers most updates with the same bytes, which the
    /// ids then share rather than each keeping a copy.
    last_kept: Bytes,
}

/// Where an update stands.
#[derive(Debug)]
enum Slot {
    /// On its way upstream; the sender, made when a repeat first waits for it (most
    /// updates have none, and cost no channel), tells the waiting repeats its answer.
    InFlight(Option<watch::Sender<Option<Answer>>>),
    /// Delivered at that time, with this answer.
    Delivered(Instant, Answer),
}

/// An answer, kept to be given again.
#[derive(Debug, Clone)]
struct Answer {
    status: StatusCode,
    body: Bytes,
    retry_after: Option<HeaderValue>,
}

impl Answer {
    fn response(&self) -> Response {
        let mut response = Response::new(Body::from(self.body.clone()));
        *response.status_mut() = self.status;
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(value) = &self.retry_after {
            response.headers_mut().insert(RETRY_AFTER, value.clone());
        }
        response
    }
}

/// What a request finds for its id.
enum Claim {
    /// Delivered before: this is the answer.
    Delivered(Answer),
    /// Another request is forwarding it: wait for its answer.
    Wait(watch::Receiver<Option<Answer>>),
    /// This request forwards it, and tells the waiting ones the answer.
    Forward,
}

impl Default for Deliveries {
    fn default() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::default()).collect(), hasher: RandomState::new() }
    }
}

impl Deliveries {
    /// Forwards the update `key` with `forward`, unless it was delivered within the window
    /// (its answer again) or is being forwarded now (that delivery's answer, once it came).
    pub(crate) async fn once(&self, key: UpdateKey, forward: impl Future<Output = Response>) -> Response {
        let mut forward = Some(forward);
        loop {
            match self.claim(key) {
                Claim::Delivered(answer) => return answer.response(),
                Claim::Wait(mut first) => {
                    // `Err`: the first request went away without an answer (its client
                    // closed the connection); the next look finds the id free, or taken
                    // by another repeat.
                    if first.changed().await.is_ok() {
                        if let Some(answer) = first.borrow().clone() {
                            return answer.response();
                        }
                    }
                }
                Claim::Forward => {
                    let pending = Pending { deliveries: self, key, finished: false };
                    let forward = forward.take().expect("an update is forwarded once per request");
                    return pending.finish(forward.await).await;
                }
            }
        }
    }

    fn shard(&self, key: &UpdateKey) -> &Mutex<Shard> {
        &self.shards[self.hasher.hash_one(key) as usize % SHARDS]
    }

    fn claim(&self, key: UpdateKey) -> Claim {
        let mut shard = self.shard(&key).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        shard.forget_older_than(now.checked_sub(WINDOW));
        match shard.slots.get_mut(&key) {
            Some(Slot::Delivered(_, answer)) => Claim::Delivered(answer.clone()),
            Some(Slot::InFlight(sender)) => {
                Claim::Wait(sender.get_or_insert_with(|| watch::channel(None).0).subscribe())
            }
            None => {
                shard.slots.insert(key, Slot::InFlight(None));
                Claim::Forward
            }
        }
    }
}

impl Shard {
    /// Forgets the ids delivered before `cutoff`, and the oldest beyond the shard's share
    /// of [`CAPACITY`].
    fn forget_older_than(&mut self, cutoff: Option<Instant>) {
        while let Some(&(at, key)) = self.delivered.front() {
            let expired = cutoff.is_some_and(|cutoff| at < cutoff);
            if !expired && self.delivered.len() <= CAPACITY / SHARDS {
                break;
            }
            self.delivered.pop_front();
            if matches!(self.slots.get(&key), Some(Slot::Delivered(when, _)) if *when == at) {
                self.slots.remove(&key);
            }
        }
    }
}

/// An update this request is forwarding. Dropped without [`Pending::finish`] (the request
/// went away), it frees the id: the update was perhaps not delivered, so a repeat goes on.
struct Pending<'a> {
    deliveries: &'a Deliveries,
    key: UpdateKey,
    finished: bool,
}

impl Pending<'_> {
    /// Remembers the answer when it is a delivery, tells the waiting requests, and gives
    /// the answer back as a response.
    async fn finish(mut self, response: Response) -> Response {
        let (parts, body) = response.into_parts();
        // The proxy's answers are whole in memory already (relayed or made by the proxy).
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
        let answer =
            Answer { status: parts.status, body: body.clone(), retry_after: parts.headers.get(RETRY_AFTER).cloned() };
        let before = {
            let mut shard = self.deliveries.shard(&self.key).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if answer.status.is_success() {
                // A copy: the answer's bytes may be a slice of a larger buffer (the upstream
                // connection's), which a kept slice would keep alive whole.
                let kept = if answer.body.len() <= MAX_KEPT_ANSWER {
                    if shard.last_kept != answer.body {
                        shard.last_kept = Bytes::copy_from_slice(&answer.body);
                    }
                    Answer { body: shard.last_kept.clone(), ..answer.clone() }
                } else {
                    short_success(answer.status)
                };
                let now = Instant::now();
                let before = shard.slots.insert(self.key, Slot::Delivered(now, kept));
                shard.delivered.push_back((now, self.key));
                shard.forget_older_than(now.checked_sub(WINDOW));
                before
            } else {
                shard.slots.remove(&self.key)
            }
        };
        self.finished = true;
        if let Some(Slot::InFlight(Some(waiting))) = before {
            waiting.send_replace(Some(answer));
        }
        axum::response::Response::from_parts(parts, Body::from(body))
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let mut shard = self.deliveries.shard(&self.key).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if matches!(shard.slots.get(&self.key), Some(Slot::InFlight(_))) {
                shard.slots.remove(&self.key);
            }
        }
    }
}

/// The answer kept for a delivery whose own answer was longer than [`MAX_KEPT_ANSWER`].
fn short_success(status: StatusCode) -> Answer {
    let body = format!(
        r#"{{"success":true,"code":{},"message":"delivered before; the upstream's answer was too long to keep"}}"#,
        status.as_u16()
    );
    Answer { status, body: Bytes::from(body), retry_after: None }
}

#[cfg(test)]
mod tests {
    use super::{Deliveries, Shard, Slot, CAPACITY, SHARDS};
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    async fn forwarded(count: &AtomicUsize, status: StatusCode) -> Response {
        count.fetch_add(1, Ordering::SeqCst);
        (status, "{\"success\":true}").into_response()
    }

    #[tokio::test]
    async fn a_delivered_id_is_answered_without_forwarding() {
        let deliveries = Deliveries::default();
        let count = AtomicUsize::new(0);
        let first = deliveries.once((1, 2), forwarded(&count, StatusCode::OK)).await;
        let again = deliveries.once((1, 2), forwarded(&count, StatusCode::OK)).await;
        assert_eq!((first.status(), again.status()), (StatusCode::OK, StatusCode::OK));
        assert_eq!(count.load(Ordering::SeqCst), 1);
        // Another visitor's update with the same id is another update.
        deliveries.once((3, 2), forwarded(&count, StatusCode::OK)).await;
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failure_is_not_remembered() {
        let deliveries = Deliveries::default();
        let count = AtomicUsize::new(0);
        let failed = deliveries.once((1, 2), forwarded(&count, StatusCode::BAD_GATEWAY)).await;
        assert_eq!(failed.status(), StatusCode::BAD_GATEWAY);
        deliveries.once((1, 2), forwarded(&count, StatusCode::OK)).await;
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_request_that_goes_away_frees_its_id() {
        let deliveries = Deliveries::default();
        let count = AtomicUsize::new(0);
        let never = deliveries.once((1, 2), std::future::pending());
        assert!(tokio::time::timeout(Duration::from_millis(10), never).await.is_err());
        deliveries.once((1, 2), forwarded(&count, StatusCode::OK)).await;
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_shard_keeps_its_share_of_the_capacity_and_the_window() {
        let mut shard = Shard::default();
        let now = Instant::now();
        for id in 0..(CAPACITY / SHARDS + 10) as u128 {
            shard.slots.insert((0, id), Slot::Delivered(now, super::short_success(StatusCode::OK)));
            shard.delivered.push_back((now, (0, id)));
            shard.forget_older_than(None);
        }
        assert_eq!(shard.slots.len(), CAPACITY / SHARDS);
        assert!(!shard.slots.contains_key(&(0, 0)));
        shard.forget_older_than(Some(now + Duration::from_millis(1)));
        assert!(shard.slots.is_empty() && shard.delivered.is_empty());
    }
}
