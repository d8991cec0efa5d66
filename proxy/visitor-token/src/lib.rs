//! Signed visitor tokens: `v1.<uuid>.<expiry unix seconds>.<base64url HMAC-SHA256>`.
//!
//! When the proxy (or the edge Worker) has a visitor secret, updates that set the lead's
//! identity (name, email, phone, dialCode) must carry a token your backend minted for that
//! visitor UUID, so that a script on another visitor's page cannot rename or re-email someone
//! else's lead. One implementation, used by both.

#![warn(missing_docs)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use reekolect_lead::Lead;
use sha2::Sha256;
use std::fmt;

/// The header carrying the visitor token.
pub const VISITOR_HEADER: &str = "x-reekolect-visitor";
/// The query parameter carrying it where headers cannot be set (`navigator.sendBeacon`).
pub const VISITOR_QUERY: &str = "visitor";

/// Why a visitor token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitorError {
    /// No token was sent.
    Missing,
    /// Not `v1.<uuid>.<expiry>.<signature>`.
    Malformed,
    /// Its expiry is in the past.
    Expired,
    /// It was minted for another visitor UUID.
    WrongUuid,
    /// The signature does not match.
    BadSignature,
}

impl VisitorError {
    /// A short machine-readable reason: `missing`, `malformed`, `expired`, `wrong uuid`,
    /// `bad signature`.
    pub fn reason(self) -> &'static str {
        match self {
            VisitorError::Missing => "missing",
            VisitorError::Malformed => "malformed",
            VisitorError::Expired => "expired",
            VisitorError::WrongUuid => "wrong uuid",
            VisitorError::BadSignature => "bad signature",
        }
    }
}

impl fmt::Display for VisitorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rule = match self {
            VisitorError::Missing => "is missing: updates that set name, email or phone need one",
            VisitorError::Malformed => "is malformed: expected v1.<uuid>.<expiry>.<signature>",
            VisitorError::Expired => "has expired",
            VisitorError::WrongUuid => "was issued for another visitor uuid",
            VisitorError::BadSignature => "has a bad signature",
        };
        f.write_str(rule)
    }
}

/// The secret that signs visitor tokens. Its `Debug` hides it.
#[derive(Clone)]
pub struct VisitorKey(Vec<u8>);

impl fmt::Debug for VisitorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VisitorKey([redacted])")
    }
}

impl VisitorKey {
    /// A key from the shared secret's bytes.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Self(secret.as_ref().to_vec())
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(payload.as_bytes());
        mac
    }

    /// A token for `uuid` valid until `expiry` (unix seconds), as a backend mints it.
    pub fn sign(&self, uuid: &str, expiry: u64) -> String {
        let payload = format!("v1.{uuid}.{expiry}");
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{signature}")
    }

    /// Checks `token` for visitor `uuid` at time `now` (unix seconds). The signature is
    /// checked first (in constant time), so nothing about an unsigned token is trusted.
    pub fn verify(&self, token: Option<&str>, uuid: &str, now: u64) -> Result<(), VisitorError> {
        let token = token.ok_or(VisitorError::Missing)?.trim();
        let (payload, signature) = token.rsplit_once('.').ok_or(VisitorError::Malformed)?;
        let mut parts = payload.split('.');
        let (Some("v1"), Some(token_uuid), Some(expiry), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VisitorError::Malformed);
        };
        let expiry: u64 = expiry.parse().map_err(|_| VisitorError::Malformed)?;
        let signature =
            URL_SAFE_NO_PAD.decode(signature.trim_end_matches('=')).map_err(|_| VisitorError::BadSignature)?;
        self.mac(payload).verify_slice(&signature).map_err(|_| VisitorError::BadSignature)?;
        if !token_uuid.eq_ignore_ascii_case(uuid) {
            return Err(VisitorError::WrongUuid);
        }
        if expiry <= now {
            return Err(VisitorError::Expired);
        }
        Ok(())
    }
}

/// Whether the update sets the lead's identity: name, email, phone or dialCode.
pub fn touches_identity(lead: &Lead) -> bool {
    lead.name.is_some() || lead.email.is_some() || lead.phone.is_some() || lead.dial_code.is_some()
}
