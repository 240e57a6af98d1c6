#!/usr/bin/env bash
# Electrode tortuosity τ_e against TauFactor 2's ElectrodeSolver (torch, CPU) on crops of the
# MATBOX pore phase, along array axis 0, in one run.
# Usage: Benchmarks/run_electrode.sh
set -euo pipefail
cd "$(dirname "$0")"
source prepare.sh numpy tifffile torch taufactor
data=../../shared/data/microstructure/matbox_nmc-1-cal_generatedCBD_bridge.tif
{
  echo
  echo "## $(date -u +%Y-%m-%d) — electrode tortuosity, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo
  echo "\`Benchmarks/run_electrode.sh\`: MATBOX pore phase crops. TauFactor: \`ElectrodeSolver(img, device=cpu).solve()\` (SOR at ω = 10⁻⁶, then 10⁻⁷ until τ_e settles). BatteryLens: the ω → 0 limit by one multigrid-CG solve, best of 3."
  echo
  echo "| crop | BatteryLens | TauFactor | speed-up | τ_e (ours / TauFactor) |"
  echo "|---|---|---|---|---|"
} | tee -a RESULTS.md
for crop in 0:48,0:48,0:48 0:64,0:64,0:64; do
  ours=$($BENCH electrode "$data" "$crop")
  peer=$($PY - "$data" "$crop" <<'PY' | tail -1
import json, sys, time, numpy as np, tifffile, torch, taufactor
lab = tifffile.imread(sys.argv[1])
s = tuple(slice(int(a), int(b)) for a, b in (p.split(":") for p in sys.argv[2].split(",")))
img = (lab[s] == 0).astype(np.float64)
t = time.perf_counter()
solver = taufactor.ElectrodeSolver(img, device=torch.device("cpu"))
solver.solve(verbose=False)
print(json.dumps({"seconds": time.perf_counter() - t, "tau_e": float(solver.tau_e)}))
PY
)
  python3 - "$crop" "$ours" "$peer" <<'PY' | tee -a RESULTS.md
import json, sys
o, p = json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"| {sys.argv[1]} | {o['seconds']:.3f} s | {p['seconds']:.1f} s | {p['seconds'] / o['seconds']:.0f}× | {o['tau_e']:.4f} / {p['tau_e']:.4f} |")
PY
done
