//! The `/lead` handlers: read and validate the update, check it (bot, visitor token,
//! visitor's rate), forward it with the token, relay the answer. What every route goes
//! through (request id, log line, CORS, metrics, timeouts, body and IP limits) is in the
//! router's layers ([`crate::routes`]).

use crate::deliveries::UpdateKey;
use crate::error::ApiError;
use crate::limits::uuid_bits;
use crate::state::AppState;
use crate::visitor::{self, VisitorKey, VISITOR_HEADER};
use crate::watchdog::Watched;
use axum::body::Bytes;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use reekolect_lead::{update_id, BotIds, FieldError, Lead};
use reekolect_lead_json::read_marked_lead;
use serde::Deserialize;
use std::sync::Arc;

/// Where a visitor token may travel besides its header.
#[derive(Debug, Default, Deserialize)]
struct LeadQuery {
    /// `?visitor=`.
    visitor: Option<String>,
}

/// `PUT /lead`: validate, check, forward with the token, relay the answer.
///
/// The request is taken whole rather than through the `HeaderMap` and `Query` extractors,
/// which would copy its headers and parse its query on every request: only the visitor
/// token is read from them, and only when the proxy checks visitor tokens.
pub(crate) async fn put_lead(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (token, watched, update) = (visitor_token(&state, &request), watchdog(&request), update_id_of(&request));
    match Bytes::from_request(request, &state).await {
        Ok(body) => submit(&state, token.as_deref(), update, &body, watched.as_deref()).await,
        Err(rejection) => rejection.into_response(),
    }
}

/// `POST /lead`: the same as `PUT`, for `text/plain` (a CORS simple request, as
/// `navigator.sendBeacon` sends) or `application/json` bodies.
pub(crate) async fn post_lead(State(state): State<Arc<AppState>>, request: Request) -> Response {
    if !is_text_or_json(request.headers()) {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type: must be text/plain or application/json",
        )
        .into_response();
    }
    put_lead(State(state), request).await
}

/// The connection's watchdog, when the proxy is served by [`crate::server`] (which puts it
/// in every request's extensions): it keeps the upstream call's time limit.
fn watchdog(request: &Request) -> Option<Arc<Watched>> {
    request.extensions().get::<Arc<Watched>>().cloned()
}

/// The request's visitor token when the proxy checks them: its header, else `?visitor=`
/// (for `navigator.sendBeacon`, which cannot set headers).
fn visitor_token(state: &AppState, request: &Request) -> Option<String> {
    state.visitor_key.as_ref()?;
    if let Some(token) = request.headers().get(VISITOR_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(token.to_string());
    }
    Query::<LeadQuery>::try_from_uri(request.uri()).ok().and_then(|Query(query)| query.visitor)
}

/// The request's update id (`?updateId=`), if it has one: its bits, or the error naming it.
/// Only a request with a query string pays for the look.
fn update_id_of(request: &Request) -> Option<Result<u128, FieldError>> {
    request.uri().query().and_then(update_id::find_in_query).map(update_id::parse)
}

/// Whether the content type is `text/plain` or `application/json` (any parameters).
fn is_text_or_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("text/plain") || essence.eq_ignore_ascii_case("application/json")
}

/// Admits the update ([`admit`]) and forwards it (the upstream timeout kept by the
/// connection's watchdog when `watched`, else by a tokio timer); an update with an id
/// ([`update_id_of`]) once ([`crate::deliveries`]). `visitor_token`: the request's visitor
/// token ([`visitor_token`], else `?visitor=`), if any.
async fn submit(
    state: &AppState,
    visitor_token: Option<&str>,
    update: Option<Result<u128, FieldError>>,
    body: &[u8],
    watched: Option<&Watched>,
) -> Response {
    // The lead is dropped before the `await`: the future keeps only the request's bytes.
    let (put, key) = match admit(state, visitor_token, update, body) {
        Ok((lead, plain, key)) => (state.upstream.put_lead(&lead, plain, watched), key),
        Err(error) => return error.into_response(),
    };
    match key {
        Some(key) => state.deliveries.once(key, put).await,
        None => put.await,
    }
}

/// Every check before forwarding: a valid lead and update id (400), an allowed bot (403),
/// a visitor token when one is needed (401), the visitor's rate (429). Gives the lead, and
/// the update's key when it has an id.
fn admit(
    state: &AppState,
    visitor_token: Option<&str>,
    update: Option<Result<u128, FieldError>>,
    body: &[u8],
) -> Result<(Lead, bool, Option<UpdateKey>), ApiError> {
    let update = update.transpose();
    let (lead, plain) = match (read_marked_lead(body), update.as_ref()) {
        (Ok(read), Ok(_)) => read,
        (Ok(_), Err(id_error)) => return Err(ApiError::fields(vec![id_error.clone()])),
        (Err(mut errors), id) => {
            errors.extend(id.err().cloned());
            return Err(ApiError::fields(errors));
        }
    };
    check_bot(state.allow_bots.as_deref(), &lead)?;
    if let Some(key) = &state.visitor_key {
        check_visitor(key, visitor_token, &lead)?;
    }
    // The visitor's UUID read once, for its limit and its update's key.
    let visitor = lead.uuid.as_deref().and_then(uuid_bits).unwrap_or(0);
    state.uuids.check_bits(visitor)?;
    let key = update.ok().flatten().map(|id| (visitor, id));
    Ok((lead, plain, key))
}

/// 403 unless the lead's (botId, customerId) is allowed.
fn check_bot(allowed: Option<&[BotIds]>, lead: &Lead) -> Result<(), ApiError> {
    BotIds::check_allowed(allowed, lead).map_err(|rule| {
        let mut error =
            ApiError::fields(vec![FieldError::new("botId", rule.clone()), FieldError::new("customerId", rule.clone())]);
        error.status = StatusCode::FORBIDDEN;
        error.message = format!("botId/customerId: {rule}");
        error
    })
}

/// 401 when the update sets name, email or phone without a valid visitor token.
fn check_visitor(key: &VisitorKey, token: Option<&str>, lead: &Lead) -> Result<(), ApiError> {
    if !visitor::touches_identity(lead) {
        return Ok(());
    }
    let uuid = lead.uuid.as_deref().unwrap_or_default();
    key.verify(token, uuid, visitor::unix_now()).map_err(|err| {
        let mut error = ApiError::field(StatusCode::UNAUTHORIZED, "visitorToken", err.to_string());
        error.message = format!("visitorToken: {} ({err})", err.reason());
        error
    })
}
