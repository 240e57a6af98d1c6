"""Peer reference for parallel-beam filtered back projection: scikit-image `iradon` and ASTRA's
CPU `FBP` on the same analytic sinograms that the Swift tests and lens-bench build.

    python peers/fbp_reference.py fixtures OUT.json   # accuracy fixture kept by the tests
    python peers/fbp_reference.py bench SIZE ANGLES SLICES [repeats]   # timings, one JSON line per peer

The phantom: a sample cylinder (radius 0.86 R, 0.01 /px) holding non-overlapping particles
(radius 5-22 px, 0.03-0.05 /px, μ added to the cylinder's), drawn with a fixed seed and
written into the fixture so the Swift test rebuilds exactly this phantom. Its sinogram is
exact: the line integral of a disc averaged over a detector pixel of width 1,
μ [F(s1) - F(s0)] with F(s) = s sqrt(r² - s²) + r² asin(s/r), s clamped to ±r.

Geometry, shared by both sides: detector column j sits at t = j - N/2 (scikit-image's rotation
centre, index N//2; BatteryLens gets centreOffsetPixels = 0.5 for it), t = x cos θ + y sin θ
with x to the right and y along BatteryLens's row axis. scikit-image's image has
t = x cos θ - y_s sin θ with y_s its row offset, so its row r holds y = -(r - N/2): the truth
is drawn on each tool's own grid (centre N/2 for scikit-image, (N-1)/2 for BatteryLens) from
8×8 sub-pixel samples, and the RMSE is taken over pixels within 0.9 R of that grid's centre.
"""
import json
import sys

import numpy as np

from timing import best

SIZE = 512
ANGLES = 720
SEED = 2026


def make_discs(size, seed=SEED, count=90):
    rng = np.random.RandomState(seed)
    radius = size / 2
    discs = [(0.0, 0.0, 0.86 * radius, 0.01)]
    particles = []
    tries = 0
    while len(particles) < count and tries < 100000:
        tries += 1
        r = rng.uniform(5, 22)
        rho = np.sqrt(rng.uniform(0, 1)) * (0.86 * radius - r - 2)
        phi = rng.uniform(0, 2 * np.pi)
        x, y = rho * np.cos(phi), rho * np.sin(phi)
        if all((x - px) ** 2 + (y - py) ** 2 > (r + pr + 1) ** 2 for px, py, pr, _ in particles):
            particles.append((x, y, r, rng.uniform(0.03, 0.05)))
    return discs + particles


def sinogram(discs, size, angles_deg):
    theta = np.deg2rad(np.asarray(angles_deg))[:, None]
    t = np.arange(size)[None, :] - size / 2
    out = np.zeros((len(angles_deg), size))

    def F(s, r):
        s = np.clip(s, -r, r)
        return s * np.sqrt(np.maximum(r * r - s * s, 0)) + r * r * np.arcsin(s / r)

    for x, y, r, mu in discs:
        t0 = x * np.cos(theta) + y * np.sin(theta)
        out += mu * (F(t + 0.5 - t0, r) - F(t - 0.5 - t0, r))
    return out  # (angle, column)


def truth_image(discs, size, centre, flip_rows):
    sub = 8
    offsets = (np.arange(sub) + 0.5) / sub - 0.5
    img = np.zeros((size, size))
    for x, y, r, mu in discs:
        # Pixel (row, col) holds x = col - centre and y = ±(row - centre).
        c0 = max(0, int(np.floor(x + centre - r - 1)))
        c1 = min(size, int(np.ceil(x + centre + r + 2)))
        row_of_y = (-y + centre) if flip_rows else (y + centre)
        r0 = max(0, int(np.floor(row_of_y - r - 1)))
        r1 = min(size, int(np.ceil(row_of_y + r + 2)))
        rows = np.arange(r0, r1)[:, None, None, None] + offsets[None, None, :, None]
        cols = np.arange(c0, c1)[None, :, None, None] + offsets[None, None, None, :]
        xs = cols - centre
        ys = -(rows - centre) if flip_rows else (rows - centre)
        inside = ((xs - x) ** 2 + (ys - y) ** 2 <= r * r).mean(axis=(2, 3))
        img[r0:r1, c0:c1] += mu * inside
    return img


