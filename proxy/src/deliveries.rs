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
use foldhash::fast::RandomState;
use hashbrown::HashTable;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
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

/// Ids a shard remembers at most: its share of [`CAPACITY`].
const SHARE: usize = CAPACITY / SHARDS;

/// Longest answer kept as it came, in bytes; a longer one is replayed as a short success
/// naming its status. The shards' tables are made whole at start and never grow: 48 bytes
/// per id (its key, time and answer's address) and some 16 bytes of index, about 1.1 MiB
/// for [`CAPACITY`]. An answer is kept once for the ids in a row that got the same bytes
/// (an API answers most updates alike); at worst, every id with answers of its own, each
/// up to this size, some 6 MiB more.
pub const MAX_KEPT_ANSWER: usize = 256;

/// An update as the proxy tells them apart: its visitor's UUID and its id (128 bits each).
pub(crate) type UpdateKey = (u128, u128);

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Deliveries {
    shards: Box<[Mutex<Shard>]>,
    /// Keyed with a random seed: the ids are the clients' choice. An id's hash picks its
    /// shard and places it in the shard's tables.
    hasher: RandomState,
    /// The times of deliveries are counted from here, in nanoseconds.
    start: Instant,
}

/// One shard: the ids it remembers, in the order they were delivered, and those on their
/// way upstream. Its tables are made at their full size and never grow.
#[derive(Debug)]
struct Shard {
    /// The delivered ids in a ring: once full, each delivery takes the place of the oldest.
    delivered: Vec<Delivered>,
    /// Where the next delivery goes once `delivered` is full: the oldest.
    oldest: usize,
    /// Each remembered id's place in `delivered` (an id forgotten for its age while in the
    /// ring has none).
    index: HashTable<u16>,
    /// The ids on their way upstream.
    in_flight: HashTable<InFlight>,
    /// The answer kept last: an API answers most updates with the same bytes, which the
    /// ids then share rather than each keeping a copy.
    last_kept: Option<Arc<Answer>>,
}

/// An id delivered at `at` (nanoseconds from [`Deliveries::start`]), with this answer.
#[derive(Debug)]
struct Delivered {
    key: UpdateKey,
    at: u64,
    answer: Arc<Answer>,
}

/// An id on its way upstream; the sender, made when a repeat first waits for it (most
/// updates have none, and cost no channel), tells the waiting repeats its answer.
#[derive(Debug)]
struct InFlight {
    key: UpdateKey,
    waiting: Option<watch::Sender<Option<Arc<Answer>>>>,
}

/// An answer, kept to be given again.
#[derive(Debug, PartialEq)]
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
    Delivered(Arc<Answer>),
    /// Another request is forwarding it: wait for its answer.
    Wait(watch::Receiver<Option<Arc<Answer>>>),
    /// This request forwards it, and tells the waiting ones the answer.
    Forward,
}

impl Default for Deliveries {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::new())).collect(),
            hasher: RandomState::default(),
            start: Instant::now(),
        }
    }
}

impl Deliveries {
    /// Forwards the update `key` with `forward`, unless it was delivered within the window
    /// (its answer again) or is being forwarded now (that delivery's answer, once it came).
    pub(crate) async fn once(&self, key: UpdateKey, forward: impl Future<Output = Response>) -> Response {
        let hash = self.hasher.hash_one(key);
        let mut forward = Some(forward);
        loop {
            match self.claim(key, hash) {
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
                    let pending = Pending { deliveries: self, key, hash, finished: false };
                    let forward = forward.take().expect("an update is forwarded once per request");
                    return pending.finish(forward.await).await;
                }
            }
        }
    }

    /// The shard of the id with this hash, locked. Its bits 32 and up pick it: the tables
    /// use the lowest and the highest bits.
    fn shard(&self, hash: u64) -> std::sync::MutexGuard<'_, Shard> {
        let shard = &self.shards[(hash >> 32) as usize % SHARDS];
        shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Nanoseconds since [`Deliveries::start`].
    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn claim(&self, key: UpdateKey, hash: u64) -> Claim {
        let mut shard = self.shard(hash);
        if let Some(answer) = shard.delivered(key, hash, || self.now()) {
            return Claim::Delivered(answer);
        }
        match shard.in_flight.find_mut(hash, |slot| slot.key == key) {
            Some(slot) => Claim::Wait(slot.waiting.get_or_insert_with(|| watch::channel(None).0).subscribe()),
            None => {
                shard
                    .in_flight
                    .insert_unique(hash, InFlight { key, waiting: None }, |slot| self.hasher.hash_one(slot.key));
                Claim::Forward
            }
        }
    }
}

