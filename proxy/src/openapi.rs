//! The OpenAPI 3.1 document of the proxy's own routes, served at `GET /openapi.json`.
//!
//! The lead schema states every rule of [`reekolect_lead::validate_lead`] that JSON Schema can
//! state, built from the crate's own constants ([`FIELDS`], [`STATUSES`], [`Limits`]) and from
//! the very predicates the rules use (`char::is_whitespace`, which `str::trim` follows, and
//! `char::is_control`), so that a body valid by this document is one the proxy accepts and
//! one it refuses is invalid by it. `tests/openapi.rs` holds each pattern to the rules on
//! generated strings; `npm test` runs schemathesis against the served document.
//!
//! Patterns are written for the common subset of ECMA-262, Python's `re` and Rust's `regex`:
//! anchored with `^…$`, `\uXXXX` escapes, no look-around.

use reekolect_lead::{Limits, FIELDS, STATUSES};
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// The class body (for `[…]`) of the characters below U+10000 for which `keep` holds, as
/// `\uXXXX` ranges. Panics if an astral character would be in it (none of ours are).
fn class(keep: impl Fn(char) -> bool) -> String {
    let mut out = String::new();
    let mut run: Option<(u32, u32)> = None;
    let flush = |run: Option<(u32, u32)>, out: &mut String| match run {
        Some((start, end)) if start == end => out.push_str(&format!("\\u{start:04X}")),
        Some((start, end)) => out.push_str(&format!("\\u{start:04X}-\\u{end:04X}")),
        None => {}
    };
    for c in (0..=0x10FFFF).filter_map(char::from_u32) {
        if !keep(c) {
            continue;
        }
        let code = c as u32;
        assert!(code <= 0xFFFF, "an astral character in a class: {code:X}");
        run = match run {
            Some((start, end)) if end + 1 == code => Some((start, code)),
            other => {
                flush(other, &mut out);
                Some((code, code))
            }
        };
    }
    flush(run, &mut out);
    out
}

/// The character classes the patterns are made of, computed once.
struct Classes {
    /// What `str::trim` removes.
    space: String,
    /// Control characters, refused in every text.
    control: String,
    /// Control characters but `\n`, `\t` and `\r`, refused in multi-line texts.
    control_multiline: String,
    /// ASCII characters but letters, digits and `-`: what an email's domain may not hold.
    not_in_domain: String,
}

fn classes() -> &'static Classes {
    static CLASSES: OnceLock<Classes> = OnceLock::new();
    CLASSES.get_or_init(|| Classes {
        space: class(char::is_whitespace),
        control: class(char::is_control),
        control_multiline: class(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')),
        not_in_domain: class(|c| c.is_ascii() && !c.is_ascii_alphanumeric() && c != '-'),
    })
}

/// `inner`, with any whitespace around it (the rules trim first), anchored.
fn trimmed(inner: &str) -> String {
    let space = &classes().space;
    format!("^[{space}]*{inner}[{space}]*$")
}

/// A text of `min` (0 or 1) to `max` characters once trimmed, without control characters
/// (but line breaks and tabs when `multiline`): the rule of names, titles, tags, keys, values.
pub fn text_pattern(min: usize, max: usize, multiline: bool) -> String {
    assert!(min <= 1 && max >= 2);
    let Classes { space, control, control_multiline, .. } = classes();
    let inside = if multiline { control_multiline } else { control };
    let edge = format!("[^{space}{control}]");
    let body = format!("{edge}(?:[^{inside}]{{0,{}}}{edge})?", max - 2);
    trimmed(&if min == 0 { format!("(?:{body})?") } else { body })
}

/// An id (`botId`, `customerId`, `agentId`): 1 to [`Limits::ID`] ASCII letters, digits, `-`
/// or `_`, once trimmed.
pub fn id_pattern() -> String {
    trimmed(&format!("[A-Za-z0-9_-]{{1,{}}}", Limits::ID))
}

/// The visitor's UUID, `8-4-4-4-12` hex digits of either case, not trimmed.
pub fn uuid_pattern() -> String {
    "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$".to_string()
}

/// Each of [`STATUSES`] in any ASCII case, once trimmed.
pub fn status_pattern() -> String {
    let any_case =
        |status: &str| -> String { status.chars().map(|c| format!("[{}{}]", c, c.to_ascii_lowercase())).collect() };
    trimmed(&format!("(?:{})", STATUSES.iter().map(|s| any_case(s)).collect::<Vec<_>>().join("|")))
}

