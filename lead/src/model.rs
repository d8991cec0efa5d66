//! The lead as the Reekolect API's `PUT /inbox/direct/lead` takes it (camelCase JSON).

use crate::FieldError;
use serde::{de, Deserialize, Deserializer, Serialize};
use std::fmt;

/// The statuses the API accepts, in their canonical spelling.
pub const STATUSES: [&str; 6] = ["OPEN", "INPROGRESS", "REVIEW", "ONHOLD", "DEPENDANCY", "CLOSED"];

/// The wire names of every [`Lead`] field.
pub const FIELDS: [&str; 13] = [
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

/// One lead update in the wire format. Every field is optional here so that the same
/// type serves the browser (where `uuid`, `botId` and `customerId` come from the
/// visitor context) and the proxy (where they are required: see [`crate::validate_lead`]).
/// Unknown fields are rejected rather than dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lead {
    /// The visitor's UUID, created by the chat widget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// The bot's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<String>,
    /// The customer account's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// Id of the agent assigned to the chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// One of [`STATUSES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Absolute http(s) URL of the lead's picture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// The lead's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The lead's email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The phone number without its country calling code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The country calling code, with its `+`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dial_code: Option<String>,
    /// Notes to add to the chat.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "notes")]
    pub notes: Option<Vec<Note>>,
    /// Tags to add to the chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Custom attributes. Accepted as the wire's `[{key, value}]` or as a `{key: value}`
    /// object; numbers and booleans become strings. Always sent as `[{key, value}]`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "attributes")]
    pub attributes: Option<Vec<Attribute>>,
}

impl Lead {
    /// The ten string fields with their wire names, in wire order: code that treats them
    /// alike walks this instead of naming each (one loop in the bundle, not ten copies).
    pub fn scalars_mut(&mut self) -> [(&'static str, &mut Option<String>); 10] {
        [
            ("uuid", &mut self.uuid),
            ("botId", &mut self.bot_id),
            ("customerId", &mut self.customer_id),
            ("agentId", &mut self.agent_id),
            ("status", &mut self.status),
            ("picture", &mut self.picture),
            ("name", &mut self.name),
            ("email", &mut self.email),
            ("phone", &mut self.phone),
            ("dialCode", &mut self.dial_code),
        ]
    }

    /// The ten string fields with their wire names, in wire order.
    pub fn scalars(&self) -> [(&'static str, &Option<String>); 10] {
        [
            ("uuid", &self.uuid),
            ("botId", &self.bot_id),
            ("customerId", &self.customer_id),
            ("agentId", &self.agent_id),
            ("status", &self.status),
            ("picture", &self.picture),
            ("name", &self.name),
            ("email", &self.email),
            ("phone", &self.phone),
            ("dialCode", &self.dial_code),
        ]
    }
}

/// A note on the chat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    /// Required, short.
    pub title: String,
    /// Optional body.
    #[serde(default)]
    pub description: String,
}

/// A custom attribute of the chat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attribute {
    /// The attribute's name.
    pub key: String,
    /// Its value, always a string on the wire.
    #[serde(deserialize_with = "scalar_string")]
    pub value: String,
}

/// Reads a [`Lead`] from any serde source, turning the first type or shape error into a
/// [`FieldError`] that names the field (`attributes[1].value`) and the rule.
pub fn parse_lead<'de, D: Deserializer<'de>>(source: D) -> Result<Lead, FieldError> {
    serde_path_to_error::deserialize(source).map_err(|err| {
        let path = err.path().to_string();
        let parent = if path == "." || path == "?" { String::new() } else { path };
        describe(parent, &err.into_inner().to_string())
    })
}

/// Rewrites serde's messages into "field: rule" form.
fn describe<E: fmt::Display>(path: String, message: &E) -> FieldError {
    let message = message.to_string();
    // serde-wasm-bindgen's errors are JS Errors, whose text starts with "Error: ".
    let message = message.strip_prefix("Error: ").unwrap_or(&message);
    // serde_json appends the position; the field path says more.
    let message = match message.rfind(" at line ") {
        Some(at) if message[at..].contains(" column ") => &message[..at],
        _ => message,
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        // serde_path_to_error's path already ends at the unknown field.
        let field = if path.is_empty() { name.to_string() } else { path };
        let expected = expected.trim_start_matches(", expected ").replace('`', "");
        return FieldError::new(field, "is not a known field (expected ".to_string() + &expected + ")");
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        let field = if path.is_empty() { name.to_string() } else { path + "." + name };
        return FieldError::new(field, "is required");
    }
    let field = if path.is_empty() { "body".to_string() } else { path };
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if let Some((got, expected)) = rest.split_once(", expected ") {
            return FieldError::new(field, "must be ".to_string() + expected + " (got " + got + ")");
        }
    }
    FieldError::new(field, message)
}

struct ScalarString;

impl<'de> de::Visitor<'de> for ScalarString {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number or boolean")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(if v { "true" } else { "false" }.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        if v == 0.0 {
            Ok("0".into()) // -0 too, as JavaScript's String(-0) writes it
        } else if v.is_finite() {
            Ok(v.to_string())
        } else {
            Err(E::invalid_value(de::Unexpected::Float(v), &self))
        }
    }
}

fn scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(ScalarString)
}

struct Attributes;

impl<'de> de::Visitor<'de> for Attributes {
    type Value = Option<Vec<Attribute>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of {key, value} or an object of key: value")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut list = Vec::new();
        while let Some(Object(attribute)) = seq.next_element::<Object<Attribute>>()? {
            list.push(attribute);
        }
        Ok(Some(list))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut list = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<AttributeValue>()?.0;
            list.push(Attribute { key, value });
        }
        Ok(Some(list))
    }
}

struct AttributeValue(String);

impl<'de> Deserialize<'de> for AttributeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar_string(d).map(AttributeValue)
    }
}

fn attributes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Attribute>>, D::Error> {
    d.deserialize_any(Attributes)
}

/// A `T` read only from an object: serde's derived `Deserialize` also takes an array of the
/// fields in order (`["title", "description"]` as a note), which the wire format does not allow.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> de::Visitor<'de> for Fields<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Fields(std::marker::PhantomData)).map(Object)
    }
}

fn notes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Note>>, D::Error> {
    let notes = Option::<Vec<Object<Note>>>::deserialize(d)?;
    Ok(notes.map(|notes| notes.into_iter().map(|Object(note)| note).collect()))
}
