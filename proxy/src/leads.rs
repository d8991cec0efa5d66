//! `reekolect-proxy leads`: every page of `GET /inbox/direct/chats` as JSON, NDJSON or CSV.

use crate::cli::{LeadsArgs, OutputFormat};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::fmt;
use std::io::{self, Write};
use std::time::Duration;

/// The environment variable read first for the listing token.
pub const BOT_TOKEN_ENV: &str = "REEKOLECT_BOT_TOKEN";

/// The CSV header: one flattened row per chat.
pub const CSV_COLUMNS: [&str; 10] =
    ["uuid", "name", "email", "phone", "status", "tags", "attributes", "notes", "createdAt", "updatedAt"];

/// Longest wait between two attempts at one page.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Why the listing stopped.
#[derive(Debug)]
pub enum LeadsError {
    /// No token in [`BOT_TOKEN_ENV`] nor `REEKOLECT_API_TOKEN`.
    NoToken,
    /// The API refused the request (401, 400, other 4xx): retrying cannot help.
    Rejected {
        /// The HTTP status.
        status: u16,
        /// What the API said, or what to check.
        message: String,
    },
    /// Transient errors outlasted every attempt, or the answer was not the API's shape.
    Failed(String),
    /// Writing the output failed.
    Output(String),
}

impl fmt::Display for LeadsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeadsError::NoToken => write!(f, "no token: set {BOT_TOKEN_ENV} (or {})", crate::TOKEN_ENV),
            LeadsError::Rejected { status: 401, .. } => {
                write!(f, "the API refused the token (401 Unauthorized): check {BOT_TOKEN_ENV} / {}", crate::TOKEN_ENV)
            }
            LeadsError::Rejected { status, message } => {
                write!(f, "the API refused the request ({status}): {message}")
            }
            LeadsError::Failed(message) => f.write_str(message),
            LeadsError::Output(message) => write!(f, "cannot write the output: {message}"),
        }
    }
}

impl std::error::Error for LeadsError {}

impl From<io::Error> for LeadsError {
    fn from(err: io::Error) -> Self {
        LeadsError::Output(err.to_string())
    }
}

impl From<csv::Error> for LeadsError {
    fn from(err: csv::Error) -> Self {
        LeadsError::Output(err.to_string())
    }
}

/// The token: [`BOT_TOKEN_ENV`], else `REEKOLECT_API_TOKEN`.
pub fn token_from_env() -> Result<String, LeadsError> {
    [BOT_TOKEN_ENV, crate::TOKEN_ENV]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|token| !token.trim().is_empty())
        .ok_or(LeadsError::NoToken)
}

/// Writes every chat to `out` in `args.format`, page by page from 1 until an empty page;
/// a progress bar on stderr when `progress`. Returns the number of chats written.
pub async fn run<W: Write>(args: &LeadsArgs, token: &str, out: W, progress: bool) -> Result<u64, LeadsError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("reekolect-proxy/", env!("CARGO_PKG_VERSION")))
        // Never follow a redirect: the token would go to wherever it points.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|err| LeadsError::Failed(err.to_string()))?;
    let bar = progress_bar(progress);
    let mut sink = Sink::new(args.format, out)?;
    let mut count = 0u64;
    for page in 1..=args.max_pages {
        let records = fetch_page(&client, args, token, page).await?;
        if records.is_empty() {
            break;
        }
        for record in &records {
            sink.write(record)?;
        }
        count += records.len() as u64;
        bar.set_position(page);
        bar.set_message(format!("{count} chats"));
    }
    bar.finish_and_clear();
    sink.finish()?;
    Ok(count)
}

fn progress_bar(show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} page {pos} · {msg} · {elapsed}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// One page's records, retrying transient failures with a bounded exponential backoff.
async fn fetch_page(
    client: &reqwest::Client,
    args: &LeadsArgs,
    token: &str,
    page: u64,
) -> Result<Vec<Value>, LeadsError> {
    let mut backoff = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match try_page(client, args, token, page).await {
            Err(Attempt::Transient(reason)) if attempt < args.attempts.max(1) => {
                tracing::warn!(page, attempt, %reason, "retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                attempt += 1;
            }
            Err(Attempt::Transient(reason)) => {
                return Err(LeadsError::Failed(format!("page {page}: {reason} (gave up after {attempt} attempts)")))
            }
            Err(Attempt::Fatal(err)) => return Err(err),
            Ok(records) => return Ok(records),
        }
    }
}

enum Attempt {
    Transient(String),
    Fatal(LeadsError),
}

