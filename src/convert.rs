//! Leads, outboxes and watermarks to and from plain JS values, by hand. serde with
//! serde-wasm-bindgen did the same, but cost most of the bundle (measured with twiggy):
//! this is the one place that knows the wire format's shape on the browser side.

use js_sys::{Array, Object, Reflect};
use reekolect_lead::outbox::{Entry, Outbox, Watermarks};
use reekolect_lead::text::{decimal, join};
use reekolect_lead::{Attribute, FieldError, Lead, Note};
use wasm_bindgen::{JsCast, JsValue};

fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn set(object: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(object, &JsValue::from_str(key), value);
}

fn absent(value: &JsValue) -> bool {
    value.is_undefined() || value.is_null()
}

/// What a JS value is, for error messages.
fn kind(value: &JsValue) -> &'static str {
    if value.is_string() {
        "a string"
    } else if value.as_f64().is_some() {
        "a number"
    } else if value.as_bool().is_some() {
        "a boolean"
    } else if Array::is_array(value) {
        "a list"
    } else if value.is_function() {
        "a function"
    } else if absent(value) {
        "nothing"
    } else {
        "an object"
    }
}

/// An optional string field; numbers are not silently turned into strings here.
fn string(object: &JsValue, field: &str, path: &str) -> Result<Option<String>, FieldError> {
    let value = get(object, field);
    if absent(&value) {
        return Ok(None);
    }
    value
        .as_string()
        .map(Some)
        .ok_or_else(|| FieldError::new(path, "must be a string (got ".to_string() + kind(&value) + ")"))
}

/// An attribute value: a string, or a number or boolean written as JS writes it.
fn scalar(value: &JsValue, path: &str) -> Result<String, FieldError> {
    if let Some(text) = value.as_string() {
        return Ok(text);
    }
    if let Some(number) = value.as_f64() {
        if number.is_finite() {
            return Ok(js_sys::Number::from(number).to_string_with_radix(10).map(String::from).unwrap_or_default());
        }
    }
    if let Some(flag) = value.as_bool() {
        return Ok(if flag { "true" } else { "false" }.into());
    }
    Err(FieldError::new(path, "must be a string, number or boolean (got ".to_string() + kind(value) + ")"))
}

fn list(object: &JsValue, field: &str) -> Result<Option<Array>, FieldError> {
    let value = get(object, field);
    if absent(&value) {
        return Ok(None);
    }
    value
        .dyn_into::<Array>()
        .map(Some)
        .map_err(|v| FieldError::new(field, "must be a list (got ".to_string() + kind(&v) + ")"))
}

fn unknown_key(object: &JsValue, known: &[&str], path: &str) -> Result<(), FieldError> {
    match crate::js::unknown_key(object, known) {
        Some(key) => Err(FieldError::new(
            if path.is_empty() { key } else { path.to_string() + "." + &key },
            "is not a known field (expected ".to_string() + &join(known.iter().copied(), ", ") + ")",
        )),
        None => Ok(()),
    }
}

fn item_path(list: &str, i: u32) -> String {
    list.to_string() + "[" + &decimal(i.into()) + "]"
}

/// Reads a lead update from a JS object. Only `allowed` top-level keys are accepted; the
/// first problem is named by its path (`attributes.plan`, `notes[0].title`).
pub fn lead_from_js(value: &JsValue, allowed: &[&str]) -> Result<Lead, FieldError> {
    if !value.is_object() || Array::is_array(value) {
        return Err(FieldError::new("fields", "must be an object like { email: \"…\" }"));
    }
    if let Some(key) = crate::js::unknown_key(value, allowed) {
        let settable: Vec<&str> =
            allowed.iter().copied().filter(|k| !["uuid", "botId", "customerId"].contains(k)).collect();
        return Err(FieldError::new(
            key,
            "is not a known field (expected one of ".to_string() + &join(settable, ", ") + ")",
        ));
    }
    let mut lead = Lead::default();
    for (key, slot) in lead.scalars_mut() {
        *slot = string(value, key, key)?;
    }
    if let Some(items) = list(value, "notes")? {
        let mut notes = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = item_path("notes", i as u32);
            if !item.is_object() || Array::is_array(&item) {
                return Err(FieldError::new(path, "must be an object like { title, description }"));
            }
            unknown_key(&item, &["title", "description"], &path)?;
            let title = string(&item, "title", &(path.clone() + ".title"))?
                .ok_or_else(|| FieldError::new(path.clone() + ".title", "is required"))?;
            let description = string(&item, "description", &(path + ".description"))?.unwrap_or_default();
            notes.push(Note { title, description });
        }
        lead.notes = Some(notes);
    }
    if let Some(items) = list(value, "tags")? {
        let mut tags = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = item_path("tags", i as u32);
            tags.push(
                item.as_string()
                    .ok_or_else(|| FieldError::new(path, "must be a string (got ".to_string() + kind(&item) + ")"))?,
            );
        }
        lead.tags = Some(tags);
    }
    let attributes = get(value, "attributes");
    if !absent(&attributes) {
        let mut pairs = Vec::new();
        if let Some(items) = attributes.dyn_ref::<Array>() {
            for (i, item) in items.iter().enumerate() {
                let path = item_path("attributes", i as u32);
                if !item.is_object() || Array::is_array(&item) {
                    return Err(FieldError::new(path, "must be an object like { key, value }"));
                }
                unknown_key(&item, &["key", "value"], &path)?;
                let key = string(&item, "key", &(path.clone() + ".key"))?
                    .ok_or_else(|| FieldError::new(path.clone() + ".key", "is required"))?;
                let value = scalar(&get(&item, "value"), &(path + ".value"))?;
                pairs.push(Attribute { key, value });
            }
        } else if attributes.is_object() && !attributes.is_function() {
            pairs = flat_object(&attributes, "attributes.")?;
        } else {
            return Err(FieldError::new("attributes", "must be { key: value } or a list of { key, value }"));
        }
        lead.attributes = Some(pairs);
    }
    Ok(lead)
}

