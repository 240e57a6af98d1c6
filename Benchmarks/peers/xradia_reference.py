"""Reference values for Tests/LensIOTests/XradiaTests.swift, read with olefile (an independent
OLE2 reader) and numpy from TomoPy's Xradia test files in ../shared/data/tomography/tomopy.

    python peers/xradia_reference.py
"""
import json
import pathlib

import numpy as np
import olefile

DATA = pathlib.Path(__file__).resolve().parents[3] / "shared/data/tomography/tomopy"


def stream(ole, name, dtype):
    return np.frombuffer(ole.openstream(name).read(), dtype=dtype)


ole = olefile.OleFileIO(str(DATA / "txrm_test_chip_tomo.txrm"))
n = int(stream(ole, "ImageInfo/ImagesTaken", "<i4")[0])
h, w = int(stream(ole, "ImageInfo/ImageHeight", "<i4")[0]), int(stream(ole, "ImageInfo/ImageWidth", "<i4")[0])
images = np.stack([stream(ole, f"ImageData{1 + i // 100}/Image{i + 1}", "<u2").reshape(h, w) for i in range(n)])
print(json.dumps({
    "file": "txrm_test_chip_tomo.txrm", "images": n, "shape": [h, w],
    "angles_deg": stream(ole, "ImageInfo/Angles", "<f4")[:n].tolist(),
    "pixel_um": float(stream(ole, "ImageInfo/PixelSize", "<f4")[0]),
    "energy_ev": float(stream(ole, "ImageInfo/Energy", "<f4")[0]),
    "x_shift_2": float(stream(ole, "Alignment/X-Shifts", "<f4")[2]),
    "image_sums": images.sum(axis=(1, 2)).tolist(),
    "image3_rows100_103_cols120_123": images[3, 100:104, 120:124].tolist(),
}))
ole = olefile.OleFileIO(str(DATA / "test_chip00.xrm"))
print(json.dumps({
    "file": "test_chip00.xrm", "pixel_um": float(stream(ole, "ImageInfo/PixelSize", "<f4")[0]),
    "energy_ev": float(stream(ole, "ImageInfo/Energy", "<f4")[0]),
    "has_reference": ole.exists("ReferenceData/Image"),
}))
