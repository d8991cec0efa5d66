//! The Worker's rules held to the proxy's own functions (the reference), on the host (the lead
//! itself is read by the proxy's own reader, `reekolect-lead-json`): the same error bodies byte for byte, the same visitor-token
//! verdicts, the same settings accepted.

use reekolect_edge::config::{format_duration, parse_bot_pair, parse_origin};
use reekolect_edge::visitor::VisitorKey;
use reekolect_edge::{ApiError, Edge};
use reekolect_lead::FieldError;
use std::time::Duration;

const UUID: &str = "7e88d192-9b20-4035-9b68-d4ac3d58a34f";

#[test]
fn error_bodies_are_the_proxys_byte_for_byte() {
    let fields =
        vec![FieldError::new("email", "must be an email address"), FieldError::new("tags[1]", "must not be \"\"")];
    let edge = ApiError::fields(fields.clone()).body();
    let proxy = reekolect_proxy::ApiError::fields(fields).body().to_string();
    assert_eq!(edge, proxy);
    let edge = ApiError::new(502, "upstream unreachable: \"x\"").body();
    let proxy =
        reekolect_proxy::ApiError::new(http::StatusCode::BAD_GATEWAY, "upstream unreachable: \"x\"").body().to_string();
    assert_eq!(edge, proxy);
}

#[test]
fn visitor_tokens_get_the_proxys_verdicts() {
    let secret = "a visitor secret";
    let proxy_key = reekolect_proxy::visitor::VisitorKey::new(secret);
    let edge_key = VisitorKey::new(secret);
    let now = 1_800_000_000;
    let good = proxy_key.sign(UUID, now + 60);
    let other = reekolect_proxy::visitor::VisitorKey::new("another").sign(UUID, now + 60);
    let tokens = [
        None,
        Some(good.clone()),
        Some(format!("  {good}  ")),
        Some(good.to_uppercase()),
        Some(proxy_key.sign(UUID, now)),
        Some(proxy_key.sign("7e88d192-9b20-4035-9b68-000000000000", now + 60)),
        Some(proxy_key.sign(&UUID.to_uppercase(), now + 60)),
        Some(other),
        Some("v1.x".to_string()),
        Some("v2.a.b.c".to_string()),
        Some(format!("v1.{UUID}.soon.sig")),
        Some(format!("{good}==")),
        Some(String::new()),
    ];
    for token in tokens {
        let edge = edge_key.verify(token.as_deref(), UUID, now).map_err(|e| (e.reason(), e.to_string()));
        let proxy = proxy_key.verify(token.as_deref(), UUID, now).map_err(|e| (e.reason(), e.to_string()));
        assert_eq!(edge, proxy, "{token:?}");
    }
}

#[test]
fn settings_are_accepted_as_the_proxy_accepts_them() {
    for origin in [
        "https://a.example",
        "http://localhost:3000",
        "https://a.example/",
        "a.example",
        "*",
        "https://",
        "https://u@a",
    ] {
        assert_eq!(parse_origin(origin).is_ok(), reekolect_proxy::cli::parse_origin(origin).is_ok(), "{origin}");
    }
    for pair in ["b1:c1", " b1:c1 ", "b1", "b1:c1:d1", "b 1:c1", ":c1", "b1:", "b-1_x:C_2"] {
        let edge = parse_bot_pair(pair).map(|ids| (ids.bot_id, ids.customer_id));
        let proxy = reekolect_proxy::cli::parse_bot_pair(pair).map(|ids| (ids.bot_id, ids.customer_id));
        assert_eq!(edge, proxy, "{pair}");
    }
}

#[test]
fn durations_are_written_as_the_proxy_writes_them() {
    for ms in [1, 500, 1000, 1500, 10_000, 60_000, 61_001, 600_000] {
        let proxy = humantime::format_duration(Duration::from_millis(u64::from(ms))).to_string();
        assert_eq!(format_duration(ms), proxy, "{ms}");
    }
}

fn edge(extra: &str) -> Edge {
    let vars = format!(
        r#"{{"REEKOLECT_API_TOKEN":"a-token-of-32-characters-0123456","REEKOLECT_UPSTREAM":"http://127.0.0.1:9/",
            "REEKOLECT_ALLOW_BOTS":"b1:c1"{extra}}}"#
    );
    Edge::new(&vars).unwrap_or_else(|err| panic!("{err}"))
}

