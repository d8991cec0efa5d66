//! Every check before an update is forwarded, in the proxy's order: a valid lead (400, read
//! by the proxy's own reader, `reekolect_lead_json::read_lead`), an allowed bot (403), a
//! visitor token when one is needed (401). The per-visitor rate limit
//! comes after, in the JS entry (the platform's binding).

use crate::error::ApiError;
use crate::visitor::{self, VisitorKey};
use reekolect_lead::{BotIds, FieldError, Lead};

/// 403 unless the lead's (botId, customerId) is allowed (`None`: any).
pub fn check_bot(allowed: Option<&[BotIds]>, lead: &Lead) -> Result<(), ApiError> {
    BotIds::check_allowed(allowed, lead).map_err(|rule| {
        let mut error =
            ApiError::fields(vec![FieldError::new("botId", rule.clone()), FieldError::new("customerId", rule.clone())]);
        error.status = 403;
        error.message = format!("botId/customerId: {rule}");
        error
    })
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
