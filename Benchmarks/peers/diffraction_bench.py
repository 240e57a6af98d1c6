"""Operando diffraction peer: the same sequential whole-pattern refinement with lmfit (what a
user scripts in Python: pseudo-Voigt peaks tied to each phase's hexagonal cell, free areas,
a linear background and peak shape per 2θ window, each pattern starting from the previous
one), timed on the phantom series. Prints one JSON line: seconds, fraction RMS error vs truth.

Usage: diffraction_bench.py PHANTOM_FOLDER
"""
import json, sys, time
import h5py, numpy as np
import lmfit

folder = sys.argv[1]
with h5py.File(f"{folder}/patterns.h5") as f:
    patterns = f["/patterns"][:].astype(float)
    tt = f["/two_theta"][:]
    lam = float(f["/wavelength_angstrom"][0])
phases = json.load(open(f"{folder}/phases.json"))["phases"]
truth = json.load(open(f"{folder}/truth.json"))

def d_hex(a, c, h, k, l):
    return 1.0 / np.sqrt(4 * (h * h + h * k + k * k) / (3 * a * a) + l * l / (c * c))

def two_theta(d):
    return 2 * np.degrees(np.arcsin(lam / (2 * d)))

def pv(x, c, w, eta, area):
    s = w / (2 * np.sqrt(2 * np.log(2)))
    g = np.exp(-0.5 * ((x - c) / s) ** 2) / (s * np.sqrt(2 * np.pi))
    lo = (w / 2) / np.pi / ((x - c) ** 2 + (w / 2) ** 2)
    return area * (eta * lo + (1 - eta) * g)

refl = [(p, r["hkl"], r["relative_intensity"]) for p, ph in enumerate(phases) for r in ph["reflections"]]
cells = [[ph["cell"]["a"], ph["cell"]["c"]] for ph in phases]
fwhm, half_widths = 0.03, 6
# Windows from the starting cells (as ours: ± 6 FWHM, merged).
spans = sorted((two_theta(d_hex(*cells[p], *hkl)) - half_widths * fwhm, two_theta(d_hex(*cells[p], *hkl)) + half_widths * fwhm) for p, hkl, _ in refl)
windows = []
for s in spans:
    if windows and s[0] <= windows[-1][1]: windows[-1][1] = max(windows[-1][1], s[1])
    else: windows.append(list(s))
mask = np.zeros_like(tt, bool); wid = np.full(tt.shape, -1)
for i, (lo, hi) in enumerate(windows):
    sel = (tt >= lo) & (tt <= hi); mask |= sel; wid[sel] = i
x = tt[mask]; w_of = wid[mask]
params = lmfit.Parameters()
for p in range(len(phases)):
    params.add(f"a{p}", value=cells[p][0]); params.add(f"c{p}", value=cells[p][1])
for j in range(len(refl)):
    params.add(f"A{j}", value=100.0)
for i in range(len(windows)):
    params.add(f"b0_{i}", value=200.0); params.add(f"b1_{i}", value=0.0)
    params.add(f"w{i}", value=fwhm, min=1e-4); params.add(f"eta{i}", value=0.5, min=0, max=1)

def model(pr):
    y = np.empty_like(x)
    for i, (lo, hi) in enumerate(windows):
        sel = w_of == i
        xs = x[sel]
        y[sel] = pr[f"b0_{i}"] + pr[f"b1_{i}"] * (xs - (lo + hi) / 2)
    for j, (p, hkl, _) in enumerate(refl):
        c = two_theta(d_hex(pr[f"a{p}"], pr[f"c{p}"], *hkl))
        i = next(k for k, (lo, hi) in enumerate(windows) if lo <= c <= hi)
        sel = w_of == i
        y[sel] += pv(x[sel], c, pr[f"w{i}"], pr[f"eta{i}"], pr[f"A{j}"])
    return y

start = time.perf_counter()
fractions = []
for k in range(patterns.shape[0]):
    y = patterns[k][mask]; sig = np.sqrt(np.maximum(y, 1))
    res = lmfit.minimize(lambda pr: (y - model(pr.valuesdict())) / sig, params, method="leastsq")
    params = res.params
    v = res.params.valuesdict()
    scales = []
    for p in range(len(phases)):
        I = np.array([r for q, _, r in refl if q == p]); A = np.array([v[f"A{j}"] for j, (q, _, _) in enumerate(refl) if q == p])
        scales.append(float(A @ I / (I @ I)))
    fractions.append(scales[1] / sum(scales))
seconds = time.perf_counter() - start
err = np.array(fractions) - np.array(truth["second_phase_fraction"])
print(json.dumps({"peer": f"lmfit {lmfit.__version__} (leastsq)", "seconds": seconds, "patterns": int(patterns.shape[0]),
                  "fraction_rms_error": float(np.sqrt(np.mean(err ** 2)))}))