#[test]
fn the_configuration_names_the_setting_at_fault() {
    let cases = [
        (r#"{}"#, "REEKOLECT_API_TOKEN: is not set"),
        (r#"{"REEKOLECT_API_TOKEN":"short"}"#, "REEKOLECT_API_TOKEN: is shorter than 16"),
        (r#"{"REEKOLECT_API_TOKEN":"a-token-of-32-characters-0123456"}"#, "REEKOLECT_ALLOW_BOTS: say which bots"),
        (
            r#"{"REEKOLECT_API_TOKEN":"a-token-of-32-characters-0123456","REEKOLECT_ALLOW_BOTS":"b1"}"#,
            "REEKOLECT_ALLOW_BOTS: \"b1\" is not BOTID:CUSTOMERID",
        ),
        (
            r#"{"REEKOLECT_API_TOKEN":"a-token-of-32-characters-0123456","REEKOLECT_ALLOW_ANY_BOT":"true","REEKOLECT_UPSTREAM":"ftp://x"}"#,
            "REEKOLECT_UPSTREAM: \"ftp://x\" must be an http(s) URL",
        ),
        (
            r#"{"REEKOLECT_API_TOKEN":"a-token-of-32-characters-0123456","REEKOLECT_ALLOW_ANY_BOT":"true","REEKOLECT_UPSTREAM_TIMEOUT":"soon"}"#,
            "REEKOLECT_UPSTREAM_TIMEOUT: \"soon\" is not a duration",
        ),
    ];
    for (vars, expected) in cases {
        let err = Edge::new(vars).expect_err(vars);
        assert!(err.starts_with(expected), "{vars}: {err}");
        assert!(!err.contains("a-token-of-32"), "the token is in {err}");
    }
    let edge = edge(r#","REEKOLECT_BASE_PATH":"/reekolect/","REEKOLECT_UPSTREAM_TIMEOUT":"1500ms""#);
    assert_eq!(edge.lead_url(), "http://127.0.0.1:9/inbox/direct/lead");
    assert_eq!(edge.base_path(), "/reekolect");
    assert_eq!(
        edge.timed_out().body(),
        r#"{"success":false,"code":504,"message":"upstream timeout: no answer within 1s 500ms"}"#
    );
}

#[test]
fn upstream_answers_are_relayed_by_class() {
    let edge = edge("");
    let token = "a-token-of-32-characters-0123456";
    let relay = |status, content_type: Option<&str>, body: &str| {
        edge.relay(status, content_type.map(String::from), None, Some("37".into()), body.as_bytes())
    };
    // JSON, any status: relayed as it came, the token scrubbed.
    let answer = relay(200, Some("application/json"), r#"{"success":true}"#);
    assert_eq!((answer.status(), answer.body(), answer.retry_after()), (200, r#"{"success":true}"#.into(), None));
    let answer = relay(400, Some("application/json"), &format!(r#"{{"message":"{token} is wrong"}}"#));
    assert_eq!((answer.status(), answer.body()), (400, r#"{"message":"[redacted] is wrong"}"#.to_string()));
    // Retry-After: relayed on 429 and 503.
    let answer = relay(429, Some("application/json"), r#"{"success":false}"#);
    assert_eq!(answer.retry_after().as_deref(), Some("37"));
    // 2xx without JSON: a success saying so.
    let answer = relay(200, None, "");
    assert_eq!(
        answer.body(),
        r#"{"success":true,"code":200,"message":"upstream sent no JSON: answered 200 (no content type, 0 bytes)"}"#
    );
    // 4xx/5xx without JSON: described, never echoed.
    let html = "<html><body>503 Service Temporarily Unavailable</body></html>";
    let answer = relay(503, Some("text/html; charset=utf-8"), html);
    assert_eq!(answer.status(), 503);
    assert_eq!(
        answer.body(),
        format!(
            r#"{{"success":false,"code":503,"message":"upstream answered 503 (text/html, {} bytes)"}}"#,
            html.len()
        )
    );
    assert_eq!(answer.retry_after().as_deref(), Some("37"));
    // A redirect is never followed: 502 naming the origin only.
    let answer = edge.relay(307, None, Some("http://127.0.0.2:8080".into()), None, b"");
    assert_eq!(
        (answer.status(), answer.body()),
        (502, r#"{"success":false,"code":502,"message":"upstream redirected to http://127.0.0.2:8080"}"#.to_string())
    );
    let answer = edge.relay(308, None, None, None, b"");
    assert_eq!(
        answer.body(),
        r#"{"success":false,"code":502,"message":"upstream redirected without a valid location"}"#
    );
    // Informational statuses are not answers.
    assert_eq!(edge.relay(101, None, None, None, b"").status(), 502);
}

#[test]
fn admitted_leads_are_forwarded_as_the_proxy_writes_them() {
    let edge = edge(r#","REEKOLECT_VISITOR_SECRET":"visitor-secret""#);
    let now = 1_800_000_000;
    let token = reekolect_proxy::visitor::VisitorKey::new("visitor-secret").sign(UUID, now + 60);
    let body = format!(r#"{{"uuid":"{UUID}","botId":"b1","customerId":"c1","tags":[" a ","a"],"name":" Ada "}}"#);
    let answer = edge.admit(body.as_bytes(), Some(token), now as f64, None);
    assert!(answer.forward(), "{}", answer.body());
    assert_eq!(answer.uuid().as_deref(), Some(UUID));
    let lead = reekolect_proxy::proxy::read_lead(body.as_bytes()).unwrap();
    assert_eq!(answer.body(), serde_json::to_string(&lead).unwrap());
    // Identity without a token: 401; another bot: 403 before it; an id with spaces is not the
    // allowed id (the proxy does not trim ids either).
    assert_eq!(edge.admit(body.as_bytes(), None, now as f64, None).status(), 401);
    for bot in ["b2", " b1 "] {
        let other = body.replace(r#""botId":"b1""#, &format!(r#""botId":"{bot}""#));
        assert_eq!(edge.admit(other.as_bytes(), None, now as f64, None).status(), 403, "{bot}");
    }
}
