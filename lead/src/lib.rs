//! The Reekolect lead: its wire format, its validation rules and the parsing of the
//! visitor context (UUID, BotId, CustomerId).
//!
//! This crate has no web or server dependencies, so the browser companion (wasm) and
//! the proxy (host) apply exactly the same rules, and every rule is tested on the host.

/// Whether the rules take their fast paths (ids and UUIDs checked eight bytes at a time,
/// printable ASCII text without decoding characters): in the proxy, which validates every
/// request, but not in the browser bundle, which validates a lead now and then and where
/// their code would cost 0.35 KB gzipped. Both ways give the same answers: tests on the host
/// hold the fast paths to the plain ones.
pub(crate) const FAST_PATHS: bool = !cfg!(target_arch = "wasm32");

mod context;
mod error;
pub mod forms;
mod merge;
mod model;
pub mod outbox;
pub mod pages;
pub mod retry;
pub mod text;
pub mod update_id;
mod validate;

pub use context::{find_visitor_uuid, is_uuid, parse_bot_page_url, parse_widget_script_text, BotIds};
pub use error::FieldError;
pub use model::{parse_lead, Attribute, Lead, Note, FIELDS, STATUSES};
pub use validate::{validate_fields, validate_lead, validate_lead_in_place, Limits};
