//! The proxy's `/lead` contract as a Cloudflare Worker.
//!
//! Sites on hosted builders cannot run `reekolect-proxy` next to them; a Worker on a route of
//! their own domain can. This crate is the Worker's rules, compiled to wasm and called by a
//! small JS entry (`edge/js/worker.mjs`) that does the I/O the platform offers natively
//! (reading the request, `fetch` upstream without following redirects, the rate-limit
//! bindings). Here, with the shared [`reekolect_lead`] rules: the configuration, the lead's
//! validation, the bot allowlist, visitor tokens, CORS's answers, every error body and the
//! relay of upstream answers, each as the proxy does it (`tests/contract/` runs one set of
//! HTTP cases against both; the host tests below hold the functions to the proxy's own).
//!
//! The I/O is left out on purpose (sans-IO): no `web-sys`, no futures, so the wasm stays
//! small, and every rule here is testable on the host.

#![warn(missing_docs)]

pub mod admit;
pub mod config;
pub mod cors;
pub mod error;
pub mod once;
pub mod relay;
pub mod visitor;

pub use config::{Config, Vars};
pub use error::{ApiError, ConfigError};

use relay::{Relayed, UpstreamAnswer};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

/// The Worker's rules for one configuration (built once per isolate from `env`).
#[wasm_bindgen]
#[derive(Debug)]
pub struct Edge {
    config: Config,
    /// The updates this isolate forwarded lately ([`once`]).
    deliveries: RefCell<once::Deliveries>,
}

/// An answer to send, or (when [`Answer::forward`]) a lead to forward upstream.
#[wasm_bindgen]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    status: u16,
    body: String,
    retry_after: Option<String>,
    forward: bool,
    uuid: Option<String>,
    key: Option<String>,
}

#[wasm_bindgen]
impl Answer {
    /// The HTTP status (200 when the lead is to be forwarded).
    #[wasm_bindgen(getter)]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The JSON body: the answer's, or the normalised lead to forward.
    #[wasm_bindgen(getter)]
    pub fn body(&self) -> String {
        self.body.clone()
    }

    /// `Retry-After` to send, if any.
    #[wasm_bindgen(getter, js_name = retryAfter)]
    pub fn retry_after(&self) -> Option<String> {
        self.retry_after.clone()
    }

    /// Whether [`Answer::body`] is a lead to forward rather than an answer.
    #[wasm_bindgen(getter)]
    pub fn forward(&self) -> bool {
        self.forward
    }

    /// The forwarded lead's visitor UUID (the per-visitor rate limit's key).
    #[wasm_bindgen(getter)]
    pub fn uuid(&self) -> Option<String> {
        self.uuid.clone()
    }

    /// The forwarded update's key (visitor and update id) when the request had an update
    /// id: for [`Edge::claim_update`] and [`Edge::settle_update`].
    #[wasm_bindgen(getter)]
    pub fn key(&self) -> Option<String> {
        self.key.clone()
    }
}

impl From<ApiError> for Answer {
    fn from(error: ApiError) -> Self {
        Relayed::from(error).into()
    }
}

impl From<Relayed> for Answer {
    fn from(relayed: Relayed) -> Self {
        Self {
            status: relayed.status,
            body: relayed.body,
            retry_after: relayed.retry_after,
            forward: false,
            uuid: None,
            key: None,
        }
    }
}

/// A 500 naming the setting at fault (never a secret's value), for every `/lead` request
/// while the configuration is wrong.
#[wasm_bindgen(js_name = configErrorAnswer)]
pub fn config_error_answer(message: &str) -> Answer {
    ApiError::new(500, format!("worker configuration: {message}")).into()
}

/// Answers for the routes and failures, with the proxy's statuses and messages.
#[wasm_bindgen]
impl Edge {
    /// The rules for `vars` (a JSON object of the Worker's vars and secrets, see [`Vars`]);
    /// throws the message of a [`ConfigError`].
    #[wasm_bindgen(constructor)]
    pub fn new(vars: &str) -> Result<Edge, String> {
        let vars: Vars = serde_json::from_str(vars).map_err(|err| ConfigError::Vars(err.to_string()).to_string())?;
        Config::from_vars(&vars)
            .map(|config| Edge { config, deliveries: RefCell::default() })
            .map_err(|err| err.to_string())
    }

