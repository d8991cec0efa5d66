// The pages the cross-engine scenarios use: a copy of www/ (the demo, its widget stand-in
// and the built companion in pkg/) plus test pages under /t/. Every test page loads
// /t/instrument.js first, which records what the page sees (errors, console warnings and
// errors, request bodies) and, as its URL's `poison` parameter says, removes or poisons
// browser APIs before the companion loads.
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Runs first on every test page. `?uuid=` is the visitor who opened the chat; `?poison=`
 * a comma-separated list of:
 * - `storage`: reading `localStorage` or `sessionStorage` throws SecurityError (cookies
 *   blocked, sandboxed frames); `localstorage`: only `localStorage` does.
 * - `locks`: no `navigator.locks` (older browsers, plain-HTTP pages); `locksdenied`: every
 *   lock request rejects with SecurityError (opaque origins, as sandboxed frames have).
 * - `keepalive`: `fetch` refuses `keepalive` (older browsers); `beacon`: no `sendBeacon`.
 * - `randomuuid`: no `crypto.randomUUID`; `timeout`: no `AbortSignal.timeout`.
 * - `wasm`: no `WebAssembly` (turned off by policy or a lockdown mode).
 * - `offline`: every `fetch` fails as with no network.
 */
const INSTRUMENT = String.raw`(function () {
  var query = new URLSearchParams(location.search);
  var poison = (query.get('poison') || '').split(',');
  var has = function (name) { return poison.indexOf(name) >= 0; };
  window.__errors = [];
  window.__console = [];
  window.__bodies = [];
  addEventListener('error', function (e) { __errors.push(String(e.message)); });
  addEventListener('unhandledrejection', function (e) {
    __errors.push('unhandled rejection: ' + (e.reason && e.reason.message || e.reason));
  });
  ['error', 'warn'].forEach(function (level) {
    var real = console[level];
    console[level] = function () {
      __console.push(level + ': ' + [].map.call(arguments, function (a) { return a && a.message || String(a); }).join(' '));
      return real.apply(console, arguments);
    };
  });
  if (query.get('uuid')) sessionStorage.setItem('Reekolect_uuid', query.get('uuid'));
  // Every body the page sends (fetch, sendBeacon, XHR), kept across the tab's pages (a
  // keepalive send outlives its page). The poisons that touch fetch touch only the updates
  // (…/lead), not the companion's own files.
  var record = function (body) {
    body = typeof body === 'string' ? body : body == null ? '' : '[' + Object.prototype.toString.call(body) + ']';
    __bodies.push(body);
    try {
      var all = JSON.parse(sessionStorage.getItem('test:bodies') || '[]');
      all.push(body);
      sessionStorage.setItem('test:bodies', JSON.stringify(all));
    } catch (e) { /* storage poisoned */ }
  };
  var realFetch = window.fetch;
  window.fetch = function (input, init) {
    var lead = /\/lead(\?|$)/.test(String(input && input.url || input));
    if (lead || (init && init.body != null)) record(init && init.body);
    if (lead && has('offline')) return Promise.reject(new TypeError('Failed to fetch'));
    if (lead && has('keepalive') && init && init.keepalive) return Promise.reject(new TypeError('keepalive is not supported'));
    return realFetch.apply(this, arguments);
  };
  var realBeacon = navigator.sendBeacon;
  if (realBeacon) navigator.sendBeacon = function (url, body) { record(body); return realBeacon.apply(navigator, arguments); };
  var realSend = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (body) { record(body); return realSend.apply(this, arguments); };
  var blocked = function () { throw new DOMException('The operation is insecure.', 'SecurityError'); };
  if (has('storage') || has('localstorage')) Object.defineProperty(window, 'localStorage', { configurable: true, get: blocked });
  if (has('storage')) Object.defineProperty(window, 'sessionStorage', { configurable: true, get: blocked });
  if (has('locks')) Object.defineProperty(navigator, 'locks', { configurable: true, value: undefined });
  if (has('locksdenied')) {
    Object.defineProperty(navigator, 'locks', { configurable: true, value: { request: function () {
      return Promise.reject(new DOMException('The operation is insecure.', 'SecurityError'));
    } } });
  }
  if (has('beacon')) { delete Navigator.prototype.sendBeacon; delete navigator.sendBeacon; }
  if (has('randomuuid')) delete Crypto.prototype.randomUUID;
  if (has('timeout')) delete AbortSignal.timeout;
  if (has('wasm')) delete window.WebAssembly;
  // In a frame: tell the parent what this page saw, as a cross-origin (sandboxed) frame
  // cannot be looked into.
  if (window.parent !== window) {
    setInterval(function () {
      var queue = window.reekolect || {};
      parent.postMessage({ loaded: !!queue.loaded, events: window.__events || [], errors: __errors, console: __console }, '*');
    }, 200);
  }
})();
`;

const WIDGET = (ids) => `<script id="Reekolect-messenger-widget" src="/widget/none.js" defer>${ids}</script>`;

