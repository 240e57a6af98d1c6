"""Regenerates Sources/LensIO/ColormapTables.swift from matplotlib's CC0 colour maps.

Run once with the benchmark venv: Benchmarks/.venv/bin/python Benchmarks/scripts/make_colormaps.py
"""
import pathlib

import numpy as np
from matplotlib import colormaps

root = pathlib.Path(__file__).resolve().parents[2]
out = [
    "// Colour tables sampled at 256 levels from matplotlib's viridis, magma, inferno and plasma",
    "// (by Nathaniel J. Smith and Stéfan van der Walt; released under CC0 / public domain).",
    "// Generated once with Benchmarks/scripts/make_colormaps.py; each string is 256 RGB triplets in hex.",
    "enum ColormapTables {",
]
for name in ["viridis", "magma", "inferno", "plasma"]:
    c = (colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)
    out.append(f'    static let {name} = "{c.tobytes().hex()}"')
out.append("}")
(root / "Sources/LensIO/ColormapTables.swift").write_text("\n".join(out) + "\n")
