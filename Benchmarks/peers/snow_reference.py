"""PoreSpy's SNOW pore-network extraction (snow2) on the MATBOX pore phase: the fixture of
PoreNetworkTests, and the peer side of run_network.sh.

    python peers/snow_reference.py MATBOX.tif OUT.json [z0:z1,y0:y1,x0:x1]
    python peers/snow_reference.py MATBOX.tif --bench

The pore phase (label 0) of ../shared/data/microstructure/matbox_nmc-1-cal_generatedCBD_bridge.tif
(optionally cropped) through porespy.networks.snow2 with its defaults (sigma 0.4, r_max 4,
accuracy "standard") except boundary_width=0 (no added boundary pores, so the counts are the
image's own pores) and parallel_kw=None (the serial SNOW of Gostick 2017; the default chunked
watershed stitches chunks and is timed separately with --bench).

Writes the pore count, throat count, mean coordination, the peak counts after each trimming
stage, every pore's equivalent and inscribed diameter (voxels) and the 95 % bootstrap
interval (2000 resamples, seed 7) of the mean equivalent diameter. Run once; the test keeps
the JSON. With --bench, prints one JSON line with the seconds of both snow2 variants.
"""
import json
import sys
import time

import numpy as np


def stages(pore):
    import porespy
    import scipy.ndimage as spim
    from edt import edt
    f = porespy.filters
    dt = edt(pore)
    blurred = spim.gaussian_filter(dt, sigma=0.4) * pore
    peaks = f.find_peaks(dt=blurred, r_max=4)
    counts = [int(spim.label(peaks, structure=np.ones((3, 3, 3)))[1])]
    peaks = f.trim_saddle_points(peaks=peaks, dt=dt)
    counts.append(int(spim.label(peaks, structure=np.ones((3, 3, 3)))[1]))
    peaks = f.trim_nearby_peaks(peaks=peaks, dt=dt)
    counts.append(int(spim.label(peaks, structure=np.ones((3, 3, 3)))[1]))
    return counts


def extract(pore, parallel):
    import porespy
    kw = {} if parallel else None
    t = time.perf_counter()
    net = porespy.networks.snow2(pore.astype(int), boundary_width=0, parallel_kw=kw).network
    return net, time.perf_counter() - t


def main(path, out, crop):
    import tifffile
    from importlib.metadata import version
    labels = tifffile.imread(path)
    if crop:
        s = tuple(slice(int(a), int(b)) for a, b in (part.split(":") for part in crop.split(",")))
        labels = labels[s]
    pore = labels == 0
    if out == "--bench":
        net_serial, serial = extract(pore, False)
        net, chunked = extract(pore, True)
        print(json.dumps({"peer": f"porespy {version('porespy')} snow2", "seconds_serial": serial, "seconds_default": chunked,
                          "pores": int(len(net_serial["pore.coords"])), "throats": int(len(net_serial["throat.conns"])),
                          "pores_default": int(len(net["pore.coords"])), "throats_default": int(len(net["throat.conns"]))}))
        return
    net, seconds = extract(pore, False)
    n_p, n_t = len(net["pore.coords"]), len(net["throat.conns"])
    eq = np.asarray(net["pore.equivalent_diameter"], dtype=float)
    rng = np.random.default_rng(7)
    means = [rng.choice(eq, size=eq.size, replace=True).mean() for _ in range(2000)]
    json.dump({"source": f"porespy {version('porespy')} networks.snow2, defaults with boundary_width=0, parallel_kw=None",
               "crop": crop, "pore_voxels": int(pore.sum()), "seconds": seconds,
               "peaks_found_saddle_nearby": stages(pore),
               "pores": int(n_p), "throats": int(n_t), "mean_coordination": 2.0 * n_t / n_p,
               "equivalent_diameter_mean_ci95": [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))],
               "equivalent_diameters": [round(float(v), 4) for v in eq],
               "inscribed_diameters": [round(float(v), 4) for v in net["pore.inscribed_diameter"]]},
              open(out, "w"), indent=None)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
