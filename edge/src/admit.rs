//! Every check before an update is forwarded, in the proxy's order: a valid lead (400), an
//! allowed bot (403), a visitor token when one is needed (401). The per-visitor rate limit
//! comes after, in the JS entry (the platform's binding).

use crate::error::ApiError;
use crate::visitor::{self, VisitorKey};
use reekolect_lead::{parse_lead, validate_lead, BotIds, FieldError, Lead};

/// Reads a lead update from a request body: a JSON object that parses as a [`Lead`] and passes
/// [`validate_lead`]; else the fields at fault (`body` when the body is not a JSON object),
/// checked in the proxy's order so that both name the same field and rule.
pub fn read_lead(body: &[u8]) -> Result<Lead, Vec<FieldError>> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        let mut source = serde_json::Deserializer::from_slice(body);
        if let Ok(lead) = <Lead as serde::Deserialize>::deserialize(&mut source) {
            if source.end().is_ok() {
                return validate_lead(lead);
            }
        }
    }
    if let Err(err) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        let rule = if body.iter().all(u8::is_ascii_whitespace) {
            "must be a JSON object (the body is empty)".to_string()
        } else {
            format!("is not valid JSON ({err})")
        };
        return Err(vec![FieldError::new("body", rule)]);
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(vec![FieldError::new("body", "must be a JSON object")]);
    }
    let lead = parse_lead(&mut serde_json::Deserializer::from_slice(body)).map_err(|err| vec![err])?;
    validate_lead(lead)
}

/// 403 unless the lead's (botId, customerId) is allowed (`None`: any).
pub fn check_bot(allowed: Option<&[BotIds]>, lead: &Lead) -> Result<(), ApiError> {
    let (bot_id, customer_id) =
        (lead.bot_id.as_deref().unwrap_or_default(), lead.customer_id.as_deref().unwrap_or_default());
    match allowed {
        Some(allowed) if !allowed.iter().any(|ids| ids.bot_id == bot_id && ids.customer_id == customer_id) => {
            let rule = format!("this proxy does not write leads for botId {bot_id:?} with customerId {customer_id:?}");
            let mut error = ApiError::fields(vec![
                FieldError::new("botId", rule.clone()),
                FieldError::new("customerId", rule.clone()),
            ]);
            error.status = 403;
            error.message = format!("botId/customerId: {rule}");
            Err(error)
        }
        _ => Ok(()),
    }
}

/// 401 when the update sets name, email or phone without a valid visitor token.
pub fn check_visitor(key: &VisitorKey, token: Option<&str>, lead: &Lead, now: u64) -> Result<(), ApiError> {
    if !visitor::touches_identity(lead) {
        return Ok(());
    }
    let uuid = lead.uuid.as_deref().unwrap_or_default();
    key.verify(token, uuid, now).map_err(|err| {
        let mut error = ApiError::field(401, "visitorToken", err.to_string());
        error.message = format!("visitorToken: {} ({err})", err.reason());
        error
    })
}
