//! The `reekolect-proxy` binary itself.

use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_reekolect-proxy");

#[tokio::test]
async fn a_real_upstream_without_token_exits_non_zero_naming_the_variable() {
    let output = tokio::time::timeout(
        Duration::from_secs(20),
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--upstream", "https://example.invalid"])
            .env_remove("REEKOLECT_API_TOKEN")
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("exits promptly")
    .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("REEKOLECT_API_TOKEN"), "{stderr}");
    assert!(output.stdout.is_empty());
}

/// Starts the binary with `args`, returns the child and its first stdout line.
async fn first_line(args: &[&str], token: Option<&str>) -> (tokio::process::Child, String) {
    let mut command = Command::new(BIN);
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    match token {
        Some(token) => command.env("REEKOLECT_API_TOKEN", token),
        None => command.env_remove("REEKOLECT_API_TOKEN"),
    };
    let mut child = command.spawn().expect("spawn");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(20), BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("a line within 20 s")
        .expect("read stdout");
    (child, line.trim_end().to_string())
}

#[tokio::test]
async fn serve_prints_the_listening_line_with_the_bound_address() {
    let (mut child, line) = first_line(&["serve", "--listen", "127.0.0.1:0"], None).await;
    let addr = line
        .strip_prefix("reekolect-proxy listening on http://")
        .and_then(|rest| rest.strip_suffix(" (upstream: mock)"))
        .unwrap_or_else(|| panic!("unexpected line: {line}"));
    let addr: std::net::SocketAddr = addr.parse().expect("an address");
    assert_ne!(addr.port(), 0);

    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let health = tokio::time::timeout(Duration::from_secs(10), client.get(format!("http://{addr}/healthz")).send())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(health.status(), 200);

    child.kill().await.unwrap();
}

#[tokio::test]
async fn one_log_line_per_request_without_token_or_body() {
    const SECRET: &str = "secret-for-log-check-81f2";
    let (mut child, line) = first_line(&["serve", "--listen", "127.0.0.1:0", "--upstream", "mock"], Some(SECRET)).await;
    let base = line
        .strip_prefix("reekolect-proxy listening on ")
        .and_then(|rest| rest.strip_suffix(" (upstream: mock)"))
        .unwrap_or_else(|| panic!("unexpected line: {line}"))
        .to_string();
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap();
    let body = r#"{"uuid":"7e88d192-9b20-4035-9b68-d4ac3d58a34f","botId":"b1","customerId":"c1","name":"Body Marker"}"#;
    let response =
        client.put(format!("{base}/lead")).header("content-type", "application/json").body(body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(!response.text().await.unwrap().contains(SECRET));

    let mut stderr = child.stderr.take().unwrap();
    child.kill().await.unwrap();
    let mut logs = String::new();
    tokio::time::timeout(Duration::from_secs(10), stderr.read_to_string(&mut logs))
        .await
        .expect("stderr closes")
        .unwrap();
    let request_lines: Vec<&str> =
        logs.lines().filter(|l| l.contains("request{") && l.contains("path=/lead")).collect();
    assert_eq!(request_lines.len(), 1, "{logs}");
    let request_line = request_lines[0];
    for part in ["method=PUT", "status=200", "latency="] {
        assert!(request_line.contains(part), "{request_line}");
    }
    assert!(!logs.contains(SECRET), "{logs}");
    assert!(!logs.contains("Body Marker"), "{logs}");
}

#[tokio::test]
async fn serve_names_a_real_upstream_and_mock_api_prints_its_line() {
    let (mut child, line) = first_line(
        &["serve", "--listen", "127.0.0.1:0", "--upstream", "http://127.0.0.1:9/", "--allow-bot", "b1:c1"],
        Some("secret-xyz-0123456789"),
    )
    .await;
    assert!(line.ends_with(" (upstream: http://127.0.0.1:9)"), "{line}");
    assert!(!line.contains("secret-xyz-0123456789"));
    child.kill().await.unwrap();

    let (mut child, line) = first_line(&["mock-api", "--listen", "127.0.0.1:0"], None).await;
    assert!(line.starts_with("reekolect-mock-api listening on http://127.0.0.1:"), "{line}");
    child.kill().await.unwrap();
}

/// `healthcheck` (a container's HEALTHCHECK, where there is no curl): exit status 0 while the
/// proxy answers, non-zero naming the URL once nothing listens there.
#[tokio::test]
async fn healthcheck_succeeds_against_a_running_proxy_and_fails_without_one() {
    let (mut child, line) = first_line(&["serve", "--listen", "127.0.0.1:0", "--upstream", "mock"], None).await;
    let base = line
        .strip_prefix("reekolect-proxy listening on ")
        .and_then(|rest| rest.strip_suffix(" (upstream: mock)"))
        .unwrap_or_else(|| panic!("unexpected line: {line}"))
        .to_string();
    let healthcheck = |url: String| async move {
        tokio::time::timeout(
            Duration::from_secs(20),
            Command::new(BIN).args(["healthcheck", "--url", &url, "--timeout", "5s"]).stdin(Stdio::null()).output(),
        )
        .await
        .expect("exits promptly")
        .expect("runs")
    };
    let up = healthcheck(format!("{base}/healthz")).await;
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    let not_found = healthcheck(format!("{base}/no-such-route")).await;
    assert!(!not_found.status.success());
    assert!(String::from_utf8_lossy(&not_found.stderr).contains("404"), "{not_found:?}");
    child.kill().await.unwrap();
    child.wait().await.unwrap();
    let down = healthcheck(format!("{base}/healthz")).await;
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains(&base), "{down:?}");
}

