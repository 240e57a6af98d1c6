"""TauFactor 2's ElectrodeSolver and MultiPhaseSolver on crops of the MATBOX cathode: the
fixture of TauFactorPeerTests.

    python peers/taufactor_reference.py MATBOX.tif OUT.json

Crops of ../shared/data/microstructure/matbox_nmc-1-cal_generatedCBD_bridge.tif (labels 0 pore,
1 NMC, 2 carbon-binder), all along TauFactor's first axis "x" (array axis 0, our z):
- ElectrodeSolver(pore) with its defaults (omega 1e-6, lowered tenfold until tau_e changes by
  < 1e-3), on the CPU: tau_e.
- MultiPhaseSolver(labels, cond={1: 1.0, 2: 10.0}) (pore insulating; conductivities of an NMC
  electronic network with a ten times better carbon-binder), conv_crit 1e-4: D_eff and tau;
  and MultiPhaseSolver on the pore alone (κ = 1; written as codes 0 → 1, 1 and 2 → 0).
Needs torch (CPU wheel) and taufactor from PyPI. Run once; the test keeps the JSON.
"""
import json
import sys
import time

import numpy as np


def main(path, out):
    import taufactor as tau
    import tifffile
    import torch
    from importlib.metadata import version
    labels = tifffile.imread(path)
    cpu = torch.device("cpu")
    crops = [[[0, 24], [0, 24], [0, 24]], [[40, 80], [100, 132], [60, 92]], [[100, 148], [150, 198], [150, 198]]]
    electrode = []
    for c in crops:
        sub = labels[c[0][0]:c[0][1], c[1][0]:c[1][1], c[2][0]:c[2][1]]
        t = time.perf_counter()
        s = tau.ElectrodeSolver((sub == 0).astype(np.float64), device=cpu)
        s.solve(verbose=False)
        electrode.append({"crop": c, "tau_e": float(s.tau_e), "seconds": time.perf_counter() - t, "omega": s.omega})
    multiphase = []
    for c in crops[1:]:
        sub = labels[c[0][0]:c[0][1], c[1][0]:c[1][1], c[2][0]:c[2][1]].astype(np.int64)
        s = tau.MultiPhaseSolver(sub, cond={1: 1.0, 2: 10.0}, device=cpu)
        t = time.perf_counter()
        s.solve(verbose=False, conv_crit=1e-4)
        multiphase.append({"crop": c, "conductivities": {"1": 1.0, "2": 10.0}, "D_eff": float(np.asarray(s.D_eff).ravel()[0]),
                           "tau": float(np.asarray(s.tau).ravel()[0]), "seconds": time.perf_counter() - t})
    # One conducting phase (the pore, κ = 1) through MultiPhaseSolver: its own boundary
    # convention, which differs from Solver's by O(1/N).
    c = crops[1]
    sub = labels[c[0][0]:c[0][1], c[1][0]:c[1][1], c[2][0]:c[2][1]]
    s = tau.MultiPhaseSolver((sub == 0).astype(np.int64), cond={1: 1.0}, device=cpu)
    s.solve(verbose=False, conv_crit=1e-4)
    multiphase.append({"crop": c, "conductivities": {"0": 1.0, "1": 0.0, "2": 0.0}, "D_eff": float(np.asarray(s.D_eff).ravel()[0]),
                       "tau": float(np.asarray(s.tau).ravel()[0]), "seconds": 0.0})
    json.dump({"source": f"taufactor {version('taufactor')} (torch {version('torch')}, CPU)", "axis": "TauFactor x = array axis 0",
               "electrode": electrode, "multiphase": multiphase}, open(out, "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
