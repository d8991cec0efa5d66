//! The outbox: updates not yet acknowledged, in order, merged as far as one request may
//! carry, with their retry state. Plain data, so the browser can keep it in web storage.

use crate::{Lead, Limits};
use serde::{Deserialize, Serialize};

/// Largest serialised update the outbox builds, in bytes: a quarter of the 64 KiB that
/// keepalive requests may carry together, so several can leave while the page closes.
pub const MAX_ENTRY_BYTES: usize = 16 * 1024;

/// Who an update is for: the visitor and the bot account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// The visitor UUID.
    pub uuid: String,
    /// The bot's id.
    pub bot_id: String,
    /// The customer account's id.
    pub customer_id: String,
}

/// One request's worth of updates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Unique id, to settle the callers' promises.
    pub id: String,
    /// The merged update (identity filled in once known).
    pub lead: Lead,
    /// Sends tried so far.
    #[serde(default)]
    pub attempts: u32,
    /// Not to be sent before this time (ms since the epoch).
    #[serde(default)]
    pub not_before: f64,
    /// When a call last went into this entry (ms since the epoch): its scalar fields are
    /// no newer than this. See [`Watermarks`].
    #[serde(default)]
    pub updated: f64,
}

impl Entry {
    /// The identity the entry carries, when it has one.
    pub fn identity(&self) -> Option<Identity> {
        Some(Identity {
            uuid: self.lead.uuid.clone()?,
            bot_id: self.lead.bot_id.clone()?,
            customer_id: self.lead.customer_id.clone()?,
        })
    }

    /// Sets the identity.
    pub fn assign(&mut self, identity: &Identity) {
        self.lead.uuid = Some(identity.uuid.clone());
        self.lead.bot_id = Some(identity.bot_id.clone());
        self.lead.customer_id = Some(identity.customer_id.clone());
    }
}

/// The ordered updates of one writer (a page, or the updates held for a visitor UUID).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outbox {
    /// Oldest first.
    pub entries: Vec<Entry>,
}

impl Outbox {
    /// Adds a checked update for `identity` (or for whoever the visitor turns out to be,
    /// with `None`). It joins the newest entry when that entry is for the same identity,
    /// has not been tried yet, and stays within the per-request limits; otherwise it starts
    /// a new entry with `new_id`. Returns the id of the entry holding the update.
    pub fn add(&mut self, mut update: Lead, identity: Option<&Identity>, new_id: impl FnOnce() -> String) -> String {
        if let Some(identity) = identity {
            update.uuid = Some(identity.uuid.clone());
            update.bot_id = Some(identity.bot_id.clone());
            update.customer_id = Some(identity.customer_id.clone());
        }
        if let Some(last) = self.entries.last_mut() {
            if last.attempts == 0 && last.identity().as_ref() == identity {
                let mut merged = last.lead.clone();
                merged.merge(update.clone());
                if fits(&merged) {
                    last.lead = merged;
                    return last.id.clone();
                }
            }
        }
        let id = new_id();
        self.entries.push(Entry { id: id.clone(), lead: update, attempts: 0, not_before: 0.0, updated: 0.0 });
        id
    }

