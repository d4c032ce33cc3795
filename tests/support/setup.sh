#!/usr/bin/env bash
# Makes sure the system packages the test suite runs against are present.
# redis-server backs the Upstash/Vercel KV driver tests (a real Redis).
set -euo pipefail
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing redis-server (Debian package) for the storage tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "[setup] redis-server is required by the storage tests: install it (e.g. sudo apt-get install redis-server)" >&2
    exit 1
  fi
fi
