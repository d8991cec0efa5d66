// ESM entry of Reekolect Companion: loads the wasm once, then hands out companions.
import loadWasm, { createCompanion } from './reekolect_companion.js';

let loading;

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

/**
 * Loads the companion (once per page) and returns a companion configured by `config`.
 * Rejects with an Error naming the option when the config is wrong, or saying why the
 * companion could not load (for example a Content-Security-Policy without 'wasm-unsafe-eval').
 */
export async function init(config) {
  loading ??= loadWasm().catch((error) => {
    loading = undefined; // let a later call try again
    throw explain(error);
  });
  await loading;
  return createCompanion(config);
}
