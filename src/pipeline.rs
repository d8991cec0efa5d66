//! A companion's update pipeline: check each call, keep it in the outbox (persisted at
//! once), send the outbox in order when the batch window ends, retry what may be retried,
//! settle every caller's promise and tell the listeners.

use crate::config::Config;
use crate::context;
use crate::error::CompanionError;
use crate::events::{dispatch, Event, Listeners};
use crate::js::{self, object};
use crate::store::{self, Store};
use crate::transport::{self, Reply, SendOptions};
use gloo_timers::callback::{Interval, Timeout};
use js_sys::{Function, Promise};
use reekolect_lead::outbox::{Entry, Identity, Outbox};
use reekolect_lead::retry::Outcome;
use reekolect_lead::update_id;
use reekolect_lead::{validate_fields, FieldError, Lead, FIELDS};
use std::cell::{RefCell, RefMut};
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{future_to_promise, spawn_local};

/// How often updates waiting for the visitor UUID look for it again (ms). Reading a few
/// storage keys is cheap; the widget gives no event when it creates the UUID.
const IDENTITY_POLL_MS: f64 = 500.0;
/// How long an update with an id sent as the page goes is left to that request (ms)
/// before another page may send it again (see [`Pipeline::send_before_leaving`]).
const LEASE_WITH_ID_MS: f64 = 2_000.0;
/// What keepalive requests may carry in all, per page (the Fetch standard's limit).
const KEEPALIVE_BUDGET_BYTES: usize = 64 * 1024;

struct State {
    outbox: Outbox,
    store: Store,
    /// `(resolve, reject)` of the callers waiting on each entry.
    waiters: Waiters,
    /// The next run of the pump, and when it is due.
    wake: Option<(Timeout, f64)>,
    sending: bool,
    /// The entry on the wire, if any.
    in_flight: Option<String>,
    /// The page is hidden or going: sends use `keepalive`.
    hidden: bool,
    heartbeat: Option<Interval>,
    /// `setConsent(true)` was called on this page.
    consent: bool,
    /// The signed visitor token (`visitorToken`, `setVisitorToken`).
    visitor_token: Option<String>,
    /// A save is queued for the end of the task.
    save_scheduled: bool,
}

/// See the module docs.
pub struct Pipeline {
    config: Config,
    state: RefCell<State>,
    listeners: RefCell<Listeners>,
}

impl Pipeline {
    /// Starts a pipeline: picks up what this tab held and what closed pages left, listens
    /// to the page's lifecycle, and sends anything that is waiting.
    pub fn start(config: Config) -> Rc<Self> {
        let store = Store::new();
        let outbox = store.load_held();
        let this = Rc::new(Self {
            config,
            state: RefCell::new(State {
                outbox,
                store,
                waiters: Waiters::default(),
                wake: None,
                sending: false,
                in_flight: None,
                hidden: false,
                heartbeat: None,
                consent: false,
                visitor_token: None,
                save_scheduled: false,
            }),
            listeners: RefCell::default(),
        });
        Self::adopt_orphans(&this);
        this.set_visitor_token(this.config.visitor_token.clone());
        if this.config.attribution {
            if let Some(first_touch) = crate::attribution::first_touch() {
                let sent = Self::enqueue(&this, first_touch);
                crate::js::ignore_rejection(&sent);
            }
        }
        Self::listen_to_the_page(&this);
        let me = Rc::clone(&this);
        let beat = Interval::new(store::HEARTBEAT_MS, move || {
            let holding = !me.state.borrow().outbox.is_empty();
            let _ = me.state.borrow().store.beat(holding);
            Self::adopt_orphans(&me);
        });
        this.state.borrow_mut().heartbeat = Some(beat);
        this
    }

