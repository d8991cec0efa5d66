#!/usr/bin/env bash
# The production-shape benchmark: reekolect-proxy and nginx side by side, both forwarding
# PUT /lead with the token to the same local HTTPS upstream (its own CA, minted here with
# openssl; a fixed answer delay standing in for the internet; it counts connections and TLS
# handshakes), under keep-alive clients (wrk), rounds alternating between the servers.
# Loopback only; bounded (ROUNDS x servers x (2 s + DURATION)); everything started here is
# stopped by PID on exit.
#
# Usage: bench/proxy-production.sh
#   env: DURATION=10s ROUNDS=3 CONNECTIONS=400 THREADS=2 DELAY_MS=50 UPSTREAM_WORKERS=2
#        UPSTREAM_PORT=18443 NGINX_PORT=18444 PROXY_PORT=18445 (one port per proxy from there)
#        PROXIES="reekolect-proxy=target/release/reekolect-proxy other=/path/to/binary"
#        (several builds of the proxy, e.g. with and without a feature, measured in the same
#        rounds) SERVERS=all|nginx|proxies
#
# Per server: req/s, p50/p99 latency, added latency (p50 - DELAY_MS), server CPU (user +
# system, all processes and threads) per request, peak RSS (sum of the processes' VmHWM),
# upstream connections opened and TLS handshakes during its turns (each row: warm-up and
# run). The targets of issue 14 are checked at the end, each proxy against nginx.
set -euo pipefail

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-400}
DELAY_MS=${DELAY_MS:-50}
UPSTREAM_WORKERS=${UPSTREAM_WORKERS:-2}
UPSTREAM_PORT=${UPSTREAM_PORT:-18443}
NGINX_PORT=${NGINX_PORT:-18444}
PROXY_PORT=${PROXY_PORT:-18445}
SERVERS=${SERVERS:-all}
TOKEN=bench-token-$$-0123456789abcdef
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROXIES=${PROXIES:-"reekolect-proxy=$ROOT/target/release/reekolect-proxy"}
UPSTREAM_BIN="$ROOT/target/release/reekolect-bench-upstream"

say() { printf '%s\n' "$*" >&2; }

# 1. Tools: nginx, wrk, openssl and curl from Debian when missing.
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
for tool in wrk openssl curl; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} (apt)…"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# 2. Our binary and the upstream, optimised.
# (SKIP_BUILD=1: measure the binaries as they are, e.g. builds given in PROXIES.)
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  say "building reekolect-proxy and the bench upstream (release)…"
  (cd "$ROOT" && cargo build --quiet --release -p reekolect-proxy -p reekolect-bench-upstream)
fi

TMP=$(mktemp -d -t reekolect-production.XXXXXX)
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

# 3. A CA of its own, and the upstream's certificate for localhost and 127.0.0.1 (P-256).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -keyout "$TMP/ca.key" -out "$TMP/ca.pem" -subj "/CN=reekolect bench CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$TMP/upstream.key" -out "$TMP/upstream.csr" -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
  >"$TMP/upstream.ext"
openssl x509 -req -in "$TMP/upstream.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial -days 2 \
  -extfile "$TMP/upstream.ext" -out "$TMP/upstream.pem" 2>/dev/null

# 4. The upstream, shared by every server.
port_free "$UPSTREAM_PORT" || { say "port $UPSTREAM_PORT is busy (set UPSTREAM_PORT)"; exit 1; }
"$UPSTREAM_BIN" --listen "127.0.0.1:$UPSTREAM_PORT" --cert "$TMP/upstream.pem" --key "$TMP/upstream.key" \
  --token "$TOKEN" --delay-ms "$DELAY_MS" --workers "$UPSTREAM_WORKERS" >"$TMP/upstream.out" 2>"$TMP/upstream.log" &
UPSTREAM_PID=$!
PIDS+=($!)
wait_port "$UPSTREAM_PORT"
stats() { curl -sS --max-time 5 --cacert "$TMP/ca.pem" "https://localhost:$UPSTREAM_PORT/__stats"; }
stats >/dev/null || { say "the upstream does not answer over TLS"; cat "$TMP/upstream.log" >&2; exit 1; }

names=() ports=() pids=()

