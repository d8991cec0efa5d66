//! What `reekolect-proxy serve` runs: the upstream choice, the token, the embedded mock.

use crate::cli::ServeArgs;
use crate::config::{ProxyConfig, Upstream, DEFAULT_UPSTREAM, TOKEN_ENV};
use crate::limits::ClientIp;
use crate::visitor::VisitorKey;
use crate::{mock, routes, Secret, ServerHandle};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Why `serve` could not start.
#[derive(Debug)]
pub enum StartError {
    /// A real upstream was chosen but no token was given.
    MissingToken(String),
    /// A real upstream was chosen without `--allow-bot` (nor `--allow-any-bot`).
    NoAllowedBots(String),
    /// An address could not be bound.
    Bind(SocketAddr, io::Error),
    /// Another I/O error while starting.
    Io(io::Error),
    /// The mock's failure-injection options are out of bounds.
    Chaos(String),
    /// The token is shorter than [`crate::secret::MIN_TOKEN_LEN`] characters.
    ShortToken(String),
    /// The upstream's trusted certificates could not be set up (`--upstream-ca`).
    Trust(crate::trust::TrustError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::MissingToken(url) => {
                write!(f, "upstream {url} needs an API token: set {TOKEN_ENV} (or use --upstream mock)")
            }
            StartError::NoAllowedBots(url) => write!(
                f,
                "upstream {url}: say which bots this proxy may write for with --allow-bot BOTID:CUSTOMERID \
                 (or REEKOLECT_ALLOW_BOTS); without it the proxy would be an open relay into every \
                 account the token can write (--allow-any-bot accepts that risk)"
            ),
            StartError::Bind(addr, err) => write!(f, "cannot listen on {addr}: {err}"),
            StartError::Io(err) => write!(f, "{err}"),
            StartError::Chaos(message) => write!(f, "mock failure injection: {message}"),
            StartError::ShortToken(message) => f.write_str(message),
            StartError::Trust(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for StartError {}

/// The running proxy, and the embedded mock in mock mode.
#[derive(Debug)]
pub struct Serving {
    /// The proxy's server.
    pub proxy: ServerHandle,
    /// The embedded mock's server, in mock mode.
    pub mock: Option<ServerHandle>,
    /// What the proxy forwards to.
    pub upstream: Upstream,
}

impl Serving {
    /// `reekolect-proxy listening on http://ADDR (upstream: mock|URL)`.
    pub fn listening_line(&self) -> String {
        format!("reekolect-proxy listening on {} (upstream: {})", self.proxy.url(), self.upstream)
    }

    /// Stops the proxy, then the mock.
    pub async fn shutdown(self) -> io::Result<()> {
        self.proxy.shutdown().await?;
        if let Some(mock) = self.mock {
            mock.shutdown().await?;
        }
        Ok(())
    }
}

/// The token from [`TOKEN_ENV`], if set and not blank.
pub fn token_from_env() -> Option<String> {
    std::env::var(TOKEN_ENV).ok().filter(|token| !token.trim().is_empty())
}

/// Starts what `serve` runs, with `token` (normally [`token_from_env`]):
/// - the upstream is `args.upstream`, else `mock` without a token, else [`DEFAULT_UPSTREAM`];
/// - a real upstream needs the token ([`StartError::MissingToken`]) and `--allow-bot`
///   pairs or `--allow-any-bot` ([`StartError::NoAllowedBots`]);
/// - in mock mode the mock starts on 127.0.0.1:0 expecting `token`, or a random one,
///   and `/demo/leads` is enabled.
pub async fn start(args: ServeArgs, token: Option<String>) -> Result<Serving, StartError> {
    let token = token.filter(|t| !t.trim().is_empty());
    if let Some(token) = &token {
        Secret::check_length(token, TOKEN_ENV).map_err(StartError::ShortToken)?;
    }
    let token = token.map(Secret::new);
    let upstream = match (args.upstream.clone(), &token) {
        (Some(upstream), _) => upstream,
        (None, None) => Upstream::Mock,
        (None, Some(_)) => Upstream::Url(DEFAULT_UPSTREAM.to_string()),
    };
    let chaos = std::sync::Arc::new(crate::chaos::Chaos::new(args.chaos.settings().map_err(StartError::Chaos)?));
    let (base, token, mock) = match &upstream {
        Upstream::Url(url) => {
            let token = token.ok_or_else(|| StartError::MissingToken(url.clone()))?;
            (url.clone(), token, None)
        }
        Upstream::Mock => {
            let token = token.unwrap_or_else(Secret::random);
            let addr = SocketAddr::from(([127, 0, 0, 1], 0));
            let listener = TcpListener::bind(addr).await.map_err(|err| StartError::Bind(addr, err))?;
            let mock = mock::spawn_with_chaos(listener, token.clone(), chaos.clone()).map_err(StartError::Io)?;
            (mock.url(), token, Some(mock))
        }
    };
    let allow_bots = match (&upstream, args.allow_bot.is_empty(), args.allow_any_bot) {
        (_, false, _) => Some(args.allow_bot.clone()),
        (Upstream::Mock, true, _) => None,
        (Upstream::Url(_), true, true) => {
            tracing::warn!("--allow-any-bot: this proxy forwards updates for ANY bot and customer");
            None
        }
        (Upstream::Url(url), true, false) => return Err(StartError::NoAllowedBots(url.clone())),
    };
    let trust = crate::trust::Trust::with_ca(args.upstream_ca.as_deref()).map_err(StartError::Trust)?;
    let mut config = config_from(args.clone(), base, token, mock.is_some(), allow_bots);
    config.upstream_trust = trust;
    config.chaos = mock.is_some().then_some(chaos);
    let listener = TcpListener::bind(args.listen).await.map_err(|err| StartError::Bind(args.listen, err))?;
    let workers = match args.workers {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        workers => workers,
    };
    let header_timeout = config.header_timeout;
    let proxy = crate::server::spawn_proxy_on(listener, routes::routes(config), header_timeout, workers)
        .map_err(StartError::Io)?;
    Ok(Serving { proxy, mock, upstream })
}

/// The router's configuration from `serve`'s options.
fn config_from(
    args: ServeArgs,
    base: String,
    token: Secret,
    demo: bool,
    allow_bots: Option<Vec<reekolect_lead::BotIds>>,
) -> ProxyConfig {
    let client_ip = match (args.trust_forwarded_for, args.client_ip_header) {
        (_, Some(name)) => ClientIp::Header(name),
        (true, None) => ClientIp::ForwardedFor,
        (false, None) => ClientIp::Peer,
    };
    ProxyConfig {
        demo,
        www: args.www,
        allow_origins: args.allow_origin,
        allow_bots,
        timeout: args.upstream_timeout,
        request_timeout: args.request_timeout,
        header_timeout: args.header_timeout,
        max_body_bytes: args.max_body_bytes,
        ip_limit: (args.ip_per_minute, args.ip_burst),
        uuid_limit: (args.uuid_per_minute, args.uuid_burst),
        client_ip,
        visitor_key: args.visitor_secret.filter(|secret| !secret.is_empty()).map(VisitorKey::new),
        breaker: (args.breaker_failures, args.breaker_cooldown),
        ..ProxyConfig::new(base, token)
    }
}
