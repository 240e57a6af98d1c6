"""TXM-XANES per-pixel analysis peers (run by run_xanes.sh).

    xanes_bench.py make DIR NAME SHAPE   writes DIR/NAME_{intensity.npy, energies.txt, references.csv}:
                                         a stack (63 Ni K-edge energies, SHAPE = 256x256 or 128x128x128)
                                         of a two-end-member mixture (edges 8342.0 / 8344.2 eV),
                                         state of charge varying smoothly, OD 0.4 + jump, Poisson
                                         noise for 1e5 photons (I0 = 1e5, numpy seed 3)
    xanes_bench.py bench DIR NAME [LARCH_PIXELS]
                                         times (a) Larch's functions looped over LARCH_PIXELS
                                         pixels (default 400; the per-pixel time is scaled to the
                                         whole stack) and (b) a vectorized NumPy implementation of
                                         the same steps, one JSON line each

The steps, for both peers and for us (lens-bench xanes): optical density; pre-edge line and
post-edge constant with one E0 and fixed ranges (pre -160..-40 eV, post 45..225 eV, degree 0);
edge energy at half height; white line (parabola through 5 points around the maximum
within E0..E0+25 eV); LCF against the two references (non-negative, sum to one).
"""
import json, sys, time
import numpy as np

ENERGIES = np.concatenate([np.arange(8178, 8318, 20.0), np.arange(8318, 8328, 2.0), np.arange(8328, 8362, 1.0),
                           np.arange(8362, 8382, 2.0), np.arange(8390, 8571, 30.0)])
E0, PRE, POST = 8343.0, (-160.0, -40.0), (45.0, 225.0)


def model(e, edge):
    """The phantom's model edge (Phantoms/XANESPhantom.swift ModelEdgeSpectrum, same parameters)."""
    x = e - edge
    step = 0.5 + np.arctan(x / 1.6) / np.pi
    white = 0.55 * np.exp(-0.5 * ((x - 7) / 4.5) ** 2)
    osc = np.where(x > 0, 0.06 * np.sin(2 * np.pi * x / 45) * np.exp(-x / 150), 0)
    return step + white + osc


def make(d, name, shape):
    dims = tuple(int(s) for s in shape.split("x"))
    rng = np.random.default_rng(3)
    grids = np.meshgrid(*[np.linspace(0, 1, n) for n in dims], indexing="ij")
    soc = 0.5 + 0.45 * np.sin(2 * np.pi * grids[-1]) * np.cos(np.pi * grids[-2])
    a, b = model(ENERGIES[:, None], 8342.0), model(ENERGIES[:, None], 8344.2)
    flat_soc = soc.ravel()[None, :]
    od = 0.4 + (1 - flat_soc) * a + flat_soc * b
    intensity = rng.poisson(1e5 * np.exp(-od)).astype(np.float32).reshape((len(ENERGIES),) + dims)
    np.save(f"{d}/{name}_intensity.npy", intensity)
    np.savetxt(f"{d}/{name}_energies.txt", ENERGIES, fmt="%.1f")
    grid = np.arange(8150, 8600.01, 0.5)
    with open(f"{d}/{name}_references.csv", "w") as f:
        f.write("energy,discharged,charged\n")
        for e, x, y in zip(grid, model(grid, 8342.0), model(grid, 8344.2)):
            f.write(f"{e},{x},{y}\n")


def emit(**fields):
    print(json.dumps(fields), flush=True)


