//! An in-memory mock of the two Reekolect API endpoints the companion uses:
//! `PUT /inbox/direct/lead` (header `x-bp-token`) and `GET /inbox/direct/chats`
//! (header `x-bot-token`), both checked against the same token.
//!
//! Records come back in the shape of the API documentation's example. Fields the lead
//! update cannot set are constant: `isOnline` false, `lastMessage`, `lastSeenAt`, `city`,
//! `country` and `gender` null, `websiteVisits` 1. Fields never set are null (`name`,
//! `picture`, `email`, `phone`, `_agentAssigned`); `status` starts as `OPEN`.
//!
//! Updates merge like the real API is understood to: a scalar overwrites when present,
//! tags are a union (first-seen order), attributes are upserted by key, notes are
//! appended, each with a fresh `_id`.

use crate::chaos::Chaos;
use crate::server::{self, ServerHandle};
use crate::Secret;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::{get, put};
use axum::Router;
use reekolect_lead::Lead;
use reekolect_lead_json::read_lead;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;

/// Records per page of `GET /inbox/direct/chats`.
pub const PAGE_SIZE: usize = 20;

/// Chats are keyed by (botId, customerId, uuid).
type Key = (String, String, String);

/// One stored chat.
#[derive(Debug, Clone)]
struct Chat {
    id: String,
    uuid: String,
    created_at: String,
    updated_at: String,
    status: Option<String>,
    agent: Option<String>,
    name: Option<String>,
    picture: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    prefix: Option<String>,
    notes: Vec<(String, String, String)>,
    tags: Vec<String>,
    attributes: Vec<(String, String)>,
}

impl Chat {
    fn new(uuid: String, now: &str) -> Self {
        Self {
            id: object_id(),
            uuid,
            created_at: now.to_string(),
            updated_at: now.to_string(),
            status: None,
            agent: None,
            name: None,
            picture: None,
            email: None,
            phone: None,
            prefix: None,
            notes: Vec::new(),
            tags: Vec::new(),
            attributes: Vec::new(),
        }
    }

    /// Merges a validated update into the chat.
    fn merge(&mut self, lead: Lead, now: &str) {
        fn set(slot: &mut Option<String>, value: Option<String>) {
            if value.is_some() {
                *slot = value;
            }
        }
        set(&mut self.status, lead.status);
        set(&mut self.agent, lead.agent_id);
        set(&mut self.name, lead.name);
        set(&mut self.picture, lead.picture);
        set(&mut self.email, lead.email);
        set(&mut self.phone, lead.phone);
        set(&mut self.prefix, lead.dial_code.map(|code| code.trim_start_matches('+').to_string()));
        for note in lead.notes.unwrap_or_default() {
            self.notes.push((note.title, note.description, object_id()));
        }
        for tag in lead.tags.unwrap_or_default() {
            if !self.tags.contains(&tag) {
                self.tags.push(tag);
            }
        }
        for attribute in lead.attributes.unwrap_or_default() {
            match self.attributes.iter_mut().find(|(k, _)| *k == attribute.key) {
                Some((_, value)) => *value = attribute.value,
                None => self.attributes.push((attribute.key, attribute.value)),
            }
        }
        self.updated_at = now.to_string();
    }

    /// "lead" when the chat has a name, an email or a phone; else "non-lead".
    fn is_lead(&self) -> bool {
        self.name.is_some() || self.email.is_some() || self.phone.is_some()
    }

    /// The record as `GET /inbox/direct/chats` lists it.
    fn record(&self) -> Value {
        let phone = self
            .phone
            .as_ref()
            .map(|number| json!({"number": number, "prefix": self.prefix.clone().unwrap_or_default()}));
        json!({
            "_id": self.id,
            "uuid": self.uuid,
            "createdAt": self.created_at,
            "isOnline": false,
            "lastMessage": null,
            "lastSeenAt": null,
            "profile": {
                "notes": self.notes.iter().map(|(title, description, id)| json!({
                    "title": title, "description": description, "_id": id,
                })).collect::<Vec<_>>(),
                "userDetails": {
                    "name": self.name,
                    "picture": self.picture,
                    "contact": {"email": self.email, "phone": phone},
                    "city": null,
                    "country": null,
                    "gender": null,
                    "tags": self.tags,
                    "attributes": self.attributes.iter().map(|(key, value)| json!({
                        "key": key, "value": value,
                    })).collect::<Vec<_>>(),
                },
            },
            "status": self.status.as_deref().unwrap_or("OPEN"),
            "updatedAt": self.updated_at,
            "websiteVisits": 1,
            "_agentAssigned": self.agent,
        })
    }
}

/// The mock's shared state.
#[derive(Debug, Clone)]
struct MockState {
    token: Secret,
    chats: Arc<Mutex<HashMap<Key, Chat>>>,
}

/// The mock API as an axum router with fresh, empty in-memory state, accepting `token`
/// in `x-bp-token` and `x-bot-token`.
pub fn router(token: Secret) -> Router {
    router_with_chaos(token, Arc::default())
}

