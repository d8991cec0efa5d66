//! Rate limits: per client IP (a `tower_governor` layer with this crate's client-IP key
//! extractor) and per visitor UUID (a keyed `governor` limiter checked once the body is
//! parsed). Both answer 429 with `Retry-After` and a JSON body.

use crate::error::ApiError;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderName, Request, Response, StatusCode};
use axum::response::IntoResponse;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;
use tower_governor::{GovernorError, GovernorLayer};

/// How often idle limiter entries are dropped.
const CLEANUP_EVERY: Duration = Duration::from_secs(60);

/// Where the client IP comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ClientIp {
    /// The TCP peer (no reverse proxy in front).
    #[default]
    Peer,
    /// The last address of `X-Forwarded-For` (the one your reverse proxy appended).
    ForwardedFor,
    /// A header holding one address, set by your edge.
    Header(HeaderName),
}

impl ClientIp {
    /// The client IP of a request; the peer when the configured header is absent or not
    /// an address.
    pub fn of(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> IpAddr {
        let from_header = match self {
            ClientIp::Peer => None,
            ClientIp::ForwardedFor => last_forwarded(headers),
            ClientIp::Header(name) => {
                headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok())
            }
        };
        from_header.or(peer).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }
}

/// The last address of the last `X-Forwarded-For` header.
fn last_forwarded(headers: &HeaderMap) -> Option<IpAddr> {
    let last = headers.get_all("x-forwarded-for").iter().next_back()?;
    let entry = last.to_str().ok()?.rsplit(',').next()?.trim();
    entry.parse().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

impl KeyExtractor for ClientIp {
    type Key = IpAddr;

    fn extract<T>(&self, request: &Request<T>) -> Result<IpAddr, GovernorError> {
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
        Ok(self.of(request.headers(), peer))
    }
}

/// A quota of `per_minute` sustained with `burst`; `None` when `per_minute` is 0.
fn quota(per_minute: u32, burst: u32) -> Option<(Duration, u32)> {
    (per_minute > 0).then(|| {
        let period = Duration::from_nanos(60_000_000_000 / u64::from(per_minute));
        (period, burst.max(1))
    })
}

/// A 429 saying which limit and when to retry (at least 1 s).
pub fn too_many(wait: Duration, scope: &str) -> ApiError {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many requests for this {scope}: retry in {} s", seconds.max(1)),
    )
    .with_retry_after(seconds.max(1))
}

/// The per-client-IP limiter (shared by the router's layer and the hot path).
pub type IpLimiter = DefaultKeyedRateLimiter<IpAddr>;

/// The per-client-IP limit as a layer, and its limiter (for the hot path, which checks
/// the same one), or `None` when `per_minute` is 0.
pub fn ip_layer(
    per_minute: u32,
    burst: u32,
    client_ip: ClientIp,
) -> Option<(GovernorLayer<ClientIp, NoOpMiddleware, Body>, Arc<IpLimiter>)> {
    let (period, burst) = quota(per_minute, burst)?;
    let config = GovernorConfigBuilder::default().key_extractor(client_ip).period(period).burst_size(burst).finish()?;
    let shared = config.limiter().clone();
    let limiter = Arc::downgrade(&shared);
    spawn_cleanup(move || {
        let limiter = limiter.upgrade()?;
        limiter.retain_recent();
        limiter.shrink_to_fit();
        Some(())
    });
    Some((GovernorLayer::new(config).error_handler(governor_error), shared))
}

/// tower_governor's errors as JSON answers.
fn governor_error(error: GovernorError) -> Response<Body> {
    match error {
        GovernorError::TooManyRequests { wait_time, .. } => {
            too_many(Duration::from_secs(wait_time), "client IP").into_response()
        }
        other => other.into_response().map(Body::from),
    }
}

/// The per-visitor-UUID limit, checked in the `/lead` handler.
#[derive(Debug, Clone)]
pub struct UuidLimiter(Option<Arc<DefaultKeyedRateLimiter<String>>>);

impl UuidLimiter {
    /// A limiter of `per_minute` sustained with `burst` per UUID (0: no limit).
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let Some((period, burst)) = quota(per_minute, burst) else {
            return Self(None);
        };
        let quota = Quota::with_period(period)
            .expect("period is positive")
            .allow_burst(NonZeroU32::new(burst).expect("burst is at least 1"));
        let limiter = Arc::new(RateLimiter::keyed(quota));
        let weak: Weak<DefaultKeyedRateLimiter<String>> = Arc::downgrade(&limiter);
        spawn_cleanup(move || {
            let limiter = weak.upgrade()?;
            limiter.retain_recent();
            limiter.shrink_to_fit();
            Some(())
        });
        Self(Some(limiter))
    }

    /// `Ok` when `uuid` may send another update now, else the 429.
    pub fn check(&self, uuid: &str) -> Result<(), ApiError> {
        self.check_lower_cased(&uuid.to_ascii_lowercase())
    }

    /// [`Self::check`] for a UUID in a `String` of its own: not copied when already in lower case.
    pub(crate) fn check_string(&self, uuid: &String) -> Result<(), ApiError> {
        if uuid.bytes().any(|b| b.is_ascii_uppercase()) {
            self.check(uuid)
        } else {
            self.check_lower_cased(uuid)
        }
    }

    fn check_lower_cased(&self, uuid: &String) -> Result<(), ApiError> {
        let Some(limiter) = &self.0 else {
            return Ok(());
        };
        limiter
            .check_key(uuid)
            .map_err(|not_until| too_many(not_until.wait_time_from(DefaultClock::default().now()), "visitor"))
    }
}

/// Runs `step` every [`CLEANUP_EVERY`] until it returns `None` (its limiter is gone).
fn spawn_cleanup(step: impl Fn() -> Option<()> + Send + 'static) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(CLEANUP_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                if step().is_none() {
                    break;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::UuidLimiter;

    /// One quota per visitor, whatever the case of its UUID and however it is checked.
    #[test]
    fn a_visitor_is_its_uuid_in_any_case() {
        let uuid = "7e88d192-9b20-4035-9b68-d4ac3d58a34f".to_string();
        let limiter = UuidLimiter::new(1, 3);
        assert!(limiter.check_string(&uuid).is_ok());
        assert!(limiter.check_string(&uuid.to_ascii_uppercase()).is_ok());
        assert!(limiter.check(&uuid.to_ascii_uppercase()).is_ok());
        assert!(limiter.check_string(&"7E88d192-9b20-4035-9b68-D4AC3d58a34f".to_string()).is_err());
        assert!(limiter.check(&uuid).is_err());
        assert!(limiter.check_string(&"7e88d192-9b20-4035-9b68-d4ac3d58a340".to_string()).is_ok());
    }
}
