//! Companion tests in a real headless Chromium (wasm-bindgen-test): reading the visitor
//! context off the DOM and sessionStorage, and what `updateLead` sends and rejects with.
#![cfg(target_arch = "wasm32")]

use js_sys::{Function, Promise, Reflect, JSON};
use reekolect_companion::{create_companion, Companion};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const UUID: &str = "7e88d192-9b20-4035-9b68-d4ac3d58a34f";

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

fn storage() -> web_sys::Storage {
    web_sys::window().unwrap().session_storage().unwrap().unwrap()
}

fn local_storage() -> web_sys::Storage {
    web_sys::window().unwrap().local_storage().unwrap().unwrap()
}

/// A clean page: no widget tag, empty web storage, the real fetch, storage, Web Locks and
/// `AbortSignal.timeout`.
fn reset_page() {
    if let Some(tag) = document().get_element_by_id("Reekolect-messenger-widget") {
        tag.remove();
    }
    Function::new_no_args(
        "if (globalThis.__realFetch) { globalThis.fetch = globalThis.__realFetch; }
         if (globalThis.__realSetItem) { Storage.prototype.setItem = globalThis.__realSetItem; }
         if (globalThis.__realTimeout) { AbortSignal.timeout = globalThis.__realTimeout; }
         delete navigator.locks;",
    )
    .call0(&JsValue::NULL)
    .unwrap();
    storage().clear().unwrap();
    local_storage().clear().unwrap();
}

/// A clean page with the widget tag (bot b1, customer c1) and a visitor who opened the chat.
fn page_with_visitor() {
    reset_page();
    add_widget_tag("b1,c1");
    storage().set_item("uuid", UUID).unwrap();
}

/// Adds the widget tag as real sites have it: with a `src`, so its text is not run.
fn add_widget_tag(text: &str) {
    let tag = document().create_element("script").unwrap();
    tag.set_id("Reekolect-messenger-widget");
    tag.set_attribute("src", "data:text/javascript,").unwrap();
    tag.set_attribute("defer", "").unwrap();
    tag.set_text_content(Some(text));
    document().body().unwrap().append_child(&tag).unwrap();
}

fn companion(config: &str) -> Result<Companion, JsValue> {
    create_companion(JSON::parse(config).unwrap())
}

fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).unwrap()
}

fn message(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_else(|| format!("not an Error: {error:?}"))
}

