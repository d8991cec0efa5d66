#!/usr/bin/env bash
# Benchmark: reekolect-proxy (validation on) vs nginx, both forwarding PUT /lead with the
# token header to the embedded mock API, on loopback. Everything started here is stopped
# (by PID) on exit. Usage: bench/proxy-vs-nginx.sh   (env: DURATION=10s ROUNDS=3 THREADS=2 CONNECTIONS=64)
set -euo pipefail

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
MOCK_PORT=${MOCK_PORT:-18090}
PROXY_PORT=${PROXY_PORT:-18081}
NGINX_PORT=${NGINX_PORT:-18082}
TOKEN=bench-token-$$-0123456789
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/target/release/reekolect-proxy"

say() { printf '%s\n' "$*" >&2; }

# 1. Tools: nginx and wrk from Debian when missing.
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} (apt)…"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# 2. Our binary, optimised.
say "building reekolect-proxy (release)…"
(cd "$ROOT" && cargo build --quiet --release -p reekolect-proxy)

TMP=$(mktemp -d -t reekolect-bench.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  say "nothing listens on 127.0.0.1:$1"; return 1
}
for port in "$MOCK_PORT" "$PROXY_PORT" "$NGINX_PORT"; do
  port_free "$port" || { say "port $port is busy (set MOCK_PORT/PROXY_PORT/NGINX_PORT)"; exit 1; }
done

# 3. The mock upstream, shared by both.
REEKOLECT_API_TOKEN=$TOKEN RUST_LOG=warn "$BIN" mock-api --listen "127.0.0.1:$MOCK_PORT" \
  >"$TMP/mock.out" 2>"$TMP/mock.log" &
MOCK_PID=$!
PIDS+=($!)
wait_port "$MOCK_PORT"

# 4. Our proxy: validation on, allow-list on, per-visitor limit on (the Lua script varies
#    the uuid over 65536 visitors); the per-IP limit is off since every request comes from
#    127.0.0.1. Request logging at warn, as nginx runs with access_log off.
REEKOLECT_API_TOKEN=$TOKEN RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:$PROXY_PORT" \
  --upstream "http://127.0.0.1:$MOCK_PORT" --allow-bot benchbot:benchcustomer \
  --ip-per-minute 0 --uuid-per-minute 600 --uuid-burst 50 \
  >"$TMP/proxy.out" 2>"$TMP/proxy.log" &
PROXY_PID=$!
PIDS+=($!)
wait_port "$PROXY_PORT"

# 5. nginx, same forward: PUT /lead -> /inbox/direct/lead with x-bp-token, keepalive pool.
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  client_max_body_size 64k;
  upstream mock { server 127.0.0.1:$MOCK_PORT; keepalive 128; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location = /lead {
      limit_except PUT { deny all; }
      proxy_pass http://mock/inbox/direct/lead;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header x-bp-token $TOKEN;
    }
  }
}
EOF
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log" &
NGINX_PID=$!
PIDS+=($!)
wait_port "$NGINX_PORT"

# 6. The load: PUT /lead with a valid JSON lead, uuid varied per request (bench/put-lead.lua).
cp "$ROOT/bench/put-lead.lua" "$TMP/put.lua"

