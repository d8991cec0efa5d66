//! The options given to `init()`.

use crate::error::CompanionError;
use js_sys::Reflect;
use reekolect_lead::retry::Backoff;
use reekolect_lead::text::{decimal, join};
use wasm_bindgen::{JsCast, JsValue};

/// The names of the options `init()` takes.
const OPTIONS: [&str; 15] = [
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
    "trackPages",
];

/// The longest batch window allowed: longer would hold updates past a typical page visit.
const MAX_BATCH_WINDOW_MS: u32 = 10_000;

/// Options of a companion, read from the JS object (camelCase). Unknown options are an
/// error, so a misspelt `proxyURL` does not silently fall back to a default.
#[derive(Debug)]
pub struct Config {
    /// The `sessionStorage` key holding the visitor UUID; found automatically when unset.
    pub uuid_key: Option<String>,
    /// The bot's id, when it is not in the widget tag.
    pub bot_id: Option<String>,
    /// The customer account's id, when it is not in the widget tag.
    pub customer_id: Option<String>,
    /// A bot page URL (`https://page.Reekolect.online/BotId/CustomerId`) to read the ids from.
    pub bot_page_url: Option<String>,
    /// Calls made within this many milliseconds are merged into one request (default 250).
    pub batch_window_ms: u32,
    /// A send with no answer after this many milliseconds counts as failed (default 15000).
    pub request_timeout_ms: u32,
    /// Capture every form of the page on submit (see `captureForms()`).
    pub capture_forms: bool,
    /// Capture and send nothing until `setConsent(true)`.
    pub require_consent: bool,
    /// A signed visitor token from the site's backend (see the proxy's `--visitor-secret`).
    pub visitor_token: Option<String>,
    /// Send the visitor's first touch (utm_*, referrer, landing page) once, as attributes.
    pub attribution: bool,
    /// Send page context (visits, last page, trail) as attributes: see [`crate::pages`].
    pub track_pages: bool,
    /// `beforeSend(payload) => payload | null`: the site's last look at each update.
    pub before_send: Option<js_sys::Function>,
    /// The retry schedule, from `retryBaseMs` (default 1000) and `retryMaxMs` (default 300000).
    pub backoff: Backoff,
    /// `proxyUrl` + `/lead`, worked out once.
    pub lead_endpoint: String,
}

fn config_error(text: impl Into<String>) -> CompanionError {
    CompanionError::Config("init(): ".to_string() + &text.into())
}

struct Options(JsValue);

impl Options {
    fn get(&self, name: &str) -> Option<JsValue> {
        Reflect::get(&self.0, &JsValue::from_str(name)).ok().filter(|v| !v.is_undefined() && !v.is_null())
    }

    fn string(&self, name: &str) -> Result<Option<String>, CompanionError> {
        self.get(name)
            .map(|v| v.as_string().ok_or_else(|| config_error(name.to_string() + " must be a string")))
            .transpose()
    }

    fn flag(&self, name: &str) -> Result<bool, CompanionError> {
        self.get(name)
            .map_or(Ok(false), |v| v.as_bool().ok_or_else(|| config_error(name.to_string() + " must be true or false")))
    }

    fn millis(&self, name: &str, default: u32, min: u32, max: u32) -> Result<u32, CompanionError> {
        let Some(value) = self.get(name) else { return Ok(default) };
        match value.as_f64() {
            Some(ms) if ms.fract() == 0.0 && ms >= f64::from(min) && ms <= f64::from(max) => Ok(ms as u32),
            _ => Err(config_error(
                name.to_string()
                    + " must be a whole number of milliseconds from "
                    + &decimal(min.into())
                    + " to "
                    + &decimal(max.into()),
            )),
        }
    }
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
            return Err(config_error(
                "unknown option `".to_string() + &unknown + "` (expected one of " + &join(OPTIONS, ", ") + ")",
            ));
        }
        let options = Options(value);
        let proxy_url = options.string("proxyUrl")?.ok_or_else(|| config_error("missing field `proxyUrl`"))?;
        let base = proxy_url.trim().trim_end_matches('/');
        if base.is_empty() && !proxy_url.trim().starts_with('/') {
            return Err(config_error("proxyUrl must be the proxy's URL, e.g. \"https://example.com/reekolect\""));
        }
        let (bot_id, customer_id) = (options.string("botId")?, options.string("customerId")?);
        if bot_id.is_some() != customer_id.is_some() {
            return Err(config_error("botId and customerId go together: give both or neither"));
        }
        let retry_base_ms = options.millis("retryBaseMs", 1_000, 1, 3_600_000)?;
        let retry_max_ms = options.millis("retryMaxMs", 300_000, retry_base_ms, 86_400_000)?;
        let before_send = match options.get("beforeSend") {
            Some(hook) => Some(
                hook.dyn_into::<js_sys::Function>()
                    .map_err(|_| config_error("beforeSend must be a function (payload) => payload | null"))?,
            ),
            None => None,
        };
        Ok(Config {
            uuid_key: options.string("uuidKey")?,
            bot_id,
            customer_id,
            bot_page_url: options.string("botPageUrl")?,
            batch_window_ms: options.millis("batchWindowMs", 250, 0, MAX_BATCH_WINDOW_MS)?,
            request_timeout_ms: options.millis("requestTimeoutMs", 15_000, 100, 600_000)?,
            capture_forms: options.flag("captureForms")?,
            require_consent: options.flag("requireConsent")?,
            visitor_token: options.string("visitorToken")?,
            attribution: options.flag("attribution")?,
            track_pages: options.flag("trackPages")?,
            before_send,
            backoff: Backoff { base_ms: f64::from(retry_base_ms), max_ms: f64::from(retry_max_ms) },
            lead_endpoint: base.to_string() + "/lead",
        })
    }
}
