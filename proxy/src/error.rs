//! Errors answered as JSON.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use reekolect_lead::FieldError;
use serde_json::{json, Value};

/// An error answered as JSON in the Reekolect API's style:
/// `{"success":false,"code":400,"message":"email: must be …","errors":[{"field":"email","rule":"…"}]}`
/// (`errors` only when fields are at fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status, repeated as `code` in the body.
    pub status: StatusCode,
    /// One line for people.
    pub message: String,
    /// The fields at fault, if any.
    pub errors: Vec<FieldError>,
    /// Seconds for a `Retry-After` header (429, 503), if any.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error without field details.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), errors: Vec::new(), retry_after: None }
    }

    /// The same error answered with `Retry-After: seconds`.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// An error about one field (`status`, `field`, `rule`), its message `field: rule`.
    pub fn field(status: StatusCode, field: &str, rule: impl Into<String>) -> Self {
        let mut error = Self::fields(vec![FieldError::new(field, rule)]);
        error.status = status;
        error
    }

    /// A 400 listing the fields at fault; the message joins them with "; ".
    pub fn fields(errors: Vec<FieldError>) -> Self {
        let message = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
        Self { status: StatusCode::BAD_REQUEST, message, errors, retry_after: None }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "success": false,
            "code": self.status.as_u16(),
            "message": self.message,
        });
        if !self.errors.is_empty() {
            body["errors"] = self.errors.iter().map(|e| json!({"field": e.field, "rule": e.rule})).collect();
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = json_response(self.status, &self.body());
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A response with `status` and `body` serialised as JSON.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Middleware for API routes: turns any error response that is not already JSON (a
/// 413 from the body limit, a 405, an extractor rejection) into an [`ApiError`] body.
pub(crate) fn json_errors(max_body: usize, response: Response) -> Response {
    let status = response.status();
    // The status first: a success's headers are not looked at.
    let is_json = || {
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"))
    };
    if !(status.is_client_error() || status.is_server_error()) || is_json() {
        return response;
    }
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!("body: must be at most {max_body} bytes"),
        StatusCode::REQUEST_TIMEOUT => "request timeout: not answered in time".to_string(),
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed".to_string(),
        _ => status.canonical_reason().unwrap_or("error").to_ascii_lowercase(),
    };
    let mut replaced = ApiError::new(status, message).into_response();
    // Keep headers such as `allow` and the CORS ones from the original response.
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replaced.headers_mut().insert(name.clone(), value.clone());
        }
    }
    replaced
}
