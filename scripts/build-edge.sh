#!/usr/bin/env bash
# Builds the Cloudflare Worker (edge/) into edge/dist/: the edge crate's wasm, its
# wasm-bindgen glue and the JS entry, and prints the bundle's size against the platform's
# limit (3 MB compressed on the free plan). Its own target dir (target/edge): the companion's
# bundle (target/bundle) and the host builds are not touched.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\033[1m[build-edge]\033[0m %s\n' "$*" >&2; }

step "worker (wasm, opt-level z)"
# opt-level "z" (the workspace's wasm-release profile): 93 KB gzipped against 111 KB at "3"
# (measured), so less to load and compile at each cold start; a request's work is microseconds.
cargo build --quiet --profile wasm-release --target wasm32-unknown-unknown -p reekolect-edge --target-dir target/edge
out=edge/dist
rm -rf "$out" && mkdir -p "$out"
wasm-bindgen --target web --out-dir "$out" --no-typescript target/edge/wasm32-unknown-unknown/wasm-release/reekolect_edge.wasm
# The npm binaryen's wasm-opt, as for the companion (Debian's is too old for this Rust).
node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-reference-types --enable-multivalue --enable-mutable-globals --strip-producers --strip-debug \
  -o "$out/reekolect_edge_bg.wasm" "$out/reekolect_edge_bg.wasm"
cp edge/js/worker.mjs "$out/"

# The companion's files, served by the same deploy as static assets under the route's path
# (REEKOLECT_BASE_PATH of edge/wrangler.toml): a site with nowhere to host files includes
# <script src="/reekolect/reekolect-companion.js" data-proxy-url="/reekolect">.
if [ ! -f dist/reekolect-companion.js ]; then
  bash scripts/build.sh companion
fi
base=$(sed -n 's/^REEKOLECT_BASE_PATH = "\/*\([^"]*\)"$/\1/p' edge/wrangler.toml)
assets="$out/assets/${base:-reekolect}"
mkdir -p "$assets"
cp dist/reekolect-companion.js dist/index.js dist/reekolect_companion_bg.wasm "$assets/"

# The Worker itself is these three files; the platform limits their gzip size (static assets
# are not part of it).
files=("$out/worker.mjs" "$out/reekolect_edge.js" "$out/reekolect_edge_bg.wasm")
raw=$(cat "${files[@]}" | wc -c)
gz=$(cat "${files[@]}" | gzip -9 | wc -c)
limit=$((3 * 1024 * 1024))
step "worker bundle: ${raw} B, ${gz} B gzipped (wasm $(stat -c %s "$out/reekolect_edge_bg.wasm") B); free plan limit ${limit} B gzipped"
if [ "$gz" -gt "$limit" ]; then
  echo "the worker bundle is over the free plan's 3 MB compressed limit" >&2
  exit 1
fi
