#!/usr/bin/env bash
# Makes sure the system packages the test suite runs against are present.
# redis-server backs the Upstash/Vercel KV driver tests (a real Redis);
# chromium drives the consent page test (a real browser).
set -euo pipefail
updated=0
apt_install() {
  if [ "$updated" = 0 ]; then apt-get update -qq; updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing redis-server (Debian package) for the storage tests"
    apt_install redis-server
  else
    echo "[setup] redis-server is required by the storage tests: install it (e.g. sudo apt-get install redis-server)" >&2
    exit 1
  fi
fi
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing chromium (Debian package) for the consent page test"
    apt_install chromium
  else
    echo "[setup] /usr/bin/chromium is required by tests/consent_chromium_test.ts (e.g. sudo apt-get install chromium)" >&2
    exit 1
  fi
fi
