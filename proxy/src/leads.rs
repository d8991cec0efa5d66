//! `reekolect-proxy leads`: every page of `GET /inbox/direct/chats` as JSON, NDJSON or CSV.

use crate::breaker::Breaker;
use crate::cli::{LeadsArgs, OutputFormat};
use crate::forward::{root_cause, Failure, UpstreamClient};
use crate::trust::Trust;
use crate::Secret;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

/// The environment variable read first for the listing token.
pub const BOT_TOKEN_ENV: &str = "REEKOLECT_BOT_TOKEN";

/// The CSV header: one flattened row per chat.
pub const CSV_COLUMNS: [&str; 10] =
    ["uuid", "name", "email", "phone", "status", "tags", "attributes", "notes", "createdAt", "updatedAt"];

/// Longest wait for one page.
const PAGE_TIMEOUT: Duration = Duration::from_secs(30);

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
/// A token shorter than [`crate::MIN_TOKEN_LEN`] is refused ([`LeadsError::Failed`]).
pub fn token_from_env() -> Result<String, LeadsError> {
    let (name, token) = [BOT_TOKEN_ENV, crate::TOKEN_ENV]
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|token| (*name, token)))
        .find(|(_, token)| !token.trim().is_empty())
        .ok_or(LeadsError::NoToken)?;
    Secret::check_length(&token, name).map_err(LeadsError::Failed)?;
    Ok(token)
}

/// Writes every chat to `out` in `args.format`, page by page from 1 until an empty page;
/// a progress bar on stderr when `progress`. Returns the number of chats written. Nothing is
/// written before the first page came: a refused token leaves `out` empty, not a broken file.
pub async fn run<W: Write>(args: &LeadsArgs, token: &str, out: W, progress: bool) -> Result<u64, LeadsError> {
    let client = upstream_client(args, token)?;
    let bar = progress_bar(progress);
    let (mut out, mut sink) = (Some(out), None);
    let mut count = 0u64;
    for page in 1..=args.max_pages {
        let records = fetch_page(&client, args, page).await?;
        let sink = match &mut sink {
            Some(sink) => sink,
            None => sink.insert(Sink::new(args.format, out.take().expect("taken once"), !args.csv_raw)?),
        };
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
    let sink = match (sink, out) {
        (Some(sink), _) => sink,
        (None, Some(out)) => Sink::new(args.format, out, !args.csv_raw)?,
        (None, None) => unreachable!("the output is either in the sink or not taken"),
    };
    sink.finish()?;
    Ok(count)
}

/// The client for `args.upstream`, trusting `--upstream-ca` too, sending `token`.
fn upstream_client(args: &LeadsArgs, token: &str) -> Result<UpstreamClient, LeadsError> {
    let base = match args.upstream.parse::<crate::Upstream>() {
        Ok(crate::Upstream::Url(base)) => base,
        Ok(crate::Upstream::Mock) => return Err(LeadsError::Failed("--upstream: must be the API's URL".into())),
        Err(err) => return Err(LeadsError::Failed(format!("--upstream: {err}"))),
    };
    let trust = Trust::with_ca(args.upstream_ca.as_deref()).map_err(|err| LeadsError::Failed(err.to_string()))?;
    let no_breaker = Arc::new(Breaker::new(0, Duration::from_secs(1)));
    Ok(UpstreamClient::new(&base, Secret::new(token), PAGE_TIMEOUT, no_breaker, Arc::default(), &trust))
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
async fn fetch_page(client: &UpstreamClient, args: &LeadsArgs, page: u64) -> Result<Vec<Value>, LeadsError> {
    let mut backoff = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match try_page(client, args, page).await {
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

async fn try_page(client: &UpstreamClient, args: &LeadsArgs, page: u64) -> Result<Vec<Value>, Attempt> {
    let answer =
        client.chats_page(&args.bot_id, &args.customer_id, page, args.kind.as_str()).await.map_err(|failure| {
            match failure {
                // As before: the innermost cause ("Connection refused").
                Failure::Unreachable(ref err) if failure.is_transient() => Attempt::Transient(root_cause(err)),
                failure if failure.is_transient() => Attempt::Transient(client.describe(failure)),
                failure => Attempt::Fatal(LeadsError::Failed(format!("page {page}: {}", client.describe(failure)))),
            }
        })?;
    let status = answer.status;
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(Attempt::Transient(format!("the API answered {status}")));
    }
    let body: Value = serde_json::from_slice(&answer.body).map_err(|_| {
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

/// Where records go, in one of the formats.
enum Sink<W: Write> {
    Json {
        out: W,
        first: bool,
    },
    Ndjson(W),
    /// `safe`: cells defused with [`csv_safe`].
    Csv {
        writer: Box<csv::Writer<W>>,
        safe: bool,
    },
}

impl<W: Write> Sink<W> {
    fn new(format: OutputFormat, mut out: W, csv_safe: bool) -> Result<Self, LeadsError> {
        Ok(match format {
            OutputFormat::Json => {
                out.write_all(b"[")?;
                Sink::Json { out, first: true }
            }
            OutputFormat::Ndjson => Sink::Ndjson(out),
            OutputFormat::Csv => {
                let mut writer = csv::Writer::from_writer(out);
                writer.write_record(CSV_COLUMNS)?;
                Sink::Csv { writer: Box::new(writer), safe: csv_safe }
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
            Sink::Csv { writer, safe: true } => writer.write_record(csv_row(record).map(csv_safe))?,
            Sink::Csv { writer, safe: false } => writer.write_record(csv_row(record))?,
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
            Sink::Csv { mut writer, .. } => writer.flush()?,
        }
        Ok(())
    }
}

/// A cell a spreadsheet will not run: one beginning with `=`, `+`, `-`, `@`, a tab or a
/// carriage return (what spreadsheets read as a formula) gets a leading `'`, the usual
/// defence against CSV formula injection. Every column can carry what a visitor typed.
pub fn csv_safe(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// One chat record flattened into [`CSV_COLUMNS`] (raw: see [`csv_safe`]).
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
