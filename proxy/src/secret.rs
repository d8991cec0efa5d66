//! Tokens that never print.

use std::fmt;

/// The fewest characters a token may have (real API tokens are much longer).
pub const MIN_TOKEN_LEN: usize = 16;

/// A token that must never be printed: its `Debug` and `Display` show `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// A fresh random token of 32 hex digits (128 bits).
    pub fn random() -> Self {
        use rand::RngCore;
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The token itself, for the one place that sends it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Checks that `token` is long enough to be an API token ([`MIN_TOKEN_LEN`] characters):
    /// the proxy removes the token from upstream answers, and a short one would match
    /// inside ordinary words ("t" in "rate limited"). The error says so, naming `source`.
    pub fn check_length(token: &str, source: &str) -> Result<(), String> {
        let len = token.trim().chars().count();
        if len >= MIN_TOKEN_LEN {
            return Ok(());
        }
        let unit = if len == 1 { "character" } else { "characters" };
        Err(format!(
            "{source}: the token has {len} {unit}, an API token at least {MIN_TOKEN_LEN}: set the whole token \
             (a short one could not be told apart from ordinary words when it is removed from answers)"
        ))
    }

    /// Whether `candidate` is this token, compared in constant time.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let token = self.0.as_bytes();
        if token.len() != candidate.len() {
            return false;
        }
        token.iter().zip(candidate).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
