#!/usr/bin/env bash
# Runs the test suite (release build: numeric code is 10-100x slower in debug).
# Installs the Debian packages it needs first. Everything is built first (the executables too:
# the interrupt and fuzz tests run `batterylens` and `lens-fuzz` from beside the test bundle).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
swift build -c release --build-tests
# One test at a time: the memory-bound tests read the process's peak resident memory, which
# tests running beside them would inflate (about a minute in all on 2 cores).
exec swift test -c release --skip-build --no-parallel "$@"
