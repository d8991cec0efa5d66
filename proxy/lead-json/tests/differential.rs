//! Differential tests of the hand-written stand-ins for `serde_json` on the `/lead` path
//! against `serde_json` itself, on generated input:
//!
//! - the reader (`lead_json`): on valid, odd and broken bodies, whatever it accepts serde
//!   accepts too, as the same `Lead`; and the proxy's whole reading (`read_lead`: the
//!   reader, else serde) accepts and refuses exactly what serde then validation do,
//!   with the same lead;
//! - the writer (`wire`): every lead it writes is what `serde_json::to_vec` writes, byte
//!   for byte, and serde reads it back equal; a wrong "nothing to escape" hint still gives
//!   valid JSON in release builds (and is caught by an assertion in debug ones).
//!
//! Meant for release mode (`npm test` runs `cargo test --release -p reekolect-lead-json
//! --test differential`, 1,000,000 bodies); a debug build (the host layer's `cargo test`)
//! runs fewer. `DIFFERENTIAL_BODIES` sets the number; `DIFFERENTIAL_SEED` the seed (printed).

use reekolect_lead::{validate_lead, Attribute, FieldError, Lead, Note};
use reekolect_lead_json::lead_json::read as read_lead_json;
use reekolect_lead_json::{plain_len, read_lead, write_lead};
use serde::Deserialize;

