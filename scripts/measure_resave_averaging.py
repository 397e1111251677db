#!/usr/bin/env python
"""Does averaging the engine's score over re-saved copies of a face make it container-invariant?

Test-time averaging as a remedy for issue 19's container sensitivity: each variant scores a face
as the mean of the engine's P(fake) (``Detector.score_crops``: calibrated members, out-of-domain
rule, ensemble) over the face and some re-saves of it (``dfd.evaluation.container.resave``). Per
variant on the bundle's test split: clean ROC-AUC, the median |delta p| when the face itself is
re-saved as JPEG / WebP q90 (target <= 0.03) and the AUC falls at JPEG 50, blur sigma 1 and 0.5x
downscale (target >= -0.03). docs/experiments.md (session 17) has the table.

    python scripts/measure_resave_averaging.py [--dataset dfd-default]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# variant -> the copies averaged ("as_is": the face as given)
VARIANTS = {
    "none": ("as_is",),
    "mean(x, jpeg90)": ("as_is", "jpeg_q90"),
    "mean(x, jpeg90, webp90)": ("as_is", "jpeg_q90", "webp_q90"),
    "jpeg90 only": ("jpeg_q90",),
}
FALLS = (("jpeg_quality", 50), ("gaussian_blur_sigma", 1.0), ("downscale", 0.5))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="dfd-default")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import numpy as np
    import pandas as pd

    from dfd.evaluation.container import RESAVES, resave
    from dfd.evaluation.corruptions import corrupt
    from dfd.evaluation.study import test_split
    from dfd.inference import Detector
    from dfd.metrics import roc_auc
    from dfd.paths import models_dir

    detector = Detector.from_dir(models_dir(args.dataset))
    size = max(int(m.input_size[0]) for m in detector.members)
    x, y, _ = test_split(args.dataset, size)

    def score(images: np.ndarray, copies: tuple[str, ...]) -> np.ndarray:
        ps = [detector.score_crops(images if c == "as_is" else np.stack([resave(im, c) for im in images]))[0]
              for c in copies]
        return np.mean(ps, axis=0)

    rows = []
    for name, copies in VARIANTS.items():
        p = score(x, copies)
        row = {"variant": name, "clean AUC": roc_auc(y, p)}
        for r in RESAVES:
            moved = score(np.stack([resave(im, r) for im in x]), copies)
            row[f"median |dP| {r}"] = float(np.median(np.abs(moved - p)))
        for kind, level in FALLS:
            row[f"fall {kind} {level}"] = roc_auc(y, score(corrupt(x, kind, level, seed=args.seed), copies)) - row["clean AUC"]
        rows.append(row)
        print(f"{name}: done", flush=True)
    pd.set_option("display.width", 250)
    print(f"{args.dataset}: {len(y)} test faces, engine P(fake) averaged over re-saved copies")
    print(pd.DataFrame(rows).set_index("variant").round(3).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
