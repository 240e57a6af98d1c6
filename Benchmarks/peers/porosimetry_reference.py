"""PoreSpy's porosimetry on a crop of the MATBOX pore phase: the fixture of PorosimetryTests.

    python peers/porosimetry_reference.py MATBOX.tif OUT.json

The pore phase (label 0) of ../shared/data/microstructure/matbox_nmc-1-cal_generatedCBD_bridge.tif,
cropped to [0:80, 0:96, 0:96], through porespy.filters.porosimetry with its defaults (method "dt":
radii = every distinct distance-transform value, inlets = all faces, smooth spheres). Writes the
radii (descending) and the saturation at each (fraction of pore voxels with invasion size ≥ r).
Run once; the test keeps the JSON.
"""
import json
import sys

import numpy as np


def main(path, out):
    import porespy
    import tifffile
    from importlib.metadata import version
    labels = tifffile.imread(path)
    pore = labels[0:80, 0:96, 0:96] == 0
    sizes = porespy.filters.porosimetry(pore)
    radii = np.unique(sizes[pore])[::-1]
    total = pore.sum()
    saturation = [float((sizes[pore] >= r).sum() / total) for r in radii]
    json.dump({"source": f"porespy {version('porespy')} filters.porosimetry, defaults", "crop": [[0, 80], [0, 96], [0, 96]],
               "pore_voxels": int(total), "radii": [float(r) for r in radii], "saturation": saturation}, open(out, "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
