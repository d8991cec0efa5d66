//! Where the visitor context comes from: the widget's script tag, the bot page URL and
//! the visitor UUID the widget stores in `sessionStorage`.

use crate::FAST_PATHS;

/// The two ids that name a bot of a customer account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIds {
    /// The bot's id.
    pub bot_id: String,
    /// The customer account's id.
    pub customer_id: String,
}

impl BotIds {
    /// Whether an update of `lead` may be written under the allow-list `allowed` (`None`: for
    /// any bot): else the rule it breaks, which the proxy and the edge Worker answer 403 with.
    pub fn check_allowed(allowed: Option<&[BotIds]>, lead: &crate::Lead) -> Result<(), String> {
        let (bot_id, customer_id) =
            (lead.bot_id.as_deref().unwrap_or_default(), lead.customer_id.as_deref().unwrap_or_default());
        match allowed {
            Some(allowed) if !allowed.iter().any(|ids| ids.bot_id == bot_id && ids.customer_id == customer_id) => {
                Err(format!("this proxy does not write leads for botId {bot_id:?} with customerId {customer_id:?}"))
            }
            _ => Ok(()),
        }
    }
}

/// True for an id the API uses: 1 to 64 ASCII letters, digits, `-` or `_`.
pub(crate) fn is_id(value: &str) -> bool {
    let bytes = value.as_bytes();
    match bytes.len() {
        0 | 65.. => false,
        len if FAST_PATHS && len >= 8 => {
            // The last word overlaps the one before it unless the length is a multiple of 8.
            let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"));
            (0..len - 8).step_by(8).all(|at| id_bytes(word(at))) && id_bytes(word(len - 8))
        }
        _ => bytes.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
    }
}

/// True for a UUID in its textual form (`8-4-4-4-12` hex digits, any case).
pub fn is_uuid(value: &str) -> bool {
    let bytes = value.as_bytes();
    if FAST_PATHS {
        return is_uuid_by_words(bytes);
    }
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// [`is_uuid`] eight bytes at a time: the dashes where they belong, and the 32 digits in
/// four words (the groups of four paired).
fn is_uuid_by_words(bytes: &[u8]) -> bool {
    let Ok(bytes) = <&[u8; 36]>::try_from(bytes) else {
        return false;
    };
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"));
    let half = |at: usize| u64::from(u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes")));
    [bytes[8], bytes[13], bytes[18], bytes[23]] == [b'-'; 4]
        && hex_digits(word(0))
        && hex_digits(half(9) | half(14) << 32)
        && hex_digits(half(19) | half(24) << 32)
        && hex_digits(word(28))
}

/// A one in every byte.
const ONES: u64 = 0x0101_0101_0101_0101;

/// The bytes of `word` from `lo` to `hi`, marked by their high bit; for a word of ASCII
/// bytes (below 0x80), where adding `0x80 - lo` sets a byte's high bit when it is `lo` or
/// more and adding `0x7f - hi` when it is above `hi`, without carrying into the next byte.
fn in_range(word: u64, lo: u8, hi: u8) -> u64 {
    word.wrapping_add(ONES * u64::from(0x80 - lo)) & !word.wrapping_add(ONES * u64::from(0x7f - hi))
}

/// Whether the eight bytes of `word` are all ASCII hex digits, either case: letters are
/// tested with their 0x20 bit set (`A`-`F` as `a`-`f`), digits as they are (with it set,
/// 0x10-0x19 would pass as digits).
fn hex_digits(word: u64) -> bool {
    let ok = in_range(word, b'0', b'9') | in_range(word | (ONES * 0x20), b'a', b'f');
    word & (ONES * 0x80) == 0 && ok & (ONES * 0x80) == ONES * 0x80
}

/// Whether the eight bytes of `word` are all ASCII letters, digits, `-` or `_`.
fn id_bytes(word: u64) -> bool {
    let ok = in_range(word, b'0', b'9')
        | in_range(word | (ONES * 0x20), b'a', b'z')
        | in_range(word, b'-', b'-')
        | in_range(word, b'_', b'_');
    word & (ONES * 0x80) == 0 && ok & (ONES * 0x80) == ONES * 0x80
}

/// Reads `BotId,CustomerId` from the text of the widget's
/// `<script id="Reekolect-messenger-widget" …>BotId,CustomerId</script>` tag.
/// Whitespace and newlines around either id are tolerated.
pub fn parse_widget_script_text(text: &str) -> Result<BotIds, String> {
    let mut parts = text.split(',').map(str::trim);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(bot_id), Some(customer_id), None) if is_id(bot_id) && is_id(customer_id) => {
            Ok(BotIds { bot_id: bot_id.to_string(), customer_id: customer_id.to_string() })
        }
        _ => {
            Err("the widget script's text must be \"BotId,CustomerId\" (ids of letters, digits, '-' or '_'), found \""
                .to_string()
                + &text.trim().chars().take(80).collect::<String>()
                + "\"")
        }
    }
}

