"""PoreSpy's porosimetry on the whole MATBOX pore phase (label 0), for run_porosimetry.sh.

    python peers/porosimetry_bench.py MATBOX.tif

Defaults (method "dt", all faces as inlets). Prints one JSON line: seconds and the saturation at
each radius, largest first.
"""
import json
import sys
import time

import numpy as np


def main(path):
    import porespy
    import tifffile
    from importlib.metadata import version
    pore = tifffile.imread(path) == 0
    t = time.perf_counter()
    sizes = porespy.filters.porosimetry(pore)
    seconds = time.perf_counter() - t
    radii = [r for r in np.unique(sizes[pore])[::-1] if r >= 1]
    total = pore.sum()
    print(json.dumps({"peer": f"porespy {version('porespy')} porosimetry", "seconds": seconds,
                      "saturation": [float((sizes[pore] >= r).sum() / total) for r in radii]}))


if __name__ == "__main__":
    main(sys.argv[1])