/// `+` (optional) and 1 to 4 digits, the first not `0`, once trimmed.
pub fn dial_code_pattern() -> String {
    trimmed("\\+?[1-9][0-9]{0,3}")
}

/// A phone number once trimmed: digits with spaces, dashes, dots or parentheses; 4 to 15
/// digits, or `+` then 8 to 15 digits, the first not `0`.
pub fn phone_pattern() -> String {
    let sep = PHONE_SEPARATORS;
    trimmed(&format!("(?:(?:{sep}[0-9]){{4,15}}|{}){sep}", international_digits()))
}

/// What may stand between a phone number's digits.
const PHONE_SEPARATORS: &str = "[ .()-]*";

/// `+` then 8 to 15 digits, the first not `0`, separators between them.
fn international_digits() -> String {
    let sep = PHONE_SEPARATORS;
    format!("\\+{sep}[1-9](?:{sep}[0-9]){{7,14}}")
}

/// A phone number starting with `+CC` (whose code then goes to `dialCode`).
pub fn international_phone_pattern() -> String {
    trimmed(&format!("{}{}", international_digits(), PHONE_SEPARATORS))
}

/// An absolute http(s) URL, once trimmed: a host (after any `user@`) that is not empty and
/// does not start with `:`, and no whitespace or control character anywhere.
pub fn picture_patterns() -> Vec<String> {
    let Classes { space, control, .. } = classes();
    let solid = format!("{space}{control}");
    vec![
        trimmed(&format!(
            "[Hh][Tt][Tt][Pp][Ss]?://(?:[^/?#{solid}]*@)?[^/?#@:{solid}][^/?#@{solid}]*(?:[/?#][^{solid}]*)?"
        )),
        // The length, once trimmed (the URL itself has no whitespace).
        trimmed(&format!("[^{space}]{{1,{}}}", Limits::URL)),
    ]
}

/// An email address once trimmed, as three patterns that must all match: its shape (a local
/// part without whitespace, control characters, `@<>()[]\,;:"` or stray dots; a domain of
/// labels of ASCII letters, digits, `-` or any non-ASCII character, not starting or ending with
/// `-`, the last of 2 or more characters), the local part's length, and the last label not all
/// digits. Its total length is `maxLength`-like but trimmed: a fourth pattern.
pub fn email_patterns() -> Vec<String> {
    let Classes { space, control, not_in_domain, .. } = classes();
    let local_char = format!("[^{space}{control}@<>()\\[\\]\\\\,;:\".]");
    // Negated classes, so that every non-ASCII character is in (astral ones too).
    let label_char = format!("[^{not_in_domain}]");
    let label_edge = format!("[^{not_in_domain}\\-]");
    // The last label ends the trimmed value: its last character is not whitespace.
    let last_edge = format!("[^{not_in_domain}\\-{space}]");
    let label = format!("{label_edge}(?:{label_char}{{0,{}}}{label_edge})?", Limits::EMAIL_LABEL - 2);
    let last = format!("{label_edge}{label_char}{{0,{}}}{last_edge}", Limits::EMAIL_LABEL - 2);
    vec![
        trimmed(&format!("{local_char}+(?:\\.{local_char}+)*@(?:{label}\\.)+{last}")),
        format!("^[{space}]*[^@]{{1,{}}}@", Limits::EMAIL_LOCAL),
        format!("(?:[^.0-9][^.]*[^.{space}]|[^.0-9{space}])[{space}]*$"),
        format!("^[{space}]*(?:[^{space}][\\s\\S]{{0,{}}})?[^{space}][{space}]*$", Limits::EMAIL - 2),
    ]
}

/// A string schema, `null` allowed (an absent field), matching every pattern.
fn nullable_string(patterns: Vec<String>, description: &str) -> Value {
    let mut schema = json!({"type": ["string", "null"], "description": description});
    match patterns.len() {
        1 => schema["pattern"] = Value::String(patterns.into_iter().next().expect("one pattern")),
        _ => schema["allOf"] = patterns.into_iter().map(|p| json!({"pattern": p})).collect(),
    }
    schema
}

fn text(min: usize, max: usize, multiline: bool) -> Value {
    json!({"type": "string", "pattern": text_pattern(min, max, multiline)})
}

