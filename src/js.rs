//! Small helpers over plain JS values.

use js_sys::{Array, Object, Reflect};
use reekolect_lead::FieldError;
use wasm_bindgen::{JsCast, JsValue};

/// The first own key of `object` that is not in `known`. serde-wasm-bindgen reads only
/// the fields a struct names, so unknown keys would otherwise be dropped silently.
pub fn unknown_key(object: &JsValue, known: &[&str]) -> Option<String> {
    let object: &Object = object.dyn_ref()?;
    Object::keys(object).iter().filter_map(|key| key.as_string()).find(|key| !known.contains(&key.as_str()))
}

/// What serde-wasm-bindgen would let through that the wire format does not allow:
/// unknown keys (at the top, in notes, in `{key, value}` attributes) and strings where a
/// list belongs (JS strings are iterable, so "vip" would read as ["v", "i", "p"]).
pub fn check_lead_shape(fields: &JsValue, known: &[&str]) -> Result<(), FieldError> {
    if let Some(unknown) = unknown_key(fields, known) {
        let settable: Vec<&str> =
            known.iter().copied().filter(|k| !["uuid", "botId", "customerId"].contains(k)).collect();
        return Err(FieldError::new(
            unknown,
            "is not a known field (expected one of ".to_string() + &settable.join(", ") + ")",
        ));
    }
    for (list, item_keys) in
        [("tags", None), ("notes", Some(["title", "description"])), ("attributes", Some(["key", "value"]))]
    {
        let value = Reflect::get(fields, &JsValue::from_str(list)).unwrap_or(JsValue::UNDEFINED);
        let Some(array) = value.dyn_ref::<Array>() else {
            if list != "attributes" && !value.is_undefined() && !value.is_null() {
                return Err(FieldError::new(list, "must be a list (an array)"));
            }
            continue;
        };
        let Some(item_keys) = item_keys else { continue };
        for (i, item) in array.iter().enumerate() {
            if let Some(unknown) = unknown_key(&item, &item_keys) {
                let field = list.to_string() + "[" + &i.to_string() + "]." + &unknown;
                return Err(FieldError::new(
                    field,
                    "is not a known field (expected ".to_string() + &item_keys.join(", ") + ")",
                ));
            }
        }
    }
    Ok(())
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