/** The <script async> include, as the README gives it, with calls queued before it loads. */
const INCLUDE = `<!doctype html><html><head><meta charset="utf-8">
  <script src="/t/instrument.js"></script>
  ${WIDGET('includeBot,includeCustomer')}
  <script>
  !function(w,r){r=w.reekolect=w.reekolect||[];["identify","setAttributes","addTags","addNote","setStatus","assignAgent","updateLead","flush","reset","on","off","captureForms","captureForm","setConsent"].forEach(function(m){r[m]=r[m]||function(){r.push([m].concat([].slice.call(arguments)))}})}(window);
  window.__events = [];
  ['sent', 'failed', 'invalid', 'warning'].forEach(function (name) {
    reekolect.on(name, function (detail) { __events.push({ name: name, message: detail.error ? detail.error.message : '' }); });
  });
  // Made before the file can have loaded: an async script runs after this one, always.
  reekolect.setAttributes({ step: 'one' });
  reekolect.push(['setAttributes', { step: 'two' }], ['addTags', ['first']], ['addTags', ['second']]);
  reekolect.push(['setStatus', 'nonsense']); // invalid: reported, loses nothing else
  reekolect.push(['noSuchMethod']);
  window.__queuedBeforeLoad = reekolect.length;
  </script>
  <script async src="/pkg/reekolect-companion.js" data-proxy-url="/" data-batch-window-ms="50" data-request-timeout-ms="2000"></script>
  </head><body><p>include</p></body></html>`;

/** The trap page of forms.test.mjs: every kind of secret in every kind of field. */
const FORMS = `<!doctype html><html><head><meta charset="utf-8">
  <script src="/t/instrument.js"></script>
  ${WIDGET('formsBot,formsCustomer')}
  <script type="module">
    import { init } from '/pkg/index.js';
    window.rk = await init({ proxyUrl: '/', batchWindowMs: 50, captureForms: true });
  </script></head><body>
  <p id="banner">traps</p>
  <form id="traps">
    <label>E-mail address <span><input name="field_1" value=" Ada@Example.COM "></span></label>
    <label for="who">Your name</label><input id="who" name="field_2" value="Ada Lovelace">
    <input type="tel" name="contact" value="+44 20 7946 0958">
    <label>Nickname <input type="password" name="nickname" value="hunter2-secret"></label>
    <label>Promo code <input name="promo" autocomplete="cc-number" value="4111111111111111"></label>
    <label>Order reference <input name="reference" value="4111 1111 1111 1111"></label>
    <label>Account <input name="account" value="GB82 WEST 1234 5698 7654 32"></label>
    <label>Social <input name="ssn" value="078-05-1120"></label>
    <label>Code on the back <input name="cvc" value="737"></label>
    <input type="hidden" name="utm_source" value="utm-hidden-value">
    <input type="file" name="cv">
    <label>Ignored <input name="internal" data-reekolect-ignore value="ignored-value"></label>
    <label>Notes <textarea name="notes">Please call. My card is 5500 0055 5555 5559, exp 12/29.</textarea></label>
    <label>Budget <select name="budget"><option>small</option><option selected>large</option></select></label>
    <label>Channels <select name="channels" multiple><option selected>email</option><option>sms</option><option selected>phone</option></select></label>
    <input type="radio" name="size" value="s"><input type="radio" name="size" value="m" checked>
    <input type="checkbox" name="extras[]" value="pots" checked><input type="checkbox" name="extras[]" value="soil"><input type="checkbox" name="extras[]" value="care" checked>
    <label>Amex on file? <input name="backup_payment" value="pay with 378282246310005 thanks"></label>
    <button>Send</button>
  </form>
  <form id="ignored" data-reekolect-ignore><input name="email" value="ignored-form-value"><button>Send</button></form>
  <form id="leaves" action="/t/thanks.html" method="get">
    <input name="company" value="Analytical Engines Ltd"><input name="password" type="password" value="hunter2-secret">
    <button>Go</button>
  </form>
  <script>
    document.getElementById('traps').addEventListener('submit', function (e) { e.preventDefault(); window.siteHandled = true; });
    document.getElementById('ignored').addEventListener('submit', function (e) { e.preventDefault(); });
  </script>
  </body></html>`;

/**
 * A page of the site with the companion (ESM), holding updates for its longest batch window
 * so that they are still pending when the visitor leaves.
 */
const LEAVE = `<!doctype html><html><head><meta charset="utf-8">
  <script src="/t/instrument.js"></script>
  ${WIDGET('leaveBot,leaveCustomer')}
  <script type="module">
    import { init } from '/pkg/index.js';
    window.rk = await init({ proxyUrl: '/', batchWindowMs: 10000, requestTimeoutMs: 2000, retryBaseMs: 200, retryMaxMs: 400 });
  </script></head><body><p>leave</p></body></html>`;

/**
 * The include page in a sandboxed frame without allow-same-origin: an opaque origin, where
 * the browser itself blocks web storage and Web Locks. The frame reports what it saw.
 */
const FRAME = `<!doctype html><html><head><meta charset="utf-8"><script src="/t/instrument.js"></script>
  <script>addEventListener('message', function (e) { window.__frame = e.data; });</script></head>
  <body><iframe sandbox="allow-scripts" src="/t/include.html"></iframe></body></html>`;

/** A page of the site without the companion. */
const PLAIN = `<!doctype html><html><head><meta charset="utf-8"><script src="/t/instrument.js"></script></head>
  <body><p>plain</p></body></html>`;

/** Writes the test site; resolves to { dir, remove() }. */
export function makeTestSite() {
  const dir = mkdtempSync(join(tmpdir(), 'reekolect-site-'));
  cpSync(join(root, 'www'), dir, { recursive: true });
  mkdirSync(join(dir, 't'));
  const pages = {
    'instrument.js': INSTRUMENT, 'include.html': INCLUDE, 'forms.html': FORMS,
    'thanks.html': FORMS.replace('<p id="banner">traps</p>', '<p id="banner">thanks</p>'),
    'leave.html': LEAVE, 'plain.html': PLAIN, 'frame.html': FRAME,
  };
  for (const [name, text] of Object.entries(pages)) writeFileSync(join(dir, 't', name), text);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
