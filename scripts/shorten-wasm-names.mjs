// Gives the wasm module's imports and exports one- or two-letter names, and the JS glue
// the same ones. wasm-bindgen names them after Rust paths and hashes (up to 300 characters
// each, about 150 of them), which both the .wasm and the glue carry: 3 KB of the gzipped bundle.
//
// Usage: node scripts/shorten-wasm-names.mjs <dir>   (after wasm-bindgen, before esbuild)
// Runs binaryen's wasm-opt pass on <dir>/reekolect_companion_bg.wasm and rewrites
// <dir>/reekolect_companion.js and .d.ts. Fails loudly when a name is not where the glue
// is expected to use it, so a wasm-bindgen upgrade that changes the glue cannot ship a
// module whose imports no longer match.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node scripts/shorten-wasm-names.mjs <dir>');
  process.exit(2);
}
const wasmFile = join(dir, 'reekolect_companion_bg.wasm');
const glueFile = join(dir, 'reekolect_companion.js');
const typesFile = join(dir, 'reekolect_companion.d.ts');
const MODULE = './reekolect_companion_bg.js';

const wasmOpt = new URL('../node_modules/.bin/wasm-opt', import.meta.url).pathname;
const features = ['--enable-bulk-memory', '--enable-nontrapping-float-to-int', '--enable-sign-ext',
  '--enable-reference-types', '--enable-multivalue', '--enable-mutable-globals'];
const map = JSON.parse(execFileSync(wasmOpt,
  [...features, '--minify-imports-and-exports-and-modules', '-o', wasmFile, wasmFile], { encoding: 'utf8' }));

const module = new WebAssembly.Module(readFileSync(wasmFile));
const modules = new Set(WebAssembly.Module.imports(module).map((i) => i.module));
if (modules.size !== 1) throw new Error(`expected one import module after shortening, found ${[...modules]}`);
const [newModule] = modules;

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
function replaceAll(text, pattern, replacement, what) {
  let count = 0;
  const result = text.replace(pattern, (...args) => {
    count++;
    return typeof replacement === 'function' ? replacement(...args) : replacement;
  });
  if (count === 0) throw new Error(`${what}: not found in the glue`);
  return result;
}

let glue = readFileSync(glueFile, 'utf8');
let types = readFileSync(typesFile, 'utf8');
glue = replaceAll(glue, new RegExp(`"${escape(MODULE)}":`, 'g'), JSON.stringify(newModule) + ':', `module ${MODULE}`);
for (const [from, name, to] of map.imports) {
  if (from !== MODULE) throw new Error(`unexpected import module ${from}`);
  // Keys of the import object: `__wbg_get_556f…: function(…)`.
  glue = replaceAll(glue, new RegExp(`^(\\s+)${escape(name)}:`, 'gm'), (_, indent) => indent + JSON.stringify(to) + ':', `import ${name}`);
}
for (const [name, to] of map.exports) {
  if (!new RegExp(`\\bwasm\\.${escape(name)}\\b`).test(glue)) continue; // an export the glue never calls
  const key = /^[A-Za-z_$][\w$]*$/.test(to) ? `.${to}` : `[${JSON.stringify(to)}]`;
  glue = replaceAll(glue, new RegExp(`\\bwasm\\.${escape(name)}\\b`, 'g'), `wasm${key}`, `export ${name}`);
  types = types.replace(new RegExp(`readonly ${escape(name)}:`, 'g'), `readonly ${JSON.stringify(to)}:`);
}
writeFileSync(glueFile, glue);
writeFileSync(typesFile, types);
console.error(`[build] shortened ${map.imports.length} import and ${map.exports.length} export names`);