    /// `<upstream>/inbox/direct/lead`.
    #[wasm_bindgen(getter, js_name = leadUrl)]
    pub fn lead_url(&self) -> String {
        format!("{}/inbox/direct/lead", self.config.upstream)
    }

    /// The token sent as `x-bp-token`.
    #[wasm_bindgen(getter)]
    pub fn token(&self) -> String {
        self.config.token.clone()
    }

    /// Limit on one upstream call, in milliseconds.
    #[wasm_bindgen(getter, js_name = upstreamTimeoutMs)]
    pub fn upstream_timeout_ms(&self) -> u32 {
        self.config.upstream_timeout_ms
    }

    /// Largest `/lead` body, in bytes.
    #[wasm_bindgen(getter, js_name = maxBodyBytes)]
    pub fn max_body_bytes(&self) -> u32 {
        self.config.max_body_bytes
    }

    /// Largest upstream answer read, in bytes.
    #[wasm_bindgen(getter, js_name = maxUpstreamBytes)]
    pub fn max_upstream_bytes(&self) -> u32 {
        relay::MAX_UPSTREAM_BODY
    }

    /// The path in front of `/lead` and `/healthz` (`""` or `/segments`).
    #[wasm_bindgen(getter, js_name = basePath)]
    pub fn base_path(&self) -> String {
        self.config.base_path.clone()
    }

    /// Whether identity updates need a visitor token (read it only then).
    #[wasm_bindgen(getter, js_name = checksVisitors)]
    pub fn checks_visitors(&self) -> bool {
        self.config.visitor_key.is_some()
    }

    /// CORS headers for an answer to `origin`, as `[name, value, …]`: a preflight's, or an
    /// actual answer's.
    pub fn cors(&self, origin: Option<String>, preflight: bool) -> Vec<String> {
        cors::headers(&self.config.allow_origins, origin.as_deref(), preflight)
            .into_iter()
            .flat_map(|(name, value)| [name.to_string(), value])
            .collect()
    }

    /// The checks before forwarding `body`: the answer (400, 403, 401), or the normalised lead
    /// to forward. `visitor_token`: the header's, else `?visitor=`; `now`: unix seconds;
    /// `update_id`: `?updateId=`, if given (checked by the proxy's rule).
    pub fn admit(&self, body: &[u8], visitor_token: Option<String>, now: f64, update_id: Option<String>) -> Answer {
        match self.admitted(body, visitor_token.as_deref(), now as u64, update_id.as_deref()) {
            Ok((lead, uuid, key)) => {
                Answer { status: 200, body: lead, retry_after: None, forward: true, uuid: Some(uuid), key }
            }
            Err(error) => error.into(),
        }
    }

    /// The answer for the update `key` without forwarding it, when this isolate knows one
    /// (see [`once`]): delivered before, or a 425 while on its way. `None`: forward it, then
    /// call [`Edge::settle_update`]. `now`: ms since the epoch.
    #[wasm_bindgen(js_name = claimUpdate)]
    pub fn claim_update(&self, key: &str, now: f64) -> Option<Answer> {
        self.deliveries.borrow_mut().claim(key, now)
    }

    /// Records the answer forwarding update `key` got (remembered when a delivery).
    #[wasm_bindgen(js_name = settleUpdate)]
    pub fn settle_update(&self, key: &str, answer: &Answer, now: f64) {
        self.deliveries.borrow_mut().settle(key, answer, now);
    }

    /// What the upstream answered, as the Worker answers it.
    pub fn relay(
        &self,
        status: u16,
        content_type: Option<String>,
        location_origin: Option<String>,
        retry_after: Option<String>,
        body: &[u8],
    ) -> Answer {
        let answer = UpstreamAnswer {
            status,
            content_type: content_type.as_deref(),
            location_origin: location_origin.as_deref(),
            retry_after: retry_after.as_deref(),
            body,
        };
        relay::relay(&answer, &self.config.token).into()
    }

