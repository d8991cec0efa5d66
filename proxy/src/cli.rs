//! The command line: `reekolect-proxy serve …`, `reekolect-proxy mock-api …` and
//! `reekolect-proxy leads …`. Every `serve` option also reads an environment variable.

use crate::config::{
    Upstream, DEFAULT_BREAKER_COOLDOWN, DEFAULT_BREAKER_FAILURES, DEFAULT_HEADER_TIMEOUT, DEFAULT_IP_BURST,
    DEFAULT_IP_PER_MINUTE, DEFAULT_MAX_BODY_BYTES, DEFAULT_REQUEST_TIMEOUT, DEFAULT_UPSTREAM_TIMEOUT,
    DEFAULT_UUID_BURST, DEFAULT_UUID_PER_MINUTE,
};
use axum::http::{HeaderName, HeaderValue};
use clap::{Args, Parser, Subcommand, ValueEnum};
use reekolect_lead::{parse_widget_script_text, BotIds};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `reekolect-proxy`: forwards the companion's lead updates to the Reekolect API.
#[derive(Debug, Parser)]
#[command(name = "reekolect-proxy", version, about, long_about = None)]
pub struct Cli {
    /// Log lines on stderr as text (default) or JSON objects: `serve` logs one line per
    /// request, `leads` its retries and warnings (its output goes to stdout).
    #[arg(long, global = true, value_enum, env = "REEKOLECT_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people, e.g. `serve`'s `request{method=PUT path=/lead request_id=…}: answered
    /// status=200 latency=1.2ms`, or `leads`' `WARN page=3 attempt=1 reason=… retrying`.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
// Parsed once per process: the size of `Serve` does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy. The API token comes from REEKOLECT_API_TOKEN, else the file named by
    /// REEKOLECT_API_TOKEN_FILE, else the systemd credential `reekolect-api-token`.
    Serve(ServeArgs),
    /// Run the mock Reekolect API alone. Its token is REEKOLECT_API_TOKEN, else "mock-token-not-a-secret".
    MockApi(MockArgs),
    /// Print every chat of a bot (all pages of GET /inbox/direct/chats) as JSON, NDJSON or CSV.
    /// The token comes from REEKOLECT_BOT_TOKEN, else REEKOLECT_API_TOKEN.
    Leads(LeadsArgs),
    /// Ask a running proxy's /healthz (for container health checks); exit status 0 when it
    /// answers 2xx in time.
    Healthcheck(HealthcheckArgs),
}

