#!/usr/bin/env bash
# Builds the companion (wasm + JS) into dist/ and www/pkg/, and the proxy binary.
# `build.sh companion` builds the companion only (what `npm pack` needs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

step() { printf '\033[1m[build]\033[0m %s\n' "$*" >&2; }

step "companion (release wasm)"
# std is rebuilt with panics that abort at once: no panic messages, locations or formatting
# machinery in the bundle (10 % of it, measured). RUSTC_BOOTSTRAP lets the stable toolchain
# use build-std; only this build sees it, in its own target dir, so no other build changes.
# No panic locations or Debug formatting either (0.7 KB), and LLVM inlines nothing on its own
# (0.3 KB; wasm-opt still inlines what pays, and the bench shows no slower call).
# Without the reference-types and multi-value features, wasm-bindgen keeps JS values in its
# JS-side table instead of an externref table with a wasm shim per export and import, and
# returns through memory: 1.2 KB smaller gzipped (glue and wasm together), same behaviour.
RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none -Cllvm-args=-inline-threshold=0 -Ctarget-feature=-reference-types,-multivalue" \
  cargo build --quiet --profile wasm-release --target wasm32-unknown-unknown -p reekolect-companion \
  -Zbuild-std=std,panic_abort --target-dir target/bundle
# wasm-bindgen's glue and our entries meet in a staging dir; dist/ gets one JS file per
# entry (loader, glue and API bundled) and the .wasm: two requests from tag to ready.
glue=target/bundle/glue
rm -rf dist "$glue" && mkdir -p dist "$glue"
# --encode-into always: every browser the companion supports has TextEncoder#encodeInto, so the
# glue needs no fallback for strings passed to wasm (45 B).
wasm-bindgen --target web --encode-into always --out-dir "$glue" target/bundle/wasm32-unknown-unknown/wasm-release/reekolect_companion.wasm
# The npm binaryen's wasm-opt: Debian's older one corrupts modules from this Rust.
# --low-memory-unused: the stack comes first (addresses 0 to 1 MiB, growing down from the top),
# so the low 1 KiB is never used and constant offsets fold into loads and stores (0.4 KB).
# -ocimfs 20 (--one-caller-inline-max-function-size): a function called from one place is
# inlined only when it is tiny. Inlining every single-caller function (the default) made the
# module smaller raw but 2.3 KB larger gzipped: each call site got its own copy of code that
# compresses well when it stays one shared function. -Os rather than -Oz: 0.1 KB less with it;
# -aimfs 3 (always inline functions up to 3 bytes, default 2): 0.05 KB less.
node_modules/.bin/wasm-opt -Os -ocimfs 20 -aimfs 3 --converge --low-memory-unused --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-reference-types --enable-multivalue --enable-mutable-globals --strip-producers --strip-target-features \
  -o "$glue/reekolect_companion_bg.wasm" "$glue/reekolect_companion_bg.wasm"
node scripts/shorten-wasm-names.mjs "$glue"
cp js/index.js js/load.js js/reekolect-companion.js "$glue/"
cp js/index.d.ts "$glue/reekolect_companion_bg.wasm" dist/
# What browsers download is minified (3 KB less gzipped); the types keep their docs.
# The ESM entry stays a module (bundlers see its `new URL('./….wasm', import.meta.url)`); the
# include is a classic script, where the glue's fallback URL from import.meta is never used.
esbuild() { node_modules/.bin/esbuild --bundle --minify --log-level=warning "$@"; }
esbuild "$glue/index.js" --format=esm --outfile=dist/index.js
esbuild "$glue/reekolect-companion.js" --format=iife --define:import.meta.url=undefined --outfile=dist/reekolect-companion.js
rm -rf www/pkg && cp -r dist www/pkg

if [ "${1:-all}" != companion ]; then
  step "proxy (release)"
  cargo build --quiet --release -p reekolect-proxy
fi

wasm_bytes=$(stat -c %s dist/reekolect_companion_bg.wasm)
js_bytes=$(wc -c < dist/reekolect-companion.js)
gz_bytes=$(node -e "import('./bench/payload.mjs').then((m) => console.log(m.scriptPayloadGzip()))")
step "companion: wasm ${wasm_bytes} B + js ${js_bytes} B = ${gz_bytes} B gzipped (as bench/check-size.mjs counts)"