/// Reads the ids from a bot page URL, `https://page.Reekolect.online/BotId/CustomerId`
/// (host in any case, query and fragment ignored). `None` when the URL is not a bot page.
pub fn parse_bot_page_url(url: &str) -> Option<BotIds> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    if !host.eq_ignore_ascii_case("page.reekolect.online") {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let (bot_id, customer_id) = (segments.next()?, segments.next()?);
    (is_id(bot_id) && is_id(customer_id))
        .then(|| BotIds { bot_id: bot_id.to_string(), customer_id: customer_id.to_string() })
}

/// Finds the visitor UUID among `sessionStorage` entries.
///
/// With `configured_key`, only that entry is read. Otherwise an entry counts when its key
/// names a uuid (contains "uuid", any case) and its value is a UUID, or when its value is
/// JSON holding a UUID under a property that names a uuid. Several different UUIDs are an
/// error, not a guess.
pub fn find_visitor_uuid<K, V, I>(entries: I, configured_key: Option<&str>) -> Result<String, String>
where
    K: AsRef<str>,
    V: AsRef<str>,
    I: IntoIterator<Item = (K, V)>,
{
    let mut found: Vec<(String, String)> = Vec::new();
    for (key, value) in entries {
        let (key, value) = (key.as_ref(), value.as_ref());
        let candidate = match configured_key {
            Some(wanted) if key != wanted => continue,
            Some(_) => uuid_in_value(value, true),
            None => uuid_in_value(value, crate::text::contains(&key.to_ascii_lowercase(), "uuid")),
        };
        if let Some(uuid) = candidate {
            if !found.iter().any(|(_, u)| u.eq_ignore_ascii_case(&uuid)) {
                found.push((key.to_string(), uuid));
            }
        } else if configured_key.is_some() {
            return Err("sessionStorage[\"".to_string() + key + "\"] holds no visitor UUID");
        }
    }
    match found.len() {
        1 => Ok(found.remove(0).1),
        0 => Err(match configured_key {
            Some(key) => {
                "no visitor UUID yet: sessionStorage has no \"".to_string()
                    + key
                    + "\" (the visitor has not opened the chat)"
            }
            None => {
                "no visitor UUID yet: nothing in sessionStorage holds one (the visitor has not opened the chat)".into()
            }
        }),
        _ => Err("several visitor UUIDs in sessionStorage (keys \"".to_string()
            + &crate::text::join(found.iter().map(|(k, _)| k.as_str()), "\", \"")
            + "\"): set uuidKey to say which"),
    }
}

/// The UUID a storage value holds: the bare value (when `bare_counts`), a JSON string,
/// or a JSON object with a uuid-named property.
fn uuid_in_value(value: &str, bare_counts: bool) -> Option<String> {
    let trimmed = value.trim();
    let unquoted = trimmed.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(trimmed);
    if bare_counts && is_uuid(unquoted) {
        return Some(unquoted.to_string());
    }
    if !trimmed.starts_with('{') {
        return None;
    }
    // A value that only needs finding, not a whole JSON parser: walk the string literals
    // and take the first UUID that stands as the value of a uuid-named key.
    let mut literals = JsonStrings { rest: trimmed };
    let mut previous_key_names_uuid = false;
    while let Some((literal, is_key)) = literals.next_literal() {
        if is_key {
            previous_key_names_uuid = crate::text::contains(&literal.to_ascii_lowercase(), "uuid");
        } else if previous_key_names_uuid && is_uuid(literal) {
            return Some(literal.to_string());
        } else {
            previous_key_names_uuid = false;
        }
    }
    None
}

struct JsonStrings<'a> {
    rest: &'a str,
}

impl<'a> JsonStrings<'a> {
    /// The next string literal (raw, escapes left in) and whether a `:` follows it.
    fn next_literal(&mut self) -> Option<(&'a str, bool)> {
        let start = self.rest.find('"')? + 1;
        let bytes = self.rest.as_bytes();
        let mut end = start;
        while end < bytes.len() && bytes[end] != b'"' {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        let literal = self.rest.get(start..end)?;
        self.rest = self.rest.get(end + 1..).unwrap_or("");
        let is_key = self.rest.trim_start().starts_with(':');
        Some((literal, is_key))
    }
}
