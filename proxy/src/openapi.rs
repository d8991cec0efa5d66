//! The OpenAPI 3 document of the proxy's own routes, served at `GET /openapi.json`.
//! The lead schema is built from [`reekolect_lead::FIELDS`], so it cannot drift from the
//! model; tests check that every documented operation answers and every route is documented.

use reekolect_lead::{FIELDS, STATUSES};
use serde_json::{json, Map, Value};

/// The JSON schema of one lead field, by its wire name.
fn field_schema(name: &str) -> Value {
    match name {
        "uuid" => {
            json!({"type": "string", "format": "uuid", "description": "The visitor's UUID, created by the chat widget."})
        }
        "botId" | "customerId" | "agentId" => json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}),
        "status" => json!({"type": "string", "enum": STATUSES, "description": "Any case in, canonical out."}),
        "picture" => json!({"type": "string", "format": "uri"}),
        "email" => json!({"type": "string", "format": "email"}),
        "phone" => json!({"type": "string", "description": "4-15 digits; a leading +CC moves into dialCode."}),
        "dialCode" => json!({"type": "string", "pattern": "^\\+?[0-9]{1,4}$"}),
        "notes" => json!({"type": "array", "maxItems": 100, "items": {
            "type": "object", "additionalProperties": false, "required": ["title"],
            "properties": {"title": {"type": "string"}, "description": {"type": "string"}}}}),
        "tags" => json!({"type": "array", "maxItems": 100, "items": {"type": "string", "minLength": 1}}),
        "attributes" => json!({"oneOf": [
            {"type": "array", "maxItems": 100, "items": {"type": "object", "additionalProperties": false,
                "required": ["key", "value"],
                "properties": {"key": {"type": "string"}, "value": {"type": ["string", "number", "boolean"]}}}},
            {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}]}),
        _ => json!({"type": "string"}),
    }
}

/// The `Lead` request schema: exactly [`FIELDS`], `uuid`/`botId`/`customerId` required.
pub fn lead_schema() -> Value {
    let properties: Map<String, Value> = FIELDS.iter().map(|name| (name.to_string(), field_schema(name))).collect();
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["uuid", "botId", "customerId"],
        "properties": properties,
    })
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// The operation shared by `PUT` and `POST /lead`.
fn lead_operation(summary: &str, content_types: &[&str]) -> Value {
    let content: Map<String, Value> = content_types
        .iter()
        .map(|t| (t.to_string(), json!({"schema": {"$ref": "#/components/schemas/Lead"}})))
        .collect();
    json!({
        "summary": summary,
        "parameters": [
            {"name": "x-reekolect-visitor", "in": "header", "required": false, "schema": {"type": "string"},
             "description": "Signed visitor token, needed for name/email/phone when the proxy has a visitor secret."},
            {"name": "visitor", "in": "query", "required": false, "schema": {"type": "string"},
             "description": "The visitor token, where headers cannot be set (sendBeacon)."}
        ],
        "requestBody": {"required": true, "content": content},
        "responses": {
            "200": {"description": "The upstream's answer, relayed.", "content": {"application/json": {"schema": {"type": "object"}}}},
            "400": error_response("The body is not a valid lead; `errors` names every field."),
            "401": error_response("Visitor token missing, expired, for another uuid, or badly signed."),
            "403": error_response("This proxy does not write for that botId/customerId."),
            "413": error_response("Body too large."),
            "429": error_response("Rate limit (client IP or visitor); see Retry-After."),
            "502": error_response("Upstream unreachable."),
            "503": error_response("Upstream circuit breaker open; see Retry-After."),
            "504": error_response("Upstream timeout."),
        }
    })
}

/// The document; `/demo/leads` is included only when `demo` (mock mode).
pub fn document(demo: bool) -> Value {
    let ok = |description: &str| json!({"200": {"description": description}});
    let mut paths = json!({
        "/lead": {
            "put": lead_operation("Validate a lead update and forward it upstream", &["application/json"]),
            "post": lead_operation("The same, as a CORS simple request (navigator.sendBeacon)", &["text/plain", "application/json"]),
        },
        "/healthz": {"get": {"summary": "Liveness", "responses": ok("The process answers.")}},
        "/readyz": {"get": {"summary": "Readiness: the upstream accepts connections", "responses": {
            "200": {"description": "Upstream reachable."}, "503": error_response("Upstream unreachable.")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "Text exposition format.",
            "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/openapi.json": {"get": {"summary": "This document", "responses": ok("OpenAPI 3 document.")}},
    });
    if demo {
        paths["/demo/leads"] = json!({"get": {"summary": "Every chat of a bot (mock mode only)",
            "parameters": [
                {"name": "botId", "in": "query", "required": true, "schema": {"type": "string"}},
                {"name": "customerId", "in": "query", "required": true, "schema": {"type": "string"}},
                {"name": "type", "in": "query", "required": false, "schema": {"type": "string", "enum": ["lead", "non-lead", "all"]}}],
            "responses": ok("`{\"leads\": [...]}`")}});
        let chaos = json!({"type": "object", "additionalProperties": false, "properties": {
            "failRate": {"type": "number", "minimum": 0, "maximum": 1},
            "hangRate": {"type": "number", "minimum": 0, "maximum": 1},
            "maxDelayMs": {"type": "integer", "minimum": 0, "maximum": 60000},
            "failRetryAfterS": {"type": "integer", "minimum": 0, "maximum": 3600}}});
        paths["/demo/chaos"] = json!({
            "get": {"summary": "The embedded mock's failure injection (mock mode only)", "responses": ok("`{\"chaos\": {...}}`")},
            "put": {"summary": "Change the embedded mock's failure injection (mock mode only)",
                "requestBody": {"required": true, "content": {"application/json": {"schema": chaos}}},
                "responses": {"200": {"description": "`{\"chaos\": {...}}`"}, "400": error_response("Out of bounds.")}}});
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "reekolect-proxy", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Validates Reekolect lead updates and forwards them with the API token."},
        "paths": paths,
        "components": {"schemas": {
            "Lead": lead_schema(),
            "Error": {"type": "object", "required": ["success", "code", "message"], "properties": {
                "success": {"type": "boolean"}, "code": {"type": "integer"}, "message": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object", "properties": {
                    "field": {"type": "string"}, "rule": {"type": "string"}}}}}},
        }},
    })
}
