#!/usr/bin/env bash
# Iterative reconstruction per iteration against ASTRA's CPU SIRT and CGLS (linear projector)
# on the same analytic disc sinogram, limited angle: 601 angles over 135° at 256² and 512², in
# one run. ASTRA's CPU solvers are 2D and single-threaded, so they run one slice; BatteryLens
# runs 32 slices (its projector works on 16 at once per core) and the ratio is per slice. TV
# (Chambolle–Pock, 10 iterations) is timed too, with the time of a whole state at 200 iterations.
# Usage: Benchmarks/run_iterative.sh
set -euo pipefail
cd "$(dirname "$0")"
source prepare.sh numpy scikit-image astra-toolbox

rows=()
case_iterative() {  # size angles range iterations-ours iterations-peer
  local ours peer
  ours=$($BENCH iterative "$1" "$2" "$3" 32 "$4")
  peer=$($PY peers/iterative_bench.py "$1" "$2" "$3" "$5")
  echo "$ours"; echo "$peer"
  while IFS= read -r line; do rows+=("$line"); done < <($PY - "$ours" "$peer" <<'PY'
import json, sys
ours, peer = json.loads(sys.argv[1]), json.loads(sys.argv[2])
pair = ours["projector_pair_seconds_per_slice"]
for name in ["sirt", "cgls"]:
    o, p = ours[f"{name}_seconds_per_iteration_per_slice"], peer[f"{name}_seconds_per_iteration_per_slice"]
    print(f"| {name.upper()} {ours['case']} | {1000*o:.1f} ms ({100*pair/o:.0f} % of it in one forward + back projection) | {1000*p:.1f} ms ({peer['peer']}) | {p/o:.1f}× |")
tv = ours.get("tv_seconds_per_iteration_per_slice")
if tv:
    size = int(ours["case"].split()[1].split("^")[0])
    whole = tv * size * 200 / 60
    print(f"| TV (Chambolle–Pock) {ours['case']} | {1000*tv:.1f} ms ({100*pair/tv:.0f} % in the projector pair); a whole {size}³ state at 200 iterations: {whole:.0f} min | — (ASTRA has no TV solver) | — |")
PY
)
}
case_iterative 256 601 135 20 5
case_iterative 512 601 135 10 3


{
  echo
  echo "## $(date -u +%Y-%m-%d) — iterative reconstruction, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo
  echo "\`Benchmarks/run_iterative.sh\`: seconds per iteration per slice, from zero, limited angle (601 angles over 135°)."
  echo
  echo "| case | BatteryLens per iteration per slice | peer | speed-up |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee -a RESULTS.md
