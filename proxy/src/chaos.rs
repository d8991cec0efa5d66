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
    #[serde(default, deserialize_with = "whole_number")]
    pub max_delay_ms: u64,
    /// When not 0, injected failures are `429 Too Many Requests` with `Retry-After: N`
    /// (seconds, at most 3600) instead of `503`.
    #[serde(default, deserialize_with = "whole_number")]
    pub fail_retry_after_s: u64,
}

/// A non-negative whole number, written `3569` or `3569.0`: JSON (and JSON Schema's
/// `integer`) make no difference between the two.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let number = serde_json::Number::deserialize(d)?;
    match (number.as_u64(), number.as_f64()) {
        (Some(whole), _) => Ok(whole),
        (None, Some(float)) if float >= 0.0 && float.fract() == 0.0 && float <= u64::MAX as f64 => Ok(float as u64),
        _ => {
            Err(serde::de::Error::custom(format!("maxDelayMs: must be a whole number of milliseconds (got {number})")))
        }
    }
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

#[cfg(test)]
mod tests {
    use super::ChaosSettings;

    #[test]
    fn max_delay_is_a_whole_number_however_it_is_written() {
        let read = |body: &str| serde_json::from_str::<ChaosSettings>(body).map(|s| s.max_delay_ms);
        assert_eq!(read(r#"{"maxDelayMs": 3569}"#).unwrap(), 3569);
        assert_eq!(read(r#"{"maxDelayMs": 3569.0}"#).unwrap(), 3569);
        assert_eq!(read(r#"{"maxDelayMs": 35e2}"#).unwrap(), 3500);
        for broken in [r#"{"maxDelayMs": 1.5}"#, r#"{"maxDelayMs": -1}"#, r#"{"maxDelayMs": "5"}"#] {
            let err = read(broken).unwrap_err().to_string();
            assert!(err.contains("maxDelayMs") || err.contains("invalid type"), "{broken}: {err}");
        }
    }
}