    /// The companion's options.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The page's event handlers.
    pub fn listeners(&self) -> RefMut<'_, Listeners> {
        self.listeners.borrow_mut()
    }

    /// Checks `fields` (only the `allowed` ones, when given) and adds them to the outbox.
    /// An invalid call rejects at once, emits `invalid`, and changes nothing. A valid one
    /// resolves when the request carrying it is accepted.
    pub fn add(this: &Rc<Self>, fields: JsValue, allowed: Option<&[&str]>) -> Promise {
        let update = match prepare(&fields, allowed) {
            Ok(update) => update,
            Err(error) => return this.refuse(error),
        };
        Self::enqueue(this, update)
    }

    /// Rejects a call that broke a rule, and emits `invalid` for it.
    pub fn refuse(&self, error: CompanionError) -> Promise {
        let error = JsValue::from(error);
        self.emit(Event::Invalid, &object("error", &error));
        Promise::reject(&error)
    }

    /// Emits `invalid` for rules a capture broke (the rest of it was kept).
    pub fn report_invalid(&self, errors: Vec<FieldError>) {
        if !errors.is_empty() {
            let error = JsValue::from(CompanionError::Invalid(errors));
            self.emit(Event::Invalid, &object("error", &error));
        }
    }

    /// Adds a checked update to the outbox; resolves when the request carrying it is accepted.
    pub fn enqueue(this: &Rc<Self>, update: Lead) -> Promise {
        let identity = this.identity();
        let mut waiter = None;
        let promise = Promise::new(&mut |resolve, reject| waiter = Some((resolve, reject)));
        {
            let mut state = this.state.borrow_mut();
            let id = state.outbox.add(update, identity.as_ref(), store::new_update_id);
            state.outbox.stamp(&id, js_sys::Date::now());
            state.waiters.add(id, waiter);
        }
        Self::save_soon(this);
        Self::wake_at(this, js_sys::Date::now() + f64::from(this.config.batch_window_ms));
        promise
    }

    /// Whether updates may be captured and sent: always, unless the config requires
    /// consent and `setConsent(true)` has not been called on this page.
    pub fn consented(&self) -> bool {
        !self.config.require_consent || self.state.borrow().consent
    }

    /// Sets (or, with `None`, clears) the signed visitor token sent with updates.
    pub fn set_visitor_token(&self, token: Option<String>) {
        self.state.borrow_mut().visitor_token = token.filter(|t| !t.is_empty());
    }

    /// Records the visitor's consent: `true` sends what waits; `false` forgets it.
    pub fn set_consent(this: &Rc<Self>, given: bool) {
        this.state.borrow_mut().consent = given;
        if given {
            Self::wake_at(this, js_sys::Date::now());
        } else if this.config.require_consent {
            this.reset();
        }
    }

    /// Sends what is waiting now, parked retries included; resolves when that pass is over.
    pub fn flush(this: &Rc<Self>) -> Promise {
        this.state.borrow_mut().outbox.hurry();
        let me = Rc::clone(this);
        future_to_promise(async move {
            Self::pump(&me).await;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Forgets every pending update of this page and tab (for a shared device, on the
    /// site's logout): callers still waiting are rejected with `code: "reset"`.
    pub fn reset(&self) {
        crate::attribution::forget();
        let waiters = {
            let mut state = self.state.borrow_mut();
            state.outbox = Outbox::default();
            state.wake = None;
            std::mem::take(&mut state.waiters)
        };
        self.save();
        reject_all(waiters.all(), &JsValue::from(CompanionError::Reset));
    }

    /// Runs the pump at `at` (ms since the epoch), unless it already runs sooner.
    fn wake_at(this: &Rc<Self>, at: f64) {
        let mut state = this.state.borrow_mut();
        if state.wake.as_ref().is_some_and(|(_, due)| *due <= at) {
            return;
        }
        let me = Rc::clone(this);
        let delay = (at - js_sys::Date::now()).clamp(0.0, f64::from(u32::MAX)) as u32;
        let timeout = Timeout::new(delay, move || {
            me.state.borrow_mut().wake = None;
            spawn_local(async move { Self::pump(&me).await });
        });
        state.wake = Some((timeout, at));
    }

    /// Sends due entries one at a time, oldest first, until none is due; then sleeps
    /// until the next one will be (or polls for the visitor UUID).
    async fn pump(this: &Rc<Self>) {
        if std::mem::replace(&mut this.state.borrow_mut().sending, true) {
            return; // the running pass picks up whatever is new
        }
        loop {
            if !this.consented() {
                break; // kept until consent is given (or forgotten if it is refused)
            }
            this.assign_identity();
            let Some(id) = this.state.borrow().outbox.due(js_sys::Date::now()).map(|e| e.id.clone()) else { break };
            let Some(entry) = this.begin_send(&id) else { continue };
            let keepalive = {
                let mut state = this.state.borrow_mut();
                state.in_flight = Some(entry.id.clone());
                state.hidden
            };
            let options = SendOptions {
                endpoint: &this.config.lead_endpoint,
                timeout_ms: this.config.request_timeout_ms,
                keepalive,
                visitor_token: this.state.borrow().visitor_token.clone(),
                update_id: &entry.id,
            };
            let reply = transport::send(&entry.lead, &options).await;
            this.state.borrow_mut().in_flight = None;
            this.settle(&entry, reply);
        }
        let consented = this.consented();
        let next = {
            let mut state = this.state.borrow_mut();
            state.sending = false;
            if !consented {
                return; // setConsent(true) wakes the pump
            }
            let held = state.outbox.entries.iter().any(|e| e.lead.uuid.is_none());
            state.outbox.next_time().or(held.then(|| js_sys::Date::now() + IDENTITY_POLL_MS))
        };
        if let Some(at) = next {
            Self::wake_at(this, at);
        }
    }

    /// Starts an attempt to send entry `id`: drops the scalars a newer send already carries
    /// (see [`reekolect_lead::outbox::Watermarks`]), counts the attempt, and saves. `None`
    /// when nothing is left to send: the entry is done, its callers resolved.
    fn begin_send(&self, id: &str) -> Option<Entry> {
        // Counted first: from here on nothing more merges into this entry, not even an
        // update a hook or handler adds while it is being looked at.
        let attempt = self.state.borrow_mut().outbox.start_attempt(id);
        if attempt == 1 && !self.run_before_send(id) {
            return None;
        }
        let superseded = {
            let mut state = self.state.borrow_mut();
            let State { outbox, store, waiters, .. } = &mut *state;
            let entry = outbox.entries.iter_mut().find(|e| e.id == id)?;
            let uuid = entry.lead.uuid.clone()?;
            let mut marks = store.watermarks(&uuid);
            let keep = marks.strip_and_record(&mut entry.lead, entry.updated);
            store.set_watermarks(&uuid, marks);
            if keep {
                None
            } else {
                outbox.remove(id);
                Some(waiters.remove(id).unwrap_or_default())
            }
        };
        if let Some(waiters) = superseded {
            self.save();
            resolve_all(waiters, &done_without_sending("superseded by a newer update"));
            return None;
        }
        let entry = self.state.borrow().outbox.entries.iter().find(|e| e.id == id).cloned();
        self.save();
        entry
    }

    /// Gives the site's `beforeSend` hook its look at entry `id`, once (before its first
    /// attempt). The hook may return the payload changed (checked again by every rule; the
    /// visitor cannot be changed), or null to drop it. A hook that throws, or returns
    /// something invalid, drops the update: fail closed, reported as `failed`. Returns
    /// whether the entry is still to be sent.
    fn run_before_send(&self, id: &str) -> bool {
        let Some(hook) = &self.config.before_send else { return true };
        let Some(entry) = self.state.borrow().outbox.entries.iter().find(|e| e.id == id).cloned() else { return false };
        let payload = JsValue::from(crate::convert::lead_to_js(&entry.lead));
        let verdict = match hook.call1(&JsValue::NULL, &payload) {
            Err(thrown) => Err(CompanionError::Hook("beforeSend threw: ".to_string() + &js::describe(&thrown))),
            Ok(result) if result.is_null() || result.is_undefined() => Ok(None),
            Ok(result) => {
                let keys = ["uuid", "botId", "customerId"];
                let own = js_sys::Object::assign(&js_sys::Object::new(), &result.unchecked_into());
                for key in keys {
                    let _ = js_sys::Reflect::delete_property(&own, &key.into());
                }
                prepare(&own, None).map(Some).map_err(|e| {
                    CompanionError::Hook("beforeSend returned an invalid update: ".to_string() + &e.message())
                })
            }
        };
        let outcome = {
            let mut state = self.state.borrow_mut();
            match &verdict {
                Ok(Some(changed)) => {
                    if let Some(slot) = state.outbox.entries.iter_mut().find(|e| e.id == id) {
                        let (uuid, bot_id, customer_id) =
                            (slot.lead.uuid.take(), slot.lead.bot_id.take(), slot.lead.customer_id.take());
                        slot.lead = Lead { uuid, bot_id, customer_id, ..changed.clone() };
                    }
                    None
                }
                _ => {
                    state.outbox.remove(id);
                    Some(state.waiters.remove(id).unwrap_or_default())
                }
            }
        };
        self.save();
        let Some(waiters) = outcome else { return true };
        let detail = object("update", &payload);
        match verdict {
            Ok(_) => resolve_all(waiters, &done_without_sending("dropped by beforeSend")),
            Err(error) => {
                let error = JsValue::from(error);
                reject_all(waiters, &error);
                let _ = js_sys::Reflect::set(&detail, &"error".into(), &error);
                self.emit(Event::Failed, &detail);
            }
        }
        false
    }

    /// Acts on a send's reply: forget, retry later, or drop and report.
    fn settle(&self, entry: &Entry, reply: Reply) {
        if !self.state.borrow().outbox.entries.iter().any(|e| e.id == entry.id) {
            return; // settled already: a later send of the same update came back first
        }
        let now = js_sys::Date::now();
        let outcome = Outcome::of(reply.status);
        if outcome == Outcome::Retry {
            let attempts =
                self.state.borrow().outbox.entries.iter().find(|e| e.id == entry.id).map_or(1, |e| e.attempts);
            let delay = self.config.backoff.delay_ms(attempts, js_sys::Math::random(), reply.retry_after_ms);
            self.state.borrow_mut().outbox.postpone(&entry.id, now + delay);
            self.save();
            return;
        }
        let waiters = {
            let mut state = self.state.borrow_mut();
            state.outbox.remove(&entry.id);
            state.waiters.remove(&entry.id).unwrap_or_default()
        };
        self.save();
        let detail = object("update", &JsValue::from(crate::convert::lead_to_js(&entry.lead)));
        if outcome == Outcome::Delivered {
            resolve_all(waiters, &reply.body);
            let _ = js_sys::Reflect::set(&detail, &"answer".into(), &reply.body);
            self.emit(Event::Sent, &detail);
        } else {
            let error =
                JsValue::from(CompanionError::Rejected { status: reply.status.unwrap_or(0), message: reply.message });
            reject_all(waiters, &error);
            let _ = js_sys::Reflect::set(&detail, &"error".into(), &error);
            self.emit(Event::Failed, &detail);
        }
    }

    /// The visitor, if the page says who it is yet.
    fn identity(&self) -> Option<Identity> {
        let visitor = context::resolve(&self.config).ok()?;
        Some(Identity { uuid: visitor.uuid, bot_id: visitor.bot_id, customer_id: visitor.customer_id })
    }

    /// Gives held updates the visitor's identity once the page has it.
    fn assign_identity(&self) {
        if !self.state.borrow().outbox.entries.iter().any(|e| e.lead.uuid.is_none()) {
            return;
        }
        if let Some(identity) = self.identity() {
            self.state.borrow_mut().outbox.assign(&identity);
            self.save();
        }
    }

    /// Saves at the end of the current task (a microtask): a burst of calls in one task
    /// writes storage once, and nothing can unload the page before microtasks have run.
    fn save_soon(this: &Rc<Self>) {
        if this.state.borrow().save_scheduled {
            return;
        }
        this.state.borrow_mut().save_scheduled = true;
        let me = Rc::clone(this);
        spawn_local(async move {
            me.state.borrow_mut().save_scheduled = false;
            me.save();
        });
    }

    fn save(&self) {
        let result = {
            let mut state = self.state.borrow_mut();
            let State { outbox, store, .. } = &mut *state;
            store.save(outbox)
        };
        if let Err(cause) = result {
            let error = JsValue::from(CompanionError::Storage(js::describe(&cause)));
            self.emit(Event::Warning, &object("error", &error));
        }
    }

    pub(crate) fn emit(&self, event: Event, detail: &JsValue) {
        let handlers = self.listeners.borrow().of(event);
        dispatch(handlers, detail);
    }

    /// Takes over what closed pages left behind, under a lock so two tabs never both do.
    fn adopt_orphans(this: &Rc<Self>) {
        let me = Rc::clone(this);
        let page_id = this.state.borrow().store.page_id().to_string();
        store::with_lock("reekolect-adopt", &page_id, move || {
            let adopted = me.state.borrow().store.adopt_orphans();
            if adopted.is_empty() {
                return;
            }
            me.state.borrow_mut().outbox.adopt(adopted);
            me.save();
            Self::wake_at(&me, js_sys::Date::now());
        });
    }

    /// Flushes when the page is hidden or left (with `keepalive`), and when the network
    /// comes back; after a return from the back/forward cache, drops what another page
    /// adopted meanwhile.
    fn listen_to_the_page(this: &Rc<Self>) {
        let Some(window) = web_sys::window() else { return };
        let on = |target: &web_sys::EventTarget, name: &str, handler: Box<dyn FnMut(JsValue)>| {
            let closure = Closure::wrap(handler);
            let _ = target.add_event_listener_with_callback(name, closure.as_ref().unchecked_ref());
            closure.forget(); // lives as long as the page
        };
        let me = Rc::clone(this);
        on(
            &window,
            "pagehide",
            Box::new(move |_| {
                me.state.borrow_mut().hidden = true;
                Self::send_before_leaving(&me);
                me.state.borrow_mut().store.leave();
            }),
        );
        let me = Rc::clone(this);
        on(
            &window,
            "pageshow",
            Box::new(move |event| {
                let restored =
                    js_sys::Reflect::get(&event, &"persisted".into()).ok().and_then(|p| p.as_bool()) == Some(true);
                me.state.borrow_mut().hidden = false;
                me.state.borrow_mut().store.stay();
                if restored && me.state.borrow().store.was_adopted() {
                    me.state.borrow_mut().outbox.entries.retain(|e| e.lead.uuid.is_none());
                }
                me.save();
            }),
        );
        let me = Rc::clone(this);
        on(
            &window,
            "online",
            Box::new(move |_| {
                me.state.borrow_mut().outbox.hurry();
                Self::wake_at(&me, 0.0);
            }),
        );
        if let Some(document) = window.document() {
            let me = Rc::clone(this);
            let doc = document.clone();
            on(
                &document,
                "visibilitychange",
                Box::new(move |_| {
                    let hidden = doc.visibility_state() == web_sys::VisibilityState::Hidden;
                    me.state.borrow_mut().hidden = hidden;
                    if hidden {
                        Self::send_before_leaving(&me);
                    }
                }),
            );
        }
    }

    /// The page may be about to go: send every due entry at once, with `keepalive`, within
    /// the keepalive budget. Each is leased (its `not_before`) for the request timeout, or
    /// [`LEASE_WITH_ID_MS`] when it has an update id, so neither this page's pump nor a page
    /// adopting the outbox sends it again meanwhile. What does not fit, or does not arrive,
    /// stays in the outbox for the next page; the proxy answers a repeat of an update it
    /// has delivered (or is delivering) with that delivery's answer, without a second one.
    fn send_before_leaving(this: &Rc<Self>) {
        if !this.consented() {
            return;
        }
        this.assign_identity();
        let now = js_sys::Date::now();
        // An update with an id is delivered once by the proxy, which makes a repeat of one
        // still on its way wait for its answer: the next page may send it again soon, and
        // its own updates need not wait behind it for the whole request timeout.
        let lease = |entry: &Entry| {
            let timeout = f64::from(this.config.request_timeout_ms);
            now + if entry.id.len() == update_id::DIGITS { timeout.min(LEASE_WITH_ID_MS) } else { timeout }
        };
        let due: Vec<String> = {
            let state = this.state.borrow();
            state
                .outbox
                .entries
                .iter()
                .filter(|e| e.lead.uuid.is_some() && e.not_before <= now && state.in_flight.as_deref() != Some(&e.id))
                .map(|e| e.id.clone())
                .collect()
        };
        // Newest first, so that the watermarks strip every older copy of a scalar: these
        // requests race each other, and the newest value must win whichever lands last.
        let mut batch: Vec<Entry> = due.iter().rev().filter_map(|id| this.begin_send(id)).collect();
        batch.reverse();
        let mut budget = KEEPALIVE_BUDGET_BYTES;
        batch.retain(|entry| {
            let size = crate::convert::lead_to_json(&entry.lead).len();
            let fits = size <= budget;
            budget = budget.saturating_sub(if fits { size } else { 0 });
            fits
        });
        {
            let mut state = this.state.borrow_mut();
            for entry in &batch {
                state.outbox.postpone(&entry.id, lease(entry));
            }
        }
        this.save();
        for entry in batch {
            let me = Rc::clone(this);
            spawn_local(async move {
                let options = SendOptions {
                    endpoint: &me.config.lead_endpoint,
                    timeout_ms: me.config.request_timeout_ms,
                    keepalive: true,
                    visitor_token: me.state.borrow().visitor_token.clone(),
                    update_id: &entry.id,
                };
                let reply = transport::send(&entry.lead, &options).await;
                me.settle(&entry, reply); // reached only if the page lives on (a hidden tab)
            });
        }
    }
}

/// Settles the callers' promises with `answer`.
fn resolve_all(waiters: impl IntoIterator<Item = (Function, Function)>, answer: &JsValue) {
    for (resolve, _) in waiters {
        let _ = resolve.call1(&JsValue::NULL, answer);
    }
}

/// Rejects the callers' promises with `error`.
fn reject_all(waiters: impl IntoIterator<Item = (Function, Function)>, error: &JsValue) {
    for (_, reject) in waiters {
        let _ = reject.call1(&JsValue::NULL, error);
    }
}

/// The answer for callers whose update needs no request: `{ success: true, message }`.
pub(crate) fn done_without_sending(message: &str) -> JsValue {
    let answer = object("success", &JsValue::TRUE);
    let _ = js_sys::Reflect::set(&answer, &"message".into(), &JsValue::from_str(message));
    answer
}

/// Checks the caller's fields: their shape, then every rule. Nothing about the visitor.
fn prepare(fields: &JsValue, allowed: Option<&[&str]>) -> Result<Lead, CompanionError> {
    let invalid = |e: FieldError| CompanionError::Invalid(vec![e]);
    if !fields.is_object() || js_sys::Array::is_array(fields) {
        return Err(invalid(FieldError::new("fields", "must be an object like { email: \"…\" }")));
    }
    let lead = crate::convert::lead_from_js(fields, allowed.unwrap_or(&FIELDS)).map_err(invalid)?;
    let identity = [("uuid", &lead.uuid), ("botId", &lead.bot_id), ("customerId", &lead.customer_id)];
    if let Some((field, _)) = identity.iter().find(|(_, value)| value.is_some()) {
        return Err(invalid(FieldError::new(
            *field,
            "comes from the visitor context; set it in init() if it must be fixed",
        )));
    }
    validate_fields(lead).map_err(CompanionError::Invalid)
}

/// The `(resolve, reject)` pairs of the callers waiting on each entry. A plain list: a
/// page has a handful of entries, and a map would cost bytes in the bundle for nothing.
#[derive(Default)]
struct Waiters(Vec<(String, Vec<(Function, Function)>)>);

impl Waiters {
    fn add(&mut self, id: String, waiter: Option<(Function, Function)>) {
        let Some(waiter) = waiter else { return };
        match self.0.iter_mut().find(|(entry, _)| *entry == id) {
            Some((_, list)) => list.push(waiter),
            None => self.0.push((id, vec![waiter])),
        }
    }

    fn remove(&mut self, id: &str) -> Option<Vec<(Function, Function)>> {
        let at = self.0.iter().position(|(entry, _)| entry == id)?;
        Some(self.0.remove(at).1)
    }

    fn all(self) -> impl Iterator<Item = (Function, Function)> {
        self.0.into_iter().flat_map(|(_, list)| list)
    }
}
