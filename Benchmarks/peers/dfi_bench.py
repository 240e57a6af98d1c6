"""algotom's direct Fourier inversion (DFI) on a stack of slices, for Benchmarks/run_gridrec.sh.

    python peers/dfi_bench.py SIZE ANGLES SLICES [REPEATS]

The analytic sinogram of fbp_reference.py's disc phantom at SIZE over ANGLES angles (180°),
repeated for SLICES rows (the stack lens-bench's `gridrec` case reconstructs), reconstructed by
algotom.rec.reconstruction.dfi_reconstruction (apply_log=False: the input is line integrals;
ncore = the machine's cores; its default Hann window and 25 % padding). Prints one JSON line with
the best-of-REPEATS seconds for the whole stack.
"""
import json
import os
import sys

import numpy as np


def main(size, angles, slices, repeats):
    from importlib.metadata import version
    import algotom.rec.reconstruction as rec
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from fbp_reference import make_discs, sinogram
    from timing import best
    degrees = np.arange(angles) * 180.0 / angles
    sino = sinogram(make_discs(size), size, degrees).astype(np.float32)
    stack = np.ascontiguousarray(np.repeat(sino[:, None, :], slices, axis=1))   # (angles, slices, size)
    radians = np.deg2rad(degrees)
    cores = os.cpu_count()
    # One warm-up slice: numba compiles on first call.
    rec.dfi_reconstruction(stack[:, 0, :], size / 2, angles=radians, apply_log=False, ncore=cores)
    seconds = best(repeats, lambda: rec.dfi_reconstruction(stack, size / 2, angles=radians, apply_log=False, ncore=cores))
    print(json.dumps({"peer": f"algotom {version('algotom')} DFI ({cores} cores)", "case": f"{size}^2 x {angles} angles x {slices} slices",
                      "dfi_seconds": seconds}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 1)
