"""The peer of `batterylens cell`: the same inspection as a scientist would script it with
scikit-image and SciPy, slice by slice over a folder of TIFF cross-sections.

Per slice: the can from the brightest 2 % of the pixels by a RANSAC circle fit
(skimage.measure.ransac + CircleModel); the slice unrolled about its centre
(skimage.transform.warp_polar, one pixel of arc per angle step at the can); on every ray the
layer peaks (scipy.signal.find_peaks with a prominence of a quarter of the contrast), the bright
ones split from the grey ones by Otsu on the peak heights (skimage.filters.threshold_otsu), their
full widths at half maximum (scipy.signal.peak_widths); turns = bright peaks per ray averaged,
pitch = median distance between successive bright peaks. Prints one JSON line with the seconds
(one run: the whole folder) and the medians over the slices with a winding.
Usage: cell_bench.py FOLDER
"""
import glob, json, sys, time
import numpy as np
import tifffile
from scipy.signal import find_peaks, peak_widths
from skimage.filters import threshold_multiotsu, threshold_otsu
from skimage.measure import CircleModel, ransac
from skimage.transform import warp_polar


def inspect(image):
    image = image.astype(np.float32)
    cut = np.percentile(image, 98)
    points = np.argwhere(image >= cut)[:, ::-1].astype(float)  # (x, y)
    model, inliers = ransac(points, CircleModel, min_samples=3, residual_threshold=2, max_trials=200, rng=0)
    if model is None or inliers.sum() < 16:
        return None
    (cx, cy), radius = model.center, model.radius
    if radius < 8:
        return None
    angles = max(360, int(np.ceil(2 * np.pi * radius)))
    polar = warp_polar(image, center=(cy, cx), radius=radius, output_shape=(angles, int(radius)), order=1)
    inside = polar[:, : int(radius * 0.95)]
    try:
        dark = threshold_multiotsu(inside, classes=3)[0]
    except ValueError:
        return None
    contrast = np.percentile(inside, 95) - dark
    heights, per_ray = [], []
    for ray in inside:
        peaks, props = find_peaks(ray, prominence=0.25 * contrast)
        per_ray.append((ray, peaks))
        heights.extend(ray[peaks])
    if len(heights) < 16:
        return None
    bright = threshold_otsu(np.asarray(heights))
    counts, gaps, widths = [], [], []
    for ray, peaks in per_ray:
        keep = peaks[ray[peaks] >= bright]
        counts.append(len(keep))
        gaps.extend(np.diff(keep))
        if len(keep):
            widths.extend(peak_widths(ray, keep, rel_height=0.5)[0])
    if np.median(counts) < 2:
        return None
    return {"turns": float(np.mean(counts)), "pitch": float(np.median(gaps)), "thickness": float(np.median(widths))}


def main(folder):
    files = sorted(glob.glob(folder + "/*.tif"))
    start = time.perf_counter()
    results = [inspect(tifffile.imread(f)) for f in files]
    seconds = time.perf_counter() - start
    found = [r for r in results if r]
    med = lambda k: float(np.median([r[k] for r in found])) if found else float("nan")
    print(json.dumps({"peer": "scikit-image + SciPy", "seconds": seconds, "slices": len(files), "with_winding": len(found),
                      "turns": med("turns"), "pitch": med("pitch"), "thickness": med("thickness")}))


if __name__ == "__main__":
    main(sys.argv[1])