    /// Records that a call went into entry `id` at `now` (ms since the epoch).
    pub fn stamp(&mut self, id: &str, now: f64) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.id == id) {
            entry.updated = entry.updated.max(now);
        }
    }

    /// Gives every entry without an identity this one.
    pub fn assign(&mut self, identity: &Identity) {
        for entry in self.entries.iter_mut().filter(|e| e.lead.uuid.is_none()) {
            entry.assign(identity);
        }
    }

    /// The entry to send now: the oldest, if it has an identity and its time has come.
    /// Strict order keeps "the later value wins" true across retries.
    pub fn due(&self, now_ms: f64) -> Option<&Entry> {
        self.entries.first().filter(|e| e.lead.uuid.is_some() && e.not_before <= now_ms)
    }

    /// When the oldest entry may be sent, if it can be at all.
    pub fn next_time(&self) -> Option<f64> {
        self.entries.first().filter(|e| e.lead.uuid.is_some()).map(|e| e.not_before)
    }

    /// Removes the entry `id` (delivered, or refused for good).
    pub fn remove(&mut self, id: &str) -> Option<Entry> {
        let at = self.entries.iter().position(|e| e.id == id)?;
        Some(self.entries.remove(at))
    }

    /// Counts an attempt to send `id` that is starting now; from here on nothing more is
    /// merged into it. Returns the attempt's number (1 for the first).
    pub fn start_attempt(&mut self, id: &str) -> u32 {
        self.entries.iter_mut().find(|e| e.id == id).map_or(0, |entry| {
            entry.attempts += 1;
            entry.attempts
        })
    }

    /// Parks `id` until `not_before` (ms since the epoch), after a failed attempt.
    pub fn postpone(&mut self, id: &str, not_before: f64) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.id == id) {
            entry.not_before = not_before;
        }
    }

    /// Makes every parked entry due now (the network is back, or the caller asked).
    pub fn hurry(&mut self) {
        for entry in &mut self.entries {
            entry.not_before = 0.0;
        }
    }

    /// Takes in the entries of an outbox left by a closed page. They were made before
    /// anything this page added, so they go first: "the later value wins" stays true.
    pub fn adopt(&mut self, older: Outbox) {
        self.entries.splice(0..0, older.entries);
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Whether one request may carry `lead`: the list limits and [`MAX_ENTRY_BYTES`].
pub fn fits(lead: &Lead) -> bool {
    let lists_fit =
        [lead.notes.as_ref().map(Vec::len), lead.tags.as_ref().map(Vec::len), lead.attributes.as_ref().map(Vec::len)]
            .into_iter()
            .all(|len| len.unwrap_or(0) <= Limits::LIST);
    lists_fit && approximate_json_len(lead) <= MAX_ENTRY_BYTES
}

/// An upper estimate of the update's JSON size: every string counted twice over for
/// escapes would be too pessimistic, so strings count once plus a fixed cost per item.
pub fn approximate_json_len(lead: &Lead) -> usize {
    let scalars = [
        &lead.uuid,
        &lead.bot_id,
        &lead.customer_id,
        &lead.agent_id,
        &lead.status,
        &lead.picture,
        &lead.name,
        &lead.email,
        &lead.phone,
        &lead.dial_code,
    ];
    let scalar_len: usize = scalars.iter().map(|s| s.as_ref().map_or(0, |s| s.len() + 20)).sum();
    let notes: usize = lead.notes.iter().flatten().map(|n| n.title.len() + n.description.len() + 36).sum();
    let tags: usize = lead.tags.iter().flatten().map(|t| t.len() + 4).sum();
    let attributes: usize = lead.attributes.iter().flatten().map(|a| a.key.len() + a.value.len() + 26).sum();
    2 + scalar_len + notes + tags + attributes
}

/// The scalar fields, which a later value replaces (unlike tags, attributes and notes).
const SCALARS: [&str; 7] = ["agentId", "status", "picture", "name", "email", "phone", "dialCode"];

/// For one visitor: when the newest value of each scalar field that has started on its way
/// was set. Retries, adopted outboxes and keepalive sends can make an older update arrive
/// after a newer one; stripping, before each send, the scalars that something newer has
/// already carried keeps "the later value wins" true whatever the arrival order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Watermarks {
    /// `(field, time)` pairs.
    pub fields: Vec<(String, f64)>,
}

impl Watermarks {
    /// Removes from `lead` (set no later than `updated`) the scalars a newer send already
    /// carries, then records the ones it keeps. Returns true when anything is left to send.
    pub fn strip_and_record(&mut self, lead: &mut Lead, updated: f64) -> bool {
        for field in SCALARS {
            let slot = match field {
                "agentId" => &mut lead.agent_id,
                "status" => &mut lead.status,
                "picture" => &mut lead.picture,
                "name" => &mut lead.name,
                "email" => &mut lead.email,
                "phone" => &mut lead.phone,
                _ => &mut lead.dial_code,
            };
            if slot.is_none() {
                continue;
            }
            match self.fields.iter_mut().find(|(f, _)| f == field) {
                Some((_, newest)) if *newest > updated => *slot = None,
                Some((_, newest)) => *newest = updated,
                None => self.fields.push((field.to_string(), updated)),
            }
        }
        has_content(lead)
    }
}

/// True when the update carries anything besides the visitor's identity.
pub fn has_content(lead: &Lead) -> bool {
    let Lead {
        uuid: _,
        bot_id: _,
        customer_id: _,
        agent_id,
        status,
        picture,
        name,
        email,
        phone,
        dial_code,
        notes,
        tags,
        attributes,
    } = lead;
    [agent_id, status, picture, name, email, phone, dial_code].iter().any(|f| f.is_some())
        || notes.as_ref().is_some_and(|n| !n.is_empty())
        || tags.as_ref().is_some_and(|t| !t.is_empty())
        || attributes.as_ref().is_some_and(|a| !a.is_empty())
}
