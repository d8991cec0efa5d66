//! Small helpers over plain JS values.

use js_sys::Object;
use wasm_bindgen::{JsCast, JsValue};

/// The first own key of `object` that is not in `known`: options and fields are checked
/// against their lists, so a misspelt key is an error instead of being dropped silently.
pub fn unknown_key(object: &JsValue, known: &[&str]) -> Option<String> {
    let object: &Object = object.dyn_ref()?;
    Object::keys(object).iter().filter_map(|key| key.as_string()).find(|key| !known.contains(&key.as_str()))
}

/// `{ [key]: value }` as a JS object.
pub fn object(key: &str, value: &JsValue) -> JsValue {
    let object = Object::new();
    let _ = js_sys::Reflect::set(&object, &JsValue::from_str(key), value);
    object.into()
}

/// A thrown JS value in words (an `Error`'s message, or the value as text).
pub fn describe(error: &JsValue) -> String {
    match error.dyn_ref::<js_sys::Error>() {
        Some(error) => error.message().into(),
        None => error.as_string().unwrap_or_else(|| "unknown error".into()),
    }
}

thread_local! {
    /// A rejection handler that does nothing, made once.
    static IGNORE: wasm_bindgen::closure::Closure<dyn FnMut(JsValue)> = wasm_bindgen::closure::Closure::new(|_: JsValue| {});
}

/// Marks `promise` as handled: its outcome reaches the page through events instead, and an
/// unhandled rejection would show as an error on the host page.
pub fn ignore_rejection(promise: &js_sys::Promise) {
    IGNORE.with(|ignore| {
        let _ = promise.catch(ignore);
    });
}
