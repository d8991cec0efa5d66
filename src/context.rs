//! Reads the visitor context off the page: ids from the config, the widget's script tag
//! or the bot page URL; the UUID from `sessionStorage`.

use crate::config::Config;
use crate::error::CompanionError;
use reekolect_lead::{find_visitor_uuid, parse_bot_page_url, parse_widget_script_text, BotIds};

/// The id of the chat widget's `<script>` tag, whose text is `BotId,CustomerId`.
pub const WIDGET_SCRIPT_ID: &str = "Reekolect-messenger-widget";

/// Who the current visitor is, and which bot and account they talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitorContext {
    /// The visitor UUID the widget stored in `sessionStorage`.
    pub uuid: String,
    /// The bot's id.
    pub bot_id: String,
    /// The customer account's id.
    pub customer_id: String,
}

/// Works out the context now. Ids: explicit config first (the site said so), then the
/// widget tag, then the bot page URL. Anything missing is an error, never a guess.
pub fn resolve(config: &Config) -> Result<VisitorContext, CompanionError> {
    let ids = bot_ids(config)?;
    let uuid = visitor_uuid(config.uuid_key.as_deref())?;
    Ok(VisitorContext { uuid, bot_id: ids.bot_id, customer_id: ids.customer_id })
}

fn bot_ids(config: &Config) -> Result<BotIds, CompanionError> {
    if let (Some(bot_id), Some(customer_id)) = (&config.bot_id, &config.customer_id) {
        let text = bot_id.to_string() + "," + customer_id;
        return parse_widget_script_text(&text).map_err(|_| {
            CompanionError::Config("init(): botId and customerId must be ids of letters, digits, '-' or '_'".into())
        });
    }
    let window =
        web_sys::window().ok_or_else(|| CompanionError::Context("no window: the companion runs in a page".into()))?;
    let script_text = window
        .document()
        .and_then(|document| document.get_element_by_id(WIDGET_SCRIPT_ID))
        .and_then(|tag| tag.text_content());
    let page_url = config.bot_page_url.clone().or_else(|| window.location().href().ok());
    if let Some(ids) = page_url.as_deref().and_then(parse_bot_page_url) {
        if script_text.is_none() {
            return Ok(ids);
        }
    }
    match script_text {
        Some(text) => parse_widget_script_text(&text).map_err(CompanionError::Context),
        None => Err(CompanionError::Context(
            "no BotId/CustomerId: the page has no <script id=\"Reekolect-messenger-widget\">BotId,CustomerId</script>, \
             is not a bot page (https://page.Reekolect.online/BotId/CustomerId), and init() got no botId/customerId"
                .into(),
        )),
    }
}

fn visitor_uuid(configured_key: Option<&str>) -> Result<String, CompanionError> {
    let storage = crate::store::session()
        .ok_or_else(|| CompanionError::Context("sessionStorage is blocked: no visitor UUID".into()))?;
    let count = storage.length().unwrap_or(0);
    let entries = (0..count).filter_map(|i| {
        let key = storage.key(i).ok().flatten()?;
        let value = storage.get_item(&key).ok().flatten()?;
        Some((key, value))
    });
    find_visitor_uuid(entries, configured_key).map_err(CompanionError::Context)
}
