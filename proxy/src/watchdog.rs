//! One timer per connection instead of three per request.
//!
//! A served connection has three time limits: its next request's head must come within the
//! header timeout of the previous answer (or of the connection's start), else the connection
//! is closed (slow or silent clients cannot hold connections); a `/lead` request must be
//! answered within the request timeout (408); an upstream call must be done within the
//! upstream timeout (504). As tokio timers, each request armed and dropped three (hyper's
//! head timer, two `tokio::time::timeout`s), each a registration in the timer wheel and its
//! removal. Here each connection has a [`Watched`] record of its deadlines (plain atomic
//! stores on the request's path) and one watchdog task that sleeps until the earliest of
//! them, and only then looks: it closes the connection when its head is late, or marks the
//! request or the upstream call as late and wakes the connection's task, whose
//! [`within`] then ends that wait. Setting a deadline earlier than the one the watchdog
//! sleeps to (not with the default timeouts: each new deadline is later) wakes it to
//! re-arm. The same record carries the graceful shutdown signal to the connection.
//!
//! Requests without a watched connection (the router served alone) use tokio's timers.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};
use tokio::task::AbortHandle;

/// No deadline, or (for the head) a request being answered.
const NONE: u64 = u64::MAX;

/// The two deadlines a request arms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// The whole request (408).
    Request,
    /// One upstream call (504).
    Upstream,
}

impl Limit {
    fn bit(self) -> u8 {
        match self {
            Limit::Request => 1,
            Limit::Upstream => 2,
        }
    }
}

/// A deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed;

/// The instant [`ticks`] count from: the first time it is asked for.
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// `instant` in nanoseconds since [`base`] (a u64 holds 584 years of them).
fn ticks(instant: Instant) -> u64 {
    nanos(instant.saturating_duration_since(base()))
}

/// `duration` in nanoseconds, at most a little under [`NONE`].
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(NONE - 1).min(NONE - 1)
}

/// `start + limit`, or about 30 years from `start` when that is beyond what an `Instant`
/// holds (as tokio's timers take a huge limit).
pub(crate) fn deadline(start: Instant, limit: Duration) -> Instant {
    start.checked_add(limit).unwrap_or_else(|| start + Duration::from_secs(86_400 * 365 * 30))
}

/// What the watchdog of one connection watches.
#[derive(Debug)]
pub(crate) struct Watched {
    header_timeout: Duration,
    /// Since when the connection waits for a request's head ([`ticks`]), or [`NONE`] while a
    /// request is being answered.
    waiting_since: AtomicU64,
    /// When the request being answered must be answered ([`ticks`]), or [`NONE`].
    request_deadline: AtomicU64,
    /// When the upstream call under way must be done, or [`NONE`].
    upstream_deadline: AtomicU64,
    /// The [`Limit`]s whose deadline passed (bits).
    expired: AtomicU8,
    /// When the watchdog looks next.
    next_look: AtomicU64,
    /// Wakes the watchdog (a deadline before `next_look`, the connection's end).
    rearm: Notify,
    /// Set once the server stops: the connection finishes its request and closes.
    stopping: AtomicBool,
    /// Set when the connection's task ends.
    closed: AtomicBool,
    /// The connection task's waker.
    waker: Mutex<Option<Waker>>,
}

impl Watched {
    /// A connection accepted now, its head due within `header_timeout`.
    pub(crate) fn new(header_timeout: Duration) -> Arc<Self> {
        let now = Instant::now();
        Arc::new(Self {
            header_timeout,
            waiting_since: AtomicU64::new(ticks(now)),
            request_deadline: AtomicU64::new(NONE),
            upstream_deadline: AtomicU64::new(NONE),
            expired: AtomicU8::new(0),
            next_look: AtomicU64::new(ticks(now).saturating_add(nanos(header_timeout))),
            rearm: Notify::new(),
            stopping: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            waker: Mutex::new(None),
        })
    }

    /// A request's head came: no head is due until [`Self::idle`].
    pub(crate) fn busy(&self) {
        self.waiting_since.store(NONE, Ordering::Relaxed);
    }

