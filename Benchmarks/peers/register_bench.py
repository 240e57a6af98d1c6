"""spam's rigid registration of the volumes lens-bench's `register` case writes, for run_register.sh.

    python peers/register_bench.py FOLDER

FOLDER holds fixed.npy, moving.npy (moving(T(p)) = fixed(p) + noise) and truth.json (T: translation
and rotation vector in degrees about the volume centre, (z, y, x)). spam.DIC.registerMultiscale with
PhiRigid=True (spam's own coarse-to-fine scheme, binning 4 → 1, C interpolator), spam's convention
im1(x) = im2(Φ·x) with im1 = fixed. Prints one JSON line: seconds, the corner error of Φ against T
in voxels, and spam's translation and rotation angle.
"""
import json
import sys
import time

import numpy as np


def main(folder):
    from importlib.metadata import version
    import spam.DIC
    import spam.deformation
    fixed = np.load(f"{folder}/fixed.npy").astype(np.float32)
    moving = np.load(f"{folder}/moving.npy").astype(np.float32)
    truth = json.load(open(f"{folder}/truth.json"))
    n = fixed.shape
    t0 = time.perf_counter()
    reg = spam.DIC.registerMultiscale(fixed, moving, 4, PhiRigid=True, margin=max(4, n[0] // 16), verbose=False)
    seconds = time.perf_counter() - t0
    phi = reg["Phi"]
    # spam's Φ acts on positions relative to the image centre: x' = F (x − c) + c + t.
    centre = (np.array(n) - 1) / 2
    omega = np.deg2rad(np.array(truth["rotationVectorDegrees"]))
    angle = np.linalg.norm(omega)
    k = omega / angle
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    R = np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K
    t = np.array(truth["translationVoxels"])
    worst = 0.0
    for corner in range(8):
        p = np.array([(n[a] - 1) if (corner >> a) & 1 else 0 for a in range(3)], dtype=float)
        expected = R @ (p - centre) + centre + t
        found = phi[:3, :3] @ (p - centre) + centre + phi[:3, 3]
        worst = max(worst, float(np.linalg.norm(found - expected)))
    decomposed = spam.deformation.decomposePhi(phi)
    print(json.dumps({"peer": f"spam {version('spam')} registerMultiscale (rigid)", "seconds": seconds, "corner_error_voxels": worst,
                      "translation": [float(x) for x in phi[:3, 3]], "rotation_degrees": float(np.linalg.norm(decomposed["r"])),
                      "returnStatus": int(reg.get("returnStatus", 0))}))


if __name__ == "__main__":
    main(sys.argv[1])
