"""ASTRA's CPU SIRT and CGLS per iteration on one slice, for Benchmarks/run_iterative.sh.

    python peers/iterative_bench.py SIZE ANGLES RANGE_DEG ITERATIONS

The analytic sinogram of fbp_reference.py's disc phantom at SIZE, over ANGLES angles spanning RANGE_DEG centred on 0°; SIRT and CGLS from zero for
ITERATIONS with the `linear` projector (ASTRA's CPU algorithms are 2D and single-threaded: one slice at a time). Prints one
JSON line with the seconds per iteration per slice.
"""
import json
import sys
import time

import numpy as np


def main(size, angles, range_deg, iterations):
    import astra
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from fbp_reference import make_discs, sinogram
    degrees = np.linspace(-range_deg / 2, range_deg / 2, angles, endpoint=False)
    sino = sinogram(make_discs(size), size, degrees).astype(np.float32)
    vol = astra.create_vol_geom(size, size)
    proj = astra.create_proj_geom("parallel", 1.0, size, np.deg2rad(degrees))
    pid = astra.create_projector("linear", proj, vol)
    out = {"peer": f"ASTRA {astra.__version__} CPU (linear projector, 1 thread)", "size": size, "angles": angles}
    for name in ["SIRT", "CGLS"]:
        s = astra.data2d.create("-sino", proj, sino)
        r = astra.data2d.create("-vol", vol, 0)
        cfg = astra.astra_dict(name)
        cfg["ProjectorId"] = pid
        cfg["ProjectionDataId"] = s
        cfg["ReconstructionDataId"] = r
        alg = astra.algorithm.create(cfg)
        t = time.perf_counter()
        astra.algorithm.run(alg, iterations)
        out[f"{name.lower()}_seconds_per_iteration_per_slice"] = (time.perf_counter() - t) / iterations
        astra.algorithm.delete(alg)
        astra.data2d.delete([s, r])
    astra.projector.delete(pid)
    print(json.dumps(out))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
