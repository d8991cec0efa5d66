#!/usr/bin/env bash
# The release as a site owner gets it: `scripts/release.sh` (incremental: the musl build
# happens once), then the tarball checked against its .sha256 and unpacked in an empty
# directory, and the binary run with an empty environment (`env -i`): not dynamic, --version,
# --help, `serve --upstream mock` answering a PUT, the Dockerfile's own HEALTHCHECK command,
# the token read from a systemd credential named as the unit names it, and the unit verified
# by systemd-analyze when it is installed. Prints `# pass N` / `# fail N` for test.sh.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

passed=0
failed=0
check() { # description, command…
  local what=$1
  shift
  if "$@" >"$work/check.out" 2>&1; then
    echo "ok - $what"
    passed=$((passed + 1))
  else
    echo "not ok - $what"
    sed 's/^/    /' "$work/check.out" | tail -20
    failed=$((failed + 1))
  fi
}
finish() {
  echo "release: ${passed} passed, ${failed} failed"
  echo "# pass ${passed}"
  echo "# fail ${failed}"
  [ "$failed" -eq 0 ]
  exit
}

work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

tarball=$(bash scripts/release.sh | tail -1)
check "scripts/release.sh packs the proxy" test -f "$tarball"
[ -f "$tarball" ] || finish
name=$(basename "$tarball" .tar.gz)
check "the tarball is named reekolect-proxy-<version>-x86_64-linux-musl.tar.gz" \
  grep -qE '^reekolect-proxy-[0-9]+\.[0-9]+\.[0-9]+-x86_64-linux-musl$' <<<"$name"
check "its .sha256 verifies" bash -c "cd '$(dirname "$tarball")' && sha256sum -c '$name.tar.gz.sha256'"

mkdir "$work/empty"
tar -xzf "$tarball" -C "$work/empty"
dir="$work/empty/$name"
bin="$dir/reekolect-proxy"
check "it holds the binary, README.md, LICENSE, Dockerfile and the systemd unit" \
  bash -c "cd '$dir' && ls | sort | tr '\n' ' ' | grep -qx 'Dockerfile LICENSE README.md reekolect-proxy reekolect-proxy.service '"
check "ldd: not dynamic (no shared library)" bash -c "out=\$(ldd '$bin' 2>&1); echo \"\$out\"; ! grep -q '=>' <<<\"\$out\" && grep -Eq 'not a dynamic executable|statically linked' <<<\"\$out\""
check "env -i reekolect-proxy --version" bash -c "env -i '$bin' --version | grep -qx 'reekolect-proxy [0-9.]*'"
check "env -i reekolect-proxy --help lists serve, mock-api, leads and healthcheck" \
  bash -c "out=\$(env -i '$bin' --help) && for c in serve mock-api leads healthcheck; do grep -q \"^  \$c \" <<<\"\$out\" || exit 1; done"

# Starts a server in the background with an empty environment plus the given variables and
# sets `url` to its URL (from its first line). Not called as $(start …): a subshell would keep
# the server's PID from `pids`, and cleanup would leave the server running.
start() { # log, env assignments…, --, args…
  local log=$1 vars=()
  shift
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  env -i "${vars[@]}" "$bin" "$@" >"$log.out" 2>"$log.err" &
  pids+=($!)
  for _ in $(seq 100); do grep -q 'listening on' "$log.out" 2>/dev/null && break; sleep 0.1; done
  url=$(sed -n 's/.* listening on \(http:[^ ]*\).*/\1/p' "$log.out")
}
put_lead() { # base URL; prints the status
  node -e '
    const lead = { uuid: "7e88d192-9b20-4035-9b68-d4ac3d58a34f", botId: "relBot", customerId: "relCustomer", name: "Release Test" };
    fetch(process.argv[1] + "/lead", { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(lead) })
      .then(async (r) => { console.log(r.status); if (r.status !== 200) console.error(await r.text()); })
      .catch((e) => { console.log("error " + e.message); });' "$1"
}
export -f put_lead

