//! Sends a lead update to the proxy.

use crate::error::CompanionError;
use gloo_net::http::Request;
use reekolect_lead::Lead;
use wasm_bindgen::JsValue;

/// `PUT`s `lead` as JSON to `endpoint`; resolves to the parsed JSON answer on 2xx.
pub async fn put_lead(endpoint: &str, lead: &Lead) -> Result<JsValue, CompanionError> {
    let body = to_json(lead)?;
    let response = Request::put(endpoint)
        .header("content-type", "application/json")
        .body(body)
        .map_err(|e| CompanionError::Network(e.to_string()))?
        .send()
        .await
        .map_err(|e| CompanionError::Network(e.to_string()))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let answer = js_sys::JSON::parse(&text).unwrap_or(JsValue::NULL);
    if response.ok() {
        return Ok(answer);
    }
    let message = js_sys::Reflect::get(&answer, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| {
            if text.is_empty() {
                response.status_text()
            } else {
                text.chars().take(200).collect()
            }
        });
    Err(CompanionError::Rejected { status, message })
}

/// The wire JSON of a lead, without pulling serde_json into the bundle.
fn to_json(lead: &Lead) -> Result<String, CompanionError> {
    let value =
        serde_wasm_bindgen::to_value(lead).map_err(|e| CompanionError::Config(e.to_string()))?;
    js_sys::JSON::stringify(&value)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| CompanionError::Config("the update could not be encoded as JSON".into()))
}
