# Sourced by the run_*.sh benchmark scripts (from Benchmarks/): installs the Debian packages,
# creates Benchmarks/.venv (ignored by git) with the Python peers given as arguments (none:
# no venv), builds lens-bench in release, and sets BENCH and PY.
bash ../scripts/bootstrap.sh
PY=python3
if [ "$#" -gt 0 ]; then
  if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
  .venv/bin/pip install -q "$@"
  PY=.venv/bin/python
fi
# SwiftPM does not always notice files added to the parent package (a path dependency):
# drop the cached build description so the sources are scanned again.
rm -f .build/*/release/description.json .build/release.yaml .build/build.db
# Nor does it always recompile lens-bench when a library struct gains a stored property, and a
# stale layout crashes at run time: recompile the benchmark's one file every time (seconds).
touch Sources/lens-bench/main.swift
swift build -c release --product lens-bench >/dev/null
BENCH=.build/release/lens-bench
