"""Peer timing for azimuthal integration: pyFAI's integrate1d (no pixel splitting, cython
histogram, solid angle and polarization 0.95, Poisson errors) over every frame of a stack, from
reading the HDF5 to the patterns in memory. Prints one JSON line: seconds, and the largest
relative difference to BatteryLens's series (given as the second argument) where both have pixels.

Usage: pyfai_bench.py PHANTOM_FOLDER OURS.h5 BINS
"""
import json, sys, time
import h5py, numpy as np
import pyFAI
from pyFAI.integrator.azimuthal import AzimuthalIntegrator
import pyFAI.io.ponifile

folder, ours, bins = sys.argv[1], sys.argv[2], int(sys.argv[3])
start = time.perf_counter()
ai = pyFAI.load(f"{folder}/detector.poni")
with h5py.File(f"{folder}/frames.h5") as f:
    frames = f["/frames"]
    result = []
    for k in range(frames.shape[0]):
        r = ai.integrate1d(frames[k], bins, unit="2th_deg", method=("no", "histogram", "cython"),
                           correctSolidAngle=True, polarization_factor=0.95, error_model="poisson")
        result.append(r.intensity)
seconds = time.perf_counter() - start
peer = np.array(result)
with h5py.File(ours) as f:
    mine = f["/patterns"][:]
both = np.isfinite(mine) & (peer != 0)
# The first bin differs by construction (pyFAI's index truncates toward zero); compare the rest.
both[:, 0] = False
diff = np.abs(mine[both] / peer[both] - 1)
print(json.dumps({"peer": f"pyFAI {pyFAI.version} integrate1d (no splitting, cython)", "seconds": seconds, "frames": int(peer.shape[0]),
                  "largest_relative_difference": float(diff.max()), "median_relative_difference": float(np.median(diff))}))
