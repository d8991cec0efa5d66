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

/// The per-client-IP limit as a layer, or `None` when `per_minute` is 0.
pub fn ip_layer(
    per_minute: u32,
    burst: u32,
    client_ip: ClientIp,
) -> Option<GovernorLayer<ClientIp, NoOpMiddleware, Body>> {
    let (period, burst) = quota(per_minute, burst)?;
    let config = GovernorConfigBuilder::default().key_extractor(client_ip).period(period).burst_size(burst).finish()?;
    let limiter = Arc::downgrade(config.limiter());
    spawn_cleanup(move || {
        let limiter = limiter.upgrade()?;
        limiter.retain_recent();
        limiter.shrink_to_fit();
        Some(())
    });
    Some(GovernorLayer::new(config).error_handler(governor_error))
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
///
/// Visitors are keyed by their UUID's 128 bits rather than its text: the key sits in the
/// map's slot itself (a string key is a pointer to follow on every look-up, a cache miss
/// in a map of many visitors), is hashed in 16 bytes instead of 36, and a UUID in any case
/// is the same visitor without lower-casing a copy. SipHash with a random key (std's
/// `RandomState`) stays the hasher: the keys are chosen by whoever calls the proxy.
#[derive(Debug, Clone)]
pub struct UuidLimiter(Option<Arc<DefaultKeyedRateLimiter<VisitorKey>>>);

/// A visitor as the limiter counts it: its UUID's bits. Text that is not a UUID (never,
/// once the lead is validated, which requires one) counts as the nil UUID, all zeros.
type VisitorKey = u128;

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
        let weak: Weak<DefaultKeyedRateLimiter<VisitorKey>> = Arc::downgrade(&limiter);
        spawn_cleanup(move || {
            let limiter = weak.upgrade()?;
            limiter.retain_recent();
            limiter.shrink_to_fit();
            Some(())
        });
        Self(Some(limiter))
    }

    /// `Ok` when `uuid` (in any case) may send another update now, else the 429.
    pub fn check(&self, uuid: &str) -> Result<(), ApiError> {
        self.check_bits(uuid_bits(uuid).unwrap_or(0))
    }

    /// [`UuidLimiter::check`] for a UUID already read as its bits ([`uuid_bits`], the nil
    /// UUID for text that is none).
    pub(crate) fn check_bits(&self, bits: VisitorKey) -> Result<(), ApiError> {
        let Some(limiter) = &self.0 else {
            return Ok(());
        };
        limiter
            .check_key(&bits)
            .map_err(|not_until| too_many(not_until.wait_time_from(DefaultClock::default().now()), "visitor"))
    }
}

/// The 128 bits of a UUID written `8-4-4-4-12` in hex digits of either case, or `None`.
pub(crate) fn uuid_bits(text: &str) -> Option<u128> {
    /// Where the 32 digits are, around the dashes at 8, 13, 18 and 23: the first and the
    /// last 16 (each half a `u64`; shifting a `u128` costs twice as much).
    const HIGH: [usize; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16, 17];
    const LOW: [usize; 16] = [19, 20, 21, 22, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35];
    /// Each byte's value as a hex digit, or `0x80` (set in no digit's value) when it is none.
    const VALUE: [u8; 256] = {
        let mut value = [0x80; 256];
        let mut i = 0;
        while i < 10 {
            value[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            value[b'a' as usize + i] = 10 + i as u8;
            value[b'A' as usize + i] = 10 + i as u8;
            i += 1;
        }
        value
    };
    let bytes: &[u8; 36] = text.as_bytes().try_into().ok()?;
    if bytes[8] != b'-' || bytes[13] != b'-' || bytes[18] != b'-' || bytes[23] != b'-' {
        return None;
    }
    // Branch-free: a table look-up a digit, one check at the end, positions known at compile
    // time (the loops unroll, no bounds checks).
    let mut invalid = 0u8;
    let mut half = |positions: &[usize; 16]| {
        positions.iter().fold(0u64, |half, &at| {
            let digit = VALUE[usize::from(bytes[at])];
            invalid |= digit;
            half << 4 | u64::from(digit & 0xf)
        })
    };
    let (high, low) = (half(&HIGH), half(&LOW));
    (invalid & 0x80 == 0).then(|| u128::from(high) << 64 | u128::from(low))
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
    use super::{uuid_bits, UuidLimiter};

    /// One quota per visitor, whatever the case of its UUID.
    #[test]
    fn a_visitor_is_its_uuid_in_any_case() {
        let uuid = "7e88d192-9b20-4035-9b68-d4ac3d58a34f";
        let limiter = UuidLimiter::new(1, 3);
        assert!(limiter.check(uuid).is_ok());
        assert!(limiter.check(&uuid.to_ascii_uppercase()).is_ok());
        assert!(limiter.check("7E88d192-9b20-4035-9b68-D4AC3d58a34f").is_ok());
        assert!(limiter.check(uuid).is_err());
        assert!(limiter.check("7e88d192-9b20-4035-9b68-d4ac3d58a340").is_ok());
    }

    #[test]
    fn a_uuid_is_read_as_its_128_bits() {
        assert_eq!(uuid_bits("7e88d192-9b20-4035-9b68-d4ac3d58a34f"), Some(0x7e88d1929b2040359b68d4ac3d58a34f));
        assert_eq!(uuid_bits("00000000-0000-0000-0000-000000000000"), Some(0));
        assert_eq!(uuid_bits("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"), Some(u128::MAX));
        for not_uuid in [
            "",
            "7e88d192-9b20-4035-9b68-d4ac3d58a34",
            "7e88d192-9b20-4035-9b68-d4ac3d58a34f0",
            "7e88d1929b20-4035-9b68-d4ac3d58a34f0",
            "7e88d192-9b20-4035-9b68_d4ac3d58a34f",
            "7e88d192-9b20-4035-9b68-d4ac3d58a34g",
            "7e88d192-9b20-4035-9b6-8d4ac3d58a34f",
            "7e88d192-9b20-4035--b68-d4ac3d58a34f",
            "7e88d192-9b20-4035-9b68-d4ac3d58a3\u{e9}",
        ] {
            assert_eq!(uuid_bits(not_uuid), None, "{not_uuid:?}");
        }
    }

    /// Text that is not a UUID (never, once a lead is validated) counts as the nil UUID.
    #[test]
    fn text_that_is_not_a_uuid_counts_as_the_nil_uuid() {
        let limiter = UuidLimiter::new(1, 2);
        assert!(limiter.check("").is_ok());
        assert!(limiter.check("not a uuid").is_ok());
        assert!(limiter.check("00000000-0000-0000-0000-000000000000").is_err());
        assert!(limiter.check("7e88d192-9b20-4035-9b68-d4ac3d58a34f").is_ok());
    }
}
