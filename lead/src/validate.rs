//! Validation and normalisation of a [`Lead`]: every rule the companion and the proxy share.

use crate::context::{is_id, is_uuid};
use crate::text::{decimal, join};
use crate::{Attribute, FieldError, Lead, Note, STATUSES};

/// The size bounds applied to a lead update.
#[derive(Debug, Clone, Copy)]
pub struct Limits;

impl Limits {
    /// Longest name, note title or tag, in characters.
    pub const SHORT_TEXT: usize = 200;
    /// Longest tag or attribute key, in characters.
    pub const KEY: usize = 64;
    /// Longest attribute value, in characters.
    pub const VALUE: usize = 1000;
    /// Longest note description, in characters.
    pub const LONG_TEXT: usize = 5000;
    /// Longest picture URL, in characters.
    pub const URL: usize = 2048;
    /// Most notes, tags or attributes in one update.
    pub const LIST: usize = 100;
}

/// Checks and normalises the lead's own fields (everything but `uuid`, `botId` and
/// `customerId`). Returns the normalised lead, or every rule that was broken.
///
/// Normalisation: strings are trimmed; `status` is upper-cased; `email`'s domain is
/// lower-cased; `phone` keeps its digits only and a leading `+CC` moves to `dialCode`;
/// `dialCode` gets its `+`; tags are de-duplicated (first one kept); attributes with the
/// same key collapse to the last value given.
pub fn validate_fields(lead: Lead) -> Result<Lead, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut out = Lead { uuid: lead.uuid, bot_id: lead.bot_id, customer_id: lead.customer_id, ..Lead::default() };

    out.agent_id = lead.agent_id.and_then(|v| check(&mut errors, "agentId", id(v)));
    out.status = lead.status.and_then(|v| check(&mut errors, "status", status(v)));
    out.picture = lead.picture.and_then(|v| check(&mut errors, "picture", picture(v)));
    out.name = lead.name.and_then(|v| check(&mut errors, "name", text(v, 1, Limits::SHORT_TEXT, false)));
    out.email = lead.email.and_then(|v| check(&mut errors, "email", email(v)));
    out.dial_code = lead.dial_code.and_then(|v| check(&mut errors, "dialCode", dial_code(&v)));
    if let Some(raw) = lead.phone {
        if let Some((code, number)) = check(&mut errors, "phone", phone(&raw)) {
            match (code, &out.dial_code) {
                (Some(code), Some(given)) if &code != given => errors
                    .push(FieldError::new("phone", "starts with ".to_string() + &code + " but dialCode is " + given)),
                (Some(code), None) => out.dial_code = Some(code),
                _ => {}
            }
            out.phone = Some(number);
        }
    }
    out.notes = lead
        .notes
        .and_then(|notes| check(&mut errors, "notes", list_len(notes)).map(|notes| self::notes(&mut errors, notes)));
    out.tags =
        lead.tags.and_then(|tags| check(&mut errors, "tags", list_len(tags)).map(|tags| self::tags(&mut errors, tags)));
    out.attributes = lead.attributes.and_then(|list| {
        check(&mut errors, "attributes", list_len(list)).map(|list| self::attributes(&mut errors, list))
    });

    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Checks a complete lead as the upstream API takes it: [`validate_fields`] plus the
/// required `uuid` (a UUID), `botId` and `customerId` (ids of letters, digits, `-`, `_`).
pub fn validate_lead(lead: Lead) -> Result<Lead, Vec<FieldError>> {
    let mut errors = Vec::new();
    match &lead.uuid {
        None => errors.push(FieldError::new("uuid", "is required")),
        Some(v) if !is_uuid(v) => {
            errors.push(FieldError::new("uuid", "must be a UUID like 7e88d192-9b20-4035-9b68-d4ac3d58a34f"))
        }
        Some(_) => {}
    }
    for (field, value) in [("botId", &lead.bot_id), ("customerId", &lead.customer_id)] {
        match value {
            None => errors.push(FieldError::new(field, "is required")),
            Some(v) => {
                if !is_id(v.trim()) {
                    errors.push(FieldError::new(field, ID_RULE));
                }
            }
        }
    }
    match validate_fields(lead) {
        Ok(lead) if errors.is_empty() => Ok(lead),
        Ok(_) => Err(errors),
        Err(more) => {
            errors.extend(more);
            Err(errors)
        }
    }
}

