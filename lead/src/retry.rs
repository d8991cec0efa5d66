//! When to try a failed send again.

/// What to do after a send attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted (2xx): forget the update.
    Delivered,
    /// Worth another try: no answer (network error), 408, 425, 429 or 5xx.
    Retry,
    /// Refused for good (other 4xx, or anything else): drop it and report why.
    Refused,
}

impl Outcome {
    /// Classifies an HTTP status; `None` means the request got no answer at all.
    pub fn of(status: Option<u16>) -> Self {
        match status {
            None => Self::Retry,
            Some(200..=299) => Self::Delivered,
            Some(408 | 425 | 429 | 500..=599) => Self::Retry,
            Some(_) => Self::Refused,
        }
    }
}

/// An exponential back-off with jitter, capped, that yields to the server's `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay before the first retry, in milliseconds.
    pub base_ms: f64,
    /// Longest delay the schedule itself produces, in milliseconds.
    pub max_ms: f64,
}

impl Default for Backoff {
    /// 1 s, doubling, at most 5 minutes.
    fn default() -> Self {
        Self { base_ms: 1_000.0, max_ms: 300_000.0 }
    }
}

/// The longest `Retry-After` honoured (1 hour): a server asking for more is treated as
/// asking for this, so an update is never parked for days.
pub const MAX_RETRY_AFTER_MS: f64 = 3_600_000.0;

impl Backoff {
    /// The delay before retry number `attempt` (1 for the first retry). `jitter` is a
    /// random number in `[0, 1)`: the delay is drawn from the upper half of the step
    /// ("equal jitter"), so clients that failed together do not retry together, yet no
    /// retry comes sooner than half its step. A `Retry-After` (in milliseconds) longer
    /// than that wins.
    pub fn delay_ms(&self, attempt: u32, jitter: f64, retry_after_ms: Option<f64>) -> f64 {
        let step = (self.base_ms * 2f64.powi(attempt.saturating_sub(1).min(30) as i32)).min(self.max_ms);
        let jittered = step / 2.0 + step / 2.0 * jitter.clamp(0.0, 1.0);
        match retry_after_ms {
            Some(asked) if asked.is_finite() && asked > jittered => asked.min(MAX_RETRY_AFTER_MS),
            _ => jittered,
        }
    }
}

/// Reads a `Retry-After` header given in seconds. (An HTTP-date needs a clock and a date
/// parser; the browser side turns one into milliseconds itself.)
pub fn retry_after_seconds(header: &str) -> Option<f64> {
    let header = header.trim();
    // Whole seconds (RFC 9110), parsed as an integer: that also keeps the float parser
    // out of the browser bundle.
    header.parse::<u32>().ok().filter(|_| header.bytes().all(|b| b.is_ascii_digit())).map(|s| f64::from(s) * 1000.0)
}