/// The `{ key: value }` pairs of a flat object (attributes, an event's properties), each
/// value read by [`scalar`]; a broken rule is named `<prefix><key>`.
pub(crate) fn flat_object(object: &JsValue, prefix: &str) -> Result<Vec<Attribute>, FieldError> {
    let mut pairs = Vec::new();
    for entry in Object::entries(object.unchecked_ref()).iter() {
        let entry: Array = entry.unchecked_into();
        let key = entry.get(0).as_string().unwrap_or_default();
        let value = scalar(&entry.get(1), &(prefix.to_string() + &key))?;
        pairs.push(Attribute { key, value });
    }
    Ok(pairs)
}

/// `{ [first]: a, [second]: b }` with string values.
pub(crate) fn pair(first: &str, a: &str, second: &str, b: &str) -> JsValue {
    let item = Object::new();
    set(&item, first, &JsValue::from_str(a));
    set(&item, second, &JsValue::from_str(b));
    item.into()
}

/// The lead as a plain JS object in the wire format (camelCase, absent fields left out).
pub fn lead_to_js(lead: &Lead) -> Object {
    let object = Object::new();
    for (key, value) in lead.scalars() {
        if let Some(value) = value {
            set(&object, key, &JsValue::from_str(value));
        }
    }
    if let Some(notes) = &lead.notes {
        let array: Array = notes.iter().map(|n| pair("title", &n.title, "description", &n.description)).collect();
        set(&object, "notes", &array);
    }
    if let Some(tags) = &lead.tags {
        set(&object, "tags", &tags.iter().map(|t| JsValue::from_str(t)).collect::<Array>());
    }
    if let Some(attributes) = &lead.attributes {
        let array: Array = attributes.iter().map(|a| pair("key", &a.key, "value", &a.value)).collect();
        set(&object, "attributes", &array);
    }
    object
}

/// The wire JSON of a lead.
pub fn lead_to_json(lead: &Lead) -> String {
    js_sys::JSON::stringify(&lead_to_js(lead)).ok().and_then(|s| s.as_string()).unwrap_or_default()
}

fn number(object: &JsValue, key: &str) -> f64 {
    get(object, key).as_f64().unwrap_or(0.0)
}

/// The outbox as stored: `{ entries: [{ id, lead, attempts, notBefore, updated }] }`.
pub fn outbox_to_json(outbox: &Outbox) -> String {
    let entries: Array = outbox
        .entries
        .iter()
        .map(|entry| {
            let item = Object::new();
            set(&item, "id", &JsValue::from_str(&entry.id));
            set(&item, "lead", &lead_to_js(&entry.lead));
            set(&item, "attempts", &JsValue::from(entry.attempts));
            set(&item, "notBefore", &JsValue::from(entry.not_before));
            set(&item, "updated", &JsValue::from(entry.updated));
            JsValue::from(item)
        })
        .collect();
    let object = Object::new();
    set(&object, "entries", &entries);
    js_sys::JSON::stringify(&object).ok().and_then(|s| s.as_string()).unwrap_or_default()
}

/// Reads a stored outbox; entries that do not read back are skipped, not fatal.
pub fn outbox_from_json(text: &str) -> Option<Outbox> {
    let value = js_sys::JSON::parse(text).ok()?;
    let entries = get(&value, "entries").dyn_into::<Array>().ok()?;
    let entries = entries
        .iter()
        .filter_map(|item| {
            Some(Entry {
                id: get(&item, "id").as_string()?,
                lead: lead_from_js(&get(&item, "lead"), &reekolect_lead::FIELDS).ok()?,
                attempts: number(&item, "attempts") as u32,
                not_before: number(&item, "notBefore"),
                updated: number(&item, "updated"),
            })
        })
        .collect();
    Some(Outbox { entries })
}

/// Watermarks as stored: `{ field: time }`.
pub fn marks_to_json(marks: &Watermarks) -> String {
    let object = Object::new();
    for (field, time) in &marks.fields {
        set(&object, field, &JsValue::from(*time));
    }
    js_sys::JSON::stringify(&object).ok().and_then(|s| s.as_string()).unwrap_or_default()
}

/// Reads stored watermarks (empty when there are none, or they do not read back).
pub fn marks_from_json(text: &str) -> Watermarks {
    let Ok(value) = js_sys::JSON::parse(text) else { return Watermarks::default() };
    let Some(object) = value.dyn_ref::<Object>() else { return Watermarks::default() };
    let fields = Object::entries(object)
        .iter()
        .filter_map(|entry| {
            let entry: Array = entry.unchecked_into();
            Some((entry.get(0).as_string()?, entry.get(1).as_f64()?))
        })
        .collect();
    Watermarks { fields }
}
