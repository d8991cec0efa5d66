//! A lead as JSON, written by hand: byte for byte what `serde_json::to_writer(&lead)` writes
//! (the field order, names and skipped `None`s of `reekolect_lead::Lead`'s `Serialize`), without
//! serde's per-character escaping of strings that need none. A test compares both on many
//! leads; destructuring `Lead` without `..` makes a new field a compile error here.

use reekolect_lead::{Attribute, Lead, Note};

/// Appends `lead` as JSON to `out`. `plain`: the reader found no escapes in the body (see
/// [`crate::lead_json::read`]), so its strings should need none. That is checked here for
/// each string, in every build (a scan of eight bytes at a time, [`plain_len`]), not
/// trusted: a string that needs escaping is escaped whatever `plain` says, so the JSON
/// written is valid even if validation ever made a plain string need escapes. Debug builds
/// also assert that `plain` was right, for the tests to catch the reader or validation.
pub fn write_lead(out: &mut Vec<u8>, lead: &Lead, plain: bool) {
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
    let field = |out: &mut Vec<u8>, first: &mut bool, name: &str| {
        if !*first {
            out.push(b',');
        }
        *first = false;
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
    };
    for ((name, value), opening) in lead.scalars().into_iter().zip(SCALAR_OPENINGS) {
        match value {
            // The usual case, in two copies: `,"name":"` (known in advance) and the value.
            Some(value) if is_plain(value, plain) => {
                let opening = if first { &opening[1..] } else { opening };
                first = false;
                out.reserve(opening.len() + value.len() + 1);
                out.extend_from_slice(opening.as_bytes());
                out.extend_from_slice(value.as_bytes());
                out.push(b'"');
            }
            Some(value) => {
                field(out, &mut first, name);
                string(out, value, plain);
            }
            None => {}
        }
    }
    if let Some(notes) = notes {
        field(out, &mut first, "notes");
        list(out, notes, |out, Note { title, description }| {
            pair(out, ("title", title), ("description", description), plain)
        });
    }
    if let Some(tags) = tags {
        field(out, &mut first, "tags");
        list(out, tags, |out, tag| string(out, tag, plain));
    }
    if let Some(attributes) = attributes {
        field(out, &mut first, "attributes");
        list(out, attributes, |out, Attribute { key, value }| pair(out, ("key", key), ("value", value), plain));
    }
    out.push(b'}');
}

/// What comes before each of [`Lead::scalars`]'s values, in their order: a comma, the wire
/// name and the value's opening quote (a test holds them to the names).
const SCALAR_OPENINGS: [&str; 10] = [
    ",\"uuid\":\"",
    ",\"botId\":\"",
    ",\"customerId\":\"",
    ",\"agentId\":\"",
    ",\"status\":\"",
    ",\"picture\":\"",
    ",\"name\":\"",
    ",\"email\":\"",
    ",\"phone\":\"",
    ",\"dialCode\":\"",
];

/// `{"first":"…","second":"…"}`.
fn pair(out: &mut Vec<u8>, (first, a): (&str, &str), (second, b): (&str, &str), plain: bool) {
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(first.as_bytes());
    out.extend_from_slice(b"\":");
    string(out, a, plain);
    out.extend_from_slice(b",\"");
    out.extend_from_slice(second.as_bytes());
    out.extend_from_slice(b"\":");
    string(out, b, plain);
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

/// Whether `value` needs no escaping as a JSON string (no `"`, `\` or control character
/// below U+0020, the only ones serde_json escapes): checked in every build; `plain` (what
/// the reader found) must agree in debug builds.
fn is_plain(value: &str, plain: bool) -> bool {
    let is_plain = plain_len(value.as_bytes()) == value.len();
    debug_assert!(!plain || is_plain, "{value:?} is not plain");
    is_plain
}

/// A JSON string: as it is when nothing needs escaping ([`is_plain`]), else through serde_json.
fn string(out: &mut Vec<u8>, value: &str, plain: bool) {
    if is_plain(value, plain) {
        out.reserve(value.len() + 2);
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, value).expect("writing to a Vec does not fail");
    }
}

/// How many bytes at the start of `bytes` a JSON string holds as they are: the length up
/// to the first `"`, `\` or control character (below 0x20), or all of it. Eight bytes at a
/// time: a byte below 0x20 or equal to `"` or `\` (zero once xor-ed with it) borrows when
/// 0x20 or 1 is subtracted from it, which sets its high bit where the byte's own is clear;
/// the lowest byte so marked is the first such byte (a borrow only marks bytes above it).
pub fn plain_len(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut at = 0;
    while let Some(word) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        let control = word.wrapping_sub(ONES * 0x20);
        let quote = (word ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES);
        let backslash = (word ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES);
        let marked = (control | quote | backslash) & !word & HIGH;
        if marked != 0 {
            return at + (marked.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + bytes[at..].iter().position(|&b| b < 0x20 || b == b'"' || b == b'\\').unwrap_or(bytes.len() - at)
}

#[cfg(test)]
mod tests {
    use super::{plain_len, write_lead, SCALAR_OPENINGS};
    use reekolect_lead::{Attribute, Lead, Note};

    /// Written as serde writes it; also as `plain` when no string needs escaping.
    fn same(lead: &Lead) {
        let serde = String::from_utf8(serde_json::to_vec(lead).unwrap()).unwrap();
        let mut ours = Vec::new();
        write_lead(&mut ours, lead, false);
        assert_eq!(String::from_utf8(ours).unwrap(), serde);
        let mut strings: Vec<&String> = lead.scalars().into_iter().filter_map(|(_, value)| value.as_ref()).collect();
        strings.extend(lead.tags.iter().flatten());
        strings.extend(lead.notes.iter().flatten().flat_map(|note| [&note.title, &note.description]));
        strings.extend(lead.attributes.iter().flatten().flat_map(|attribute| [&attribute.key, &attribute.value]));
        if strings.iter().all(|string| plain_len(string.as_bytes()) == string.len()) {
            let mut plain = Vec::new();
            write_lead(&mut plain, lead, true);
            assert_eq!(String::from_utf8(plain).unwrap(), serde);
        }
    }

    #[test]
    fn scalar_openings_are_the_wire_names() {
        for ((name, _), opening) in Lead::default().scalars().into_iter().zip(SCALAR_OPENINGS) {
            assert_eq!(opening, format!(",\"{name}\":\""));
        }
    }

    #[test]
    fn plain_len_stops_at_the_first_byte_to_escape() {
        let slow =
            |bytes: &[u8]| bytes.iter().position(|&b| b < 0x20 || b == b'"' || b == b'\\').unwrap_or(bytes.len());
        // Every byte value at every position of 1 to 24 bytes of plain text, and a second
        // byte to escape after it (the first must win), in words and in the tail.
        for len in 0..24 {
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = byte;
                    assert_eq!(plain_len(&bytes), slow(&bytes), "{bytes:?}");
                    if at + 1 < len {
                        bytes[len - 1] = b'"';
                        assert_eq!(plain_len(&bytes), slow(&bytes), "{bytes:?}");
                    }
                }
            }
        }
        // High bytes (UTF-8) next to the bytes to find.
        for text in [
            "é\"",
            "ééééé\\",
            "\u{ff}\u{80}\u{1}",
            "🎉🎉🎉🎉\u{1f}",
            "\u{7f}\u{7f}\u{7f}\u{7f}\u{7f}\u{7f}\u{7f}\u{7f}\u{20}\"",
        ] {
            assert_eq!(plain_len(text.as_bytes()), slow(text.as_bytes()), "{text:?}");
        }
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
