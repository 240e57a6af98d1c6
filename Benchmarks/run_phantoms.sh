#!/usr/bin/env bash
# The phantom issue's performance target: a 512³ electrode and its 720 parallel projections at
# 512² on this machine (target: under a minute), plus the 256³ demo-scale phantom. No Python
# peer: the target is absolute. Appends to RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")"
source prepare.sh
big=$($BENCH phantom-scan 512 720)
small=$($BENCH phantom-scan 256 360)
echo "$big"; echo "$small"
python3 - "$big" "$small" <<'PY' >> RESULTS.md
import json, subprocess, sys, datetime
rows = [json.loads(a) for a in sys.argv[1:]]
cpu = subprocess.run("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2", shell=True, capture_output=True, text=True).stdout.strip()
print(f"\n## {datetime.date.today()} — phantoms, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores, {cpu}\n")
print("| case | electrode | projections + detector | total | peak memory |")
print("|---|---|---|---|---|")
for r in rows:
    print(f"| {r['case']} ({int(r['particles'])} particles) | {r['electrode_seconds']:.1f} s | {r['scan_seconds']:.1f} s | {r['total_seconds']:.1f} s | {r['peak_resident_gib']:.1f} GiB |")
PY
echo "appended to Benchmarks/RESULTS.md"