/// Bodies generated per run: 1,000,000 in release builds, 20,000 in debug ones.
fn bodies() -> u64 {
    let default = if cfg!(debug_assertions) { 20_000 } else { 1_000_000 };
    std::env::var("DIFFERENTIAL_BODIES").ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

fn seed() -> u64 {
    let seed = std::env::var("DIFFERENTIAL_SEED").ok().and_then(|n| n.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!("DIFFERENTIAL_SEED={seed}");
    seed
}

/// SplitMix64: small, fast, and the same sequence for a seed everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True one time in `n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The lead's field names, in wire order.
const FIELDS: [&str; 13] = [
    "uuid",
    "botId",
    "customerId",
    "agentId",
    "status",
    "picture",
    "name",
    "email",
    "phone",
    "dialCode",
    "notes",
    "tags",
    "attributes",
];

/// Values of each string field (by index in `FIELDS`) that pass validation, as the
/// companion sends them, or nearly (padded, other case), as JSON string content.
const VALUES: [&[&str]; 10] = [
    &[
        "7e88d192-9b20-4035-9b68-d4ac3d58a34f",
        "7E88D192-9B20-4035-9B68-D4AC3D58A34F",
        " 00000000-0000-4000-8000-000000000000 ",
    ],
    &["b1", "benchbot", " bot_2 ", "Bot-3"],
    &["c1", "benchcustomer", " cust_9 "],
    &["agent_1", " a2 "],
    &["OPEN", "inProgress", " closed ", "REVIEW", "onhold", "DEPENDANCY"],
    &["https://img.example/a.png", " http://cdn.example/p/1.jpg?x=1 "],
    &["Ada Lovelace", "  ünï 🎉 é  ", r#"O'Brien \"Bob\""#, r"Zo\u00eb", r"line\nbreak"],
    &["ann.lee+x@example.co.uk", " Ada@Example.COM ", "a@b.io"],
    &["+44 20 7946 0958", "2079 460958", "(20) 7946-0958", "+1-555-0100"],
    &["+44", "44", " 1 ", "+353"],
];

/// Free text: plain words, UTF-8, and valid escapes of every kind.
const TEXT: [&str; 22] = [
    "a",
    "note",
    "Ada Lovelace",
    " ",
    "  padded  ",
    "ünï",
    "🎉",
    "\u{2028}",
    "\u{7f}",
    "é",
    "\\\"",
    "\\\\",
    "\\/",
    "\\n",
    "\\t\\r\\b\\f",
    "\\u0041",
    "\\u00e9",
    "\\u0000",
    "\\ud83c\\udf89",
    "\\uD83C\\uDF89",
    "\\u001f",
    "web",
];

/// String content JSON refuses: a lone surrogate, a bad or short escape, a raw control
/// character.
const BROKEN: [&str; 7] = ["\\ud83c", "\\udf89x", "\\x", "\t", "\\u12", "\u{1}", "\\uZZZZ"];

/// A JSON string's content: free text, now and then something broken.
fn content(rng: &mut Rng) -> String {
    let mut out = String::new();
    for _ in 0..rng.below(3) + 1 {
        // Mostly plain, as the companion sends.
        let kinds = if rng.below(4) == 0 { TEXT.len() } else { 7 };
        out.push_str(rng.pick(&TEXT[..kinds]));
    }
    if rng.one_in(60) {
        out.insert_str(rng.below(2) as usize * out.len(), rng.pick(&BROKEN));
    }
    out
}

fn string(rng: &mut Rng) -> String {
    format!("\"{}\"", content(rng))
}

/// `value` as a JSON string, now and then with a character written as an escape.
fn quoted(rng: &mut Rng, value: &str) -> String {
    if !rng.one_in(8) {
        return format!("\"{value}\"");
    }
    let at = value.char_indices().map(|(at, _)| at).nth(rng.below(value.chars().count().max(1) as u64) as usize);
    match at {
        Some(at) if value.is_char_boundary(at) && !value[..at].ends_with('\\') => {
            let c = value[at..].chars().next().unwrap();
            if c == '\\' || c == '"' || (c as u32) > 0xffff {
                return format!("\"{value}\"");
            }
            format!("\"{}\\u{:04x}{}\"", &value[..at], c as u32, &value[at + c.len_utf8()..])
        }
        _ => format!("\"{value}\""),
    }
}

/// JSON whitespace, usually none.
fn space(rng: &mut Rng) -> &'static str {
    if rng.below(6) != 0 {
        ""
    } else {
        rng.pick(&[" ", "\n", "\t", "\r\n  ", "  "])
    }
}

/// The value of string field `field`: a value of the field's kind, mostly; sometimes free
/// text, or what serde also takes or refuses there.
fn scalar(rng: &mut Rng, field: usize) -> String {
    match rng.below(60) {
        0 => "null".into(),
        1 => rng.pick(&["12", "-0", "1.5e3", "true", "false"]).to_string(),
        2 => rng.pick(&["[]", "{}", "[\"a\"]"]).to_string(),
        3..=8 => string(rng),
        _ => {
            let value = rng.pick(VALUES[field]);
            quoted(rng, value)
        }
    }
}

fn list(rng: &mut Rng, item: impl Fn(&mut Rng) -> String) -> String {
    let items: Vec<String> = (0..rng.below(4)).map(|_| item(rng)).collect();
    let separator = format!("{},{}", space(rng), space(rng));
    format!("[{}{}{}]", space(rng), items.join(&separator), space(rng))
}

fn object(members: Vec<(String, String)>, rng: &mut Rng) -> String {
    let members: Vec<String> =
        members.into_iter().map(|(key, value)| format!("{key}{}:{}{value}", space(rng), space(rng))).collect();
    format!("{{{}{}{}}}", space(rng), members.join(","), space(rng))
}

fn note(rng: &mut Rng) -> String {
    match rng.below(30) {
        0 => list(rng, string),
        1 => object(vec![("\"title\"".into(), string(rng)), ("\"title\"".into(), string(rng))], rng),
        2 => object(vec![("\"description\"".into(), string(rng))], rng),
        3 => object(vec![("\"title\"".into(), string(rng)), ("\"other\"".into(), string(rng))], rng),
        4 => object(vec![("\"title\"".into(), "null".into())], rng),
        _ => {
            let mut members = vec![("\"title\"".to_string(), string(rng))];
            if rng.below(3) != 0 {
                members.push(("\"description\"".into(), string(rng)));
            }
            if rng.one_in(2) {
                members.reverse();
            }
            object(members, rng)
        }
    }
}

fn attribute_value(rng: &mut Rng) -> String {
    match rng.below(12) {
        0 => rng.pick(&["true", "false"]).to_string(),
        1 => rng.pick(&["0", "-0", "42", "-7", "3.25", "1e400", "1E2", "01"]).to_string(),
        2 => rng.pick(&["null", "[]", "{}"]).to_string(),
        _ => string(rng),
    }
}

fn attributes(rng: &mut Rng) -> String {
    if rng.one_in(2) {
        let members = (0..rng.below(4)).map(|_| (string(rng), attribute_value(rng))).collect();
        return object(members, rng);
    }
    list(rng, |rng| {
        let mut members = vec![("\"key\"".to_string(), string(rng)), ("\"value\"".to_string(), attribute_value(rng))];
        match rng.below(20) {
            0 => {
                members.pop();
            }
            1 => members.push(("\"extra\"".into(), string(rng))),
            2 => members.reverse(),
            _ => {}
        }
        object(members, rng)
    })
}

/// A field's value.
fn value(rng: &mut Rng, field: usize) -> String {
    match field {
        0..=9 => scalar(rng, field),
        10 if !rng.one_in(30) => list(rng, note),
        11 if !rng.one_in(30) => list(rng, |rng| if rng.one_in(30) { scalar(rng, 6) } else { string(rng) }),
        12 if !rng.one_in(30) => attributes(rng),
        _ => scalar(rng, 6),
    }
}

/// A body shaped like a lead: some of its fields in any order, now and then a repeated or
/// unknown one or an escaped name.
fn lead_body(rng: &mut Rng) -> String {
    // The three ids (required) nearly always, the others half the time.
    let mut fields: Vec<usize> = (0..13).filter(|&field| rng.below(if field < 3 { 20 } else { 2 }) != 0).collect();
    for at in (1..fields.len()).rev() {
        fields.swap(at, rng.below(at as u64 + 1) as usize);
    }
    if rng.one_in(40) && !fields.is_empty() {
        fields.push(fields[0]);
    }
    let mut members: Vec<(String, String)> =
        fields.into_iter().map(|field| (format!("\"{}\"", FIELDS[field]), value(rng, field))).collect();
    match rng.below(60) {
        0 => members.push(("\"unknown\"".into(), string(rng))),
        1 => members.push(("\"\\u0075uid\"".into(), string(rng))),
        2 => members.push(("\"Name\"".into(), string(rng))),
        _ => {}
    }
    format!("{}{}{}", space(rng), object(members, rng), space(rng))
}

/// Breaks a body now and then: cut short, a byte dropped, changed or added, trailing bytes,
/// or not an object at all.
fn mutate(rng: &mut Rng, body: String) -> Vec<u8> {
    let mut bytes = body.into_bytes();
    if bytes.is_empty() {
        return bytes;
    }
    let at = rng.below(bytes.len() as u64) as usize;
    match rng.below(10) {
        0 => bytes.truncate(at),
        1 => {
            bytes.remove(at);
        }
        2 => bytes[at] = rng.pick(b"\"\\{}[],: nul0\x01\xff"),
        3 => bytes.insert(at, rng.pick(b"\"\\{}[],: tfn\x1f\xc3")),
        4 => bytes.extend_from_slice(rng.pick(&[&b" x"[..], b"{}", b",", b"\0"])),
        5 => bytes = rng.pick(&[&b""[..], b"  ", b"null", b"[]", b"\"lead\"", b"42", b"{"]).to_vec(),
        _ => {}
    }
    bytes
}

/// What serde reads from `body` as a `Lead` (the whole body, nothing after it).
fn serde_lead(body: &[u8]) -> Option<Lead> {
    let mut source = serde_json::Deserializer::from_slice(body);
    let lead = Lead::deserialize(&mut source).ok()?;
    source.end().ok()?;
    Some(lead)
}

/// Every string of `lead`.
fn strings(lead: &Lead) -> Vec<&String> {
    let mut strings: Vec<&String> = lead.scalars().into_iter().filter_map(|(_, value)| value.as_ref()).collect();
    strings.extend(lead.tags.iter().flatten());
    strings.extend(lead.notes.iter().flatten().flat_map(|note| [&note.title, &note.description]));
    strings.extend(lead.attributes.iter().flatten().flat_map(|attribute| [&attribute.key, &attribute.value]));
    strings
}

/// The writer against serde_json on `lead`, with the reader's `plain`.
fn check_writer(lead: &Lead, plain: bool) {
    let mut ours = Vec::new();
    write_lead(&mut ours, lead, plain);
    let serde = serde_json::to_vec(lead).unwrap();
    assert_eq!(ours, serde, "{lead:?} (plain: {plain})");
    let back: Lead = serde_json::from_slice(&ours).unwrap_or_else(|err| panic!("{err}: {lead:?}"));
    assert_eq!(&back, lead);
}

#[derive(Debug, Default)]
struct Counts {
    bodies: u64,
    serde_accepted: u64,
    reader_accepted: u64,
    valid: u64,
}

#[test]
fn the_reader_and_the_writer_agree_with_serde_json() {
    let (count, mut rng) = (bodies(), Rng(seed()));
    let mut counts = Counts::default();
    let started = std::time::Instant::now();
    for _ in 0..count {
        let body = lead_body(&mut rng);
        let body = if rng.below(3) == 0 { mutate(&mut rng, body) } else { body.into_bytes() };
        counts.bodies += 1;
        let shown = || String::from_utf8_lossy(&body).into_owned();

        // The reader: accepts only what serde accepts, as the same lead.
        let expected = serde_lead(&body);
        let mut lead = Lead::default();
        let plain = read_lead_json(&body, &mut lead);
        counts.serde_accepted += u64::from(expected.is_some());
        if let Some(plain) = plain {
            counts.reader_accepted += 1;
            assert_eq!(Some(&lead), expected.as_ref(), "the reader accepted {}", shown());
            // Plain: no escapes in the body, so no string needs one.
            if plain {
                for value in strings(&lead) {
                    assert_eq!(plain_len(value.as_bytes()), value.len(), "{value:?} in {}", shown());
                }
            }
        }

        // The whole reading: the same accepted lead (validated) or a refusal, as serde then
        // validation give for an object.
        // (serde also reads a struct from a JSON array; the proxy takes objects only.)
        let is_object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        let ours: Result<Lead, Vec<FieldError>> = read_lead(&body);
        match expected.filter(|_| is_object) {
            Some(expected) => {
                let validated = validate_lead(expected.clone());
                match (&ours, &validated) {
                    (Ok(ours), Ok(validated)) => {
                        counts.valid += 1;
                        assert_eq!(ours, validated, "{}", shown());
                        // The writer, on the validated lead with the reader's hint.
                        check_writer(ours, plain == Some(true));
                    }
                    (Err(ours), Err(validated)) => assert_eq!(ours, validated, "{}", shown()),
                    _ => panic!("read_lead {ours:?}, serde then validation {validated:?}: {}", shown()),
                }
                // The writer on the lead as read, before validation.
                check_writer(&expected, false);
            }
            None => assert!(ours.is_err(), "read_lead accepted what serde refuses: {} -> {ours:?}", shown()),
        }
    }
    eprintln!(
        "{counts:?} in {:.1} s ({} build)",
        started.elapsed().as_secs_f64(),
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
    // The generator reaches every case: bodies the reader takes, ones it leaves to serde,
    // ones serde refuses, valid leads.
    assert!(counts.reader_accepted > count / 4, "{counts:?}");
    assert!(counts.serde_accepted > counts.reader_accepted, "{counts:?}");
    assert!(counts.bodies - counts.serde_accepted > count / 10, "{counts:?}");
    assert!(counts.valid > count / 20, "{counts:?}");
}

/// Leads with any strings (every character class JSON escapes or not), written by hand
/// and by serde_json.
#[test]
fn the_writer_writes_any_lead_as_serde_json_does() {
    let (count, mut rng) = (bodies() / 4, Rng(seed()));
    let text = |rng: &mut Rng| -> String {
        (0..rng.below(12))
            .map(|_| match rng.below(6) {
                0 => char::from_u32(rng.below(0x20) as u32).unwrap(),
                1 => rng.pick(&['"', '\\', '/', '\u{7f}', '\u{2028}', 'é', '🎉']),
                _ => char::from(b'a' + rng.below(26) as u8),
            })
            .collect()
    };
    let maybe = |rng: &mut Rng| if rng.one_in(3) { None } else { Some(text(rng)) };
    for _ in 0..count {
        let lead = Lead {
            uuid: maybe(&mut rng),
            bot_id: maybe(&mut rng),
            customer_id: maybe(&mut rng),
            agent_id: maybe(&mut rng),
            status: maybe(&mut rng),
            picture: maybe(&mut rng),
            name: maybe(&mut rng),
            email: maybe(&mut rng),
            phone: maybe(&mut rng),
            dial_code: maybe(&mut rng),
            notes: (!rng.one_in(3)).then(|| {
                (0..rng.below(3)).map(|_| Note { title: text(&mut rng), description: text(&mut rng) }).collect()
            }),
            tags: (!rng.one_in(3)).then(|| (0..rng.below(3)).map(|_| text(&mut rng)).collect()),
            attributes: (!rng.one_in(3))
                .then(|| (0..rng.below(3)).map(|_| Attribute { key: text(&mut rng), value: text(&mut rng) }).collect()),
        };
        let plain = strings(&lead).iter().all(|value| plain_len(value.as_bytes()) == value.len());
        check_writer(&lead, plain);
    }
}

/// The "nothing to escape" hint is checked in every build: a wrong one still gives the JSON
/// serde_json writes in release builds, and trips the debug assertion in debug ones.
#[test]
fn a_wrong_plain_hint_cannot_make_invalid_json() {
    let lead = Lead {
        name: Some("Ada \"the first\" Lovelace".into()),
        tags: Some(vec!["back\\slash".into(), "line\nbreak".into()]),
        ..Lead::default()
    };
    let written = std::panic::catch_unwind(|| {
        let mut out = Vec::new();
        write_lead(&mut out, &lead, true);
        out
    });
    if cfg!(debug_assertions) {
        assert!(written.is_err(), "the debug assertion did not trip");
    } else {
        assert_eq!(written.expect("no assertion in release builds"), serde_json::to_vec(&lead).unwrap());
    }
}
