// ESM entry of Reekolect Companion. Importing it starts the wasm download (once the page has
// loaded, at low priority: docs/loading.md); init() hands out companions. The literal
// `new URL('./…', import.meta.url)` is what bundlers (Vite, webpack, esbuild) recognise to
// ship the .wasm beside the app's code.
import { loader } from './load.js';

const load = loader(new URL('./reekolect_companion_bg.wasm', import.meta.url));

/**
 * Loads the companion (once per page) and returns a companion configured by `config`.
 * Rejects with an Error naming the option when the config is wrong, or saying why the
 * companion could not load (for example a Content-Security-Policy without 'wasm-unsafe-eval').
 */
export function init(config) {
  return load(config);
}
