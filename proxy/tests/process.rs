//! The binary as a process: SIGTERM finishes in-flight requests, JSON logs, `leads` exits.

mod common;

use axum::routing::put;
use axum::Router;
use common::*;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_reekolect-proxy");

/// Starts `serve` with `args` and a token; returns the child and its base URL.
async fn serve(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env("REEKOLECT_API_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).await.unwrap();
    let base = line
        .trim()
        .strip_prefix("reekolect-proxy listening on ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected line: {line}"))
        .to_string();
    (child, base)
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish() {
    bounded(async {
        let app = Router::new().route(
            "/inbox/direct/lead",
            put(|| async {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                axum::Json(serde_json::json!({"success": true, "message": "ok", "code": 200}))
            }),
        );
        let upstream = reekolect_proxy::spawn_router(listener().await, app).unwrap();
        let (mut child, base) = serve(&["--upstream", &upstream.url(), "--allow-bot", "b1:c1"]).await;
        let request = tokio::spawn(async move { put_json(&base, &base_lead(1)).await });
        tokio::time::sleep(Duration::from_millis(400)).await;
        let pid = child.id().unwrap().to_string();
        let kill = Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
        assert!(kill.success());
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200, "{body}");
        let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .expect("exits after the request")
            .unwrap();
        assert!(exit.success(), "{exit:?}");
        upstream.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn json_logs_carry_status_latency_and_request_id_but_no_secrets() {
    bounded(async {
        let (mut child, base) = serve(&["--upstream", "mock", "--log-format", "json"]).await;
        let mut lead = base_lead(1);
        lead["email"] = serde_json::json!("marker-person@example.com");
        let response = client()
            .put(format!("{base}/lead"))
            .header("x-request-id", "req-42")
            .header("content-type", "application/json")
            .body(lead.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut stderr = child.stderr.take().unwrap();
        child.kill().await.unwrap();
        let mut logs = String::new();
        stderr.read_to_string(&mut logs).await.unwrap();
        let line = logs
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["span"]["path"] == "/lead")
            .unwrap_or_else(|| panic!("no JSON line for /lead: {logs}"));
        assert_eq!(line["status"], 200, "{line}");
        assert_eq!(line["span"]["request_id"], "req-42", "{line}");
        assert!(line["latency"].as_str().unwrap().ends_with("ms"));
        assert!(!logs.contains(TOKEN) && !logs.contains("marker-person"), "{logs}");
    })
    .await
}

#[tokio::test]
async fn leads_exits_non_zero_on_a_refused_token() {
    bounded(async {
        let mock = start_mock().await;
        let output = Command::new(BIN)
            .args(["leads", "--bot-id", "b1", "--customer-id", "c1", "--format", "csv"])
            .args(["--upstream", &mock.url()])
            .env("REEKOLECT_BOT_TOKEN", "wrong-token-0123456789")
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("401"), "{stderr}");
        assert!(output.stdout.is_empty(), "a refused token leaves stdout empty");

        // A token too short to be one is refused before any request.
        let output = Command::new(BIN)
            .args(["leads", "--bot-id", "b1", "--customer-id", "c1"])
            .args(["--upstream", &mock.url()])
            .env("REEKOLECT_BOT_TOKEN", "short")
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("REEKOLECT_BOT_TOKEN: the token has 5 characters"), "{stderr}");
        assert!(output.stdout.is_empty());

        let output = Command::new(BIN)
            .args(["leads", "--bot-id", "b1", "--customer-id", "c1", "--format", "ndjson"])
            .args(["--upstream", &mock.url()])
            .env_remove("REEKOLECT_BOT_TOKEN")
            .env("REEKOLECT_API_TOKEN", TOKEN)
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert!(output.stdout.is_empty());
        mock.shutdown().await.unwrap();
    })
    .await
}

/// `leads --help` describes its own logging, not the request log of `serve`.
#[tokio::test]
async fn leads_help_describes_what_leads_logs() {
    let output = Command::new(BIN).args(["leads", "--help"]).output().await.unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--log-format"), "{help}");
    assert!(help.contains("`leads` its retries and warnings"), "{help}");
    assert!(help.contains("--csv-raw"), "{help}");
    assert!(help.contains("--upstream-ca"), "{help}");
}
