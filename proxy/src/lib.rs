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
//! - [`proxy::service`] is the proxy as served ([`Proxy`]: a hot path for `PUT`/`POST /lead`
//!   in front of [`proxy::router`]); [`proxy::router`] and [`mock::router`] are axum routers;
//! - [`mock::spawn`] and [`proxy::spawn`] run them on a listener, returning a [`ServerHandle`].

#![warn(missing_docs)]

pub mod alloc;
pub mod app;
pub mod breaker;
pub mod chaos;
pub mod cli;
pub mod credentials;
mod egress;
mod error;
mod forward;
pub mod healthcheck;
mod hot;
mod lead_json;
pub mod leads;
pub mod limits;
pub mod metrics;
pub mod mock;
pub mod openapi;
pub mod proxy;
mod secret;
mod server;
mod threads;
pub mod tls;
pub mod trust;
pub mod visitor;
mod watchdog;
mod wire;
mod www;

pub use app::{start, Serving, StartError, Upstream, DEFAULT_UPSTREAM, TOKEN_ENV};
pub use error::ApiError;
pub use hot::Proxy;
pub use secret::{Secret, MIN_TOKEN_LEN};
pub use server::{spawn_router, ServerHandle};
