"""Reference azimuthal integration by pyFAI for the Diffraction tests (run once; the tests keep
its output as a fixture and need no Python): a 200 × 240 frame given by a closed formula of the
pixel indices (the tests rebuild it), a tilted detector in pyFAI's PONI geometry, and
integrate1d without pixel splitting over a fixed 2θ range, with and without the solid-angle and
polarization corrections; plus 2θ and χ at a few pixels.

Usage: Benchmarks/.venv/bin/python Benchmarks/peers/pyfai_reference.py > Tests/DiffractionTests/Fixtures/pyfai_integration.json
"""
import json
import numpy as np
import pyFAI
from pyFAI.integrator.azimuthal import AzimuthalIntegrator
from pyFAI.detectors import Detector

rows, cols = 200, 240
geometry = dict(dist=0.1, poni1=0.012, poni2=0.011, rot1=0.02, rot2=-0.01, rot3=0.1)
pixel = 100e-6
i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
frame = (100 + ((7 * i + 13 * j) % 50) + 20 * np.sin(0.1 * i) * np.cos(0.07 * j)).astype(np.float32)
det = Detector(pixel1=pixel, pixel2=pixel, max_shape=(rows, cols))
ai = AzimuthalIntegrator(detector=det, wavelength=1e-10, **geometry)
out = {"pyfai": pyFAI.version, "rows": rows, "columns": cols, "pixel_metres": pixel, "geometry": geometry,
       "frame": "float32(100 + ((7 i + 13 j) mod 50) + 20 sin(0.1 i) cos(0.07 j))", "bins": 150, "radial_range_degrees": [2.0, 14.0]}
method = ("no", "histogram", "cython")
for name, kwargs in [("plain", dict(correctSolidAngle=False, polarization_factor=None)),
                     ("corrected", dict(correctSolidAngle=True, polarization_factor=0.95))]:
    r = ai.integrate1d(frame, 150, unit="2th_deg", radial_range=(2.0, 14.0), method=method, error_model="poisson", **kwargs)
    out[name] = {"two_theta_degrees": r.radial.tolist(), "intensity": r.intensity.tolist(), "sigma": r.sigma.tolist(), "count": r.count.tolist()}
tth = ai.center_array(unit="2th_rad"); chi = ai.center_array(unit="chi_rad")
out["pixels"] = [{"row": int(a), "column": int(b), "two_theta_radians": float(tth[a, b]), "chi_radians": float(chi[a, b])}
                 for a, b in [(0, 0), (57, 203), (199, 239), (120, 110)]]
print(json.dumps(out))