/// The JSON schema of one lead field, by its wire name.
fn field_schema(name: &str) -> Value {
    let list = |items: Value| json!({"type": ["array", "null"], "maxItems": Limits::LIST, "items": items});
    let scalar = json!({"anyOf": [text(0, Limits::VALUE, true), {"type": "number"}, {"type": "boolean"}],
        "description": format!("At most {} characters; numbers and booleans become strings.", Limits::VALUE)});
    match name {
        "uuid" => json!({"type": "string", "pattern": uuid_pattern(),
            "description": "The visitor's UUID, created by the chat widget (any case)."}),
        "botId" | "customerId" => json!({"type": "string", "pattern": id_pattern(),
            "description": format!("1 to {} letters, digits, '-' or '_' (trimmed).", Limits::ID)}),
        "agentId" => nullable_string(vec![id_pattern()], "1 to 64 letters, digits, '-' or '_' (trimmed)."),
        "status" => nullable_string(
            vec![status_pattern()],
            &format!("One of {}, any case in, canonical out.", STATUSES.join(", ")),
        ),
        "picture" => nullable_string(
            picture_patterns(),
            &format!("An absolute http(s) URL of at most {} characters.", Limits::URL),
        ),
        "name" => nullable_string(
            vec![text_pattern(1, Limits::SHORT_TEXT, false)],
            &format!("1 to {} characters once trimmed, no control characters.", Limits::SHORT_TEXT),
        ),
        "email" => nullable_string(email_patterns(), "An email address; its domain is lower-cased."),
        "phone" => nullable_string(
            vec![phone_pattern()],
            "4 to 15 digits with spaces, dashes, dots or parentheses; a leading +CC moves into dialCode \
             (and must then agree with a dialCode given with it).",
        ),
        "dialCode" => nullable_string(vec![dial_code_pattern()], "+ and 1 to 4 digits (the + added when missing)."),
        "notes" => list(json!({
            "type": "object", "additionalProperties": false, "required": ["title"],
            "properties": {
                "title": text(1, Limits::SHORT_TEXT, false),
                "description": text(0, Limits::LONG_TEXT, true)}})),
        "tags" => list(text(1, Limits::KEY, false)),
        "attributes" => json!({"anyOf": [
            {"type": "array", "maxItems": Limits::LIST, "items": {
                "type": "object", "additionalProperties": false, "required": ["key", "value"],
                "properties": {"key": text(1, Limits::KEY, false), "value": scalar}}},
            {"type": "object", "maxProperties": Limits::LIST,
                "propertyNames": text(1, Limits::KEY, false), "additionalProperties": scalar},
            {"type": "null"}],
            "description": "As [{key, value}] or {key: value}; the last value of a key wins."}),
        other => unreachable!("a lead field without a schema: {other}"),
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
        // A `+CC` phone sets the dial code; a `dialCode` sent with it must be the same code.
        // Equality between two fields is beyond JSON Schema: this states the stricter "not both".
        "if": {"required": ["phone"], "properties": {"phone": {"type": "string", "pattern": international_phone_pattern()}}},
        "then": {"properties": {"dialCode": {"type": "null"}}},
    })
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// An error answer that carries `Retry-After`.
fn retry_response(description: &str) -> Value {
    let mut response = error_response(description);
    response["headers"] = json!({"Retry-After": {"description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0}}});
    response
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// The operation shared by `PUT` and `POST /lead`.
fn lead_operation(summary: &str, content_types: &[&str]) -> Value {
    let content: Map<String, Value> = content_types
        .iter()
        .map(|t| (t.to_string(), json!({"schema": {"$ref": "#/components/schemas/Lead"}})))
        .collect();
    let mut operation = json!({
        "summary": summary,
        "parameters": [
            {"name": "x-reekolect-visitor", "in": "header", "required": false, "schema": {"type": "string"},
             "description": "Signed visitor token, needed for name/email/phone when the proxy has a visitor secret."},
            {"name": "visitor", "in": "query", "required": false, "schema": {"type": "string"},
             "description": "The visitor token, where headers cannot be set (sendBeacon)."},
            {"name": "updateId", "in": "query", "required": false,
             "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"},
             "description": "The update's id (32 hex digits, kept across retries): the proxy forwards an id \
                once; a repeat within its window gets the first delivery's answer, one while the first is \
                on its way waits for it. Never sent upstream."}
        ],
        "requestBody": {"required": true, "content": content},
        "responses": {
            "200": json_response(
                "The upstream's JSON answer, relayed (for an `updateId` delivered before, that answer again).",
                json!({"type": "object"})),
            "400": error_response("The body is not a valid lead, or `updateId` is malformed; `errors` names \
                every field and rule."),
            "401": error_response("Visitor token missing, expired, for another uuid, or badly signed."),
            "403": error_response("This proxy does not write for that botId/customerId."),
            "408": error_response("The request took longer than the request timeout."),
            "413": error_response("Body larger than the proxy's limit (64 KiB by default)."),
            "429": retry_response("Rate limit (client IP or visitor)."),
            "502": error_response("The upstream could not be used: unreachable, TLS refused, redirected, \
                or answered something that is not a lead answer; `message` says which."),
            "503": retry_response("The upstream circuit breaker is open, or the upstream answered 503."),
            "504": error_response("The upstream did not answer within the upstream timeout."),
            "default": json_response(
                "Any other status the upstream answered, relayed with its JSON (the token scrubbed).",
                json!({"type": "object"})),
        }
    });
    if content_types.len() > 1 {
        operation["responses"]["415"] = error_response("Content type other than text/plain or application/json.");
    }
    operation
}

/// The document; the `/demo/…` routes are included only when `demo` (mock mode).
pub fn document(demo: bool) -> Value {
    let ok = json!({"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean", "const": true}}});
    let mut paths = json!({
        "/lead": {
            "put": lead_operation("Validate a lead update and forward it upstream", &["application/json"]),
            "post": lead_operation("The same, as a CORS simple request (navigator.sendBeacon)", &["text/plain", "application/json"]),
        },
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": json_response("The process answers.", ok)}}},
        "/readyz": {"get": {"summary": "Readiness: the upstream accepts connections", "responses": {
            "200": json_response("Upstream reachable.", json!({"type": "object", "required": ["ok", "upstream", "breakerOpen"],
                "properties": {"ok": {"const": true}, "upstream": {"const": "reachable"}, "breakerOpen": {"type": "boolean"}}})),
            "503": error_response("Upstream unreachable.")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "Text exposition format.",
            "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/openapi.json": {"get": {"summary": "This document", "responses": {
            "200": json_response("OpenAPI 3.1 document.", json!({"type": "object", "required": ["openapi", "paths"]}))}}},
    });
    if demo {
        let id = json!({"type": "string", "pattern": format!("[^{}]", classes().space)});
        paths["/demo/leads"] = json!({"get": {"summary": "Every chat of a bot (mock mode only)",
            "parameters": [
                {"name": "botId", "in": "query", "required": true, "schema": id},
                {"name": "customerId", "in": "query", "required": true, "schema": id},
                {"name": "type", "in": "query", "required": false, "schema": {"type": "string", "enum": ["lead", "non-lead", "all"]}}],
            "responses": {
                "200": json_response("The chats, oldest first.", json!({"type": "object", "required": ["leads"],
                    "properties": {"leads": {"type": "array", "items": {"type": "object"}}}})),
                "400": error_response("A parameter is missing (or blank) or `type` is not one of the three."),
                "502": error_response("The mock could not be listed."),
                "504": error_response("The mock did not answer in time.")}}});
        let rate = json!({"type": "number", "minimum": 0, "maximum": 1});
        let chaos = json!({"type": "object", "additionalProperties": false, "properties": {
            "failRate": rate, "hangRate": rate,
            "maxDelayMs": {"type": "integer", "minimum": 0, "maximum": 60000},
            "failRetryAfterS": {"type": "integer", "minimum": 0, "maximum": 3600}},
            "description": "failRate + hangRate must be at most 1 (a rule JSON Schema cannot state: 400)."});
        let chaos_answer = json_response(
            "`{\"chaos\": {...}}`: the settings now.",
            json!({"type": "object", "required": ["chaos"],
            "properties": {"chaos": {"type": "object", "required": ["failRate", "hangRate", "maxDelayMs"]}}}),
        );
        paths["/demo/chaos"] = json!({
            "get": {"summary": "The embedded mock's failure injection (mock mode only)", "responses": {"200": chaos_answer}},
            "put": {"summary": "Change the embedded mock's failure injection (mock mode only)",
                "requestBody": {"required": true, "content": {"application/json": {"schema": chaos}}},
                "responses": {"200": chaos_answer, "400": error_response("Not such an object, out of bounds, or rates summing over 1."),
                    "408": error_response("The request took longer than the request timeout."),
                    "413": error_response("Body larger than the proxy's limit.")}}});
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "reekolect-proxy", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Validates Reekolect lead updates and forwards them with the API token."},
        "paths": paths,
        "components": {"schemas": {
            "Lead": lead_schema(),
            "Error": {"type": "object", "required": ["success", "code", "message"], "properties": {
                "success": {"const": false}, "code": {"type": "integer"}, "message": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object", "required": ["field", "rule"], "properties": {
                    "field": {"type": "string"}, "rule": {"type": "string"}}}}}},
        }},
    })
}