    /// The request was answered at `at`: the next head is due within the header timeout.
    pub(crate) fn idle(&self, at: Instant) {
        let since = ticks(at);
        self.waiting_since.store(since, Ordering::Relaxed);
        self.due(since.saturating_add(nanos(self.header_timeout)));
    }

    /// Wakes the watchdog if `deadline` comes before it looks.
    fn due(&self, deadline: u64) {
        if deadline < self.next_look.load(Ordering::Relaxed) {
            self.rearm.notify_one();
        }
    }

    fn slot(&self, limit: Limit) -> &AtomicU64 {
        match limit {
            Limit::Request => &self.request_deadline,
            Limit::Upstream => &self.upstream_deadline,
        }
    }

    /// Arms `limit` for `deadline`.
    fn arm(&self, limit: Limit, deadline: Instant) {
        let deadline = ticks(deadline);
        self.expired.fetch_and(!limit.bit(), Ordering::Relaxed);
        self.slot(limit).store(deadline, Ordering::Relaxed);
        self.due(deadline);
    }

    /// Disarms `limit`.
    fn disarm(&self, limit: Limit) {
        self.slot(limit).store(NONE, Ordering::Relaxed);
        self.expired.fetch_and(!limit.bit(), Ordering::Relaxed);
    }

    fn is_expired(&self, limit: Limit) -> bool {
        self.expired.load(Ordering::Relaxed) & limit.bit() != 0
    }

    /// Whether the server is stopping.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Keeps the connection task's waker (its task's, the same at every poll).
    pub(crate) fn set_waker(&self, waker: &Waker) {
        *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker.clone());
    }

    fn wake_connection(&self) {
        if let Some(waker) = &*self.waker.lock().unwrap_or_else(|e| e.into_inner()) {
            waker.wake_by_ref();
        }
    }

    /// The connection's task ended: the watchdog ends too.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.rearm.notify_one();
    }

    /// Looks at the deadlines at `now`: `false` when the head is late (the connection is to
    /// be closed); else marks the passed limits (waking the connection) and returns when to
    /// look next.
    fn look(&self, now: u64) -> Option<u64> {
        let header_timeout = nanos(self.header_timeout);
        let since = self.waiting_since.load(Ordering::Relaxed);
        let mut next = if since == NONE {
            // A request is being answered: look again a header timeout from now at the
            // latest (its own limits come before, when armed).
            now.saturating_add(header_timeout)
        } else {
            let due = since.saturating_add(header_timeout);
            if due <= now {
                return None;
            }
            due
        };
        let mut woke = false;
        for limit in [Limit::Request, Limit::Upstream] {
            let deadline = self.slot(limit).load(Ordering::Relaxed);
            if deadline == NONE || self.is_expired(limit) {
                continue;
            }
            if deadline <= now {
                self.expired.fetch_or(limit.bit(), Ordering::Relaxed);
                woke = true;
            } else {
                next = next.min(deadline);
            }
        }
        if woke {
            self.wake_connection();
        }
        self.next_look.store(next, Ordering::Relaxed);
        Some(next)
    }
}

/// Runs until the connection's task ends: closes it (aborting its task) when a head is late,
/// passes the shutdown signal `stop` on to it.
pub(crate) async fn watchdog(watched: Arc<Watched>, connection: AbortHandle, mut stop: watch::Receiver<bool>) {
    let base = base();
    let mut stopping = false;
    let mut next = watched.next_look.load(Ordering::Relaxed);
    loop {
        if watched.closed.load(Ordering::Relaxed) {
            return;
        }
        let at = tokio::time::Instant::from_std(base + Duration::from_nanos(next));
        tokio::select! {
            () = tokio::time::sleep_until(at) => {}
            () = watched.rearm.notified() => {}
            changed = stop.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                // A dropped sender stops the server too.
                let _ = changed;
                watched.stopping.store(true, Ordering::Relaxed);
                watched.wake_connection();
            }
        }
        match watched.look(ticks(Instant::now())) {
            Some(look) => next = look,
            None => {
                connection.abort();
                return;
            }
        }
    }
}

