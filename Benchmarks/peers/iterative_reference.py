"""Iterative-solver fixture: ASTRA's CPU SIRT and CGLS on one limited-angle sinogram.

    Benchmarks/.venv/bin/python Benchmarks/peers/iterative_reference.py \
        Tests/TomographyTests/Fixtures/iterative_astra_64.json

A 64×64 slice of discs (particles, one with a void band: a crack) is projected by ASTRA's CPU
`linear` projector (Joseph's interpolation, the kernel BatteryLens's projector uses) over 121
angles spanning 135° (−67.5°…+67.5°, the operando TXM range), with deterministic Gaussian noise
of 1 % of the sinogram's maximum added. ASTRA's CPU SIRT (60 iterations) and CGLS (20
iterations) reconstruct it from zero, without constraints. The Swift test runs BatteryLens's
SIRT and CGLS for the same iterations on the same sinogram and checks that the difference from
ASTRA is small next to either's error against the slice itself.
"""
import json
import sys

import numpy as np

N = 64
ANGLES = 121


def image():
    yy, xx = np.mgrid[0:N, 0:N] - (N - 1) / 2
    im = np.zeros((N, N))
    im[xx ** 2 + yy ** 2 < 28 ** 2] = 0.01
    for (x, y, r, mu) in [(-12, -10, 9, 0.06), (10, -12, 7, 0.05), (2, 12, 11, 0.055), (-16, 10, 5, 0.04)]:
        im[(xx - x) ** 2 + (yy - y) ** 2 < r ** 2] = mu
    crack = (np.abs((xx - 2) * 0.8 + (yy - 12) * 0.6) < 1.5) & ((xx - 2) ** 2 + (yy - 12) ** 2 < 11 ** 2)
    im[crack] = 0.0
    return im


def main(out):
    import astra
    im = image()
    theta = np.linspace(-67.5, 67.5, ANGLES, endpoint=False)
    vol = astra.create_vol_geom(N, N)
    proj = astra.create_proj_geom("parallel", 1.0, N, np.deg2rad(theta))
    pid = astra.create_projector("linear", proj, vol)
    sid, sino = astra.create_sino(im, pid)
    astra.data2d.delete(sid)
    rng = np.random.default_rng(7)
    sino = sino + 0.01 * sino.max() * rng.standard_normal(sino.shape)
    record = {"size": N, "angles_deg": theta.tolist(), "image": im.ravel().tolist(), "sinogram": sino.ravel().tolist(),
              "axis_column": (N - 1) / 2, "astra_version": astra.__version__}
    for name, iterations in [("SIRT", 60), ("CGLS", 20)]:
        s = astra.data2d.create("-sino", proj, sino)
        r = astra.data2d.create("-vol", vol, 0)
        cfg = astra.astra_dict(name)
        cfg["ProjectorId"] = pid
        cfg["ProjectionDataId"] = s
        cfg["ReconstructionDataId"] = r
        alg = astra.algorithm.create(cfg)
        astra.algorithm.run(alg, iterations)
        record[name.lower()] = {"iterations": iterations, "volume": astra.data2d.get(r).ravel().tolist()}
        astra.algorithm.delete(alg)
        astra.data2d.delete([s, r])
    astra.projector.delete(pid)
    with open(out, "w") as f:
        json.dump(record, f)


if __name__ == "__main__":
    main(sys.argv[1])
