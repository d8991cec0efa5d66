#!/usr/bin/env bash
# Installs what the build and the tests need, when it is missing. Idempotent; sourced by
# build.sh, start.sh and test.sh, so a fresh machine needs no other step.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  step "adding the Rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# The bundle rebuilds std from source (scripts/build.sh says why).
if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
  step "adding the Rust component rust-src"
  rustup component add rust-src
fi

# The CLI must be exactly the version of the wasm-bindgen crate in Cargo.lock.
wanted=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$wanted" ]; then
  step "installing wasm-bindgen-cli $wanted (have: ${have:-none}; takes a few minutes once)"
  # Not --locked: one of its locked dependency versions is no longer on the registry.
  cargo install wasm-bindgen-cli --version "$wanted"
fi

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  step "installing Debian's chromium and chromium-driver"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# Firefox ESR and WebKit for the cross-engine tests: Debian's browsers and WebKit's driver,
# Xvfb for WebKit's window, and geckodriver built from crates.io (its GitHub releases are
# out of reach on a closed network).
engines_missing=()
[ -x /usr/bin/firefox-esr ] || engines_missing+=(firefox-esr)
[ -x /usr/bin/WebKitWebDriver ] || engines_missing+=(webkit2gtk-driver)
[ -x /usr/bin/Xvfb ] || engines_missing+=(xvfb)
if [ ${#engines_missing[@]} -gt 0 ]; then
  step "installing Debian's ${engines_missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${engines_missing[@]}" >/dev/null
fi
if ! "${CARGO_HOME:-$HOME/.cargo}/bin/geckodriver" --version 2>/dev/null | grep -q '^geckodriver 0\.37\.1'; then
  step "installing geckodriver 0.37.1 (cargo install; takes a few minutes once)"
  cargo install geckodriver --version 0.37.1
fi

# npm ci when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# Edge layer (scripts/test-edge.sh): the Worker runs in workerd, the binary of the npm
# package `workerd` (its platform package comes from the npm registry with npm ci above).
# Checked by running it: an install without optional packages has no binary.
if ! node -e "require('child_process').execFileSync(require('workerd').default, ['--version'])" >/dev/null 2>&1; then
  step "installing npm packages (npm ci): the workerd binary is missing or does not run"
  npm ci --no-audit --no-fund --loglevel=error
fi

# --- Release and API contract (issue 16): the musl target and musl-gcc for the static
# proxy (scripts/release.sh), schemathesis pinned in a virtualenv (scripts/test-openapi.sh).
if ! rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
  step "adding the Rust target x86_64-unknown-linux-musl (the static proxy)"
  rustup target add x86_64-unknown-linux-musl
fi
if ! command -v musl-gcc >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  step "installing Debian's musl-tools and python3-venv"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq musl-tools python3-venv >/dev/null
fi
schemathesis_version=4.32.5
if [ "$(target/schemathesis-venv/bin/st --version 2>/dev/null | awk '{print $NF}')" != "$schemathesis_version" ]; then
  step "installing schemathesis $schemathesis_version from PyPI into target/schemathesis-venv"
  mkdir -p target
  python3 -m venv target/schemathesis-venv
  target/schemathesis-venv/bin/pip install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi
