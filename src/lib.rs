//! Reekolect Companion: enriches the current chat visitor's lead from the browser.
//!
//! The visitor context (UUID, BotId, CustomerId) is read from the page, the update is
//! checked with the shared rules of [`reekolect_lead`], and sent as a `PUT` to the
//! site's proxy, which alone holds the API token.

mod config;
mod context;
mod error;
mod js;
mod transport;

use config::Config;
use error::CompanionError;
use reekolect_lead::{parse_lead, validate_fields, FieldError, Lead, FIELDS};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

pub use context::VisitorContext;

/// A configured companion; made by the package's `init(config)`.
#[wasm_bindgen]
pub struct Companion {
    config: Rc<Config>,
}

/// Creates a companion from `config` (`{ proxyUrl, uuidKey?, botId?, customerId?, botPageUrl? }`).
/// Throws an `Error` naming the option when the config is wrong.
#[wasm_bindgen(js_name = createCompanion)]
pub fn create_companion(config: JsValue) -> Result<Companion, JsValue> {
    let config = Config::from_js(config).map_err(JsValue::from)?;
    Ok(Companion {
        config: Rc::new(config),
    })
}

#[wasm_bindgen]
impl Companion {
    /// The current visitor context `{ uuid, botId, customerId }`. Throws an `Error` saying
    /// what is missing (for example, the visitor has not opened the chat yet).
    pub fn context(&self) -> Result<JsValue, JsValue> {
        let context = context::resolve(&self.config)?;
        Ok(serde_wasm_bindgen::to_value(&context)
            .map_err(|e| CompanionError::Config(e.to_string()))?)
    }

    /// Sends `fields` (any of agentId, status, picture, name, email, phone, dialCode,
    /// notes, tags, attributes) as an update of the current visitor's lead. Resolves with
    /// the API's answer; rejects with an `Error` whose message says what went wrong.
    #[wasm_bindgen(js_name = updateLead)]
    pub fn update_lead(&self, fields: JsValue) -> js_sys::Promise {
        let prepared = prepare_update(&self.config, fields);
        let config = Rc::clone(&self.config);
        wasm_bindgen_futures::future_to_promise(async move {
            let lead = prepared?;
            Ok(transport::put_lead(&config.lead_endpoint, &lead).await?)
        })
    }
}

/// Checks the caller's fields and joins them with the visitor context.
fn prepare_update(config: &Config, fields: JsValue) -> Result<Lead, CompanionError> {
    if !fields.is_object() || js_sys::Array::is_array(&fields) {
        return Err(CompanionError::Invalid(vec![FieldError::new(
            "fields",
            "must be an object like { email: \"…\" }",
        )]));
    }
    js::check_lead_shape(&fields, &FIELDS).map_err(|e| CompanionError::Invalid(vec![e]))?;
    let lead = parse_lead(serde_wasm_bindgen::Deserializer::from(fields))
        .map_err(|e| CompanionError::Invalid(vec![e]))?;
    let identity = [
        ("uuid", &lead.uuid),
        ("botId", &lead.bot_id),
        ("customerId", &lead.customer_id),
    ];
    let taken: Vec<FieldError> = identity
        .iter()
        .filter(|(_, value)| value.is_some())
        .map(|(field, _)| {
            FieldError::new(
                *field,
                "comes from the visitor context; set it in init() if it must be fixed",
            )
        })
        .collect();
    if !taken.is_empty() {
        return Err(CompanionError::Invalid(taken));
    }
    let mut lead = validate_fields(lead).map_err(CompanionError::Invalid)?;
    let visitor = context::resolve(config)?;
    lead.uuid = Some(visitor.uuid);
    lead.bot_id = Some(visitor.bot_id);
    lead.customer_id = Some(visitor.customer_id);
    Ok(lead)
}
