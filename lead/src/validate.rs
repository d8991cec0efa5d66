//! Validation and normalisation of a [`Lead`]: every rule the companion and the proxy share.

use crate::context::{is_id, is_uuid};
use crate::text::{decimal, join};
use crate::{Attribute, FieldError, Lead, Note, FAST_PATHS, STATUSES};

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
    /// Longest id (`botId`, `customerId`, `agentId`), in ASCII characters.
    pub const ID: usize = 64;
    /// Longest email address, in characters.
    pub const EMAIL: usize = 254;
    /// Longest part of an email address before its `@`, in characters.
    pub const EMAIL_LOCAL: usize = 64;
    /// Longest label of an email address's domain, in characters.
    pub const EMAIL_LABEL: usize = 63;
}

/// Checks and normalises the lead's own fields (everything but `uuid`, `botId` and
/// `customerId`). Returns the normalised lead, or every rule that was broken.
///
/// Normalisation: strings are trimmed; `status` is upper-cased; `email`'s domain is
/// lower-cased; `phone` keeps its digits only and a leading `+CC` moves to `dialCode`;
/// `dialCode` gets its `+`; tags are de-duplicated (first one kept); attributes with the
/// same key collapse to the last value given.
pub fn validate_fields(mut lead: Lead) -> Result<Lead, Vec<FieldError>> {
    let mut errors = Vec::new();
    normalise(&mut lead, &mut errors);
    if errors.is_empty() {
        Ok(lead)
    } else {
        Err(errors)
    }
}

/// Checks a complete lead as the upstream API takes it: [`validate_fields`] plus the
/// required `uuid` (a UUID), `botId` and `customerId` (ids of letters, digits, `-`, `_`).
pub fn validate_lead(mut lead: Lead) -> Result<Lead, Vec<FieldError>> {
    validate_lead_in_place(&mut lead).map(|()| lead)
}

