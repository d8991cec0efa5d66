//! A lead as JSON, written by hand: byte for byte what `serde_json::to_writer(&lead)` writes
//! (the field order, names and skipped `None`s of `reekolect_lead::Lead`'s `Serialize`), without
//! serde's per-character escaping of strings that need none. A test compares both on many
//! leads; destructuring `Lead` without `..` makes a new field a compile error here.

use reekolect_lead::{Attribute, Lead, Note};

/// Appends `lead` as JSON to `out`.
pub(crate) fn write_lead(out: &mut Vec<u8>, lead: &Lead) {
    // Every field named, so that a new one is a compile error here; the scalars' wire names
    // and order come from `Lead::scalars`, as everywhere else.
    let Lead {
        uuid: _,
        bot_id: _,
        customer_id: _,
        agent_id: _,
        status: _,
        picture: _,
        name: _,
        email: _,
        phone: _,
        dial_code: _,
        notes,
        tags,
        attributes,
    } = lead;
    out.push(b'{');
    let mut first = true;
    let mut field = |out: &mut Vec<u8>, name: &str| {
        if !first {
            out.push(b',');
        }
        first = false;
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
    };
    for (name, value) in lead.scalars() {
        if let Some(value) = value {
            field(out, name);
            string(out, value);
        }
    }
    if let Some(notes) = notes {
        field(out, "notes");
        list(out, notes, |out, Note { title, description }| pair(out, ("title", title), ("description", description)));
    }
    if let Some(tags) = tags {
        field(out, "tags");
        list(out, tags, |out, tag| string(out, tag));
    }
    if let Some(attributes) = attributes {
        field(out, "attributes");
        list(out, attributes, |out, Attribute { key, value }| pair(out, ("key", key), ("value", value)));
    }
    out.push(b'}');
}

/// `{"first":"…","second":"…"}`.
fn pair(out: &mut Vec<u8>, (first, a): (&str, &str), (second, b): (&str, &str)) {
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(first.as_bytes());
    out.extend_from_slice(b"\":");
    string(out, a);
    out.extend_from_slice(b",\"");
    out.extend_from_slice(second.as_bytes());
    out.extend_from_slice(b"\":");
    string(out, b);
    out.push(b'}');
}

fn list<T>(out: &mut Vec<u8>, items: &[T], mut item: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (at, value) in items.iter().enumerate() {
        if at > 0 {
            out.push(b',');
        }
        item(out, value);
    }
    out.push(b']');
}

/// A JSON string: as it is when nothing needs escaping (no `"`, `\` or control character
/// below U+0020, the only ones serde_json escapes), else through serde_json.
fn string(out: &mut Vec<u8>, value: &str) {
    if value.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.reserve(value.len() + 2);
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, value).expect("writing to a Vec does not fail");
    }
}

#[cfg(test)]
mod tests {
    use super::write_lead;
    use reekolect_lead::{Attribute, Lead, Note};

    fn same(lead: &Lead) {
        let mut ours = Vec::new();
        write_lead(&mut ours, lead);
        let serde = serde_json::to_vec(lead).unwrap();
        assert_eq!(String::from_utf8(ours).unwrap(), String::from_utf8(serde).unwrap());
    }

    #[test]
    fn writes_what_serde_json_writes() {
        same(&Lead::default());
        let text = ["plain", "", "quote \" and \\ back", "tab\tnew\nline\r\u{1}\u{1f}\u{7f}", "ünï 🎉 \u{2028}"];
        for (n, value) in text.iter().enumerate() {
            let value = value.to_string();
            same(&Lead { uuid: Some(value.clone()), ..Lead::default() });
            same(&Lead { email: Some(value.clone()), tags: Some(vec![]), ..Lead::default() });
            same(&Lead {
                uuid: Some("7e88d192-9b20-4035-9b68-d4ac3d58a34f".into()),
                bot_id: Some("b1".into()),
                customer_id: Some("c1".into()),
                agent_id: (n % 2 == 0).then(|| value.clone()),
                status: Some("OPEN".into()),
                picture: Some(format!("https://img.example/{value}")),
                name: Some(value.clone()),
                email: None,
                phone: Some("2079460958".into()),
                dial_code: Some("+44".into()),
                notes: Some(vec![
                    Note { title: value.clone(), description: String::new() },
                    Note { title: "t".into(), description: value.clone() },
                ]),
                tags: Some(vec![value.clone(), "web".into()]),
                attributes: Some(vec![
                    Attribute { key: value.clone(), value: "1".into() },
                    Attribute { key: "k".into(), value: value.clone() },
                ]),
            });
        }
    }
}
