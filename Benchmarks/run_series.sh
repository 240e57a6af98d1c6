#!/usr/bin/env bash
# The damage-and-4D chain on five phantom cycling states (Tomo 00–04) of N³ (default 512) with
# a median particle diameter of DIAMETER µm (default 18: about 2,000 particles at 512³, 0.5 µm
# voxels): rigid registration of states 1–4 to state 0, particle tracking through the five,
# crack analysis of every state — timed, with the breakdown. No Python peer (no open tool does
# this chain); the registration step alone is compared with spam in run_register.sh.
# Usage: Benchmarks/run_series.sh [N] [DIAMETER]
set -euo pipefail
cd "$(dirname "$0")"
n=${1:-512}; diameter=${2:-18}
set --   # prepare.sh takes its arguments as the venv's packages: none here
source prepare.sh
result=$($BENCH series "$n" "$diameter")
echo "$result"
{
  echo
  echo "## $(date -u +%Y-%m-%d) — damage chain on 5 cycling states, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo
  echo "\`Benchmarks/run_series.sh $n $diameter\`"
  echo
  echo "| case | registration (4 pairs) | tracking | cracks (5 states) | chain | peak memory |"
  echo "|---|---|---|---|---|---|"
  python3 - "$result" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
print(f"| {d['case']} | {d['registration_seconds']:.1f} s | {d['tracking_seconds']:.1f} s | {d['cracks_seconds']:.1f} s | {d['chain_seconds']:.1f} s | {d['peak_memory_mib'] / 1024:.1f} GiB |")
PY
} | tee -a RESULTS.md
