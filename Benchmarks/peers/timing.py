"""Timing shared by the peer scripts: the best of N runs, as lens-bench measures."""
import time


def best(repeats, body):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        body()
        times.append(time.perf_counter() - t)
    return min(times)
