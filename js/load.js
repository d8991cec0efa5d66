// Loading the wasm, shared by both entries (bundled into each by scripts/build.sh): the
// download is started by the entry itself, not by the first init() call, so the page's
// own code never delays it; and it waits for the page to have loaded, so it never delays
// the page.
import instantiate, { createCompanion } from './reekolect_companion.js';

/** A load failure in words a site owner can act on. */
function explain(error) {
  if (typeof WebAssembly !== 'object') {
    return new Error('Reekolect: this browser runs no WebAssembly (turned off, as in some lockdown or hardened modes)');
  }
  const text = String(error && error.message || error);
  if (/Content Security Policy|unsafe-eval|CompileError/i.test(text) || (error && error.name === 'CompileError')) {
    return new Error("Reekolect: this page's Content-Security-Policy blocks WebAssembly: add 'wasm-unsafe-eval' to script-src (" + text + ')');
  }
  return new Error('Reekolect: the companion could not load: ' + text);
}

/** At the latest this long after the entry ran, the download starts: a page whose load never ends still gets its companion. */
const MAX_WAIT_MS = 3000;

/**
 * Resolves when the page no longer needs the network for itself: at once when it has loaded
 * (or is no page), else after its load event and the frame that follows, when what it
 * shows has been painted (a hidden tab paints no frames: 100 ms after load then).
 */
function pageLoaded() {
  if (typeof document === 'undefined' || document.readyState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    setTimeout(resolve, MAX_WAIT_MS);
    addEventListener('load', () => {
      if (typeof requestAnimationFrame === 'function') requestAnimationFrame(() => setTimeout(resolve, 0));
      setTimeout(resolve, 100);
    }, { once: true });
  });
}

/**
 * Downloads the wasm at `url`, at low priority. The credentials mode is fetch's default, the
 * one `<link rel="preload" as="fetch" crossorigin>` uses, so a preload of the same URL is
 * reused. A failure is reported by init(), never left unhandled.
 */
function download(url) {
  let response;
  try {
    response = Promise.resolve(fetch(url, { priority: 'low' }));
  } catch (error) {
    response = Promise.reject(error); // no fetch at all: init() says so
  }
  response.catch(() => {});
  return response;
}

/**
 * Starts the download of the wasm at `url` and returns `init(config)`, which instantiates it
 * once per page and returns a companion configured by `config`. The download starts now if
 * the page has loaded, else as soon as it has (so the companion never takes bandwidth or a
 * connection from what the page needs to render); a `<link rel="preload">` of the .wasm
 * starts it with the page instead. A failed load rejects with an explained Error, and a
 * later init() downloads again.
 */
export function loader(url) {
  let response = pageLoaded().then(() => download(url));
  response.catch(() => {});
  let loading;
  return async function init(config) {
    if (!loading) {
      const source = response || download(url);
      response = undefined; // a body is read once: a retry downloads again
      loading = instantiate({ module_or_path: source }).catch((error) => {
        loading = undefined;
        throw explain(error);
      });
    }
    await loading;
    return createCompanion(config);
  };
}
