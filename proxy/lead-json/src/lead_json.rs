//! A lead read from JSON by hand: the same [`Lead`] that `Lead`'s serde `Deserialize` reads
//! through `serde_json` from the same bytes, for the bodies the proxy usually gets, without
//! serde's visitor machinery.
//!
//! [`read`] takes a well-formed JSON object whose fields are the lead's (each at most once,
//! `null` or of the shape `Lead` takes: strings, lists of strings, notes as objects,
//! attributes as a list of `{key, value}` or an object of `key: value` with string or
//! boolean values) and answers `None` for anything else: numbers, notes or attributes
//! written as arrays, escapes in field names, lone surrogates, malformed or truncated JSON,
//! unknown or repeated fields, trailing bytes. `None` only means "not here": the caller then
//! reads the body through serde as before, so every refusal, and its message, still comes
//! from there. Nothing recurses, so nesting depth costs no stack (a deep body is refused at
//! its first unexpected bracket). A test holds both readers to the same result on valid,
//! odd and broken bodies.

use crate::wire::plain_len;
use reekolect_lead::{Attribute, Lead, Note};

/// Reads the lead in `body` into `lead` (a `Lead::default()`), as serde would read it, or
/// answers `None` (see the module's documentation; `lead` is then partly filled, for
/// dropping); with whether its strings were all plain (no escapes in the body): then no
/// string of the lead, nor any part of one, needs escaping when written as JSON (JSON has
/// `"`, `\` and control characters only escaped), also once validation has trimmed or
/// re-cased them. The caller's lead is filled where it lies rather than returned: a `Lead`
/// is over 300 bytes, and every move of one is a copy.
pub fn read(body: &[u8], lead: &mut Lead) -> Option<bool> {
    // serde_json refuses invalid UTF-8 in any string, and JSON has none outside strings: one
    // check of the whole body (a word at a time while it is ASCII) instead of one a string.
    let text = std::str::from_utf8(body).ok()?;
    let mut json = Json { text, bytes: body, at: 0, escapes: false };
    json.expect(b'{')?;
    if json.peek()? == b'}' {
        json.at += 1;
    } else {
        let mut seen = 0u16;
        loop {
            let index = json.field()?;
            json.expect(b':')?;
            // serde refuses a repeated field, `null` or not.
            if seen & (1 << index) != 0 {
                return None;
            }
            seen |= 1 << index;
            if json.null()? {
                // `None`, as `Lead::default()` has it.
            } else {
                match index {
                    0..=9 => *scalar(lead, index) = Some(json.string()?),
                    10 => lead.notes = Some(json.list(Json::note)?),
                    11 => lead.tags = Some(json.list(Json::string)?),
                    _ => lead.attributes = Some(json.attributes()?),
                }
            }
            if !json.next_member(b'}')? {
                break;
            }
        }
    }
    json.skip_whitespace();
    (json.at == body.len()).then_some(!json.escapes)
}

/// The string field at `index` (below 10) in `reekolect_lead::FIELDS`: `Lead::scalars_mut`'s
/// slot, without building its array of ten for each field (a test holds them to the same).
fn scalar(lead: &mut Lead, index: usize) -> &mut Option<String> {
    match index {
        0 => &mut lead.uuid,
        1 => &mut lead.bot_id,
        2 => &mut lead.customer_id,
        3 => &mut lead.agent_id,
        4 => &mut lead.status,
        5 => &mut lead.picture,
        6 => &mut lead.name,
        7 => &mut lead.email,
        8 => &mut lead.phone,
        _ => &mut lead.dial_code,
    }
}

/// A cursor over the body (valid UTF-8).
struct Json<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    /// Whether a string had escapes.
    escapes: bool,
}

impl<'a> Json<'a> {
    /// Skips JSON's whitespace (space, tab, line feed, carriage return).
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte that is not whitespace (not taken). The usual body has none between
    /// its tokens: the byte at the cursor is looked at once before any loop.
    fn peek(&mut self) -> Option<u8> {
        match *self.bytes.get(self.at)? {
            b' ' | b'\t' | b'\n' | b'\r' => {
                self.skip_whitespace();
                self.bytes.get(self.at).copied()
            }
            byte => Some(byte),
        }
    }