/// Replaces `fetch` with a recorder answering `status` with `answer`; returns the calls array.
fn stub_fetch(status: u16, answer: &str) -> JsValue {
    let body = JSON::stringify(&answer.into()).unwrap().as_string().unwrap();
    stub_fetch_replies(&format!(r#"[{{"status":{status},"body":{body}}}]"#))
}

/// Replaces `fetch` with a recorder giving, call after call, the replies of the JSON array
/// `replies` (`{status, body, headers}`, or `{network: true}` for a failed connection); the
/// last one repeats. Returns the calls array (`{method, url, type, body, keepalive}`).
fn stub_fetch_replies(replies: &str) -> JsValue {
    let install = Function::new_with_args(
        "replies",
        "globalThis.__realFetch ??= globalThis.fetch;
         const calls = [];
         globalThis.fetch = async (input, init) => {
           const request = new Request(input, init);
           calls.push({ method: request.method, url: request.url, keepalive: request.keepalive,
                        type: request.headers.get('content-type'), body: await request.text() });
           const reply = replies[Math.min(calls.length, replies.length) - 1];
           if (reply.network) throw new TypeError('Failed to fetch');
           return new Response(reply.body ?? '{}', { status: reply.status,
             headers: { 'content-type': 'application/json', ...(reply.headers ?? {}) } });
         };
         return calls;",
    );
    install.call1(&JsValue::NULL, &JSON::parse(replies).unwrap()).unwrap()
}

/// Waits `ms` milliseconds.
async fn sleep(ms: i32) {
    let promise = Promise::new(&mut |resolve, _| {
        web_sys::window().unwrap().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms).unwrap();
    });
    JsFuture::from(promise).await.unwrap();
}

/// Fires a plain event named `name` at the window, as the browser would.
fn fire_window_event(name: &str) {
    Function::new_with_args("name", "window.dispatchEvent(new Event(name))")
        .call1(&JsValue::NULL, &name.into())
        .unwrap();
}

async fn settle(promise: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(promise).await
}

#[wasm_bindgen_test]
fn context_comes_from_the_widget_tag_and_session_storage() {
    reset_page();
    add_widget_tag("\n   63d9ffa7bot ,\n   631aa793cust\n");
    storage().set_item("theme", "dark").unwrap();
    storage().set_item("Reekolect_uuid", UUID).unwrap();
    let context = companion(r#"{"proxyUrl":"/reekolect"}"#).unwrap().context().unwrap();
    assert_eq!(get(&context, "uuid"), UUID);
    assert_eq!(get(&context, "botId"), "63d9ffa7bot");
    assert_eq!(get(&context, "customerId"), "631aa793cust");
}

#[wasm_bindgen_test]
fn the_uuid_is_found_inside_a_json_value_and_by_configured_key() {
    reset_page();
    add_widget_tag("b1,c1");
    storage().set_item("reekolect-visitor", &format!(r#"{{"visitorUuid":"{UUID}","opened":true}}"#)).unwrap();
    let found = companion(r#"{"proxyUrl":"/p"}"#).unwrap().context().unwrap();
    assert_eq!(get(&found, "uuid"), UUID);

    let other = "11111111-2222-4333-8444-555555555555";
    storage().set_item("my_id", other).unwrap();
    let configured = companion(r#"{"proxyUrl":"/p","uuidKey":"my_id"}"#).unwrap().context().unwrap();
    assert_eq!(get(&configured, "uuid"), other);
}

#[wasm_bindgen_test]
fn explicit_ids_win_over_the_widget_tag() {
    reset_page();
    add_widget_tag("tagBot,tagCustomer");
    storage().set_item("uuid", UUID).unwrap();
    let context =
        companion(r#"{"proxyUrl":"/p","botId":"cfgBot","customerId":"cfgCustomer"}"#).unwrap().context().unwrap();
    assert_eq!(get(&context, "botId"), "cfgBot");
    assert_eq!(get(&context, "customerId"), "cfgCustomer");
}

#[wasm_bindgen_test]
fn ids_come_from_a_bot_page_url_when_there_is_no_tag() {
    reset_page();
    storage().set_item("uuid", UUID).unwrap();
    let context = companion(r#"{"proxyUrl":"/p","botPageUrl":"https://page.Reekolect.online/pageBot/pageCustomer"}"#)
        .unwrap()
        .context()
        .unwrap();
    assert_eq!(get(&context, "botId"), "pageBot");
    assert_eq!(get(&context, "customerId"), "pageCustomer");
}

#[wasm_bindgen_test]
fn missing_context_is_a_clear_error() {
    reset_page();
    add_widget_tag("b1,c1");
    let error = companion(r#"{"proxyUrl":"/p"}"#).unwrap().context().unwrap_err();
    assert!(message(&error).contains("the visitor has not opened the chat"), "{}", message(&error));
    assert_eq!(get(&error, "code"), "context");

    reset_page();
    storage().set_item("uuid", UUID).unwrap();
    let error = companion(r#"{"proxyUrl":"/p"}"#).unwrap().context().unwrap_err();
    assert!(message(&error).contains("no BotId/CustomerId"), "{}", message(&error));

    add_widget_tag("console.log('not ids')");
    let error = companion(r#"{"proxyUrl":"/p"}"#).unwrap().context().unwrap_err();
    assert!(message(&error).contains("must be \"BotId,CustomerId\""), "{}", message(&error));
}

#[wasm_bindgen_test]
fn bad_config_names_the_option() {
    let error = companion(r#"{}"#).err().unwrap();
    assert!(message(&error).contains("missing field `proxyUrl`"), "{}", message(&error));
    let error = companion(r#"{"proxyURL":"/p"}"#).err().unwrap();
    assert!(message(&error).contains("unknown option `proxyURL`"), "{}", message(&error));
    let error = companion(r#"{"proxyUrl":"/p","botId":"only"}"#).err().unwrap();
    assert!(message(&error).contains("botId and customerId go together"), "{}", message(&error));
    assert_eq!(get(&error, "code"), "config");
}

#[wasm_bindgen_test]
async fn update_lead_puts_the_wire_format_to_the_proxy() {
    reset_page();
    add_widget_tag("b1,c1");
    storage().set_item("Reekolect_uuid", UUID).unwrap();
    let calls = stub_fetch(200, r#"{"success":true,"message":"ok","code":200}"#);
    let fields = JSON::parse(
        r#"{"name":" Ada Lovelace ","email":"ada@Example.com","phone":"+44 20 7946 0958","status":"open",
            "tags":["vip","vip"],"attributes":{"plan":"pro","seats":3},"notes":[{"title":"Call back"}]}"#,
    )
    .unwrap();
    let answer =
        settle(companion(r#"{"proxyUrl":"https://proxy.example/rk/"}"#).unwrap().update_lead(fields)).await.unwrap();
    reset_page();
    assert_eq!(get(&answer, "success"), true);

    let calls: js_sys::Array = calls.dyn_into().unwrap();
    assert_eq!(calls.length(), 1);
    let call = calls.get(0);
    assert_eq!(get(&call, "method"), "PUT");
    // The update's id rides in the query (32 hex digits, made once for the update).
    let url = get(&call, "url").as_string().unwrap();
    let id = url.strip_prefix("https://proxy.example/rk/lead?updateId=").unwrap_or_else(|| panic!("{url}"));
    assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{url}");
    assert_eq!(get(&call, "type"), "application/json");
    let body = get(&call, "body").as_string().unwrap();
    let expected = format!(
        r#"{{"uuid":"{UUID}","botId":"b1","customerId":"c1","status":"OPEN","name":"Ada Lovelace","email":"ada@example.com","phone":"2079460958","dialCode":"+44","notes":[{{"title":"Call back","description":""}}],"tags":["vip"],"attributes":[{{"key":"plan","value":"pro"}},{{"key":"seats","value":"3"}}]}}"#
    );
    assert_eq!(body, expected);
}

#[wasm_bindgen_test]
async fn an_invalid_update_rejects_naming_the_field_and_sends_nothing() {
    page_with_visitor();
    let calls = stub_fetch(200, "{}");
    let rk = companion(r#"{"proxyUrl":"/p"}"#).unwrap();
    let cases = [
        (r#"{"email":"not-an-email"}"#, "email", "email: must be an email address"),
        (r#"{"emial":"a@b.co"}"#, "emial", "emial: is not a known field"),
        (r#"{"tags":"vip"}"#, "tags", "tags: must be a list"),
        (r#"{"uuid":"7e88d192-9b20-4035-9b68-d4ac3d58a34f"}"#, "uuid", "uuid: comes from the visitor context"),
        (r#"["name"]"#, "fields", "fields: must be an object"),
        (r#"{"notes":[{"title":"t","body":"b"}]}"#, "notes[0].body", "notes[0].body: is not a known field"),
        (r#"{"attributes":[{"key":"k","value":"v","extra":1}]}"#, "attributes[0].extra", "attributes[0].extra: is not"),
        (
            r#"{"attributes":{"plan":{"nested":true}}}"#,
            "attributes.plan",
            "attributes.plan: must be a string, number or boolean",
        ),
    ];
    for (fields, field, expected) in cases {
        let error = settle(rk.update_lead(JSON::parse(fields).unwrap())).await.unwrap_err();
        assert!(message(&error).contains(expected), "{fields}: {}", message(&error));
        assert_eq!(get(&error, "field"), field, "{fields}");
        assert_eq!(get(&error, "code"), "invalid");
        assert!(error.is_instance_of::<js_sys::Error>());
    }
    let calls: js_sys::Array = calls.dyn_into().unwrap();
    reset_page();
    assert_eq!(calls.length(), 0, "an invalid update must send nothing");
}

#[wasm_bindgen_test]
async fn a_refusal_from_the_proxy_rejects_with_its_reason() {
    page_with_visitor();
    stub_fetch(401, r#"{"success":false,"message":"Unauthorized","code":401}"#);
    let rk = companion(r#"{"proxyUrl":"/p"}"#).unwrap();
    let error = settle(rk.update_lead(JSON::parse(r#"{"name":"Ann"}"#).unwrap())).await.unwrap_err();
    reset_page();
    assert_eq!(message(&error), "Reekolect: the proxy answered 401: Unauthorized");
    assert_eq!(get(&error, "status"), 401);
}

#[wasm_bindgen_test]
async fn no_answer_and_busy_answers_are_retried_until_accepted() {
    page_with_visitor();
    let calls = stub_fetch_replies(
        r#"[{"network":true},{"status":503,"body":"{\"message\":\"busy\"}"},{"status":429,"headers":{"retry-after":"0"}},
            {"status":200,"body":"{\"success\":true,\"message\":\"ok\",\"code\":200}"}]"#,
    );
    let rk = companion(r#"{"proxyUrl":"/p","batchWindowMs":0,"retryBaseMs":20,"retryMaxMs":50}"#).unwrap();
    let events = record_events(&rk);
    let answer = settle(rk.identify(JSON::parse(r#"{"name":"Ann"}"#).unwrap())).await.unwrap();
    let calls: js_sys::Array = calls.dyn_into().unwrap();
    reset_page();
    assert_eq!(get(&answer, "success"), true);
    assert_eq!(calls.length(), 4, "three failures, then the accepted send");
    let bodies: Vec<JsValue> = calls.iter().map(|c| get(&c, "body")).collect();
    assert!(bodies.windows(2).all(|pair| pair[0] == pair[1]), "every retry carries the same update");
    assert_eq!(events.length(), 1, "retries are not failures: only `sent` is emitted");
}

#[wasm_bindgen_test]
async fn updates_wait_for_the_visitor_uuid_then_go() {
    reset_page();
    add_widget_tag("b1,c1");
    let calls = stub_fetch(200, r#"{"success":true,"message":"ok","code":200}"#);
    let rk = companion(r#"{"proxyUrl":"/p","batchWindowMs":0}"#).unwrap();
    let pending = rk.identify(JSON::parse(r#"{"name":"Early Bird"}"#).unwrap());
    sleep(300).await;
    let calls: js_sys::Array = calls.dyn_into().unwrap();
    assert_eq!(calls.length(), 0, "nothing is sent without a visitor");
    let held = storage().get_item("reekolect:held").unwrap().unwrap_or_default();
    assert!(held.contains("Early Bird"), "held updates survive navigation in this tab: {held}");
    // The visitor opens the chat: the widget writes the UUID.
    storage().set_item("Reekolect_uuid", UUID).unwrap();
    let answer = settle(pending).await.unwrap();
    reset_page();
    assert_eq!(get(&answer, "success"), true);
    assert_eq!(calls.length(), 1);
    let body = get(&calls.get(0), "body").as_string().unwrap();
    assert!(
        body.starts_with(&format!(r#"{{"uuid":"{UUID}","botId":"b1","customerId":"c1","name":"Early Bird""#)),
        "{body}"
    );
}

#[wasm_bindgen_test]
async fn a_closed_pages_outbox_is_adopted_and_sent() {
    page_with_visitor();
    // What a page that closed mid-retry leaves behind: its outbox, and no fresh heartbeat.
    let orphan = format!(
        r#"{{"entries":[{{"id":"gone-1","lead":{{"uuid":"{UUID}","botId":"b1","customerId":"c1","tags":["from-last-page"]}},"attempts":2,"notBefore":0}}]}}"#
    );
    local_storage().set_item("reekolect:outbox:closedpage", &orphan).unwrap();
    local_storage().set_item("reekolect:alive:closedpage", &(js_sys::Date::now() - 60_000.0).to_string()).unwrap();
    let live = r#"{"entries":[{"id":"live-1","lead":{"uuid":"11111111-2222-4333-8444-555555555555","botId":"b1","customerId":"c1","tags":["other-tab"]},"attempts":0,"notBefore":0}]}"#;
    local_storage().set_item("reekolect:outbox:livetab", live).unwrap();
    local_storage().set_item("reekolect:alive:livetab", &js_sys::Date::now().to_string()).unwrap();
    let calls = stub_fetch(200, r#"{"success":true,"message":"ok","code":200}"#);
    let rk = companion(r#"{"proxyUrl":"/p"}"#).unwrap();
    let events = record_events(&rk);
    for _ in 0..50 {
        if events.length() > 0 {
            break;
        }
        sleep(20).await;
    }
    let calls: js_sys::Array = calls.dyn_into().unwrap();
    let live_left = local_storage().get_item("reekolect:outbox:livetab").unwrap();
    let orphan_left = local_storage().get_item("reekolect:outbox:closedpage").unwrap();
    reset_page();
    assert_eq!(calls.length(), 1, "the closed page's update, and not the live tab's");
    assert!(get(&calls.get(0), "body").as_string().unwrap().contains("from-last-page"));
    assert!(live_left.is_some(), "a live tab's outbox is its own");
    assert!(orphan_left.is_none(), "an adopted outbox is removed");
}

#[wasm_bindgen_test]
async fn without_web_locks_two_pages_adopt_an_orphan_once() {
    page_with_visitor();
    // Older browsers, and pages on plain HTTP, have no navigator.locks.
    Function::new_no_args("Object.defineProperty(navigator, 'locks', { configurable: true, value: undefined })")
        .call0(&JsValue::NULL)
        .unwrap();
    let orphan = format!(
        r#"{{"entries":[{{"id":"gone-1","lead":{{"uuid":"{UUID}","botId":"b1","customerId":"c1","tags":["adopt-once"]}},"attempts":1,"notBefore":0}}]}}"#
    );
    local_storage().set_item("reekolect:outbox:closedpage", &orphan).unwrap();
    let calls = stub_fetch(200, r#"{"success":true,"message":"ok","code":200}"#);
    // Two companions, each with a page id of its own, look for orphans at the same moment.
    let first = companion(r#"{"proxyUrl":"/p"}"#).unwrap();
    let second = companion(r#"{"proxyUrl":"/p"}"#).unwrap();
    let claim = local_storage().get_item("reekolect:claim:reekolect-adopt").unwrap();
    sleep(600).await;
    let calls: js_sys::Array = calls.dyn_into().unwrap();
    let orphan_left = local_storage().get_item("reekolect:outbox:closedpage").unwrap();
    drop((first, second));
    reset_page();
    assert!(claim.is_some(), "without Web Locks, adoption is claimed in localStorage");
    assert_eq!(calls.length(), 1, "adopted and sent once");
    assert!(get(&calls.get(0), "body").as_string().unwrap().contains("adopt-once"));
    assert!(orphan_left.is_none());
}

#[wasm_bindgen_test]
async fn without_abort_signal_timeout_a_hung_request_still_times_out() {
    page_with_visitor();
    Function::new_no_args("globalThis.__realTimeout ??= AbortSignal.timeout; delete AbortSignal.timeout;")
        .call0(&JsValue::NULL)
        .unwrap();
    let calls = stub_fetch(200, r#"{"success":true,"message":"ok","code":200}"#);
    // The first request never answers, until its signal aborts it (as fetch does); the rest
    // go through the recorder.
    Function::new_no_args(
        "const recorder = globalThis.fetch; let first = true;
         globalThis.fetch = (input, init) => {
           if (!first) return recorder(input, init);
           first = false;
           return new Promise((_, reject) => init.signal.addEventListener('abort',
             () => reject(new DOMException('The operation was aborted.', 'AbortError'))));
         };",
    )
    .call0(&JsValue::NULL)
    .unwrap();
    let rk =
        companion(r#"{"proxyUrl":"/p","batchWindowMs":0,"requestTimeoutMs":100,"retryBaseMs":10,"retryMaxMs":20}"#)
            .unwrap();
    let answer = settle(rk.add_tags(JSON::parse(r#"["after-a-timeout"]"#).unwrap())).await;
    let calls: js_sys::Array = calls.dyn_into().unwrap();
    reset_page();
    assert_eq!(get(&answer.unwrap(), "success"), true);
    assert_eq!(calls.length(), 1, "sent again after the timeout");
}

#[wasm_bindgen_test]
async fn full_storage_degrades_to_memory_with_a_warning() {
    page_with_visitor();
    Function::new_no_args(
        "globalThis.__realSetItem ??= Storage.prototype.setItem;
         Storage.prototype.setItem = function () { throw new DOMException('quota', 'QuotaExceededError'); };",
    )
    .call0(&JsValue::NULL)
    .unwrap();
    let calls = stub_fetch(200, r#"{"success":true,"message":"ok","code":200}"#);
    let rk = companion(r#"{"proxyUrl":"/p","batchWindowMs":0}"#).unwrap();
    let events = record_events(&rk);
    let answer = settle(rk.add_tags(JSON::parse(r#"["kept-in-memory"]"#).unwrap())).await.unwrap();
    let calls: js_sys::Array = calls.dyn_into().unwrap();
    reset_page();
    assert_eq!(get(&answer, "success"), true);
    assert_eq!(calls.length(), 1);
    let names: Vec<JsValue> = events.iter().map(|e| e.dyn_into::<js_sys::Array>().unwrap().get(0)).collect();
    assert_eq!(names, [JsValue::from("warning"), JsValue::from("sent")], "one warning, then the update still goes");
    let warning = events.get(0).dyn_into::<js_sys::Array>().unwrap().get(1);
    assert_eq!(get(&get(&warning, "error"), "code"), "storage");
}

#[wasm_bindgen_test]
async fn a_hidden_page_flushes_at_once_with_keepalive() {
    page_with_visitor();
    let calls = stub_fetch(200, r#"{"success":true,"message":"ok","code":200}"#);
    // A long window: without the page hiding, nothing would go for 10 s.
    let rk = companion(r#"{"proxyUrl":"/p","batchWindowMs":10000}"#).unwrap();
    let pending = rk.set_status("closed".into());
    fire_window_event("pagehide");
    let answer = settle(pending).await.unwrap();
    let calls: js_sys::Array = calls.dyn_into().unwrap();
    reset_page();
    assert_eq!(get(&answer, "success"), true);
    assert_eq!(calls.length(), 1);
    let call = calls.get(0);
    assert_eq!(get(&call, "keepalive"), true);
    // A CORS simple request: no preflight to be cut short by the page going away.
    assert_eq!(get(&call, "method"), "POST");
    assert_eq!(get(&call, "type"), "text/plain;charset=UTF-8");
}

#[wasm_bindgen_test]
async fn reset_forgets_pending_updates() {
    reset_page();
    add_widget_tag("b1,c1");
    let calls = stub_fetch(200, "{}");
    let rk = companion(r#"{"proxyUrl":"/p","batchWindowMs":0}"#).unwrap();
    let pending = rk.identify(JSON::parse(r#"{"name":"Shared Computer"}"#).unwrap());
    rk.reset();
    let error = settle(pending).await.unwrap_err();
    assert_eq!(get(&error, "code"), "reset");
    assert_eq!(storage().get_item("reekolect:held").unwrap(), None);
    storage().set_item("uuid", UUID).unwrap();
    sleep(600).await;
    let calls: js_sys::Array = calls.dyn_into().unwrap();
    reset_page();
    assert_eq!(calls.length(), 0, "nothing of the previous person is sent for the next one");
}

/// Records the events of `companion` into a JS array of `[name, detail]`.
fn record_events(rk: &Companion) -> js_sys::Array {
    let log = js_sys::Array::new();
    for name in ["sent", "failed", "invalid", "warning"] {
        let handler = Function::new_with_args("log, name, detail", "log.push([name, detail])")
            .bind2(&JsValue::NULL, &log, &JsValue::from_str(name))
            .unchecked_into::<Function>();
        rk.on(name, handler).unwrap();
    }
    log
}

#[wasm_bindgen_test]
async fn a_burst_of_calls_is_one_request_with_the_merged_update() {
    page_with_visitor();
    let calls = stub_fetch(200, r#"{"success":true,"message":"ok","code":200}"#);
    let rk = companion(r#"{"proxyUrl":"/p"}"#).unwrap();
    let events = record_events(&rk);
    let parse = |json: &str| JSON::parse(json).unwrap();
    let promises = [
        rk.identify(parse(r#"{"name":"Ann","email":"ann@example.com"}"#)),
        rk.set_attributes(parse(r#"{"plan":"free","seats":1}"#)),
        rk.add_tags(parse(r#"["a","b"]"#)),
        rk.add_note(parse(r#"{"title":"first"}"#)),
        rk.set_status("open".into()),
        rk.assign_agent("agent7".into()),
        rk.set_attributes(parse(r#"{"plan":"pro"}"#)),
        rk.add_tags(parse(r#"["b","c"]"#)),
        rk.add_note(parse(r#"{"title":"second","description":"more"}"#)),
        rk.update_lead(parse(r#"{"name":"Ann Lee","phone":"+1 555 010 9999"}"#)),
    ];
    let all = js_sys::Promise::all(&promises.iter().cloned().collect::<js_sys::Array>());
    let answers: js_sys::Array = settle(all).await.unwrap().dyn_into().unwrap();
    let calls: js_sys::Array = calls.dyn_into().unwrap();
    reset_page();
    assert_eq!(calls.length(), 1, "10 calls in one window must be one request");
    assert_eq!(answers.length(), 10);
    assert!(answers.iter().all(|a| get(&a, "success") == true));
    let body = get(&calls.get(0), "body").as_string().unwrap();
    let expected = format!(
        r#"{{"uuid":"{UUID}","botId":"b1","customerId":"c1","agentId":"agent7","status":"OPEN","name":"Ann Lee","email":"ann@example.com","phone":"5550109999","dialCode":"+1","notes":[{{"title":"first","description":""}},{{"title":"second","description":"more"}}],"tags":["a","b","c"],"attributes":[{{"key":"plan","value":"pro"}},{{"key":"seats","value":"1"}}]}}"#
    );
    assert_eq!(body, expected);
    assert_eq!(events.length(), 1);
    assert_eq!(events.get(0).dyn_into::<js_sys::Array>().unwrap().get(0), "sent");
}

#[wasm_bindgen_test]
async fn an_invalid_call_in_a_burst_loses_nothing_else() {
    page_with_visitor();
    let calls = stub_fetch(200, r#"{"success":true,"message":"ok","code":200}"#);
    let rk = companion(r#"{"proxyUrl":"/p"}"#).unwrap();
    let events = record_events(&rk);
    let good = rk.identify(JSON::parse(r#"{"name":"Ann"}"#).unwrap());
    let bad = settle(rk.identify(JSON::parse(r#"{"email":"nope","status":"OPEN"}"#).unwrap())).await.unwrap_err();
    let also_good = rk.add_tags(JSON::parse(r#"["kept"]"#).unwrap());
    settle(rk.flush()).await.unwrap();
    settle(good).await.unwrap();
    settle(also_good).await.unwrap();
    let calls: js_sys::Array = calls.dyn_into().unwrap();
    reset_page();
    // identify() takes only who the visitor is: status is refused by name.
    assert_eq!(get(&bad, "field"), "status");
    assert!(message(&bad).contains("expected one of name, email, phone, dialCode, picture"), "{}", message(&bad));
    assert_eq!(calls.length(), 1);
    let body = get(&calls.get(0), "body").as_string().unwrap();
    assert!(body.ends_with(r#""name":"Ann","tags":["kept"]}"#), "{body}");
    let names: Vec<JsValue> = events.iter().map(|e| e.dyn_into::<js_sys::Array>().unwrap().get(0)).collect();
    assert_eq!(names, [JsValue::from("invalid"), JsValue::from("sent")]);
}

#[wasm_bindgen_test]
async fn a_failed_send_rejects_every_call_of_its_batch_and_emits_failed() {
    page_with_visitor();
    stub_fetch(400, r#"{"success":false,"message":"email: must be an email address","code":400}"#);
    let rk = companion(r#"{"proxyUrl":"/p","batchWindowMs":0}"#).unwrap();
    let events = record_events(&rk);
    let first = rk.set_status("review".into());
    let second = rk.add_tags(JSON::parse(r#"["x"]"#).unwrap());
    let first = settle(first).await.unwrap_err();
    let second = settle(second).await.unwrap_err();
    reset_page();
    assert_eq!(get(&first, "status"), 400);
    assert_eq!(message(&second), "Reekolect: the proxy answered 400: email: must be an email address");
    assert_eq!(events.length(), 1);
    let failed = events.get(0).dyn_into::<js_sys::Array>().unwrap();
    assert_eq!(failed.get(0), "failed");
    assert_eq!(get(&get(&failed.get(1), "update"), "status"), "REVIEW");
}

#[wasm_bindgen_test]
async fn unknown_events_and_throwing_handlers_do_not_break_anything() {
    let rk = companion(r#"{"proxyUrl":"/p"}"#).unwrap();
    let error = rk.on("sended", Function::new_no_args("")).unwrap_err();
    assert!(message(&error).contains("unknown event \"sended\""), "{}", message(&error));
    let thrower = Function::new_no_args("throw new Error('handler bug')");
    rk.on("invalid", thrower.clone()).unwrap();
    // The handler throws; the call still just rejects with its own error.
    let error = settle(rk.set_status("nonsense".into())).await.unwrap_err();
    assert_eq!(get(&error, "field"), "status");
    rk.off("invalid", thrower).unwrap();
}

#[wasm_bindgen_test]
async fn with_consent_required_nothing_goes_until_it_is_given() {
    page_with_visitor();
    let calls = stub_fetch(200, r#"{"success":true,"message":"ok","code":200}"#);
    let rk = companion(r#"{"proxyUrl":"/p","batchWindowMs":0,"requireConsent":true}"#).unwrap();
    let pending = rk.set_attributes(JSON::parse(r#"{"plan":"pro"}"#).unwrap());
    sleep(200).await;
    let sent_before = calls.clone().dyn_into::<js_sys::Array>().unwrap().length();
    rk.set_consent(true);
    let answer = settle(pending).await.unwrap();
    let sent_after = calls.dyn_into::<js_sys::Array>().unwrap().length();
    // Refusing consent forgets what waits.
    let refused = companion(r#"{"proxyUrl":"/p","batchWindowMs":0,"requireConsent":true}"#).unwrap();
    let dropped = refused.set_status("open".into());
    refused.set_consent(false);
    let error = settle(dropped).await.unwrap_err();
    reset_page();
    assert_eq!(sent_before, 0, "nothing is sent before consent");
    assert_eq!(sent_after, 1);
    assert_eq!(get(&answer, "success"), true);
    assert_eq!(get(&error, "code"), "reset");
}

/// `beforeSend` as a JS function from source (tests only; the companion itself needs no eval).
fn hook(body: &str) -> Function {
    Function::new_with_args("payload", body)
}

fn companion_with_hook(hook: &Function) -> Companion {
    let config = JSON::parse(r#"{"proxyUrl":"/p","batchWindowMs":0}"#).unwrap();
    Reflect::set(&config, &"beforeSend".into(), hook).unwrap();
    create_companion(config).unwrap()
}

#[wasm_bindgen_test]
async fn before_send_can_redact_drop_or_fail_closed() {
    page_with_visitor();
    let calls = stub_fetch(200, r#"{"success":true,"message":"ok","code":200}"#);
    let parse = |json: &str| JSON::parse(json).unwrap();

    // Redact: the site removes the email and adds a tag; the visitor cannot be changed.
    let redact = companion_with_hook(&hook(
        "delete payload.email; payload.tags = ['redacted']; payload.uuid = '11111111-2222-4333-8444-555555555555'; return payload;",
    ));
    settle(redact.identify(parse(r#"{"name":"Ann","email":"ann@example.com"}"#))).await.unwrap();

    // Drop: null means "do not send"; the caller's promise still settles.
    let drop = companion_with_hook(&hook("return null;"));
    let dropped = settle(drop.set_status("open".into())).await.unwrap();

    // Fail closed: a hook that throws, or returns an invalid update, drops it and says so.
    let thrower = companion_with_hook(&hook("throw new Error('hook bug');"));
    let events = record_events(&thrower);
    let thrown = settle(thrower.add_tags(parse(r#"["x"]"#))).await.unwrap_err();
    let invalid = companion_with_hook(&hook("payload.email = 'not an email'; return payload;"));
    let refused = settle(invalid.add_tags(parse(r#"["y"]"#))).await.unwrap_err();

    let calls: js_sys::Array = calls.dyn_into().unwrap();
    reset_page();
    assert_eq!(calls.length(), 1, "only the redacted update is sent");
    let body = get(&calls.get(0), "body").as_string().unwrap();
    assert_eq!(body, format!(r#"{{"uuid":"{UUID}","botId":"b1","customerId":"c1","name":"Ann","tags":["redacted"]}}"#));
    assert_eq!(get(&dropped, "message"), "dropped by beforeSend");
    assert_eq!(get(&thrown, "code"), "hook");
    assert!(message(&thrown).contains("beforeSend threw: hook bug"), "{}", message(&thrown));
    assert!(message(&refused).contains("email: must be an email address"), "{}", message(&refused));
    let names: Vec<JsValue> = events.iter().map(|e| e.dyn_into::<js_sys::Array>().unwrap().get(0)).collect();
    assert_eq!(names, [JsValue::from("failed")]);
}

#[wasm_bindgen_test]
async fn a_visitor_token_goes_in_a_header_or_for_beacons_in_the_query() {
    page_with_visitor();
    let calls = stub_fetch(200, r#"{"success":true,"message":"ok","code":200}"#);
    let capture = Function::new_no_args(
        "const seen = []; const inner = globalThis.fetch;
         globalThis.fetch = (input, init) => { seen.push(new Headers(init.headers).get('x-reekolect-visitor')); return inner(input, init); };
         return seen;",
    );
    let headers: js_sys::Array = capture.call0(&JsValue::NULL).unwrap().dyn_into().unwrap();
    let rk = companion(r#"{"proxyUrl":"/p","batchWindowMs":0,"visitorToken":"v1.abc.123.sig"}"#).unwrap();
    settle(rk.identify(JSON::parse(r#"{"name":"Ann"}"#).unwrap())).await.unwrap();
    rk.set_visitor_token(Some("v1.new token".into()));
    let pending = rk.set_status("open".into());
    fire_window_event("pagehide");
    settle(pending).await.unwrap();
    let calls: js_sys::Array = calls.dyn_into().unwrap();
    reset_page();
    assert_eq!(headers.get(0), "v1.abc.123.sig");
    let url = get(&calls.get(1), "url").as_string().unwrap();
    let origin = web_sys::window().unwrap().location().origin().unwrap();
    let query = url.strip_prefix(&(origin + "/p/lead?updateId=")).unwrap_or_else(|| panic!("{url}"));
    assert_eq!(&query[32..], "&visitor=v1.new%20token", "{url}");
    assert_eq!(headers.get(1), JsValue::NULL, "a beacon-style request carries no custom header");
}

#[wasm_bindgen_test]
async fn first_touch_attribution_is_sent_once_and_never_replaced() {
    page_with_visitor();
    // An earlier page of this browser recorded where the visitor first came from.
    local_storage()
        .set_item(
            "reekolect:first-touch",
            r#"{"utm_source":"newsletter","landing_page":"https://shop.example/spring"}"#,
        )
        .unwrap();
    let calls = stub_fetch(200, r#"{"success":true,"message":"ok","code":200}"#);
    let rk = companion(r#"{"proxyUrl":"/p","batchWindowMs":0,"attribution":true}"#).unwrap();
    settle(rk.flush()).await.unwrap();
    sleep(50).await;
    // Another page of the same tab session: nothing sent again.
    let again = companion(r#"{"proxyUrl":"/p","batchWindowMs":0,"attribution":true}"#).unwrap();
    settle(again.flush()).await.unwrap();
    let calls: js_sys::Array = calls.dyn_into().unwrap();
    reset_page();
    assert_eq!(calls.length(), 1);
    let body = get(&calls.get(0), "body").as_string().unwrap();
    assert!(
        body.ends_with(r#""attributes":[{"key":"utm_source","value":"newsletter"},{"key":"landing_page","value":"https://shop.example/spring"}]}"#),
        "{body}"
    );
}

/// Calls `rk[method](...args)` as page code would.
fn call(rk: &JsValue, method: &str, args: &[JsValue]) -> JsValue {
    let invoke = Function::new_with_args("rk, method, args", "return rk[method](...args)");
    invoke.call3(&JsValue::NULL, rk, &method.into(), &args.iter().collect::<js_sys::Array>()).unwrap()
}

#[wasm_bindgen_test]
async fn handlers_and_hooks_may_call_the_companion_again() {
    page_with_visitor();
    let calls = stub_fetch(200, r#"{"success":true,"message":"ok","code":200}"#);
    let config = JSON::parse(r#"{"proxyUrl":"/p","batchWindowMs":0}"#).unwrap();
    // A hook that itself adds an update, and an `invalid` handler that makes a correct call.
    let hook = hook("if (!payload.tags) globalThis.__rk.addTags(['from-hook']); return payload;");
    Reflect::set(&config, &"beforeSend".into(), &hook).unwrap();
    let rk = JsValue::from(create_companion(config).unwrap());
    Reflect::set(&js_sys::global(), &"__rk".into(), &rk).unwrap();
    let retry = Function::new_with_args("detail", "globalThis.__rk.setStatus('open')");
    call(&rk, "on", &["invalid".into(), retry.into()]);
    let bad: Promise = call(&rk, "setStatus", &["nope".into()]).unchecked_into();
    assert!(settle(bad).await.is_err());
    settle(call(&rk, "flush", &[]).unchecked_into()).await.unwrap();
    sleep(50).await;
    settle(call(&rk, "flush", &[]).unchecked_into()).await.unwrap();
    let calls: js_sys::Array = calls.dyn_into().unwrap();
    let bodies: Vec<String> = calls.iter().map(|c| get(&c, "body").as_string().unwrap()).collect();
    Reflect::set(&js_sys::global(), &"__rk".into(), &JsValue::UNDEFINED).unwrap();
    reset_page();
    assert!(bodies.iter().any(|b| b.contains(r#""status":"OPEN""#)), "{bodies:?}");
    assert!(bodies.iter().any(|b| b.contains("from-hook")), "{bodies:?}");
}

// Page context (`trackPages`) and events (`track`). The navigation listeners are the page's
// once; the latest companion made with `trackPages` records, so each test makes its own
// first and navigates after.

/// Navigates this document as a single-page app's router does.
fn navigate(method: &str, url: &str) {
    Function::new_with_args("method, url", "history[method]({ from: 'router' }, '', url)")
        .call2(&JsValue::NULL, &method.into(), &url.into())
        .unwrap();
}

fn set_title(title: &str) {
    document().set_title(title);
}

/// The attributes of a sent body as `key=value` strings.
fn attributes_of(body: &str) -> Vec<String> {
    let attributes: js_sys::Array = get(&JSON::parse(body).unwrap(), "attributes").dyn_into().unwrap_or_default();
    attributes
        .iter()
        .map(|a| get(&a, "key").as_string().unwrap() + "=" + &get(&a, "value").as_string().unwrap())
        .collect()
}

fn bodies(calls: &JsValue) -> Vec<String> {
    calls.clone().dyn_into::<js_sys::Array>().unwrap().iter().map(|c| get(&c, "body").as_string().unwrap()).collect()
}

fn current_path() -> String {
    web_sys::window().unwrap().location().pathname().unwrap()
}

#[wasm_bindgen_test]
async fn single_page_navigations_are_page_views_sent_as_one_update() {
    page_with_visitor();
    let calls = stub_fetch(200, r#"{"success":true,"message":"ok","code":200}"#);
    // A batch window long enough for history.back()'s popstate, which a loaded machine can
    // deliver well after the 100 ms the views wait for a title: the burst is still one update.
    let _rk = companion(r#"{"proxyUrl":"/p","trackPages":true,"batchWindowMs":1500}"#).unwrap();
    let first = current_path();
    navigate("pushState", "/spa/pricing?plan=pro#faq");
    set_title("Pricing"); // routers name the page after changing the URL
    navigate("pushState", "/spa/pricing?plan=team"); // the same path: no new view
    navigate("pushState", "/spa/docs");
    navigate("replaceState", "/spa/docs/install");
    let state = Function::new_no_args("return history.state").call0(&JsValue::NULL).unwrap();
    assert_eq!(get(&state, "from"), "router", "the router's own state is kept");
    // The router names the page as it handles the popstate, as routers do: a title set by
    // the test once it sees the new path could come after the view's 100 ms on a loaded machine.
    Function::new_no_args("addEventListener('popstate', () => { document.title = 'Pricing plans'; }, { once: true })")
        .call0(&JsValue::NULL)
        .unwrap();
    Function::new_no_args("history.back()").call0(&JsValue::NULL).unwrap(); // popstate: /spa/pricing
    for _ in 0..50 {
        if current_path() == "/spa/pricing" {
            break;
        }
        sleep(10).await;
    }
    sleep(2000).await;
    let bodies = bodies(&calls);
    let stored = local_storage().get_item("reekolect:visits").unwrap();
    reset_page();
    assert_eq!(bodies.len(), 1, "a burst of navigations is one request: {bodies:?}");
    let attributes = attributes_of(&bodies[0]);
    let trail = format!("page_trail={first} › /spa/pricing › /spa/docs › /spa/docs/install › /spa/pricing");
    assert_eq!(attributes[2..], ["visits=1".to_string(), "last_page=/spa/pricing — Pricing plans".into(), trail]);
    let iso =
        |a: &str| a.split('=').nth(1).is_some_and(|t| t.len() == "2026-12-01T02:11:10.123Z".len() && t.ends_with('Z'));
    assert!(attributes[0].starts_with("first_seen=") && iso(&attributes[0]), "{attributes:?}");
    assert!(attributes[1].starts_with("last_seen=") && iso(&attributes[1]), "{attributes:?}");
    assert!(stored.unwrap_or_default().contains("/spa/docs/install"), "the record is kept for the next pages");
}

#[wasm_bindgen_test]
async fn a_query_string_or_fragment_never_reaches_a_request_body() {
    page_with_visitor();
    let calls = stub_fetch(200, r#"{"success":true,"message":"ok","code":200}"#);
    let rk = companion(r#"{"proxyUrl":"/p","trackPages":true,"attribution":true,"batchWindowMs":0}"#).unwrap();
    navigate("pushState", "/spa/welcome?email=ann%40example.com&token=s3cr3t-t0ken#access_token=f4ke");
    set_title("Welcome");
    sleep(300).await;
    navigate("replaceState", "/spa/welcome?session=0ther-s3cr3t");
    navigate("pushState", "/spa/account#id_token=f4ke");
    settle(rk.track("signed up".into(), JSON::parse(r#"{"plan":"pro"}"#).unwrap())).await.unwrap();
    sleep(300).await;
    let pending = rk.set_attributes(JSON::parse(r#"{"step":"last"}"#).unwrap());
    fire_window_event("pagehide"); // the keepalive path too
    settle(pending).await.unwrap();
    let bodies = bodies(&calls);
    reset_page();
    assert!(bodies.len() >= 3, "{bodies:?}");
    assert!(bodies.iter().any(|b| b.contains("/spa/welcome › /spa/account")), "{bodies:?}");
    for body in &bodies {
        for secret in ["s3cr3t", "ann", "token", "f4ke", "?", "#"] {
            assert!(!body.contains(secret), "{secret} in {body}");
        }
    }
}

#[wasm_bindgen_test]
async fn page_views_wait_for_the_visitor_and_for_consent() {
    reset_page();
    add_widget_tag("b1,c1");
    let calls = stub_fetch(200, r#"{"success":true,"message":"ok","code":200}"#);
    let rk = companion(r#"{"proxyUrl":"/p","trackPages":true,"requireConsent":true,"batchWindowMs":0}"#).unwrap();
    navigate("pushState", "/spa/before-consent");
    sleep(300).await;
    assert_eq!(local_storage().get_item("reekolect:visits").unwrap(), None, "nothing is recorded before consent");
    navigate("pushState", "/spa/consented");
    rk.set_consent(true);
    sleep(300).await;
    let held = storage().get_item("reekolect:held").unwrap().unwrap_or_default();
    assert!(held.contains("/spa/consented"), "held for the visitor: {held}");
    assert_eq!(bodies(&calls).len(), 0, "no visitor yet");
    storage().set_item("Reekolect_uuid", UUID).unwrap();
    sleep(700).await; // the UUID is looked for every 500 ms
    let sent = bodies(&calls);
    rk.set_consent(false); // refused later: the record is forgotten
    let forgotten = local_storage().get_item("reekolect:visits").unwrap();
    reset_page();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(attributes_of(&sent[0]).contains(&"page_trail=/spa/consented".to_string()), "{sent:?}");
    assert_eq!(forgotten, None);
}

#[wasm_bindgen_test]
async fn before_send_sees_page_context_and_reset_forgets_it() {
    page_with_visitor();
    let calls = stub_fetch(200, r#"{"success":true,"message":"ok","code":200}"#);
    let config = JSON::parse(r#"{"proxyUrl":"/p","trackPages":true,"batchWindowMs":0}"#).unwrap();
    let redact = hook("payload.attributes = payload.attributes.filter((a) => a.key !== 'page_trail'); return payload;");
    Reflect::set(&config, &"beforeSend".into(), &redact).unwrap();
    let rk = create_companion(config).unwrap();
    sleep(300).await;
    let recorded = local_storage().get_item("reekolect:visits").unwrap();
    rk.reset();
    let after_reset = local_storage().get_item("reekolect:visits").unwrap();
    let bodies = bodies(&calls);
    reset_page();
    assert_eq!(bodies.len(), 1);
    let keys: Vec<String> =
        attributes_of(&bodies[0]).iter().map(|a| a.split('=').next().unwrap().to_string()).collect();
    assert_eq!(keys, ["first_seen", "last_seen", "visits", "last_page"]);
    assert!(recorded.is_some());
    assert_eq!(after_reset, None, "reset() forgets the visits");
}

#[wasm_bindgen_test]
async fn track_sends_a_note_and_last_event_within_its_limits() {
    page_with_visitor();
    let calls = stub_fetch(200, r#"{"success":true,"message":"ok","code":200}"#);
    let rk = companion(r#"{"proxyUrl":"/p","batchWindowMs":0}"#).unwrap();
    let events = record_events(&rk);
    let props = JSON::parse(r#"{"plan":"pro","seats":3,"annual":true}"#).unwrap();
    let answer = settle(rk.track(" pricing viewed ".into(), props)).await.unwrap();
    assert_eq!(get(&answer, "success"), true);
    let repeated = settle(rk.track("pricing viewed".into(), JsValue::UNDEFINED)).await.unwrap();
    assert_eq!(get(&repeated, "message"), "not sent: the same event was tracked less than 10 minutes ago");
    // 19 more names are kept in this visit, the 21st is not.
    let more: Vec<Promise> = (1..=19).map(|i| rk.track(format!("step {i}").into(), JsValue::UNDEFINED)).collect();
    settle(js_sys::Promise::all(&more.into_iter().collect::<js_sys::Array>())).await.unwrap();
    let over = settle(rk.track("one too many".into(), JsValue::NULL)).await.unwrap();
    assert_eq!(get(&over, "message"), "not sent: 20 events were tracked in this visit already");
    let bodies = bodies(&calls);
    reset_page();
    assert_eq!(
        bodies[0],
        format!(
            r#"{{"uuid":"{UUID}","botId":"b1","customerId":"c1","notes":[{{"title":"pricing viewed","description":"plan: pro\nseats: 3\nannual: true"}}],"attributes":[{{"key":"last_event","value":"pricing viewed"}}]}}"#
        )
    );
    let notes: usize = bodies.iter().map(|b| b.matches(r#""title":"#).count()).sum();
    assert_eq!(notes, 20, "{bodies:?}");
    assert!(bodies.last().unwrap().ends_with(r#"{"key":"last_event","value":"step 19"}]}"#), "{bodies:?}");
    let names: Vec<JsValue> = events.iter().map(|e| e.dyn_into::<js_sys::Array>().unwrap().get(0)).collect();
    let warnings: Vec<JsValue> = events
        .iter()
        .map(|e| e.dyn_into::<js_sys::Array>().unwrap())
        .filter(|e| e.get(0) == "warning")
        .map(|e| get(&e.get(1), "error"))
        .collect();
    assert_eq!(warnings.len(), 1, "warned once: {names:?}");
    assert_eq!(get(&warnings[0], "code"), "limit");
    assert!(message(&warnings[0]).contains("track(\"pricing viewed\") not sent"), "{}", message(&warnings[0]));
}

#[wasm_bindgen_test]
async fn an_invalid_event_rejects_naming_the_field_and_sends_nothing() {
    page_with_visitor();
    let calls = stub_fetch(200, "{}");
    let rk = companion(r#"{"proxyUrl":"/p","batchWindowMs":0}"#).unwrap();
    let events = record_events(&rk);
    let long = "n".repeat(201);
    let cases: [(JsValue, &str, &str); 6] = [
        ("  ".into(), "null", "name: must not be empty"),
        (long.as_str().into(), "null", "name: must be at most 200 characters"),
        (JsValue::from(5), "null", "name: must be a string"),
        ("ok".into(), r#"{"plan":{"nested":true}}"#, "properties.plan: must be a string, number or boolean"),
        ("ok".into(), r#"["pro"]"#, "properties: must be an object"),
        ("ok".into(), r#""pro""#, "properties: must be an object"),
    ];
    for (name, properties, expected) in cases {
        let error = settle(rk.track(name, JSON::parse(properties).unwrap())).await.unwrap_err();
        assert!(message(&error).contains(expected), "{expected}: {}", message(&error));
        assert_eq!(get(&error, "code"), "invalid");
    }
    sleep(50).await;
    let bodies = bodies(&calls);
    reset_page();
    assert_eq!(bodies.len(), 0);
    assert_eq!(events.length(), 6, "each emits invalid");
}