impl Shard {
    fn new() -> Self {
        Self {
            delivered: Vec::with_capacity(SHARE),
            oldest: 0,
            // Twice the share: with at most half its room taken, the table makes room in
            // place rather than growing when its erased places run out.
            index: HashTable::with_capacity(2 * SHARE),
            in_flight: HashTable::with_capacity(16),
            last_kept: None,
        }
    }

    /// The answer `key` got, if it was delivered within [`WINDOW`] before `now()`
    /// (nanoseconds, asked only when the id is found); an id older than that is forgotten.
    fn delivered(&mut self, key: UpdateKey, hash: u64, now: impl FnOnce() -> u64) -> Option<Arc<Answer>> {
        let delivered = &self.delivered;
        let found = self.index.find_entry(hash, |&at| delivered[usize::from(at)].key == key).ok()?;
        let slot = &delivered[usize::from(*found.get())];
        if now().saturating_sub(slot.at) <= WINDOW.as_nanos() as u64 {
            return Some(slot.answer.clone());
        }
        // Its place in the ring is taken in its turn.
        found.remove();
        None
    }

    /// Remembers that `key` was delivered at `at` with `answer`, in place of the oldest
    /// delivery when the shard holds its share.
    fn deliver(&mut self, key: UpdateKey, hash: u64, at: u64, answer: Arc<Answer>, hasher: &RandomState) {
        let slot = Delivered { key, at, answer };
        let place = if self.delivered.len() < SHARE {
            self.delivered.push(slot);
            self.delivered.len() - 1
        } else {
            let place = self.oldest;
            self.oldest = (place + 1) % SHARE;
            let forgotten = std::mem::replace(&mut self.delivered[place], slot);
            let place_u16 = place as u16;
            if let Ok(entry) = self.index.find_entry(hasher.hash_one(forgotten.key), |&at| at == place_u16) {
                entry.remove();
            }
            place
        };
        let delivered = &self.delivered;
        self.index.insert_unique(hash, place as u16, |&at| hasher.hash_one(delivered[usize::from(at)].key));
    }

    /// The answer to keep for a delivery that got `status`, `body` and `retry_after`: the
    /// last one kept if the same, else a copy (the answer's bytes may be a slice of a larger
    /// buffer, the upstream connection's, which a kept slice would keep alive whole).
    fn keep(&mut self, status: StatusCode, body: &Bytes, retry_after: Option<&HeaderValue>) -> Arc<Answer> {
        let short;
        let (body, retry_after) = if body.len() <= MAX_KEPT_ANSWER {
            (body, retry_after)
        } else {
            short = short_success(status);
            (&short, None)
        };
        if let Some(last) = &self.last_kept {
            if last.status == status && last.body == body && last.retry_after.as_ref() == retry_after {
                return last.clone();
            }
        }
        let kept = Arc::new(Answer { status, body: Bytes::copy_from_slice(body), retry_after: retry_after.cloned() });
        self.last_kept = Some(kept.clone());
        kept
    }
}

/// An update this request is forwarding. Dropped without [`Pending::finish`] (the request
/// went away), it frees the id: the update was perhaps not delivered, so a repeat goes on.
struct Pending<'a> {
    deliveries: &'a Deliveries,
    key: UpdateKey,
    hash: u64,
    finished: bool,
}

impl Pending<'_> {
    /// Remembers the answer when it is a delivery, tells the waiting requests, and gives
    /// the answer back as a response.
    async fn finish(mut self, response: Response) -> Response {
        let (parts, mut body) = response.into_parts();
        // The proxy's answers are whole in memory already (relayed or made by the proxy).
        let body = crate::bodies::read_whole(&mut body, usize::MAX).await.unwrap_or_default();
        let retry_after = parts.headers.get(RETRY_AFTER);
        let waiting = {
            let deliveries = self.deliveries;
            let mut shard = deliveries.shard(self.hash);
            let waiting = match shard.in_flight.find_entry(self.hash, |slot| slot.key == self.key) {
                Ok(slot) => slot.remove().0.waiting,
                Err(_) => None,
            };
            if parts.status.is_success() {
                let kept = shard.keep(parts.status, &body, retry_after);
                shard.deliver(self.key, self.hash, deliveries.now(), kept, &deliveries.hasher);
            }
            waiting
        };
        self.finished = true;
        if let Some(waiting) = waiting {
            // The waiting repeats get the answer as it came, not as kept.
            let answer = Answer { status: parts.status, body: body.clone(), retry_after: retry_after.cloned() };
            waiting.send_replace(Some(Arc::new(answer)));
        }
        axum::response::Response::from_parts(parts, Body::from(body))
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let mut shard = self.deliveries.shard(self.hash);
            if let Ok(slot) = shard.in_flight.find_entry(self.hash, |slot| slot.key == self.key) {
                slot.remove();
            }
        }
    }
}

