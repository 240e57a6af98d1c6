#!/usr/bin/env bash
# Segmentation and microstructure against their peers on the same synthetic electrode
# (peers/segmentation_bench.py): labelling (cc3d), EDT (edt), median 3×3×3 (scipy.ndimage),
# watershed (edt + scikit-image h_maxima + watershed), tortuosity (TauFactor CPU; PoreSpy
# tortuosity_fd up to 200³, against our percolating-only τ since PoreSpy fills isolated pores).
# Usage: Benchmarks/run_segmentation.sh [SIZES...]   (default: 200; TauFactor is skipped above 256)
set -euo pipefail
cd "$(dirname "$0")"
source prepare.sh numpy scipy scikit-image connected-components-3d edt taufactor==1.2.1 porespy==3.2.0 openpnm
mkdir -p data
for n in "${@:-200}"; do
  [ -f "data/electrode_${n}_mask.npy" ] || $PY peers/segmentation_bench.py make data "$n"
  ours=$($BENCH segmentation data "$n")
  flag=""; [ "$n" -gt 256 ] && flag=notau
  peers=$(cd peers && ../$PY segmentation_bench.py bench ../data "$n" $flag)
  echo "$ours"; echo "$peers"
  $PY - "$n" "$ours" "$peers" <<'PY'
import json, sys
# Only JSON lines count (PoreSpy logs warnings to stdout).
n, ours, peers = sys.argv[1], [json.loads(l) for l in sys.argv[2].splitlines() if l.startswith("{")], [json.loads(l) for l in sys.argv[3].splitlines() if l.startswith("{")]
mine = {o["op"]: o for o in ours}
for p in peers:
    o = mine["tortuosity" if p["op"] == "tortuosity_fd" else p["op"]]
    extra = f" (τ {o[p.get('compare', 'tau')]:.4f} vs {p['tau']:.4f})" if "tau" in p else ""
    print(f"| {n}³ {p['op']} | {o['seconds']:.3f} s | {p['seconds']:.3f} s ({p['peer']}) | {p['seconds']/o['seconds']:.2f}×{extra} |")
    if p["op"] == "tortuosity":
        t = mine["tortuosity_1e-5"]
        print(f"| {n}³ tortuosity, our tolerance 1e-5 | {t['seconds']:.3f} s | {p['seconds']:.3f} s ({p['peer']}) | {p['seconds']/t['seconds']:.2f}× (τ {t['tau']:.4f}) |")
PY
done
