#!/usr/bin/env bash
# The differential layer: the proxy's hand-written JSON reader and writer (proxy/lead-json)
# held to serde_json on 1,000,000 generated bodies, in release mode (the host layer's debug
# `cargo test` runs the same test on 20,000). The crate depends on the lead model and
# serde_json only, so its release build is small (about 20 s of CPU; the run about 12 s).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec cargo test --release -p reekolect-lead-json --test differential -- --nocapture
