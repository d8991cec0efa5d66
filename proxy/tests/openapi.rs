//! `GET /openapi.json` is kept true: every documented operation answers, every routed
//! path is documented, and the lead schema lists exactly `reekolect_lead::FIELDS`.

mod common;

use common::*;
use reekolect_proxy::cli::ServeArgs;
use reekolect_proxy::proxy::routed_paths;
use reekolect_proxy::{start, Upstream};
use serde_json::Value;
use std::collections::BTreeSet;

async fn document(base: &str) -> Value {
    let response = client().get(format!("{base}/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_operation_answers() {
    bounded(async {
        let serving = start(
            ServeArgs { listen: "127.0.0.1:0".parse().unwrap(), upstream: Some(Upstream::Mock), ..ServeArgs::new() },
            Some(TOKEN.into()),
        )
        .await
        .unwrap();
        let base = serving.proxy.url();
        let doc = document(&base).await;
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        let documented: BTreeSet<&str> = paths.keys().map(String::as_str).collect();
        let routed: BTreeSet<&str> = routed_paths(true).into_iter().collect();
        assert_eq!(documented, routed);
        for (path, operations) in paths {
            for (method, operation) in operations.as_object().unwrap() {
                let mut request = client().request(method.to_uppercase().parse().unwrap(), format!("{base}{path}"));
                if operation.get("requestBody").is_some() {
                    request = request.header("content-type", "application/json").body(base_lead(1).to_string());
                }
                if path == "/demo/leads" {
                    request = request.query(&[("botId", "b1"), ("customerId", "c1")]);
                }
                let status = request.send().await.unwrap().status().as_u16();
                let documented: Vec<&String> = operation["responses"].as_object().unwrap().keys().collect();
                assert!(
                    documented.iter().any(|code| *code == &status.to_string()),
                    "{method} {path} answered {status}, documented {documented:?}"
                );
            }
        }
        serving.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn the_demo_route_is_documented_only_in_mock_mode() {
    bounded(async {
        let proxy = proxy_to("http://127.0.0.1:9").await;
        let doc = document(&proxy.url()).await;
        let documented: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
        let routed: BTreeSet<String> = routed_paths(false).into_iter().map(String::from).collect();
        assert_eq!(documented, routed);
        assert!(!documented.contains("/demo/leads"));
        proxy.shutdown().await.unwrap();
    })
    .await
}

#[test]
fn the_lead_schema_lists_exactly_the_lead_fields() {
    let doc = reekolect_proxy::openapi::document(false);
    let schema = &doc["components"]["schemas"]["Lead"];
    let properties: Vec<&str> = schema["properties"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(properties, reekolect_lead::FIELDS.to_vec());
    assert_eq!(schema["additionalProperties"], false);
    for op in ["put", "post"] {
        let content = doc["paths"]["/lead"][op]["requestBody"]["content"].as_object().unwrap();
        for media in content.values() {
            assert_eq!(media["schema"]["$ref"], "#/components/schemas/Lead");
        }
    }
}

/// The schema's patterns and the proxy's rules part nowhere: for each field, generated
/// strings (valid shapes with characters replaced, inserted and removed, whitespace and
/// control characters of every kind, lengths around every bound) are accepted by the proxy
/// exactly when they match every pattern of the field's schema.
#[test]
fn the_patterns_accept_exactly_what_the_rules_accept() {
    use reekolect_proxy::proxy::read_lead;
    use serde_json::json;

    let doc = reekolect_proxy::openapi::document(false);
    let properties = &doc["components"]["schemas"]["Lead"]["properties"];
    let patterns = |schema: &Value| -> Vec<regex::Regex> {
        let mut found: Vec<&str> = schema["pattern"].as_str().into_iter().collect();
        for part in schema["allOf"].as_array().into_iter().flatten() {
            found.extend(part["pattern"].as_str());
        }
        assert!(!found.is_empty(), "no pattern in {schema}");
        found.into_iter().map(|p| regex::Regex::new(p).unwrap_or_else(|e| panic!("{p}: {e}"))).collect()
    };
    let text_schema = |schema: &Value| patterns(schema);
    let lead_schema = &doc["components"]["schemas"]["Lead"];
    let international =
        regex::Regex::new(lead_schema["if"]["properties"]["phone"]["pattern"].as_str().unwrap()).unwrap();
    assert_eq!(lead_schema["then"]["properties"]["dialCode"]["type"], "null");
    let cases: Vec<(&str, Vec<regex::Regex>, &[&str])> = vec![
        ("uuid", patterns(&properties["uuid"]), &["7e88d192-9b20-4035-9b68-d4ac3d58A34F"]),
        ("botId", patterns(&properties["botId"]), &["bot_1-A", "b"]),
        ("agentId", patterns(&properties["agentId"]), &["agent-7"]),
        ("status", patterns(&properties["status"]), &["inProgress", "DEPENDANCY", "closed"]),
        ("dialCode", patterns(&properties["dialCode"]), &["+44", "1", "+1234"]),
        ("phone", patterns(&properties["phone"]), &["+44 20 7946 0958", "(555) 010-9999", "+1-555.010.9999"]),
        ("picture", patterns(&properties["picture"]), &["https://cdn.example/a.png?x=1#y", "HTTP://u:p@h:8/p"]),
        ("email", patterns(&properties["email"]), &["Ada.L+x@Example.co.uk", "anna@müller.de", "a@b.cd"]),
        ("name", patterns(&properties["name"]), &["Ada Lovelace", "Zoë"]),
        ("tags", text_schema(&properties["tags"]["items"]), &["vip", "needs call"]),
        ("notes.title", text_schema(&properties["notes"]["items"]["properties"]["title"]), &["Call back"]),
        (
            "notes.description",
            text_schema(&properties["notes"]["items"]["properties"]["description"]),
            &["line\none\ttwo"],
        ),
        ("attributes.key", text_schema(&properties["attributes"]["anyOf"][0]["items"]["properties"]["key"]), &["plan"]),
        (
            "attributes.value",
            text_schema(&properties["attributes"]["anyOf"][0]["items"]["properties"]["value"]["anyOf"][0]),
            &["pro\r\nplan"],
        ),
    ];
    const ALPHABET: &[char] = &[
        'a', 'Z', 'f', '0', '1', '9', '-', '_', '.', '@', '+', ' ', '\t', '\n', '\r', '\u{b}', '\u{c}', '\u{0}',
        '\u{1}', '\u{1c}', '\u{1f}', '\u{7f}', '\u{80}', '\u{85}', '\u{9f}', '\u{a0}', '\u{ad}', 'é', 'ß', '€', '٣',
        '\u{1680}', '\u{2028}', '\u{202f}', '\u{3000}', '\u{feff}', '\u{200b}', '🎉', '(', ')', '"', '\\', ',', ';',
        ':', '<', '>', '[', ']', '#', '/', '?', 'h', 't', 'p', 's',
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut below = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for (field, regexes, seeds) in &cases {
        let (mut accepted, mut refused) = (0, 0);
        for round in 0..6_000 {
            let mut chars: Vec<char> = seeds[below(seeds.len())].chars().collect();
            // Edits: replace, insert or remove a few characters.
            for _ in 0..below(4) {
                let at = below(chars.len() + 1);
                match below(3) {
                    0 if at < chars.len() => chars[at] = ALPHABET[below(ALPHABET.len())],
                    1 => chars.insert(at, ALPHABET[below(ALPHABET.len())]),
                    _ if at < chars.len() => {
                        chars.remove(at);
                    }
                    _ => {}
                }
            }
            // Lengths around every bound: pad the middle to one of them.
            if round % 5 == 0 {
                let bound = [
                    62, 63, 64, 65, 66, 198, 199, 200, 201, 253, 254, 255, 999, 1000, 1001, 2047, 2048, 2049, 4999,
                    5000, 5001,
                ][below(21)];
                let filler = ['a', 'é', ' ', '0', '🎉'][below(5)];
                while chars.len() < bound {
                    chars.insert(chars.len() / 2, filler);
                }
            }
            // Whitespace around it, sometimes.
            if below(4) == 0 {
                chars.insert(0, [' ', '\n', '\u{3000}', '\u{85}', '\u{1c}'][below(5)]);
            }
            if below(4) == 0 {
                chars.push([' ', '\t', '\u{a0}', '\u{2028}', '\u{1f}'][below(5)]);
            }
            let value: String = chars.into_iter().collect();
            let mut lead = json!({"uuid": "7e88d192-9b20-4035-9b68-d4ac3d58a34f", "botId": "b", "customerId": "c"});
            match *field {
                "tags" => lead["tags"] = json!([value]),
                "notes.title" => lead["notes"] = json!([{"title": value}]),
                "notes.description" => lead["notes"] = json!([{"title": "t", "description": value}]),
                "attributes.key" => lead["attributes"] = json!([{"key": value, "value": "v"}]),
                "attributes.value" => lead["attributes"] = json!([{"key": "k", "value": value}]),
                other => lead[other] = json!(value),
            }
            let read = read_lead(lead.to_string().as_bytes());
            let by_rules = read.is_ok();
            let by_schema = regexes.iter().all(|regex| regex.is_match(&value));
            assert_eq!(by_rules, by_schema, "{field}: {value:?} (rules: {by_rules}, schema: {by_schema})");
            // The schema's `if` (a `+CC` phone, which then sets dialCode) names the same phones.
            if *field == "phone" && by_rules {
                let sets_dial_code = read.expect("read").dial_code.is_some();
                assert_eq!(international.is_match(&value), sets_dial_code, "phone {value:?}");
            }
            if by_rules {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
        // Both sides of every rule were reached.
        assert!(accepted > 200 && refused > 200, "{field}: {accepted} accepted, {refused} refused");
    }
}