/// The token from a file (`REEKOLECT_API_TOKEN_FILE`, Docker/Kubernetes secrets) or a systemd
/// credential: a real upstream (the mock, expecting that token) takes the update; a file
/// named but missing stops `serve` with a message naming it.
#[tokio::test]
async fn serve_reads_the_token_from_a_file_or_a_systemd_credential() {
    const TOKEN: &str = "token-from-a-file-0123456789abcdef";
    let dir = std::env::temp_dir().join(format!("reekolect-token-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    std::fs::write(dir.join(reekolect_proxy::credentials::CREDENTIAL_NAME), TOKEN).unwrap();
    let (mut mock, line) = first_line(&["mock-api", "--listen", "127.0.0.1:0"], Some(TOKEN)).await;
    let upstream = line.strip_prefix("reekolect-mock-api listening on ").expect("mock line").to_string();
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap();
    let lead = r#"{"uuid":"7e88d192-9b20-4035-9b68-d4ac3d58a34f","botId":"b1","customerId":"c1","name":"From File"}"#;
    let file = dir.join("token");
    for (variable, value) in
        [("REEKOLECT_API_TOKEN_FILE", file.as_os_str()), ("CREDENTIALS_DIRECTORY", dir.as_os_str())]
    {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--upstream", &upstream, "--allow-bot", "b1:c1"])
            .env_remove("REEKOLECT_API_TOKEN")
            .env_remove("REEKOLECT_API_TOKEN_FILE")
            .env_remove("CREDENTIALS_DIRECTORY")
            .env(variable, value)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut proxy = command.spawn().unwrap();
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(20),
            BufReader::new(proxy.stdout.take().unwrap()).read_line(&mut line),
        )
        .await
        .expect("a line within 20 s")
        .unwrap();
        let base = line.split_whitespace().nth(3).expect("listening line").to_string();
        let response = client
            .put(format!("{base}/lead"))
            .header("content-type", "application/json")
            .body(lead)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{variable}: {}", response.text().await.unwrap());
        proxy.kill().await.unwrap();
    }
    mock.kill().await.unwrap();

    let output = tokio::time::timeout(
        Duration::from_secs(20),
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--upstream", "mock"])
            .env_remove("REEKOLECT_API_TOKEN")
            .env("REEKOLECT_API_TOKEN_FILE", dir.join("missing"))
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("exits promptly")
    .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("REEKOLECT_API_TOKEN_FILE") && stderr.contains("missing"), "{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}