/// Options of `healthcheck`.
#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// The URL to ask. Default: /healthz at the address `serve` listens on
    /// (REEKOLECT_LISTEN, else 127.0.0.1:8080; 0.0.0.0 asked on 127.0.0.1).
    #[arg(long)]
    pub url: Option<String>,
    /// The address `serve` listens on, to build the default URL from.
    #[arg(long, env = "REEKOLECT_LISTEN", default_value = "127.0.0.1:8080", hide = true)]
    pub listen: SocketAddr,
    /// How long to wait for the answer, like `5s`.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// Options of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "REEKOLECT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// `mock` (the embedded mock API) or the API's base URL. Default: `mock` when
    /// REEKOLECT_API_TOKEN is unset, else `https://api.v7.express-chat.ai`.
    #[arg(long, env = "REEKOLECT_UPSTREAM")]
    pub upstream: Option<Upstream>,
    /// A folder to serve as static files on the same origin (index.html for directories).
    #[arg(long, env = "REEKOLECT_WWW")]
    pub www: Option<PathBuf>,
    /// An origin allowed by CORS, like `https://shop.example` (repeatable; env: comma-separated).
    /// Default: any origin, without credentials (the proxy never uses cookies).
    #[arg(long = "allow-origin", env = "REEKOLECT_ALLOW_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub allow_origin: Vec<HeaderValue>,
    /// A `BOTID:CUSTOMERID` pair this proxy may write leads for (repeatable; env:
    /// comma-separated). Others get a 403. Required with a real upstream, unless
    /// --allow-any-bot; in mock mode none means any.
    #[arg(long = "allow-bot", env = "REEKOLECT_ALLOW_BOTS", value_delimiter = ',', value_parser = parse_bot_pair)]
    pub allow_bot: Vec<BotIds>,
    /// Forward updates for any bot and customer: an open relay into every account your
    /// token can write. Only for a private network.
    #[arg(long, env = "REEKOLECT_ALLOW_ANY_BOT")]
    pub allow_any_bot: bool,
    /// Largest `/lead` body in bytes; larger ones get a 413.
    #[arg(long, env = "REEKOLECT_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Limit on a whole request, like `15s` (answers 408).
    #[arg(long, env = "REEKOLECT_REQUEST_TIMEOUT", default_value = "15s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
    /// Time a client may take to send a request's head, like `10s`; also how long an idle
    /// keep-alive connection stays open. Slow or silent clients are disconnected.
    #[arg(long, env = "REEKOLECT_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_timeout: Duration,
    /// A PEM file of CA certificates to trust for an https upstream, besides the built-in
    /// web roots and the system's (SSL_CERT_FILE / SSL_CERT_DIR): a TLS-inspecting gateway's
    /// CA, a private API's.
    #[arg(long, env = "REEKOLECT_UPSTREAM_CA")]
    pub upstream_ca: Option<PathBuf>,
    /// Limit on one upstream call, like `10s` (answers 504).
    #[arg(long, env = "REEKOLECT_UPSTREAM_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub upstream_timeout: Duration,
    /// Sustained `/lead` requests per minute per client IP (0: no limit). Over it: 429.
    #[arg(long, env = "REEKOLECT_IP_PER_MINUTE", default_value_t = DEFAULT_IP_PER_MINUTE)]
    pub ip_per_minute: u32,
    /// Burst of `/lead` requests per client IP.
    #[arg(long, env = "REEKOLECT_IP_BURST", default_value_t = DEFAULT_IP_BURST)]
    pub ip_burst: u32,
    /// Sustained `/lead` updates per minute per visitor UUID (0: no limit). Over it: 429.
    #[arg(long, env = "REEKOLECT_UUID_PER_MINUTE", default_value_t = DEFAULT_UUID_PER_MINUTE)]
    pub uuid_per_minute: u32,
    /// Burst of `/lead` updates per visitor UUID.
    #[arg(long, env = "REEKOLECT_UUID_BURST", default_value_t = DEFAULT_UUID_BURST)]
    pub uuid_burst: u32,
    /// Behind one reverse proxy: the client IP is the last address of `X-Forwarded-For`.
    /// Only set it when every request comes through that proxy.
    #[arg(long, env = "REEKOLECT_TRUST_FORWARDED_FOR", conflicts_with = "client_ip_header")]
    pub trust_forwarded_for: bool,
    /// A header your edge sets to the client IP (e.g. `cf-connecting-ip`, `x-real-ip`).
    #[arg(long, env = "REEKOLECT_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<HeaderName>,
    /// Require a signed visitor token for updates that set name, email or phone
    /// (see proxy/README.md). Off when unset.
    #[arg(long, env = "REEKOLECT_VISITOR_SECRET", hide_env_values = true)]
    pub visitor_secret: Option<String>,
    /// Consecutive upstream failures that open the circuit breaker (0: never).
    #[arg(long, env = "REEKOLECT_BREAKER_FAILURES", default_value_t = DEFAULT_BREAKER_FAILURES)]
    pub breaker_failures: u32,
    /// How long an open breaker answers 503 before trying the upstream again, like `30s`.
    #[arg(long, env = "REEKOLECT_BREAKER_COOLDOWN", default_value = "30s", value_parser = humantime::parse_duration)]
    pub breaker_cooldown: Duration,
    /// Threads serving requests, each running its own event loop (0: one per core).
    #[arg(long, env = "REEKOLECT_WORKERS", default_value_t = 0)]
    pub workers: usize,
    /// Failure injection for the embedded mock (mock mode only).
    #[command(flatten)]
    pub chaos: ChaosArgs,
}

/// Failure injection for the embedded mock; also settable at run time with
/// `PUT /demo/chaos` (mock mode only).
#[derive(Debug, Clone, Copy, Args)]
pub struct ChaosArgs {
    /// Share of lead updates the mock answers 503 (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub mock_fail_rate: f64,
    /// Share of lead updates the mock leaves unanswered for 30 s (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub mock_hang_rate: f64,
    /// The mock delays other updates by a random 0..=N milliseconds.
    #[arg(long, default_value_t = 0)]
    pub mock_max_delay_ms: u64,
    /// Injected failures are 429 with `Retry-After: N` (seconds) instead of 503 (0: 503).
    #[arg(long, default_value_t = 0)]
    pub mock_fail_retry_after: u64,
}

impl ChaosArgs {
    /// The settings, checked.
    pub fn settings(&self) -> Result<crate::chaos::ChaosSettings, String> {
        let settings = crate::chaos::ChaosSettings {
            fail_rate: self.mock_fail_rate,
            hang_rate: self.mock_hang_rate,
            max_delay_ms: self.mock_max_delay_ms,
            fail_retry_after_s: self.mock_fail_retry_after,
        };
        settings.check().map(|()| settings)
    }
}

