//! Failure injection for the embedded mock, so tests and demos can show that the
//! companion recovers: a share of lead updates fail with 503, a share hang (no answer for
//! longer than any client waits), and the rest are delayed by up to a bound. Failures can
//! also stand for an API that rate-limits: `429` with `Retry-After`.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a "hanging" request waits before it is answered (longer than the proxy's
/// upstream timeout and any browser's patience).
pub const HANG: Duration = Duration::from_secs(30);

/// What the mock does to `PUT /inbox/direct/lead` requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChaosSettings {
    /// Share of updates answered 503 without being stored (0 to 1).
    #[serde(default)]
    pub fail_rate: f64,
    /// Share of updates left without an answer for [`HANG`] (0 to 1).
    #[serde(default)]
    pub hang_rate: f64,
    /// Other updates wait a random 0..=this many milliseconds first (at most 60000).
    #[serde(default)]
    pub max_delay_ms: u64,
    /// When not 0, injected failures are `429 Too Many Requests` with `Retry-After: N`
    /// (seconds, at most 3600) instead of `503`.
    #[serde(default)]
    pub fail_retry_after_s: u64,
}

impl ChaosSettings {
    /// Checks the bounds; the message names the field.
    pub fn check(&self) -> Result<(), String> {
        for (field, rate) in [("failRate", self.fail_rate), ("hangRate", self.hang_rate)] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{field}: must be between 0 and 1"));
            }
        }
        if self.fail_rate + self.hang_rate > 1.0 {
            return Err("failRate + hangRate: must be at most 1".into());
        }
        if self.max_delay_ms > 60_000 {
            return Err("maxDelayMs: must be at most 60000".into());
        }
        if self.fail_retry_after_s > 3_600 {
            return Err("failRetryAfterS: must be at most 3600".into());
        }
        Ok(())
    }
}

/// The mock's current chaos, shared with the proxy's `/demo/chaos` route in mock mode.
#[derive(Debug, Default)]
pub struct Chaos {
    settings: Mutex<ChaosSettings>,
}

impl Chaos {
    /// Chaos with `settings` (checked by the caller).
    pub fn new(settings: ChaosSettings) -> Self {
        Self { settings: Mutex::new(settings) }
    }

    /// The settings in force.
    pub fn get(&self) -> ChaosSettings {
        *self.settings.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replaces the settings.
    pub fn set(&self, settings: ChaosSettings) {
        *self.settings.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = settings;
    }
}

/// Middleware for the mock: applies the chaos to lead updates, leaves the rest alone.
pub async fn inject(State(chaos): State<Arc<Chaos>>, request: Request, next: Next) -> Response {
    if request.method() != Method::PUT {
        return next.run(request).await;
    }
    let settings = chaos.get();
    let roll: f64 = rand::random();
    if roll < settings.fail_rate && settings.fail_retry_after_s > 0 {
        let mut answer = crate::error::json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"success": false, "message": "mock chaos: injected rate limit", "code": 429}),
        );
        answer.headers_mut().insert(axum::http::header::RETRY_AFTER, settings.fail_retry_after_s.into());
        return answer;
    }
    if roll < settings.fail_rate {
        return crate::error::json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"success": false, "message": "mock chaos: injected failure", "code": 503}),
        );
    }
    if roll < settings.fail_rate + settings.hang_rate {
        tokio::time::sleep(HANG).await;
    } else if settings.max_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % (settings.max_delay_ms + 1))).await;
    }
    next.run(request).await
}