def rmse_inside(image, truth, centre, radius):
    n = image.shape[0]
    rr, cc = np.mgrid[:n, :n]
    mask = (rr - centre) ** 2 + (cc - centre) ** 2 <= radius ** 2
    return float(np.sqrt(np.mean((image[mask] - truth[mask]) ** 2))), int(mask.sum())


def iradon(sino, angles_deg, filter_name):
    from skimage.transform import iradon as sk_iradon
    return sk_iradon(sino.T, theta=angles_deg, filter_name=filter_name, interpolation="linear",
                     circle=True, output_size=sino.shape[1])


def fixtures(out_path):
    angles = np.arange(ANGLES) * 180.0 / ANGLES
    discs = make_discs(SIZE)
    sino = sinogram(discs, SIZE, angles)
    truth = truth_image(discs, SIZE, SIZE // 2, flip_rows=True)
    result = {
        "generator": "Benchmarks/peers/fbp_reference.py fixtures",
        "size": SIZE, "angles": ANGLES, "seed": SEED,
        "discs": [{"x": x, "y": y, "radius": r, "mu": mu} for x, y, r, mu in discs],
        "sinogram_sum": float(sino.sum()), "sinogram_max": float(sino.max()),
        "rmse_radius_fraction": 0.9,
        "peer": {},
    }
    import skimage
    result["peer_version"] = "scikit-image " + skimage.__version__
    for name, window in [("shepp-logan", "shepp-logan"), ("ramp", "ram-lak"), ("hann", "hann")]:
        rec = iradon(sino, angles, name)
        rmse, count = rmse_inside(rec, truth, SIZE // 2, 0.9 * SIZE / 2)
        result["peer"][window] = {"rmse": rmse, "pixels": count}
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(json.dumps({k: v for k, v in result.items() if k != "discs"}))



def bench(size, angles, slices, repeats):
    angle_list = np.arange(angles) * 180.0 / angles
    discs = [(x * size / SIZE, y * size / SIZE, r * size / SIZE, mu) for x, y, r, mu in make_discs(SIZE)]
    sino = sinogram(discs, size, angle_list).astype(np.float32)
    voxels = size * size * slices
    # scikit-image: one slice at a time (it has no batched 3D path); every slice is the same work.
    t = best(repeats, lambda: [iradon(sino, angle_list, "shepp-logan") for _ in range(slices)])
    print(json.dumps({"peer": "scikit-image iradon", "size": size, "angles": angles, "slices": slices,
                      "seconds": t, "voxels_per_second": voxels / t}))
    try:
        import astra
    except ImportError:
        return
    vol_geom = astra.create_vol_geom(size, size)
    proj_geom = astra.create_proj_geom("parallel", 1.0, size, np.deg2rad(angle_list))
    projector = astra.create_projector("linear", proj_geom, vol_geom)

    def run_astra():
        for _ in range(slices):
            sid = astra.data2d.create("-sino", proj_geom, sino)
            rid = astra.data2d.create("-vol", vol_geom)
            cfg = astra.astra_dict("FBP")
            cfg["ReconstructionDataId"] = rid
            cfg["ProjectionDataId"] = sid
            cfg["ProjectorId"] = projector
            cfg["FilterType"] = "shepp-logan"
            alg = astra.algorithm.create(cfg)
            astra.algorithm.run(alg)
            astra.data2d.get(rid)
            astra.algorithm.delete(alg)
            astra.data2d.delete([sid, rid])

    t = best(repeats, run_astra)
    print(json.dumps({"peer": "ASTRA FBP (CPU, linear)", "size": size, "angles": angles, "slices": slices,
                      "seconds": t, "voxels_per_second": voxels / t}))


if __name__ == "__main__":
    if sys.argv[1] == "fixtures":
        fixtures(sys.argv[2])
    elif sys.argv[1] == "bench":
        bench(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 1)
    else:
        sys.exit(__doc__)