type Rule<T> = Result<T, String>;

fn check<T>(errors: &mut Vec<FieldError>, field: &str, result: Rule<T>) -> Option<T> {
    result.map_err(|rule| errors.push(FieldError::new(field, rule))).ok()
}

/// [`check`] for an item of a list: its path (`tags[3]`, `notes[0].title`) is only
/// written when the rule is broken, which valid updates never pay for.
fn check_item<T>(errors: &mut Vec<FieldError>, list: &str, i: usize, part: &str, result: Rule<T>) -> Option<T> {
    result
        .map_err(|rule| errors.push(FieldError::new(list.to_string() + "[" + &decimal(i as u64) + "]" + part, rule)))
        .ok()
}

/// `value` without surrounding whitespace, reusing its allocation when it has none.
fn trimmed(value: String) -> String {
    let trimmed = value.trim();
    if trimmed.len() == value.len() {
        value
    } else {
        trimmed.to_string()
    }
}

const ID_RULE: &str = "must be 1 to 64 letters, digits, '-' or '_'";

fn list_len<T>(list: Vec<T>) -> Rule<Vec<T>> {
    if list.len() > Limits::LIST {
        Err("must have at most ".to_string() + &decimal(Limits::LIST as u64) + " entries")
    } else {
        Ok(list)
    }
}

fn text(value: String, min: usize, max: usize, multiline: bool) -> Rule<String> {
    let value = trimmed(value);
    // One pass for both the length in characters and the control characters.
    let (mut len, mut control) = (0, false);
    for c in value.chars() {
        len += 1;
        control |= c.is_control() && !(multiline && matches!(c, '\n' | '\t' | '\r'));
    }
    if len < min {
        return Err("must not be empty".into());
    }
    if len > max {
        return Err("must be at most ".to_string() + &decimal(max as u64) + " characters");
    }
    if control {
        return Err("must not contain control characters".into());
    }
    Ok(value)
}

fn id(value: String) -> Rule<String> {
    let value = trimmed(value);
    if is_id(&value) {
        Ok(value)
    } else {
        Err(ID_RULE.into())
    }
}

fn status(value: String) -> Rule<String> {
    let mut upper = trimmed(value);
    upper.make_ascii_uppercase();
    if STATUSES.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err("must be one of ".to_string() + &join(STATUSES, ", "))
    }
}

fn picture(value: String) -> Rule<String> {
    let value = trimmed(value);
    let lower = value.get(..8).unwrap_or(&value).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &value[8..]
    } else if lower.starts_with("http://") {
        &value[7..]
    } else {
        return Err("must be an absolute http(s) URL".into());
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    if host.is_empty() || host.starts_with(':') || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must be an absolute http(s) URL".into());
    }
    if value.len() > Limits::URL {
        return Err("must be at most ".to_string() + &decimal(Limits::URL as u64) + " characters");
    }
    Ok(value)
}

fn email(value: String) -> Rule<String> {
    const RULE: &str = "must be an email address like name@example.com";
    let value = trimmed(value);
    if value.len() > 254 {
        return Err("must be at most 254 characters".into());
    }
    let (local, domain) = value.rsplit_once('@').ok_or(RULE)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| {
            !c.is_whitespace()
                && !c.is_control()
                && !matches!(c, '@' | '<' | '>' | '(' | ')' | '[' | ']' | '\\' | ',' | ';' | ':' | '"')
        });
    let tld = domain.rsplit('.').next().unwrap_or("");
    let domain_ok = domain.contains('.')
        && domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                // Letters and digits of any script (internationalised domains), checked as
                // "not ASCII" rather than with Unicode's tables, which cost 2 KB of the bundle.
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
        })
        && tld.chars().count() >= 2
        && !tld.chars().all(|c| c.is_ascii_digit());
    if local_ok && domain_ok {
        // The domain lower-cased in place (ASCII letters only, so no length changes).
        let at = local.len() + 1;
        let mut value = value;
        value[at..].make_ascii_lowercase();
        Ok(value)
    } else {
        Err(RULE.into())
    }
}

