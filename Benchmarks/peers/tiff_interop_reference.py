"""TIFF interoperability fixture: what tifffile reads from a stack BatteryLens writes.

    swift build -c release
    Benchmarks/.venv/bin/python Benchmarks/peers/tiff_interop_reference.py \
        .build/release/batterylens Tests/LensIOTests/Fixtures/tiff_interop.json

Builds a deterministic uint16 and float32 stack with NumPy, has `batterylens convert` write them
as multi-page TIFFs (with a declared voxel size), reads them back with tifffile (as an ImageJ
hyperstack, the way Fiji does: from the first page's offset, contiguously) and records what
tifffile saw: ImageJ metadata, shape, dtype and the SHA-256 of the array. The Swift test writes
the same stacks and checks the same hashes, and that the pixels lie in one contiguous block.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tifffile


def stacks():
    n = 5 * 30 * 20
    yield "uint16", (np.arange(n, dtype=np.int64) * 37 % 65521).astype(np.uint16).reshape(5, 30, 20)
    yield "float32", (np.arange(n, dtype=np.float64) * 0.25 - 100).astype(np.float32).reshape(5, 30, 20)


def main(tool, out):
    record = {"tifffile": tifffile.__version__, "voxel_um": [2.0, 0.5, 0.5], "stacks": {}}
    with tempfile.TemporaryDirectory() as d:
        for name, array in stacks():
            src, tif = os.path.join(d, name + ".npy"), os.path.join(d, name + ".tif")
            np.save(src, array)
            subprocess.run([tool, "convert", src, tif, "--voxel-um", "2,0.5,0.5", "--quiet"], check=True)
            with tifffile.TiffFile(tif) as f:
                back = f.asarray()
                meta = f.imagej_metadata or {}
                record["stacks"][name] = {
                    "is_imagej": f.is_imagej, "pages": len(f.pages), "shape": list(back.shape), "dtype": str(back.dtype),
                    "spacing": meta.get("spacing"), "unit": meta.get("unit"),
                    "sha256": hashlib.sha256(np.ascontiguousarray(back).tobytes()).hexdigest(),
                    "identical_to_written": bool(back.shape == array.shape and (back == array).all()),
                }
    with open(out, "w") as f:
        json.dump(record, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
