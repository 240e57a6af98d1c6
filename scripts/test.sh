#!/usr/bin/env bash
# Runs the test suite (release build: numeric code is 10-100x slower in debug).
# Installs the Debian packages it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec swift test -c release "$@"
