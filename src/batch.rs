//! Coalescing: calls made within the batch window are merged into one update (by
//! [`Lead::merge`]) and sent as one request; every call's promise settles with it.

use crate::config::Config;
use crate::error::CompanionError;
use crate::events::{dispatch, Event, Listeners};
use crate::{context, js, object, transport};
use gloo_timers::callback::Timeout;
use js_sys::{Function, Promise};
use reekolect_lead::{parse_lead, validate_fields, FieldError, Lead, FIELDS};
use std::cell::{RefCell, RefMut};
use std::rc::Rc;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::{future_to_promise, spawn_local};

/// The calls waiting for the end of the window.
#[derive(Default)]
struct Pending {
    update: Option<Lead>,
    /// `(resolve, reject)` of each waiting call's promise.
    waiters: Vec<(Function, Function)>,
    timer: Option<Timeout>,
}

/// A companion's update pipeline: validate, merge, send, settle, tell the listeners.
pub struct Batcher {
    config: Config,
    pending: RefCell<Pending>,
    listeners: RefCell<Listeners>,
}

impl Batcher {
    /// A pipeline for `config`.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            pending: RefCell::default(),
            listeners: RefCell::default(),
        }
    }

    /// The companion's options.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The page's event handlers.
    pub fn listeners(&self) -> RefMut<'_, Listeners> {
        self.listeners.borrow_mut()
    }

    /// Checks `fields` (only the `allowed` ones, when given) and adds them to the waiting
    /// update. An invalid call rejects at once, emits `invalid`, and leaves the waiting
    /// update as it was.
    pub fn add(this: &Rc<Self>, fields: JsValue, allowed: Option<&[&str]>) -> Promise {
        let lead = match prepare(&fields, allowed) {
            Ok(lead) => lead,
            Err(error) => {
                let error = JsValue::from(error);
                this.emit(Event::Invalid, &object("error", &error));
                return Promise::reject(&error);
            }
        };
        let mut waiter = None;
        let promise = Promise::new(&mut |resolve, reject| waiter = Some((resolve, reject)));
        let mut pending = this.pending.borrow_mut();
        pending.update.get_or_insert_with(Lead::default).merge(lead);
        pending.waiters.extend(waiter);
        if pending.timer.is_none() {
            let me = Rc::clone(this);
            pending.timer = Some(Timeout::new(this.config.batch_window_ms, move || {
                spawn_local(async move {
                    // The outcome reaches the callers through their promises and events.
                    let _ = Batcher::send(&me).await;
                })
            }));
        }
        promise
    }

    /// Sends the waiting update now.
    pub fn flush_now(this: &Rc<Self>) -> Promise {
        let me = Rc::clone(this);
        future_to_promise(async move { Batcher::send(&me).await })
    }

    async fn send(this: &Rc<Self>) -> Result<JsValue, JsValue> {
        let (update, waiters) = {
            let mut pending = this.pending.borrow_mut();
            pending.timer = None;
            (pending.update.take(), std::mem::take(&mut pending.waiters))
        };
        let Some(mut update) = update else {
            return Ok(JsValue::UNDEFINED);
        };
        let outcome = this.deliver(&mut update).await;
        let detail = object(
            "update",
            &serde_wasm_bindgen::to_value(&update).unwrap_or(JsValue::NULL),
        );
        match outcome {
            Ok(answer) => {
                for (resolve, _) in &waiters {
                    let _ = resolve.call1(&JsValue::NULL, &answer);
                }
                let _ = js_sys::Reflect::set(&detail, &"answer".into(), &answer);
                this.emit(Event::Sent, &detail);
                Ok(answer)
            }
            Err(error) => {
                let error = JsValue::from(error);
                for (_, reject) in &waiters {
                    let _ = reject.call1(&JsValue::NULL, &error);
                }
                let _ = js_sys::Reflect::set(&detail, &"error".into(), &error);
                this.emit(Event::Failed, &detail);
                Err(error)
            }
        }
    }

    async fn deliver(&self, update: &mut Lead) -> Result<JsValue, CompanionError> {
        let visitor = context::resolve(&self.config)?;
        update.uuid = Some(visitor.uuid);
        update.bot_id = Some(visitor.bot_id);
        update.customer_id = Some(visitor.customer_id);
        transport::put_lead(&self.config.lead_endpoint, update).await
    }

    fn emit(&self, event: Event, detail: &JsValue) {
        let handlers = self.listeners.borrow().of(event);
        dispatch(handlers, detail);
    }
}

/// Checks the caller's fields: their shape, then every rule. Nothing about the visitor.
fn prepare(fields: &JsValue, allowed: Option<&[&str]>) -> Result<Lead, CompanionError> {
    let invalid = |e: FieldError| CompanionError::Invalid(vec![e]);
    if !fields.is_object() || js_sys::Array::is_array(fields) {
        return Err(invalid(FieldError::new(
            "fields",
            "must be an object like { email: \"…\" }",
        )));
    }
    js::check_lead_shape(fields, allowed.unwrap_or(&FIELDS)).map_err(invalid)?;
    let lead =
        parse_lead(serde_wasm_bindgen::Deserializer::from(fields.clone())).map_err(invalid)?;
    let identity = [
        ("uuid", &lead.uuid),
        ("botId", &lead.bot_id),
        ("customerId", &lead.customer_id),
    ];
    if let Some((field, _)) = identity.iter().find(|(_, value)| value.is_some()) {
        return Err(invalid(FieldError::new(
            *field,
            "comes from the visitor context; set it in init() if it must be fixed",
        )));
    }
    validate_fields(lead).map_err(CompanionError::Invalid)
}