    /// Takes `byte`, the next one that is not whitespace.
    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// After a member or an item: `true` after a `,`, `false` at the closing bracket `close`
    /// (`}` in an object, `]` in an array: the other one is refused, as serde refuses it).
    fn next_member(&mut self, close: u8) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.at += 1;
                Some(true)
            }
            byte if byte == close => {
                self.at += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// Takes a `null` if one comes next.
    fn null(&mut self) -> Option<bool> {
        if self.peek()? != b'n' {
            return Some(false);
        }
        self.word(b"null")?;
        Some(true)
    }

    /// Takes `word` (at the cursor).
    fn word(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// The index in `FIELDS` of the lead's field named next (a key without escapes, else
    /// `None`). Matched in place rather than scanned for its end and then looked up: the
    /// first two bytes leave one name it can be, compared with its closing quote as a
    /// constant (a few loads, no call to memcmp). A test holds these names to `FIELDS`.
    fn field(&mut self) -> Option<usize> {
        self.expect(b'"')?;
        let rest = &self.bytes[self.at..];
        let (index, quoted): (usize, &[u8]) = match rest.get(..2)? {
            [b'u', _] if rest.starts_with(b"uuid\"") => (0, b"uuid\""),
            [b'b', _] if rest.starts_with(b"botId\"") => (1, b"botId\""),
            [b'c', _] if rest.starts_with(b"customerId\"") => (2, b"customerId\""),
            [b'a', b'g'] if rest.starts_with(b"agentId\"") => (3, b"agentId\""),
            [b's', _] if rest.starts_with(b"status\"") => (4, b"status\""),
            [b'p', b'i'] if rest.starts_with(b"picture\"") => (5, b"picture\""),
            [b'n', b'a'] if rest.starts_with(b"name\"") => (6, b"name\""),
            [b'e', _] if rest.starts_with(b"email\"") => (7, b"email\""),
            [b'p', _] if rest.starts_with(b"phone\"") => (8, b"phone\""),
            [b'd', _] if rest.starts_with(b"dialCode\"") => (9, b"dialCode\""),
            [b'n', _] if rest.starts_with(b"notes\"") => (10, b"notes\""),
            [b't', _] if rest.starts_with(b"tags\"") => (11, b"tags\""),
            [b'a', _] if rest.starts_with(b"attributes\"") => (12, b"attributes\""),
            _ => return None,
        };
        self.at += quoted.len();
        Some(index)
    }

    /// An object's key, as it is written: one without escapes (else `None`).
    fn key(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.at;
        let end = start + plain_len(&self.bytes[start..]);
        if *self.bytes.get(end)? != b'"' {
            return None;
        }
        self.at = end + 1;
        self.text.get(start..end)
    }

    /// A string, its escapes decoded.
    fn string(&mut self) -> Option<String> {
        self.expect(b'"')?;
        let start = self.at;
        let end = start + plain_len(&self.bytes[start..]);
        match *self.bytes.get(end)? {
            b'"' => {
                self.at = end + 1;
                self.text.get(start..end).map(str::to_string)
            }
            b'\\' => self.escaped(start, end),
            // A control character, which JSON only allows escaped.
            _ => None,
        }
    }

    /// The rest of a string from its first escape, at `end` (its plain start from `start`).
    /// Out of line: the usual string has no escapes, and `string` stays small without it.
    #[cold]
    #[inline(never)]
    fn escaped(&mut self, start: usize, mut end: usize) -> Option<String> {
        self.escapes = true;
        let mut out = String::with_capacity(end - start + 16);
        out.push_str(self.text.get(start..end)?);
        loop {
            match *self.bytes.get(end)? {
                b'"' => {
                    self.at = end + 1;
                    return Some(out);
                }
                b'\\' => {
                    let decoded = match *self.bytes.get(end + 1)? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => '\0',
                        _ => return None,
                    };
                    if decoded == '\0' {
                        let (c, len) = self.unicode_escape(end)?;
                        out.push(c);
                        end += len;
                    } else {
                        out.push(decoded);
                        end += 2;
                    }
                }
                _ => return None,
            }
            let run = plain_len(&self.bytes[end..]);
            out.push_str(self.text.get(end..end + run)?);
            end += run;
        }
    }

    /// The character of the `\uXXXX` escape at `at` (a surrogate pair: two escapes), and the
    /// escape's length; `None` for a lone surrogate, which serde refuses in a string.
    fn unicode_escape(&self, at: usize) -> Option<(char, usize)> {
        let hex = |at: usize| -> Option<u32> {
            let digits = self.bytes.get(at..at + 4)?;
            digits.iter().try_fold(0, |value, digit| Some(value * 16 + char::from(*digit).to_digit(16)?))
        };
        let first = hex(at + 2)?;
        match first {
            0xd800..=0xdbff => {
                if self.bytes.get(at + 6..at + 8)? != b"\\u" {
                    return None;
                }
                let second = hex(at + 8)?;
                if !(0xdc00..=0xdfff).contains(&second) {
                    return None;
                }
                Some((char::from_u32(0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00))?, 12))
            }
            0xdc00..=0xdfff => None,
            _ => Some((char::from_u32(first)?, 6)),
        }
    }

    /// A JSON array of what `item` reads.
    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        self.expect(b'[')?;
        if self.peek()? == b']' {
            self.at += 1;
            return Some(Vec::new());
        }
        // The capacity a first push would give (`Vec`'s least for small items), allocated
        // without going through its growth path.
        let mut list = Vec::with_capacity(4);
        loop {
            list.push(item(self)?);
            if !self.next_member(b']')? {
                return Some(list);
            }
        }
    }

    /// The members of an object, each given to `member` with its key (escapes decoded
    /// when `decode_keys`, else refused), the cursor at its value.
    fn object(&mut self, mut member: impl FnMut(&mut Self, Key<'a>) -> Option<()>) -> Option<()> {
        self.expect(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            let key = if self.peek()? != b'"' {
                return None;
            } else {
                let start = self.at + 1;
                match self.bytes.get(start + plain_len(&self.bytes[start..]))? {
                    b'"' => Key::Plain(self.key()?),
                    _ => Key::Decoded(self.string()?),
                }
            };
            self.expect(b':')?;
            member(self, key)?;
            if !self.next_member(b'}')? {
                return Some(());
            }
        }
    }

    /// A note: `{"title": …, "description": …}`, the description optional.
    fn note(&mut self) -> Option<Note> {
        let (mut title, mut description) = (None, None);
        self.object(|json, key| {
            let slot = match key.plain()? {
                b"title" => &mut title,
                b"description" => &mut description,
                _ => return None,
            };
            if slot.is_some() {
                return None;
            }
            *slot = Some(json.string()?);
            Some(())
        })?;
        Some(Note { title: title?, description: description.unwrap_or_default() })
    }

    /// The attributes: a list of `{"key": …, "value": …}` or an object of `key: value`.
    fn attributes(&mut self) -> Option<Vec<Attribute>> {
        if self.peek()? == b'[' {
            return self.list(Json::attribute);
        }
        // As in `list` (an empty object, rare, costs an allocation for nothing).
        let mut list = Vec::with_capacity(4);
        self.object(|json, key| {
            let key = match key {
                Key::Plain(raw) => raw.to_string(),
                Key::Decoded(key) => key,
            };
            list.push(Attribute { key, value: json.scalar()? });
            Some(())
        })?;
        Some(list)
    }

    /// One `{"key": …, "value": …}`.
    fn attribute(&mut self) -> Option<Attribute> {
        let (mut key, mut value) = (None, None);
        self.object(|json, name| {
            match name.plain()? {
                b"key" if key.is_none() => key = Some(json.string()?),
                b"value" if value.is_none() => value = Some(json.scalar()?),
                _ => return None,
            }
            Some(())
        })?;
        Some(Attribute { key: key?, value: value? })
    }

    /// An attribute's value: a string, or a boolean as `"true"`/`"false"` (numbers are left
    /// to serde).
    fn scalar(&mut self) -> Option<String> {
        match self.peek()? {
            b'"' => self.string(),
            b't' => self.word(b"true").map(|()| "true".to_string()),
            b'f' => self.word(b"false").map(|()| "false".to_string()),
            _ => None,
        }
    }
}

