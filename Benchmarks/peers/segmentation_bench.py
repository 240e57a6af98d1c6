"""Segmentation and microstructure peers on one synthetic electrode (run by run_segmentation.sh).

    segmentation_bench.py make DIR SIZE   writes DIR/electrode_SIZE_{mask,grey}.npy: overlapping
                                          balls (radii 4-9 voxels, numpy seed 7) filling ~55 %,
                                          grey = 60 + 120·mask + noise (σ 12), uint8
    segmentation_bench.py bench DIR SIZE  times the peers, one JSON line per operation
"""
import json, sys, time
import numpy as np
from timing import best

def make(d, n):
    rng = np.random.default_rng(7)
    mask = np.zeros((n, n, n), bool)
    z, y, x = np.ogrid[:n, :n, :n]
    filled, k = 0.0, 0
    while filled < 0.55:
        k += 1
        if k % 256 == 0: filled = mask.mean()     # checked every 256 balls (a full mean is slow at 400³)
        c = rng.uniform(0, n, 3); r = rng.uniform(4, 9)
        lo = np.maximum(0, (c - r - 1).astype(int)); hi = np.minimum(n, (c + r + 2).astype(int))
        sl = tuple(slice(a, b) for a, b in zip(lo, hi))
        zz, yy, xx = z[sl[0], :, :], y[:, sl[1], :], x[:, :, sl[2]]
        mask[sl] |= (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 <= r * r
    grey = np.clip(60 + 120 * mask + rng.normal(0, 12, mask.shape), 0, 255).astype(np.uint8)
    np.save(f"{d}/electrode_{n}_mask.npy", mask.astype(np.uint8))
    np.save(f"{d}/electrode_{n}_grey.npy", grey)

def emit(**fields):
    print(json.dumps(fields), flush=True)

def bench(d, n, skip_tau):
    import cc3d, edt, scipy.ndimage as ndi
    from skimage.segmentation import watershed
    from skimage.morphology import h_maxima
    mask = np.load(f"{d}/electrode_{n}_mask.npy"); grey = np.load(f"{d}/electrode_{n}_grey.npy")
    emit(op="label26", peer="cc3d 26", seconds=best(3, lambda: cc3d.connected_components(mask, connectivity=26)))
    emit(op="edt", peer="edt (parallel=2)", seconds=best(3, lambda: edt.edt(mask, parallel=2)))
    emit(op="median3", peer="scipy.ndimage.median_filter size 3", seconds=best(2, lambda: ndi.median_filter(grey, size=3)))
    def ws():
        dist = edt.edt(mask, parallel=2)
        markers = ndi.label(h_maxima(dist, 0.5), structure=np.ones((3, 3, 3)))[0]
        return watershed(-dist, markers, mask=mask.astype(bool))
    emit(op="watershed", peer="edt + skimage h_maxima + watershed", seconds=best(1, ws))
    if not skip_tau:
        import taufactor as tau, torch
        torch.set_num_threads(2)
        pores = (mask == 0).astype(np.uint8)
        t = time.perf_counter(); s = tau.Solver(pores, device="cpu"); s.solve(verbose=False)
        emit(op="tortuosity", peer="TauFactor 1.2.1 CPU (conv 1e-2)", seconds=time.perf_counter() - t, tau=float(np.asarray(s.tau).ravel()[0]))
        if n <= 200:
            # PoreSpy fills non-percolating pores first: compare with our percolating-only τ.
            import porespy as ps
            t = time.perf_counter(); r = ps.simulations.tortuosity_fd(pores.astype(bool), axis=0)
            emit(op="tortuosity_fd", peer=f"PoreSpy {ps.__version__} tortuosity_fd", seconds=time.perf_counter() - t,
                 tau=float(r.tortuosity), compare="tau_percolating")

if __name__ == "__main__":
    if sys.argv[1] == "make": make(sys.argv[2], int(sys.argv[3]))
    else: bench(sys.argv[2], int(sys.argv[3]), len(sys.argv) > 4 and sys.argv[4] == "notau")
