//! Page context (`trackPages`) and site events (`track()`), the browser's side: reads the
//! page, follows single-page-app navigations, keeps the record in `localStorage`, and hands
//! updates to the pipeline (so consent, `beforeSend`, batching and the outbox apply). The
//! rules (visits, the trail, the event limits, the event's note) are host-tested in
//! [`reekolect_lead::pages`].

use crate::error::CompanionError;
use crate::events::Event;
use crate::js::object;
use crate::pipeline::Pipeline;
use gloo_timers::callback::Timeout;
use js_sys::{Array, Object, Promise, Reflect};
use reekolect_lead::pages::{event_note, page_path, EventVerdict, Visits};
use reekolect_lead::{FieldError, Note};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

/// Where the record lives: per browser, as the visits it counts.
const RECORD_KEY: &str = "reekolect:visits";
/// How long after a navigation its page is read: routers set the title after the URL.
const TITLE_SETTLE_MS: u32 = 100;

/// The page's one tracker, whichever companion records.
struct Tracker {
    /// The companion recording page views: the latest made with `trackPages`, so that a
    /// page counts once however many companions it makes.
    pipeline: Option<Rc<Pipeline>>,
    /// The path of this document's latest view: a navigation that keeps it (a query or a
    /// fragment changed) is no new view.
    last_path: Option<String>,
    /// Sends the context once the title has settled.
    timer: Option<Timeout>,
    /// `warning` was emitted for an event over the limits: it is said once a page.
    warned: bool,
}

thread_local! {
    static TRACKER: RefCell<Tracker> =
        const { RefCell::new(Tracker { pipeline: None, last_path: None, timer: None, warned: false }) };
}

/// Records page views with `pipeline` from now on, starting with this page.
pub fn watch(pipeline: &Rc<Pipeline>) {
    let first = TRACKER.with(|tracker| {
        let mut tracker = tracker.borrow_mut();
        tracker.last_path = None;
        tracker.pipeline.replace(Rc::clone(pipeline)).is_none()
    });
    if first {
        follow_navigations();
    }
    note_page();
}

/// Consent was given: the page the visitor is on counts from now.
pub fn consent_given() {
    note_page();
}

/// Forgets the record and drops the context not yet sent (`reset()`: the next visitor of
/// a shared device starts clean).
pub fn forget() {
    if let Some(storage) = crate::store::local() {
        let _ = storage.remove_item(RECORD_KEY);
    }
    TRACKER.with(|tracker| tracker.borrow_mut().timer = None);
}

/// `track(name, properties)`: a note and `last_event`, within the limits. Resolves when
/// sent, or at once (without sending) over the limits; rejects when a rule is broken.
pub fn track(pipeline: &Rc<Pipeline>, name: &JsValue, properties: &JsValue) -> Promise {
    let note = match read_event(name, properties) {
        Ok(note) => note,
        Err(broken) => return pipeline.refuse(CompanionError::Invalid(vec![broken])),
    };
    let mut record = load();
    let verdict = record.event(js_sys::Date::now(), &note.title);
    keep(&record);
    if verdict == EventVerdict::Kept {
        let notes = Array::of1(&crate::convert::pair("title", &note.title, "description", &note.description));
        let fields = object("notes", &notes);
        let _ = Reflect::set(&fields, &"attributes".into(), &object("last_event", &note.title.as_str().into()));
        return Pipeline::add(pipeline, fields, None);
    }
    if !TRACKER.with(|tracker| std::mem::replace(&mut tracker.borrow_mut().warned, true)) {
        let message = "track(\"".to_string() + &note.title + "\") " + verdict.reason() + " (said once a page)";
        let error = CompanionError::Limit(message).into();
        pipeline.emit(Event::Warning, &object("error", &error));
    }
    Promise::resolve(&crate::pipeline::done_without_sending(verdict.reason()))
}

/// The event's note, or the first rule its name or properties broke.
fn read_event(name: &JsValue, properties: &JsValue) -> Result<Note, FieldError> {
    let name = name.as_string().ok_or_else(|| FieldError::new("name", "must be a string like \"pricing viewed\""))?;
    let mut pairs = Vec::new();
    if !properties.is_undefined() && !properties.is_null() {
        if !properties.is_object() || Array::is_array(properties) || properties.is_function() {
            return Err(FieldError::new("properties", "must be an object like { plan: \"pro\" }"));
        }
        // Read as attribute values are: strings, numbers and booleans, in the same words.
        pairs = crate::convert::flat_object(properties, "properties.")?;
    }
    event_note(&name, &pairs)
}

