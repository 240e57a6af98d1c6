"""Peer for event histogramming: NumPy reading the same 12-byte event records and counting
them per (pixel, 0.1 keV bin) with np.bincount, in chunks of 2**24 events (memory stays
bounded, and each chunk's bincount is long enough that adding its 8.3 M-entry result is a small
share of the time), no charge-sharing handling (NumPy has no frame-wise
clustering; BatteryLens's `none` mode is the like-for-like case).

    python peers/compton_histogram.py EVENTS.bin
"""
import json
import sys
import time

import numpy as np

ROWS, COLS, BINS, WIDTH = 80, 80, 1300, 0.1
record = np.dtype([("frame", "<u4"), ("row", "<u2"), ("column", "<u2"), ("energy", "<f4")])


def histogram(path):
    counts = np.zeros(ROWS * COLS * BINS, dtype=np.int64)
    events = 0
    with open(path, "rb") as f:
        while True:
            chunk = np.fromfile(f, dtype=record, count=1 << 24)
            if chunk.size == 0:
                break
            events += chunk.size
            b = (chunk["energy"] / WIDTH).astype(np.int64)
            ok = (b >= 0) & (b < BINS) & (chunk["row"] < ROWS) & (chunk["column"] < COLS)
            index = (chunk["row"][ok].astype(np.int64) * COLS + chunk["column"][ok]) * BINS + b[ok]
            counts += np.bincount(index, minlength=counts.size)
    return counts, events


t = time.perf_counter()
counts, events = histogram(sys.argv[1])
seconds = time.perf_counter() - t
print(json.dumps({"peer": "numpy bincount", "seconds": seconds, "events": events, "events_per_second": events / seconds,
                  "counted": int(counts.sum())}))
