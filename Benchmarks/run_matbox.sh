#!/usr/bin/env bash
# Real electrode: the MATBOX NMC cathode (../shared/data/microstructure, labels 0 pore, 1 NMC,
# 2 CBD) through our phase fractions, local thickness and tortuosity and PoreSpy's/TauFactor's
# (peers/matbox_bench.py). Local thickness is reported as PoreSpy defines it: the diameter in
# voxels of the largest inscribed ball, swept over 25 radii.
# Usage: Benchmarks/run_matbox.sh
set -euo pipefail
cd "$(dirname "$0")"
source prepare.sh numpy scipy tifffile taufactor==1.2.1 porespy==3.2.0 openpnm
FILE=../../shared/data/microstructure/matbox_nmc-1-cal_generatedCBD_bridge.tif
ours=$($BENCH matbox "$FILE")
peers=$(cd peers && ../$PY matbox_bench.py "../$FILE")
echo "$ours"; echo "$peers"
$PY - "$ours" "$peers" <<'PY'
import json, sys
ours = {o["op"]: o for o in (json.loads(l) for l in sys.argv[1].splitlines() if l.startswith("{"))}
for p in (json.loads(l) for l in sys.argv[2].splitlines() if l.startswith("{")):
    o = ours[p["op"]]
    if p["op"] == "fractions":
        print(f"| MATBOX fractions | pore {o['pore']:.4f}, NMC {o['nmc']:.4f}, CBD {o['cbd']:.4f} | pore {p['pore']:.4f}, NMC {p['nmc']:.4f}, CBD {p['cbd']:.4f} | — |")
    elif "tau" in p:
        print(f"| MATBOX {p['op']} | {o['seconds']:.2f} s, τ {o['tau']:.4f} | {p['seconds']:.2f} s ({p['peer']}), τ {p['tau']:.4f} | {p['seconds']/o['seconds']:.2f}× |")
    else:
        print(f"| MATBOX {p['op']} | {o['seconds']:.2f} s, mean {o['mean']:.3f}, median {o['median']:.3f} | {p['seconds']:.2f} s ({p['peer']}), mean {p['mean']:.3f}, median {p['median']:.3f} | {p['seconds']/o['seconds']:.2f}× |")
PY
