#!/usr/bin/env bash
# Every test, layer by layer: host (cargo test: lead rules, proxy over real sockets),
# browser (wasm-bindgen-test in headless Chromium), end to end (Playwright driving
# /usr/bin/chromium against the demo), the API contract (schemathesis against /openapi.json),
# the release tarball (static binary, Dockerfile, systemd unit). Prints each layer's count and a total.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh || exit 1

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
summary=()
total_passed=0
total_failed=0
broken=0

# Sums cargo's "test result: … N passed; M failed" lines.
cargo_counts() { awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { print p + 0, f + 0 }' "$1"; }
# Reads node's TAP summary.
tap_counts() { awk '/^# pass / { p = $3 } /^# fail / { f = $3 } END { print p + 0, f + 0 }' "$1"; }

layer() { # name, counts-fn, log, exit-status
  local name=$1 counter=$2 log=$3 status=$4 passed failed
  read -r passed failed < <("$counter" "$log")
  if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; broken=1; name="$name (did not run to the end: exit $status)"; fi
  summary+=("$(printf '%-44s %4d passed, %d failed' "$name" "$passed" "$failed")")
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
}

echo "== host: cargo test (lead model and rules, proxy and mock API over 127.0.0.1)"
cargo test --no-fail-fast --workspace --exclude reekolect-companion 2>&1 | tee "$logs/host.log"
layer "host (cargo test)" cargo_counts "$logs/host.log" "${PIPESTATUS[0]}"

echo "== browser: wasm-bindgen-test in headless Chromium"
cargo test --no-fail-fast --target wasm32-unknown-unknown -p reekolect-companion 2>&1 | tee "$logs/browser.log"
layer "browser (wasm-bindgen-test, Chromium)" cargo_counts "$logs/browser.log" "${PIPESTATUS[0]}"

echo "== end to end: build, then Playwright against the demo"
if bash scripts/build.sh 2>&1 | tee "$logs/build.log"; then
  node --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$logs/e2e.tap" \
    tests/e2e/*.test.mjs
  layer "end to end (Playwright, Chromium)" tap_counts "$logs/e2e.tap" "$?"
  echo "== size budget (a benchmark figure, not a timing)"
  if node bench/check-size.mjs; then size_status="within budget"; else size_status="OVER BUDGET"; broken=1; fi
else
  layer "end to end (build failed)" tap_counts /dev/null 1
fi

# Issue 16: the API contract (schemathesis) and the release tarball, each its own script.
echo "== API contract: schemathesis --checks all against serve --upstream mock"
bash scripts/test-openapi.sh 2>&1 | tee "$logs/openapi.log"
layer "api contract (schemathesis)" tap_counts "$logs/openapi.log" "${PIPESTATUS[0]}"
echo "== release: the static proxy tarball, unpacked and run under env -i"
bash scripts/test-release.sh 2>&1 | tee "$logs/release.log"
layer "release (static proxy, Docker, systemd)" tap_counts "$logs/release.log" "${PIPESTATUS[0]}"

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
echo "size: ${size_status:-not measured (build failed)}"
echo "total: ${total_passed} passed, ${total_failed} failed"
[ "$total_failed" -eq 0 ] && [ "$broken" -eq 0 ]
