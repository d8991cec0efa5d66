//! What a proxy is configured with ([`ProxyConfig`]), where it forwards ([`Upstream`]), and
//! the defaults `serve`'s options and [`ProxyConfig::new`] share.

use crate::chaos::Chaos;
use crate::limits::ClientIp;
use crate::visitor::VisitorKey;
use crate::Secret;
use axum::http::HeaderValue;
use reekolect_lead::BotIds;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Default body limit of `/lead`, in bytes (64 KiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// Default limit on a whole request (reading the body, validating, forwarding).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Default time allowed for a request's head (and an idle keep-alive connection).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default limit on one upstream call.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);
/// Default sustained `/lead` requests per minute per client IP.
pub const DEFAULT_IP_PER_MINUTE: u32 = 120;
/// Default burst of `/lead` requests per client IP.
pub const DEFAULT_IP_BURST: u32 = 60;
/// Default sustained `/lead` updates per minute per visitor UUID.
pub const DEFAULT_UUID_PER_MINUTE: u32 = 30;
/// Default burst of `/lead` updates per visitor UUID.
pub const DEFAULT_UUID_BURST: u32 = 10;
/// Default consecutive upstream failures that open the circuit breaker (0: no breaker).
pub const DEFAULT_BREAKER_FAILURES: u32 = 5;
/// Default time the open breaker answers 503 without calling the upstream.
pub const DEFAULT_BREAKER_COOLDOWN: Duration = Duration::from_secs(30);

/// What the proxy's router needs.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Base URL of the Reekolect API (or of the mock), without a trailing slash.
    pub upstream: String,
    /// Sent as `x-bp-token` (and `x-bot-token` for `/demo/leads`); never answered or logged.
    pub token: Secret,
    /// Upstream timeout (default [`DEFAULT_UPSTREAM_TIMEOUT`]).
    pub timeout: Duration,
    /// Whole-request timeout (answers 408).
    pub request_timeout: Duration,
    /// Time allowed for a request's head, and for an idle keep-alive connection (the
    /// connection is closed).
    pub header_timeout: Duration,
    /// Whether `GET /demo/leads` exists: only when the upstream is the embedded mock,
    /// since it lists every lead to anyone who asks.
    pub demo: bool,
    /// A folder served as the fallback (its `index.html` for directories).
    pub www: Option<PathBuf>,
    /// Origins allowed by CORS; empty means any origin (never with credentials).
    pub allow_origins: Vec<HeaderValue>,
    /// The (botId, customerId) pairs the proxy writes for; `None` means any.
    pub allow_bots: Option<Vec<BotIds>>,
    /// Largest `/lead` body, in bytes.
    pub max_body_bytes: usize,
    /// Sustained `/lead` requests per minute per client IP (0: none) and burst.
    pub ip_limit: (u32, u32),
    /// Sustained `/lead` updates per minute per visitor UUID (0: none) and burst.
    pub uuid_limit: (u32, u32),
    /// Where the client IP comes from.
    pub client_ip: ClientIp,
    /// When set, updates touching name/email/phone need a signed visitor token.
    pub visitor_key: Option<VisitorKey>,
    /// Consecutive upstream failures that open the breaker (0: never), and its cool-down.
    pub breaker: (u32, Duration),
    /// The embedded mock's failure injection, driven by `PUT /demo/chaos` (mock mode).
    pub chaos: Option<Arc<Chaos>>,
    /// The certificates trusted for an `https://` upstream (`--upstream-ca`).
    pub upstream_trust: crate::trust::Trust,
}

impl ProxyConfig {
    /// A configuration forwarding to `upstream` with `token` and the `serve` defaults:
    /// no demo route, no static files, any origin, any bot, no visitor secret.
    pub fn new(upstream: impl Into<String>, token: Secret) -> Self {
        Self {
            upstream: upstream.into(),
            token,
            timeout: DEFAULT_UPSTREAM_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            demo: false,
            www: None,
            allow_origins: Vec::new(),
            allow_bots: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            ip_limit: (DEFAULT_IP_PER_MINUTE, DEFAULT_IP_BURST),
            uuid_limit: (DEFAULT_UUID_PER_MINUTE, DEFAULT_UUID_BURST),
            client_ip: ClientIp::Peer,
            visitor_key: None,
            breaker: (DEFAULT_BREAKER_FAILURES, DEFAULT_BREAKER_COOLDOWN),
            chaos: None,
            upstream_trust: crate::trust::Trust::default(),
        }
    }
}

/// The environment variable holding the Reekolect API token.
pub const TOKEN_ENV: &str = "REEKOLECT_API_TOKEN";

/// The real API, used by default when a token is set.
pub const DEFAULT_UPSTREAM: &str = "https://api.v7.express-chat.ai";

/// Where the proxy forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// The embedded mock, started in the same process on an ephemeral 127.0.0.1 port.
    Mock,
    /// A base URL (http or https), without a trailing slash.
    Url(String),
}

impl FromStr for Upstream {
    type Err = String;

    /// `mock`, or an absolute http(s) URL.
    fn from_str(value: &str) -> Result<Self, String> {
        if value == "mock" {
            return Ok(Upstream::Mock);
        }
        let url = url::Url::parse(value).map_err(|err| format!("{value:?} is neither `mock` nor a URL ({err})"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!("{value:?} must be `mock` or an http(s) URL"));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(format!("{value:?} must be a base URL without credentials, query or fragment"));
        }
        Ok(Upstream::Url(url.as_str().trim_end_matches('/').to_string()))
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Upstream::Mock => f.write_str("mock"),
            Upstream::Url(url) => f.write_str(url),
        }
    }
}
