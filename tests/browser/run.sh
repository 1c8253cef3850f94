#!/usr/bin/env bash
# The browser end-to-end tests: Debian's Chromium driven by playwright-core against the real
# `gridwatch demo`. CI calls this after building the binary (`cargo build --bin gridwatch`).
#
#   tests/browser/run.sh            # from anywhere
#
# Environment: GRIDWATCH_BIN (the binary; default target/debug/gridwatch), CHROMIUM (default
# /usr/bin/chromium), SCREENSHOTS_DIR (default tests/browser/screenshots).
# Needs node and npm, and chromium (apt-get install -y chromium chromium-driver); as root it
# installs what is missing. Exits non-zero when a test fails.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

need_apt=()
command -v node >/dev/null && command -v npm >/dev/null || need_apt+=(nodejs npm)
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || need_apt+=(chromium chromium-driver)
fc-list 2>/dev/null | grep -qi 'cjk' || need_apt+=(fonts-noto-cjk)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing: ${need_apt[*]} (install them with apt-get)" >&2
    exit 1
  fi
fi

major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "node $(node --version) is too old: playwright-core needs node 20 or newer" >&2
  exit 1
fi

if [ -z "${GRIDWATCH_BIN:-}" ]; then
  GRIDWATCH_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/gridwatch"
fi
if [ ! -x "$GRIDWATCH_BIN" ]; then
  echo "building the gridwatch binary"
  (cd "$root" && cargo build --bin gridwatch)
fi
export GRIDWATCH_BIN

npm ci --no-audit --no-fund --loglevel=error
export SCREENSHOTS_DIR="${SCREENSHOTS_DIR:-$here/screenshots}"
mkdir -p "$SCREENSHOTS_DIR"
node --test --test-reporter=spec tests/
echo "screenshots: $SCREENSHOTS_DIR"
