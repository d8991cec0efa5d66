#!/usr/bin/env bash
# The API contract layer: schemathesis (pinned, from PyPI, in target/schemathesis-venv) runs
# every check it has against `reekolect-proxy serve --upstream mock` and the document the
# proxy serves at /openapi.json: each generated request, valid or not by the document, must
# get an answer the document allows, and valid ones must be accepted, invalid ones refused.
# Prints `# pass N` / `# fail N` (generated cases passed, unique failures) for test.sh.
#
# The proxy runs with its rate limits off and a 16 MiB body limit: 429 and 413 are documented,
# but here every schema-valid body must reach the mock (the largest valid lead is ~8 MB).
# /demo/chaos runs apart, without the "valid data accepted" check: its rates' sum must be at
# most 1, a rule JSON Schema cannot state (the document says so; the proxy answers 400).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

st=target/schemathesis-venv/bin/st
seed=${ST_SEED:-20261201}
examples=${ST_EXAMPLES:-200}
bin=${PROXY_BIN:-target/release/reekolect-proxy}
[ -n "${PROXY_BIN:-}" ] || cargo build --quiet --release -p reekolect-proxy || exit 1

work=$(mktemp -d)
proxy_pid=
cleanup() { [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$bin" serve --listen 127.0.0.1:0 --upstream mock \
  --ip-per-minute 0 --uuid-per-minute 0 --max-body-bytes 16777216 >"$work/proxy.out" 2>"$work/proxy.err" &
proxy_pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/proxy.out" && break; sleep 0.1; done
base=$(sed -n 's/^reekolect-proxy listening on \(http:[^ ]*\).*/\1/p' "$work/proxy.out")
if [ -z "$base" ]; then echo "the proxy did not start:"; cat "$work/proxy.err"; echo "# pass 0"; echo "# fail 1"; exit 1; fi

passed=0
failed=0
status=0
run() { # label, schemathesis options…
  local label=$1 log="$work/st.log"
  shift
  echo "-- schemathesis: $label"
  (cd "$work" && "$OLDPWD/$st" run "$base/openapi.json" --no-color --seed "$seed" \
    --generation-database none --max-examples "$examples" "$@") >"$log" 2>&1
  local code=$?
  sed -n '/FAILURES\|SUMMARY/,$p' "$log"
  local cases fails
  cases=$(awk '/^ *[0-9]+ generated/ { print $1 }' "$log")
  fails=$(awk '/unique failure/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^unique/) print $i }' "$log" | tail -1)
  if [ -z "$cases" ]; then cat "$log"; cases=0; fi
  fails=${fails:-0}
  if [ "$code" -ne 0 ] && [ "$fails" -eq 0 ]; then fails=1; fi
  passed=$((passed + cases - fails))
  failed=$((failed + fails))
  [ "$code" -eq 0 ] || status=1
}

run "every route but /demo/chaos, --checks all" --checks all --exclude-path /demo/chaos
run "/demo/chaos, --checks all but positive_data_acceptance" --checks all \
  --exclude-checks positive_data_acceptance --include-path /demo/chaos

if [ $((passed + failed)) -lt 1000 ]; then
  echo "schemathesis generated $((passed + failed)) cases: fewer than the 1000 this layer promises"
  failed=$((failed + 1))
  status=1
fi
echo "schemathesis: ${passed} generated cases passed, ${failed} failures (seed ${seed})"
echo "# pass ${passed}"
echo "# fail ${failed}"
exit "$status"
