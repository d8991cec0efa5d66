//! Captures website forms into the lead. Listening happens on the document (submit and
//! change events bubble), so forms a single-page app adds later are covered without
//! watching the DOM. The rules of what is taken, and as what, are host-tested in
//! [`reekolect_lead::forms`]; this module only reads the page.

use crate::pipeline::Pipeline;
use gloo_timers::callback::Timeout;
use js_sys::{Array, Reflect};
use reekolect_lead::forms::{keep_valid, update_from_form, Control};
use reekolect_lead::outbox::has_content;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Element;

/// Which forms are captured, and when.
pub struct FormCapture {
    pipeline: Rc<Pipeline>,
    /// Every form of the page.
    all: Cell<bool>,
    /// Forms named by `captureForm()`.
    chosen: RefCell<Vec<Element>>,
    /// Also capture on `change`, after this many quiet milliseconds.
    change_debounce_ms: Cell<Option<u32>>,
    /// The change capture waiting for its quiet time, and its form.
    pending: RefCell<Option<(Timeout, Element)>>,
    listening: Cell<bool>,
}

impl FormCapture {
    /// Nothing captured yet.
    pub fn new(pipeline: Rc<Pipeline>) -> Rc<Self> {
        Rc::new(Self {
            pipeline,
            all: Cell::new(false),
            chosen: RefCell::default(),
            change_debounce_ms: Cell::new(None),
            pending: RefCell::default(),
            listening: Cell::new(false),
        })
    }

    /// Captures every form (`form` = None) or one, on submit, and on change when
    /// `change_debounce_ms` is given.
    pub fn watch(this: &Rc<Self>, form: Option<Element>, change_debounce_ms: Option<u32>) {
        match form {
            None => this.all.set(true),
            Some(form) => {
                if !this.chosen.borrow().contains(&form) {
                    this.chosen.borrow_mut().push(form);
                }
            }
        }
        if change_debounce_ms.is_some() {
            this.change_debounce_ms.set(change_debounce_ms);
        }
        if !this.listening.replace(true) {
            Self::listen(this);
        }
    }

    fn listen(this: &Rc<Self>) {
        let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
        let me = Rc::clone(this);
        // Handlers take a plain JsValue, the type the page's other listeners take: one closure
        // type less in the bundle (its glue and shims).
        let on_submit = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            if let Some(form) =
                event.unchecked_ref::<web_sys::Event>().target().and_then(|t| t.dyn_into::<Element>().ok())
            {
                me.capture(&form);
            }
        });
        let me = Rc::clone(this);
        let on_change = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let Some(debounce) = me.change_debounce_ms.get() else { return };
            let form = event
                .unchecked_ref::<web_sys::Event>()
                .target()
                .and_then(|t| Reflect::get(&t, &"form".into()).ok())
                .and_then(|f| f.dyn_into::<Element>().ok());
            if let Some(form) = form {
                Self::capture_later(&me, form, debounce);
            }
        });
        // Capture phase: the site's own handlers may stop the event from bubbling.
        let _ = document.add_event_listener_with_callback_and_bool("submit", on_submit.as_ref().unchecked_ref(), true);
        let _ = document.add_event_listener_with_callback_and_bool("change", on_change.as_ref().unchecked_ref(), true);
        on_submit.forget(); // for the page's lifetime
        on_change.forget();
    }

    fn capture_later(this: &Rc<Self>, form: Element, debounce_ms: u32) {
        let previous = this.pending.borrow_mut().take();
        if let Some((timer, other)) = previous {
            drop(timer);
            if other != form {
                this.capture(&other); // another form: do not lose the first one's changes
            }
        }
        let me = Rc::clone(this);
        let target = form.clone();
        let timer = Timeout::new(debounce_ms, move || {
            me.pending.borrow_mut().take();
            me.capture(&target);
        });
        *this.pending.borrow_mut() = Some((timer, form));
    }

    /// Reads `form` and adds what may be taken to the outbox. Never blocks or stops the
    /// submit, and never throws into the page.
    fn capture(&self, form: &Element) {
        let wanted = self.all.get() || self.chosen.borrow().contains(form);
        if !wanted || form.tag_name() != "FORM" || !self.pipeline.consented() {
            return;
        }
        if form.has_attribute("data-reekolect-ignore") {
            return;
        }
        let controls = read_controls(form);
        let (update, dropped) = keep_valid(update_from_form(&controls));
        self.pipeline.report_invalid(dropped);
        if has_content(&update) {
            let sent = Pipeline::enqueue(&self.pipeline, update);
            // Failures reach `failed` listeners; the promise itself has no reader.
            crate::js::ignore_rejection(&sent);
        }
    }
}