impl ServeArgs {
    /// The defaults, as `serve` without options (and without environment).
    pub fn new() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            upstream: None,
            www: None,
            allow_origin: Vec::new(),
            allow_bot: Vec::new(),
            allow_any_bot: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
            upstream_ca: None,
            ip_per_minute: DEFAULT_IP_PER_MINUTE,
            ip_burst: DEFAULT_IP_BURST,
            uuid_per_minute: DEFAULT_UUID_PER_MINUTE,
            uuid_burst: DEFAULT_UUID_BURST,
            trust_forwarded_for: false,
            client_ip_header: None,
            visitor_secret: None,
            breaker_failures: DEFAULT_BREAKER_FAILURES,
            breaker_cooldown: DEFAULT_BREAKER_COOLDOWN,
            workers: 0,
            chaos: ChaosArgs {
                mock_fail_rate: 0.0,
                mock_hang_rate: 0.0,
                mock_max_delay_ms: 0,
                mock_fail_retry_after: 0,
            },
        }
    }
}

impl Default for ServeArgs {
    fn default() -> Self {
        Self::new()
    }
}

/// Options of `mock-api`.
#[derive(Debug, Clone, Args)]
pub struct MockArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Failure injection.
    #[command(flatten)]
    pub chaos: ChaosArgs,
}

/// Which chats `leads` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChatType {
    /// Chats with a name, email or phone.
    Lead,
    /// The others.
    NonLead,
}

impl ChatType {
    /// The API's `type` query value.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatType::Lead => "lead",
            ChatType::NonLead => "non-lead",
        }
    }
}

/// Output formats of `leads`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One JSON array of the API's records.
    Json,
    /// One API record per line.
    Ndjson,
    /// A header line and one flattened row per chat.
    Csv,
}

/// Options of `leads`.
#[derive(Debug, Clone, Args)]
pub struct LeadsArgs {
    /// The bot's id.
    #[arg(long)]
    pub bot_id: String,
    /// The customer account's id.
    #[arg(long)]
    pub customer_id: String,
    /// `lead` or `non-lead`.
    #[arg(long = "type", value_enum, default_value = "lead")]
    pub kind: ChatType,
    /// `json`, `ndjson` or `csv`.
    #[arg(long, value_enum, default_value = "json")]
    pub format: OutputFormat,
    /// CSV cells exactly as the API has them. By default a cell beginning with `=`, `+`,
    /// `-`, `@`, a tab or a carriage return gets a leading `'`, so that a spreadsheet opening
    /// the file does not run what a visitor typed as a formula.
    #[arg(long)]
    pub csv_raw: bool,
    /// The API's base URL.
    #[arg(long, env = "REEKOLECT_UPSTREAM", default_value = crate::DEFAULT_UPSTREAM)]
    pub upstream: String,
    /// Most pages read, as a bound on a misbehaving API.
    #[arg(long, default_value_t = 10_000)]
    pub max_pages: u64,
    /// Attempts per page on transient errors (5xx, connection errors, timeouts).
    #[arg(long, default_value_t = 5)]
    pub attempts: u32,
    /// A PEM file of CA certificates to trust for an https upstream, besides the built-in
    /// and the system's roots.
    #[arg(long, env = "REEKOLECT_UPSTREAM_CA")]
    pub upstream_ca: Option<PathBuf>,
}

/// Accepts `scheme://host[:port]` with nothing after it, as browsers send in `Origin`.
pub fn parse_origin(value: &str) -> Result<HeaderValue, String> {
    let rule = || format!("{value:?} is not an origin like https://shop.example or http://localhost:3000");
    let rest = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://")).ok_or_else(rule)?;
    if rest.is_empty()
        || rest.contains(['/', '?', '#', '@'])
        || rest.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(rule());
    }
    HeaderValue::from_str(value).map_err(|_| rule())
}

/// Accepts `BOTID:CUSTOMERID`, each id 1–64 letters, digits, `-` or `_`.
pub fn parse_bot_pair(value: &str) -> Result<BotIds, String> {
    let rule = || format!("{value:?} is not BOTID:CUSTOMERID (ids of letters, digits, '-' or '_')");
    let (bot, customer) = value.trim().split_once(':').ok_or_else(rule)?;
    if bot.contains(',') || customer.contains(',') {
        return Err(rule());
    }
    parse_widget_script_text(&format!("{bot},{customer}")).map_err(|_| rule())
}