/// An object's key: as it is written when it has no escapes, else decoded.
enum Key<'a> {
    Plain(&'a str),
    Decoded(String),
}

impl<'a> Key<'a> {
    /// The bytes of a key without escapes (a struct's field names have none here).
    fn plain(&self) -> Option<&'a [u8]> {
        match self {
            Key::Plain(raw) => Some(raw.as_bytes()),
            Key::Decoded(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use reekolect_lead::{Lead, FIELDS};

    /// The lead in `body` and whether it was plain, or `None`.
    fn read(body: &[u8]) -> Option<(Lead, bool)> {
        let mut lead = Lead::default();
        super::read(body, &mut lead).map(|plain| (lead, plain))
    }

    /// What `Lead`'s serde `Deserialize` reads from `body` with serde_json (as the proxy's
    /// `read_lead` runs it), or `None` when it refuses it.
    fn serde(body: &str) -> Option<Lead> {
        let mut source = serde_json::Deserializer::from_str(body);
        let lead = <Lead as serde::Deserialize>::deserialize(&mut source).ok()?;
        source.end().ok().map(|()| lead)
    }

    /// `body` read here: the same lead as serde, or not read here at all.
    fn agrees(body: &str) -> Option<Lead> {
        let ours = read(body.as_bytes()).map(|(lead, plain)| {
            assert_eq!(plain, !body.contains('\\'), "{body}");
            // Written as JSON, plain or not, it is what serde_json writes.
            let (mut known, mut scanned) = (Vec::new(), Vec::new());
            crate::wire::write_lead(&mut known, &lead, plain);
            crate::wire::write_lead(&mut scanned, &lead, false);
            assert_eq!(known, serde_json::to_vec(&lead).unwrap());
            assert_eq!(scanned, known);
            lead
        });
        if let Some(lead) = &ours {
            assert_eq!(Some(lead), serde(body).as_ref(), "{body}");
        }
        ours
    }

    /// Read here, the same as serde.
    fn reads(body: &str) -> Lead {
        agrees(body).unwrap_or_else(|| panic!("not read here: {body}"))
    }

    /// Not read here (serde may read it or refuse it).
    fn passes(body: &str) {
        assert_eq!(agrees(body), None, "{body}");
    }

    const BENCH: &str = r#"{"uuid":"7e88d192-9b20-4035-9b68-00000000002a","botId":"benchbot","customerId":"benchcustomer","name":"Ada Lovelace","email":"Ada@Example.com","phone":"+44 20 7946 0958","tags":["bench"],"attributes":{"plan":"pro"}}"#;

    #[test]
    fn reads_what_serde_reads() {
        let lead = reads(BENCH);
        assert_eq!(lead.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(lead.attributes.unwrap()[0].value, "pro");
        reads("{}");
        reads(" \t\r\n{ \n} \n");
        // Every field, with whitespace everywhere JSON allows it.
        let all = r#" { "uuid" : "u" , "botId":"b","customerId":"c","agentId":"a","status":"open",
            "picture":"https://x/y.png","name":"  N  ","email":"e@x.io","phone":"123","dialCode":"+1",
            "notes" : [ { "title" : "t" , "description" : "d" } , {"description":"only","title":"x"}, {"title":"no description"} ] ,
            "tags" : [ "a" , "b" , "a" ] , "attributes" : [ { "key" : "k" , "value" : "v" } , {"value":true,"key":"b"} ] } "#;
        let lead = reads(all);
        assert_eq!(lead.notes.as_ref().unwrap()[2].description, "");
        assert_eq!(lead.attributes.as_ref().unwrap()[1].value, "true");
        // Each field in turn `null`, empty, or in another shape.
        for (n, field) in FIELDS.iter().enumerate() {
            reads(&format!(r#"{{"{field}":null}}"#));
            if n < 10 {
                reads(&format!(r#"{{"{field}":""}}"#));
            }
        }
        reads(r#"{"tags":[],"notes":[],"attributes":[]}"#);
        reads(r#"{"attributes":{}}"#);
        reads(r#"{"attributes":{"a":"1","a":"2","b":false,"c":true}}"#);
        reads(r#"{"attributes":{"we\"ird\\key\u00e9":"x"}}"#);
        // Escapes, non-ASCII text, long strings (past the 8-byte scan's words).
        for text in [
            r#"quote \" backslash \\ slash \/ \b\f\n\r\t"#,
            r#"\u0041\u00e9\u20ac\ud83c\udf89 and \u0000"#,
            "ünïcödé 🎉 \u{2028} plain",
            r#"\\\\\\\\\"\"\"\"x"#,
            "0123456789abcdef0123456789abcdef0123456789abcdef",
            r#"0123456789abcdef01234567\"89abcdef0123456789\n"#,
            "\u{7f}\u{80}\u{10ffff}",
        ] {
            let lead = reads(&format!(r#"{{"name":"{text}","tags":["{text}"],"attributes":{{"{text}":"{text}"}}}}"#));
            assert!(lead.name.unwrap().len() > 3);
            reads(&format!(r#"{{"notes":[{{"title":"{text}","description":"{text}"}}]}}"#));
        }
    }

    #[test]
    fn leaves_the_rest_to_serde() {
        // Read by serde, not here.
        for body in [
            r#"{"attributes":{"n":1}}"#,
            r#"{"attributes":[{"key":"n","value":2.5}]}"#,
            r#"{"attributes":{"n":-0}}"#,
            r#"{"na\u006de":"escaped field name"}"#,
            r#"{"notes":[{"tit\u006ce":"escaped"}]}"#,
            // serde takes a struct from an array too (its fields in order); the proxy does not
            // (`read_lead` wants an object), nor does this.
            "[]",
            r#"["u","b"]"#,
        ] {
            assert!(serde(body).is_some(), "{body}");
            passes(body);
        }
        // Refused by serde: not read here either.
        for body in [
            "",
            "   ",
            "null",
            // A bracket closing what it did not open (found by tests/differential.rs).
            r#"{"name":"x"]"#,
            r#"{"tags":["a"}}"#,
            r#"{"notes":[{"title":"t"]]}"#,
            r#"{"attributes":{"k":"v"]}"#,
            r#"{"attributes":[{"key":"k","value":"v"}}}"#,
            r#"{"name":"x"} trailing"#,
            r#"{"name":"x"}{}"#,
            r#"{"name":"x",}"#,
            r#"{"name":"x""tags":[]}"#,
            r#"{"name":"x""#,
            r#"{"name":"x"#,
            r#"{"name":"#,
            r#"{"name""#,
            r#"{"#,
            r#"{"name":"x" "#,
            r#"{"name":'x'}"#,
            r#"{name:"x"}"#,
            r#"{"name":"x","name":"y"}"#,
            r#"{"name":null,"name":"y"}"#,
            // A note or an attribute is an object (`reekolect_lead`'s reader refuses arrays).
            r#"{"notes":[["title","description"]]}"#,
            r#"{"attributes":[["k","v"]]}"#,
            r#"{"unknown":"x"}"#,
            r#"{"name":1}"#,
            r#"{"name":true}"#,
            r#"{"name":["x"]}"#,
            r#"{"name":nul}"#,
            r#"{"name":nulls}"#,
            r#"{"tags":"x"}"#,
            r#"{"tags":[null]}"#,
            r#"{"tags":["a",]}"#,
            r#"{"tags":["a" "b"]}"#,
            r#"{"tags":[1]}"#,
            r#"{"tags":["a"}"#,
            r#"{"notes":[{}]}"#,
            r#"{"notes":[{"description":"d"}]}"#,
            r#"{"notes":[{"title":"t","title":"u"}]}"#,
            r#"{"notes":[{"title":"t","other":"u"}]}"#,
            r#"{"notes":[{"title":null}]}"#,
            r#"{"notes":[{"title":"t","description":null}]}"#,
            r#"{"notes":{"title":"t"}}"#,
            r#"{"attributes":[{"key":"k"}]}"#,
            r#"{"attributes":[{"value":"v"}]}"#,
            r#"{"attributes":[{"key":"k","value":"v","value":"w"}]}"#,
            r#"{"attributes":[{"key":"k","value":null}]}"#,
            r#"{"attributes":{"k":null}}"#,
            r#"{"attributes":{"k":["v"]}}"#,
            r#"{"attributes":{"k":{"v":"w"}}}"#,
            r#"{"attributes":"k"}"#,
            r#"{"attributes":{"k":tru}}"#,
            "{\"name\":\"tab\tinside\"}",
            "{\"name\":\"line\nfeed\"}",
            r#"{"name":"bad \x escape"}"#,
            r#"{"name":"bad \u12 escape"}"#,
            r#"{"name":"bad \u12g4 escape"}"#,
            r#"{"name":"lone \ud800 surrogate"}"#,
            r#"{"name":"lone \udc00 surrogate"}"#,
            r#"{"name":"pair \ud800\u0041 broken"}"#,
            r#"{"name":"unended \"#,
        ] {
            assert!(serde(body).is_none(), "{body}");
            passes(body);
        }
        // Invalid UTF-8 in a string.
        for bytes in
            [&b"{\"name\":\"\xff\"}"[..], b"{\"name\":\"\xc3\"}", b"{\"name\":\"\xc3\\n\"}", b"{\"n\xc3\xa9\":\"x\"}"]
        {
            assert_eq!(read(bytes), None);
        }
        // Nesting is refused at its first bracket, without recursing.
        let deep = "[".repeat(30_000) + &"]".repeat(30_000);
        passes(&deep);
        passes(&format!(r#"{{"tags":{deep}}}"#));
        passes(&format!(r#"{{"attributes":{{"k":{deep}}}}}"#));
    }

    #[test]
    fn field_order_follows_the_scalars() {
        // `read` takes the ten string fields' slots from `Lead::scalars_mut` by their index
        // in `FIELDS`.
        let mut lead = Lead::default();
        for (at, (name, _)) in lead.scalars_mut().into_iter().enumerate() {
            assert_eq!(name, FIELDS[at]);
        }
        // `Json::field` matches each name to its index, and nothing else.
        let field = |key: &str| {
            let body = format!(r#"{key}:"#);
            let mut json = super::Json { text: &body, bytes: body.as_bytes(), at: 0, escapes: false };
            json.field().inspect(|_| assert_eq!(&body[json.at..], ":", "{key}"))
        };
        for (at, name) in FIELDS.iter().enumerate() {
            assert_eq!(field(&format!(r#""{name}""#)), Some(at), "{name}");
            assert_eq!(field(&format!(r#" "{name}""#)), Some(at), "{name}");
            for other in [&name[1..], &name[..name.len() - 1], &format!("{name}x"), &name.to_uppercase()] {
                assert_eq!(field(&format!(r#""{other}""#)), None, "{other}");
            }
            assert_eq!(field(&format!(r#""{name}"#)), None, "{name}");
            assert_eq!(field(name), None, "{name}");
        }
        for key in [r#""""#, r#""n""#, r#""na""#, r#""nam\u0065""#, r#""phone\"""#, "\"", ""] {
            assert_eq!(field(key), None, "{key}");
        }
        // `scalar` gives the same slots as `scalars_mut`, in the same order.
        let mut lead = Lead::default();
        let slots: Vec<*const Option<String>> =
            lead.scalars_mut().into_iter().map(|(_, slot)| &raw const *slot).collect();
        for (at, slot) in slots.into_iter().enumerate() {
            assert_eq!(&raw const *super::scalar(&mut lead, at), slot, "{}", FIELDS[at]);
        }
    }
}
