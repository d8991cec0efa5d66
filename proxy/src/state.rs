//! What every route of one proxy shares: the upstream client, the limiters, the breaker,
//! the metrics.

use crate::breaker::Breaker;
use crate::chaos::Chaos;
use crate::config::ProxyConfig;
use crate::deliveries::Deliveries;
use crate::forward::UpstreamClient;
use crate::limits::UuidLimiter;
use crate::metrics::Metrics;
use crate::visitor::VisitorKey;
use reekolect_lead::BotIds;
use std::sync::Arc;

/// The state of one proxy, built once from its [`ProxyConfig`].
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) upstream: UpstreamClient,
    pub(crate) allow_bots: Option<Vec<BotIds>>,
    pub(crate) visitor_key: Option<VisitorKey>,
    pub(crate) uuids: UuidLimiter,
    /// The updates recently forwarded, to forward each once.
    pub(crate) deliveries: Deliveries,
    pub(crate) breaker: Arc<Breaker>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) demo: bool,
    pub(crate) chaos: Option<Arc<Chaos>>,
}

impl AppState {
    /// The state `config` describes.
    pub(crate) fn new(config: &ProxyConfig) -> Self {
        let breaker = Arc::new(Breaker::new(config.breaker.0, config.breaker.1));
        let metrics = Arc::new(Metrics::default());
        Self {
            upstream: UpstreamClient::new(
                &config.upstream,
                config.token.clone(),
                config.timeout,
                breaker.clone(),
                metrics.clone(),
                &config.upstream_trust,
            ),
            allow_bots: config.allow_bots.clone(),
            visitor_key: config.visitor_key.clone(),
            uuids: UuidLimiter::new(config.uuid_limit.0, config.uuid_limit.1),
            deliveries: Deliveries::default(),
            breaker,
            metrics,
            demo: config.demo,
            chaos: config.chaos.clone(),
        }
    }
}
