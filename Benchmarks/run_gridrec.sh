#!/usr/bin/env bash
# Fourier gridding (recon --algorithm gridrec) against BatteryLens's own back projector on the
# disc phantom: 512² × 720 and 2048² × 1500 angles, 16 slices each (the back projector's full
# width on 2 cores: 8 slices per core), in one run. No Python peer: the comparison the issue
# asks for is gridding vs our FBP; FBP vs scikit-image/ASTRA/algotom is run_fbp.sh's.
# Usage: Benchmarks/run_gridrec.sh
set -euo pipefail
cd "$(dirname "$0")"
source prepare.sh
small=$($BENCH gridrec 512 720 16 2)
large=$($BENCH gridrec 2048 1500 16 1)
echo "$small"; echo "$large"
{
  echo
  echo "## $(date -u +%Y-%m-%d) — gridrec vs back projection, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo
  echo "\`Benchmarks/run_gridrec.sh\`: 16 slices of the disc phantom, Shepp–Logan, both on 2 cores."
  echo
  echo "| case | back projection (FBP) | gridding | speed-up | RMS difference |"
  echo "|---|---|---|---|---|"
  python3 - "$small" "$large" <<'PY'
import json, sys
for line in sys.argv[1:]:
    d = json.loads(line)
    print(f"| {d['case']} | {d['fbp_seconds']:.2f} s | {d['gridrec_seconds']:.2f} s | {d['speedup']:.2f}× | {d['rms_difference']:.2e} |")
PY
} | tee -a RESULTS.md
