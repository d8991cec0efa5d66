//! The proxy as a library: its configuration ([`ProxyConfig`]), its router ([`router`]) and
//! [`spawn`], which serves that router the way `reekolect-proxy serve` does. The parts live
//! in their own modules: [`crate::config`] (configuration and defaults), [`crate::routes`]
//! (the routes and the layers every request goes through), [`crate::lead_handler`] (the
//! `/lead` handler), [`crate::server`] (serving connections).

use crate::server::{self, ServerHandle};
use std::io;
use tokio::net::TcpListener;

pub use crate::config::ProxyConfig;
pub use crate::request_id::REQUEST_ID;
pub use crate::routes::{routed_paths, router, READY_TIMEOUT};
pub use reekolect_lead_json::read_lead;

/// Serves the proxy ([`router`]) on `listener`, on a new tokio task, as `serve` does (one
/// worker thread: the caller's runtime).
pub fn spawn(listener: TcpListener, config: ProxyConfig) -> io::Result<ServerHandle> {
    let header_timeout = config.header_timeout;
    server::spawn_proxy_on(listener, crate::routes::routes(config), header_timeout, 1)
}