# Check both answer 200 before measuring.
for port in "$PROXY_PORT" "$NGINX_PORT"; do
  out=$(wrk -t1 -c1 -d1s -s "$TMP/put.lua" "http://127.0.0.1:$port" | grep '^RESULT')
  errors=$(echo "$out" | awk '{print $6}')
  [ "$errors" = 0 ] || { say "127.0.0.1:$port answers errors: $out"; cat "$TMP"/*.log >&2; exit 1; }
done

# CPU time (user + system, all threads) of a process and its children, in clock ticks: what a
# request costs the server, whatever else the machine is doing.
cpu_ticks() { # pid
  local total=0 pid fields
  for pid in "$1" $(pgrep -P "$1" || true); do
    read -r -a fields <"/proc/$pid/stat" || continue
    total=$((total + fields[13] + fields[14]))
  done
  echo "$total"
}

run() { # name port pid
  local before mock_before result
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$TMP/put.lua" "http://127.0.0.1:$2" >/dev/null # warm-up
  before=$(cpu_ticks "$3")
  mock_before=$(cpu_ticks "$MOCK_PID")
  result=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$TMP/put.lua" "http://127.0.0.1:$2" \
    | grep '^RESULT' | sed "s/^RESULT/$1/")
  echo "$result" | awk -v ticks=$(($(cpu_ticks "$3") - before)) -v mock=$(($(cpu_ticks "$MOCK_PID") - mock_before)) \
    -v hz="$(getconf CLK_TCK)" '{ printf "%s %.1f %.1f\n", $0, ticks / hz * 1e6 / $5, mock / hz * 1e6 / $5 }'
}
say "wrk: $THREADS threads, $CONNECTIONS connections, $DURATION each, $ROUNDS rounds, on $(nproc) cores"
direct=$(LEAD_PATH=/inbox/direct/lead wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$TMP/put.lua" \
  -H "x-bp-token: $TOKEN" "http://127.0.0.1:$MOCK_PORT" 2>/dev/null | grep '^RESULT' || true)

# Rounds, the order swapped each round, so that a machine that speeds up or slows down during
# the benchmark (other tenants, frequency) does not favour whichever server runs first.
rows=()
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) -eq 1 ]; then
    rows+=("$round $(run nginx "$NGINX_PORT" "$NGINX_PID")" "$round $(run reekolect-proxy "$PROXY_PORT" "$PROXY_PID")")
  else
    rows+=("$round $(run reekolect-proxy "$PROXY_PORT" "$PROXY_PID")" "$round $(run nginx "$NGINX_PORT" "$NGINX_PID")")
  fi
done

# cpu: the server's CPU time (user + system, all threads) per request; mock cpu: the mock
# upstream's, which depends on what the server sends it (both share this machine's 2 cores).
printf '%-6s %-16s %10s %9s %9s %10s %7s %12s %13s\n' round target 'req/s' 'p50 ms' 'p99 ms' requests errors 'cpu µs/req' 'mock µs/req'
printf '%-6s %-16s %10s %9s %9s %10s %7s %12s %13s\n' ${rows[@]}
# Per round: ours/nginx for req/s and CPU; then the medians of each server's figures.
printf '%s\n' "${rows[@]}" | awk '
  { req[$2, $1] = $3; p50[$2, $1] = $4; p99[$2, $1] = $5; cpu[$2, $1] = $8; mock[$2, $1] = $9; n = $1 > n ? $1 : n }
  function median(arr, who,   i, k, v, t) {
    k = 0; for (i = 1; i <= n; i++) v[++k] = arr[who, i]
    for (i = 1; i <= k; i++) for (t = i + 1; t <= k; t++) if (v[t] < v[i]) { x = v[i]; v[i] = v[t]; v[t] = x }
    return k % 2 ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2
  }
  END {
    for (i = 1; i <= n; i++)
      printf "round %d: ratio ours/nginx req/s %.2f, CPU per request %.2f\n", i,
        req["reekolect-proxy", i] / req["nginx", i], cpu["reekolect-proxy", i] / cpu["nginx", i]
    split("nginx reekolect-proxy", who, " ")
    for (w = 1; w <= 2; w++)
      printf "median %-16s %8.0f req/s, p50 %.2f ms, p99 %.2f ms, %.1f µs CPU/request (the mock behind it %.1f)\n",
        who[w], median(req, who[w]), median(p50, who[w]), median(p99, who[w]), median(cpu, who[w]), median(mock, who[w])
    printf "ratio ours/nginx (req/s, medians of %d rounds): %.2f\n", n, median(req, "reekolect-proxy") / median(req, "nginx")
    printf "server CPU per request, ours/nginx (medians): %.2f (user + system time of the server processes)\n",
      median(cpu, "reekolect-proxy") / median(cpu, "nginx")
  }'
echo "note: the mock alone (wrk straight to it, its PUT path only) did $(echo "$direct" | awk '{print $2}') req/s"