fn dial_code(value: &str) -> Rule<String> {
    let digits = value.trim().strip_prefix('+').unwrap_or(value.trim());
    if (1..=4).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0') {
        Ok(plus(digits))
    } else {
        Err("must be '+' and 1 to 4 digits, like +44".into())
    }
}

/// E.164 country calling codes of two digits; `1` and `7` are the one-digit codes and
/// every other code has three, so this list is enough to split a `+CC` prefix.
const TWO_DIGIT_CODES: [&str; 44] = [
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48", "49", "51",
    "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66", "81", "82", "84", "86", "90",
    "91", "92", "93", "94", "95", "98",
];

/// Splits a phone number into (calling code from a leading `+`, national digits).
fn phone(value: &str) -> Rule<(Option<String>, String)> {
    let value = value.trim();
    let (international, rest) = match value.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    if !rest.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')')) {
        return Err("may hold only digits, spaces, dashes, dots and parentheses (and a leading +)".into());
    }
    let mut digits = String::with_capacity(rest.len());
    digits.extend(rest.chars().filter(char::is_ascii_digit));
    if !international {
        return if (4..=15).contains(&digits.len()) {
            Ok((None, digits))
        } else {
            Err("must have 4 to 15 digits".into())
        };
    }
    if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
        return Err("must be a full international number: + then 8 to 15 digits".into());
    }
    let code_len = if digits.starts_with('1') || digits.starts_with('7') {
        1
    } else if TWO_DIGIT_CODES.contains(&&digits[..2]) {
        2
    } else {
        3
    };
    // A copy of the rest rather than `replace_range` in place: that pulls 0.65 KB gzipped of
    // splicing code into the browser bundle, for one small allocation saved in the proxy.
    Ok((Some(plus(&digits[..code_len])), digits[code_len..].to_string()))
}

/// `+` and `digits`, in one allocation.
fn plus(digits: &str) -> String {
    let mut code = String::with_capacity(digits.len() + 1);
    code.push('+');
    code.push_str(digits);
    code
}

fn notes(errors: &mut Vec<FieldError>, notes: Vec<Note>) -> Vec<Note> {
    let mut out = Vec::with_capacity(notes.len());
    for (i, note) in notes.into_iter().enumerate() {
        let title = check_item(errors, "notes", i, ".title", text(note.title, 1, Limits::SHORT_TEXT, false));
        let description =
            check_item(errors, "notes", i, ".description", text(note.description, 0, Limits::LONG_TEXT, true));
        if let (Some(title), Some(description)) = (title, description) {
            out.push(Note { title, description });
        }
    }
    out
}

fn tags(errors: &mut Vec<FieldError>, tags: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for (i, tag) in tags.into_iter().enumerate() {
        if let Some(tag) = check_item(errors, "tags", i, "", text(tag, 1, Limits::KEY, false)) {
            if !out.contains(&tag) {
                out.push(tag);
            }
        }
    }
    out
}

fn attributes(errors: &mut Vec<FieldError>, list: Vec<Attribute>) -> Vec<Attribute> {
    let mut out: Vec<Attribute> = Vec::with_capacity(list.len());
    for (i, attribute) in list.into_iter().enumerate() {
        let key = check_item(errors, "attributes", i, ".key", text(attribute.key, 1, Limits::KEY, false));
        let value = check_item(errors, "attributes", i, ".value", text(attribute.value, 0, Limits::VALUE, true));
        if let (Some(key), Some(value)) = (key, value) {
            match out.iter_mut().find(|a| a.key == key) {
                Some(existing) => existing.value = value,
                None => out.push(Attribute { key, value }),
            }
        }
    }
    out
}