/// [`validate_lead`] on a lead where it lies, normalised in place: the proxy's way, which
/// does not copy the lead (over 300 bytes) in and out of every call. After an error the
/// lead is partly normalised and its broken fields are `None`: it is for dropping.
pub fn validate_lead_in_place(lead: &mut Lead) -> Result<(), Vec<FieldError>> {
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
                if !is_id(trim(v)) {
                    errors.push(FieldError::new(field, ID_RULE));
                }
            }
        }
    }
    normalise(lead, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// [`validate_fields`]' work, in place: each field taken out, checked and put back
/// normalised (`None` when it broke a rule), the broken rules added to `errors`.
fn normalise(lead: &mut Lead, errors: &mut Vec<FieldError>) {
    lead.agent_id = lead.agent_id.take().and_then(|v| check(errors, "agentId", id(v)));
    lead.status = lead.status.take().and_then(|v| check(errors, "status", status(v)));
    lead.picture = lead.picture.take().and_then(|v| check(errors, "picture", picture(v)));
    lead.name = lead.name.take().and_then(|v| check(errors, "name", text(v, 1, Limits::SHORT_TEXT, false)));
    lead.email = lead.email.take().and_then(|v| check(errors, "email", email(v)));
    lead.dial_code = lead.dial_code.take().and_then(|v| check(errors, "dialCode", dial_code(&v)));
    if let Some(raw) = lead.phone.take() {
        // In the proxy, the number is written over the raw string's own bytes (see
        // `phone_in_place`); the bundle keeps the copying way, which is smaller.
        let split = if FAST_PATHS { phone_in_place(raw) } else { phone(&raw) };
        if let Some((code, number)) = check(errors, "phone", split) {
            match (code, &lead.dial_code) {
                (Some(code), Some(given)) if &code != given => errors
                    .push(FieldError::new("phone", "starts with ".to_string() + &code + " but dialCode is " + given)),
                (Some(code), None) => lead.dial_code = Some(code),
                _ => {}
            }
            lead.phone = Some(number);
        }
    }
    lead.notes = lead
        .notes
        .take()
        .and_then(|notes| check(errors, "notes", list_len(notes)).map(|notes| self::notes(errors, notes)));
    // In the proxy, the lists are filtered where they lie (no second vector); the bundle
    // keeps the code that builds a new one (in place, it would grow by ~0.3 KB).
    lead.tags = lead.tags.take().and_then(|tags| {
        check(errors, "tags", list_len(tags)).map(|tags| {
            if FAST_PATHS {
                tags_in_place(errors, tags)
            } else {
                self::tags(errors, tags)
            }
        })
    });
    lead.attributes = lead.attributes.take().and_then(|list| {
        check(errors, "attributes", list_len(list)).map(|list| {
            if FAST_PATHS {
                attributes_in_place(errors, list)
            } else {
                self::attributes(errors, list)
            }
        })
    });
}

pub(crate) type Rule<T> = Result<T, String>;

fn check<T>(errors: &mut Vec<FieldError>, field: &str, result: Rule<T>) -> Option<T> {
    result.map_err(|rule| errors.push(FieldError::new(field, rule))).ok()
}

/// [`check`] for an item of a list: its path (`tags[3]`, `notes[0].title`) is only
/// written when the rule is broken, which valid updates never pay for.
/// In the proxy (`FAST_PATHS`), a kept item is taken here without a call.
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
fn check_item<T>(errors: &mut Vec<FieldError>, list: &str, i: usize, part: &str, result: Rule<T>) -> Option<T> {
    match result {
        Ok(value) if FAST_PATHS => Some(value),
        result => check_item_out(errors, list, i, part, result),
    }
}

/// [`check_item`]'s work, out of line.
fn check_item_out<T>(errors: &mut Vec<FieldError>, list: &str, i: usize, part: &str, result: Rule<T>) -> Option<T> {
    result
        .map_err(|rule| errors.push(FieldError::new(list.to_string() + "[" + &decimal(i as u64) + "]" + part, rule)))
        .ok()
}

/// `value.trim()`, without decoding characters when the first and last bytes are ASCII
/// above the space: `char::is_whitespace` holds for ASCII 9-13 and 32 only, and every other
/// whitespace character starts and ends with bytes of 0x80 or more, so such a string has
/// none at either end (the usual case: trimming is for what users paste).
fn trim(value: &str) -> &str {
    let solid = |byte: Option<&u8>| matches!(byte, Some(0x21..=0x7f));
    if solid(value.as_bytes().first()) && solid(value.as_bytes().last()) {
        value
    } else {
        value.trim()
    }
}

/// `value` without surrounding whitespace, reusing its allocation when it has none.
fn trimmed(value: String) -> String {
    let trimmed = trim(&value);
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

pub(crate) fn text(value: String, min: usize, max: usize, multiline: bool) -> Rule<String> {
    // Printable ASCII (0x20-0x7E, one byte a character, no control characters among them),
    // the usual text, is checked a byte at a time without decoding characters (in the
    // proxy: see `FAST_PATHS`); anything else takes one pass over the characters for both
    // their number and control characters. Printable ASCII without a space at either end
    // has nothing to trim (the space is its only whitespace): it is not handed to `trimmed`.
    let printable = |value: &str| value.bytes().all(|byte| byte.wrapping_sub(0x20) < 0x5f);
    let (value, plain) = if FAST_PATHS && !value.starts_with(' ') && !value.ends_with(' ') && printable(&value) {
        (value, true)
    } else {
        let value = trimmed(value);
        let plain = FAST_PATHS && printable(&value);
        (value, plain)
    };
    let (mut len, mut control) = (value.len(), false);
    if !plain {
        len = 0;
        for c in value.chars() {
            len += 1;
            control |= c.is_control() && !(multiline && matches!(c, '\n' | '\t' | '\r'));
        }
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
    // Characters, as the message says (an OpenAPI client counts them so too).
    if value.len() > Limits::URL && characters(value.as_bytes()) > Limits::URL {
        return Err("must be at most ".to_string() + &decimal(Limits::URL as u64) + " characters");
    }
    Ok(value)
}

fn email(value: String) -> Rule<String> {
    const RULE: &str = "must be an email address like name@example.com";
    let value = trimmed(value);
    // Lengths in characters, as the message says (and as JSON Schema counts them).
    if value.len() > Limits::EMAIL && characters(value.as_bytes()) > Limits::EMAIL {
        return Err("must be at most 254 characters".into());
    }
    // Searched and split as bytes rather than characters: `@`, `.` and `-` are ASCII, and no
    // byte of a non-ASCII character is.
    let at = value.bytes().rposition(|b| b == b'@').ok_or(RULE)?;
    let (local, domain) = (&value[..at], &value.as_bytes()[at + 1..]);
    let local_ok = !local.is_empty()
        && (local.len() <= Limits::EMAIL_LOCAL || characters(local.as_bytes()) <= Limits::EMAIL_LOCAL)
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.as_bytes().windows(2).any(|pair| pair == b"..")
        && local.chars().all(|c| {
            !c.is_whitespace()
                && !c.is_control()
                && !matches!(c, '@' | '<' | '>' | '(' | ')' | '[' | ']' | '\\' | ',' | ';' | ':' | '"')
        });
    let tld = domain.rsplit(|&b| b == b'.').next().unwrap_or_default();
    let domain_ok = domain.contains(&b'.')
        && domain.split(|&b| b == b'.').all(|l| {
            !l.is_empty()
                && characters(l) <= Limits::EMAIL_LABEL
                && !l.starts_with(b"-")
                && !l.ends_with(b"-")
                // Letters and digits of any script (internationalised domains), checked as
                // "not ASCII" rather than with Unicode's tables, which cost 2 KB of the bundle
                // (a non-ASCII character's bytes are all non-ASCII).
                && l.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-' || !b.is_ascii())
        })
        && characters(tld) >= 2
        && !tld.iter().all(u8::is_ascii_digit);
    if local_ok && domain_ok {
        // The domain lower-cased in place (ASCII letters only, so no length changes).
        let mut value = value;
        value[at + 1..].make_ascii_lowercase();
        Ok(value)
    } else {
        Err(RULE.into())
    }
}

/// The number of characters in UTF-8 `bytes`: the bytes that are not continuation bytes.
/// A loop of its own rather than `str::chars().count()`, whose fast version costs 0.3 KB of
/// the browser bundle.
fn characters(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b & 0xc0 != 0x80).count()
}

fn dial_code(value: &str) -> Rule<String> {
    let value = trim(value);
    let digits = value.strip_prefix('+').unwrap_or(value);
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
    let value = trim(value);
    let (international, rest) = match value.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    // Bytes rather than characters: the allowed ones are ASCII, and no byte of a non-ASCII
    // character is.
    if !rest.bytes().all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'.' | b'(' | b')')) {
        return Err("may hold only digits, spaces, dashes, dots and parentheses (and a leading +)".into());
    }
    let mut digits = String::with_capacity(rest.len());
    digits.extend(rest.bytes().filter(u8::is_ascii_digit).map(char::from));
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

/// [`phone`] without a second string: the digits are gathered at the start of the raw
/// string's bytes and the calling code taken off them, so the national number keeps the
/// raw string's allocation. Same answers and messages (a test holds them to `phone`'s).
fn phone_in_place(value: String) -> Rule<(Option<String>, String)> {
    let trimmed = trim(&value);
    let (international, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    if !rest.bytes().all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'.' | b'(' | b')')) {
        return Err("may hold only digits, spaces, dashes, dots and parentheses (and a leading +)".into());
    }
    // Where `rest` lies in `value`, of which it is a part.
    let start = rest.as_ptr() as usize - value.as_ptr() as usize;
    let end = start + rest.len();
    let mut bytes = value.into_bytes();
    let mut len = 0;
    for at in start..end {
        let byte = bytes[at];
        if byte.is_ascii_digit() {
            bytes[len] = byte;
            len += 1;
        }
    }
    bytes.truncate(len);
    if !international {
        return if (4..=15).contains(&len) {
            Ok((None, String::from_utf8(bytes).expect("ASCII digits")))
        } else {
            Err("must have 4 to 15 digits".into())
        };
    }
    if !(8..=15).contains(&len) || bytes[0] == b'0' {
        return Err("must be a full international number: + then 8 to 15 digits".into());
    }
    let code_len = if matches!(bytes[0], b'1' | b'7') {
        1
    } else if TWO_DIGIT_CODES.iter().any(|code| code.as_bytes() == &bytes[..2]) {
        2
    } else {
        3
    };
    let mut code = String::with_capacity(code_len + 1);
    code.push('+');
    code.extend(bytes[..code_len].iter().map(|&b| char::from(b)));
    bytes.copy_within(code_len.., 0);
    bytes.truncate(len - code_len);
    Ok((Some(code), String::from_utf8(bytes).expect("ASCII digits")))
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

/// [`tags`] in `tags`' own vector: each kept tag moved down over the ones dropped.
fn tags_in_place(errors: &mut Vec<FieldError>, mut tags: Vec<String>) -> Vec<String> {
    let mut kept = 0;
    for i in 0..tags.len() {
        let tag = std::mem::take(&mut tags[i]);
        if let Some(tag) = check_item(errors, "tags", i, "", text(tag, 1, Limits::KEY, false)) {
            if !tags[..kept].contains(&tag) {
                tags[kept] = tag;
                kept += 1;
            }
        }
    }
    tags.truncate(kept);
    tags
}

/// [`attributes`] in `list`'s own vector, as [`tags_in_place`].
fn attributes_in_place(errors: &mut Vec<FieldError>, mut list: Vec<Attribute>) -> Vec<Attribute> {
    let mut kept = 0;
    for i in 0..list.len() {
        let Attribute { key, value } = std::mem::take(&mut list[i]);
        let key = check_item(errors, "attributes", i, ".key", text(key, 1, Limits::KEY, false));
        let value = check_item(errors, "attributes", i, ".value", text(value, 0, Limits::VALUE, true));
        if let (Some(key), Some(value)) = (key, value) {
            match list[..kept].iter_mut().find(|a| a.key == key) {
                Some(existing) => existing.value = value,
                None => {
                    list[kept] = Attribute { key, value };
                    kept += 1;
                }
            }
        }
    }
    list.truncate(kept);
    list
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

#[cfg(test)]
mod tests {
    //! The byte-level rules against the character-level ones they replaced (kept here as
    //! `reference`), on many generated strings: same answers, same messages.

    use super::*;

    /// The rules as they were written over characters, before their byte-level fast paths.
    mod reference {
        use super::super::{plus, Rule, TWO_DIGIT_CODES};
        use crate::text::decimal;

        pub fn trimmed(value: String) -> String {
            let trimmed = value.trim();
            if trimmed.len() == value.len() {
                value
            } else {
                trimmed.to_string()
            }
        }

        pub fn text(value: String, min: usize, max: usize, multiline: bool) -> Rule<String> {
            let value = trimmed(value);
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

        pub fn email(value: String) -> Rule<String> {
            const RULE: &str = "must be an email address like name@example.com";
            let value = trimmed(value);
            if value.chars().count() > 254 {
                return Err("must be at most 254 characters".into());
            }
            let (local, domain) = value.rsplit_once('@').ok_or(RULE)?;
            let local_ok = !local.is_empty()
                && local.chars().count() <= 64
                && !local.starts_with('.')
                && !local.ends_with('.')
                && !crate::text::contains(local, "..")
                && local.chars().all(|c| {
                    !c.is_whitespace()
                        && !c.is_control()
                        && !matches!(c, '@' | '<' | '>' | '(' | ')' | '[' | ']' | '\\' | ',' | ';' | ':' | '"')
                });
            let tld = domain.rsplit('.').next().unwrap_or("");
            let domain_ok = domain.contains('.')
                && domain.split('.').all(|l| {
                    !l.is_empty()
                        && l.chars().count() <= 63
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
                })
                && tld.chars().count() >= 2
                && !tld.chars().all(|c| c.is_ascii_digit());
            if local_ok && domain_ok {
                let at = local.len() + 1;
                let mut value = value;
                value[at..].make_ascii_lowercase();
                Ok(value)
            } else {
                Err(RULE.into())
            }
        }

        pub fn dial_code(value: &str) -> Rule<String> {
            let digits = value.trim().strip_prefix('+').unwrap_or(value.trim());
            if (1..=4).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
            {
                Ok(plus(digits))
            } else {
                Err("must be '+' and 1 to 4 digits, like +44".into())
            }
        }

        pub fn phone(value: &str) -> Rule<(Option<String>, String)> {
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
            Ok((Some(plus(&digits[..code_len])), digits[code_len..].to_string()))
        }

        pub fn is_id(value: &str) -> bool {
            (1..=64).contains(&value.len())
                && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }

        pub fn is_uuid(value: &str) -> bool {
            let bytes = value.as_bytes();
            bytes.len() == 36
                && bytes.iter().enumerate().all(|(i, b)| match i {
                    8 | 13 | 18 | 23 => *b == b'-',
                    _ => b.is_ascii_hexdigit(),
                })
        }
    }

    /// Characters where byte-level and character-level rules could part: ASCII controls and
    /// whitespace (vertical tab and form feed too), DEL, the C1 controls and their neighbours
    /// (U+0080, U+0085 which is also whitespace, U+009F, U+00A0), non-ASCII whitespace that is
    /// not control (U+2028, U+3000, U+1680), non-ASCII letters and digits of 2, 3 and 4
    /// bytes, and every ASCII character an email, phone, id or UUID rule names.
    const ALPHABET: &[char] = &[
        'a', 'Z', 'f', 'F', 'g', '0', '1', '4', '7', '9', '-', '_', '.', '@', '+', ' ', '\t', '\n', '\r', '\u{b}',
        '\u{c}', '\u{0}', '\u{1}', '\u{1f}', '\u{7f}', '\u{80}', '\u{85}', '\u{9f}', '\u{a0}', '\u{ad}', 'é', 'ß', '€',
        '٣', '\u{1680}', '\u{2028}', '\u{3000}', '\u{feff}', '\u{200b}', '🎉', '(', ')', '"', '\\', ',', ';', ':', '<',
        '>', '[', ']', '#', '~',
    ];

    /// A small deterministic generator (xorshift), so a failure is reproducible.
    struct Random(u64);

    impl Random {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }

        /// Up to `max` characters, each from `ALPHABET` or from `common` (half the time, so
        /// that rules get past their first check).
        fn string(&mut self, max: usize, common: &[char]) -> String {
            let len = self.below(max + 1);
            (0..len)
                .map(|_| {
                    if self.below(2) == 0 {
                        common[self.below(common.len())]
                    } else {
                        ALPHABET[self.below(ALPHABET.len())]
                    }
                })
                .collect()
        }
    }

    #[test]
    fn byte_level_rules_answer_as_the_character_level_ones() {
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        let letters = ['a', 'b', 'x', 'A', 'Q', '3', '.', '-', ' '];
        let digits = ['0', '1', '2', '4', '7', '9', ' ', '-', '(', ')', '.', '+'];
        for _ in 0..300_000 {
            let value = random.string(12, &letters);
            assert_eq!(trimmed(value.clone()), reference::trimmed(value.clone()), "{value:?}");
            assert_eq!(trim(&value), value.trim(), "{value:?}");
            for (min, max) in [(0, 3), (1, 5), (1, 200)] {
                for multiline in [false, true] {
                    assert_eq!(
                        text(value.clone(), min, max, multiline),
                        reference::text(value.clone(), min, max, multiline),
                        "{value:?} {min} {max} {multiline}"
                    );
                }
            }
            assert_eq!(is_id(&value), reference::is_id(&value), "{value:?}");
            assert_eq!(dial_code(&value), reference::dial_code(&value), "{value:?}");

            // Emails: a local part, `@`, labels joined by dots; sometimes a second `@`.
            let labels = 1 + random.below(3);
            let mut email = random.string(6, &letters) + "@";
            for label in 0..labels {
                if label > 0 {
                    email.push('.');
                }
                email += &random.string(5, &letters);
            }
            if random.below(8) == 0 {
                email = email + "@" + &random.string(4, &letters);
            }
            assert_eq!(super::email(email.clone()), reference::email(email.clone()), "{email:?}");

            let phone = random.string(18, &digits);
            assert_eq!(super::phone(&phone), reference::phone(&phone), "{phone:?}");
            assert_eq!(phone_in_place(phone.clone()), reference::phone(&phone), "{phone:?}");
            assert_eq!(dial_code(&phone), reference::dial_code(&phone), "{phone:?}");

            // UUIDs: a valid one with a character or two replaced, or moved dashes.
            let mut uuid: Vec<char> = "7e88d192-9b20-4035-9b68-d4ac3d58A34F".chars().collect();
            for _ in 0..random.below(3) {
                let at = random.below(uuid.len());
                uuid[at] = ALPHABET[random.below(ALPHABET.len())];
            }
            if random.below(4) == 0 {
                let at = random.below(uuid.len());
                uuid.remove(at);
                uuid.insert(random.below(uuid.len()), '-');
            }
            let uuid: String = uuid.into_iter().collect();
            assert_eq!(is_uuid(&uuid), reference::is_uuid(&uuid), "{uuid:?}");
        }
    }

    /// Tags and attributes checked in their own vector: the same lists and errors as when
    /// they were copied into new ones.
    #[test]
    fn lists_in_place_answer_as_the_copies() {
        let mut random = Random(0x2545_f491_4f6c_dd1d);
        let common = ['a', 'b', ' ', 'a', 'b'];
        for _ in 0..50_000 {
            let n = random.below(7);
            let tags: Vec<String> = (0..n).map(|_| random.string(3, &common)).collect();
            let (mut ours, mut theirs) = (vec![FieldError::new("x", "y")], vec![FieldError::new("x", "y")]);
            assert_eq!(tags_in_place(&mut ours, tags.clone()), super::tags(&mut theirs, tags.clone()), "{tags:?}");
            assert_eq!(ours, theirs, "{tags:?}");
            let list: Vec<Attribute> = (0..n)
                .map(|_| Attribute { key: random.string(3, &common), value: random.string(3, &common) })
                .collect();
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            assert_eq!(attributes_in_place(&mut ours, list.clone()), attributes(&mut theirs, list.clone()), "{list:?}");
            assert_eq!(ours, theirs, "{list:?}");
        }
    }

    #[test]
    fn byte_level_rules_at_the_edges() {
        let long = |c: char, n: usize| c.to_string().repeat(n);
        for value in [
            String::new(),
            " ".into(),
            "\u{a0}x\u{a0}".into(),
            "\u{3000}x".into(),
            "x\u{2028}".into(),
            "\u{85}".into(),
            "x\u{9f}x".into(),
            "x\u{a0}x".into(),
            long('a', 200),
            long('a', 201),
            long('é', 200),
            long('é', 201),
            long('🎉', 64),
            long('🎉', 65),
            "\u{7f}".into(),
            "~".into(),
        ] {
            for (min, max, multiline) in [(1, 200, false), (0, 64, true), (1, 64, false)] {
                assert_eq!(
                    text(value.clone(), min, max, multiline),
                    reference::text(value.clone(), min, max, multiline),
                    "{value:?}"
                );
            }
        }
        for email in [
            "Ada@Example.com",
            " Ann.Lee+x@Example.CO.uk ",
            "anna@müller.de",
            "user@例え.テスト",
            "a@b.c",
            "a@b.cé",
            "a@b.éé",
            "a@b.12",
            "a@b.1a",
            "a@-b.com",
            "a@b-.com",
            "a@b..com",
            "a@.b.com",
            "a@b.com.",
            "@b.com",
            ".a@b.com",
            "a.@b.com",
            "a..b@b.com",
            "a\u{a0}b@b.com",
            "a\u{85}b@b.com",
            "a\u{2028}b@b.com",
            "é@b.com",
            "a@b@c.com",
            "a@b.c\u{80}",
            &(long('a', 64) + "@b.com"),
            &(long('a', 65) + "@b.com"),
            &("a@".to_string() + &long('b', 63) + ".com"),
            &("a@".to_string() + &long('b', 64) + ".com"),
            &("a@".to_string() + &long('b', 250) + ".com"),
            &("a@".to_string() + &long('é', 31) + ".com"),
            &("a@".to_string() + &long('é', 32) + ".com"),
        ] {
            assert_eq!(super::email(email.to_string()), reference::email(email.to_string()), "{email:?}");
        }
        for phone in [
            "+44 20 7946 0958",
            "+1 (555) 010-9999",
            "+353 1 234 5678",
            "555-0100",
            "+0123456789",
            "12",
            "٣٣٣٣",
            " \u{3000}+44 20 7946 0958\u{a0}\n",
            "\u{2028}+7 912 345 67 89 ",
            "\t0123 ",
            "+ 44 20 7946 0958",
            "++44 20 7946 0958",
            "+",
            "",
            "+123456789012345",
            "+1234567890123456",
            "123456789012345",
            "1234567890123456",
        ] {
            assert_eq!(super::phone(phone), reference::phone(phone), "{phone:?}");
            assert_eq!(phone_in_place(phone.to_string()), reference::phone(phone), "{phone:?}");
        }
        for id in ["", "a", &long('a', 64), &long('a', 65), "a-_Z9", "a b", "é", "a.b"] {
            assert_eq!(is_id(id), reference::is_id(id), "{id:?}");
        }
        // Every ASCII character, and some others, at every place of a UUID and of an id.
        let uuid: Vec<char> = "7e88d192-9b20-4035-9b68-d4ac3d58A34F".chars().collect();
        for c in (0..=0x7f).map(char::from).chain(ALPHABET.iter().copied()) {
            for at in 0..uuid.len() {
                let mut changed = uuid.clone();
                changed[at] = c;
                let changed: String = changed.into_iter().collect();
                assert_eq!(is_uuid(&changed), reference::is_uuid(&changed), "{changed:?}");
            }
            for at in 0..20 {
                let mut id: Vec<char> = "abcdefghijklmnopqrst".chars().collect();
                id[at] = c;
                let id: String = id.into_iter().collect();
                assert_eq!(is_id(&id), reference::is_id(&id), "{id:?}");
                assert_eq!(is_id(&id[..at + c.len_utf8()]), reference::is_id(&id[..at + c.len_utf8()]), "{id:?}");
            }
        }
    }
}
