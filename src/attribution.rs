//! First-touch attribution: where the visitor first came from (utm_* parameters, referrer,
//! landing page), captured on the first page this browser shows of the site and sent once
//! per tab session as attributes. The record never changes once taken, so sending it again
//! can never overwrite it with a later touch.

use crate::store::{local, session};
use reekolect_lead::{validate_fields, Attribute, Lead, Limits};
use wasm_bindgen::JsValue;

const RECORD_KEY: &str = "reekolect:first-touch";
const QUEUED_KEY: &str = "reekolect:first-touch-queued";
const UTM: [&str; 5] = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];

/// The first-touch attributes to send from this page, if this tab has not sent them yet.
/// None without web storage: this page's touch may not be the first, and a later touch
/// must never pass for the first one.
pub fn first_touch() -> Option<Lead> {
    let (session, local) = (session()?, local()?);
    if session.get_item(QUEUED_KEY).ok().flatten().is_some() {
        return None;
    }
    let attributes = match local.get_item(RECORD_KEY).ok().flatten().and_then(|text| read(&text)) {
        Some(recorded) => recorded,
        None => {
            let now = capture();
            let _ = local.set_item(RECORD_KEY, &write(&now));
            now
        }
    };
    let _ = session.set_item(QUEUED_KEY, "1");
    validate_fields(Lead { attributes: Some(attributes), ..Lead::default() }).ok()
}

/// Forgets the record (a shared device's next visitor starts clean).
pub fn forget() {
    if let Some(local) = local() {
        let _ = local.remove_item(RECORD_KEY);
    }
    if let Some(session) = session() {
        let _ = session.remove_item(QUEUED_KEY);
    }
}

/// The touch of this page.
fn capture() -> Vec<Attribute> {
    let Some(window) = web_sys::window() else { return Vec::new() };
    let location = window.location();
    let mut attributes = Vec::new();
    let mut add = |key: &str, value: String| {
        let value: String = value.trim().chars().take(Limits::VALUE).collect();
        if !value.is_empty() {
            attributes.push(Attribute { key: key.to_string(), value });
        }
    };
    if let Ok(params) = location.search().and_then(|search| web_sys::UrlSearchParams::new_with_str(&search)) {
        for key in UTM {
            if let Some(value) = params.get(key) {
                add(key, value);
            }
        }
    }
    if let Some(referrer) = window.document().map(|d| d.referrer()) {
        add("referrer", referrer);
    }
    // Origin and path only: a query string can carry tokens that are nobody's business.
    add("landing_page", location.origin().unwrap_or_default() + &location.pathname().unwrap_or_default());
    attributes
}

fn write(attributes: &[Attribute]) -> String {
    let object = js_sys::Object::new();
    for attribute in attributes {
        let _ = js_sys::Reflect::set(&object, &JsValue::from_str(&attribute.key), &JsValue::from_str(&attribute.value));
    }
    js_sys::JSON::stringify(&object).ok().and_then(|s| s.as_string()).unwrap_or_default()
}

fn read(text: &str) -> Option<Vec<Attribute>> {
    let object: js_sys::Object = wasm_bindgen::JsCast::dyn_into(js_sys::JSON::parse(text).ok()?).ok()?;
    let entries = js_sys::Object::entries(&object);
    Some(
        entries
            .iter()
            .filter_map(|pair| {
                let pair = js_sys::Array::from(&pair);
                Some(Attribute { key: pair.get(0).as_string()?, value: pair.get(1).as_string()? })
            })
            .collect(),
    )
}
