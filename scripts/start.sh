#!/usr/bin/env bash
# The demo: builds everything, then runs the proxy with its embedded mock of the Reekolect
# API and the demo site on one origin. Ctrl-C stops it. PORT/HOST change the address.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/build.sh
address="${HOST:-127.0.0.1}:${PORT:-8080}"
cat >&2 <<MSG

  Demo site:   http://${address}/
  Leads inbox: http://${address}/inbox.html
  (open the chat bubble on the site, send the form, watch the lead arrive in the inbox)

MSG
exec target/release/reekolect-proxy serve --listen "$address" --upstream mock --www www
