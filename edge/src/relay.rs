//! What the Worker answers for each class of upstream answer (the proxy's relay table,
//! issue 19): JSON relayed with its status and the token scrubbed; anything else described,
//! never echoed; a redirect never followed.

use crate::error::ApiError;
use serde::Serialize;

/// Largest upstream answer read, in bytes (the proxy's).
pub const MAX_UPSTREAM_BODY: u32 = 1024 * 1024;

/// An upstream answer as it came: status, `Content-Type`, the origin its `Location` points to
/// (resolved against the upstream URL), `Retry-After`, and the body (read whole, at most
/// [`MAX_UPSTREAM_BODY`] bytes).
#[derive(Debug, Clone, Copy)]
pub struct UpstreamAnswer<'a> {
    /// The HTTP status.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<&'a str>,
    /// Where a redirect points, as an origin only; `None` without a `Location` or when it is
    /// not a URL with a host.
    pub location_origin: Option<&'a str>,
    /// `Retry-After`, if any.
    pub retry_after: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// The answer the Worker gives: status, JSON body, `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relayed {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: String,
    /// `Retry-After` to send, if any.
    pub retry_after: Option<String>,
}

impl From<ApiError> for Relayed {
    fn from(error: ApiError) -> Self {
        Self { status: error.status, body: error.body(), retry_after: error.retry_after.map(|s| s.to_string()) }
    }
}

/// The Worker's answer to `answer`, with `token` scrubbed from anything relayed.
pub fn relay(answer: &UpstreamAnswer<'_>, token: &str) -> Relayed {
    let status = answer.status;
    if (100..200).contains(&status) {
        return ApiError::new(502, format!("upstream answered {status}, which is not a final answer")).into();
    }
    if (300..400).contains(&status) {
        let message = match answer.location_origin {
            Some(origin) => format!("upstream redirected to {origin}"),
            None => "upstream redirected without a valid location".to_string(),
        };
        return ApiError::new(502, message).into();
    }
    if answer.body.len() > MAX_UPSTREAM_BODY as usize {
        return upstream_too_large().into();
    }
    // Retry-After is the API's own schedule for 429 and 503: the companion honours it.
    let retry_after = match status {
        429 | 503 => answer.retry_after.map(str::trim).filter(|v| is_retry_after(v)).map(str::to_string),
        _ => None,
    };
    let text = std::str::from_utf8(answer.body).ok();
    if let Some(text) = text.filter(|text| serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()) {
        return Relayed { status, body: scrub(text, token), retry_after };
    }
    let described = format!("{} {}", content_type_essence(answer.content_type), bytes(answer.body.len()));
    let body = if (200..300).contains(&status) {
        #[derive(Serialize)]
        struct Success<'a> {
            success: bool,
            code: u16,
            message: &'a str,
        }
        let message = format!("upstream sent no JSON: answered {status} ({described})");
        serde_json::to_string(&Success { success: true, code: status, message: &message }).expect("serialises")
    } else {
        ApiError::new(status, format!("upstream answered {status} ({described})")).body()
    };
    // 204 and 205 cannot carry a body: answered 200, the upstream's status in it (as the proxy).
    let status = if matches!(status, 204 | 205) { 200 } else { status };
    Relayed { status, body, retry_after }
}

/// The 502 for an answer over [`MAX_UPSTREAM_BODY`].
pub fn upstream_too_large() -> ApiError {
    ApiError::new(502, format!("upstream answer is larger than {MAX_UPSTREAM_BODY} bytes"))
}

/// `text` with every occurrence of `token` replaced (tokens are at least 16 characters, so
/// nothing else matches).
pub fn scrub(text: &str, token: &str) -> String {
    if token.is_empty() || !text.contains(token) {
        text.to_string()
    } else {
        text.replace(token, "[redacted]")
    }
}

/// `text/html` of `text/html; charset=utf-8`; `no content type` when absent.
fn content_type_essence(content_type: Option<&str>) -> String {
    match content_type.map(|v| v.split(';').next().unwrap_or("").trim()).filter(|v| !v.is_empty()) {
        Some(essence) if essence.bytes().all(|b| b.is_ascii_graphic()) && essence.len() <= 100 => {
            essence.to_ascii_lowercase() + ","
        }
        Some(_) => "unreadable content type,".to_string(),
        None => "no content type,".to_string(),
    }
}

fn bytes(n: usize) -> String {
    if n == 1 {
        "1 byte".to_string()
    } else {
        format!("{n} bytes")
    }
}

/// Delta-seconds, or an HTTP date (letters, digits, spaces, commas, colons).
fn is_retry_after(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 40
        && (value.bytes().all(|b| b.is_ascii_digit())
            || value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b',' || b == b':'))
}
