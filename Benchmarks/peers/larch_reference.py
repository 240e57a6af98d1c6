"""Larch reference numbers for the spectroscopy tests (run by hand, once; the tests keep the output).

    cd Benchmarks && .venv/bin/pip install xraylarch && \
        .venv/bin/python peers/larch_reference.py ../../shared/data/spectroscopy \
        > ../Tests/SpectroscopyTests/Fixtures/larch_reference.json

For each real spectrum (the Larch example files and the featurexas NMC Ni K-edge voltage
series) it runs Larch's `pre_edge` with its defaults and records E0, the edge step, the ranges
and degree it chose, and normalized mu; for the full EXAFS files it also runs `autobk`
(rbkg = 1 Å, kweight 2) and `xftf` (Hanning window, k 2 to kmax - 1, dk 1, kweight 2) and
records chi(k) and |chi(R)|. The Swift tests read the same files, pass Larch's E0 and ranges
where the comparison is of the normalization alone, and compare.
"""
import json
import sys

import numpy as np
import larch
from larch import Group
from larch.xafs import autobk, pre_edge, xftf

# file, column index of mu (0-based; column 0 is energy) -- the same columns the Swift reader picks by name.
LARCH_FILES = [
    ("larch/ni_metal_rt.xdi", 1, "mutrans"),
    ("larch/cu_metal_rt.xdi", 3, "mutrans"),
    ("larch/feo_rt1.xdi", 1, "mutrans"),
    ("larch/cu_rt01.xmu", 1, "mu"),
    ("larch/fe2o3_rt1.xmu", 1, "mu"),
]


def rounded(values, digits=7):
    return [float(f"{v:.{digits}g}") for v in values]


def normalization(energy, mu):
    g = Group(energy=energy, mu=mu)
    pre_edge(g)
    return g, {
        "e0": float(g.e0), "edge_step": float(g.edge_step),
        "pre1": float(g.pre_edge_details.pre1), "pre2": float(g.pre_edge_details.pre2),
        "norm1": float(g.pre_edge_details.norm1), "norm2": float(g.pre_edge_details.norm2),
        "nnorm": int(g.pre_edge_details.nnorm),
        "norm": rounded(g.norm),
    }


def main(root):
    out = {"larch_version": larch.__version__, "spectra": [], "nmc_series": []}
    for path, column, name in LARCH_FILES:
        data = np.loadtxt(f"{root}/{path}", comments="#")
        order = np.argsort(data[:, 0])
        energy, mu = data[order, 0], data[order, column]
        g, entry = normalization(energy, mu)
        entry.update({"file": path, "mu_column": name, "points": len(energy)})
        autobk(g, rbkg=1.0, kweight=2)
        kmax = float(np.floor(g.k.max())) - 1
        xftf(g, kmin=2, kmax=kmax, dk=1, kweight=2, window="hanning")
        entry["autobk"] = {"rbkg": 1.0, "kweight": 2, "ek0": float(g.ek0)}
        entry["xftf"] = {"kmin": 2.0, "kmax": kmax, "dk": 1.0, "kweight": 2, "window": "hanning"}
        entry["k"] = rounded(g.k, 6)
        entry["chi"] = rounded(g.chi, 6)
        entry["r"] = rounded(g.r, 6)
        entry["chir_mag"] = rounded(g.chir_mag, 6)
        out["spectra"].append(entry)
    series = json.load(open(f"{root}/featurexas/nmc_exp_xas.json"))
    energy = 8330.0 + 0.4 * np.arange(100)  # the dataset's README: 8330-8370 eV, 0.4 eV steps
    for key in sorted(series["intensity"], key=int):
        mu = np.asarray(series["intensity"][key], dtype=float)
        _, entry = normalization(energy, mu)
        entry.update({"index": int(key), "voltage": series["voltage"][key], "composition": series["composition"][key]})
        out["nmc_series"].append(entry)
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../../shared/data/spectroscopy")
