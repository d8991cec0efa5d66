#!/usr/bin/env bash
# `npm run release`: the proxy as one static Linux x86-64 binary (musl, no libc needed),
# packed with its README, the license, a Dockerfile and a systemd unit as
# target/release-pack/reekolect-proxy-<version>-x86_64-linux-musl.tar.gz, plus its .sha256.
# C dependencies (mimalloc; ring once rustls uses it) are compiled with Debian's musl-gcc.
# Incremental: a second run with nothing changed only re-packs (scripts/test-release.sh
# relies on that, so `npm test` builds the binary once).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\033[1m[release]\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

target=x86_64-unknown-linux-musl
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  step "adding the Rust target $target"
  rustup target add "$target"
fi
if ! command -v musl-gcc >/dev/null; then
  step "installing Debian's musl-tools (musl-gcc, for the C dependencies)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq musl-tools >/dev/null
fi

version=$(awk -F'"' '/^version = / { print $2; exit }' proxy/Cargo.toml)
name="reekolect-proxy-${version}-x86_64-linux-musl"
out=target/release-pack

step "building reekolect-proxy ${version} for ${target} (release)"
start=$(date +%s)
# cc-rs builds C code for this target with these; the static C runtime is musl's.
CC_x86_64_unknown_linux_musl=musl-gcc AR_x86_64_unknown_linux_musl=ar \
  cargo build --release --locked --target "$target" -p reekolect-proxy
step "built in $(($(date +%s) - start)) s"

binary="target/${target}/release/reekolect-proxy"
# ldd names no shared library for a static binary ("not a dynamic executable", or
# "statically linked" for a static PIE).
if ldd "$binary" 2>&1 | grep -q '=>'; then
  echo "release: $binary is dynamically linked: $(ldd "$binary" 2>&1 | tr '\n' ' ')" >&2
  exit 1
fi

rm -rf "${out:?}/${name}" && mkdir -p "${out}/${name}"
cp "$binary" "${out}/${name}/reekolect-proxy"
strip "${out}/${name}/reekolect-proxy"
cp proxy/README.md "${out}/${name}/README.md"
cp LICENSE deploy/Dockerfile deploy/reekolect-proxy.service "${out}/${name}/"
# Reproducible: fixed order, owner and time (the last commit's).
mtime=$(git log -1 --format=%ct 2>/dev/null || echo 0)
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@${mtime}" \
  -C "$out" -czf "${out}/${name}.tar.gz" "$name"
(cd "$out" && sha256sum "${name}.tar.gz" > "${name}.tar.gz.sha256")
step "$(cd "$out" && cat "${name}.tar.gz.sha256") ($(stat -c %s "${out}/${name}.tar.gz") bytes)"
echo "${out}/${name}.tar.gz"
