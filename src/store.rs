//! Where the outbox lives between page loads.
//!
//! - Updates that already know their visitor go to `localStorage`, under a key of this
//!   page's own (`reekolect:outbox:<page id>`), so that pages never write each other's
//!   keys: two tabs of one visitor cannot overwrite (drop) or both send (double) an update.
//!   A page refreshes `reekolect:alive:<page id>` while it holds updates; a page whose
//!   outbox is left without a fresh heartbeat (it was closed, or navigated away) is
//!   adopted by the next page that looks, under a Web Lock when the browser has them, else
//!   under a claim in `localStorage` (see [`with_lock`]).
//! - Updates still waiting for the visitor UUID belong to this tab's visitor, whoever that
//!   turns out to be, so they stay in `sessionStorage` (`reekolect:held`), which follows the
//!   tab across pages and nowhere else.
//!
//! When storage is blocked (reading `window.localStorage` throws, as with "block all
//! cookies" or in a sandboxed frame), missing or full, the outbox carries on in memory and
//! says so once; nothing here throws.

use gloo_timers::callback::Timeout;
use reekolect_lead::outbox::{Outbox, Watermarks};
use reekolect_lead::text::decimal;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Storage;

const OUTBOX_PREFIX: &str = "reekolect:outbox:";
const ALIVE_PREFIX: &str = "reekolect:alive:";
const HELD_KEY: &str = "reekolect:held";
const SENT_PREFIX: &str = "reekolect:sent:";
const CLAIM_PREFIX: &str = "reekolect:claim:";

/// Without Web Locks: how long a claim is left to settle before it is read back (ms).
const CLAIM_SETTLE_MS: u32 = 150;

/// The tab's `sessionStorage`, or `None` when the page may not have it (reading it throws
/// `SecurityError` when storage is blocked) or the browser has none.
pub fn session() -> Option<Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

/// The origin's `localStorage`, or `None` as for [`session`].
pub fn local() -> Option<Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// A heartbeat older than this (ms) means the page that wrote it is gone.
pub const STALE_AFTER_MS: f64 = 10_000.0;
/// How often a page with updates refreshes its heartbeat (ms).
pub const HEARTBEAT_MS: u32 = 3_000;

/// This page's share of web storage.
pub struct Store {
    page_id: String,
    /// The tab's `sessionStorage` and the origin's `localStorage`, taken once; `None` when
    /// either is blocked or missing.
    storage: Option<(Storage, Storage)>,
    /// Set once a write failed or storage was found blocked: from then on the outbox
    /// lives in memory only.
    degraded: bool,
    /// Set by [`Store::leave`]: the page is going, so it no longer claims its outbox.
    leaving: bool,
    /// The last watermarks, for when storage cannot keep them.
    marks: Option<(String, Watermarks)>,
}

impl Store {
    /// A store for a new page id.
    pub fn new() -> Self {
        let page_id = decimal((js_sys::Math::random() * 9e15) as u64);
        Self { page_id, storage: session().zip(local()), degraded: false, leaving: false, marks: None }
    }

    fn local(&self) -> Option<&Storage> {
        self.storage.as_ref().map(|(_, local)| local)
    }

    /// This page's id.
    pub fn page_id(&self) -> &str {
        &self.page_id
    }

    fn outbox_key(&self) -> String {
        OUTBOX_PREFIX.to_string() + &self.page_id
    }

    fn alive_key(&self) -> String {
        ALIVE_PREFIX.to_string() + &self.page_id
    }

    /// The updates this tab held for its visitor on earlier pages.
    pub fn load_held(&self) -> Outbox {
        self.storage.as_ref().and_then(|(session, _)| read(session, HELD_KEY)).unwrap_or_default()
    }

    /// Writes the outbox: visitor-less entries to the tab's session, the rest to this
    /// page's key. Returns the error of the first failed write (or, with storage blocked,
    /// of the first save), once; later calls keep quiet (the outbox is in memory by then).
    pub fn save(&mut self, outbox: &Outbox) -> Result<(), JsValue> {
        if self.degraded {
            return Ok(());
        }
        let Some((session, local)) = self.storage.as_ref() else {
            self.degraded = true;
            return Err("blocked".into());
        };
        let (held, ready): (Vec<_>, Vec<_>) = outbox.entries.iter().cloned().partition(|e| e.lead.uuid.is_none());
        let result = write(session, HELD_KEY, &Outbox { entries: held })
            .and_then(|_| write(local, &self.outbox_key(), &Outbox { entries: ready }))
            .and_then(|_| self.beat(!outbox.is_empty()));
        if result.is_err() {
            self.degraded = true;
        }
        result
    }

    /// Refreshes (or, with nothing to guard, removes) this page's heartbeat.
    pub fn beat(&self, holding: bool) -> Result<(), JsValue> {
        let Some(local) = self.local() else { return Ok(()) };
        if holding && !self.leaving {
            local.set_item(&self.alive_key(), &decimal(js_sys::Date::now() as u64))
        } else {
            local.remove_item(&self.alive_key())
        }
    }

    /// Says this page is going (so the next page adopts its outbox at once). Requests the
    /// navigation aborts still settle afterwards and save; they must not claim it again.
    pub fn leave(&mut self) {
        self.leaving = true;
        let _ = self.beat(false);
    }

    /// The page came back from the back/forward cache: it holds its outbox again.
    pub fn stay(&mut self) {
        self.leaving = false;
    }

