//! The options given to `init()`.

use crate::error::CompanionError;
use reekolect_lead::retry::Backoff;
use serde::Deserialize;
use wasm_bindgen::{JsCast, JsValue};

/// The names of the options `init()` takes.
const OPTIONS: [&str; 14] = [
    "proxyUrl",
    "uuidKey",
    "botId",
    "customerId",
    "botPageUrl",
    "batchWindowMs",
    "retryBaseMs",
    "retryMaxMs",
    "requestTimeoutMs",
    "captureForms",
    "requireConsent",
    "visitorToken",
    "beforeSend",
    "attribution",
];

/// How long calls are gathered into one update, unless `batchWindowMs` says otherwise.
const DEFAULT_BATCH_WINDOW_MS: u32 = 250;
/// The longest window allowed: longer would hold updates past a typical page visit.
const MAX_BATCH_WINDOW_MS: u32 = 10_000;

fn default_batch_window() -> u32 {
    DEFAULT_BATCH_WINDOW_MS
}

fn default_retry_base() -> u32 {
    1_000
}

fn default_retry_max() -> u32 {
    300_000
}

fn default_request_timeout() -> u32 {
    15_000
}

/// Options of a companion, as JS passes them (camelCase). Unknown options are an error,
/// so a misspelt `proxyURL` does not silently fall back to a default.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Base URL of the proxy (absolute, or a path on this site such as `/reekolect`).
    proxy_url: String,
    /// The `sessionStorage` key holding the visitor UUID; found automatically when unset.
    #[serde(default)]
    pub uuid_key: Option<String>,
    /// The bot's id, when it is not in the widget tag.
    #[serde(default)]
    pub bot_id: Option<String>,
    /// The customer account's id, when it is not in the widget tag.
    #[serde(default)]
    pub customer_id: Option<String>,
    /// A bot page URL (`https://page.Reekolect.online/BotId/CustomerId`) to read the ids from.
    #[serde(default)]
    pub bot_page_url: Option<String>,
    /// Calls made within this many milliseconds are merged into one request (default 250).
    #[serde(default = "default_batch_window")]
    pub batch_window_ms: u32,
    /// First retry after about this many milliseconds, doubling each time (default 1000).
    #[serde(default = "default_retry_base")]
    retry_base_ms: u32,
    /// Retries are at most this many milliseconds apart, unless the server asks for more (default 300000).
    #[serde(default = "default_retry_max")]
    retry_max_ms: u32,
    /// A send with no answer after this many milliseconds counts as failed (default 15000).
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u32,
    /// Capture every form of the page on submit (see `captureForms()`).
    #[serde(default)]
    pub capture_forms: bool,
    /// Capture and send nothing until `setConsent(true)`.
    #[serde(default)]
    pub require_consent: bool,
    /// A signed visitor token from the site's backend (see the proxy's `--visitor-secret`).
    #[serde(default)]
    pub visitor_token: Option<String>,
    /// Send the visitor's first touch (utm_*, referrer, landing page) once, as attributes.
    #[serde(default)]
    pub attribution: bool,
    /// `beforeSend(payload) => payload | null`: the site's last look at each update.
    #[serde(skip)]
    pub before_send: Option<js_sys::Function>,
    /// The retry schedule, from the two options above.
    #[serde(skip)]
    pub backoff: Backoff,
    /// `proxyUrl` + `/lead`, worked out once.
    #[serde(skip)]
    pub lead_endpoint: String,
}

impl Config {
    /// Reads and checks the options object.
    pub fn from_js(value: JsValue) -> Result<Self, CompanionError> {
        if !value.is_object() {
            return Err(CompanionError::Config(
                "init() needs an options object like { proxyUrl: \"/reekolect\" }".into(),
            ));
        }
        if let Some(unknown) = crate::js::unknown_key(&value, &OPTIONS) {
            return Err(CompanionError::Config(
                "init(): unknown option `".to_string() + &unknown + "` (expected one of " + &OPTIONS.join(", ") + ")",
            ));
        }
        let value_for_hooks = value.clone();
        let mut config: Config = serde_wasm_bindgen::from_value(value).map_err(|e| {
            let message = e.to_string();
            CompanionError::Config("init(): ".to_string() + message.strip_prefix("Error: ").unwrap_or(&message))
        })?;
        let base = config.proxy_url.trim().trim_end_matches('/');
        if base.is_empty() && !config.proxy_url.trim().starts_with('/') {
            return Err(CompanionError::Config(
                "init(): proxyUrl must be the proxy's URL, e.g. \"https://example.com/reekolect\"".into(),
            ));
        }
        config.lead_endpoint = base.to_string() + "/lead";
        if config.bot_id.is_some() != config.customer_id.is_some() {
            return Err(CompanionError::Config(
                "init(): botId and customerId go together: give both or neither".into(),
            ));
        }
        if config.retry_base_ms == 0 || config.retry_max_ms < config.retry_base_ms {
            return Err(CompanionError::Config(
                "init(): retryBaseMs must be at least 1 and retryMaxMs at least retryBaseMs".into(),
            ));
        }
        if config.request_timeout_ms < 100 {
            return Err(CompanionError::Config("init(): requestTimeoutMs must be at least 100".into()));
        }
        let hook = js_sys::Reflect::get(&value_for_hooks, &"beforeSend".into()).unwrap_or(JsValue::UNDEFINED);
        if !hook.is_undefined() && !hook.is_null() {
            config.before_send = Some(hook.dyn_into().map_err(|_| {
                CompanionError::Config("init(): beforeSend must be a function (payload) => payload | null".into())
            })?);
        }
        config.backoff = Backoff { base_ms: f64::from(config.retry_base_ms), max_ms: f64::from(config.retry_max_ms) };
        if config.batch_window_ms > MAX_BATCH_WINDOW_MS {
            return Err(CompanionError::Config("init(): batchWindowMs must be at most 10000".into()));
        }
        Ok(config)
    }
}
