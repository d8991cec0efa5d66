//! The command line: `reekolect-proxy serve …` and `reekolect-proxy mock-api …`.

use crate::Upstream;
use axum::http::HeaderValue;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// `reekolect-proxy`: forwards the companion's lead updates to the Reekolect API.
#[derive(Debug, Parser)]
#[command(name = "reekolect-proxy", version, about, long_about = None)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy. The API token comes from REEKOLECT_API_TOKEN.
    Serve(ServeArgs),
    /// Run the mock Reekolect API alone. Its token is REEKOLECT_API_TOKEN, else "mock-token".
    MockApi(MockArgs),
}

/// Options of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// `mock` (the embedded mock API) or the API's base URL. Default: `mock` when
    /// REEKOLECT_API_TOKEN is unset, else https://api.v7.express-chat.ai.
    #[arg(long)]
    pub upstream: Option<Upstream>,
    /// A folder to serve as static files on the same origin (index.html for directories).
    #[arg(long)]
    pub www: Option<PathBuf>,
    /// An origin allowed by CORS, like https://shop.example (repeatable). Default: any origin.
    #[arg(long = "allow-origin", value_parser = parse_origin)]
    pub allow_origin: Vec<HeaderValue>,
}

impl ServeArgs {
    /// The defaults, as `serve` without options.
    pub fn new() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            upstream: None,
            www: None,
            allow_origin: Vec::new(),
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
}

/// Accepts `scheme://host[:port]` with nothing after it, as browsers send in `Origin`.
pub fn parse_origin(value: &str) -> Result<HeaderValue, String> {
    let rule =
        || format!("{value:?} is not an origin like https://shop.example or http://localhost:3000");
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(rule)?;
    if rest.is_empty()
        || rest.contains(['/', '?', '#', '@'])
        || rest.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(rule());
    }
    HeaderValue::from_str(value).map_err(|_| rule())
}