    /// 502: the upstream could not be reached (`cause`, scrubbed of the token).
    pub fn unreachable(&self, cause: &str) -> Answer {
        ApiError::new(502, format!("upstream unreachable: {}", relay::scrub(cause, &self.config.token))).into()
    }

    /// 504: no answer within the upstream timeout.
    #[wasm_bindgen(js_name = timedOut)]
    pub fn timed_out(&self) -> Answer {
        let within = config::format_duration(self.config.upstream_timeout_ms);
        ApiError::new(504, format!("upstream timeout: no answer within {within}")).into()
    }

    /// 504: the answer's head came, its body not in time.
    #[wasm_bindgen(js_name = readTimedOut)]
    pub fn read_timed_out(&self) -> Answer {
        ApiError::new(504, "upstream timeout while reading its answer").into()
    }

    /// 502: the connection closed (or was reset) while the answer's body came.
    #[wasm_bindgen(js_name = closedWhileAnswering)]
    pub fn closed_while_answering(&self) -> Answer {
        ApiError::new(502, "upstream closed the connection while answering").into()
    }

    /// 502: the answer is over the size read.
    #[wasm_bindgen(js_name = upstreamTooLarge)]
    pub fn upstream_too_large(&self) -> Answer {
        relay::upstream_too_large().into()
    }

    /// 413: the body is over [`Edge::max_body_bytes`].
    #[wasm_bindgen(js_name = tooLarge)]
    pub fn too_large(&self) -> Answer {
        ApiError::new(413, format!("body: must be at most {} bytes", self.config.max_body_bytes)).into()
    }

    /// 415: a `POST` that is neither `text/plain` nor JSON.
    #[wasm_bindgen(js_name = unsupportedType)]
    pub fn unsupported_type(&self) -> Answer {
        ApiError::new(415, "content-type: must be text/plain or application/json").into()
    }

    /// 429 from a rate-limit binding: `scope` is `client IP` or `visitor`; retry after the
    /// bindings' period.
    #[wasm_bindgen(js_name = tooMany)]
    pub fn too_many(&self, scope: &str) -> Answer {
        let seconds = self.config.limit_period_seconds;
        ApiError::new(429, format!("too many requests for this {scope}: retry in {seconds} s"))
            .with_retry_after(u64::from(seconds))
            .into()
    }
}

impl Edge {
    /// [`Edge::admit`]'s checks: the lead as JSON and its UUID, or the error.
    fn admitted(
        &self,
        body: &[u8],
        visitor_token: Option<&str>,
        now: u64,
        update_id: Option<&str>,
    ) -> Result<(String, String, Option<String>), ApiError> {
        let update = update_id.map(reekolect_lead::update_id::parse).transpose();
        let lead = match (reekolect_lead_json::read_lead(body), update.as_ref()) {
            (Ok(lead), Ok(_)) => lead,
            (Ok(_), Err(id_error)) => return Err(ApiError::fields(vec![id_error.clone()])),
            (Err(mut errors), id) => {
                errors.extend(id.err().cloned());
                return Err(ApiError::fields(errors));
            }
        };
        admit::check_bot(self.config.allow_bots.as_deref(), &lead)?;
        if let Some(key) = &self.config.visitor_key {
            admit::check_visitor(key, visitor_token, &lead, now)?;
        }
        let uuid = lead.uuid.clone().unwrap_or_default();
        let key = update.ok().flatten().map(|id| uuid.to_ascii_lowercase() + ":" + &id.to_string());
        Ok((serde_json::to_string(&lead).expect("a lead serialises"), uuid, key))
    }
}

/// `GET /healthz`: the Worker answers.
#[wasm_bindgen(js_name = healthAnswer)]
pub fn health_answer() -> Answer {
    Answer { status: 200, body: r#"{"ok":true}"#.to_string(), retry_after: None, forward: false, uuid: None, key: None }
}

/// 404 for any other path.
#[wasm_bindgen(js_name = notFoundAnswer)]
pub fn not_found_answer() -> Answer {
    ApiError::new(404, "not found").into()
}

/// 405 for another method on `/lead`.
#[wasm_bindgen(js_name = methodNotAllowedAnswer)]
pub fn method_not_allowed_answer() -> Answer {
    ApiError::new(405, "method not allowed").into()
}