# 5. nginx: PUT /lead -> https://upstream/inbox/direct/lead with x-bp-token, the certificate
#    verified against the CA, a keep-alive pool big enough for every client (no connection
#    closed for want of a slot), TLS sessions reused; client keep-alive unbounded, as ours.
if [ "$SERVERS" != proxies ]; then
  port_free "$NGINX_PORT" || { say "port $NGINX_PORT is busy (set NGINX_PORT)"; exit 1; }
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
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  upstream api {
    server 127.0.0.1:$UPSTREAM_PORT;
    keepalive 1024;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location = /lead {
      limit_except PUT { deny all; }
      proxy_pass https://api/inbox/direct/lead;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host localhost;
      proxy_set_header x-bp-token $TOKEN;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate $TMP/ca.pem;
      proxy_ssl_name localhost;
      proxy_ssl_server_name on;
      proxy_ssl_session_reuse on;
    }
  }
}
EOF
  "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log" &
  PIDS+=($!)
  names+=(nginx) ports+=("$NGINX_PORT") pids+=($!)
  wait_port "$NGINX_PORT"
fi

# 6. The proxies: validation, allow-list and per-visitor limit on (put-lead.lua varies the
#    uuid over 65536 visitors); the per-IP limit off since every request comes from
#    127.0.0.1; request logging at warn, as nginx runs with access_log off.
if [ "$SERVERS" != nginx ]; then
  port=$PROXY_PORT
  for entry in $PROXIES; do
    name=${entry%%=*} bin=${entry#*=}
    [ -x "$bin" ] || { say "$name: no binary at $bin"; exit 1; }
    if ! "$bin" serve --help | grep -q -- '--upstream-ca'; then
      say "$name: this build cannot trust a private CA (no --upstream-ca): not measured"
      continue
    fi
    port_free "$port" || { say "port $port is busy (set PROXY_PORT)"; exit 1; }
    REEKOLECT_API_TOKEN=$TOKEN RUST_LOG=warn "$bin" serve --listen "127.0.0.1:$port" \
      --upstream "https://localhost:$UPSTREAM_PORT" --upstream-ca "$TMP/ca.pem" \
      --allow-bot benchbot:benchcustomer --ip-per-minute 0 --uuid-per-minute 600 --uuid-burst 50 \
      >"$TMP/$name.out" 2>"$TMP/$name.log" &
    PIDS+=($!)
    names+=("$name") ports+=("$port") pids+=($!)
    wait_port "$port"
    port=$((port + 1))
  done
fi
[ ${#names[@]} -gt 0 ] || { say "no server to measure"; exit 1; }

# 7. The load: PUT /lead with a valid JSON lead (bench/put-lead.lua).
cp "$ROOT/bench/put-lead.lua" "$TMP/put.lua"
seconds=${DURATION%s}
for i in "${!names[@]}"; do
  out=$(timeout 30 wrk -t1 -c4 -d1s -s "$TMP/put.lua" "http://127.0.0.1:${ports[$i]}" | grep '^RESULT' || true)
  errors=$(echo "$out" | awk '{print $6}')
  [ -n "$out" ] && [ "$errors" = 0 ] || {
    say "${names[$i]} answers errors: $out"; tail -n 20 "$TMP"/*.log >&2; exit 1; }
done
before=$(stats)
[[ "$before" == *"unauthorized=0"* ]] || { say "the token did not reach the upstream: $before"; exit 1; }

# CPU time (user + system, all threads) of a process and its children, in clock ticks.
cpu_ticks() { # pid
  local total=0 pid fields
  for pid in "$1" $(pgrep -P "$1" || true); do
    read -r -a fields <"/proc/$pid/stat" || continue
    total=$((total + fields[13] + fields[14]))
  done
  echo "$total"
}
# Peak resident memory of a process and its children (sum of VmHWM), in MB.
peak_rss_mb() { # pid
  local total=0 pid kb
  for pid in "$1" $(pgrep -P "$1" || true); do
    kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    total=$((total + ${kb:-0}))
  done
  awk -v kb="$total" 'BEGIN { printf "%.1f", kb / 1024 }'
}
stat_of() { echo "$1" | tr ' ' '\n' | awk -F= -v name="$2" '$1 == name { print $2 }'; }

run() { # index -> one row
  local name=${names[$1]} port=${ports[$1]} pid=${pids[$1]} up_before up_after ticks result
  up_before=$(stats)
  timeout 60 wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$TMP/put.lua" "http://127.0.0.1:$port" >/dev/null # warm-up
  ticks=$(cpu_ticks "$pid")
  result=$(timeout $((seconds + 60)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$TMP/put.lua" \
    "http://127.0.0.1:$port" | grep '^RESULT')
  ticks=$(($(cpu_ticks "$pid") - ticks))
  up_after=$(stats)
  # The stats request's own connection and handshake are not the server's.
  echo "$result" | awk -v name="$name" -v ticks="$ticks" -v hz="$(getconf CLK_TCK)" -v delay="$DELAY_MS" \
    -v conns=$(($(stat_of "$up_after" connections) - $(stat_of "$up_before" connections) - 1)) \
    -v hands=$(($(stat_of "$up_after" handshakes) - $(stat_of "$up_before" handshakes) - 1)) \
    -v reqs=$(($(stat_of "$up_after" requests) - $(stat_of "$up_before" requests))) \
    -v resumed=$(($(stat_of "$up_after" resumed) - $(stat_of "$up_before" resumed))) \
    '{ printf "%s %s %.2f %.1f %s\n", name, $2 " " $3 " " $4 " " $5 " " $6, $3 - delay, \
       ticks / hz * 1e6 / $5, conns " " hands " " reqs " " resumed }'
}

say "load: $(uptime)"
say "wrk: $THREADS threads, $CONNECTIONS connections, $DURATION each (after 2 s of warm-up), $ROUNDS rounds, on $(nproc) cores; upstream answers after $DELAY_MS ms"
rows=()
for round in $(seq 1 "$ROUNDS"); do
  order=("${!names[@]}")
  # Alternate: odd rounds in order, even rounds reversed, so that a machine that speeds up or
  # slows down during the benchmark (other tenants) does not favour whoever runs first.
  if [ $((round % 2)) -eq 0 ]; then
    order=(); for ((i = ${#names[@]} - 1; i >= 0; i--)); do order+=("$i"); done
  fi
  for i in "${order[@]}"; do rows+=("$round $(run "$i")"); done
done
say "load: $(uptime)"

rss=()
for i in "${!names[@]}"; do rss+=("${names[$i]}=$(peak_rss_mb "${pids[$i]}")"); done
final=$(stats)

# Columns: round, server, req/s, p50 ms, p99 ms, requests, errors, added ms (p50 - delay),
# server CPU µs per request, upstream connections opened, TLS handshakes (of which resumed),
# upstream requests.
printf '%-6s %-18s %9s %8s %8s %9s %7s %9s %11s %8s %11s %8s %9s\n' round server 'req/s' 'p50 ms' 'p99 ms' \
  requests errors 'added ms' 'cpu µs/req' 'up conns' 'handshakes' resumed 'up reqs'
printf '%s\n' "${rows[@]}" | awk '{ printf "%-6s %-18s %9s %8s %8s %9s %7s %9s %11s %8s %11s %8s %9s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $13, $12 }'
printf '%s\n' "${rows[@]}" | awk -v rss="${rss[*]}" -v final="$final" '
  BEGIN { k = split(rss, pairs, " "); for (i = 1; i <= k; i++) { split(pairs[i], kv, "="); peak[kv[1]] = kv[2] } }
  { who = $2; if (!(who in seen)) { seen[who] = 1; order[++m] = who }
    c = ++count[who]; req[who, c] = $3; p50[who, c] = $4; p99[who, c] = $5; added[who, c] = $8; cpu[who, c] = $9
    conns[who] += $10; hands[who] += $11; ups[who] += $12; resumed[who] += $13; errs[who] += $7 }
  function median(arr, who,   i, k, v, t, x) {
    k = count[who]; for (i = 1; i <= k; i++) v[i] = arr[who, i]
    for (i = 1; i <= k; i++) for (t = i + 1; t <= k; t++) if (v[t] < v[i]) { x = v[i]; v[i] = v[t]; v[t] = x }
    return k % 2 ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2
  }
  END {
    print ""
    for (i = 1; i <= m; i++) {
      w = order[i]
      printf "median %-18s %6.0f req/s, p50 %.1f ms (added %.2f ms), p99 %.1f ms, %.1f µs CPU/request, peak RSS %s MB; upstream: %d connections, %d TLS handshakes (%d resumed) for %d requests; %d errors\n",
        w, median(req, w), median(p50, w), median(added, w), median(p99, w), median(cpu, w), peak[w], conns[w], hands[w], resumed[w], ups[w], errs[w]
      mcpu[w] = median(cpu, w); mp99[w] = median(p99, w)
    }
    print "upstream over the whole run: " final
    if (!("nginx" in seen)) exit
    for (i = 1; i <= m; i++) {
      w = order[i]; if (w == "nginx") continue
      printf "targets, %s vs nginx: CPU/request %.1f vs %.1f µs: %s; peak RSS %s vs %s MB: %s; p99 %.1f vs %.1f ms: %s; handshakes %d <= connections %d: %s\n",
        w, mcpu[w], mcpu["nginx"], (mcpu[w] <= mcpu["nginx"] ? "met" : "MISSED"),
        peak[w], peak["nginx"], (peak[w] + 0 <= peak["nginx"] + 0 ? "met" : "MISSED"),
        mp99[w], mp99["nginx"], (mp99[w] <= mp99["nginx"] ? "met" : "MISSED"),
        hands[w], conns[w], (hands[w] <= conns[w] ? "met" : "MISSED")
    }
  }'
