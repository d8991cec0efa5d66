//! Which website form fields may enrich the lead, and as what. Stricter than the usual
//! "collected forms": anything that looks like a secret, a payment card, a bank account
//! or a national id is never taken, whatever its name claims.

use crate::text::contains;
use crate::{Attribute, Lead, Limits, Note};

/// What the page says about one form control (strings as the DOM has them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Control {
    /// The `type` of an input (`text` when absent), lower-case.
    pub kind: String,
    /// `name` attribute.
    pub name: String,
    /// `id` attribute.
    pub id: String,
    /// Text of its `<label>` (or `aria-label`).
    pub label: String,
    /// `autocomplete` attribute, lower-case.
    pub autocomplete: String,
    /// `placeholder` attribute.
    pub placeholder: String,
    /// `data-reekolect-field`, when set: always wins over guessing (but never over safety).
    pub explicit: Option<String>,
    /// `data-reekolect-ignore` on the control or its form.
    pub ignored: bool,
    /// Hidden inputs are skipped unless the form opts in (`data-reekolect-hidden`).
    pub hidden_allowed: bool,
}

/// Where a control's value goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `email`.
    Email,
    /// `name` (whole).
    Name,
    /// First part of `name`.
    GivenName,
    /// Last part of `name`.
    FamilyName,
    /// `phone` (a leading `+CC` fills `dialCode`).
    Phone,
    /// `dialCode`.
    DialCode,
    /// Each value becomes a tag.
    Tag,
    /// A note titled after the field.
    Note(String),
    /// An attribute with this key.
    Attribute(String),
    /// Not captured, and why.
    Skip(&'static str),
}

/// Names (in a field's name, id, label, autocomplete or placeholder) that mark a secret or
/// a regulated number, found anywhere in the run-together lower-case text.
const SENSITIVE_PARTS: [&str; 18] = [
    "password",
    "passwd",
    "passcode",
    "onetimecode",
    "secret",
    "token",
    "securitycode",
    "cardnumber",
    "creditcard",
    "debitcard",
    "ccnumber",
    "cardno",
    "iban",
    "socialsecurity",
    "nationalid",
    "passport",
    "taxid",
    "sortcode",
];
/// Short marks of the same, which must stand as a word of their own ("pin", not "shipping").
const SENSITIVE_WORDS: [&str; 12] =
    ["pwd", "pin", "otp", "cvv", "cvc", "csc", "cvv2", "ssn", "sin", "nin", "tin", "bsn"];

/// Classifies a control. Safety first, then `data-reekolect-field`, then the guesses.
pub fn classify(control: &Control) -> Target {
    if let Some(reason) = unsafe_control(control) {
        return Target::Skip(reason);
    }
    if let Some(explicit) = &control.explicit {
        return explicit_target(explicit, control);
    }
    let auto = control.autocomplete.split_whitespace().last().unwrap_or("");
    match auto {
        "email" => return Target::Email,
        "name" => return Target::Name,
        "given-name" => return Target::GivenName,
        "family-name" => return Target::FamilyName,
        "tel" | "tel-national" => return Target::Phone,
        "tel-country-code" => return Target::DialCode,
        _ => {}
    }
    if control.kind == "email" {
        return Target::Email;
    }
    if control.kind == "tel" {
        return Target::Phone;
    }
    let words = words_of(control);
    let has = |w: &str| words.iter().any(|x| contains(x, w));
    if has("email") {
        Target::Email
    } else if has("firstname") || has("givenname") || has("forename") {
        Target::GivenName
    } else if has("lastname") || has("familyname") || has("surname") {
        Target::FamilyName
    } else if has("fullname") || words.iter().any(|w| w == "name" || w == "yourname") {
        Target::Name
    } else if has("dialcode") || has("countrycode") {
        Target::DialCode
    } else if has("phone") || has("mobile") || has("telephone") || words.iter().any(|w| w == "tel") {
        Target::Phone
    } else {
        match attribute_key(control) {
            Some(key) => Target::Attribute(key),
            None => Target::Skip("no name, id or label to name it by"),
        }
    }
}

fn explicit_target(explicit: &str, control: &Control) -> Target {
    match explicit.trim() {
        "email" => Target::Email,
        "name" => Target::Name,
        "given-name" => Target::GivenName,
        "family-name" => Target::FamilyName,
        "phone" => Target::Phone,
        "dialCode" => Target::DialCode,
        "tag" => Target::Tag,
        "note" => {
            Target::Note(first_non_empty(&[&control.label, &control.name, &control.id]).unwrap_or("Form").to_string())
        }
        other => match other.strip_prefix("attribute:").map(normalise_key) {
            Some(key) if !key.is_empty() => Target::Attribute(key),
            _ => Target::Skip(
                "data-reekolect-field is not one of email, name, phone, dialCode, tag, note, attribute:<key>",
            ),
        },
    }
}

