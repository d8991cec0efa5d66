// ESM entry of Reekolect Companion: loads the wasm once, then hands out companions.
import loadWasm, { createCompanion } from './reekolect_companion.js';

let loading;

/**
 * Loads the companion (once per page) and returns a companion configured by `config`.
 * Rejects with an Error naming the option when the config is wrong.
 */
export async function init(config) {
  loading ??= loadWasm().catch((error) => {
    loading = undefined; // let a later call try again
    throw error;
  });
  await loading;
  return createCompanion(config);
}
