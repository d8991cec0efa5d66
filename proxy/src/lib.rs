//! The Reekolect companion's proxy.
//!
//! The browser companion cannot hold the Reekolect API token, so it sends its lead
//! updates to this proxy (`PUT /lead`). The proxy validates and normalises them with the
//! shared [`reekolect_lead`] rules, adds the `x-bp-token` header and forwards them to
//! `PUT <upstream>/inbox/direct/lead`, relaying the upstream's answer.
//!
//! The crate also embeds a mock of the two Reekolect API endpoints ([`mock`]), so the
//! whole path can run without an account: `reekolect-proxy serve --upstream mock`.
//!
//! Entry points:
//! - [`start`] assembles what `reekolect-proxy serve` runs (proxy, and the mock in mock mode);
//! - [`proxy::router`] is the proxy, every route and layer, and [`mock::router`] the mock,
//!   both axum routers;
//! - [`mock::spawn`] and [`proxy::spawn`] run them on a listener, returning a [`ServerHandle`].
//!
//! Modules depend on each other without a circle (see `docs/proxy-design.md`).

#![warn(missing_docs)]

mod access_log;
pub mod app;
mod bodies;
pub mod breaker;
pub mod chaos;
pub mod cli;
pub mod config;
mod cors;
pub mod credentials;
mod deliveries;
mod egress;
mod error;
mod forward;
pub mod healthcheck;
mod lead_handler;
pub mod leads;
pub mod limits;
pub mod metrics;
pub mod mock;
pub mod openapi;
mod pool;
pub mod proxy;
mod request_id;
mod resolver;
mod routes;
mod secret;
mod server;
mod sessions;
mod state;
mod threads;
mod timeout;
pub mod tls;
pub mod trust;
pub mod visitor;
mod watchdog;
mod wire;
mod www;

pub use app::{start, Serving, StartError};
pub use config::{Upstream, DEFAULT_UPSTREAM, TOKEN_ENV};
pub use error::ApiError;
pub use secret::{Secret, MIN_TOKEN_LEN};
pub use server::{spawn_router, ServerHandle};
