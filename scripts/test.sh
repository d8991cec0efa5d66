#!/usr/bin/env bash
# Every test, layer by layer: host (cargo test: lead rules, proxy over real sockets),
# browser (wasm-bindgen-test in headless Chromium and Firefox ESR), end to end (Playwright
# driving /usr/bin/chromium against the demo; the cross-engine scenarios also in Firefox ESR
# and WebKit over WebDriver), the edge Worker's contract, the API contract (schemathesis
# against /openapi.json), the release tarball (static binary, Dockerfile, systemd unit).
# Prints the count of each layer, of each engine, and a total.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh || exit 1

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
summary=()
declare -A engine_passed=() engine_failed=()
total_passed=0
total_failed=0
broken=0

# Sums cargo's "test result: … N passed; M failed" lines.
cargo_counts() { awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { print p + 0, f + 0 }' "$1"; }
# Reads node's TAP summary.
tap_counts() { awk '/^# pass / { p = $3 } /^# fail / { f = $3 } END { print p + 0, f + 0 }' "$1"; }

layer() { # name, counts-fn, log, exit-status[, engine]
  local name=$1 counter=$2 log=$3 status=$4 engine=${5:-} passed failed
  read -r passed failed < <("$counter" "$log")
  if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; broken=1; name="$name (did not run to the end: exit $status)"; fi
  summary+=("$(printf '%-44s %4d passed, %d failed' "$name" "$passed" "$failed")")
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  if [ -n "$engine" ]; then
    engine_passed[$engine]=$((${engine_passed[$engine]:-0} + passed))
    engine_failed[$engine]=$((${engine_failed[$engine]:-0} + failed))
  fi
}
geckodriver="${CARGO_HOME:-$HOME/.cargo}/bin/geckodriver"

echo "== host: cargo test (lead model and rules, proxy and mock API over 127.0.0.1)"
cargo test --no-fail-fast --workspace --exclude reekolect-companion 2>&1 | tee "$logs/host.log"
layer "host (cargo test)" cargo_counts "$logs/host.log" "${PIPESTATUS[0]}"

echo "== differential: the proxy's hand-written JSON vs serde_json (release, 1,000,000 bodies)"
bash scripts/test-differential.sh 2>&1 | tee "$logs/differential.log"
layer "differential (release, vs serde_json)" cargo_counts "$logs/differential.log" "${PIPESTATUS[0]}"

# The runner picks its driver from CHROMEDRIVER or GECKODRIVER (webdriver.json holds both
# browsers' options); each run names one, or it would take the first driver on PATH.
echo "== browser: wasm-bindgen-test in headless Chromium"
env -u GECKODRIVER CHROMEDRIVER=/usr/bin/chromedriver \
  cargo test --no-fail-fast --target wasm32-unknown-unknown -p reekolect-companion 2>&1 | tee "$logs/browser.log"
layer "browser (wasm-bindgen-test, Chromium)" cargo_counts "$logs/browser.log" "${PIPESTATUS[0]}" chromium

echo "== browser: wasm-bindgen-test in headless Firefox ESR"
env -u CHROMEDRIVER GECKODRIVER="$geckodriver" \
  cargo test --no-fail-fast --target wasm32-unknown-unknown -p reekolect-companion 2>&1 | tee "$logs/browser-firefox.log"
layer "browser (wasm-bindgen-test, Firefox ESR)" cargo_counts "$logs/browser-firefox.log" "${PIPESTATUS[0]}" firefox

echo "== end to end: build, then Playwright against the demo"
if bash scripts/build.sh 2>&1 | tee "$logs/build.log"; then
  E2E_ENGINE=chromium node --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$logs/e2e.tap" \
    tests/e2e/*.test.mjs
  layer "end to end (Playwright, Chromium)" tap_counts "$logs/e2e.tap" "$?" chromium
  # The scenarios written once for every engine (tests/e2e/engines.mjs), over WebDriver here.
  for engine in firefox webkit; do
    echo "== end to end: the cross-engine scenarios in $engine (WebDriver)"
    E2E_ENGINE=$engine GECKODRIVER="$geckodriver" node --test --test-concurrency=1 \
      --test-reporter=spec --test-reporter-destination=stdout \
      --test-reporter=tap --test-reporter-destination="$logs/e2e-$engine.tap" \
      tests/e2e/scenarios.test.mjs tests/e2e/failsoft.test.mjs
    layer "end to end (WebDriver, $engine)" tap_counts "$logs/e2e-$engine.tap" "$?" "$engine"
  done
  echo "== size budget (a benchmark figure, not a timing)"
  if node bench/check-size.mjs; then size_status="within budget"; else size_status="OVER BUDGET"; broken=1; fi
else
  layer "end to end (build failed)" tap_counts /dev/null 1
fi

echo "== edge: the Worker (edge/) in workerd; one contract run against it and the proxy"
bash scripts/test-edge.sh "$logs/edge.tap"; layer "edge (contract: proxy + Worker; demo via Worker)" tap_counts "$logs/edge.tap" "$?"

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
for engine in chromium firefox webkit; do
  printf '%-44s %4d passed, %d failed\n' "engine: $engine" "${engine_passed[$engine]:-0}" "${engine_failed[$engine]:-0}"
done
echo "size: ${size_status:-not measured (build failed)}"
echo "total: ${total_passed} passed, ${total_failed} failed"
[ "$total_failed" -eq 0 ] && [ "$broken" -eq 0 ]