/// The body kept for a delivery whose own answer was longer than [`MAX_KEPT_ANSWER`]: a
/// short success naming its status.
fn short_success(status: StatusCode) -> Bytes {
    Bytes::from(format!(
        r#"{{"success":true,"code":{},"message":"delivered before; the upstream's answer was too long to keep"}}"#,
        status.as_u16()
    ))
}

#[cfg(test)]
mod tests {
    use super::{Deliveries, Shard, MAX_KEPT_ANSWER, SHARE, WINDOW};
    use axum::body::Bytes;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use foldhash::fast::RandomState;
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

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

    /// A shard with `count` ids delivered at `at`, `(0, 0)` first, each with the same answer.
    fn shard_with(hasher: &RandomState, count: u128, at: u64) -> Shard {
        let mut shard = Shard::new();
        for id in 0..count {
            let kept = shard.keep(StatusCode::OK, &Bytes::from_static(b"{}"), None);
            shard.deliver((0, id), hasher.hash_one((0u128, id)), at, kept, hasher);
        }
        shard
    }

    fn knows(shard: &mut Shard, hasher: &RandomState, id: u128, now: u64) -> bool {
        shard.delivered((0, id), hasher.hash_one((0u128, id)), || now).is_some()
    }

    #[test]
    fn a_shard_keeps_its_share_of_the_capacity_the_oldest_forgotten_first() {
        let hasher = RandomState::default();
        let mut shard = shard_with(&hasher, (SHARE + 10) as u128, 0);
        assert_eq!((shard.delivered.len(), shard.index.len()), (SHARE, SHARE));
        assert!((0..10).all(|id| !knows(&mut shard, &hasher, id, 0)));
        assert!((10..(SHARE + 10) as u128).all(|id| knows(&mut shard, &hasher, id, 0)));
    }

    #[test]
    fn a_shard_keeps_an_id_for_the_window_and_no_longer() {
        let hasher = RandomState::default();
        let window = WINDOW.as_nanos() as u64;
        let mut shard = shard_with(&hasher, 3, 5);
        assert!(knows(&mut shard, &hasher, 0, 5 + window));
        assert!(!knows(&mut shard, &hasher, 0, 6 + window));
        // Forgotten, it stays so, and its place in the ring is taken in its turn.
        assert!(!knows(&mut shard, &hasher, 0, 5));
        assert_eq!(shard.index.len(), 2);
        let kept = shard.keep(StatusCode::OK, &Bytes::from_static(b"{}"), None);
        shard.deliver((0, 0), hasher.hash_one((0u128, 0u128)), 7 + window, kept, &hasher);
        assert!(knows(&mut shard, &hasher, 0, 7 + window));
        assert!(knows(&mut shard, &hasher, 1, 5 + window) && !knows(&mut shard, &hasher, 2, 6 + window));
    }

    #[test]
    fn a_full_shard_never_grows_its_tables_nor_keeps_an_answer_twice() {
        let hasher = RandomState::default();
        let mut shard = Shard::new();
        let capacities =
            |shard: &Shard| (shard.delivered.capacity(), shard.index.capacity(), shard.in_flight.capacity());
        let at_start = capacities(&shard);
        let body = Bytes::from(vec![b'x'; 50]);
        for id in 0..(100 * SHARE) as u128 {
            let hash = hasher.hash_one((0u128, id));
            shard
                .in_flight
                .insert_unique(hash, super::InFlight { key: (0, id), waiting: None }, |slot| hasher.hash_one(slot.key));
            if let Ok(slot) = shard.in_flight.find_entry(hash, |slot| slot.key == (0, id)) {
                slot.remove();
            }
            let kept = shard.keep(StatusCode::OK, &body, None);
            shard.deliver((0, id), hash, 0, kept, &hasher);
            assert!(shard.delivered.len() <= SHARE && shard.index.len() <= SHARE);
        }
        assert_eq!(capacities(&shard), at_start);
        let first = &shard.delivered[0].answer;
        assert!(shard.delivered.iter().all(|slot| Arc::ptr_eq(&slot.answer, first)), "one answer for all");
        // A long answer is kept as a short success, once too.
        let long = Bytes::from(vec![b'x'; MAX_KEPT_ANSWER + 1]);
        let (one, two) = (shard.keep(StatusCode::OK, &long, None), shard.keep(StatusCode::OK, &long, None));
        assert!(Arc::ptr_eq(&one, &two) && one.body.len() < MAX_KEPT_ANSWER);
    }
}
