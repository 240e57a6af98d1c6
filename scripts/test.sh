#!/usr/bin/env bash
# Runs the test suite (release build: numeric code is 10-100x slower in debug).
# Installs the Debian packages it needs first. Everything is built first (the executables too:
# the interrupt and fuzz tests run `batterylens` and `lens-fuzz` from beside the test bundle).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# The report test renders the demo's page in headless Chromium (Debian's package); without it
# that check is skipped with a message.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test: installing chromium for the report's browser check"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
    || { apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; } \
    || echo "test: could not install chromium; the browser check will be skipped"
fi
swift build -c release --build-tests
# One test at a time: the memory-bound tests read the process's peak resident memory, which
# tests running beside them would inflate (about a minute in all on 2 cores).
exec swift test -c release --skip-build --no-parallel "$@"