/// Why a control must never be read, if it must not.
fn unsafe_control(control: &Control) -> Option<&'static str> {
    if control.ignored {
        return Some("marked data-reekolect-ignore");
    }
    match control.kind.as_str() {
        "password" => return Some("a password field"),
        "file" => return Some("a file field"),
        "hidden" if !control.hidden_allowed => return Some("a hidden field (the form did not opt in)"),
        "submit" | "button" | "reset" | "image" => return Some("a button"),
        _ => {}
    }
    let auto = &control.autocomplete;
    if ["cc-", "password", "one-time-code"].iter().any(|part| contains(auto, part)) {
        return Some("autocomplete marks a payment card, password or one-time code");
    }
    let compact = words_of(control);
    let tokens = tokens_of(control);
    if compact.iter().any(|w| SENSITIVE_PARTS.iter().any(|s| contains(w, s)))
        || tokens.iter().any(|t| SENSITIVE_WORDS.contains(&t.as_str()))
    {
        return Some("its name marks a secret, card, bank account or national id");
    }
    None
}

/// The words of a control's name, id, label, placeholder and autocomplete, split at
/// anything not a letter or digit and at camelCase humps, lower-case.
fn tokens_of(control: &Control) -> Vec<String> {
    let mut tokens = Vec::new();
    for text in [&control.name, &control.id, &control.label, &control.placeholder, &control.autocomplete] {
        let mut current = String::new();
        let mut previous_lower = false;
        for c in text.chars() {
            let boundary = !c.is_ascii_alphanumeric() || (c.is_ascii_uppercase() && previous_lower);
            if boundary && !current.is_empty() {
                tokens.push(std::mem::take(&mut current));
            }
            if c.is_ascii_alphanumeric() {
                current.push(c.to_ascii_lowercase());
            }
            previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        }
        if !current.is_empty() {
            tokens.push(current);
        }
    }
    tokens
}

/// Normalised name, id, label and placeholder of a control, and its autocomplete.
fn words_of(control: &Control) -> Vec<String> {
    [&control.name, &control.id, &control.label, &control.placeholder, &control.autocomplete]
        .iter()
        .map(|s| s.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect::<String>())
        .filter(|s| !s.is_empty())
        .collect()
}

fn first_non_empty<'a>(candidates: &[&'a str]) -> Option<&'a str> {
    candidates.iter().map(|s| s.trim()).find(|s| !s.is_empty())
}

/// The attribute key for an unmapped control: its name, else id, else label, normalised.
fn attribute_key(control: &Control) -> Option<String> {
    let key = normalise_key(first_non_empty(&[&control.name, &control.id, &control.label])?);
    (!key.is_empty()).then_some(key)
}

/// A form's field name as an attribute key: `Company Name[]` → `company_name`
/// (lower-case ASCII letters, digits and `_`, at most 64).
pub fn normalise_key(raw: &str) -> String {
    let mut raw = raw.trim();
    // As `trim_end_matches("[]")`, whose reverse substring search costs 0.3 KB of the bundle.
    while let Some(rest) = raw.strip_suffix("[]") {
        raw = rest;
    }
    let mut key = String::new();
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() {
            key.push(c.to_ascii_lowercase());
        } else if !key.is_empty() && !key.ends_with('_') {
            key.push('_');
        }
    }
    let key = key.trim_end_matches('_');
    key.chars().take(Limits::KEY).collect()
}

/// What is left of a value once anything that looks like a payment card number or an IBAN
/// is cut out, trimmed and bounded. `None` when nothing is left worth sending, or when
/// the whole value was such a number.
pub fn safe_value(value: &str, max_chars: usize) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let chars: Vec<char> = value.chars().collect();
    let mut i = 0;
    let mut removed = false;
    while i < chars.len() {
        // A number starts where no digit group runs into it.
        let mid_number = i > 0
            && (chars[i - 1].is_ascii_alphanumeric()
                || (matches!(chars[i - 1], ' ' | '-') && i > 1 && chars[i - 2].is_ascii_digit()));
        let found = if mid_number { None } else { card_number_at(&chars[i..]).or_else(|| iban_at(&chars[i..])) };
        if let Some(len) = found {
            out.push_str("[removed]");
            removed = true;
            i += len;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    let out = out.trim();
    if out.is_empty() || (removed && out == "[removed]") {
        return None;
    }
    Some(out.chars().take(max_chars).collect())
}

/// Length (in chars) of a payment card number starting at `chars[0]`: 13 to 19 digits,
/// single spaces or dashes between groups, passing the Luhn check, not inside a longer
/// number.
fn card_number_at(chars: &[char]) -> Option<usize> {
    if !chars.first()?.is_ascii_digit() {
        return None;
    }
    let mut digits = Vec::new();
    let mut best = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() {
            digits.push(c as u8 - b'0');
            i += 1;
            let next_is_digit = chars.get(i).is_some_and(char::is_ascii_digit);
            if (13..=19).contains(&digits.len()) && !next_is_digit && luhn(&digits) {
                best = Some(i);
            }
        } else if (c == ' ' || c == '-') && chars.get(i + 1).is_some_and(char::is_ascii_digit) && !digits.is_empty() {
            i += 1;
        } else {
            break;
        }
        if digits.len() > 19 {
            break;
        }
    }
    best
}