/// Records a view of the current page (see [`note_path`]).
fn note_page() {
    note_path(&pathname());
}

/// Records a view of `url_path`, unless it is the page last recorded or consent is
/// missing; its context is sent once the title has settled (a burst of navigations is one
/// update).
fn note_path(url_path: &str) {
    let path = page_path(url_path).to_string();
    let counts = TRACKER.with(|tracker| {
        let mut tracker = tracker.borrow_mut();
        let counts = tracker.pipeline.as_ref().is_some_and(|p| p.consented())
            && tracker.last_path.as_deref() != Some(path.as_str());
        if counts {
            tracker.last_path = Some(path.clone());
            if tracker.timer.is_none() {
                tracker.timer = Some(Timeout::new(TITLE_SETTLE_MS, send_context));
            }
        }
        counts
    });
    if counts {
        let mut record = load();
        record.page_view(js_sys::Date::now(), &path);
        keep(&record);
    }
}

/// Sends the page context of the latest view, with the document's title as it is now.
fn send_context() {
    let pipeline = TRACKER.with(|tracker| {
        let mut tracker = tracker.borrow_mut();
        tracker.timer = None;
        tracker.pipeline.clone()
    });
    let Some(pipeline) = pipeline else { return };
    let title = title();
    let iso = |ms: f64| String::from(js_sys::Date::new(&JsValue::from_f64(ms)).to_iso_string());
    let Some(attributes) = load().attributes(&title, iso) else { return };
    let values = Object::new();
    for (key, value) in attributes {
        let _ = Reflect::set(&values, &key.into(), &JsValue::from_str(&value));
    }
    crate::js::ignore_rejection(&Pipeline::add(&pipeline, object("attributes", &values), None));
}

// Page views of single-page apps: the Navigation API's `currententrychange` where the
// browser has it (every same-document navigation, however the router makes it). Where it
// is missing, `popstate`, and a look at the address every 250 ms for
// `pushState`/`replaceState`: the site's History API and router are never touched (views
// less than that apart may count as the last one alone). Listening is a few lines of JS,
// far smaller than the same through web-sys; what counts as a view is decided in Rust.
// The companion starts after the page has loaded (docs/loading.md), so on a slow machine
// or network the visitor may have clicked a tab already: the address the document was
// loaded at (Navigation Timing, in every browser) counts first, then the current one.
#[wasm_bindgen(inline_js = "export function follow(view) {
  var navigation = globalThis.navigation;
  if (navigation && navigation.addEventListener) navigation.addEventListener('currententrychange', view);
  else { addEventListener('popstate', view); setInterval(view, 250); }
  try {
    return new URL(performance.getEntriesByType('navigation')[0].name).pathname;
  } catch (e) {
    return '';
  }
}
export function pathname() { return location.pathname; }
export function title() { return globalThis.document ? document.title : ''; }")]
extern "C" {
    /// Calls `view` on every same-document navigation, for the page's lifetime. Returns
    /// the path this document was loaded at (Navigation Timing), or "" when unknown.
    fn follow(view: &JsValue) -> String;
    /// `location.pathname`: query string and fragment are cut off again in Rust ([`page_path`]).
    fn pathname() -> String;
    /// `document.title` (empty where there is no document).
    fn title() -> String;
}

/// Counts the page the document was loaded at, and follows single-page-app navigations
/// (see [`follow`]); the current page is counted next, by [`watch`].
fn follow_navigations() {
    let landed = follow(&Closure::<dyn FnMut()>::new(note_page).into_js_value()); // for the page's lifetime
    if !landed.is_empty() {
        note_path(&landed);
    }
}

/// The stored record (another tab may have written it); without storage, an empty one:
/// each page then starts afresh.
#[inline(never)]
fn load() -> Visits {
    let text = crate::store::local().and_then(|storage| storage.get_item(RECORD_KEY).ok().flatten());
    Visits::from_text(&text.unwrap_or_default())
}

/// Stores `record` for the next pages and tabs.
#[inline(never)]
fn keep(record: &Visits) {
    if let Some(storage) = crate::store::local() {
        let _ = storage.set_item(RECORD_KEY, &record.to_text());
    }
}