/// `future`, cut short with [`Elapsed`] once `deadline` passes: by the connection's
/// watchdog when `watched`, else by a tokio timer.
pub(crate) fn within<F: Future>(
    watched: Option<&Watched>,
    limit: Limit,
    deadline: Instant,
    future: F,
) -> Within<'_, F> {
    let clock = match watched {
        Some(watched) => Clock::Watched { watched: Watch::Borrowed(watched), armed: false },
        None => Clock::Timer(None),
    };
    Within { future, limit, deadline, clock }
}

/// [`within`] for a future that owns its connection's record (a layer's, which outlives
/// no borrow).
pub(crate) fn within_shared<F: Future>(
    watched: Option<Arc<Watched>>,
    limit: Limit,
    deadline: Instant,
    future: F,
) -> Within<'static, F> {
    let clock = match watched {
        Some(watched) => Clock::Watched { watched: Watch::Shared(watched), armed: false },
        None => Clock::Timer(None),
    };
    Within { future, limit, deadline, clock }
}

pin_project_lite::pin_project! {
    /// [`within`]'s future. A struct rather than an `async fn`, which would keep the wrapped
    /// future twice in its state (as the argument and as the pinned local), doubling the
    /// size of every future around it and the bytes copied when they are moved.
    pub(crate) struct Within<'a, F> {
        #[pin]
        future: F,
        limit: Limit,
        deadline: Instant,
        clock: Clock<'a>,
    }

    impl<'a, F> PinnedDrop for Within<'a, F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Clock::Watched { watched, armed: true } = this.clock {
                watched.disarm(*this.limit);
            }
        }
    }
}

/// What ends a [`Within`]: the connection's watchdog (armed at the first poll), or a tokio
/// timer (made at the first poll).
enum Clock<'a> {
    Watched { watched: Watch<'a>, armed: bool },
    Timer(Option<Pin<Box<tokio::time::Sleep>>>),
}

/// A connection's record, borrowed or shared.
enum Watch<'a> {
    Borrowed(&'a Watched),
    Shared(Arc<Watched>),
}

impl std::ops::Deref for Watch<'_> {
    type Target = Watched;

    fn deref(&self) -> &Watched {
        match self {
            Watch::Borrowed(watched) => watched,
            Watch::Shared(watched) => watched,
        }
    }
}

