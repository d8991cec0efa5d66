//! The Worker's configuration: secrets and vars (`wrangler.toml`'s `[vars]`), read with the
//! rules of the proxy's `serve` options of the same names.

use crate::error::ConfigError;
use crate::visitor::VisitorKey;
use reekolect_lead::{parse_widget_script_text, BotIds};
use serde::Deserialize;

/// The real API, used when `REEKOLECT_UPSTREAM` is not set (as the proxy does with a token).
pub const DEFAULT_UPSTREAM: &str = "https://api.v7.express-chat.ai";
/// Default largest `/lead` body, in bytes (the proxy's 64 KiB).
pub const DEFAULT_MAX_BODY_BYTES: u32 = 64 * 1024;
/// Default limit on one upstream call, in milliseconds (the proxy's 10 s).
pub const DEFAULT_UPSTREAM_TIMEOUT_MS: u32 = 10_000;
/// Default period of the rate-limit bindings, in seconds (also the `Retry-After` of their 429s).
pub const DEFAULT_LIMIT_PERIOD_SECONDS: u32 = 60;
/// Shortest API token accepted: scrubbing a shorter one from answers could mangle them.
pub const MIN_TOKEN_CHARS: usize = 16;

/// The vars and secrets as the JS entry hands them over (strings, all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct Vars {
    /// Secret: the Reekolect API token.
    pub reekolect_api_token: Option<String>,
    /// The API's base URL.
    pub reekolect_upstream: Option<String>,
    /// `BOTID:CUSTOMERID` pairs, comma-separated.
    pub reekolect_allow_bots: Option<String>,
    /// `"true"` to forward for any bot.
    pub reekolect_allow_any_bot: Option<String>,
    /// Origins allowed by CORS, comma-separated (empty: any).
    pub reekolect_allow_origins: Option<String>,
    /// Largest `/lead` body in bytes.
    pub reekolect_max_body_bytes: Option<String>,
    /// Limit on one upstream call, like `10s` or `1500ms`.
    pub reekolect_upstream_timeout: Option<String>,
    /// Secret: signs visitor tokens; unset means none are needed.
    pub reekolect_visitor_secret: Option<String>,
    /// The path the Worker's route puts in front of `/lead`, like `/reekolect`.
    pub reekolect_base_path: Option<String>,
    /// The period of the rate-limit bindings, in seconds.
    pub reekolect_limit_period: Option<String>,
}

/// The configuration, checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// The API token (never answered).
    pub token: String,
    /// Base URL, without a trailing slash.
    pub upstream: String,
    /// The pairs written for; `None` means any.
    pub allow_bots: Option<Vec<BotIds>>,
    /// Origins allowed by CORS; empty means any.
    pub allow_origins: Vec<String>,
    /// Largest `/lead` body.
    pub max_body_bytes: u32,
    /// Limit on one upstream call.
    pub upstream_timeout_ms: u32,
    /// When set, identity updates need a signed visitor token.
    pub visitor_key: Option<VisitorKey>,
    /// `""` or `/segments` without a trailing slash.
    pub base_path: String,
    /// The rate-limit bindings' period.
    pub limit_period_seconds: u32,
}

