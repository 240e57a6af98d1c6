#!/usr/bin/env bash
# Steady-state tortuosity of TauFactor's 256³ electrode (pore phase, array axis 0) against
# TauFactor 2's Solver on the CPU, in one run: the whole command for us (read, solve), the
# solver for TauFactor (its default convergence 1e-2).
# Usage: Benchmarks/run_tortuosity.sh
set -euo pipefail
cd "$(dirname "$0")"
source prepare.sh numpy tifffile torch taufactor
data=../../shared/data/microstructure/taufactor_electrode_256.tiff
lens=../.build/release/batterylens
[ -x "$lens" ] || (cd .. && swift build -c release --product batterylens >/dev/null)
# Best of three for us (the first run after a build pays for the page cache and fresh memory),
# at the default tolerance (1e-5) and at 1e-4 (still 5× inside the issue's ±0.05 % of
# TauFactor's τ; TauFactor's own criterion is 1e-2).
best() {
  local seconds= t start
  for run in 1 2 3; do
    start=$(date +%s.%N)
    $lens tortuosity "$data" --labels-scheme taufactor-8bit --phase pore --axis z --quiet "$@" > /tmp/batterylens-tortuosity-run.txt
    t=$(echo "$(date +%s.%N) - $start" | bc)
    if [ -z "$seconds" ] || [ "$(echo "$t < $seconds" | bc)" = 1 ]; then seconds=$t; fi
  done
  echo "$seconds"
}
seconds=$(best)
ours=$(cat /tmp/batterylens-tortuosity-run.txt)
loose=$(best --tolerance 1e-4)
ours_loose=$(cat /tmp/batterylens-tortuosity-run.txt)
peer=$($PY - "$data" <<'PY' | tail -1
import json, sys, time, numpy as np, tifffile, torch, taufactor
img = tifffile.imread(sys.argv[1])
pore = (img == img.min()).astype(np.float64) if len(np.unique(img)) > 1 else img
for crit in (1e-2,):
    t = time.perf_counter()
    s = taufactor.Solver(pore, device=torch.device("cpu"))
    s.solve(verbose=False, conv_crit=crit)
    print(json.dumps({"conv": crit, "seconds": time.perf_counter() - t, "tau": float(np.asarray(s.tau).ravel()[0])}))
PY
)
{
  echo
  echo "## $(date -u +%Y-%m-%d) — steady-state tortuosity, TauFactor's 256³ electrode, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo
  echo "\`Benchmarks/run_tortuosity.sh\`: pore phase along array axis 0. BatteryLens: the whole \`batterylens tortuosity\` command (read, label, assemble, multigrid-preconditioned flexible CG until the adjoint-corrected D_eff's estimated error is below the tolerance), best of 3. BatteryLens: $ours"
  echo
  echo "At \`--tolerance 1e-4\`: $ours_loose"
  echo
  echo "| TauFactor criterion | TauFactor | τ | BatteryLens tolerance | BatteryLens | speed-up |"
  echo "|---|---|---|---|---|---|"
  echo "$peer" | python3 -c "
import json, sys
for line in sys.stdin:
    p = json.loads(line)
    for tol, ours in (('1e-5 (default)', $seconds), ('1e-4', $loose)):
        print(f\"| {p['conv']:g} | {p['seconds']:.1f} s | {p['tau']:.4f} | {tol} | {ours:.2f} s | {p['seconds'] / ours:.1f}× |\")
"
} | tee -a RESULTS.md