/// [`router`], with lead updates subject to `chaos` (see [`crate::chaos`]).
pub fn router_with_chaos(token: Secret, chaos: Arc<Chaos>) -> Router {
    let state = MockState { token, chats: Arc::default() };
    Router::new()
        .route("/inbox/direct/lead", put(put_lead).layer(from_fn_with_state(chaos, crate::chaos::inject)))
        .route("/inbox/direct/chats", get(get_chats))
        .with_state(state)
        .layer(crate::access_log::AccessLogLayer(mock_span))
}

/// The mock's requests' span: `mock` with method and path.
fn mock_span(method: &axum::http::Method, uri: &axum::http::Uri, _: &axum::http::HeaderMap) -> tracing::Span {
    tracing::info_span!("mock", method = %method, path = %uri.path())
}

/// Serves the mock ([`router`]) on `listener`, on a new tokio task.
pub fn spawn(listener: TcpListener, token: Secret) -> io::Result<ServerHandle> {
    server::spawn_router(listener, router(token))
}

/// Serves the mock with `chaos` ([`router_with_chaos`]) on `listener`.
pub fn spawn_with_chaos(listener: TcpListener, token: Secret, chaos: Arc<Chaos>) -> io::Result<ServerHandle> {
    server::spawn_router(listener, router_with_chaos(token, chaos))
}

/// The mock's answers: `{"success":…,"message":…,"code":…}` plus extra fields.
fn answer(status: StatusCode, message: &str, extra: Option<(&str, Value)>) -> Response {
    let mut body = json!({
        "success": status.is_success(),
        "message": message,
        "code": status.as_u16(),
    });
    if let Some((name, value)) = extra {
        body[name] = value;
    }
    crate::error::json_response(status, &body)
}

fn authorized(state: &MockState, headers: &HeaderMap, header: &str) -> bool {
    headers.get(header).is_some_and(|value| state.token.matches(value.as_bytes()))
}

fn unauthorized() -> Response {
    answer(StatusCode::UNAUTHORIZED, "Unauthorized", None)
}

async fn put_lead(State(state): State<MockState>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&state, &headers, "x-bp-token") {
        return unauthorized();
    }
    let lead = match read_lead(&body) {
        Ok(lead) => lead,
        Err(errors) => {
            let message = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            return answer(StatusCode::BAD_REQUEST, &message, None);
        }
    };
    let key = (
        lead.bot_id.clone().unwrap_or_default(),
        lead.customer_id.clone().unwrap_or_default(),
        lead.uuid.clone().unwrap_or_default(),
    );
    let now = now();
    let mut chats = state.chats.lock().unwrap_or_else(|e| e.into_inner());
    chats.entry(key.clone()).or_insert_with(|| Chat::new(key.2, &now)).merge(lead, &now);
    answer(StatusCode::OK, "ok", None)
}

async fn get_chats(
    State(state): State<MockState>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    if !authorized(&state, &headers, "x-bot-token") {
        return unauthorized();
    }
    let Ok(Query(query)) = query else {
        return answer(StatusCode::BAD_REQUEST, "query: is not valid", None);
    };
    let (bot_id, customer_id, page, kind) = match chats_query(&query) {
        Ok(parsed) => parsed,
        Err(message) => return answer(StatusCode::BAD_REQUEST, &message, None),
    };
    let mut matching: Vec<Chat> = {
        let chats = state.chats.lock().unwrap_or_else(|e| e.into_inner());
        chats
            .iter()
            .filter(|((bot, customer, _), chat)| {
                bot == bot_id && customer == customer_id && chat.is_lead() == (kind == "lead")
            })
            .map(|(_, chat)| chat.clone())
            .collect()
    };
    matching.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
    let data: Vec<Value> =
        matching.iter().skip((page - 1).saturating_mul(PAGE_SIZE)).take(PAGE_SIZE).map(Chat::record).collect();
    answer(StatusCode::OK, "ok", Some(("data", Value::Array(data))))
}

/// botId, customerId, page (1-based) and type from the query, or the first problem.
fn chats_query(query: &HashMap<String, String>) -> Result<(&str, &str, usize, &str), String> {
    let required = |name: &str| {
        query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()).ok_or_else(|| format!("{name}: is required"))
    };
    let bot_id = required("botId")?;
    let customer_id = required("customerId")?;
    let page = required("page")?;
    let kind = required("type")?;
    let page = page.parse::<usize>().ok().filter(|p| *p >= 1).ok_or("page: must be a positive integer")?;
    if kind != "lead" && kind != "non-lead" {
        return Err("type: must be \"lead\" or \"non-lead\"".to_string());
    }
    Ok((bot_id, customer_id, page, kind))
}

/// Now, as RFC 3339 with milliseconds: `2023-02-01T05:59:03.533Z`.
fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// A fresh 24-hex id in the style of a MongoDB ObjectId: seconds since the epoch, a
/// per-process random part and a counter, so ids made later sort later.
fn object_id() -> String {
    static PROCESS: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let process = *PROCESS.get_or_init(|| {
        use rand::RngCore;
        rand::thread_rng().next_u64() & 0xff_ffff_ffff
    });
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as u32;
    let count = COUNTER.fetch_add(1, Ordering::Relaxed) & 0xff_ffff;
    format!("{seconds:08x}{process:010x}{count:06x}")
}
