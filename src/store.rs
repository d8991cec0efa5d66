//! Where the outbox lives between page loads.
//!
//! - Updates that already know their visitor go to `localStorage`, under a key of this
//!   page's own (`reekolect:outbox:<page id>`), so that pages never write each other's
//!   keys: two tabs of one visitor cannot overwrite (drop) or both send (double) an update.
//!   A page refreshes `reekolect:alive:<page id>` while it holds updates; a page whose
//!   outbox is left without a fresh heartbeat (it was closed, or navigated away) is
//!   adopted by the next page that looks, under a Web Lock when the browser has them.
//! - Updates still waiting for the visitor UUID belong to this tab's visitor, whoever that
//!   turns out to be, so they stay in `sessionStorage` (`reekolect:held`), which follows the
//!   tab across pages and nowhere else.
//!
//! When storage is missing or full, the outbox carries on in memory and says so once.

use gloo_storage::{LocalStorage, SessionStorage, Storage};
use reekolect_lead::outbox::{Outbox, Watermarks};
use reekolect_lead::text::decimal;
use wasm_bindgen::{JsCast, JsValue};

const OUTBOX_PREFIX: &str = "reekolect:outbox:";
const ALIVE_PREFIX: &str = "reekolect:alive:";
const HELD_KEY: &str = "reekolect:held";
const SENT_PREFIX: &str = "reekolect:sent:";

/// A heartbeat older than this (ms) means the page that wrote it is gone.
pub const STALE_AFTER_MS: f64 = 10_000.0;
/// How often a page with updates refreshes its heartbeat (ms).
pub const HEARTBEAT_MS: u32 = 3_000;

/// This page's share of web storage.
pub struct Store {
    page_id: String,
    /// Set once a write failed: from then on the outbox lives in memory only.
    degraded: bool,
    /// Set by [`Store::leave`]: the page is going, so it no longer claims its outbox.
    leaving: bool,
}

impl Store {
    /// A store for a new page id.
    pub fn new() -> Self {
        let page_id = decimal((js_sys::Math::random() * 9e15) as u64);
        Self { page_id, degraded: false, leaving: false }
    }

    /// A new entry id, unique across pages.
    pub fn entry_id(&self, n: u64) -> String {
        self.page_id.clone() + "-" + &decimal(n)
    }

    fn outbox_key(&self) -> String {
        OUTBOX_PREFIX.to_string() + &self.page_id
    }

    fn alive_key(&self) -> String {
        ALIVE_PREFIX.to_string() + &self.page_id
    }

    /// The updates this tab held for its visitor on earlier pages.
    pub fn load_held(&self) -> Outbox {
        read(&SessionStorage::raw(), HELD_KEY).unwrap_or_default()
    }

    /// Writes the outbox: visitor-less entries to the tab's session, the rest to this
    /// page's key. Returns the error of the first failed write, once; later calls keep
    /// quiet (the outbox is in memory by then).
    pub fn save(&mut self, outbox: &Outbox) -> Result<(), JsValue> {
        if self.degraded {
            return Ok(());
        }
        let (held, ready): (Vec<_>, Vec<_>) = outbox.entries.iter().cloned().partition(|e| e.lead.uuid.is_none());
        let result = write(&SessionStorage::raw(), HELD_KEY, &Outbox { entries: held })
            .and_then(|_| write(&LocalStorage::raw(), &self.outbox_key(), &Outbox { entries: ready }))
            .and_then(|_| self.beat(!outbox.is_empty()));
        if result.is_err() {
            self.degraded = true;
        }
        result
    }

    /// Refreshes (or, with nothing to guard, removes) this page's heartbeat.
    pub fn beat(&self, holding: bool) -> Result<(), JsValue> {
        let local = LocalStorage::raw();
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
        let _ = LocalStorage::raw().remove_item(&self.alive_key());
    }

    /// The page came back from the back/forward cache: it holds its outbox again.
    pub fn stay(&mut self) {
        self.leaving = false;
    }

    /// What has already been sent for visitor `uuid` (see [`Watermarks`]).
    pub fn watermarks(&self, uuid: &str) -> Watermarks {
        let text = LocalStorage::raw().get_item(&(SENT_PREFIX.to_string() + uuid)).ok().flatten();
        text.map(|t| crate::convert::marks_from_json(&t)).unwrap_or_default()
    }

    /// Keeps `marks` for visitor `uuid`.
    pub fn set_watermarks(&self, uuid: &str, marks: &Watermarks) {
        let _ = LocalStorage::raw().set_item(&(SENT_PREFIX.to_string() + uuid), &crate::convert::marks_to_json(marks));
    }

    /// True when another page adopted this page's outbox (after it came back from the
    /// back/forward cache): what is in memory has been taken over.
    pub fn was_adopted(&self) -> bool {
        !self.degraded && LocalStorage::raw().get_item(&self.outbox_key()).ok().flatten().is_none()
    }

    /// Takes over the outboxes of pages that are gone, oldest key order, and removes them.
    pub fn adopt_orphans(&self) -> Outbox {
        let local = LocalStorage::raw();
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

fn read(storage: &web_sys::Storage, key: &str) -> Option<Outbox> {
    crate::convert::outbox_from_json(&storage.get_item(key).ok().flatten()?)
}

fn write(storage: &web_sys::Storage, key: &str, outbox: &Outbox) -> Result<(), JsValue> {
    if outbox.is_empty() {
        return storage.remove_item(key);
    }
    storage.set_item(key, &crate::convert::outbox_to_json(outbox))
}

/// Runs `task` under the page-wide Web Lock `name` when the browser has Web Locks (so two
/// tabs never adopt the same orphan), else straight away.
pub fn with_lock(name: &str, task: impl FnOnce() + 'static) {
    let locks = web_sys::window()
        .map(|w| w.navigator())
        .and_then(|n| js_sys::Reflect::get(&n, &"locks".into()).ok())
        .filter(|l| !l.is_undefined() && !l.is_null());
    let request = locks
        .as_ref()
        .and_then(|l| js_sys::Reflect::get(l, &"request".into()).ok())
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    match (locks, request) {
        (Some(locks), Some(request)) => {
            let callback = wasm_bindgen::closure::Closure::once_into_js(move |_lock: JsValue| task());
            if request.call2(&locks, &JsValue::from_str(name), &callback).is_err() {
                // The callback was not taken: nothing ran, nothing to undo.
            }
        }
        _ => task(),
    }
}
