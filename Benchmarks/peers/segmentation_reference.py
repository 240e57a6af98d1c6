"""Reference outputs of the segmentation peers on one deterministic input, stored as test
fixtures (Tests/ImageAnalysisTests/Fixtures). Run once by hand from Benchmarks/ after
`source prepare.sh numpy scipy scikit-image connected-components-3d edt`:

    .venv/bin/python peers/segmentation_reference.py ../Tests/ImageAnalysisTests/Fixtures

Input: a 40×44×48 volume of overlapping balls (centres and radii from a fixed formula, no
random generator, so the Swift test can rebuild it) plus a sparse lattice of single voxels.
Outputs: cc3d labels (6/18/26), scipy EDT (anisotropic 2.0, 1.0, 1.5), edt multi-label EDT,
scikit-image watershed of −EDT from h-maxima markers (h = 1.5), scipy/skimage multi-Otsu and
median filter on a grey version.
"""
import json, sys
import numpy as np
import scipy.ndimage as ndi
import cc3d, edt
from skimage.segmentation import watershed
from skimage.morphology import h_maxima
from skimage.filters import threshold_multiotsu, threshold_otsu

out = sys.argv[1]
shape = (40, 44, 48)
z, y, x = np.indices(shape)
mask = np.zeros(shape, bool)
for k in range(14):
    cz, cy, cx = 4 + (k * 7) % 32, 5 + (k * 11) % 34, 6 + (k * 13) % 36
    r = 3 + (k * 5) % 5
    mask |= (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= r * r
mask |= (z % 9 == 4) & (y % 10 == 3) & (x % 11 == 7)
mask = mask.astype(np.uint8)
np.save(f"{out}/seg_input.npy", mask)
for c in (6, 18, 26):
    np.save(f"{out}/seg_cc3d_{c}.npy", cc3d.connected_components(mask, connectivity=c).astype(np.int32))
np.save(f"{out}/seg_scipy_edt_aniso.npy", ndi.distance_transform_edt(mask, sampling=(2.0, 1.0, 1.5)).astype(np.float32))
multi = cc3d.connected_components(mask, connectivity=6).astype(np.int32)
np.save(f"{out}/seg_edt_multilabel.npy", edt.edt(multi, black_border=False).astype(np.float32))
distance = ndi.distance_transform_edt(mask).astype(np.float32)
markers = ndi.label(h_maxima(distance, 1.5), structure=np.ones((3, 3, 3)))[0]
np.save(f"{out}/seg_watershed.npy", watershed(-distance, markers, mask=mask.astype(bool)).astype(np.int32))
grey = (mask * 100 + ((z * 7 + y * 3 + x * 5) % 23) + 40 * ((x // 12) % 2)).astype(np.float32)
np.save(f"{out}/seg_grey.npy", grey)
np.save(f"{out}/seg_median3.npy", ndi.median_filter(grey, size=3).astype(np.float32))
json.dump({"otsu": float(threshold_otsu(grey)), "multiotsu3": [float(v) for v in threshold_multiotsu(grey, classes=3)],
           "markers": int(markers.max())},
          open(f"{out}/seg_thresholds.json", "w"), indent=1)
print("written", out, "markers", markers.max())