/// Every control of `form` with its values (checkbox and radio groups gathered by name).
fn read_controls(form: &Element) -> Vec<(Control, Vec<String>)> {
    let hidden_allowed = form.has_attribute("data-reekolect-hidden");
    let elements = property_list(form, "elements");
    let mut controls: Vec<(Control, Vec<String>)> = Vec::new();
    for element in elements.iter().filter_map(|e| e.dyn_into::<Element>().ok()) {
        if !matches!(element.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA") {
            continue;
        }
        let kind = text_property(&element, "type").to_ascii_lowercase();
        let attribute = |name: &str| element.get_attribute(name).unwrap_or_default();
        let control = Control {
            kind: if kind.is_empty() { "text".into() } else { kind.clone() },
            name: attribute("name"),
            id: attribute("id"),
            label: label_of(&element),
            autocomplete: attribute("autocomplete").to_ascii_lowercase(),
            placeholder: attribute("placeholder"),
            explicit: element.get_attribute("data-reekolect-field"),
            ignored: element.closest("[data-reekolect-ignore]").ok().flatten().is_some(),
            hidden_allowed,
        };
        let values = values_of(&element, &kind);
        let grouped = matches!(kind.as_str(), "checkbox" | "radio") && !control.name.is_empty();
        match controls.iter_mut().find(|(c, _)| grouped && c.name == control.name && c.kind == control.kind) {
            Some((_, existing)) => existing.extend(values),
            None => controls.push((control, values)),
        }
    }
    controls
}

/// An array-like property (`elements`, `labels`, …) as an array; empty when it is null,
/// as `labels` is on hidden inputs (`Array.from(null)` would throw into the page).
fn property_list(element: &Element, name: &str) -> Array {
    match Reflect::get(element, &name.into()) {
        Ok(list) if list.is_object() => Array::from(&list),
        _ => Array::new(),
    }
}

fn text_property(element: &Element, name: &str) -> String {
    Reflect::get(element, &name.into()).ok().and_then(|v| v.as_string()).unwrap_or_default()
}

/// The control's current values: checked boxes only, every selected option.
fn values_of(element: &Element, kind: &str) -> Vec<String> {
    match kind {
        "checkbox" | "radio" => {
            let checked = Reflect::get(element, &"checked".into()).ok().and_then(|c| c.as_bool()) == Some(true);
            if checked {
                vec![text_property(element, "value")]
            } else {
                Vec::new()
            }
        }
        "select-multiple" => property_list(element, "selectedOptions")
            .iter()
            .filter_map(|option| Reflect::get(&option, &"value".into()).ok().and_then(|v| v.as_string()))
            .collect(),
        _ => vec![text_property(element, "value")],
    }
}

/// The text of the control's label (without the text of controls nested in it), else
/// its `aria-label`.
fn label_of(element: &Element) -> String {
    let label = property_list(element, "labels").get(0).dyn_into::<Element>().ok();
    let Some(label) = label else { return element.get_attribute("aria-label").unwrap_or_default() };
    let Ok(copy) = label.clone_node_with_deep(true) else { return String::new() };
    let Ok(copy) = copy.dyn_into::<Element>() else { return String::new() };
    if let Ok(nested) = copy.query_selector_all("input, select, textarea, button") {
        for i in 0..nested.length() {
            if let Some(node) = nested.item(i).and_then(|n| n.dyn_into::<Element>().ok()) {
                node.remove();
            }
        }
    }
    reekolect_lead::text::join(copy.text_content().unwrap_or_default().split_whitespace(), " ")
}