impl<F: Future> Future for Within<'_, F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.clock {
            Clock::Watched { watched, armed } if !*armed => {
                watched.arm(*this.limit, *this.deadline);
                *armed = true;
            }
            Clock::Timer(timer @ None) => {
                *timer = Some(Box::pin(tokio::time::sleep_until((*this.deadline).into())));
            }
            _ => {}
        }
        // As tokio's `timeout`: the future first, so that an answer that is ready wins.
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        let late = match this.clock {
            Clock::Watched { watched, .. } => watched.is_expired(*this.limit),
            Clock::Timer(timer) => timer.as_mut().is_some_and(|timer| timer.as_mut().poll(cx).is_ready()),
        };
        if late {
            Poll::Ready(Err(Elapsed))
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn huge_limits_are_far_away_not_an_overflow() {
        let now = Instant::now();
        assert_eq!(deadline(now, Duration::from_secs(5)), now + Duration::from_secs(5));
        assert!(deadline(now, Duration::MAX) > now + Duration::from_secs(86_400 * 365 * 29));
        let watched = Watched::new(Duration::MAX);
        let start = watched.waiting_since.load(Ordering::Relaxed);
        assert!(watched.look(start + 1000 * SECOND).unwrap() >= NONE - 1);
        watched.idle(now);
        watched.arm(Limit::Request, deadline(now, Duration::MAX));
        assert!(watched.look(start + 1000 * SECOND).is_some());
    }

    #[test]
    fn a_late_head_closes_the_connection_and_a_busy_one_waits() {
        let watched = Watched::new(Duration::from_secs(10));
        let start = watched.waiting_since.load(Ordering::Relaxed);
        assert_eq!(watched.look(start + 9 * SECOND), Some(start + 10 * SECOND));
        assert_eq!(watched.look(start + 10 * SECOND), None);
        // Busy: no head due; looked at again a header timeout later.
        watched.busy();
        assert_eq!(watched.look(start + 30 * SECOND), Some(start + 40 * SECOND));
    }

    #[tokio::test]
    async fn limits_expire_in_order_and_wake_the_watchdog_when_earlier() {
        let watched = Watched::new(Duration::from_secs(10));
        let now = Instant::now();
        let start = ticks(now);
        watched.busy();
        // The watchdog looks at +10 s; a request limit at +15 s does not wake it.
        watched.arm(Limit::Request, now + Duration::from_secs(15));
        assert!(tokio::time::timeout(Duration::from_millis(10), watched.rearm.notified()).await.is_err());
        // An upstream limit at +1 s does.
        watched.arm(Limit::Upstream, now + Duration::from_secs(1));
        assert!(tokio::time::timeout(Duration::from_millis(10), watched.rearm.notified()).await.is_ok());
        let next = watched.look(start + SECOND / 2).unwrap();
        assert!(next.abs_diff(start + SECOND) < 1000, "{next} {start}");
        assert!(!watched.is_expired(Limit::Upstream));
        // Past the upstream limit: looked at again a header timeout later (busy), before
        // the request limit.
        let next = watched.look(start + 2 * SECOND).unwrap();
        assert!(watched.is_expired(Limit::Upstream) && !watched.is_expired(Limit::Request));
        assert_eq!(next, start + 12 * SECOND);
        watched.disarm(Limit::Upstream);
        assert!(!watched.is_expired(Limit::Upstream));
        watched.look(start + 16 * SECOND).unwrap();
        assert!(watched.is_expired(Limit::Request));
        // Answered: the head is due a header timeout later.
        watched.disarm(Limit::Request);
        watched.idle(now + Duration::from_secs(17));
        assert!(watched.look(start + 26 * SECOND).is_some());
        assert_eq!(watched.look(start + 27 * SECOND + 1000), None);
    }

    #[tokio::test]
    async fn within_ends_at_the_deadline_and_the_watchdog_closes_late_heads() {
        let (stop, stopped) = watch::channel(false);
        let watched = Watched::new(Duration::from_millis(300));
        watched.busy();
        let connection = tokio::spawn(std::future::pending::<()>());
        let dog = tokio::spawn(watchdog(watched.clone(), connection.abort_handle(), stopped.clone()));
        // A watched limit: the call is cut at its deadline (here before the watchdog's
        // first look, so it is woken to re-arm); an answer that is ready wins.
        let started = Instant::now();
        let task = tokio::spawn({
            let watched = watched.clone();
            async move {
                watched.set_waker(&std::future::poll_fn(|cx| Poll::Ready(cx.waker().clone())).await);
                let deadline = Instant::now() + Duration::from_millis(100);
                within(Some(&watched), Limit::Upstream, deadline, std::future::pending::<()>()).await
            }
        });
        assert_eq!(task.await.unwrap(), Err(Elapsed));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(100) && waited < Duration::from_millis(290), "{waited:?}");
        assert!(!watched.is_expired(Limit::Upstream), "disarmed once done");
        let soon = Instant::now() + Duration::from_secs(5);
        assert_eq!(within(Some(&watched), Limit::Request, soon, async { 7 }).await, Ok(7));
        // Without a watched connection: a tokio timer.
        let late =
            within(None, Limit::Request, Instant::now() + Duration::from_millis(50), std::future::pending::<()>());
        assert_eq!(late.await, Err(Elapsed));
        // The shutdown signal is passed on.
        assert!(!watched.stopping());
        stop.send(true).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(watched.stopping());
        // Answered, then silent: the connection is closed a header timeout later.
        let answered = Instant::now();
        watched.idle(answered);
        assert!(connection.await.unwrap_err().is_cancelled());
        let waited = answered.elapsed();
        assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(2), "{waited:?}");
        dog.await.unwrap();
        // The watchdog of a connection that ended stops with it.
        let watched = Watched::new(Duration::from_secs(60));
        let connection = tokio::spawn(std::future::pending::<()>());
        let dog = tokio::spawn(watchdog(watched.clone(), connection.abort_handle(), stopped));
        watched.close();
        tokio::time::timeout(Duration::from_secs(1), dog).await.unwrap().unwrap();
        connection.abort();
    }
}