    /// What has already been sent for visitor `uuid` (see [`Watermarks`]).
    pub fn watermarks(&mut self, uuid: &str) -> Watermarks {
        if self.degraded || self.storage.is_none() {
            return self.marks.take().filter(|(u, _)| u == uuid).map(|(_, m)| m).unwrap_or_default();
        }
        let text = self.local().and_then(|l| l.get_item(&(SENT_PREFIX.to_string() + uuid)).ok().flatten());
        text.map(|t| crate::convert::marks_from_json(&t)).unwrap_or_default()
    }

    /// Keeps `marks` for visitor `uuid` (in memory when storage fails).
    pub fn set_watermarks(&mut self, uuid: &str, marks: Watermarks) {
        if let Some(local) = self.local().filter(|_| !self.degraded) {
            let _ = local.set_item(&(SENT_PREFIX.to_string() + uuid), &crate::convert::marks_to_json(&marks));
        }
        self.marks = Some((uuid.to_string(), marks));
    }

    /// True when another page adopted this page's outbox (after it came back from the
    /// back/forward cache): what is in memory has been taken over.
    pub fn was_adopted(&self) -> bool {
        !self.degraded && self.local().is_some_and(|l| l.get_item(&self.outbox_key()).ok().flatten().is_none())
    }

    /// Takes over the outboxes of pages that are gone, oldest key order, and removes them.
    pub fn adopt_orphans(&self) -> Outbox {
        let Some(local) = self.local().filter(|_| !self.degraded) else { return Outbox::default() };
        let now = js_sys::Date::now();
        let keys: Vec<String> = (0..local.length().unwrap_or(0)).filter_map(|i| local.key(i).ok().flatten()).collect();
        let mut adopted = Outbox::default();
        for key in keys {
            let Some(page) = key.strip_prefix(OUTBOX_PREFIX) else { continue };
            if page == self.page_id {
                continue;
            }
            let alive_key = ALIVE_PREFIX.to_string() + page;
            let heartbeat =
                local.get_item(&alive_key).ok().flatten().and_then(|v| v.parse::<u64>().ok()).map(|ms| ms as f64);
            if heartbeat.is_some_and(|at| now - at < STALE_AFTER_MS) {
                continue;
            }
            if let Some(orphan) = read(&local, &key) {
                adopted.entries.extend(orphan.entries);
            }
            let _ = local.remove_item(&key);
            let _ = local.remove_item(&alive_key);
        }
        adopted
    }
}

/// A new update's id: 128 random bits as 32 hex digits (see [`reekolect_lead::update_id`]).
/// Made once, when the update enters the outbox, and kept across retries and pages, so that
/// the proxy delivers the update once. `Math.random` (already in the bundle), four bits a
/// digit, is random enough: the proxy tells updates apart per visitor, and an id need not
/// be secret.
pub fn new_update_id() -> String {
    (0..32).map(|_| char::from(b"0123456789abcdef"[(js_sys::Math::random() * 16.0) as usize & 15])).collect()
}

fn read(storage: &Storage, key: &str) -> Option<Outbox> {
    crate::convert::outbox_from_json(&storage.get_item(key).ok().flatten()?)
}

fn write(storage: &Storage, key: &str, outbox: &Outbox) -> Result<(), JsValue> {
    if outbox.is_empty() {
        return storage.remove_item(key);
    }
    storage.set_item(key, &crate::convert::outbox_to_json(outbox))
}

/// Runs `task` while page `page_id` holds the page-wide lock `name`, so that two tabs never
/// adopt the same orphan. With Web Locks (absent in old browsers and on plain-HTTP pages),
/// under one. Without, through a claim in `localStorage`: written, left to settle, read
/// back; of pages claiming at once only the last writer runs `task`, and a page claiming
/// later finds what the winner adopted already gone.
pub fn with_lock(name: &str, page_id: &str, task: impl FnOnce() + 'static) {
    let locks = web_sys::window()
        .map(|w| w.navigator())
        .and_then(|n| js_sys::Reflect::get(&n, &"locks".into()).ok())
        .filter(|l| !l.is_undefined() && !l.is_null());
    let request = locks
        .as_ref()
        .and_then(|l| js_sys::Reflect::get(l, &"request".into()).ok())
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    if let (Some(locks), Some(request)) = (locks, request) {
        let callback = wasm_bindgen::closure::Closure::once_into_js(move |_lock: JsValue| task());
        // A `request` that throws or rejects (an opaque origin: a sandboxed frame) ran
        // nothing; the next heartbeat tries again. The rejection is not the page's error.
        if let Ok(granted) = request.call2(&locks, &JsValue::from_str(name), &callback) {
            if let Some(granted) = granted.dyn_ref::<js_sys::Promise>() {
                crate::js::ignore_rejection(granted);
            }
        }
        return;
    }
    with_claim(name, page_id, task);
}

fn with_claim(name: &str, page_id: &str, task: impl FnOnce() + 'static) {
    let Some(local) = local() else { return }; // no storage: no orphans to adopt either
    let key = CLAIM_PREFIX.to_string() + name;
    if local.set_item(&key, page_id).is_err() {
        return;
    }
    let mine = page_id.to_string();
    Timeout::new(CLAIM_SETTLE_MS, move || {
        if local.get_item(&key).ok().flatten() == Some(mine) {
            task();
        }
    })
    .forget();
}
