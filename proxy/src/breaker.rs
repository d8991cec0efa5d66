//! A simple circuit breaker for the upstream: after `threshold` consecutive failures it
//! opens for `cooldown`, during which callers are answered 503 without calling upstream.
//! After the cool-down requests go through again; one failure re-opens it, one success
//! closes it.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The breaker's state, shared by every request.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    failures: AtomicU32,
    open_until: Mutex<Option<Instant>>,
    /// Whether `open_until` is set: read by every request (while closed, the usual case, the
    /// breaker's lines are only read, not written, so worker threads share them).
    opened: AtomicBool,
}

impl Breaker {
    /// A closed breaker opening after `threshold` consecutive failures (0: never).
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold,
            cooldown,
            failures: AtomicU32::new(0),
            open_until: Mutex::new(None),
            opened: AtomicBool::new(false),
        }
    }

    /// `Err(remaining)` while open; `Ok(())` when calls may go upstream.
    pub fn check(&self) -> Result<(), Duration> {
        if !self.opened.load(Ordering::Acquire) {
            return Ok(());
        }
        let open_until = *self.open_until.lock().unwrap_or_else(|e| e.into_inner());
        match open_until {
            Some(until) if until > Instant::now() => Err(until - Instant::now()),
            _ => Ok(()),
        }
    }

    /// Whether the breaker is open now.
    pub fn is_open(&self) -> bool {
        self.check().is_err()
    }

    /// Records a successful call: closes the breaker.
    pub fn success(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 && self.failures.swap(0, Ordering::Relaxed) != 0 {
            let mut open_until = self.open_until.lock().unwrap_or_else(|e| e.into_inner());
            *open_until = None;
            self.opened.store(false, Ordering::Release);
        }
    }

    /// Records a failed call; opens the breaker when the threshold is reached.
    pub fn failure(&self) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if self.threshold > 0 && failures >= self.threshold {
            let mut open_until = self.open_until.lock().unwrap_or_else(|e| e.into_inner());
            *open_until = Some(Instant::now() + self.cooldown);
            self.opened.store(true, Ordering::Release);
            drop(open_until);
            tracing::warn!(failures, cooldown = ?self.cooldown, "upstream circuit breaker open");
        }
    }
}
