//! The crate's errors: a configuration the Worker cannot run with, and the JSON error body
//! every answer uses (the proxy's `ApiError` body, field for field and in the same order).

use reekolect_lead::FieldError;
use serde::Serialize;
use std::fmt;

/// Why the Worker's vars and secrets cannot be used. Named after the setting at fault, never
/// showing a secret's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The secret `REEKOLECT_API_TOKEN` is not set (or blank).
    MissingToken,
    /// The token cannot be the API's: too short to be scrubbed safely, or not a header value.
    BadToken(&'static str),
    /// A var's value breaks its rule: (var name, rule).
    BadVar(&'static str, String),
    /// Neither `REEKOLECT_ALLOW_BOTS` nor `REEKOLECT_ALLOW_ANY_BOT` is set.
    NoAllowedBots,
    /// The vars are not a JSON object of strings (the JS entry's fault, not the owner's).
    Vars(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::MissingToken => {
                f.write_str("REEKOLECT_API_TOKEN: is not set (run `npx wrangler secret put REEKOLECT_API_TOKEN`)")
            }
            ConfigError::BadToken(rule) => write!(f, "REEKOLECT_API_TOKEN: {rule}"),
            ConfigError::BadVar(name, rule) => write!(f, "{name}: {rule}"),
            ConfigError::NoAllowedBots => f.write_str(
                "REEKOLECT_ALLOW_BOTS: say which bots this worker may write for, as BOTID:CUSTOMERID \
                 pairs separated by commas; without it the worker would be an open relay into every \
                 account the token can write (REEKOLECT_ALLOW_ANY_BOT = \"true\" accepts that risk)",
            ),
            ConfigError::Vars(err) => write!(f, "the worker's vars: {err}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// An error answered as JSON in the Reekolect API's style, as the proxy answers it:
/// `{"success":false,"code":400,"message":"email: …","errors":[{"field":"email","rule":"…"}]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status, repeated as `code`.
    pub status: u16,
    /// One line for people.
    pub message: String,
    /// The fields at fault, if any.
    pub errors: Vec<FieldError>,
    /// Seconds for `Retry-After`, if any.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error without field details.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), errors: Vec::new(), retry_after: None }
    }

    /// A 400 listing the fields at fault; the message joins them with "; ".
    pub fn fields(errors: Vec<FieldError>) -> Self {
        let message = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
        Self { status: 400, message, errors, retry_after: None }
    }

    /// An error about one field, its message `field: rule`.
    pub fn field(status: u16, field: &str, rule: impl Into<String>) -> Self {
        let mut error = Self::fields(vec![FieldError::new(field, rule)]);
        error.status = status;
        error
    }

    /// The same error answered with `Retry-After: seconds`.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        #[derive(Serialize)]
        struct Field<'a> {
            field: &'a str,
            rule: &'a str,
        }
        #[derive(Serialize)]
        struct Body<'a> {
            success: bool,
            code: u16,
            message: &'a str,
            #[serde(skip_serializing_if = "Vec::is_empty")]
            errors: Vec<Field<'a>>,
        }
        let errors = self.errors.iter().map(|e| Field { field: &e.field, rule: &e.rule }).collect();
        serde_json::to_string(&Body { success: false, code: self.status, message: &self.message, errors })
            .expect("strings and numbers serialise")
    }
}
