//! Reekolect Companion: enriches the current chat visitor's lead from the browser.
//!
//! The visitor context (UUID, BotId, CustomerId) is read from the page, each call is
//! checked with the shared rules of [`reekolect_lead`], calls made within a short window
//! are merged into one update (see [`reekolect_lead::Lead::merge`]), and the update is
//! sent as a `PUT` to the site's proxy, which alone holds the API token.

mod config;
mod context;
mod error;
mod events;
mod js;
mod pipeline;
mod store;
mod transport;

use config::Config;
use error::CompanionError;
use events::Event;
use js_sys::{Array, Function, Object, Promise};
use pipeline::Pipeline;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

pub use context::VisitorContext;

/// A configured companion; made by the package's `init(config)`.
#[wasm_bindgen]
pub struct Companion {
    pipeline: Rc<Pipeline>,
}

/// Creates a companion from `config`; throws an `Error` naming the option when it is wrong.
#[wasm_bindgen(js_name = createCompanion)]
pub fn create_companion(config: JsValue) -> Result<Companion, JsValue> {
    let config = Config::from_js(config).map_err(JsValue::from)?;
    Ok(Companion { pipeline: Pipeline::start(config) })
}

/// `{ [key]: value }` as a JS object.
fn object(key: &str, value: &JsValue) -> JsValue {
    let object = Object::new();
    let _ = js_sys::Reflect::set(&object, &JsValue::from_str(key), value);
    object.into()
}

#[wasm_bindgen]
impl Companion {
    /// The current visitor context `{ uuid, botId, customerId }`. Throws an `Error` saying
    /// what is missing (for example, the visitor has not opened the chat yet).
    pub fn context(&self) -> Result<JsValue, JsValue> {
        let context = context::resolve(self.pipeline.config())?;
        Ok(serde_wasm_bindgen::to_value(&context).map_err(|e| CompanionError::Config(e.to_string()))?)
    }

    /// Updates the lead with any of its fields (agentId, status, picture, name, email,
    /// phone, dialCode, notes, tags, attributes). Resolves with the API's answer once the
    /// update (merged with the other calls of its window) is accepted; rejects with an
    /// `Error` whose message says what went wrong.
    #[wasm_bindgen(js_name = updateLead)]
    pub fn update_lead(&self, fields: JsValue) -> Promise {
        Pipeline::add(&self.pipeline, fields, None)
    }

    /// Sets who the visitor is: `{ name, email, phone, dialCode, picture }`.
    pub fn identify(&self, traits: JsValue) -> Promise {
        Pipeline::add(&self.pipeline, traits, Some(&["name", "email", "phone", "dialCode", "picture"]))
    }

    /// Sets custom attributes: `{ key: value, … }` (numbers and booleans become strings).
    #[wasm_bindgen(js_name = setAttributes)]
    pub fn set_attributes(&self, attributes: JsValue) -> Promise {
        self.single("attributes", &attributes)
    }

    /// Adds tags to the chat.
    #[wasm_bindgen(js_name = addTags)]
    pub fn add_tags(&self, tags: JsValue) -> Promise {
        self.single("tags", &tags)
    }

    /// Adds a note `{ title, description }` to the chat.
    #[wasm_bindgen(js_name = addNote)]
    pub fn add_note(&self, note: JsValue) -> Promise {
        self.single("notes", &Array::of1(&note))
    }

    /// Sets the chat's status (OPEN, INPROGRESS, REVIEW, ONHOLD, DEPENDANCY, CLOSED).
    #[wasm_bindgen(js_name = setStatus)]
    pub fn set_status(&self, status: JsValue) -> Promise {
        self.single("status", &status)
    }

    /// Assigns the chat to an agent.
    #[wasm_bindgen(js_name = assignAgent)]
    pub fn assign_agent(&self, agent_id: JsValue) -> Promise {
        self.single("agentId", &agent_id)
    }

    /// Sends what is waiting now instead of at the end of the window. Resolves with the
    /// API's answer (or `undefined` when nothing was waiting).
    pub fn flush(&self) -> Promise {
        Pipeline::flush(&self.pipeline)
    }

    /// Forgets every update not yet sent (for example on the site's logout, on a shared
    /// device); their promises reject with `code: "reset"`.
    pub fn reset(&self) {
        self.pipeline.reset();
    }

    /// Calls `handler` on `event`: "sent", "failed" or "invalid".
    pub fn on(&self, event: &str, handler: Function) -> Result<(), JsValue> {
        let event = Event::parse(event).map_err(CompanionError::Config)?;
        self.pipeline.listeners().add(event, handler);
        Ok(())
    }

    /// Stops calling `handler` on `event`.
    pub fn off(&self, event: &str, handler: Function) -> Result<(), JsValue> {
        let event = Event::parse(event).map_err(CompanionError::Config)?;
        self.pipeline.listeners().remove(event, &handler);
        Ok(())
    }

    fn single(&self, field: &str, value: &JsValue) -> Promise {
        Pipeline::add(&self.pipeline, object(field, value), None)
    }
}
