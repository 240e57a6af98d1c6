#!/usr/bin/env bash
# Compton event histogramming against NumPy bincount on the same event file (10⁸ phantom
# events), the 10⁹-event run (time and peak memory: constant), and the per-pixel fit of 6 400
# spectra. Usage: Benchmarks/run_compton.sh [SCRATCH_DIR]   (writes 1.2 GB and 12 GB event files)
set -euo pipefail
cd "$(dirname "$0")"
SCRATCH="${1:-$(pwd)/data}"
mkdir -p "$SCRATCH"
source prepare.sh numpy
small=$($BENCH compton-events "$SCRATCH" 100)
big=$($BENCH compton-events "$SCRATCH" 1000)
cat "$small" > /dev/null   # warm the page cache for both sides alike
ours=$($BENCH compton-histogram "$small" none)
peer=$($PY peers/compton_histogram.py "$small")
discriminate=$($BENCH compton-histogram "$small" discriminate)
billion=$($BENCH compton-histogram "$big" discriminate)
fit=$($BENCH compton-fit "$small")
printf '%s\n' "$ours" "$peer" "$discriminate" "$billion" "$fit"
$PY - "$ours" "$peer" "$discriminate" "$billion" "$fit" <<'PY' >> RESULTS.md
import json, subprocess, sys, datetime
ours, peer, disc, billion, fit = (json.loads(a) for a in sys.argv[1:])
cpu = subprocess.run("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2", shell=True, capture_output=True, text=True).stdout.strip()
print(f"\n## {datetime.date.today()} — Compton, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores, {cpu}\n")
print("| case | BatteryLens | peer | speed-up |")
print("|---|---|---|---|")
print(f"| histogram {ours['events']/1e6:.0f} M events, 80×80 × 1300 bins, no charge sharing | {ours['events_per_second']/1e6:.1f} M events/s | "
      f"{peer['events_per_second']/1e6:.1f} M events/s (numpy bincount) | {ours['events_per_second']/peer['events_per_second']:.1f}× |")
print(f"| same, charge-sharing discrimination (3×3, per frame) | {disc['events_per_second']/1e6:.1f} M events/s | – | – |")
print(f"| {billion['events']/1e9:.2f} × 10⁹ events, discrimination | {billion['seconds']:.0f} s, peak memory {billion['peak_resident_gib']:.2f} GiB | – | – |")
print(f"| per-pixel peak fit + S, 80×80 spectra | {fit['seconds']:.2f} s ({int(fit['pixels_analysed'])} pixels with sample) | – | – |")
PY
echo "appended to Benchmarks/RESULTS.md"
