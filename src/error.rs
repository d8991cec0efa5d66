//! The companion's errors, and how they reach JS: always as an `Error` object.

use reekolect_lead::text::{decimal, join};
use reekolect_lead::FieldError;
use wasm_bindgen::JsValue;

/// Everything that can go wrong in a call.
#[derive(Debug)]
pub enum CompanionError {
    /// `init()` got options it cannot use.
    Config(String),
    /// Fields of the update broke a rule; nothing was sent.
    Invalid(Vec<FieldError>),
    /// The visitor context is incomplete (no UUID yet, no bot ids).
    Context(String),
    /// Web storage is blocked or refused a write; the outbox carries on in memory.
    Storage(String),
    /// `reset()` dropped the update before it was sent.
    Reset,
    /// The site's `beforeSend` hook threw or returned an invalid update: dropped.
    Hook(String),
    /// The proxy or the API answered with an error status.
    Rejected {
        /// HTTP status of the answer.
        status: u16,
        /// What the answer said.
        message: String,
    },
    /// `track()` over its limits: resolved without sending (a `warning`, never a rejection).
    Limit(String),
}

impl CompanionError {
    /// A short machine-readable kind, set as the `Error`'s `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Config(_) => "config",
            Self::Invalid(_) => "invalid",
            Self::Context(_) => "context",
            Self::Storage(_) => "storage",
            Self::Reset => "reset",
            Self::Hook(_) => "hook",
            Self::Rejected { .. } => "rejected",
            Self::Limit(_) => "limit",
        }
    }

    /// The human-readable message.
    pub fn message(&self) -> String {
        match self {
            Self::Config(message) | Self::Context(message) | Self::Hook(message) => "Reekolect: ".to_string() + message,
            Self::Invalid(errors) => {
                let described: Vec<String> = errors.iter().map(FieldError::describe).collect();
                "Reekolect: invalid update, nothing sent: ".to_string()
                    + &join(described.iter().map(String::as_str), "; ")
            }
            Self::Reset => "Reekolect: reset() dropped this update before it was sent".to_string(),
            Self::Storage(message) => {
                "Reekolect: web storage is unavailable (".to_string()
                    + message
                    + "); pending updates are kept in memory only"
            }
            Self::Rejected { status, message } => {
                "Reekolect: the proxy answered ".to_string() + &decimal((*status).into()) + ": " + message
            }
            Self::Limit(message) => "Reekolect: ".to_string() + message,
        }
    }
}

impl From<CompanionError> for JsValue {
    /// An `Error` with `name` "ReekolectError", a `code`, and for invalid updates the
    /// first `field`/`rule` plus every one in `errors`.
    fn from(error: CompanionError) -> JsValue {
        let js_error = js_sys::Error::new(&error.message());
        js_error.set_name("ReekolectError");
        let set = |key: &str, value: &JsValue| {
            let _ = js_sys::Reflect::set(&js_error, &JsValue::from_str(key), value);
        };
        set("code", &JsValue::from_str(error.code()));
        match &error {
            CompanionError::Invalid(errors) => {
                if let Some(first) = errors.first() {
                    set("field", &JsValue::from_str(&first.field));
                    set("rule", &JsValue::from_str(&first.rule));
                }
                let list = js_sys::Array::new();
                for e in errors {
                    let item = js_sys::Object::new();
                    let _ = js_sys::Reflect::set(&item, &"field".into(), &JsValue::from_str(&e.field));
                    let _ = js_sys::Reflect::set(&item, &"rule".into(), &JsValue::from_str(&e.rule));
                    list.push(&item);
                }
                set("errors", &list);
            }
            CompanionError::Rejected { status, .. } => set("status", &JsValue::from(*status)),
            _ => {}
        }
        js_error.into()
    }
}