async fn try_page(client: &reqwest::Client, args: &LeadsArgs, token: &str, page: u64) -> Result<Vec<Value>, Attempt> {
    let url = format!("{}/inbox/direct/chats", args.upstream.trim_end_matches('/'));
    let response = client
        .get(url)
        .query(&[
            ("botId", args.bot_id.as_str()),
            ("customerId", args.customer_id.as_str()),
            ("page", &page.to_string()),
            ("type", args.kind.as_str()),
        ])
        .header("x-bot-token", token)
        .send()
        .await
        .map_err(|err| Attempt::Transient(root_cause(&err)))?;
    let status = response.status();
    if status.is_redirection() {
        let location = response.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok());
        let message = match crate::forward::redirect_origin(&args.upstream, location) {
            Some(origin) => format!("upstream redirected to {origin}"),
            None => "upstream redirected without a valid location".to_string(),
        };
        tracing::warn!("{message} (not followed; the request was not sent there)");
        return Err(Attempt::Fatal(LeadsError::Failed(format!("page {page}: {message}"))));
    }
    let text = response.text().await.map_err(|err| Attempt::Transient(root_cause(&err)))?;
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(Attempt::Transient(format!("the API answered {status}")));
    }
    let body: Value = serde_json::from_str(&text).map_err(|_| {
        Attempt::Fatal(LeadsError::Failed(format!(
            "page {page}: the API answered {status} with a body that is not JSON"
        )))
    })?;
    if !status.is_success() {
        let message = body["message"].as_str().unwrap_or("no message").to_string();
        return Err(Attempt::Fatal(LeadsError::Rejected { status: status.as_u16(), message }));
    }
    match body.get("data") {
        Some(Value::Array(records)) => Ok(records.clone()),
        _ => Err(Attempt::Fatal(LeadsError::Failed(format!("page {page}: the API's answer has no data list")))),
    }
}

fn root_cause(err: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// Where records go, in one of the formats.
enum Sink<W: Write> {
    Json { out: W, first: bool },
    Ndjson(W),
    Csv(Box<csv::Writer<W>>),
}

impl<W: Write> Sink<W> {
    fn new(format: OutputFormat, mut out: W) -> Result<Self, LeadsError> {
        Ok(match format {
            OutputFormat::Json => {
                out.write_all(b"[")?;
                Sink::Json { out, first: true }
            }
            OutputFormat::Ndjson => Sink::Ndjson(out),
            OutputFormat::Csv => {
                let mut writer = csv::Writer::from_writer(out);
                writer.write_record(CSV_COLUMNS)?;
                Sink::Csv(Box::new(writer))
            }
        })
    }

    fn write(&mut self, record: &Value) -> Result<(), LeadsError> {
        match self {
            Sink::Json { out, first } => {
                out.write_all(if *first { b"\n" } else { b",\n" })?;
                serde_json::to_writer(&mut *out, record).map_err(io::Error::from)?;
                *first = false;
            }
            Sink::Ndjson(out) => {
                serde_json::to_writer(&mut *out, record).map_err(io::Error::from)?;
                out.write_all(b"\n")?;
            }
            Sink::Csv(writer) => writer.write_record(csv_row(record))?,
        }
        Ok(())
    }

    fn finish(self) -> Result<(), LeadsError> {
        match self {
            Sink::Json { mut out, .. } => {
                out.write_all(b"\n]\n")?;
                out.flush()?;
            }
            Sink::Ndjson(mut out) => out.flush()?,
            Sink::Csv(mut writer) => writer.flush()?,
        }
        Ok(())
    }
}

/// One chat record flattened into [`CSV_COLUMNS`].
pub fn csv_row(record: &Value) -> [String; 10] {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
    let details = &record["profile"]["userDetails"];
    let phone = &details["contact"]["phone"];
    let phone = match (phone["prefix"].as_str(), phone["number"].as_str()) {
        (Some(prefix), Some(number)) if !prefix.is_empty() => format!("+{prefix}{number}"),
        (_, Some(number)) => number.to_string(),
        _ => String::new(),
    };
    let list = |value: &Value| value.as_array().cloned().unwrap_or_default();
    let tags: Vec<String> = list(&details["tags"]).iter().map(text).collect();
    let attributes: Vec<String> =
        list(&details["attributes"]).iter().map(|a| format!("{}={}", text(&a["key"]), text(&a["value"]))).collect();
    [
        text(&record["uuid"]),
        text(&details["name"]),
        text(&details["contact"]["email"]),
        phone,
        text(&record["status"]),
        tags.join(";"),
        attributes.join(";"),
        list(&record["profile"]["notes"]).len().to_string(),
        text(&record["createdAt"]),
        text(&record["updatedAt"]),
    ]
}
