"""Peer timings for the foundation benchmarks: tifffile, h5py and numpy.fft on the same inputs
that lens-bench reads. Prints one JSON line per case, like lens-bench.

    python peers/io_fft.py make DATA_DIR SIZE_MB     # writes volume.tif and volume.h5 (float32)
    python peers/io_fft.py read PATH [repeats]
    python peers/io_fft.py fft-batch ROWS LENGTH [repeats]
"""
import json
import pathlib
import sys

import h5py
import numpy as np

from timing import best
import tifffile



def read(path):
    if ".h5" in path:
        file, _, dataset = path.partition(":")
        with h5py.File(file, "r") as f:
            return f[dataset or "data"][...]
    return tifffile.imread(path)


cmd = sys.argv[1]
if cmd == "make":
    out = pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    megabytes = int(sys.argv[3])
    z = megabytes * (1 << 20) // (1024 * 1024 * 4)
    rng = np.random.default_rng(1)
    volume = rng.random((z, 1024, 1024), dtype=np.float32)
    tifffile.imwrite(out / "volume.tif", volume, photometric="minisblack")
    with h5py.File(out / "volume.h5", "w") as f:
        f.create_dataset("data", data=volume)
elif cmd == "read":
    path = sys.argv[2]
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    data = read(path)  # warm the page cache
    seconds = best(repeats, lambda: read(path))
    ext = pathlib.Path(path.partition(":")[0]).suffix[1:]
    print(json.dumps({"case": f"read {ext}", "seconds": seconds, "repeats": repeats, "bytes": data.nbytes,
                      "gigabytes_per_second": data.nbytes / seconds / 1e9,
                      "peer": "tifffile " + tifffile.__version__ if ext == "tif" else "h5py " + h5py.__version__}))
elif cmd == "fft-batch":
    rows, length = int(sys.argv[2]), int(sys.argv[3])
    repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    x = np.random.default_rng(1).random((rows, length), dtype=np.float32)
    out = np.fft.rfft(x, axis=1)
    seconds = best(repeats, lambda: np.fft.rfft(x, axis=1))
    print(json.dumps({"case": f"fft r2c float32 {rows}x{length}", "seconds": seconds, "repeats": repeats,
                      "output_dtype": str(out.dtype), "peer": "numpy " + np.__version__}))
