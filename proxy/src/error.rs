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
}

impl ApiError {
    /// An error without field details.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: Vec::new(),
        }
    }

    /// A 400 listing the fields at fault; the message joins them with "; ".
    pub fn fields(errors: Vec<FieldError>) -> Self {
        let message = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            status: StatusCode::BAD_REQUEST,
            message,
            errors,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "success": false,
            "code": self.status.as_u16(),
            "message": self.message,
        });
        if !self.errors.is_empty() {
            body["errors"] = self
                .errors
                .iter()
                .map(|e| json!({"field": e.field, "rule": e.rule}))
                .collect();
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &self.body())
    }
}

/// A response with `status` and `body` serialised as JSON.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Middleware for API routes: turns any error response that is not already JSON (a
/// 413 from the body limit, a 405, an extractor rejection) into an [`ApiError`] body.
pub(crate) async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!(
            "body: must be at most {} bytes",
            crate::proxy::MAX_BODY_BYTES
        ),
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed".to_string(),
        _ => status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase(),
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
