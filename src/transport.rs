//! Sends one update to the proxy with `fetch`, and reads what came back.

use reekolect_lead::retry::retry_after_seconds;
use reekolect_lead::update_id;
use reekolect_lead::Lead;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestInit, Response};

/// The proxy's answer to a send, or the lack of one.
pub struct Reply {
    /// HTTP status; `None` when no answer came (offline, refused, timed out).
    pub status: Option<u16>,
    /// The answer's `Retry-After`, in milliseconds from now.
    pub retry_after_ms: Option<f64>,
    /// The answer's JSON (`null` when there was none).
    pub body: JsValue,
    /// What went wrong, in words, when it did.
    pub message: String,
}

/// How a send travels.
pub struct SendOptions<'a> {
    /// `{proxyUrl}/lead`.
    pub endpoint: &'a str,
    /// Give up waiting after this many milliseconds.
    pub timeout_ms: u32,
    /// The page is being hidden: let the request outlive it (`keepalive`), and make it a
    /// CORS simple request (`POST` as `text/plain`), which needs no preflight that could be
    /// cut short by the page going away.
    pub keepalive: bool,
    /// The signed visitor token, when the site gave one (header, or query for a POST).
    pub visitor_token: Option<String>,
    /// The update's id, sent as `?updateId=` so that the proxy delivers it once. Entries
    /// saved by an older companion have ids of another form: they go without.
    pub update_id: &'a str,
}

/// `PUT`s `lead` as JSON. Never fails: a failure is a [`Reply`] without a status.
pub async fn send(lead: &Lead, options: &SendOptions<'_>) -> Reply {
    match try_send(lead, options).await {
        Ok(reply) => reply,
        Err(error) => Reply { status: None, retry_after_ms: None, body: JsValue::NULL, message: describe(&error) },
    }
}

async fn try_send(lead: &Lead, options: &SendOptions<'_>) -> Result<Reply, JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let body = crate::convert::lead_to_json(lead);
    let init = RequestInit::new();
    let (method, content_type) =
        if options.keepalive { ("POST", "text/plain;charset=UTF-8") } else { ("PUT", "application/json") };
    init.set_method(method);
    init.set_body(&JsValue::from_str(&body));
    let headers = web_sys::Headers::new()?;
    headers.set("content-type", content_type)?;
    let mut url = options.endpoint.to_string();
    // A simple request may carry no custom header: what a keepalive POST must carry besides
    // the lead goes in the query, and the id does on every send (one way for both).
    let mut query = |name: &str, value: &str| {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(name);
        url.push('=');
        url.push_str(value);
    };
    if options.update_id.len() == update_id::DIGITS {
        query(update_id::PARAM, options.update_id);
    }
    if let Some(token) = &options.visitor_token {
        if options.keepalive {
            query("visitor", &String::from(js_sys::encode_uri_component(token)));
        } else {
            headers.set("x-reekolect-visitor", token)?;
        }
    }
    init.set_headers(&headers);
    // Not in web-sys's RequestInit bindings; a plain property of the init dictionary.
    js_sys::Reflect::set(&init, &"keepalive".into(), &JsValue::from_bool(options.keepalive))?;
    // An AbortController and a timer, which every browser with fetch has (AbortSignal.timeout
    // came years later: Safari 16, Firefox 100).
    let controller = AbortController::new()?;
    init.set_signal(Some(&controller.signal()));
    let abort: js_sys::Function = js_sys::Reflect::get(&controller, &"abort".into())?.dyn_into()?;
    window
        .set_timeout_with_callback_and_timeout_and_arguments_0(&abort.bind0(&controller), options.timeout_ms as i32)?;
    let request = fetch(&url, &init)?;
    let response: Response = JsFuture::from(request).await?.dyn_into()?;
    let status = response.status();
    let retry_after_ms = response.headers().get("retry-after").ok().flatten().and_then(|h| {
        retry_after_seconds(&h).or_else(|| {
            let at = js_sys::Date::parse(&h);
            at.is_finite().then(|| (at - js_sys::Date::now()).max(0.0))
        })
    });
    let text = JsFuture::from(response.text()?).await.ok().and_then(|t| t.as_string()).unwrap_or_default();
    let body = js_sys::JSON::parse(&text).unwrap_or(JsValue::NULL);
    let message = if response.ok() {
        String::new()
    } else {
        js_sys::Reflect::get(&body, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_else(|| {
            if text.is_empty() {
                response.status_text()
            } else {
                text.chars().take(200).collect()
            }
        })
    };
    Ok(Reply { status: Some(status), retry_after_ms, body, message })
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// The page's `fetch` as it is at the call: a missing or replaced one that throws is a
    /// failed send, never an exception into the page.
    #[wasm_bindgen(catch)]
    fn fetch(input: &str, init: &RequestInit) -> Result<js_sys::Promise, JsValue>;

    type AbortController;

    #[wasm_bindgen(constructor, catch)]
    fn new() -> Result<AbortController, JsValue>;

    #[wasm_bindgen(method, getter)]
    fn signal(this: &AbortController) -> web_sys::AbortSignal;
}

fn describe(error: &JsValue) -> String {
    match error.dyn_ref::<js_sys::Error>() {
        Some(error) if error.name() == "AbortError" => "no answer in time".into(),
        _ => crate::js::describe(error),
    }
}
