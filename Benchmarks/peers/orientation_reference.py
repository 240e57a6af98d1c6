"""Orientation fixture: which way up a reconstruction comes out, as scikit-image and ASTRA define it.

    Benchmarks/.venv/bin/python Benchmarks/peers/orientation_reference.py \
        Tests/TomographyTests/Fixtures/orientation_64.json

An asymmetric 64×64 image (an L of two bars and a small square, distinct under every mirror and
rotation) is projected by scikit-image's `radon` (rotation centre at column N/2) and by ASTRA's
CPU `line` projector (parallel beam, detector centre between columns N/2 - 1 and N/2 — the
same as scikit-image for even N up to a half pixel; the script records both) over 90 angles in
[0°, 180°). The Swift test reconstructs both sinograms with BatteryLens's FBP and checks that the
result correlates with the image itself, not with its mirror images: BatteryLens's slices are the
right way up by the convention of the tools users compare with.
"""
import json
import sys

import numpy as np
from skimage.transform import radon

N = 64
ANGLES = 90


def image():
    im = np.zeros((N, N), dtype=np.float64)
    im[12:44, 16:22] = 1.0   # vertical bar of the L, left
    im[38:44, 16:42] = 1.0   # horizontal bar of the L, bottom
    im[16:24, 36:44] = 0.6   # square, upper right
    return im


def main(out):
    im = image()
    theta = np.arange(ANGLES) * 180.0 / ANGLES
    sk = radon(im, theta=theta, circle=True)          # (detector, angle)
    record = {"size": N, "angles_deg": theta.tolist(), "image": im.ravel().tolist(),
              "skimage": {"sinogram": sk.T.ravel().tolist(), "axis_column": N / 2}}
    try:
        import astra
        vol = astra.create_vol_geom(N, N)
        proj = astra.create_proj_geom("parallel", 1.0, N, np.deg2rad(theta))
        pid = astra.create_projector("line", proj, vol)
        sid, sino = astra.create_sino(im, pid)
        astra.data2d.delete(sid)
        astra.projector.delete(pid)
        record["astra"] = {"sinogram": np.asarray(sino).ravel().tolist(), "axis_column": (N - 1) / 2,
                           "version": astra.__version__}
    except ImportError:
        pass
    import skimage
    record["skimage"]["version"] = skimage.__version__
    with open(out, "w") as f:
        json.dump(record, f)


if __name__ == "__main__":
    main(sys.argv[1])