def numpy_pipeline(intensity, energies, refs):
    ne = len(energies)
    mu = -np.log(intensity.reshape(ne, -1).astype(np.float64) / 1e5)          # (ne, np)
    pre = (energies >= E0 + PRE[0]) & (energies < E0 + PRE[1])
    post = (energies >= E0 + POST[0]) & (energies < E0 + POST[1])
    A = np.vstack([np.ones(pre.sum()), energies[pre]]).T
    coef = np.linalg.lstsq(A, mu[pre], rcond=None)[0]                          # (2, np)
    line = coef[0][None, :] + energies[:, None] * coef[1][None, :]
    sub = mu - line
    step = sub[post].mean(axis=0)
    norm = sub / step
    # Half-height crossing: first upward crossing of 0.5 after the pre-edge, linear interpolation.
    above = norm >= 0.5
    k = np.argmax(above & (np.arange(ne)[:, None] > np.argmax(energies > E0 - 20)), axis=0)
    cols = np.arange(norm.shape[1])
    y0, y1 = norm[k - 1, cols], norm[k, cols]
    edge = energies[k - 1] + (0.5 - y0) / (y1 - y0) * (energies[k] - energies[k - 1])
    # White line: parabola through 5 points around the maximum in E0..E0+25.
    window = np.where((energies >= E0) & (energies <= E0 + 25))[0]
    kmax = window[np.argmax(norm[window], axis=0)]
    kmax = np.clip(kmax, 2, ne - 3)
    idx = kmax[None, :] + np.arange(-2, 3)[:, None]
    x = energies[idx] - energies[kmax][None, :]
    y = norm[idx, cols[None, :]]
    # Least-squares parabola per pixel via normal equations.
    S = [np.sum(x ** p, axis=0) for p in range(5)]
    T = [np.sum(y * x ** p, axis=0) for p in range(3)]
    M = np.stack([np.stack([S[0], S[1], S[2]], -1), np.stack([S[1], S[2], S[3]], -1), np.stack([S[2], S[3], S[4]], -1)], -2)
    c = np.linalg.solve(M, np.stack(T, -1)[..., None])[..., 0]
    white_e = energies[kmax] - c[:, 1] / (2 * c[:, 2])
    white_h = c[:, 0] - c[:, 1] ** 2 / (4 * c[:, 2])
    # LCF with two references, sum to one: w = clip(((y - b)·(a - b)) / |a - b|², 0, 1).
    d = refs[0] - refs[1]
    w = np.clip(((norm - refs[1][:, None]) * d[:, None]).sum(axis=0) / (d @ d), 0, 1)
    resid = norm - (w[None, :] * refs[0][:, None] + (1 - w)[None, :] * refs[1][:, None])
    rfactor = (resid ** 2).sum(axis=0) / (norm ** 2).sum(axis=0)
    return edge, white_e, white_h, w, rfactor


def larch_loop(intensity, energies, refs_groups, pixels):
    from larch import Group
    from larch.xafs import pre_edge
    from larch.math import lincombo_fit
    ne = len(energies)
    flat = intensity.reshape(ne, -1)
    rng = np.random.default_rng(0)
    chosen = rng.choice(flat.shape[1], size=pixels, replace=False)
    t = time.perf_counter()
    for p in chosen:
        mu = -np.log(flat[:, p].astype(np.float64) / 1e5)
        g = Group(energy=energies, mu=mu)
        pre_edge(g, e0=E0, pre1=PRE[0], pre2=PRE[1], norm1=POST[0], norm2=POST[1], nnorm=0)
        k = np.argmax((g.norm >= 0.5) & (energies > E0 - 20))
        edge = np.interp(0.5, g.norm[k - 1:k + 1], energies[k - 1:k + 1])
        window = np.where((energies >= E0) & (energies <= E0 + 25))[0]
        km = window[np.argmax(g.norm[window])]
        cfit = np.polyfit(energies[km - 2:km + 3] - energies[km], g.norm[km - 2:km + 3], 2)
        g.arrayname = "norm"
        lincombo_fit(g, refs_groups, minvals=[0, 0], maxvals=[1, 1], sum_to_one=True, arrayname="norm")
    return (time.perf_counter() - t) / pixels


def bench(d, name, larch_pixels):
    intensity = np.load(f"{d}/{name}_intensity.npy")
    energies = np.loadtxt(f"{d}/{name}_energies.txt")
    table = np.loadtxt(f"{d}/{name}_references.csv", delimiter=",", skiprows=1)
    # References normalized as the data (pre line / post constant on the stack energies).
    refs = []
    for col in (1, 2):
        r = np.interp(energies, table[:, 0], table[:, col])
        pre = (energies >= E0 + PRE[0]) & (energies < E0 + PRE[1]); post = (energies >= E0 + POST[0]) & (energies < E0 + POST[1])
        c = np.polyfit(energies[pre], r[pre], 1)
        sub = r - np.polyval(c, energies)
        refs.append(sub / sub[post].mean())
    pixels = intensity[0].size
    t = time.perf_counter(); numpy_pipeline(intensity, energies, refs); seconds = time.perf_counter() - t
    emit(op=f"xanes_{name}", peer="NumPy vectorized", seconds=seconds, pixels=pixels)
    try:
        from larch import Group
        groups = [Group(energy=energies, norm=r, filename=n) for r, n in zip(refs, ("discharged", "charged"))]
        per_pixel = larch_loop(intensity, energies, groups, larch_pixels)
        emit(op=f"xanes_{name}", peer=f"Larch loop ({larch_pixels} pixels timed, scaled)", seconds=per_pixel * pixels, pixels=pixels)
    except Exception as error:  # Larch missing or failing: say so, keep the NumPy line
        emit(op=f"xanes_{name}", peer="Larch loop", error=str(error))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        bench(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 400)
