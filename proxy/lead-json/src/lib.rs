//! The proxy's JSON for leads: the usual `PUT /lead` body read by hand ([`lead_json`]) and
//! a lead written by hand ([`wire`]), both byte for byte what `Lead`'s serde implementations
//! do through `serde_json`, with less work per request; [`read_lead`] falls back to serde
//! for every body the hand-written reader leaves (and for every refusal and its message).
//!
//! `tests/differential.rs` holds both to `serde_json` on 1,000,000 generated bodies in
//! release mode (`npm test` runs it).

#![warn(missing_docs)]

pub mod lead_json;
pub mod wire;

use reekolect_lead::{parse_lead, validate_lead, validate_lead_in_place, FieldError, Lead};

pub use wire::{plain_len, write_lead};

/// Reads a lead update from a request body: it must be a JSON object that parses as a
/// [`Lead`] and passes [`validate_lead`]. Returns the normalised lead, or the fields at
/// fault (`body` when the body itself is not a JSON object).
pub fn read_lead(body: &[u8]) -> Result<Lead, Vec<FieldError>> {
    read_marked_lead(body).map(|(lead, _)| lead)
}

/// [`read_lead`], with whether the lead's strings are known to need no escaping as JSON
/// (see [`lead_json::read`]).
pub fn read_marked_lead(body: &[u8]) -> Result<(Lead, bool), Vec<FieldError>> {
    // The usual body, read by hand (`lead_json`: the same lead serde reads, or none) and
    // validated where it lies: the lead (over 300 bytes) is copied once, into the answer.
    let mut lead = Lead::default();
    if let Some(plain) = lead_json::read(body, &mut lead) {
        validate_lead_in_place(&mut lead)?;
        return Ok((lead, plain));
    }
    // One pass when the body is a well-formed object that parses as a lead;
    // otherwise the checks below say what is wrong, in this order.
    // `Lead`'s own `Deserialize` is what `parse_lead` runs, without tracking the path of
    // every field (only needed to name the field at fault, so only on the error path).
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        let mut source = serde_json::Deserializer::from_slice(body);
        if let Ok(lead) = <Lead as serde::Deserialize>::deserialize(&mut source) {
            if source.end().is_ok() {
                return validate_lead(lead).map(|lead| (lead, false));
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
    validate_lead(lead).map(|lead| (lead, false))
}

#[cfg(test)]
mod tests {
    /// A validated lead read from a body without escapes is written as serde_json writes it
    /// without scanning its strings: validation only trims, re-cases ASCII letters, keeps
    /// digits and adds `+`.
    #[test]
    fn validated_plain_leads_stay_plain() {
        let uuid = "7E88D192-9b20-4035-9b68-d4ac3d58a34f";
        for extra in [
            r#""name":"  Ada Lovelace  ","email":" Ann.Lee+x@Example.CO.uk ","status":" inProgress ""#,
            r#""phone":"+44 (20) 7946-0958","tags":[" a ","b","a"],"agentId":" agent_1 ""#,
            r#""dialCode":" 44 ","phone":"2079 460958","picture":" https://img.example/a.png ""#,
            r#""notes":[{"title":" t ","description":" line one  "}],"attributes":{"k":" v ","flag":true}"#,
            r#""name":"ünï 🎉 é","tags":["x\"y"]"#,
        ] {
            let body = format!(r#"{{"uuid":"{uuid}","botId":" b1 ","customerId":"c1",{extra}}}"#);
            let (lead, plain) =
                super::read_marked_lead(body.as_bytes()).unwrap_or_else(|err| panic!("{body}: {err:?}"));
            assert_eq!(plain, !extra.contains('\\'), "{body}");
            let mut written = Vec::new();
            crate::write_lead(&mut written, &lead, plain);
            assert_eq!(String::from_utf8(written).unwrap(), serde_json::to_string(&lead).unwrap());
        }
    }
}
