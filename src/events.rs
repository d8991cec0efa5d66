//! `on(event, handler)` / `off(event, handler)`: what the companion tells the page.

use js_sys::Function;
use wasm_bindgen::JsValue;

/// The events a page can listen to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// An update was accepted by the proxy: `{ update, answer }`.
    Sent,
    /// An update could not be delivered: `{ update, error }`.
    Failed,
    /// A call was refused before sending (it broke a rule): `{ error }`.
    Invalid,
    /// Something degraded without losing updates (storage full: the outbox is in memory
    /// only from now on): `{ error }`.
    Warning,
}

impl Event {
    /// The event named `name`, or an error listing the names.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "sent" => Ok(Self::Sent),
            "failed" => Ok(Self::Failed),
            "invalid" => Ok(Self::Invalid),
            "warning" => Ok(Self::Warning),
            _ => Err("unknown event \"".to_string() + name + "\" (expected sent, failed, invalid or warning)"),
        }
    }
}

/// The page's handlers, by event.
#[derive(Default)]
pub struct Listeners {
    handlers: Vec<(Event, Function)>,
}

impl Listeners {
    /// Adds `handler` for `event` (once: adding the same handler twice keeps one).
    pub fn add(&mut self, event: Event, handler: Function) {
        if !self.handlers.iter().any(|(e, h)| *e == event && h == &handler) {
            self.handlers.push((event, handler));
        }
    }

    /// Removes `handler` from `event`.
    pub fn remove(&mut self, event: Event, handler: &Function) {
        self.handlers.retain(|(e, h)| !(*e == event && h == handler));
    }

    /// The handlers of `event`, cloned so they can run without a borrow held.
    pub fn of(&self, event: Event) -> Vec<Function> {
        self.handlers.iter().filter(|(e, _)| *e == event).map(|(_, h)| h.clone()).collect()
    }
}

/// Calls each handler with `detail`. A handler that throws is reported on the console
/// and does not stop the others or the companion.
pub fn dispatch(handlers: Vec<Function>, detail: &JsValue) {
    for handler in handlers {
        if let Err(error) = handler.call1(&JsValue::NULL, detail) {
            web_sys::console::error_2(&"Reekolect: an event handler threw".into(), &error);
        }
    }
}
