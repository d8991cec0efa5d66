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
        assert_eq!(doc["openapi"], "3.0.3");
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
