#!/usr/bin/env bash
# The edge layer: builds the Cloudflare Worker (scripts/build-edge.sh), then runs, in one
# node --test run (TAP to $1 when given):
#   - tests/contract/*.test.mjs: one set of HTTP cases against both the Rust proxy and the
#     Worker in workerd, each in front of the embedded mock (and stand-in upstreams), and a
#     check that they answered alike; the Worker's own cases (rate-limit bindings, base path);
#   - tests/edge/*.test.mjs: the deployed layout (the companion's files as the Worker's static
#     assets, data-proxy-url="/reekolect") in Chromium;
#   - tests/e2e/demo.test.mjs with REEKOLECT_E2E_TARGET=edge: the demo's Playwright flow with
#     the Worker in front of the mock.
# Needs the release proxy and www/pkg (scripts/build.sh; built here when missing).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tap=${1:-/dev/null}

if [ ! -x target/release/reekolect-proxy ] || [ ! -f www/pkg/index.js ]; then
  bash scripts/build.sh || exit 1
fi
bash scripts/build-edge.sh || exit 1
REEKOLECT_E2E_TARGET=edge node --test --test-concurrency=1 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" \
  tests/contract/*.test.mjs tests/edge/*.test.mjs tests/e2e/demo.test.mjs
