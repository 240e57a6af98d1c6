"""PoreSpy and TauFactor on the MATBOX NMC cathode (run by run_matbox.sh), one JSON line per
operation: phase fractions (direct count), PoreSpy local_thickness (method 'dt', 25 sizes, radius doubled to a diameter) of
the pore and NMC phases (mean and median diameter over the phase, voxels), TauFactor CPU τ of
the pore phase along array axis 0.

    matbox_bench.py PATH
"""
import json, sys, time
import numpy as np
import tifffile

def emit(**fields):
    print(json.dumps(fields), flush=True)

def main(path):
    import porespy as ps, taufactor as tau, torch
    torch.set_num_threads(2)
    labels = tifffile.imread(path)
    n = labels.size
    emit(op="fractions", peer="numpy count", pore=float((labels == 0).sum() / n), nmc=float((labels == 1).sum() / n), cbd=float((labels == 2).sum() / n))
    for name, value in (("pore", 0), ("nmc", 1)):
        phase = labels == value
        # PoreSpy 3.2 labels voxels by the sphere's radius over up to 25 integer radii evenly
        # spaced from 1 to max(dt); ours sweeps 25 radii spaced logarithmically and stores the
        # diameter: the peer's radius is doubled here, and the radius grids differ.
        t = time.perf_counter(); lt = 2.0 * ps.filters.local_thickness(phase, method="dt", sizes=25)
        seconds = time.perf_counter() - t
        emit(op=f"local_thickness_{name}", peer=f"PoreSpy {ps.__version__} local_thickness (dt, sizes 25)", seconds=seconds,
             mean=float(lt[phase].mean()), median=float(np.median(lt[phase])))
    pores = (labels == 0).astype(np.uint8)
    t = time.perf_counter(); s = tau.Solver(pores, device="cpu"); s.solve(verbose=False)
    emit(op="tortuosity_pore_axis0", peer="TauFactor 1.2.1 CPU (conv 1e-2)", seconds=time.perf_counter() - t, tau=float(np.asarray(s.tau).ravel()[0]))

if __name__ == "__main__":
    main(sys.argv[1])
