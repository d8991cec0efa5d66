use std::fmt;

/// A rule that one field of a lead broke.
///
/// `field` is a path into the lead as the caller wrote it (`email`, `tags[2]`,
/// `attributes[0].key`); `rule` says, in plain words, what the value must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the offending field, in the wire format's camelCase names.
    pub field: String,
    /// The rule the value broke, e.g. "must be an email address like name@example.com".
    pub rule: String,
}

impl FieldError {
    /// A new error for `field` breaking `rule`.
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self { field: field.into(), rule: rule.into() }
    }

    /// `field: rule`, as `Display` writes it, without the formatting machinery.
    pub fn describe(&self) -> String {
        self.field.clone() + ": " + &self.rule
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

impl std::error::Error for FieldError {}