/// A var's value when set and not blank.
fn set(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl Config {
    /// Checks `vars`, naming the first setting at fault.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let token = set(&vars.reekolect_api_token).ok_or(ConfigError::MissingToken)?.to_string();
        if token.chars().count() < MIN_TOKEN_CHARS {
            return Err(ConfigError::BadToken("is shorter than 16 characters: not a Reekolect API token"));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::BadToken("must be printable ASCII without spaces (it is sent as a header)"));
        }
        let upstream = match set(&vars.reekolect_upstream) {
            Some(url) => parse_upstream(url)?,
            None => DEFAULT_UPSTREAM.to_string(),
        };
        let any_bot = set(&vars.reekolect_allow_any_bot).is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        let allow_bots = match set(&vars.reekolect_allow_bots) {
            Some(list) => Some(
                list.split(',')
                    .map(parse_bot_pair)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|rule| ConfigError::BadVar("REEKOLECT_ALLOW_BOTS", rule))?,
            ),
            None if any_bot => None,
            None => return Err(ConfigError::NoAllowedBots),
        };
        let allow_origins = match set(&vars.reekolect_allow_origins) {
            Some(list) => list
                .split(',')
                .map(|origin| parse_origin(origin.trim()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|rule| ConfigError::BadVar("REEKOLECT_ALLOW_ORIGINS", rule))?,
            None => Vec::new(),
        };
        let number = |name: &'static str, value: &Option<String>, default: u32| match set(value) {
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ConfigError::BadVar(name, format!("{text:?} is not a whole number above 0"))),
            None => Ok(default),
        };
        let max_body_bytes =
            number("REEKOLECT_MAX_BODY_BYTES", &vars.reekolect_max_body_bytes, DEFAULT_MAX_BODY_BYTES)?;
        let limit_period_seconds =
            number("REEKOLECT_LIMIT_PERIOD", &vars.reekolect_limit_period, DEFAULT_LIMIT_PERIOD_SECONDS)?;
        let upstream_timeout_ms = match set(&vars.reekolect_upstream_timeout) {
            Some(text) => parse_duration_ms(text).ok_or_else(|| {
                ConfigError::BadVar(
                    "REEKOLECT_UPSTREAM_TIMEOUT",
                    format!("{text:?} is not a duration like 10s or 1500ms"),
                )
            })?,
            None => DEFAULT_UPSTREAM_TIMEOUT_MS,
        };
        let base_path = match set(&vars.reekolect_base_path) {
            Some(path) => parse_base_path(path)?,
            None => String::new(),
        };
        Ok(Self {
            token,
            upstream,
            allow_bots,
            allow_origins,
            max_body_bytes,
            upstream_timeout_ms,
            visitor_key: set(&vars.reekolect_visitor_secret).map(VisitorKey::new),
            base_path,
            limit_period_seconds,
        })
    }
}

/// An absolute http(s) base URL without credentials, query or fragment; the trailing slash dropped.
fn parse_upstream(url: &str) -> Result<String, ConfigError> {
    let bad = |rule: &str| ConfigError::BadVar("REEKOLECT_UPSTREAM", format!("{url:?} {rule}"));
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad("must be an http(s) URL"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || url.contains(['?', '#']) || host.contains('@') || url.chars().any(char::is_whitespace) {
        return Err(bad("must be a base URL without credentials, query or fragment"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// `scheme://host[:port]` with nothing after it, as browsers send in `Origin` (the proxy's
/// `--allow-origin` rule).
pub fn parse_origin(value: &str) -> Result<String, String> {
    let rule = || format!("{value:?} is not an origin like https://shop.example or http://localhost:3000");
    let rest = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://")).ok_or_else(rule)?;
    if rest.is_empty()
        || rest.contains(['/', '?', '#', '@'])
        || rest.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(rule());
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(rule());
    }
    Ok(value.to_string())
}

/// `BOTID:CUSTOMERID`, each id 1–64 letters, digits, `-` or `_` (the proxy's `--allow-bot` rule).
pub fn parse_bot_pair(value: &str) -> Result<BotIds, String> {
    let rule = || format!("{value:?} is not BOTID:CUSTOMERID (ids of letters, digits, '-' or '_')");
    let (bot, customer) = value.trim().split_once(':').ok_or_else(rule)?;
    if bot.contains(',') || customer.contains(',') {
        return Err(rule());
    }
    parse_widget_script_text(&format!("{bot},{customer}")).map_err(|_| rule())
}

/// `10s`, `1500ms` or `2m` as milliseconds (above 0).
fn parse_duration_ms(text: &str) -> Option<u32> {
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: u32 = digits.parse().ok()?;
    let ms = match unit.trim() {
        "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        _ => None,
    }?;
    (ms > 0).then_some(ms)
}

/// `/segments` without a trailing slash (`/` alone means none).
fn parse_base_path(path: &str) -> Result<String, ConfigError> {
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return Ok(String::new());
    }
    if !path.starts_with('/') || path.contains(['?', '#', ' ']) {
        return Err(ConfigError::BadVar("REEKOLECT_BASE_PATH", format!("{path:?} is not a path like /reekolect")));
    }
    Ok(path.to_string())
}

/// `ms` as the proxy writes durations (humantime): `10s`, `500ms`, `1s 500ms`, `2m`.
pub fn format_duration(ms: u32) -> String {
    let (minutes, seconds, millis) = (ms / 60_000, ms / 1000 % 60, ms % 1000);
    let mut parts = Vec::new();
    if minutes > 0 {
        parts.push(format!("{minutes}m"));
    }
    if seconds > 0 {
        parts.push(format!("{seconds}s"));
    }
    if millis > 0 || parts.is_empty() {
        parts.push(format!("{millis}ms"));
    }
    parts.join(" ")
}