start "$work/mock-mode" -- serve --listen 127.0.0.1:0 --upstream mock; base=$url
check "env -i reekolect-proxy serve --upstream mock answers a PUT /lead with 200" bash -c "[ \"\$(put_lead '$base')\" = 200 ]"

# The Dockerfile: FROM scratch, a non-root numeric user, EXPOSE the port of its REEKOLECT_LISTEN,
# every COPY source in the tarball, and a HEALTHCHECK that runs the binary.
dockerfile="$dir/Dockerfile"
check "Dockerfile: FROM scratch" grep -qx 'FROM scratch' "$dockerfile"
check "Dockerfile: a non-root user" bash -c "grep -Eq '^USER [1-9][0-9]*(:[1-9][0-9]*)?$' '$dockerfile'"
check "Dockerfile: EXPOSE the port it listens on" bash -c \
  "port=\$(sed -n 's/.*REEKOLECT_LISTEN=[^ ]*:\([0-9]*\).*/\1/p' '$dockerfile') && grep -qx \"EXPOSE \$port\" '$dockerfile'"
check "Dockerfile: every COPY source is in the tarball" bash -c \
  "grep '^COPY ' '$dockerfile' | while read -r _ args; do set -- \$args; while [ \$# -gt 1 ]; do [ -e '$dir'/\$1 ] || exit 1; shift; done; done"
health=$(sed -n 's/.*CMD \["\/reekolect-proxy", \(.*\)\]$/\1/p' "$dockerfile" | tr -d '",')
check "Dockerfile: HEALTHCHECK runs the binary itself ($health)" test -n "$health"
port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
start "$work/health" REEKOLECT_LISTEN="127.0.0.1:$port" -- serve --upstream mock
# shellcheck disable=SC2086
check "the HEALTHCHECK command succeeds against a running proxy" env -i REEKOLECT_LISTEN="127.0.0.1:$port" "$bin" $health
kill "${pids[-1]}" 2>/dev/null; wait "${pids[-1]}" 2>/dev/null
# shellcheck disable=SC2086
check "…and fails once it is stopped" bash -c "! env -i REEKOLECT_LISTEN=127.0.0.1:$port '$bin' $health --timeout 2s"

# The systemd unit: hardened, and its credential is the one the binary reads.
unit="$dir/reekolect-proxy.service"
for setting in DynamicUser=yes ProtectSystem=strict NoNewPrivileges=yes; do
  check "unit: $setting" grep -qx "$setting" "$unit"
done
credential=$(sed -n 's/^LoadCredential=\([^:]*\):.*/\1/p' "$unit")
token="release-test-token-0123456789abcdef"
start "$work/mock-api" REEKOLECT_API_TOKEN="$token" -- mock-api --listen 127.0.0.1:0; mock=$url
mkdir -m 700 "$work/credentials" && printf '%s\n' "$token" >"$work/credentials/$credential"
start "$work/credential" CREDENTIALS_DIRECTORY="$work/credentials" REEKOLECT_ALLOW_BOTS=relBot:relCustomer -- \
  serve --listen 127.0.0.1:0 --upstream "$mock"
proxy=$url
check "the token comes from \$CREDENTIALS_DIRECTORY/$credential (LoadCredential): the upstream takes the PUT" \
  bash -c "[ -n '$proxy' ] && [ \"\$(put_lead '$proxy')\" = 200 ]"
if command -v systemd-analyze >/dev/null; then
  sed "s#^ExecStart=/usr/local/bin/reekolect-proxy#ExecStart=$bin#" "$unit" >"$work/reekolect-proxy.service"
  check "systemd-analyze verify the unit" bash -c \
    "out=\$(systemd-analyze verify --man=no '$work/reekolect-proxy.service' 2>&1); echo \"\$out\"; ! grep -i 'reekolect-proxy.service' <<<\"\$out\""
else
  echo "# skip: systemd-analyze is not installed"
fi
finish
