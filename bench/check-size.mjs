// Size budget check: gzip -9 size of what a `<script>` user downloads (reekolect-companion.js,
// which bundles loader, API and glue, and reekolect_companion_bg.wasm; each file compressed
// on its own, then summed), measured from dist/ as it is — nothing is rebuilt, nothing is timed.
// Exits 1 when over bench/size-budget.json's scriptPayloadGzipBytes, 2 when dist/ is missing.
// Run: node bench/check-size.mjs
import { readFileSync } from 'node:fs';
import { scriptPayloadGzip, dist, SCRIPT_FILES } from './payload.mjs';

const budgetFile = new URL('./size-budget.json', import.meta.url);
const budget = JSON.parse(readFileSync(budgetFile, 'utf8')).scriptPayloadGzipBytes;
if (!Number.isInteger(budget) || budget <= 0) {
  console.error(`bench/size-budget.json: scriptPayloadGzipBytes must be a positive integer, found ${budget}`);
  process.exit(2);
}

let actual;
try {
  actual = scriptPayloadGzip(dist);
} catch (error) {
  console.error(`cannot measure: ${error.message}\n(build first: bash scripts/build.sh companion; needs ${SCRIPT_FILES.join(', ')} in dist/)`);
  process.exit(2);
}

console.log(`size: ${actual} B gzipped (budget ${budget} B)`);
if (actual > budget) {
  const over = actual - budget;
  console.error(`over budget by ${over} B (${((100 * over) / budget).toFixed(1)} %).
Shrink the payload, or — if the growth is deliberate — raise the budget on purpose: set
"scriptPayloadGzipBytes" in bench/size-budget.json to the new size plus headroom
(e.g. ${Math.ceil(actual * 1.02)} = ${actual} + 2 %), update "measured" to ${actual}, say why in "note",
and commit that change with the code that needs it.`);
  process.exit(1);
}