/// The Luhn checksum used by payment cards.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// Length of an IBAN starting at `chars[0]`: two letters, two digits, 11 to 30 letters or
/// digits (spaces allowed between groups of four), passing the mod-97 check.
fn iban_at(chars: &[char]) -> Option<usize> {
    let starts = chars.len() >= 15
        && chars[0].is_ascii_alphabetic()
        && chars[1].is_ascii_alphabetic()
        && chars[2].is_ascii_digit()
        && chars[3].is_ascii_digit();
    if !starts {
        return None;
    }
    let mut compact = String::new();
    let mut best = None;
    let mut i = 0;
    while i < chars.len() && compact.len() < 34 {
        let c = chars[i];
        if c.is_ascii_alphanumeric() {
            compact.push(c.to_ascii_uppercase());
            i += 1;
            let ends = !chars.get(i).is_some_and(char::is_ascii_alphanumeric);
            if compact.len() >= 15 && ends && mod97(&compact) == Some(1) {
                best = Some(i);
            }
        } else if c == ' ' && chars.get(i + 1).is_some_and(char::is_ascii_alphanumeric) {
            i += 1;
        } else {
            break;
        }
    }
    best
}

fn mod97(iban: &str) -> Option<u32> {
    let rearranged = iban[4..].chars().chain(iban[..4].chars());
    let mut remainder = 0u32;
    for c in rearranged {
        let value = c.to_digit(36)?;
        remainder = if value < 10 { (remainder * 10 + value) % 97 } else { (remainder * 100 + value) % 97 };
    }
    Some(remainder)
}

/// Builds the lead update from a form's controls and their values (several for a
/// checkbox group or a multiple select). Values are made safe by [`safe_value`]; given
/// and family names are joined; several values of one attribute are joined with ", ".
pub fn update_from_form(controls: &[(Control, Vec<String>)]) -> Lead {
    let mut lead = Lead::default();
    let (mut given, mut family) = (None, None);
    for (control, values) in controls {
        let target = classify(control);
        if matches!(target, Target::Skip(_)) {
            continue;
        }
        let max = if matches!(target, Target::Note(_)) { Limits::LONG_TEXT } else { Limits::VALUE };
        let values: Vec<String> = values.iter().filter_map(|v| safe_value(v, max)).collect();
        if values.is_empty() {
            continue;
        }
        let joined = crate::text::join(values.iter().map(String::as_str), ", ");
        match target {
            Target::Email => lead.email = Some(joined),
            Target::Name => lead.name = Some(joined),
            Target::GivenName => given = Some(joined),
            Target::FamilyName => family = Some(joined),
            Target::Phone => lead.phone = Some(joined),
            Target::DialCode => lead.dial_code = Some(joined),
            Target::Tag => lead.tags.get_or_insert_with(Vec::new).extend(values),
            Target::Note(title) => {
                lead.notes.get_or_insert_with(Vec::new).push(Note { title, description: joined });
            }
            Target::Attribute(key) => {
                let attributes = lead.attributes.get_or_insert_with(Vec::new);
                match attributes.iter_mut().find(|a| a.key == key) {
                    Some(existing) => existing.value = existing.value.clone() + ", " + &joined,
                    None => attributes.push(Attribute { key, value: joined }),
                }
            }
            Target::Skip(_) => {}
        }
    }
    if lead.name.is_none() {
        let parts: Vec<String> = [given, family].into_iter().flatten().collect();
        if !parts.is_empty() {
            lead.name = Some(crate::text::join(parts.iter().map(String::as_str), " "));
        }
    }
    lead
}

/// Validates a captured update, dropping the fields that break a rule instead of the
/// whole update: a form's bad email must not cost its good phone. Returns the valid
/// remainder (normalised) and what was dropped.
pub fn keep_valid(lead: Lead) -> (Lead, Vec<crate::FieldError>) {
    match crate::validate_fields(lead.clone()) {
        Ok(valid) => (valid, Vec::new()),
        Err(errors) => {
            let mut rest = lead;
            for error in &errors {
                let top = error.field.split(['.', '[']).next().unwrap_or("");
                match top {
                    "agentId" => rest.agent_id = None,
                    "status" => rest.status = None,
                    "picture" => rest.picture = None,
                    "name" => rest.name = None,
                    "email" => rest.email = None,
                    "phone" => rest.phone = None,
                    "dialCode" => rest.dial_code = None,
                    "notes" => rest.notes = None,
                    "tags" => rest.tags = None,
                    "attributes" => rest.attributes = None,
                    _ => {}
                }
            }
            // Dropping a field cannot break another, so one more pass is enough.
            (crate::validate_fields(rest).unwrap_or_default(), errors)
        }
    }
}
