#!/usr/bin/env bash
# Builds BatteryLens (release) and runs the main job: `batterylens demo`, the whole chain on
# built-in synthetic data, ending in a report (demo-output/report/index.html and summary.json).
# Extra arguments go to `batterylens demo` (e.g. --out DIR --size small).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
swift build -c release --product batterylens
exec .build/release/batterylens demo "$@"
